//! The service pool (`platform::pg::connect`) checks a connection with a round trip only when
//! it has sat idle: one taken again soon after it was returned goes straight to its statement,
//! and one the server dropped while it sat idle is found out and replaced before use. A
//! connection whose statement completed, or whose transaction ended, is kept warm with no
//! round trip; one a cancelled statement, a failed statement or a dropped transaction left
//! something on goes back through sqlx's check, which clears it before anyone else uses it.

use std::time::{Duration, Instant};

use platform::pg::{Pool, PoolTransaction};
use platform::testing::TestDb;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};
use tokio::task::JoinSet;

async fn backend(pool: &Pool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
}

/// Waits until the pool's one connection is back in its idle queue (the pool returns it from a
/// task of its own).
async fn returned(pool: &Pool) {
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
async fn dropped_while_idle(check_after_idle: Option<Duration>) -> (TestDb, Pool, i32) {
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

/// A database and a service pool of `size` connections over its `public` schema.
async fn pool_of(size: u32) -> (TestDb, Pool) {
    let db = TestDb::create().await.unwrap();
    let pool = platform::pg::connect(db.url(), "public", size)
        .await
        .unwrap();
    (db, pool)
}

/// [`pool_of`], with an empty table `t (x int)`.
async fn pool_with_table(size: u32) -> (TestDb, Pool) {
    let (db, pool) = pool_of(size).await;
    sqlx::query("CREATE TABLE t (x int)")
        .execute(&pool)
        .await
        .unwrap();
    (db, pool)
}

/// A transaction, still open, that has inserted `x` into `t`.
async fn inserting(pool: &Pool, x: i32) -> PoolTransaction {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO t VALUES ($1)")
        .bind(x)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

async fn count_rows(pool: &Pool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(pool)
        .await
        .unwrap()
}

// The checks on `num_idle` right after an await run before any other task can: the tests run
// on one thread, so a connection given back through sqlx's task (its check) is not idle yet.

#[tokio::test]
async fn a_connection_whose_statement_completed_is_kept_with_no_round_trip() {
    let (_db, pool) = pool_of(1).await;
    let first = backend(&pool).await.unwrap();
    assert_eq!(pool.num_idle(), 1, "kept at once, not sent through a check");

    assert_eq!(backend(&pool).await.unwrap(), first);
    assert_eq!(pool.size(), 1);
}

#[tokio::test]
async fn a_failed_statement_sends_its_connection_through_the_check() {
    let (_db, pool) = pool_of(1).await;
    let failed = sqlx::query_scalar::<_, i32>("SELECT 1 / 0")
        .fetch_one(&pool)
        .await;
    assert!(failed.is_err());
    assert_eq!(
        pool.num_idle(),
        0,
        "not kept: it goes back through the check"
    );

    returned(&pool).await;
    backend(&pool).await.unwrap();
}

#[tokio::test]
async fn a_cancelled_statement_leaves_nothing_for_the_next_one() {
    let (_db, pool) = pool_of(1).await;
    let slow = sqlx::query_scalar::<_, i32>("SELECT 1 FROM pg_sleep(0.3)").fetch_one(&pool);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), slow)
            .await
            .is_err()
    );
    assert_eq!(
        pool.num_idle(),
        0,
        "not kept: its answer is still on the way"
    );

    // The one connection is the cancelled statement's: the check reads its answer off first.
    let next: i32 = sqlx::query_scalar("SELECT 2")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(next, 2);
}

#[tokio::test]
async fn a_transaction_dropped_while_open_is_rolled_back_before_its_connection_is_used_again() {
    let (_db, pool) = pool_with_table(1).await;
    drop(inserting(&pool, 1).await);
    assert_eq!(
        pool.num_idle(),
        0,
        "not kept: its rollback is still to be sent"
    );

    // On the same connection: still inside the transaction, it would see its own row.
    assert_eq!(count_rows(&pool).await, 0);
    let in_transaction: bool =
        sqlx::query_scalar("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!in_transaction);
}

#[tokio::test]
async fn a_transaction_that_commits_or_rolls_back_gives_its_connection_back_warm() {
    let (db, pool) = pool_with_table(1).await;

    inserting(&pool, 1).await.commit().await.unwrap();
    assert_eq!(pool.num_idle(), 1);

    inserting(&pool, 2).await.rollback().await.unwrap();
    assert_eq!(pool.num_idle(), 1);

    let mut other = PgConnection::connect(db.url()).await.unwrap();
    let rows: Vec<i32> = sqlx::query_scalar("SELECT x FROM t")
        .fetch_all(&mut other)
        .await
        .unwrap();
    assert_eq!(rows, [1]);
    other.close().await.unwrap();
}

#[tokio::test]
async fn a_connection_used_by_hand_goes_back_through_the_check() {
    let (_db, pool) = pool_of(1).await;
    let mut lease = pool.acquire().await.unwrap();
    sqlx::query("SELECT 1").execute(&mut *lease).await.unwrap();
    drop(lease);
    assert_eq!(pool.num_idle(), 0);

    returned(&pool).await;
    backend(&pool).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_beyond_the_pool_size_wait_for_kept_connections_and_none_times_out() {
    let (_db, pool) = pool_with_table(2).await;
    let mut callers = JoinSet::new();
    for caller in 0..16 {
        let pool = pool.clone();
        callers.spawn(async move {
            for i in 0..25 {
                if (caller + i) % 5 == 0 {
                    inserting(&pool, caller).await.commit().await?;
                } else {
                    backend(&pool).await?;
                }
            }
            Ok::<_, sqlx::Error>(())
        });
    }
    while let Some(done) = callers.join_next().await {
        done.unwrap()
            .expect("every caller is served within the acquire timeout");
    }
    assert_eq!(count_rows(&pool).await, 16 * 5);
    assert!(pool.size() <= 2);
}

#[tokio::test]
async fn a_caller_that_takes_a_warm_connection_lets_the_one_being_opened_for_it_finish() {
    let db = TestDb::create().await.unwrap();
    // Opening a connection takes 300 ms, far longer than the commit below.
    let connections = PgPoolOptions::new()
        .max_connections(2)
        .after_connect(|_, _| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(())
            })
        })
        .connect(db.url())
        .await
        .unwrap();
    let pool = Pool::new(connections, platform::pg::CHECK_IDLE_CONNECTION_AFTER);
    sqlx::query("CREATE TABLE t (x int)")
        .execute(&pool)
        .await
        .unwrap();
    let tx = inserting(&pool, 1).await;
    assert_eq!(pool.size(), 1);

    // The caller finds nothing warm and asks sqlx for a second connection; while that is being
    // opened, the transaction commits and its connection is kept, and the caller takes it.
    let caller = tokio::spawn({
        let pool = pool.clone();
        async move { backend(&pool).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    tx.commit().await.unwrap();
    let took = Instant::now();
    caller.await.unwrap().unwrap();
    assert!(
        took.elapsed() < Duration::from_millis(200),
        "the caller waited for the new connection instead of taking the kept one"
    );

    // The second connection was opened all the same, and kept.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.size() < 2 || pool.num_idle() < 2 {
        assert!(
            Instant::now() < deadline,
            "the connection being opened was abandoned: {pool:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut admin = PgConnection::connect(db.url()).await.unwrap();
    let abandoned: i64 = sqlx::query_scalar(
        "SELECT sessions_abandoned FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(abandoned, 0);
    admin.close().await.unwrap();
}

#[tokio::test]
async fn closing_the_pool_closes_its_warm_connections() {
    let (db, pool) = pool_of(1).await;
    let pid = backend(&pool).await.unwrap();
    assert_eq!(pool.num_idle(), 1);

    tokio::time::timeout(Duration::from_secs(5), pool.close())
        .await
        .expect("close does not wait on a warm connection");
    assert!(pool.is_closed());
    assert!(matches!(pool.acquire().await, Err(sqlx::Error::PoolClosed)));
    let mut admin = PgConnection::connect(db.url()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let open: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)")
                .bind(pid)
                .fetch_one(&mut admin)
                .await
                .unwrap();
        if !open {
            break;
        }
        assert!(Instant::now() < deadline, "backend {pid} is still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    admin.close().await.unwrap();
}
