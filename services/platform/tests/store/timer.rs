use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jiff::{Timestamp, ToSpan};
use platform::event_store::{CommandContext, EventStore, ExpectedVersion};
use platform::testing::ledger::{Command, Ledger};
use platform::timer::{self, Scheduler, Timer, TimerHandler};
use uuid::Uuid;

use crate::helpers::{Store, metadata, store};

/// Closes the ledger when its timer fires.
#[derive(Clone)]
struct CloseLedger {
    store: EventStore,
    calls: Arc<AtomicUsize>,
}

impl TimerHandler for CloseLedger {
    async fn fire(&self, timer: &Timer, _now: Timestamp) -> anyhow::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let context = CommandContext {
            metadata: metadata(),
            key: Some(timer.command_key().map_err(anyhow::Error::msg)?),
            expected: ExpectedVersion::Any,
        };
        self.store
            .execute::<Ledger>(timer.stream_id, Command::Close, &context)
            .await?;
        Ok(())
    }
}

struct Setup {
    s: Store,
    ledger: Uuid,
    handler: CloseLedger,
    due: Timestamp,
}

async fn setup() -> Setup {
    let s = store().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(timer::create_table_sql("timers")))
        .execute(s.store.pool())
        .await
        .unwrap();
    let ledger = Uuid::now_v7();
    let context = CommandContext {
        metadata: metadata(),
        ..Default::default()
    };
    s.store
        .execute::<Ledger>(ledger, Command::Open { owner: "a".into() }, &context)
        .await
        .unwrap();
    let due: Timestamp = "2025-08-14T22:59:59Z".parse().unwrap();
    let mut conn = s.store.pool().acquire().await.unwrap();
    let t = Timer {
        timer_id: format!("close:{ledger}"),
        kind: "close".into(),
        stream_id: ledger,
        due_at: due,
    };
    timer::schedule(&mut conn, "timers", &t).await.unwrap();
    let handler = CloseLedger {
        store: s.store.clone(),
        calls: Arc::new(AtomicUsize::new(0)),
    };
    Setup {
        s,
        ledger,
        handler,
        due,
    }
}

async fn events_of(t: &Setup) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_id = $1")
        .bind(t.ledger)
        .fetch_one(t.s.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_timer_fires_once_when_it_falls_due() {
    let t = setup().await;
    let scheduler = Scheduler::new(t.s.store.pool().clone(), "timers", t.handler.clone()).unwrap();

    let early = scheduler.run_due(t.due - 1.second()).await.unwrap();
    let on_time = scheduler.run_due(t.due).await.unwrap();
    let again = scheduler.run_due(t.due + 1.hour()).await.unwrap();

    assert_eq!((early, on_time, again), (0, 1, 0));
    assert_eq!(events_of(&t).await, 2, "opened, then closed once");
}

#[tokio::test]
async fn a_scheduler_that_dies_after_firing_fires_again_without_a_second_effect() {
    let scenario = fail::FailScenario::setup();
    let t = setup().await;
    let scheduler = Scheduler::new(t.s.store.pool().clone(), "timers", t.handler.clone())
        .unwrap()
        .with_lease(Duration::from_millis(50));
    fail::cfg("timer::after_fire_before_mark", "1*return").unwrap();

    let crashed = scheduler.run_due(t.due).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let retried = scheduler.run_due(t.due).await.unwrap();

    assert!(crashed.is_err());
    assert_eq!(retried, 1);
    assert_eq!(
        t.handler.calls.load(Ordering::SeqCst),
        2,
        "the timer fired twice"
    );
    assert_eq!(events_of(&t).await, 2, "but took effect once");
    scenario.teardown();
}

#[tokio::test]
async fn a_claimed_timer_is_not_fired_by_another_scheduler_during_its_lease() {
    let t = setup().await;
    let mut conn = t.s.store.pool().acquire().await.unwrap();
    sqlx::query("UPDATE timers SET claimed_until = clock_timestamp() + interval '1 minute'")
        .execute(&mut *conn)
        .await
        .unwrap();
    let scheduler = Scheduler::new(t.s.store.pool().clone(), "timers", t.handler.clone()).unwrap();

    let fired = scheduler.run_due(t.due).await.unwrap();

    assert_eq!(fired, 0);
    assert_eq!(t.handler.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_cancelled_timer_never_fires() {
    let t = setup().await;
    let mut conn = t.s.store.pool().acquire().await.unwrap();
    timer::cancel(&mut conn, "timers", &format!("close:{}", t.ledger))
        .await
        .unwrap();
    let scheduler = Scheduler::new(t.s.store.pool().clone(), "timers", t.handler.clone()).unwrap();

    let fired = scheduler.run_due(t.due + 1.hour()).await.unwrap();

    assert_eq!(fired, 0);
}

#[tokio::test]
async fn rescheduling_an_unfired_timer_moves_its_due_time() {
    let t = setup().await;
    let mut conn = t.s.store.pool().acquire().await.unwrap();
    let later = t.due + 48.hours();
    let moved = Timer {
        timer_id: format!("close:{}", t.ledger),
        kind: "close".into(),
        stream_id: t.ledger,
        due_at: later,
    };
    timer::schedule(&mut conn, "timers", &moved).await.unwrap();
    let scheduler = Scheduler::new(t.s.store.pool().clone(), "timers", t.handler.clone()).unwrap();

    let at_old_due = scheduler.run_due(t.due).await.unwrap();
    let at_new_due = scheduler.run_due(later).await.unwrap();

    assert_eq!((at_old_due, at_new_due), (0, 1));
}

#[tokio::test]
async fn a_failing_timer_is_kept_with_its_error_and_retried_after_its_lease() {
    let t = setup().await;
    // The ledger stream does not exist for this timer, so Close is rejected.
    let mut conn = t.s.store.pool().acquire().await.unwrap();
    let orphan = Timer {
        timer_id: "close:orphan".into(),
        kind: "close".into(),
        stream_id: Uuid::now_v7(),
        due_at: t.due,
    };
    timer::schedule(&mut conn, "timers", &orphan).await.unwrap();
    let scheduler = Scheduler::new(t.s.store.pool().clone(), "timers", t.handler.clone())
        .unwrap()
        .with_lease(Duration::from_millis(50));

    scheduler.run_due(t.due).await.unwrap();
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM timers WHERE timer_id = 'close:orphan'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    scheduler.run_due(t.due).await.unwrap();
    let attempts_after: i32 =
        sqlx::query_scalar("SELECT attempts FROM timers WHERE timer_id = 'close:orphan'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();

    assert_eq!(attempts, 1);
    assert!(error.unwrap().contains("not open"));
    assert_eq!(attempts_after, 2);
}

#[tokio::test]
async fn a_scheduler_refuses_a_table_name_that_is_not_a_plain_identifier() {
    let t = setup().await;

    let result = Scheduler::new(
        t.s.store.pool().clone(),
        "timers; DROP TABLE events",
        t.handler.clone(),
    );

    assert!(result.is_err());
}
