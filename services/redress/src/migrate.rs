//! `redress migrate`.

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use crate::cli::MigrateArgs;
use crate::services;

/// Creates the database when it does not exist, then migrates each selected service schema.
///
/// # Errors
/// When PostgreSQL cannot be reached or a migration fails.
pub async fn run(args: &MigrateArgs) -> anyhow::Result<()> {
    ensure_database(&args.database.database_url).await?;
    for service in services::selected(&args.services) {
        let pool = platform::pg::connect(&args.database.database_url, service.schema(), 2)
            .await
            .with_context(|| format!("Failed to connect for {}", service.name()))?;
        let applied =
            platform::migrate::apply(&pool, service.schema(), &[platform::migrate::EVENT_STORE])
                .await
                .with_context(|| format!("Failed to migrate {}", service.name()))?;
        tracing::info!(
            service = service.name(),
            schema = service.schema(),
            applied,
            "schema is up to date"
        );
        pool.close().await;
    }
    Ok(())
}

/// Creates the database named in `url` if it is missing, through the `postgres` database.
async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let options: PgConnectOptions = url
        .parse()
        .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let name = options.get_database().unwrap_or("postgres").to_owned();
    platform::pg::validate_schema_name(&name)
        .context("the database name must be a plain lower-case identifier")?;
    let mut admin = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .context("Failed to connect to PostgreSQL")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        tracing::info!(database = %name, "created the database");
    }
    admin.close().await?;
    Ok(())
}
