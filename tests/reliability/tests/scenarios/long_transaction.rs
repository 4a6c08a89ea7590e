//! S8: a long transaction. While eight clients write cases, a session straight to PostgreSQL
//! writes a row to a scratch table inside BEGIN and holds the transaction open for 12 s [30 s]
//! before rolling it back. Its transaction id holds the read horizon of every reader of every
//! log in the cluster (`pg_snapshot_xmin` is cluster-wide, see the platform README): relays
//! and projections stall, `redress status --json` names the holder and its age, and when it
//! ends they go on, having skipped nothing (I4, I5, I7 and the rest).
//!
//! Then `idle_in_transaction_session_timeout` is shown to end a session idle in a transaction
//! longer than the setting: with a session-level 1 s rather than the server's 60 s, so that the
//! test takes seconds (S13 asserts the server's 60 s).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redress_reliability::cluster::{Cluster, Service};
use sqlx::Connection as _;

use crate::run::{cluster, load, long, scenario};

/// What `redress status --json` showed while the transaction was open.
#[derive(Debug, Default)]
struct Seen {
    horizon_age_seconds: f64,
    horizon_pid: Option<i64>,
    holder_pid: i32,
    readers_behind: i64,
}

async fn status(cluster: &Cluster) -> serde_json::Value {
    let grpc = cluster.grpc_addr(Service::Complaints).await.unwrap();
    let out = cluster
        .operator(&["status", "--json", "--grpc-addr", &grpc.to_string()])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "redress status: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s8_a_long_transaction_stalls_readers_who_then_skip_nothing() {
    let cluster = cluster().await;
    let load = load(Duration::from_secs(30), Duration::from_secs(120));
    let hold = Duration::from_secs(if long() { 30 } else { 12 });
    let seen = Arc::new(Mutex::new(Seen::default()));

    let shown = Arc::clone(&seen);
    scenario("S8", cluster, load, async move |cluster, _end| {
        let url = cluster.database_url();
        let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE IF NOT EXISTS public.reliability_scratch (n integer)")
            .execute(&mut holder)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(6)).await;
        let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut holder)
            .await
            .unwrap();
        let mut tx = holder.begin().await.unwrap();
        sqlx::query("INSERT INTO public.reliability_scratch VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tokio::time::sleep(hold - Duration::from_secs(3)).await;
        let report = status(cluster).await;
        tx.rollback().await.unwrap();

        let behind = report["services"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| {
                ["relays", "projections"]
                    .into_iter()
                    .flat_map(move |kind| s[kind].as_array().into_iter().flatten())
            })
            .filter_map(|lag| lag["events"].as_i64())
            .sum();
        *shown.lock().unwrap() = Seen {
            horizon_age_seconds: report["horizon"]["age_seconds"].as_f64().unwrap_or(0.0),
            horizon_pid: report["horizon"]["pid"].as_i64(),
            holder_pid,
            readers_behind: behind,
        };
    })
    .await;

    let seen = seen.lock().unwrap();
    println!(
        "{}",
        serde_json::json!({
            "scenario": "S8",
            "held_s": hold.as_secs(),
            "horizon_age_seconds": seen.horizon_age_seconds,
            "readers_behind": seen.readers_behind,
        })
    );
    assert_eq!(
        seen.horizon_pid,
        Some(i64::from(seen.holder_pid)),
        "status did not name the holder: {seen:?}"
    );
    assert!(
        seen.horizon_age_seconds >= (hold.as_secs_f64() - 4.0),
        "status showed a horizon {} s old",
        seen.horizon_age_seconds
    );
    assert!(
        seen.readers_behind > 0,
        "no reader was behind while the horizon was held"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s8_a_session_idle_in_a_transaction_past_the_timeout_is_ended() {
    let cluster = cluster().await;
    let mut session = sqlx::PgConnection::connect(&cluster.database_url())
        .await
        .unwrap();
    sqlx::query("CREATE TABLE IF NOT EXISTS public.reliability_scratch (n integer)")
        .execute(&mut session)
        .await
        .unwrap();
    sqlx::query("SET idle_in_transaction_session_timeout = '1s'")
        .execute(&mut session)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut session).await.unwrap();
    sqlx::query("INSERT INTO public.reliability_scratch VALUES (2)")
        .execute(&mut session)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let after = sqlx::query("SELECT 1").execute(&mut session).await;

    let error = after.expect_err("the session idle in its transaction was still open");
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    // 25P03 idle_in_transaction_session_timeout, or the connection already closed under it.
    assert!(
        code.as_deref() == Some("25P03") || matches!(error, sqlx::Error::Io(_)),
        "unexpected error: {error:?}"
    );
    let mut checker = sqlx::PgConnection::connect(&cluster.database_url())
        .await
        .unwrap();
    let written: i64 =
        sqlx::query_scalar("SELECT count(*) FROM public.reliability_scratch WHERE n = 2")
            .fetch_one(&mut checker)
            .await
            .unwrap();
    assert_eq!(written, 0, "the ended session's write survived");
}
