//! The one load generator every workload and peer uses: a closed loop with N workers, and an
//! open loop at a fixed arrival rate. Latencies go into HDR histograms (1 µs to 1 h, 3
//! significant digits). [`metered`] adds to a closed loop's summary the CPU the load
//! generator, the server and PostgreSQL spent per op.

use std::future::Future;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::report::{Latency, Summary, log};
use crate::run::Ctx;

pub(crate) fn histogram() -> Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits; bounds are constant and valid.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

struct Worker {
    hist: Histogram<u64>,
    ops: u64,
    errors: u64,
    first_error: Option<anyhow::Error>,
}

impl Worker {
    fn new() -> Worker {
        Worker {
            hist: histogram(),
            ops: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn merge(workers: Vec<Worker>, elapsed: Duration, what: &str) -> Summary {
        let mut hist = histogram();
        let (mut ops, mut errors) = (0, 0);
        let mut first_error = None;
        for w in workers {
            // Same bounds everywhere, so adding cannot fail.
            let _ = hist.add(&w.hist);
            ops += w.ops;
            errors += w.errors;
            if first_error.is_none() {
                first_error = w.first_error;
            }
        }
        if let Some(e) = first_error {
            log!("{what}: {errors} errors; the first: {e:#}");
        }
        Summary {
            ops,
            errors,
            elapsed,
            latency: Latency::from_histogram(&hist),
            extra: Vec::new(),
        }
    }
}

/// How much `sample` (e.g. a process's CPU seconds) grows over the measured window of a run
/// that starts now with `warmup`, as [`closed_loop`] counts it: read once at the window's start
/// and once at its end. Run it beside the load, e.g. with `tokio::join!`.
pub(crate) async fn growth_over_window<S, Fut>(
    warmup: Duration,
    measure: Duration,
    sample: S,
) -> Option<f64>
where
    S: Fn() -> Fut,
    Fut: Future<Output = Option<f64>>,
{
    let start = Instant::now() + warmup;
    tokio::time::sleep_until(start).await;
    let before = sample().await;
    tokio::time::sleep_until(start + measure).await;
    let after = sample().await;
    Some(after? - before?)
}

/// Runs `load` (a closed loop with the run's warm-up and duration, started at once) and adds
/// where the CPU went during its measured window, in µs per op: `client_cpu_us_per_op` (the
/// bench process, i.e. the load generator), `server_cpu_us_per_op` (the process `server`
/// reads, when given) and, with `pg`, `pg_cpu_us_per_op` (every backend of the bench database).
pub(crate) async fn metered<L>(
    ctx: &Ctx,
    load: L,
    server: Option<&(dyn Fn() -> Option<f64> + Sync)>,
    pg: bool,
) -> anyhow::Result<Summary>
where
    L: Future<Output = anyhow::Result<Summary>>,
{
    let (warmup, measure) = (ctx.settings.run_warmup, ctx.settings.duration);
    let (summary, client, server_cpu, pg_cpu) = tokio::join!(
        load,
        growth_over_window(warmup, measure, || async {
            crate::child::own_cpu_seconds()
        }),
        growth_over_window(warmup, measure, || async { server.and_then(|f| f()) }),
        growth_over_window(warmup, measure, || async {
            if pg {
                ctx.db.backend_cpu_seconds().await
            } else {
                None
            }
        }),
    );
    let mut summary = summary?.per_op_us("client_cpu_us_per_op", client);
    if server.is_some() {
        summary = summary.per_op_us("server_cpu_us_per_op", server_cpu);
    }
    if pg {
        summary = summary.per_op_us("pg_cpu_us_per_op", pg_cpu);
    }
    Ok(summary)
}

/// Runs `op` back to back in `concurrency` tasks: `warmup` unmeasured, then `measure`.
/// An op counts (and its latency is recorded) when it completes inside the measured window.
pub(crate) async fn closed_loop<F, Fut>(
    what: &str,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    op: F,
) -> anyhow::Result<Summary>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    closed_loop_per_worker(what, concurrency, warmup, measure, move |_| op()).await
}

/// [`closed_loop`], with `op` told which worker (`0..concurrency`) calls it, e.g. to give each
/// worker a connection of its own.
pub(crate) async fn closed_loop_per_worker<F, Fut>(
    what: &str,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    op: F,
) -> anyhow::Result<Summary>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let start = Instant::now() + warmup;
    let end = start + measure;
    let mut tasks = JoinSet::new();
    for worker in 0..concurrency {
        let op = op.clone();
        tasks.spawn(async move {
            let mut w = Worker::new();
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let result = op(worker).await;
                let t1 = Instant::now();
                let counted = t1 >= start && t1 <= end;
                match result {
                    Ok(()) if counted => {
                        w.ops += 1;
                        w.hist.saturating_record(micros(t1 - t0));
                    }
                    Ok(()) => {}
                    Err(e) => {
                        if counted {
                            w.errors += 1;
                        }
                        if w.first_error.is_none() {
                            w.first_error = Some(e);
                        }
                        // Do not spin on a broken server.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            w
        });
    }
    let mut workers = Vec::with_capacity(concurrency);
    while let Some(joined) = tasks.join_next().await {
        workers.push(joined?);
    }
    Ok(Worker::merge(workers, measure, what))
}

/// Starts `op(i)` at a fixed rate (open loop: a slow op does not delay the next arrival) for
/// `warmup` + `measure`, then waits up to `drain` for the stragglers. `op` returns the latency
/// it measured itself (e.g. from an append returning to its event becoming visible). Ops that
/// start inside the measured window count; ops still unfinished after `drain` count as errors.
pub(crate) async fn open_loop<F, Fut>(
    what: &str,
    rate_per_s: u64,
    warmup: Duration,
    measure: Duration,
    drain: Duration,
    op: F,
) -> anyhow::Result<Summary>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<Duration>> + Send + 'static,
{
    let period = Duration::from_secs_f64(1.0 / rate_per_s as f64);
    let begin = Instant::now();
    let start = begin + warmup;
    let end = start + measure;
    let mut tasks = JoinSet::new();
    let mut w = Worker::new();
    let mut i: u64 = 0;
    loop {
        let due = begin + period.mul_f64(i as f64);
        if due >= end {
            break;
        }
        tokio::time::sleep_until(due).await;
        let counted = due >= start;
        let fut = op(i);
        tasks.spawn(async move { (counted, fut.await) });
        i += 1;
        // Collect finished ops as we go, so the set stays small.
        while let Some(joined) = tasks.try_join_next() {
            record(&mut w, joined?);
        }
    }
    let deadline = Instant::now() + drain;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(joined)) => record(&mut w, joined?),
            Ok(None) => break,
            Err(_) => {
                let left = tasks.len() as u64;
                log!("{what}: {left} ops unfinished after the {drain:?} drain; counted as errors");
                w.errors += left;
                tasks.abort_all();
                break;
            }
        }
    }
    Ok(Worker::merge(vec![w], measure, what))
}

fn record(w: &mut Worker, (counted, result): (bool, anyhow::Result<Duration>)) {
    match result {
        Ok(latency) if counted => {
            w.ops += 1;
            w.hist.saturating_record(micros(latency));
        }
        Ok(_) => {}
        Err(e) => {
            if counted {
                w.errors += 1;
            }
            if w.first_error.is_none() {
                w.first_error = Some(e);
            }
        }
    }
}
