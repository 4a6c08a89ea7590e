//! Command-line flags, and the settings they resolve to (`--quick` changes the defaults).

use std::time::Duration;

/// Which part of the benchmark to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Part {
    Append,
    Relay,
    Projection,
    /// W1: a real command end to end over gRPC.
    W1,
    /// W3: commit to visible in a read model over gRPC, at half of W1's peak.
    W3,
    /// W6: the gRPC stack with no work behind it.
    W6,
    /// W7: the relay's throughput from commit to JetStream acknowledgement (`relay` runs it too,
    /// with the relay's latency).
    W7,
    /// W2: the command handler and append in process, next to cqrs-es.
    W2,
    /// W5: a read query over gRPC.
    W5,
    /// Peak RSS of `redress up`, idle and under W1.
    Memory,
    /// W8: a command to its message on the independent body's feed.
    W8,
}

#[derive(Debug, clap::Parser)]
#[command(
    name = "redress-bench",
    about = "Redress's append, relay, projection and gRPC command paths next to bare peers, as perf.v1 JSON lines on stdout"
)]
pub(crate) struct Args {
    /// Server to benchmark on; the bench creates and drops its own database `redress_bench_<random>` there.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// CI smoke settings: 1 round, 3 s per run, 2 s warm-up, 20,000 rebuild events, 2,000 relay events.
    /// Flags given explicitly still win.
    #[arg(long)]
    quick: bool,
    /// Exit non-zero when a ratio line with an enforced target fails.
    #[arg(long)]
    enforce: bool,
    /// Run only these parts (comma-separated, e.g. `w1,w6`).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
    /// Rounds of project/peer pairs [default: 3; quick: 1].
    #[arg(long)]
    rounds: Option<u32>,
    /// Seconds of bare-insert load before anything is measured [default: 10; quick: 2].
    #[arg(long)]
    warmup_secs: Option<u64>,
    /// Seconds measured per run [default: 10; quick: 3].
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Events stored before each relay run [default: 20000; quick: 2000].
    #[arg(long)]
    relay_events: Option<u64>,
    /// Appends per second while measuring commit-to-acknowledged latency of the relay.
    #[arg(long, default_value_t = 500)]
    relay_rate: u64,
    /// Events stored for the projection rebuild [default: 1000000; quick: 20000].
    #[arg(long)]
    rebuild_events: Option<u64>,
    /// Appends per second while measuring commit-to-visible latency of the projection.
    #[arg(long, default_value_t = 1000)]
    projection_rate: u64,
    /// Commands per second of W3 [default: half of W1's peak in this run; without W1, half of a
    /// short c=32 burst measured first].
    #[arg(long)]
    w3_rate: Option<u64>,
    /// Writer counts of the append benchmark and W2, and in-flight commands of W1.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Escalation requests per second of W8 [default: half of W1's c=32 throughput, from W1 in
    /// the same run or else from a short burst of W1's command].
    #[arg(long)]
    w8_rate: Option<u64>,
    /// Seconds W8 measures per run; each op needs a complaint prepared through eight commands
    /// first, so its preparation takes several times this [default: 5; quick: 3].
    #[arg(long)]
    w8_duration_secs: Option<u64>,
}

/// The resolved settings of one run.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) database_url: String,
    pub(crate) quick: bool,
    pub(crate) enforce: bool,
    /// The parts to run; all when empty.
    pub(crate) only: Vec<Part>,
    pub(crate) rounds: u32,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    /// Unmeasured load at the start of every run (connections, prepared statements, caches).
    pub(crate) run_warmup: Duration,
    pub(crate) relay_events: u64,
    pub(crate) relay_rate: u64,
    pub(crate) rebuild_events: u64,
    pub(crate) projection_rate: u64,
    /// W3's command rate when given; otherwise derived in the run.
    pub(crate) w3_rate: Option<u64>,
    pub(crate) concurrency: Vec<usize>,
    /// W8's arrival rate, when given.
    pub(crate) w8_rate: Option<u64>,
    /// W8's measured window per run.
    pub(crate) w8_duration: Duration,
}

impl Settings {
    pub(crate) fn from_args(args: Args) -> Settings {
        let q = args.quick;
        Settings {
            database_url: args.database_url,
            quick: q,
            enforce: args.enforce,
            only: args.only,
            rounds: args.rounds.unwrap_or(if q { 1 } else { 3 }).max(1),
            warmup: Duration::from_secs(args.warmup_secs.unwrap_or(if q { 2 } else { 10 })),
            duration: Duration::from_secs(
                args.duration_secs.unwrap_or(if q { 3 } else { 10 }).max(1),
            ),
            run_warmup: Duration::from_millis(if q { 500 } else { 1000 }),
            relay_events: args
                .relay_events
                .unwrap_or(if q { 2_000 } else { 20_000 })
                .max(1),
            relay_rate: args.relay_rate.max(1),
            rebuild_events: args
                .rebuild_events
                .unwrap_or(if q { 20_000 } else { 1_000_000 })
                .max(1),
            projection_rate: args.projection_rate.max(1),
            w3_rate: args.w3_rate.map(|r| r.max(1)),
            concurrency: args.concurrency.into_iter().map(|c| c.max(1)).collect(),
            w8_rate: args.w8_rate.map(|r| r.max(1)),
            w8_duration: Duration::from_secs(
                args.w8_duration_secs
                    .unwrap_or(if q { 3 } else { 5 })
                    .max(1),
            ),
        }
    }

    pub(crate) fn runs(&self, part: Part) -> bool {
        self.only.is_empty() || self.only.contains(&part)
    }
}
