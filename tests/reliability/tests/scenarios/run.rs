//! One scenario run: the system, the load and a fault schedule side by side, then the checks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redress_reliability::checker::checkpoints::Sampler;
use redress_reliability::checker::{self, Checker, liveness};
use redress_reliability::cluster::{Cluster, Options};
use redress_reliability::history::Entry;
use redress_reliability::report::{self, Commands, Report};
use redress_reliability::workload::{self, Load, Pace};

/// The binary under test and where runs keep their files (inside `target/`, never /tmp).
pub fn options() -> Options {
    Options::new(
        env!("CARGO_BIN_EXE_redress-under-test"),
        env!("CARGO_TARGET_TMPDIR"),
    )
}

/// Whether the long variants were asked for.
pub fn long() -> bool {
    std::env::var_os("REDRESS_RELIABILITY_LONG").is_some_and(|v| v == "1")
}

/// The load of a CI run, or of a long one.
pub fn load(ci: Duration, long_run: Duration) -> Load {
    Load {
        clients: 8,
        duration: if long() { long_run } else { ci },
    }
}

/// A system of its own.
pub async fn cluster() -> Cluster {
    Cluster::start(options())
        .await
        .expect("Failed to start the system under test")
}

/// Runs `load` and `faults` side by side (the faults see the cluster and the load's end), then
/// settles, checks I1–I5, I7, I9 and I10, prints the report and fails the test unless every
/// invariant held. The fault schedule must leave everything running when it returns.
pub async fn scenario<F>(id: &'static str, cluster: Cluster, load: Load, faults: F) -> Run
where
    F: AsyncFnOnce(&Cluster, Instant),
{
    scenario_with(id, cluster, load, None, Figures::default(), faults).await
}

/// Figures a fault schedule adds to the report while it runs.
pub type Figures = Arc<Mutex<BTreeMap<String, serde_json::Value>>>;

/// [`scenario`] with the paced load when `pace` is given, and the figures the schedule wrote
/// into `figures` in the report beside the commands' latency and mix.
pub async fn scenario_with<F>(
    id: &'static str,
    cluster: Cluster,
    load: Load,
    pace: Option<Pace>,
    figures: Figures,
    faults: F,
) -> Run
where
    F: AsyncFnOnce(&Cluster, Instant),
{
    let sampler = Sampler::start(&cluster).await.unwrap();
    let started = Instant::now();
    let end = started + load.duration;
    let loading = async {
        match pace {
            Some(pace) => workload::run_paced(&cluster, load, pace).await,
            None => workload::run(&cluster, load).await,
        }
    };
    let (loaded, ()) = tokio::join!(loading, faults(&cluster, end));
    loaded.expect("the load could not run");
    let load_ended = Instant::now();
    let settled = checker::settle(&cluster).await;
    let settle_ms = u64::try_from(load_ended.elapsed().as_millis()).unwrap();
    let i8 = sampler.finish().await.unwrap();

    let checker = Checker::new(&cluster).await.unwrap();
    let [i1, i2, i3] = checker.commands().await.unwrap();
    let i4 = checker.streams().await.unwrap();
    let i5 = checker.feed(&cluster).await.unwrap();
    let i6 = checker.consumers(&cluster.injected()).await.unwrap();
    let mut invariants = vec![i1, i2, i3, i4, i5, i6, i8];
    if let Err(e) = &settled {
        eprintln!("not settled: {e:#}");
    }
    if settled.is_ok() {
        invariants.push(checker.projections(&cluster).await.unwrap());
    }
    let faults = cluster.faults();
    invariants.push(liveness::recovery(checker.history(), &faults));
    invariants.push(liveness::hygiene(&cluster, false).await.unwrap());
    let report = Report {
        scenario: id,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap(),
        commands: Commands::of(checker.history()),
        recovery: report::recoveries(&faults, checker.history()),
        faults,
        invariants,
        settle_ms,
        history: cluster.history().path().display().to_string(),
        figures: {
            let mut all = figures.lock().map(|f| f.clone()).unwrap_or_default();
            all.insert("latency".into(), report::latency(checker.history()));
            all.insert("mix".into(), report::mix(checker.history()));
            all
        },
    };
    report.print();
    cluster.stop_services().await;
    settled.expect("the system did not settle after the load");
    assert!(report.commands.ok > 0, "no command succeeded");
    assert!(
        report.held(),
        "{id}: an invariant did not hold: {}",
        serde_json::to_string_pretty(&report.invariants).unwrap()
    );
    Run {
        report,
        history: checker.history().to_vec(),
    }
}

/// What a scenario leaves for its own assertions: the run directory is gone by then.
#[derive(Debug)]
pub struct Run {
    pub report: Report,
    pub history: Vec<Entry>,
}

/// Sleeps until `at`, or not at all when it has passed.
pub async fn until(at: Instant) {
    tokio::time::sleep_until(at.into()).await;
}
