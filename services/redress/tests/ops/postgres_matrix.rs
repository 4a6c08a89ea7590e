//! PostgreSQL role × table × operation (reliability plan 6.4), cell by cell, against a database
//! set up by `deploy/postgres` itself ([`StackDb`]) after every service has used its schema as
//! its role (so each table has rows, and each service a read model of its own).
//!
//! The table below is written relative to a service: its own schema's tables, and the same
//! tables in each other service's schema. Every cell is generated for every service role (and,
//! for another's tables, every other schema) and for the migrator, who owns every table
//! `redress migrate` creates in all three. Each cell runs one statement in a transaction that is
//! rolled back, and every failing cell is reported at once with its role, table and operation.

use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

use crate::helpers::{MIGRATOR, SERVICE_ROLES, StackDb};
use crate::postgres_roles::run_the_platform_as;
use platform::testing::NatsServer;

/// What a cell must do: allowed (`A`); refused for want of a right, SQLSTATE 42501 (`D`);
/// refused by the append-only trigger of `events`, also 42501 (`T`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    A,
    D,
    T,
}

use Expect::{A, D, T};

/// The operations of every object, in the order of the rows.
const OPERATIONS: [&str; 7] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "ALTER TABLE",
    "DISABLE TRIGGER",
];

const OWNS: &str =
    "plan does not fit: the service creates, owns and rebuilds its read models (ADR 6)";
const MOVES: &str = "UPDATE of the columns the platform moves forward only (grants.sql)";
const TRIGGER: &str =
    "the owner may disable the append-only trigger (it owns the table); see deploy/README.md";

/// The expected answer per object and operation: `[a service role, the migrator]`. `own`
/// objects are in the service's own schema, `other` ones in another service's; for the
/// migrator both are tables it owns (the read model excepted: the service owns it).
#[rustfmt::skip]
const MATRIX: &[(&str, &str, [Expect; 2], &str)] = &[
    // object                     operation           svc mig
    ("own events",               "SELECT",          [A, A], ""),
    ("own events",               "INSERT",          [A, A], ""),
    ("own events",               "UPDATE",          [D, T], ""),
    ("own events",               "DELETE",          [D, T], ""),
    ("own events",               "TRUNCATE",        [D, T], ""),
    ("own events",               "ALTER TABLE",     [D, A], ""),
    ("own events",               "DISABLE TRIGGER", [D, A], TRIGGER),
    ("own commands",             "SELECT",          [A, A], ""),
    ("own commands",             "INSERT",          [A, A], ""),
    ("own commands",             "UPDATE",          [D, A], ""),
    ("own commands",             "DELETE",          [D, A], ""),
    ("own commands",             "TRUNCATE",        [D, A], ""),
    ("own commands",             "ALTER TABLE",     [D, A], ""),
    ("own commands",             "DISABLE TRIGGER", [D, A], ""),
    ("own checkpoints",          "SELECT",          [A, A], ""),
    ("own checkpoints",          "INSERT",          [A, A], ""),
    ("own checkpoints",          "UPDATE",          [A, A], MOVES),
    ("own checkpoints",          "DELETE",          [D, A], ""),
    ("own checkpoints",          "TRUNCATE",        [D, A], ""),
    ("own checkpoints",          "ALTER TABLE",     [D, A], ""),
    ("own checkpoints",          "DISABLE TRIGGER", [D, A], ""),
    ("own inbox",                "SELECT",          [A, A], ""),
    ("own inbox",                "INSERT",          [A, A], ""),
    ("own inbox",                "UPDATE",          [D, A], ""),
    ("own inbox",                "DELETE",          [D, A], ""),
    ("own inbox",                "TRUNCATE",        [D, A], ""),
    ("own inbox",                "ALTER TABLE",     [D, A], ""),
    ("own inbox",                "DISABLE TRIGGER", [D, A], ""),
    ("own parked_events",        "SELECT",          [A, A], ""),
    ("own parked_events",        "INSERT",          [A, A], ""),
    ("own parked_events",        "UPDATE",          [D, A], ""),
    ("own parked_events",        "DELETE",          [D, A], ""),
    ("own parked_events",        "TRUNCATE",        [D, A], ""),
    ("own parked_events",        "ALTER TABLE",     [D, A], ""),
    ("own parked_events",        "DISABLE TRIGGER", [D, A], ""),
    ("own vault_subjects",       "SELECT",          [A, A], ""),
    ("own vault_subjects",       "INSERT",          [A, A], ""),
    ("own vault_subjects",       "UPDATE",          [A, A], MOVES),
    ("own vault_subjects",       "DELETE",          [D, A], ""),
    ("own vault_subjects",       "TRUNCATE",        [D, A], ""),
    ("own vault_subjects",       "ALTER TABLE",     [D, A], ""),
    ("own vault_subjects",       "DISABLE TRIGGER", [D, A], ""),
    ("own vault_records",        "SELECT",          [A, A], ""),
    ("own vault_records",        "INSERT",          [A, A], ""),
    ("own vault_records",        "UPDATE",          [D, A], ""),
    ("own vault_records",        "DELETE",          [D, A], ""),
    ("own vault_records",        "TRUNCATE",        [D, A], ""),
    ("own vault_records",        "ALTER TABLE",     [D, A], ""),
    ("own vault_records",        "DISABLE TRIGGER", [D, A], ""),
    ("own schema_migrations",    "SELECT",          [A, A], ""),
    ("own schema_migrations",    "INSERT",          [D, A], ""),
    ("own schema_migrations",    "UPDATE",          [D, A], ""),
    ("own schema_migrations",    "DELETE",          [D, A], ""),
    ("own schema_migrations",    "TRUNCATE",        [D, A], ""),
    ("own schema_migrations",    "ALTER TABLE",     [D, A], ""),
    ("own schema_migrations",    "DISABLE TRIGGER", [D, A], ""),
    ("own read model",           "SELECT",          [A, D], OWNS),
    ("own read model",           "INSERT",          [A, D], OWNS),
    ("own read model",           "UPDATE",          [A, D], OWNS),
    ("own read model",           "DELETE",          [A, D], OWNS),
    ("own read model",           "TRUNCATE",        [A, D], OWNS),
    ("own read model",           "ALTER TABLE",     [A, D], OWNS),
    ("own read model",           "DISABLE TRIGGER", [A, D], OWNS),
    ("other events",             "SELECT",          [D, A], ""),
    ("other events",             "INSERT",          [D, A], ""),
    ("other events",             "UPDATE",          [D, T], ""),
    ("other events",             "DELETE",          [D, T], ""),
    ("other events",             "TRUNCATE",        [D, T], ""),
    ("other events",             "ALTER TABLE",     [D, A], ""),
    ("other events",             "DISABLE TRIGGER", [D, A], TRIGGER),
    ("other commands",           "SELECT",          [D, A], ""),
    ("other commands",           "INSERT",          [D, A], ""),
    ("other commands",           "UPDATE",          [D, A], ""),
    ("other commands",           "DELETE",          [D, A], ""),
    ("other commands",           "TRUNCATE",        [D, A], ""),
    ("other commands",           "ALTER TABLE",     [D, A], ""),
    ("other commands",           "DISABLE TRIGGER", [D, A], ""),
    ("other checkpoints",        "SELECT",          [D, A], ""),
    ("other checkpoints",        "INSERT",          [D, A], ""),
    ("other checkpoints",        "UPDATE",          [D, A], ""),
    ("other checkpoints",        "DELETE",          [D, A], ""),
    ("other checkpoints",        "TRUNCATE",        [D, A], ""),
    ("other checkpoints",        "ALTER TABLE",     [D, A], ""),
    ("other checkpoints",        "DISABLE TRIGGER", [D, A], ""),
    ("other inbox",              "SELECT",          [D, A], ""),
    ("other inbox",              "INSERT",          [D, A], ""),
    ("other inbox",              "UPDATE",          [D, A], ""),
    ("other inbox",              "DELETE",          [D, A], ""),
    ("other inbox",              "TRUNCATE",        [D, A], ""),
    ("other inbox",              "ALTER TABLE",     [D, A], ""),
    ("other inbox",              "DISABLE TRIGGER", [D, A], ""),
    ("other parked_events",      "SELECT",          [D, A], ""),
    ("other parked_events",      "INSERT",          [D, A], ""),
    ("other parked_events",      "UPDATE",          [D, A], ""),
    ("other parked_events",      "DELETE",          [D, A], ""),
    ("other parked_events",      "TRUNCATE",        [D, A], ""),
    ("other parked_events",      "ALTER TABLE",     [D, A], ""),
    ("other parked_events",      "DISABLE TRIGGER", [D, A], ""),
    ("other vault_subjects",     "SELECT",          [D, A], ""),
    ("other vault_subjects",     "INSERT",          [D, A], ""),
    ("other vault_subjects",     "UPDATE",          [D, A], ""),
    ("other vault_subjects",     "DELETE",          [D, A], ""),
    ("other vault_subjects",     "TRUNCATE",        [D, A], ""),
    ("other vault_subjects",     "ALTER TABLE",     [D, A], ""),
    ("other vault_subjects",     "DISABLE TRIGGER", [D, A], ""),
    ("other vault_records",      "SELECT",          [D, A], ""),
    ("other vault_records",      "INSERT",          [D, A], ""),
    ("other vault_records",      "UPDATE",          [D, A], ""),
    ("other vault_records",      "DELETE",          [D, A], ""),
    ("other vault_records",      "TRUNCATE",        [D, A], ""),
    ("other vault_records",      "ALTER TABLE",     [D, A], ""),
    ("other vault_records",      "DISABLE TRIGGER", [D, A], ""),
    ("other schema_migrations",  "SELECT",          [D, A], ""),
    ("other schema_migrations",  "INSERT",          [D, A], ""),
    ("other schema_migrations",  "UPDATE",          [D, A], ""),
    ("other schema_migrations",  "DELETE",          [D, A], ""),
    ("other schema_migrations",  "TRUNCATE",        [D, A], ""),
    ("other schema_migrations",  "ALTER TABLE",     [D, A], ""),
    ("other schema_migrations",  "DISABLE TRIGGER", [D, A], ""),
    ("other read model",         "SELECT",          [D, D], ""),
    ("other read model",         "INSERT",          [D, D], ""),
    ("other read model",         "UPDATE",          [D, D], ""),
    ("other read model",         "DELETE",          [D, D], ""),
    ("other read model",         "TRUNCATE",        [D, D], ""),
    ("other read model",         "ALTER TABLE",     [D, D], ""),
    ("other read model",         "DISABLE TRIGGER", [D, D], ""),
];

/// The read model every service creates as its role in `run_the_platform_as`.
const READ_MODEL: &str = "probes";

/// A statement performing `operation` on `schema.table`; rows are there to be touched, since
/// the append-only trigger fires per row.
fn statement(schema: &str, table: &str, operation: &str) -> String {
    let target = format!("{schema}.{table}");
    match operation {
        "SELECT" => format!("SELECT count(*) FROM {target}"),
        "INSERT" => insert(schema, table),
        "UPDATE" => {
            // A column the service may move, where it may move any.
            let column = match table {
                "events" => "actor",
                "commands" => "stream_id",
                "checkpoints" => "position",
                "inbox" => "consumer",
                "parked_events" => "resolved_at",
                "vault_subjects" => "erased_at",
                "vault_records" => "kind",
                "schema_migrations" => "name",
                _ => "stream_type",
            };
            format!("UPDATE {target} SET {column} = {column}")
        }
        // Subjects still referenced by records cannot go; the rights are checked all the same.
        "DELETE" if table == "vault_subjects" => format!(
            "DELETE FROM {target} WHERE subject_id NOT IN (SELECT subject_id FROM {schema}.vault_records)"
        ),
        "DELETE" => format!("DELETE FROM {target}"),
        "TRUNCATE" => format!("TRUNCATE {target} CASCADE"),
        "ALTER TABLE" => format!("ALTER TABLE {target} ADD COLUMN matrix_probe text"),
        "DISABLE TRIGGER" => format!("ALTER TABLE {target} DISABLE TRIGGER USER"),
        _ => panic!("unknown operation {operation}"),
    }
}

fn insert(schema: &str, table: &str) -> String {
    let values = match table {
        "events" => "(event_id, stream_type, stream_id, version, event_type, payload, correlation_id, actor)
             VALUES (gen_random_uuid(), 'matrix', gen_random_uuid(), 1, 'matrix', '', gen_random_uuid(), 'matrix')",
        "commands" => "(scope, idempotency_key, request_hash, stream_id, first_version, last_version)
             VALUES ('matrix', gen_random_uuid()::text, '', gen_random_uuid(), 1, 1)",
        "checkpoints" => "(name) VALUES ('matrix-' || gen_random_uuid())",
        "inbox" => "(consumer, event_id) VALUES ('matrix', gen_random_uuid())",
        "parked_events" => "(consumer, subject, stream_sequence, deliveries, reason, headers, payload)
             VALUES ('matrix', 'matrix', 1, 1, 'matrix', '{}', '')",
        "vault_subjects" => "(subject_id, wrapped_key) VALUES (gen_random_uuid(), '\\x00')",
        "vault_records" => {
            return format!(
                "INSERT INTO {schema}.vault_records (record_id, subject_id, kind, nonce, ciphertext)
                 SELECT gen_random_uuid(), subject_id, 'matrix', '', '' FROM {schema}.vault_subjects LIMIT 1"
            );
        }
        "schema_migrations" => "(component, version, name, checksum) VALUES ('matrix', 1, 'matrix', '')",
        _ => "(event_id, stream_type) VALUES (gen_random_uuid(), 'matrix')",
    };
    format!("INSERT INTO {schema}.{table} {values}")
}

/// What a cell did.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Denied(String),
    Trigger,
    Failed(String),
}

impl Expect {
    fn met_by(self, outcome: &Outcome) -> bool {
        matches!(
            (self, outcome),
            (A, Outcome::Allowed) | (D, Outcome::Denied(_)) | (T, Outcome::Trigger)
        )
    }
}

/// Runs `sql` in a transaction that is rolled back whatever happens.
async fn cell(conn: &mut PgConnection, sql: &str) -> Outcome {
    let mut tx = conn.begin().await.unwrap();
    let result = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *tx)
        .await;
    tx.rollback().await.unwrap();
    match result {
        Ok(_) => Outcome::Allowed,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => {
            if e.message().contains("append-only") {
                Outcome::Trigger
            } else {
                Outcome::Denied(e.message().to_owned())
            }
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

#[tokio::test]
async fn every_postgres_role_may_do_exactly_what_the_matrix_says() {
    // Arrange: every schema in use by its service, each with rows in every table and a read
    // model of its service's own.
    let stack = StackDb::create().await;
    let nats = NatsServer::start().await.unwrap();
    for (schema, role) in SERVICE_ROLES {
        run_the_platform_as(&stack, schema, role, &nats).await;
    }
    let schemas: Vec<&str> = SERVICE_ROLES.iter().map(|(schema, _)| *schema).collect();
    for (object, operation, _, _) in MATRIX {
        assert!(OPERATIONS.contains(operation), "{operation}");
        assert!(object.starts_with("own ") || object.starts_with("other "));
    }

    // Act: each role against each schema the row names.
    let started = std::time::Instant::now();
    let mut cells = 0;
    let mut failing = Vec::new();
    let roles = SERVICE_ROLES
        .iter()
        .map(|(schema, role)| (*role, *schema, 0))
        .chain(schemas.iter().map(|schema| (MIGRATOR, *schema, 1)));
    for (role, own, column) in roles {
        let mut conn = stack.connect_as(role).await;
        for (object, operation, expected, _) in MATRIX {
            let (whose, table) = object.split_once(' ').unwrap();
            let table = if table == "read model" {
                READ_MODEL
            } else {
                table
            };
            let targets: Vec<&str> = if whose == "own" {
                vec![own]
            } else {
                schemas.iter().copied().filter(|s| *s != own).collect()
            };
            for schema in targets {
                let sql = statement(schema, table, operation);
                let outcome = cell(&mut conn, &sql).await;
                cells += 1;
                if !expected[column].met_by(&outcome) {
                    failing.push(format!(
                        "{role} (own schema {own}) × {schema}.{table} × {operation}: expected {:?}, {outcome:?}\n    {sql}",
                        expected[column]
                    ));
                }
            }
        }
        conn.close().await.unwrap();
    }
    eprintln!("{cells} cells in {:?}", started.elapsed());

    // Assert
    assert!(
        failing.is_empty(),
        "{} of {cells} cells differ from the matrix:\n{}",
        failing.len(),
        failing.join("\n")
    );
}
