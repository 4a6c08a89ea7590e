use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use platform::tail::{self, Position};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::helpers::store;

/// Inserts one event inside the caller's transaction, as a writer would.
async fn insert_event(conn: &mut PgConnection) -> (Uuid, i64) {
    let id = Uuid::now_v7();
    let position: i64 = sqlx::query_scalar(
        "INSERT INTO events (event_id, stream_type, stream_id, version, event_type, payload, correlation_id, actor)
         VALUES ($1, 'ledger', $1, 1, 'redress.testing.ledger.Opened', '', $1, 'test') RETURNING position",
    )
    .bind(id)
    .fetch_one(conn)
    .await
    .unwrap();
    (id, position)
}

async fn read_all(pool: &sqlx::PgPool, after: Position) -> Vec<tail::RecordedEvent> {
    tail::read_after(pool, after, 1000).await.unwrap()
}

/// Reads once every transaction that was running has finished (other tests' transactions
/// anywhere in the cluster hold the horizon back for a moment).
async fn read_settled(pool: &sqlx::PgPool, after: Position) -> Vec<tail::RecordedEvent> {
    let catch_up = tail::CatchUp::start(pool, Duration::from_secs(30))
        .await
        .unwrap();
    while !catch_up.ready(pool).await.unwrap() {
        catch_up.pause().await.unwrap();
    }
    read_all(pool, after).await
}

#[tokio::test]
async fn a_reader_neither_skips_nor_reorders_when_a_later_transaction_commits_first() {
    let s = store().await;
    let pool = s.store.pool();
    // Arrange: A takes the lower position and stays open; B takes a higher one and commits.
    let mut a = pool.begin().await.unwrap();
    let (a_id, a_position) = insert_event(&mut a).await;
    let mut b = pool.begin().await.unwrap();
    let (b_id, b_position) = insert_event(&mut b).await;
    b.commit().await.unwrap();
    assert!(a_position < b_position);

    // Act and assert: B is committed and visible, but below A nothing is final yet.
    let naive: Vec<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM events WHERE position > 0 ORDER BY position")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        naive,
        vec![b_id],
        "a plain `position > cursor` reader would see B and move past A"
    );
    let while_a_is_open = read_all(pool, Position::START).await;
    assert!(
        while_a_is_open.is_empty(),
        "the reader must wait for A, got {while_a_is_open:?}"
    );

    a.commit().await.unwrap();
    let after_commit = read_settled(pool, Position::START).await;
    let ids: Vec<Uuid> = after_commit.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, vec![a_id, b_id]);
    let resumed = read_settled(pool, after_commit[0].position).await;
    assert_eq!(
        resumed.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        vec![b_id]
    );
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_nothing_for_the_reader_and_releases_the_horizon() {
    let s = store().await;
    let pool = s.store.pool();
    let mut a = pool.begin().await.unwrap();
    insert_event(&mut a).await;
    let mut b = pool.begin().await.unwrap();
    let (b_id, _) = insert_event(&mut b).await;
    b.commit().await.unwrap();

    a.rollback().await.unwrap();

    let ids: Vec<Uuid> = read_settled(pool, Position::START)
        .await
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids, vec![b_id]);
}

#[tokio::test]
async fn a_reader_resumes_after_a_position_and_honours_the_page_size() {
    let s = store().await;
    let ids = crate::helpers::append_streams(&s.store, 5).await;
    crate::helpers::wait_until_readable(&s.store, 5).await;

    let first = tail::read_after(s.store.pool(), Position::START, 2)
        .await
        .unwrap();
    let rest = tail::read_after(s.store.pool(), first[1].position, 10)
        .await
        .unwrap();

    let read: Vec<Uuid> = first
        .iter()
        .chain(rest.iter())
        .map(|e| e.event_id)
        .collect();
    assert_eq!(read, ids);
}

#[tokio::test]
async fn every_committed_event_is_read_exactly_once_in_a_stable_order_under_concurrent_writers() {
    let s = store().await;
    let pool = s.store.pool().clone();
    let seed: u64 = rand::rng().random();
    eprintln!("seed {seed}");
    const WRITERS: u64 = 8;
    const TRANSACTIONS: usize = 30;

    // Act: writers commit or roll back after random delays while a reader tails with small pages.
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(w));
                let mut committed = Vec::new();
                for _ in 0..TRANSACTIONS {
                    let mut tx = pool.begin().await.unwrap();
                    let mut ids = Vec::new();
                    for _ in 0..rng.random_range(1..=3) {
                        ids.push(insert_event(&mut tx).await.0);
                    }
                    tokio::time::sleep(Duration::from_micros(rng.random_range(0..4000))).await;
                    if rng.random_bool(0.2) {
                        tx.rollback().await.unwrap();
                    } else {
                        tx.commit().await.unwrap();
                        committed.extend(ids);
                    }
                }
                committed
            })
        })
        .collect();
    let done = Arc::new(tokio::sync::Notify::new());
    let reader = {
        let (pool, done) = (pool.clone(), done.clone());
        tokio::spawn(async move {
            let mut cursor = Position::START;
            let mut read = Vec::new();
            let finished = done.notified();
            tokio::pin!(finished);
            let mut catch_up: Option<tail::CatchUp> = None;
            loop {
                let ready = match &catch_up {
                    Some(c) => c.ready(&pool).await.unwrap(),
                    None => false,
                };
                let page = tail::read_after(&pool, cursor, 7).await.unwrap();
                if let Some(last) = page.last() {
                    assert!(last.position > cursor, "the cursor must only move forward");
                    cursor = last.position;
                    read.extend(page.iter().map(|e| e.event_id));
                    continue;
                }
                if ready {
                    return read;
                }
                if catch_up.is_none() {
                    tokio::select! {
                        () = &mut finished => catch_up = Some(tail::CatchUp::start(&pool, Duration::from_secs(30)).await.unwrap()),
                        () = tokio::time::sleep(Duration::from_millis(1)) => {}
                    }
                } else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
    };
    let mut committed = Vec::new();
    for writer in writers {
        committed.extend(writer.await.unwrap());
    }
    done.notify_one();
    let read = reader.await.unwrap();

    // Assert: exactly once each, nothing else, in the order a fresh reader sees now.
    let unique: HashSet<Uuid> = read.iter().copied().collect();
    assert_eq!(
        unique.len(),
        read.len(),
        "an event was read twice (seed {seed})"
    );
    assert_eq!(
        unique,
        committed.iter().copied().collect::<HashSet<_>>(),
        "committed and read differ (seed {seed})"
    );
    let stable: Vec<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM events ORDER BY transaction_id, position")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        read, stable,
        "the order read live differs from the final order (seed {seed})"
    );
}
