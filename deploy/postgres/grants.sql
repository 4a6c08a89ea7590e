-- What each service role may do on the tables `redress migrate` creates in its schema. Run as
-- redress_migrator (their owner) after every `redress migrate`: a table a migration creates
-- is the migrator's alone until this file names it. Safe to run again; it first takes back
-- everything it grants, so a right removed here is removed from the database too.
--
-- Conventions, with their reasons:
-- * The log is append-only for a service: SELECT and INSERT on `events` and `commands`, never
--   UPDATE, DELETE or TRUNCATE (and the trigger on `events` refuses those even to the owner).
-- * UPDATE only where the platform moves a row forward, and only on the columns it moves:
--   a checkpoint (`checkpoints`: the relay's and each projection's position, also locked
--   FOR UPDATE) and a vault subject's erasure (its key destroyed).
-- * No DELETE or TRUNCATE anywhere: handled messages, parked messages and encrypted records
--   are kept (an erased subject's records stay, unreadable without the key).
-- * `schema_migrations` is read-only: a service checks at start that its schema is migrated.
-- * Read models are not here: the service creates and owns them (projections create, replace
--   and rebuild their tables at run time).
-- * Each role is named only on its own schema; the others' are closed to it.
--
-- A migration that adds a table adds its line here in the same change; the tests in
-- services/redress/tests/ops/postgres_roles.rs run every service as its role against these
-- very files.

BEGIN;

REVOKE ALL ON complaints.events, complaints.commands, complaints.checkpoints, complaints.inbox,
    complaints.parked_events, complaints.vault_subjects, complaints.vault_records,
    complaints.schema_migrations FROM complaints_svc;
GRANT SELECT, INSERT ON complaints.events, complaints.commands, complaints.inbox,
    complaints.parked_events, complaints.vault_records TO complaints_svc;
GRANT SELECT, INSERT, UPDATE (transaction_id, position, projection_version, updated_at)
    ON complaints.checkpoints TO complaints_svc;
GRANT SELECT, INSERT, UPDATE (wrapped_key, erased_at) ON complaints.vault_subjects TO complaints_svc;
GRANT SELECT ON complaints.schema_migrations TO complaints_svc;

REVOKE ALL ON escalation.events, escalation.commands, escalation.checkpoints, escalation.inbox,
    escalation.parked_events, escalation.vault_subjects, escalation.vault_records,
    escalation.schema_migrations FROM escalation_svc;
GRANT SELECT, INSERT ON escalation.events, escalation.commands, escalation.inbox,
    escalation.parked_events, escalation.vault_records TO escalation_svc;
GRANT SELECT, INSERT, UPDATE (transaction_id, position, projection_version, updated_at)
    ON escalation.checkpoints TO escalation_svc;
GRANT SELECT, INSERT, UPDATE (wrapped_key, erased_at) ON escalation.vault_subjects TO escalation_svc;
GRANT SELECT ON escalation.schema_migrations TO escalation_svc;

REVOKE ALL ON learning_reviews.events, learning_reviews.commands, learning_reviews.checkpoints,
    learning_reviews.inbox, learning_reviews.parked_events, learning_reviews.vault_subjects,
    learning_reviews.vault_records, learning_reviews.schema_migrations FROM learning_reviews_svc;
GRANT SELECT, INSERT ON learning_reviews.events, learning_reviews.commands, learning_reviews.inbox,
    learning_reviews.parked_events, learning_reviews.vault_records TO learning_reviews_svc;
GRANT SELECT, INSERT, UPDATE (transaction_id, position, projection_version, updated_at)
    ON learning_reviews.checkpoints TO learning_reviews_svc;
GRANT SELECT, INSERT, UPDATE (wrapped_key, erased_at) ON learning_reviews.vault_subjects
    TO learning_reviews_svc;
GRANT SELECT ON learning_reviews.schema_migrations TO learning_reviews_svc;

COMMIT;
