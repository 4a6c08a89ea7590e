-- The event store of one service. Every table here lives in the service's own schema.
--
-- Conventions, with their reasons:
-- * `events` is append-only: a trigger refuses UPDATE, DELETE and TRUNCATE even for the owner,
--   because the log is the system of record and every read model and feed is derived from it.
-- * `position` is taken from a sequence at INSERT time, which is NOT commit order. Readers of the
--   whole log therefore order by (transaction_id, position) and only read rows written by
--   transactions older than the oldest one still running (see tail.rs). `transaction_id` is the
--   writing transaction's pg_current_xact_id().
-- * Optimistic concurrency comes from UNIQUE (stream_id, version), not from SERIALIZABLE.
-- * Payloads are protobuf bytes of the message named by `event_type` (its fully qualified name).
-- * Only the indexes a reader needs: the primary key (event ids are UUIDv7, so inserts append to
--   the right edge), the stream index that doubles as the concurrency check, and the tail index.
CREATE TABLE events (
    event_id         uuid        NOT NULL PRIMARY KEY,
    position         bigint      NOT NULL GENERATED ALWAYS AS IDENTITY,
    transaction_id   xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_type      text        NOT NULL,
    stream_id        uuid        NOT NULL,
    version          integer     NOT NULL CHECK (version > 0),
    event_type       text        NOT NULL,
    payload          bytea       NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    correlation_id   uuid        NOT NULL,
    causation_id     uuid,
    actor            text        NOT NULL,
    traceparent      text,
    tracestate       text,
    policy_version   text,
    calendar_version text,
    CONSTRAINT events_stream_version UNIQUE (stream_id, version)
);

CREATE INDEX events_tail ON events (transaction_id, position);

CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only_rows BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();
CREATE TRIGGER events_append_only_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();

-- Command idempotency. A retry with the same key returns the recorded answer and writes nothing;
-- the same key with another request is refused. Keys are scoped by the caller (the token
-- subject), so two partners choosing the same key can neither collide nor read each other's answers.
CREATE TABLE commands (
    scope           text        NOT NULL,
    idempotency_key text        NOT NULL,
    request_hash    bytea       NOT NULL,
    stream_id       uuid        NOT NULL,
    first_version   integer     NOT NULL,
    last_version    integer     NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, idempotency_key)
);

-- Where each reader of the log has got to: the relay and every projection. A checkpoint only
-- moves forward (the UPDATEs say so in their WHERE clause).
CREATE TABLE checkpoints (
    name               text        NOT NULL PRIMARY KEY,
    transaction_id     xid8        NOT NULL DEFAULT '0',
    position           bigint      NOT NULL DEFAULT 0,
    projection_version integer     NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Integration events this service's consumers have handled, written in the same transaction as
-- the handling, so each event takes effect once however often JetStream redelivers it.
CREATE TABLE inbox (
    consumer   text        NOT NULL,
    event_id   uuid        NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Messages a consumer can never handle (undecodable, or still failing after every redelivery).
-- They are kept whole for an operator to inspect and replay; the consumer moves on.
CREATE TABLE parked_events (
    id              bigint      NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer        text        NOT NULL,
    event_id        uuid,
    subject         text        NOT NULL,
    stream_sequence bigint      NOT NULL,
    deliveries      bigint      NOT NULL,
    reason          text        NOT NULL,
    headers         jsonb       NOT NULL,
    payload         bytea       NOT NULL,
    parked_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz
);

CREATE INDEX parked_events_open ON parked_events (consumer) WHERE resolved_at IS NULL;
