//! The benchmark's own database on the given server, its pools, and facts about the servers.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

use crate::report::log;

/// `redress_bench_<random>`, created at start and dropped at the end.
#[derive(Debug)]
pub(crate) struct BenchDb {
    admin_url: String,
    name: String,
    url: String,
    /// Two connections without a search path, for DDL and server-wide statements.
    admin: PgPool,
}

impl BenchDb {
    pub(crate) async fn create(admin_url: &str) -> anyhow::Result<BenchDb> {
        let name = format!(
            "redress_bench_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let mut conn = PgConnection::connect(admin_url).await?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let url = with_database(admin_url, &name)?;
        let options: PgConnectOptions = url.parse()?;
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.application_name("redress-bench-admin"))
            .await?;
        log!("created database {name}");
        Ok(BenchDb {
            admin_url: admin_url.to_owned(),
            name,
            url,
            admin,
        })
    }

    /// The connection string of the bench database.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database, forcing out any connection left behind.
    pub(crate) async fn drop_database(self) {
        self.admin.close().await;
        let result = async {
            let mut conn = PgConnection::connect(&self.admin_url).await?;
            sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut conn)
            .await?;
            conn.close().await?;
            anyhow::Ok(())
        }
        .await;
        match result {
            Ok(()) => log!("dropped database {}", self.name),
            Err(e) => log!("could not drop database {}: {e:#}", self.name),
        }
    }

    /// A pool of `size` connections whose search path is `schema` (through `platform::pg::connect`),
    /// with every connection opened before it is returned.
    pub(crate) async fn pool(&self, schema: &str, size: u32) -> anyhow::Result<platform::pg::Pool> {
        let pool = platform::pg::connect(&self.url, schema, size).await?;
        let mut held = Vec::with_capacity(size as usize);
        for _ in 0..size {
            held.push(pool.acquire().await?);
        }
        drop(held);
        Ok(pool)
    }

    /// Creates `schema` (for the peers, which have no migrations).
    pub(crate) async fn execute(&self, sql: String) -> anyhow::Result<()> {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&self.admin)
            .await?;
        Ok(())
    }

    pub(crate) async fn drop_schema(&self, schema: &str) {
        if let Err(e) = self
            .execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await
        {
            log!("could not drop schema {schema}: {e:#}");
        }
    }

    /// Flushes dirty buffers so a checkpoint does not land in the middle of the next run.
    pub(crate) async fn checkpoint(&self) {
        if let Err(e) = sqlx::raw_sql("CHECKPOINT").execute(&self.admin).await {
            log!("CHECKPOINT failed (needs superuser or pg_checkpoint): {e:#}");
        }
    }

    pub(crate) async fn show(&self, setting: &str) -> Option<String> {
        sqlx::query_scalar::<_, String>(AssertSqlSafe(format!("SHOW {setting}")))
            .fetch_one(&self.admin)
            .await
            .ok()
    }

    /// CPU seconds used so far by the server processes of every connection to the bench
    /// database (through `/proc`, so only when PostgreSQL runs on this host). Connections
    /// that close in between take their share with them, so compare readings over a window in
    /// which the pools stay open.
    pub(crate) async fn backend_cpu_seconds(&self) -> Option<f64> {
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()",
        )
        .fetch_all(&self.admin)
        .await
        .ok()?;
        // A connection that closed since the query has nothing left to read.
        let used: Vec<f64> = pids
            .into_iter()
            .filter_map(|pid| crate::child::cpu_seconds(u32::try_from(pid).ok()?))
            .collect();
        (!used.is_empty()).then(|| used.iter().sum())
    }

    /// The current WAL insert position, in bytes.
    pub(crate) async fn wal_lsn(&self) -> Option<i64> {
        sqlx::query_scalar::<_, i64>("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
            .fetch_one(&self.admin)
            .await
            .ok()
    }
}

/// `url` with its database replaced by `database` (query string kept).
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (without_query, query) = match url.split_once('?') {
        Some((u, q)) => (u, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = without_query
        .find("://")
        .ok_or_else(|| anyhow::anyhow!("not a postgres:// URL: {url}"))?
        + 3;
    let base = match without_query[scheme_end..].find('/') {
        Some(slash) => &without_query[..scheme_end + slash],
        None => without_query,
    };
    Ok(format!("{base}/{database}{query}"))
}

/// `nats-server --version` of the binary the platform's test support would start.
pub(crate) async fn nats_server_version() -> Option<String> {
    let binary = platform::testing::nats_server_binary().ok()?;
    let output = tokio::process::Command::new(binary)
        .arg("--version")
        .output()
        .await
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .find_map(|w| w.strip_prefix('v'))
        .map(str::to_owned)
}

/// Whether the checkout the bench was built from has uncommitted changes.
pub(crate) async fn git_dirty() -> Option<bool> {
    let output = tokio::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "status", "--porcelain"])
        .output()
        .await
        .ok()?;
    output.status.success().then_some(!output.stdout.is_empty())
}

/// `git rev-parse HEAD` of the checkout the bench was built from, if there is one.
pub(crate) async fn git_sha() -> Option<String> {
    let output = tokio::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .await
        .ok()?;
    let sha = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !sha.is_empty()).then_some(sha)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "b")
                .ok()
                .as_deref(),
            Some("postgres://u@h:5432/b")
        );
        assert_eq!(
            with_database("postgres://u@h/x?sslmode=disable", "b")
                .ok()
                .as_deref(),
            Some("postgres://u@h/b?sslmode=disable")
        );
        assert_eq!(
            with_database("postgres://u@h", "b").ok().as_deref(),
            Some("postgres://u@h/b")
        );
    }
}
