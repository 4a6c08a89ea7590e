//! `redress projections list|rebuild` against a running `redress serve` holding a few thousand
//! events written through the APIs: a rebuild gives back, row for row, the tables it replaced,
//! also while commands keep arriving; the feed translator is refused; an unknown name lists the
//! known ones.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use platform::pg::Pool;
use sqlx::AssertSqlSafe;

use crate::helpers::{output, redress};
use crate::workload::{SCHEMAS, Served, Workload, migrated};

/// A projection as `redress projections list --json` shows it.
#[derive(Debug, serde::Deserialize)]
pub struct Listed {
    pub service: String,
    pub name: String,
    pub version: i32,
    pub stored_version: Option<i32>,
    pub checkpoint: Option<String>,
    pub events_behind: i64,
    pub rebuildable: bool,
    pub tables: Vec<String>,
}

impl Listed {
    pub fn qualified(&self) -> String {
        format!("{}/{}", self.service, self.name)
    }

    fn schema(&self) -> String {
        self.service.replace('-', "_")
    }
}

pub async fn list(served: &Served) -> Vec<Listed> {
    let mut command = served.redress();
    command.args(["projections", "list", "--json"]);
    let listed = output(command).await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    serde_json::from_slice(&listed.stdout).unwrap()
}

/// Every row of `table` as text, sorted. Columns the events do not determine are left out: the
/// scheduler's bookkeeping on timers and the instants it or a cancellation wrote (only whether
/// they are set counts), and a sample's random `sample_id` (a rebuild draws new ones, as the
/// read model documents).
async fn rows(pool: &Pool, table: &str) -> Vec<String> {
    let columns = match table {
        "complaint_timers" | "inspection_timers" => {
            "timer_id, kind, stream_id, due_at, fired_at IS NOT NULL AS fired, \
             cancelled_at IS NOT NULL AS cancelled"
        }
        "closed_complaint_samples" => {
            "complaint_id, remit, route, grounds, submitted_at, outcome, remedies, responded_at, \
             late, closed_at, sampled"
        }
        _ => "*",
    };
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT r::text FROM (SELECT {columns} FROM {table}) r ORDER BY 1"
    )))
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Every table of `projection`, with its rows.
pub async fn tables(served: &Served, projection: &Listed) -> BTreeMap<String, Vec<String>> {
    let pool = served.db.pool(&projection.schema()).await.unwrap();
    let mut tables = BTreeMap::new();
    for table in &projection.tables {
        tables.insert(table.clone(), rows(&pool, table).await);
    }
    pool.close().await;
    tables
}

/// Runs `redress projections rebuild <name>`; returns how many events it says it replayed.
pub async fn rebuild(served: &Served, name: &str) -> u64 {
    let mut command = served.redress();
    command.args(["projections", "rebuild", name]);
    let rebuilt = output(command).await;
    let stdout = String::from_utf8_lossy(&rebuilt.stdout);
    let stderr = String::from_utf8_lossy(&rebuilt.stderr);
    assert!(rebuilt.status.success(), "rebuild {name}: {stderr}");
    // Not a terminal: plain progress lines, and the result on stdout.
    assert!(stderr.contains(&format!("rebuilding {name}: ")), "{stderr}");
    let line = stdout.trim();
    let count = line
        .strip_prefix(&format!("rebuilt {name}: "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected result line {line:?}"));
    assert!(
        line.contains(" events in ") && line.ends_with(" events/s)"),
        "{line}"
    );
    count.parse().unwrap()
}

/// Panics, showing a few differing rows, unless every table has the same rows in both.
pub fn assert_same(
    name: &str,
    expected: &BTreeMap<String, Vec<String>>,
    actual: &BTreeMap<String, Vec<String>>,
) {
    for (table, rows) in expected {
        let got = &actual[table];
        if rows != got {
            let missing: Vec<_> = rows.iter().filter(|r| !got.contains(r)).take(3).collect();
            let extra: Vec<_> = got.iter().filter(|r| !rows.contains(r)).take(3).collect();
            panic!(
                "{name}: table {table} has {} rows where {} were expected; missing {missing:?}; unexpected {extra:?}",
                got.len(),
                rows.len()
            );
        }
    }
}

#[tokio::test]
async fn rebuilding_each_projection_gives_back_the_tables_it_replaced_row_for_row() {
    // Arrange: a few thousand events across the three services, every reader caught up.
    let served = Served::start(false).await;
    let workload = Workload::new(&served).await;
    workload.cases(0..80, 8).await;
    served.settle().await;
    let counts = served.event_counts().await;
    assert!(counts.iter().sum::<i64>() >= 3_000, "{counts:?}");
    let listed = list(&served).await;
    assert_eq!(listed.len(), 9, "{listed:?}");
    for projection in &listed {
        assert_eq!(projection.stored_version, Some(projection.version));
        assert!(projection.checkpoint.is_some(), "{projection:?}");
        assert_eq!(projection.events_behind, 0, "{projection:?}");
    }

    for projection in listed.iter().filter(|p| p.rebuildable) {
        let name = projection.qualified();
        let before = tables(&served, projection).await;
        assert!(
            before.values().any(|rows| !rows.is_empty()),
            "{name} has rows to rebuild"
        );

        // Act
        let started = Instant::now();
        let replayed = rebuild(&served, &name).await;
        let seconds = started.elapsed().as_secs_f64();

        // Assert
        let after = tables(&served, projection).await;
        assert_same(&name, &before, &after);
        let schema = SCHEMAS
            .iter()
            .position(|s| *s == projection.schema())
            .unwrap();
        assert_eq!(
            replayed,
            counts[schema].unsigned_abs(),
            "{name} replays its whole log"
        );
        eprintln!(
            "{name}: {replayed} events in {seconds:.2} s ({:.0} events/s, the process included)",
            replayed as f64 / seconds
        );
    }
    let listed = list(&served).await;
    assert!(listed.iter().all(|p| p.events_behind == 0), "{listed:?}");
}

/// The failpoint between a rebuild's catch-up and its swap.
const BEFORE_SWAP: &str = "projection::rebuild_before_swap";

// Two workers: the rebuild waiting at its failpoint holds one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilding_while_commands_keep_arriving_loses_and_repeats_nothing() {
    // Arrange: some cases, then cases arriving four at a time until told to stop.
    let served = Served::start(false).await;
    let workload = Workload::new(&served).await;
    workload.cases(0..16, 8).await;
    served.settle().await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut traffic = tokio::task::JoinSet::new();
    for lane in 0..4 {
        let (mut workload, stop) = (workload.clone(), Arc::clone(&stop));
        traffic.spawn(async move {
            let mut n = 1_000 * (lane + 1);
            // Bounded, whatever happens to the rebuilds.
            while !stop.load(Ordering::Relaxed) && n < 1_000 * (lane + 1) + 200 {
                workload.case(n).await;
                n += 1;
            }
        });
    }
    let listed = list(&served).await;
    let targets = [
        "complaints/complaints",
        "complaints/inspections",
        "complaints/complaint_timers",
        "escalation/escalations",
        "learning-reviews/learning_reviews",
    ];

    // Act: rebuild each while the cases keep coming. Each rebuild stops between its catch-up
    // and its swap (in this process, where the failpoint applies) until its service's log has
    // grown, so events certainly arrive that only the catch-up under the lock can take in.
    let (reached, at_swap) = (std::sync::mpsc::channel(), std::sync::mpsc::channel());
    let (reached_tx, go) = (Mutex::new(reached.0), Mutex::new(at_swap.1));
    fail::cfg_callback(BEFORE_SWAP, move || {
        reached_tx.lock().unwrap().send(()).unwrap();
        go.lock().unwrap().recv().unwrap();
    })
    .unwrap();
    let reached = Arc::new(Mutex::new(reached.1));
    for name in targets {
        let (service, info) = redress::projections::resolve(name).unwrap();
        let schema = SCHEMAS.iter().position(|s| *s == service.schema()).unwrap();
        let url = served.db.url().to_owned();
        let rebuilding = tokio::spawn(async move {
            redress::projections::rebuild(&url, service, &info, |_| {}).await
        });
        let arrived = Arc::clone(&reached);
        tokio::task::spawn_blocking(move || arrived.lock().unwrap().recv().unwrap())
            .await
            .unwrap();
        let caught_up = served.event_counts().await[schema];
        let deadline = Instant::now() + Duration::from_secs(60);
        while served.event_counts().await[schema] < caught_up + 5 {
            assert!(Instant::now() < deadline, "no commands arrived for {name}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        at_swap.0.send(()).unwrap();
        rebuilding.await.unwrap().unwrap();
    }
    fail::remove(BEFORE_SWAP);
    stop.store(true, Ordering::Relaxed);
    while let Some(lane) = traffic.join_next().await {
        lane.unwrap();
    }
    served.settle().await;

    // Assert: what the live runners made of the swapped tables is what a quiet replay gives.
    for name in targets {
        let projection = listed.iter().find(|p| p.qualified() == name).unwrap();
        let live = tables(&served, projection).await;
        rebuild(&served, name).await;
        let replayed = tables(&served, projection).await;
        assert_same(name, &replayed, &live);
    }
}

#[tokio::test]
async fn rebuilding_the_feed_translator_is_refused_and_touches_nothing() {
    let db = migrated().await;

    for name in ["feed", "escalation/feed"] {
        let mut command = redress();
        command
            .args(["projections", "rebuild", name])
            .env("DATABASE_URL", db.url());
        let refused = output(command).await;

        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success());
        assert!(
            stderr.contains("escalation/feed cannot be rebuilt: its output is durable"),
            "{stderr}"
        );
        assert!(refused.stdout.is_empty());
    }
    let pool = db.pool("public").await.unwrap();
    let scratch: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%rebuild%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(scratch, 0);
}

#[tokio::test]
async fn an_unknown_projection_name_is_answered_with_the_known_ones() {
    let mut command = redress();
    command.args(["projections", "rebuild", "complaint"]);

    let refused = output(command).await;

    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("no projection is called \"complaint\""),
        "{stderr}"
    );
    for known in [
        "complaints/inspections",
        "complaints/inspection_timers",
        "complaints/complaints",
        "complaints/complaint_deadlines",
        "complaints/closed_complaint_samples",
        "complaints/complaint_timers",
        "escalation/escalations",
        "escalation/feed",
        "learning-reviews/learning_reviews",
    ] {
        assert!(stderr.contains(known), "{known} in {stderr}");
    }
}

#[tokio::test]
async fn projections_list_shows_projections_not_started_yet_with_the_whole_log_behind() {
    let db = migrated().await;

    let mut command = redress();
    command
        .args(["projections", "list"])
        .env("DATABASE_URL", db.url());
    let listed = output(command).await;

    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 10, "a header and nine projections:\n{table}");
    assert!(lines[0].starts_with("SERVICE"));
    assert!(table.contains("not started yet"));
    let feed = lines.iter().find(|l| l.contains(" feed ")).unwrap();
    assert!(feed.contains("durable output: never rebuilt"), "{feed}");
}
