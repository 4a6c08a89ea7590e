//! S13: the settings that make an acknowledged write survive a power loss, asserted because a
//! power loss cannot be produced without a VM. NATS fsyncs before every acknowledgement and
//! keeps its store outside /tmp; PostgreSQL fsyncs, commits synchronously and writes full
//! pages.

use std::time::Instant;

use serde_json::json;
use sqlx::Connection as _;

use crate::run::cluster;

#[tokio::test]
async fn s13_nats_and_postgres_run_with_the_durability_settings() {
    // Arrange
    let started = Instant::now();
    let cluster = cluster().await;

    // Act
    let varz = cluster.nats().await.varz().await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&cluster.database_url())
        .await
        .unwrap();
    let mut settings = serde_json::Map::new();
    for name in ["fsync", "synchronous_commit", "full_page_writes"] {
        let value: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {name}")))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        settings.insert(name.into(), value.into());
    }
    let idle: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
        .fetch_one(&mut conn)
        .await
        .unwrap();

    // Assert
    let jetstream = &varz["jetstream"]["config"];
    let store_dir = jetstream["store_dir"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let checks = [
        ("nats.sync_always", jetstream["sync_always"] == json!(true)),
        (
            "nats.store_dir_not_under_tmp",
            !store_dir.is_empty() && !store_dir.starts_with("/tmp"),
        ),
        ("postgres.fsync", settings["fsync"] == "on"),
        (
            "postgres.synchronous_commit",
            settings["synchronous_commit"] == "on",
        ),
        (
            "postgres.full_page_writes",
            settings["full_page_writes"] == "on",
        ),
        (
            "postgres.idle_in_transaction_session_timeout",
            idle == "1min",
        ),
    ];
    let held: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(n, _)| *n)
        .collect();
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !*ok)
        .map(|(n, _)| *n)
        .collect();
    println!(
        "{}",
        json!({
            "scenario": "S13",
            "duration_ms": started.elapsed().as_millis() as u64,
            "commands": {"total": 0},
            "faults": [],
            "invariants": [{"id": "durability_settings", "held": failed.is_empty(),
                            "checked": checks.len(), "held_checks": held, "failed_checks": failed}],
            "nats": {"version": varz["version"], "sync_always": jetstream["sync_always"],
                     "store_dir": store_dir},
            "postgres": settings,
            "recovery": [],
        })
    );
    assert!(
        failed.is_empty(),
        "durability settings not in force: {failed:?}; /varz jetstream.config = {jetstream}"
    );
}
