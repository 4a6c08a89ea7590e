//! S9: the gap race, deterministic, on the suite's PostgreSQL and a service's own events table
//! (`complaints.events`) through the platform's reader, `platform::tail::read_after` — the code
//! path of `services/platform/tests/store/tail.rs`
//! (`a_reader_neither_skips_nor_reorders_when_a_later_transaction_commits_first`), here against
//! the server settings of the suite. Transaction A inserts and stays open; B inserts and
//! commits; the reader returns nothing (a reader on `position > cursor` would return B and
//! skip A for good); A commits; the reader returns A, then B, in `(tx, position)` order.

use std::time::{Duration, Instant};

use platform::tail::{self, Position};
use serde_json::json;
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use crate::run::cluster;

/// Inserts one event inside the caller's transaction, as a service's writer would.
async fn insert_event(conn: &mut PgConnection) -> (Uuid, i64) {
    let id = Uuid::now_v7();
    let position = sqlx::query_scalar(
        "INSERT INTO complaints.events (event_id, stream_type, stream_id, version, event_type,
             payload, correlation_id, actor)
         VALUES ($1, 'gap-race', $1, 1, 'redress.testing.GapRace', '', $1, 'test:s9')
         RETURNING position",
    )
    .bind(id)
    .fetch_one(conn)
    .await
    .unwrap();
    (id, position)
}

#[tokio::test]
async fn s9_a_reader_waits_for_an_open_transaction_and_then_reads_both_in_order() {
    // Arrange: nobody else writes (the services are stopped), and the reader starts after the log.
    let started = Instant::now();
    let cluster = cluster().await;
    cluster.stop_services().await;
    let reader = platform::pg::connect(&cluster.database_url(), "complaints", 2)
        .await
        .unwrap();
    let before = tail::read_after(&reader, Position::START, 100_000)
        .await
        .unwrap();
    let cursor = before.last().map_or(Position::START, |e| e.position);
    let mut a = PgConnection::connect(&cluster.database_url())
        .await
        .unwrap();
    let mut b = PgConnection::connect(&cluster.database_url())
        .await
        .unwrap();

    // Act: A takes the lower position and stays open; B takes a higher one and commits.
    sqlx::query("BEGIN").execute(&mut a).await.unwrap();
    let (a_id, a_position) = insert_event(&mut a).await;
    sqlx::query("BEGIN").execute(&mut b).await.unwrap();
    let (b_id, b_position) = insert_event(&mut b).await;
    sqlx::query("COMMIT").execute(&mut b).await.unwrap();
    let naive: Vec<Uuid> = sqlx::query_scalar(
        "SELECT event_id FROM complaints.events WHERE position > $1 ORDER BY position",
    )
    .bind(cursor.sequence)
    .fetch_all(&reader)
    .await
    .unwrap();
    let while_open = tail::read_after(&reader, cursor, 1_000).await.unwrap();
    sqlx::query("COMMIT").execute(&mut a).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let page = tail::read_after(&reader, cursor, 1_000).await.unwrap();
        if page.len() >= 2 || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let after: Vec<Uuid> = after.iter().map(|e| e.event_id).collect();

    // Assert
    let checks = [
        ("a_before_b_by_position", a_position < b_position),
        ("naive_reader_skips_a", naive == vec![b_id]),
        (
            "reader_returns_nothing_while_a_is_open",
            while_open.is_empty(),
        ),
        ("reader_returns_a_then_b", after == vec![a_id, b_id]),
    ];
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    println!(
        "{}",
        json!({
            "scenario": "S9",
            "duration_ms": started.elapsed().as_millis() as u64,
            "commands": {"total": 0},
            "faults": [],
            "invariants": [{"id": "gap_race", "held": failed.is_empty(),
                            "checked": checks.len(), "failed_checks": failed}],
            "reader": {"while_open": while_open.len(), "after_commit": after.len(),
                       "naive_while_open": naive.len()},
            "recovery": [],
        })
    );
    assert!(failed.is_empty(), "the gap race: {failed:?}");
}
