use std::time::Duration;

use platform::pg::Pool;
use platform::projection::{Projection, ProjectionRunner, wait_for_position};
use platform::tail::{Position, RecordedEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::helpers::{SCHEMA, append_streams, store};

/// Counts how often each event was applied, so any double application shows.
#[derive(Clone, Copy, Debug)]
struct Applications {
    version: i32,
}

impl Projection for Applications {
    fn name(&self) -> &'static str {
        "applications"
    }

    fn version(&self) -> i32 {
        self.version
    }

    fn tables(&self) -> &'static [&'static str] {
        &["applications"]
    }

    fn create_tables(&self) -> &'static str {
        "CREATE TABLE applications (event_id uuid PRIMARY KEY, times integer NOT NULL, owner_version integer NOT NULL)"
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        sqlx::query(
            "INSERT INTO applications (event_id, times, owner_version) SELECT id, 1, $2 FROM unnest($1::uuid[]) AS id
             ON CONFLICT (event_id) DO UPDATE SET times = applications.times + 1",
        )
        .bind(&ids)
        .bind(self.version)
        .execute(conn)
        .await?;
        Ok(())
    }
}

fn runner(s: &crate::helpers::Store, version: i32) -> ProjectionRunner<Applications> {
    ProjectionRunner::new(&s.store, SCHEMA, Applications { version }).unwrap()
}

async fn applications(pool: &Pool) -> Vec<(Uuid, i32)> {
    sqlx::query_as("SELECT event_id, times FROM applications ORDER BY event_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

fn each_once(ids: &[Uuid]) -> Vec<(Uuid, i32)> {
    let mut expected: Vec<(Uuid, i32)> = ids.iter().map(|id| (*id, 1)).collect();
    expected.sort();
    expected
}

#[tokio::test]
async fn a_projection_applies_every_committed_event_once() {
    let s = store().await;
    let ids = append_streams(&s.store, 12).await;

    let applied = runner(&s, 1).run_once().await.unwrap();
    let again = runner(&s, 1).run_once().await.unwrap();

    assert_eq!((applied, again), (12, 0));
    assert_eq!(applications(s.store.pool()).await, each_once(&ids));
}

#[tokio::test]
async fn a_projection_that_crashes_after_applying_before_committing_applies_each_event_once() {
    let scenario = fail::FailScenario::setup();
    let s = store().await;
    let ids = append_streams(&s.store, 10).await;
    fail::cfg("projection::after_apply_before_commit", "1*return").unwrap();

    let crashed = runner(&s, 1).run_once().await;
    let recovered = runner(&s, 1).run_once().await.unwrap();

    assert!(crashed.is_err());
    assert_eq!(recovered, 10);
    assert_eq!(applications(s.store.pool()).await, each_once(&ids));
    scenario.teardown();
}

#[tokio::test]
async fn two_replicas_of_a_projection_racing_apply_each_event_once() {
    let s = store().await;
    let ids = append_streams(&s.store, 40).await;
    runner(&s, 1).init().await.unwrap();
    let (a, b) = (runner(&s, 1), runner(&s, 1));

    let (ra, rb) = tokio::join!(a.run_once(), b.run_once());

    assert_eq!(ra.unwrap() + rb.unwrap(), 40);
    assert_eq!(applications(s.store.pool()).await, each_once(&ids));
}

#[tokio::test]
async fn a_rebuild_replays_into_fresh_tables_and_switches_over() {
    let s = store().await;
    let ids = append_streams(&s.store, 25).await;
    let live = runner(&s, 1);
    live.run_once().await.unwrap();
    sqlx::query("UPDATE applications SET times = 99")
        .execute(s.store.pool())
        .await
        .unwrap();
    let mut reports = Vec::new();

    let replayed = live.rebuild(|p| reports.push(p)).await.unwrap();

    assert_eq!(replayed, 25);
    assert_eq!(
        applications(s.store.pool()).await,
        each_once(&ids),
        "the rebuilt tables replaced the live ones"
    );
    assert_eq!(reports.last().unwrap().done, 25);
    let leftovers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'ledgers_rebuild_%'",
    )
    .fetch_one(s.store.pool())
    .await
    .unwrap();
    assert_eq!(leftovers, 0);
    // The live runner carries on from the rebuilt checkpoint.
    let more = append_streams(&s.store, 3).await;
    assert_eq!(live.run_once().await.unwrap(), 3);
    assert_eq!(
        applications(s.store.pool()).await,
        each_once(&[ids, more].concat())
    );
}

#[tokio::test]
async fn a_rebuild_while_the_projection_runs_and_events_arrive_loses_and_repeats_nothing() {
    let s = store().await;
    let mut ids = append_streams(&s.store, 200).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let live = {
        let (runner, shutdown) = (runner(&s, 1), shutdown.clone());
        tokio::spawn(async move { runner.run(shutdown).await })
    };
    let writer = {
        let store = s.store.clone();
        tokio::spawn(async move { append_streams(&store, 60).await })
    };

    runner(&s, 1).rebuild(|_| {}).await.unwrap();
    ids.extend(writer.await.unwrap());
    let target = platform::relay::load_checkpoint(s.store.pool(), "projection.applications")
        .await
        .unwrap();
    let last: Position = {
        let rebuilt = runner(&s, 1);
        rebuilt.run_once().await.unwrap();
        *rebuilt.applied().borrow()
    };
    assert!(last >= target);
    shutdown.cancel();
    live.await.unwrap().unwrap();

    assert_eq!(applications(s.store.pool()).await, each_once(&ids));
}

#[tokio::test]
async fn a_new_projection_version_rebuilds_on_start() {
    let s = store().await;
    let ids = append_streams(&s.store, 5).await;
    runner(&s, 1).run_once().await.unwrap();

    runner(&s, 2).run_once().await.unwrap();

    let versions: Vec<i32> = sqlx::query_scalar("SELECT DISTINCT owner_version FROM applications")
        .fetch_all(s.store.pool())
        .await
        .unwrap();
    assert_eq!(versions, vec![2]);
    assert_eq!(applications(s.store.pool()).await, each_once(&ids));
}

#[tokio::test]
async fn waiting_for_a_position_returns_once_the_projection_has_applied_it() {
    let s = store().await;
    let live = runner(&s, 1);
    live.init().await.unwrap();
    let appended = s
        .store
        .append(
            "ledger",
            Uuid::now_v7(),
            platform::event_store::ExpectedVersion::NoStream,
            &[crate::helpers::opened("a")],
            &crate::helpers::metadata(),
            None,
        )
        .await
        .unwrap();
    let target = appended.position().unwrap();

    let before = wait_for_position(
        s.store.pool(),
        "applications",
        Some(live.applied()),
        target,
        Duration::from_millis(20),
    )
    .await
    .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = {
        let (runner, shutdown) = (runner(&s, 1), shutdown.clone());
        tokio::spawn(async move { runner.run(shutdown).await })
    };
    let after = wait_for_position(
        s.store.pool(),
        "applications",
        None,
        target,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    shutdown.cancel();
    running.await.unwrap().unwrap();

    assert!(!before, "nothing applied it yet");
    assert!(after);
}

/// A projection whose output is durable: it must never be replayed.
#[derive(Clone, Copy, Debug)]
struct Durable {
    version: i32,
}

impl Projection for Durable {
    fn name(&self) -> &'static str {
        "durable"
    }

    fn version(&self) -> i32 {
        self.version
    }

    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    fn create_tables(&self) -> &'static str {
        "SELECT 1"
    }

    fn rebuildable(&self) -> bool {
        false
    }

    async fn apply(&self, _: &mut PgConnection, _: &[RecordedEvent]) -> anyhow::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_projection_with_durable_output_refuses_a_rebuild_and_a_new_version() {
    let s = store().await;
    append_streams(&s.store, 2).await;
    let first = ProjectionRunner::new(&s.store, SCHEMA, Durable { version: 1 }).unwrap();
    assert_eq!(first.run_once().await.unwrap(), 2);

    let rebuild = first.rebuild(|_| {}).await.unwrap_err();
    assert!(
        rebuild.to_string().contains("cannot be rebuilt"),
        "{rebuild}"
    );
    let bumped = ProjectionRunner::new(&s.store, SCHEMA, Durable { version: 2 }).unwrap();
    let start = bumped.init().await.unwrap_err();
    assert!(start.to_string().contains("cannot be rebuilt"), "{start}");
    assert_eq!(first.run_once().await.unwrap(), 0, "nothing was replayed");
}

/// Reads only `audit_trail` streams, recording each event it is given.
#[derive(Clone, Copy, Debug)]
struct AuditOnly;

impl Projection for AuditOnly {
    fn name(&self) -> &'static str {
        "audit_only"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["audit_only"]
    }

    fn create_tables(&self) -> &'static str {
        "CREATE TABLE audit_only (event_id uuid PRIMARY KEY, stream_type text NOT NULL)"
    }

    fn stream_types(&self) -> Option<&'static [&'static str]> {
        Some(&["audit_trail"])
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        for e in events {
            sqlx::query("INSERT INTO audit_only (event_id, stream_type) VALUES ($1, $2)")
                .bind(e.event_id)
                .bind(&e.stream_type)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// Appends one event to a new stream of `stream_type`; returns its id and position.
async fn append_one_of(
    store: &platform::event_store::EventStore,
    stream_type: &str,
) -> (Uuid, Position) {
    let appended = store
        .append(
            stream_type,
            Uuid::now_v7(),
            platform::event_store::ExpectedVersion::NoStream,
            &[crate::helpers::opened("x")],
            &crate::helpers::metadata(),
            None,
        )
        .await
        .unwrap();
    (appended.events[0].event_id, appended.position().unwrap())
}

async fn audit_rows(pool: &Pool) -> Vec<(Uuid, String)> {
    sqlx::query_as("SELECT event_id, stream_type FROM audit_only ORDER BY event_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_projection_is_given_only_the_stream_types_it_reads_and_its_checkpoint_passes_the_rest() {
    // Given: ledger events around two audit events.
    let s = store().await;
    append_streams(&s.store, 3).await;
    let (first, _) = append_one_of(&s.store, "audit_trail").await;
    append_streams(&s.store, 2).await;
    let (second, _) = append_one_of(&s.store, "audit_trail").await;
    let (_, last) = append_one_of(&s.store, "ledger").await;
    crate::helpers::wait_until_readable(&s.store, 7).await;
    // When
    let runner = ProjectionRunner::new(&s.store, SCHEMA, AuditOnly).unwrap();
    let applied = runner.run_once().await.unwrap();
    // Then: only the audit events were applied, and the saved checkpoint is past the ledger
    // event after them.
    let mut expected = vec![
        (first, "audit_trail".to_owned()),
        (second, "audit_trail".to_owned()),
    ];
    expected.sort();
    assert_eq!(applied, 2);
    assert_eq!(audit_rows(s.store.pool()).await, expected);
    let saved = wait_for_position(s.store.pool(), "audit_only", None, last, Duration::ZERO)
        .await
        .unwrap();
    assert!(saved, "run_once saves the checkpoint past skipped events");
}

#[tokio::test]
async fn a_running_projection_saves_a_checkpoint_moved_only_past_events_it_does_not_read() {
    // Given: a running projection that has applied one audit event.
    let s = store().await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = {
        let (runner, shutdown) = (
            ProjectionRunner::new(&s.store, SCHEMA, AuditOnly).unwrap(),
            shutdown.clone(),
        );
        tokio::spawn(async move { runner.run(shutdown).await })
    };
    let (_, audit) = append_one_of(&s.store, "audit_trail").await;
    assert!(
        wait_for_position(
            s.store.pool(),
            "audit_only",
            None,
            audit,
            Duration::from_secs(10)
        )
        .await
        .unwrap()
    );
    // When: only events it does not read follow.
    append_streams(&s.store, 4).await;
    let (_, last) = append_one_of(&s.store, "ledger").await;
    // Then: the checkpoint row (what another process or a restart sees) passes them too.
    let saved = wait_for_position(
        s.store.pool(),
        "audit_only",
        None,
        last,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    shutdown.cancel();
    running.await.unwrap().unwrap();
    assert!(saved);
    assert_eq!(audit_rows(s.store.pool()).await.len(), 1);
}

/// Reads only the credits of ledger streams, recording each one it is given.
#[derive(Clone, Copy, Debug)]
struct CreditsOnly;

impl Projection for CreditsOnly {
    fn name(&self) -> &'static str {
        "credits_only"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["credits_only"]
    }

    fn create_tables(&self) -> &'static str {
        "CREATE TABLE credits_only (event_id uuid PRIMARY KEY, event_type text NOT NULL)"
    }

    fn stream_types(&self) -> Option<&'static [&'static str]> {
        Some(&["ledger"])
    }

    fn reads(&self, event: &RecordedEvent) -> bool {
        platform::aggregate::is_message_named::<platform::testing::ledger::Credited>(
            &event.event_type,
        )
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        for e in events {
            sqlx::query("INSERT INTO credits_only (event_id, event_type) VALUES ($1, $2)")
                .bind(e.event_id)
                .bind(&e.event_type)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_projection_is_given_only_the_events_it_reads_of_its_stream_types() {
    // Given: a ledger opened, credited twice, and more ledgers only opened after it.
    let s = store().await;
    let ledger = Uuid::now_v7();
    let appended = s
        .store
        .append(
            "ledger",
            ledger,
            platform::event_store::ExpectedVersion::NoStream,
            &[
                crate::helpers::opened("x"),
                crate::helpers::credited(5),
                crate::helpers::credited(7),
            ],
            &crate::helpers::metadata(),
            None,
        )
        .await
        .unwrap();
    append_streams(&s.store, 3).await;
    let (_, last) = append_one_of(&s.store, "ledger").await;
    crate::helpers::wait_until_readable(&s.store, 7).await;
    // When
    let runner = ProjectionRunner::new(&s.store, SCHEMA, CreditsOnly).unwrap();
    let applied = runner.run_once().await.unwrap();
    // Then: the two credits, and the checkpoint past the openings after them.
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT event_id, event_type FROM credits_only ORDER BY event_id")
            .fetch_all(s.store.pool())
            .await
            .unwrap();
    assert_eq!(applied, 2);
    let credited: Vec<Uuid> = appended.events[1..].iter().map(|e| e.event_id).collect();
    assert_eq!(rows.iter().map(|(id, _)| *id).collect::<Vec<_>>(), credited);
    assert!(
        rows.iter().all(|(_, t)| t.ends_with(".Credited")),
        "{rows:?}"
    );
    let saved = wait_for_position(s.store.pool(), "credits_only", None, last, Duration::ZERO)
        .await
        .unwrap();
    assert!(
        saved,
        "run_once saves the checkpoint past events it does not read"
    );
}

/// Records the `synchronous_commit` its transaction runs with.
#[derive(Clone, Copy, Debug)]
struct CommitMode {
    rebuildable: bool,
}

impl Projection for CommitMode {
    fn name(&self) -> &'static str {
        if self.rebuildable {
            "commit_mode_read_model"
        } else {
            "commit_mode_durable"
        }
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["commit_modes"]
    }

    fn create_tables(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS commit_modes (projection text NOT NULL, setting text NOT NULL)"
    }

    fn rebuildable(&self) -> bool {
        self.rebuildable
    }

    async fn apply(&self, conn: &mut PgConnection, _: &[RecordedEvent]) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO commit_modes (projection, setting)
             VALUES ($1, current_setting('synchronous_commit'))",
        )
        .bind(self.name())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_read_model_commits_without_waiting_for_its_wal_flush_and_durable_output_waits() {
    // Given
    let s = store().await;
    append_streams(&s.store, 2).await;
    crate::helpers::wait_until_readable(&s.store, 2).await;
    // When
    for rebuildable in [true, false] {
        let runner = ProjectionRunner::new(&s.store, SCHEMA, CommitMode { rebuildable }).unwrap();
        assert_eq!(runner.run_once().await.unwrap(), 2);
    }
    // Then: each transaction had its own setting, and no pooled connection kept it.
    let modes: Vec<(String, String)> =
        sqlx::query_as("SELECT projection, setting FROM commit_modes ORDER BY projection")
            .fetch_all(s.store.pool())
            .await
            .unwrap();
    assert_eq!(
        modes,
        [
            ("commit_mode_durable".to_owned(), "on".to_owned()),
            ("commit_mode_read_model".to_owned(), "off".to_owned()),
        ]
    );
    let mut connections = Vec::new();
    for _ in 0..s.store.pool().size() {
        connections.push(s.store.pool().acquire().await.unwrap());
    }
    for conn in &mut connections {
        let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(setting, "on");
    }
}
