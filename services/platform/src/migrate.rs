//! Versioned SQL migrations applied inside one service's schema.
//!
//! Each service schema holds two sets: the platform's event-store tables and the service's own
//! read models. `sqlx::migrate!` keeps one linear history per database, which cannot hold two
//! independent sets per schema, so this runner tracks `(component, version)` pairs with a
//! checksum of each script and refuses to start when an applied script has changed.

use sha2::{Digest, Sha256};
use sqlx::AssertSqlSafe;

use crate::pg::{Pool, validate_schema_name};

/// One migration script.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Applied in ascending order; never reuse or reorder.
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// An ordered set of migrations owned by one component.
#[derive(Clone, Copy, Debug)]
pub struct Migrations {
    pub component: &'static str,
    pub migrations: &'static [Migration],
}

/// The platform's own tables: events, commands, checkpoints, inbox, parked events, and the
/// personal-data vault.
pub const EVENT_STORE: Migrations = Migrations {
    component: "platform",
    migrations: &[
        Migration {
            version: 1,
            name: "event_store",
            sql: include_str!("../migrations/0001_event_store.sql"),
        },
        Migration {
            version: 2,
            name: "vault",
            sql: include_str!("../migrations/0002_vault.sql"),
        },
    ],
};

/// Creates `schema` if needed and applies every pending migration of each set, in one
/// transaction, under an advisory lock so concurrent starters do not race.
///
/// Returns how many scripts were applied.
///
/// # Errors
/// When a script fails (nothing is applied then), or an applied script's checksum no longer
/// matches the code: the database was migrated by a different build.
pub async fn apply(pool: &Pool, schema: &str, sets: &[Migrations]) -> anyhow::Result<usize> {
    validate_schema_name(schema)?;
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('redress.migrate.' || $1))")
        .bind(schema)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         SET LOCAL search_path = {schema};
         CREATE TABLE IF NOT EXISTS schema_migrations (
             component  text        NOT NULL,
             version    integer     NOT NULL,
             name       text        NOT NULL,
             checksum   bytea       NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now(),
             PRIMARY KEY (component, version));"
    )))
    .execute(&mut *tx)
    .await?;

    let mut applied = 0;
    for set in sets {
        let done: Vec<(i32, Vec<u8>)> = sqlx::query_as(
            "SELECT version, checksum FROM schema_migrations WHERE component = $1 ORDER BY version",
        )
        .bind(set.component)
        .fetch_all(&mut *tx)
        .await?;
        for migration in set.migrations {
            let checksum = Sha256::digest(migration.sql.as_bytes()).to_vec();
            if let Some((_, recorded)) = done.iter().find(|(v, _)| *v == migration.version) {
                anyhow::ensure!(
                    *recorded == checksum,
                    "migration {}/{} ({}) was changed after it was applied to schema {schema}",
                    set.component,
                    migration.version,
                    migration.name
                );
                continue;
            }
            sqlx::raw_sql(AssertSqlSafe(migration.sql))
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(e).context(format!(
                        "Failed to apply migration {}/{} ({})",
                        set.component, migration.version, migration.name
                    ))
                })?;
            sqlx::query(
                "INSERT INTO schema_migrations (component, version, name, checksum) VALUES ($1, $2, $3, $4)",
            )
            .bind(set.component)
            .bind(migration.version)
            .bind(migration.name)
            .bind(&checksum)
            .execute(&mut *tx)
            .await?;
            applied += 1;
        }
    }
    tx.commit().await?;
    Ok(applied)
}

/// Checks that every migration of each set has been applied to `schema`, so a service never
/// starts on a missing or outdated schema.
///
/// # Errors
/// When the schema was never migrated or a set has pending migrations (the message says to run
/// `redress migrate`), and database errors.
pub async fn ensure_applied(pool: &Pool, schema: &str, sets: &[Migrations]) -> anyhow::Result<()> {
    validate_schema_name(schema)?;
    let tracked: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'schema_migrations')",
    )
    .bind(schema)
    .fetch_one(pool)
    .await?;
    anyhow::ensure!(
        tracked,
        "the {schema} schema is not migrated: run `redress migrate` first"
    );
    for set in sets {
        let applied: Vec<i32> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT version FROM {schema}.schema_migrations WHERE component = $1"
        )))
        .bind(set.component)
        .fetch_all(pool)
        .await?;
        let pending: Vec<&str> = set
            .migrations
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| m.name)
            .collect();
        anyhow::ensure!(
            pending.is_empty(),
            "the {schema} schema lacks {} migration(s) {pending:?}: run `redress migrate` first",
            set.component
        );
    }
    Ok(())
}
