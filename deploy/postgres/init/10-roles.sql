-- Roles, schemas and database rights of Redress, applied once to a new database (the postgres
-- image runs it from /docker-entrypoint-initdb.d, as its superuser, inside the database it
-- creates). Safe to apply again: every statement creates what is missing and resets the rest.
-- Passwords are not set here: 20-passwords.sh sets them from the environment, and a role
-- without one cannot log in over scram-sha-256.
--
-- Who is who, and why:
-- * redress_migrator runs `redress migrate`. It owns the three service schemas and the tables
--   migrations create in them (the event store: events, commands, checkpoints, inbox,
--   parked_events, the vault, schema_migrations), so schema changes need no superuser. Owning
--   `events` gives it no way around the log's append-only trigger, which refuses UPDATE,
--   DELETE and TRUNCATE whoever asks.
-- * complaints_svc, escalation_svc and learning_reviews_svc run one service each. Each may use
--   its own schema and nothing else: it creates and owns its read models there (projections
--   create, replace and rebuild their tables at run time), and gets on the migrator's tables
--   only what ../grants.sql lists, applied after every `redress migrate` - on `events` and
--   `commands`, SELECT and INSERT and never more.
-- * PUBLIC gets nothing in this database: a role not named here cannot even connect.

DO $$
DECLARE
    role text;
BEGIN
    FOREACH role IN ARRAY ARRAY['redress_migrator', 'complaints_svc', 'escalation_svc', 'learning_reviews_svc'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', role);
        END IF;
        -- Reset on every run, so a role changed by hand comes back to this.
        EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT', role);
    END LOOP;
END
$$;

-- Connection budget (reliability plan 7.2: max_connections 100, pools of 5-10 per service);
-- the limit stops one runaway replica from starving the others.
ALTER ROLE redress_migrator CONNECTION LIMIT 5;
ALTER ROLE complaints_svc CONNECTION LIMIT 25;
ALTER ROLE escalation_svc CONNECTION LIMIT 25;
ALTER ROLE learning_reviews_svc CONNECTION LIMIT 25;

-- Timeouts per role, on top of the server's (postgresql.conf). A service's statements are
-- short: one that runs 5 s is a bug or a lock pile-up, better cut off than left to hold its
-- transaction's snapshot (which stalls every reader of the log, see tail.rs). A migration may
-- run long, but must not queue behind a long query while holding the requests behind it: a
-- short lock_timeout makes it fail and be run again instead.
ALTER ROLE complaints_svc SET statement_timeout = '5s';
ALTER ROLE escalation_svc SET statement_timeout = '5s';
ALTER ROLE learning_reviews_svc SET statement_timeout = '5s';
ALTER ROLE redress_migrator SET statement_timeout = '15min';
ALTER ROLE complaints_svc SET lock_timeout = '2s';
ALTER ROLE escalation_svc SET lock_timeout = '2s';
ALTER ROLE learning_reviews_svc SET lock_timeout = '2s';
ALTER ROLE redress_migrator SET lock_timeout = '10s';
ALTER ROLE complaints_svc SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE escalation_svc SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE learning_reviews_svc SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE redress_migrator SET idle_in_transaction_session_timeout = '60s';
-- The pools set their search path themselves (platform::pg::connect); this covers psql too.
ALTER ROLE complaints_svc SET search_path = complaints;
ALTER ROLE escalation_svc SET search_path = escalation;
ALTER ROLE learning_reviews_svc SET search_path = learning_reviews;

-- The database (whichever this script runs in; the compose stack calls it `redress`) stays the
-- superuser's. CREATE on it lets the migrator create the service schemas (`redress migrate`
-- runs CREATE SCHEMA IF NOT EXISTS) and lets a service create the scratch schema a read-model
-- rebuild replays into (<schema>_rebuild_<random>, dropped after the swap); a schema a role
-- creates is its own and opens nothing of the others'. TEMPORARY is not granted: nothing uses it.
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO redress_migrator, complaints_svc, escalation_svc, learning_reviews_svc',
        current_database());
END
$$;

-- Nothing lives in `public`; nobody but its owner may create there (PostgreSQL 15's default,
-- stated so it stays true).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- One schema per service, owned by the migrator. The service may use it and create its read
-- models in it; no other service role is granted anything on it, so even a table name of
-- another schema answers "permission denied for schema".
CREATE SCHEMA IF NOT EXISTS complaints AUTHORIZATION redress_migrator;
CREATE SCHEMA IF NOT EXISTS escalation AUTHORIZATION redress_migrator;
CREATE SCHEMA IF NOT EXISTS learning_reviews AUTHORIZATION redress_migrator;
ALTER SCHEMA complaints OWNER TO redress_migrator;
ALTER SCHEMA escalation OWNER TO redress_migrator;
ALTER SCHEMA learning_reviews OWNER TO redress_migrator;
REVOKE ALL ON SCHEMA complaints, escalation, learning_reviews FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA complaints TO complaints_svc;
GRANT USAGE, CREATE ON SCHEMA escalation TO escalation_svc;
GRANT USAGE, CREATE ON SCHEMA learning_reviews TO learning_reviews_svc;
