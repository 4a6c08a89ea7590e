//! Memory: the resident set of `redress up`, all three services in one process, idle and
//! under W1 at 32 clients.
//!
//! `redress up` runs as a child of the bench's binary (see `child`) on the bench database and
//! a NATS server of the round's own, so it starts no private servers: it migrates the three
//! service schemas (dropped first), creates the streams and consumers, and serves complaints,
//! escalation and learning reviews with their relays, read models, timers and policies on
//! one gRPC port (127.0.0.1, port 0), JSON logs to a file, Prometheus metrics on a port of its
//! own, the default pool size. Its development keys live in a fresh data directory; the bench
//! signs its tokens with the key `up` created there.
//!
//! Each round: once `up` serves, a settle of [`SETTLE`], then the idle phase (`--duration-secs`
//! with no client), then W1's load (`RecordInspectionNotified` at 32 in flight over one
//! connection, exactly as W1 drives it) for the run's warm-up and duration. The peak
//! of a phase is the largest `VmRSS` of `/proc/<pid>/status` read every [`SAMPLE_EVERY`] during
//! it (the kernel's high-water mark cannot be reset between phases); `VmHWM` at the end of the
//! phase (start-up included) is reported beside it. `_mb` values are MiB (2^20 bytes).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use platform::grpc::{Role, TokenIssuer};
use platform::testing::NatsServer;
use serde_json::json;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use crate::append::PROJECT;
use crate::child::{self, ChildProcess};
use crate::db::BenchDb;
use crate::load;
use crate::report::{Enforced, Ratio, Summary, Target, log, round_to};
use crate::run::Ctx;

const BENCH: &str = "memory";
/// W1's clients in the loaded phase.
const CLIENTS: usize = 32;
/// How long `up` runs after it serves before the idle phase starts.
const SETTLE: Duration = Duration::from_secs(3);
/// How often the resident set is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// The schemas `redress up` migrates.
const SCHEMAS: [&str; 3] = ["complaints", "escalation", "learning_reviews"];

/// Runs the memory rounds, then prints the ratio lines.
pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let s = &ctx.settings;
    let mut idle = Vec::new();
    let mut loaded = Vec::new();
    for round in 1..=s.rounds {
        let nats = NatsServer::start().await?;
        let up = Up::start(&ctx.db, nats.url()).await?;
        let pid = up.process.id();
        tokio::time::sleep(SETTLE).await;

        log!("{BENCH} idle, round {round}");
        let rss = sample(pid, s.duration).await;
        let summary = rss.summary(
            Summary {
                ops: 0,
                errors: 0,
                elapsed: s.duration,
                latency: None,
                extra: Vec::new(),
            },
            "idle",
        );
        ctx.reporter
            .sample(BENCH, PROJECT, 0, round, Duration::ZERO, &summary);
        idle.push(rss.peak_mb());

        let what = format!("{BENCH} w1 c={CLIENTS}");
        log!("{what}, round {round}");
        let channel = up.channel().await?;
        let bearer = up.bearer("bench:partner-system", Role::InspectionSystem)?;
        let load = crate::command::notified_load(
            ctx,
            &what,
            channel,
            bearer,
            CLIENTS,
            ctx.settings.duration,
        );
        let server_cpu = || up.process.cpu_seconds();
        let (summary, rss) = tokio::join!(
            load::metered(ctx, load, Some(&server_cpu), true),
            sample(pid, s.run_warmup + s.duration),
        );
        let summary = rss.summary(summary?, "w1");
        ctx.reporter
            .sample(BENCH, PROJECT, CLIENTS, round, s.run_warmup, &summary);
        loaded.push(rss.peak_mb());

        drop(up);
        drop(nats);
        for schema in SCHEMAS {
            ctx.db.drop_schema(schema).await;
        }
    }
    ctx.reporter.ratio(&Ratio {
        name: "memory_idle_peak_mb".to_owned(),
        bench: BENCH,
        concurrency: Some(0),
        numerator: PROJECT,
        denominator: None,
        per_round: idle,
        target: Some((Target::AtMost(60.0, "<=60"), Enforced::Yes)),
    });
    ctx.reporter.ratio(&Ratio {
        name: format!("memory_w1_c{CLIENTS}_peak_mb"),
        bench: BENCH,
        concurrency: Some(CLIENTS),
        numerator: PROJECT,
        denominator: None,
        per_round: loaded,
        target: Some((Target::AtMost(200.0, "<=200"), Enforced::Yes)),
    });
    Ok(())
}

/// A running `redress up`.
#[derive(Debug)]
struct Up {
    addr: std::net::SocketAddr,
    issuer: TokenIssuer,
    process: ChildProcess,
    _dir: tempfile::TempDir,
}

impl Up {
    /// Drops the three service schemas of the bench database, then starts `redress up` on it
    /// and `nats_url`, and waits until it serves.
    async fn start(db: &BenchDb, nats_url: &str) -> anyhow::Result<Up> {
        for schema in SCHEMAS {
            db.drop_schema(schema).await;
        }
        let dir = tempfile::Builder::new()
            .prefix("redress-bench-up-")
            .tempdir()?;
        let data_dir = dir.path().join("data");
        let log_file = dir.path().join("up.log");
        let args: Vec<OsString> = [
            child::REDRESS,
            "up",
            "--database-url",
            db.url(),
            "--nats-url",
            nats_url,
            "--grpc-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ]
        .into_iter()
        .map(OsString::from)
        .chain([OsString::from("--data-dir"), data_dir.clone().into()])
        .collect();
        // Not wrapped: the process measured must be `redress up` itself.
        let mut process = ChildProcess::spawn(
            "redress up",
            args,
            false,
            &log_file,
            &dir.path().join("up.stderr"),
        )?;
        let addr = process
            .wait_for(Duration::from_secs(300), || {
                crate::served::serving_addr(&log_file)
            })
            .await?;
        log!("redress up: serving on {addr}");
        let issuer = dev_issuer(&data_dir)?;
        Ok(Up {
            addr,
            issuer,
            process,
            _dir: dir,
        })
    }

    async fn channel(&self) -> anyhow::Result<Channel> {
        crate::echo::connect(self.addr).await
    }

    /// The `authorization` value of a bearer token for `role`, valid for a day.
    fn bearer(&self, subject: &str, role: Role) -> anyhow::Result<MetadataValue<Ascii>> {
        let token = self
            .issuer
            .issue(subject, role, None, Duration::from_secs(24 * 3600))?;
        Ok(MetadataValue::try_from(format!("Bearer {token}"))?)
    }
}

/// The issuer of the development tokens `redress up` trusts: the key it keeps in its data
/// directory.
fn dev_issuer(data_dir: &Path) -> anyhow::Result<TokenIssuer> {
    let key: PathBuf = redress::up::keys_dir(data_dir).join("dev-private.pem");
    let pem = std::fs::read_to_string(&key)?;
    Ok(TokenIssuer::new(
        &pem.into(),
        redress::up::DEV_KID,
        redress::up::DEV_ISSUER,
        redress::up::DEV_AUDIENCE,
    )?)
}

/// Memory figures of `/proc/<pid>/status`, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Status {
    rss: u64,
    hwm: u64,
    anon: u64,
    file: u64,
    threads: u64,
}

impl Status {
    fn read(pid: u32) -> Option<Status> {
        parse_status(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
    }
}

fn parse_status(text: &str) -> Option<Status> {
    let mut status = Status::default();
    let mut rss = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let number = || {
            value
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        };
        match key {
            "VmRSS" => rss = number(),
            "VmHWM" => status.hwm = number().unwrap_or(0),
            "RssAnon" => status.anon = number().unwrap_or(0),
            "RssFile" => status.file = number().unwrap_or(0),
            "Threads" => status.threads = number().unwrap_or(0),
            _ => {}
        }
    }
    status.rss = rss?;
    Some(status)
}

/// The readings of one phase.
#[derive(Debug, Default)]
struct Sampled {
    /// The reading with the largest `VmRSS`.
    peak: Option<Status>,
    /// The last reading: its `VmHWM` is the process's peak so far.
    last: Option<Status>,
    sum_rss: u64,
    count: u64,
}

fn mib(kib: u64) -> f64 {
    round_to(kib as f64 / 1024.0, 1)
}

impl Sampled {
    fn peak_mb(&self) -> f64 {
        self.peak.map_or(f64::NAN, |s| mib(s.rss))
    }

    /// `base` with the phase's memory fields added.
    fn summary(&self, base: Summary, phase: &str) -> Summary {
        let peak = |f: fn(&Status) -> u64| self.peak.map(|s| mib(f(&s)));
        let mean = (self.count > 0).then(|| mib(self.sum_rss / self.count));
        base.with("phase", phase)
            .with("rss_peak_mb", json!(peak(|s| s.rss)))
            .with("rss_anon_at_peak_mb", json!(peak(|s| s.anon)))
            .with("rss_file_at_peak_mb", json!(peak(|s| s.file)))
            .with("rss_mean_mb", json!(mean))
            .with("vm_hwm_mb", json!(self.last.map(|s| mib(s.hwm))))
            .with("threads", json!(self.last.map(|s| s.threads)))
            .with("rss_samples", self.count)
    }
}

/// Reads `pid`'s status every [`SAMPLE_EVERY`] for `duration`.
async fn sample(pid: u32, duration: Duration) -> Sampled {
    let end = tokio::time::Instant::now() + duration;
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sampled = Sampled::default();
    loop {
        ticks.tick().await;
        if let Some(status) = Status::read(pid) {
            if sampled.peak.is_none_or(|p| status.rss > p.rss) {
                sampled.peak = Some(status);
            }
            sampled.last = Some(status);
            sampled.sum_rss += status.rss;
            sampled.count += 1;
        }
        if tokio::time::Instant::now() >= end {
            return sampled;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Status, parse_status};

    #[test]
    fn the_resident_set_is_read_from_proc_status() {
        let text = "Name:\tredress\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n\
                    RssAnon:\t   30000 kB\nRssFile:\t   10960 kB\nRssShmem:\t       0 kB\nThreads:\t7\n";
        assert_eq!(
            parse_status(text),
            Some(Status {
                rss: 40960,
                hwm: 51200,
                anon: 30000,
                file: 10960,
                threads: 7,
            })
        );
    }

    #[test]
    fn the_bench_reads_its_own_status() {
        assert!(Status::read(std::process::id()).is_some_and(|s| s.rss > 0));
    }
}
