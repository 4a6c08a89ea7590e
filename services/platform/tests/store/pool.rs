//! The service pool (`platform::pg::connect`) checks a connection with a round trip only when
//! it has sat idle: one taken again soon after it was returned goes straight to its statement,
//! and one the server dropped while it sat idle is found out and replaced before use.

use std::time::{Duration, Instant};

use platform::testing::TestDb;
use sqlx::{Connection, PgConnection, PgPool};

async fn backend(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
}

/// Waits until the pool's one connection is back in its idle queue (the pool returns it from a
/// task of its own).
async fn returned(pool: &PgPool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.num_idle() < 1 {
        assert!(Instant::now() < deadline, "the connection never came back");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Ends backend `pid` from a connection of its own and waits until it has gone.
async fn terminate(db: &TestDb, pid: i32) {
    let mut admin = PgConnection::connect(db.url()).await.unwrap();
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(ended, "backend {pid} did not end");
    admin.close().await.unwrap();
}

/// A pool of one connection checked after `check_after_idle` (`None`: the service default),
/// whose connection has answered a statement, gone back to the pool, and then been ended by
/// the server. Returns the database, the pool and the ended backend's pid.
async fn dropped_while_idle(check_after_idle: Option<Duration>) -> (TestDb, PgPool, i32) {
    let db = TestDb::create().await.unwrap();
    let pool = match check_after_idle {
        Some(after) => platform::pg::connect_checking_after(db.url(), "public", 1, after).await,
        None => platform::pg::connect(db.url(), "public", 1).await,
    }
    .unwrap();
    let first = backend(&pool).await.unwrap();
    returned(&pool).await;
    terminate(&db, first).await;
    (db, pool, first)
}

#[tokio::test]
async fn a_connection_the_server_dropped_while_it_sat_idle_is_replaced_before_use() {
    let (_db, pool, first) = dropped_while_idle(Some(Duration::from_millis(50))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let second = backend(&pool)
        .await
        .expect("the check should have replaced the dropped connection");
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_connection_taken_again_soon_after_it_was_returned_is_not_checked() {
    let (_db, pool, first) = dropped_while_idle(Some(Duration::from_secs(3_600))).await;

    // No round trip came before the statement, so the statement itself meets the dropped
    // connection: the proof that a recently used connection is not checked.
    assert!(backend(&pool).await.is_err());
    // The pool closes the broken connection, and the next statement gets a new one.
    let deadline = Instant::now() + Duration::from_secs(5);
    let second = loop {
        match backend(&pool).await {
            Ok(pid) => break pid,
            Err(e) => assert!(Instant::now() < deadline, "no new connection: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_ne!(first, second);
}

#[tokio::test]
async fn the_service_pool_checks_a_connection_idle_for_longer_than_its_threshold() {
    let (_db, pool, first) = dropped_while_idle(None).await;
    tokio::time::sleep(platform::pg::CHECK_IDLE_CONNECTION_AFTER + Duration::from_millis(200))
        .await;

    let second = backend(&pool).await.unwrap();
    assert_ne!(first, second);
}
