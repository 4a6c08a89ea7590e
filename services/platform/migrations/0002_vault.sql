-- Personal data, kept out of events. Each data subject (a complainant, a provider's contact, a
-- wellbeing contact) has a key of their own; their records are encrypted with it. Erasing a
-- subject destroys the key: the records stay in place but can never be read again, and the
-- event log, which only holds record ids, stays intact and replayable.
--
-- Subject keys are stored wrapped (encrypted) with the service's master key, which lives
-- outside the database (REDRESS_VAULT_KEY), so a database dump alone reveals nothing.
CREATE TABLE vault_subjects (
    subject_id  uuid        NOT NULL PRIMARY KEY,
    wrapped_key bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    erased_at   timestamptz,
    CONSTRAINT vault_subjects_key_or_erased CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);

CREATE TABLE vault_records (
    record_id  uuid        NOT NULL PRIMARY KEY,
    subject_id uuid        NOT NULL REFERENCES vault_subjects (subject_id),
    -- What the record is ("contact", "narrative", "wellbeing_contact"), for retention and audit.
    kind       text        NOT NULL,
    nonce      bytea       NOT NULL,
    ciphertext bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX vault_records_subject ON vault_records (subject_id);
