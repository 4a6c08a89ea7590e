use std::collections::HashSet;
use std::time::Duration;

use platform::pg::Pool;
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

async fn read_all(pool: &Pool, after: Position) -> Vec<tail::RecordedEvent> {
    tail::read_after(pool, after, 1000).await.unwrap()
}

/// Reads once every transaction that was running has finished (other tests' transactions
/// anywhere in the cluster hold the horizon back for a moment).
async fn read_settled(pool: &Pool, after: Position) -> Vec<tail::RecordedEvent> {
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

/// Writers that commit or roll back transactions of one to three events after random delays;
/// each returns the ids it committed.
fn spawn_writers(pool: &Pool, seed: u64) -> Vec<tokio::task::JoinHandle<Vec<Uuid>>> {
    const WRITERS: u64 = 8;
    const TRANSACTIONS: usize = 30;
    (0..WRITERS)
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
        .collect()
}

/// Tails from `cursor` with `read` until `done` turns true and everything committed before it
/// has been read; returns the ids read, in order.
fn spawn_reader<F, Fut>(
    pool: &Pool,
    mut cursor: Position,
    mut done: tokio::sync::watch::Receiver<bool>,
    read: F,
) -> tokio::task::JoinHandle<Vec<Uuid>>
where
    F: Fn(Position) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<tail::RecordedEvent>> + Send,
{
    let pool = pool.clone();
    tokio::spawn(async move {
        let mut read_ids = Vec::new();
        let mut catch_up: Option<tail::CatchUp> = None;
        loop {
            let ready = match &catch_up {
                Some(c) => c.ready(&pool).await.unwrap(),
                None => false,
            };
            let page = read(cursor).await;
            if let Some(last) = page.last() {
                assert!(last.position > cursor, "the cursor must only move forward");
                cursor = last.position;
                read_ids.extend(page.iter().map(|e| e.event_id));
                continue;
            }
            if ready {
                return read_ids;
            }
            if catch_up.is_none() {
                let finished = tokio::select! {
                    finished = done.wait_for(|done| *done) => finished.is_ok(),
                    () = tokio::time::sleep(Duration::from_millis(1)) => false,
                };
                if finished {
                    catch_up = Some(
                        tail::CatchUp::start(&pool, Duration::from_secs(30))
                            .await
                            .unwrap(),
                    );
                }
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    })
}

/// Waits for the writers, tells the readers, and checks each read exactly once every event
/// committed by the writers, and the history it started before, in the order a fresh reader
/// sees now.
async fn assert_read_exactly_once(
    pool: &Pool,
    seed: u64,
    writers: Vec<tokio::task::JoinHandle<Vec<Uuid>>>,
    done: tokio::sync::watch::Sender<bool>,
    readers: Vec<(Vec<Uuid>, tokio::task::JoinHandle<Vec<Uuid>>)>,
) {
    let mut committed = Vec::new();
    for writer in writers {
        committed.extend(writer.await.unwrap());
    }
    done.send_replace(true);
    let stable: Vec<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM events ORDER BY transaction_id, position")
            .fetch_all(pool)
            .await
            .unwrap();
    for (history, reader) in readers {
        let read = reader.await.unwrap();
        let unique: HashSet<Uuid> = read.iter().copied().collect();
        assert_eq!(
            unique.len(),
            read.len(),
            "an event was read twice (seed {seed})"
        );
        let expected: HashSet<Uuid> = committed.iter().chain(&history).copied().collect();
        assert_eq!(unique, expected, "committed and read differ (seed {seed})");
        let in_order: Vec<Uuid> = stable
            .iter()
            .filter(|id| expected.contains(id))
            .copied()
            .collect();
        assert_eq!(
            read, in_order,
            "the order read live differs from the final order (seed {seed})"
        );
    }
}

#[tokio::test]
async fn every_committed_event_is_read_exactly_once_in_a_stable_order_under_concurrent_writers() {
    let s = store().await;
    let pool = s.store.pool().clone();
    let seed: u64 = rand::rng().random();
    eprintln!("seed {seed}");

    // Act: writers commit or roll back after random delays while a reader tails with small pages.
    let writers = spawn_writers(&pool, seed);
    let (done, finished) = tokio::sync::watch::channel(false);
    let reader = spawn_reader(&pool, Position::START, finished, {
        let pool = pool.clone();
        move |cursor| {
            let pool = pool.clone();
            async move { tail::read_after(&pool, cursor, 7).await.unwrap() }
        }
    });

    // Assert
    assert_read_exactly_once(&pool, seed, writers, done, vec![(Vec::new(), reader)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailers_sharing_a_store_each_read_every_committed_event_exactly_once_in_order() {
    let s = store().await;
    let pool = s.store.pool().clone();
    let seed: u64 = rand::rng().random();
    eprintln!("seed {seed}");
    // Arrange: some history, so a tailer starting at the beginning is behind the others.
    let history = crate::helpers::append_streams(&s.store, 40).await;
    crate::helpers::wait_until_readable(&s.store, 40).await;
    let resume = read_all(&pool, Position::START).await[39].position;

    // Act: writers race while tailers of one store read with different page sizes, two from
    // the end of the history and one from the beginning.
    let writers = spawn_writers(&pool, seed);
    let (done, finished) = tokio::sync::watch::channel(false);
    let tailer = |from: Position, page: i64| {
        let store = s.store.clone();
        spawn_reader(&pool, from, finished.clone(), move |cursor| {
            let store = store.clone();
            async move { store.read_after(cursor, page).await.unwrap() }
        })
    };
    let readers = vec![
        (Vec::new(), tailer(resume, 7)),
        (Vec::new(), tailer(resume, 1000)),
        (history, tailer(Position::START, 3)),
        (Vec::new(), tailer(resume, 1)),
    ];

    // Assert
    assert_read_exactly_once(&pool, seed, writers, done, readers).await;
}

/// Reads `n` events through the store's shared tail, once they are all visible.
async fn settled_events(store: &platform::event_store::EventStore, n: usize) -> Vec<Uuid> {
    crate::helpers::wait_until_readable(store, n).await;
    read_all(store.pool(), Position::START)
        .await
        .iter()
        .map(|e| e.event_id)
        .collect()
}

#[tokio::test]
async fn one_read_of_the_log_answers_every_tailer_a_commit_wakes() {
    let s = store().await;
    let ids = crate::helpers::append_streams(&s.store, 3).await;
    assert_eq!(settled_events(&s.store, 3).await, ids);
    let tail = s.store.shared_tail();
    let before = tail.log_reads();

    // Act: four tailers at the same cursor ask at the same moment, as after one commit.
    let pages =
        futures_util::future::join_all((0..4).map(|_| s.store.read_after(Position::START, 100)))
            .await;

    // Assert: each got the whole log, from one query.
    for page in pages {
        let read: Vec<Uuid> = page.unwrap().iter().map(|e| e.event_id).collect();
        assert_eq!(read, ids);
    }
    assert_eq!(tail.log_reads() - before, 1);
}

#[tokio::test]
async fn a_full_page_comes_from_the_shared_tail_but_a_short_one_needs_a_read_begun_after_the_call()
{
    let s = store().await;
    let ids = crate::helpers::append_streams(&s.store, 3).await;
    assert_eq!(settled_events(&s.store, 3).await, ids);
    let tail = s.store.shared_tail();
    let first = s.store.read_after(Position::START, 100).await.unwrap();
    assert_eq!(first.len(), 3);
    let after_first = tail.log_reads();

    // Act and assert: a full page is answered from what was read.
    let full = s.store.read_after(Position::START, 2).await.unwrap();
    assert_eq!(
        full.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        ids[..2]
    );
    assert_eq!(tail.log_reads(), after_first);

    // Act and assert: a short page means "everything visible now", so a new call reads again and
    // sees an event committed since the first read.
    let later = crate::helpers::append_streams(&s.store, 1).await;
    crate::helpers::wait_until_readable(&s.store, 4).await;
    let fresh = s.store.read_after(first[2].position, 100).await.unwrap();
    assert_eq!(fresh.iter().map(|e| e.event_id).collect::<Vec<_>>(), later);
    assert_eq!(tail.log_reads(), after_first + 1);
}

#[tokio::test]
async fn a_tailer_ahead_of_the_shared_tail_moves_it_and_one_left_behind_reads_the_log_itself() {
    let s = store().await;
    let first = crate::helpers::append_streams(&s.store, 2).await;
    settled_events(&s.store, 2).await;
    let shared = s.store.read_after(Position::START, 100).await.unwrap();
    assert_eq!(shared.len(), 2);
    let later = crate::helpers::append_streams(&s.store, 2).await;
    settled_events(&s.store, 4).await;
    let all = read_all(s.store.pool(), Position::START).await;

    // Act: a tailer that read the log itself asks from the third event, past what is shared;
    // then one still at the second event asks.
    let ahead = s.store.read_after(all[2].position, 100).await.unwrap();
    let behind = s.store.read_after(all[1].position, 100).await.unwrap();

    // Assert: neither misses an event.
    let ids = |page: &[tail::RecordedEvent]| page.iter().map(|e| e.event_id).collect::<Vec<_>>();
    assert_eq!(ids(&shared), first);
    assert_eq!(ids(&ahead), later[1..]);
    assert_eq!(ids(&behind), later);
}
