//! perf.v1 JSON lines on stdout, and progress logs on stderr.
//!
//! Every line carries `schema`, `kind`, `bench`, `impl`, `concurrency`, `round` and the run's
//! common fields (`config`, `versions`, `host`, `git_sha`, `ts`). Fields are written in a fixed
//! order so the lines stay readable without jq.

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Seconds since the program started, for log lines.
pub(crate) fn uptime() -> f64 {
    STARTED.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Logs one line to stderr with the time since start.
macro_rules! log {
    ($($arg:tt)*) => {
        eprintln!("[bench {:>7.1}s] {}", $crate::report::uptime(), format_args!($($arg)*))
    };
}
pub(crate) use log;

/// Size of every event and message payload, in bytes.
pub(crate) const PAYLOAD_BYTES: usize = 500;

/// Latency percentiles in integer microseconds, from an HDR histogram with 3 significant digits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Latency {
    pub(crate) p50: u64,
    pub(crate) p90: u64,
    pub(crate) p99: u64,
    pub(crate) p999: u64,
    pub(crate) max: u64,
}

impl Latency {
    pub(crate) fn from_histogram(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        Some(Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        })
    }
}

/// The outcome of one measured run.
#[derive(Clone, Debug)]
pub(crate) struct Summary {
    pub(crate) ops: u64,
    pub(crate) errors: u64,
    /// Wall time the ops were counted over.
    pub(crate) elapsed: Duration,
    pub(crate) latency: Option<Latency>,
    /// Extra fields of this bench, written after the standard ones.
    pub(crate) extra: Vec<(&'static str, Value)>,
}

impl Summary {
    pub(crate) fn throughput(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.ops as f64 / s
        } else {
            f64::NAN
        }
    }

    pub(crate) fn with(mut self, key: &'static str, value: impl Into<Value>) -> Summary {
        self.extra.push((key, value.into()));
        self
    }

    /// The number stored under `key` among the extra fields, if any.
    pub(crate) fn extra_f64(&self, key: &str) -> Option<f64> {
        self.extra
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.as_f64())
    }

    /// Adds `seconds` spread over the ops, in whole µs per op (null when unknown or no op).
    pub(crate) fn per_op_us(self, key: &'static str, seconds: Option<f64>) -> Summary {
        let ops = self.ops;
        let value = seconds
            .filter(|_| ops > 0)
            .map(|s| (s * 1e6 / ops as f64).round() as u64);
        self.with(key, value)
    }
}

/// What a ratio's value must satisfy, with the text printed in `target` (e.g. `">=0.60"`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    AtLeast(f64, &'static str),
    AtMost(f64, &'static str),
}

impl Target {
    fn text(self) -> &'static str {
        match self {
            Target::AtLeast(_, text) | Target::AtMost(_, text) => text,
        }
    }

    fn passes(self, value: f64) -> bool {
        match self {
            Target::AtLeast(t, _) => value >= t,
            Target::AtMost(t, _) => value <= t,
        }
    }
}

/// Whether `--enforce` counts a failing target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Enforced {
    Yes,
    /// Printed with `pass`, but never fails the run.
    Informational,
}

/// `f(project, peer)` for each round in which both sides ran, in round order.
pub(crate) fn per_round(
    project: &[Summary],
    peer: &[Summary],
    f: impl Fn(&Summary, &Summary) -> f64,
) -> Vec<f64> {
    project.iter().zip(peer).map(|(a, b)| f(a, b)).collect()
}

/// One ratio: its name, the two sides and the per-round values.
#[derive(Clone, Debug)]
pub(crate) struct Ratio {
    pub(crate) name: String,
    pub(crate) bench: &'static str,
    pub(crate) concurrency: Option<usize>,
    pub(crate) numerator: &'static str,
    pub(crate) denominator: Option<&'static str>,
    pub(crate) per_round: Vec<f64>,
    pub(crate) target: Option<(Target, Enforced)>,
}

/// Fields every line carries, captured once per run.
#[derive(Clone, Debug)]
pub(crate) struct Common {
    pub(crate) config: Value,
    pub(crate) versions: Value,
    pub(crate) host: Value,
    pub(crate) git_sha: Value,
    pub(crate) git_dirty: Value,
}

/// Writes perf.v1 lines and remembers failed enforced targets.
#[derive(Debug)]
pub(crate) struct Reporter {
    common: Common,
    failed: Mutex<Vec<String>>,
}

impl Reporter {
    pub(crate) fn new(common: Common) -> Reporter {
        Reporter {
            common,
            failed: Mutex::new(Vec::new()),
        }
    }

    /// Names of ratio lines whose enforced target failed.
    pub(crate) fn failed(&self) -> Vec<String> {
        self.failed.lock().map(|f| f.clone()).unwrap_or_default()
    }

    fn emit(&self, mut fields: Vec<(&'static str, Value)>) {
        fields.push(("config", self.common.config.clone()));
        fields.push(("versions", self.common.versions.clone()));
        fields.push(("host", self.common.host.clone()));
        fields.push(("git_sha", self.common.git_sha.clone()));
        fields.push(("git_dirty", self.common.git_dirty.clone()));
        fields.push(("ts", json!(now_rfc3339())));
        let mut line = String::from("{");
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&Value::from(*key).to_string());
            line.push(':');
            line.push_str(&value.to_string());
        }
        line.push('}');
        let mut out = std::io::stdout().lock();
        // A closed stdout is not worth aborting a benchmark for; the logs still say what happened.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn head<'a>(
        kind: &str,
        bench: &str,
        imp: impl Into<Option<&'a str>>,
        concurrency: Option<usize>,
        round: Option<u32>,
    ) -> Vec<(&'static str, Value)> {
        vec![
            ("schema", json!("perf.v1")),
            ("kind", json!(kind)),
            ("bench", json!(bench)),
            ("impl", json!(imp.into())),
            ("concurrency", json!(concurrency)),
            ("round", json!(round)),
        ]
    }

    fn measurements(summary: &Summary, warmup: Duration) -> Vec<(&'static str, Value)> {
        let lat = summary.latency;
        let mut fields = vec![
            ("payload_bytes", json!(PAYLOAD_BYTES)),
            ("warmup_s", json!(round_to(warmup.as_secs_f64(), 3))),
            (
                "duration_s",
                json!(round_to(summary.elapsed.as_secs_f64(), 3)),
            ),
            ("ops", json!(summary.ops)),
            ("errors", json!(summary.errors)),
            ("throughput_per_s", json!(round_to(summary.throughput(), 1))),
            ("p50_us", json!(lat.map(|l| l.p50))),
            ("p90_us", json!(lat.map(|l| l.p90))),
            ("p99_us", json!(lat.map(|l| l.p99))),
            ("p999_us", json!(lat.map(|l| l.p999))),
            ("max_us", json!(lat.map(|l| l.max))),
        ];
        fields.extend(summary.extra.iter().cloned());
        fields
    }

    /// One line per (bench, impl, concurrency, round).
    pub(crate) fn sample(
        &self,
        bench: &str,
        imp: &str,
        concurrency: usize,
        round: u32,
        warmup: Duration,
        summary: &Summary,
    ) {
        let lat = summary
            .latency
            .map(|l| format!(", p50 {} µs, p99 {} µs", l.p50, l.p99))
            .unwrap_or_default();
        log!(
            "{bench} {imp} c={concurrency} round {round}: {} ops, {} errors, {:.1}/s{lat}",
            summary.ops,
            summary.errors,
            summary.throughput()
        );
        let mut fields = Self::head("sample", bench, imp, Some(concurrency), Some(round));
        fields.extend(Self::measurements(summary, warmup));
        self.emit(fields);
    }

    /// The median over rounds of every measured value (each field independently).
    pub(crate) fn median(&self, bench: &str, imp: &str, concurrency: usize, samples: &[Summary]) {
        if samples.is_empty() {
            return;
        }
        let med_u = |f: &dyn Fn(&Latency) -> u64| -> Value {
            let values: Vec<f64> = samples
                .iter()
                .filter_map(|s| s.latency.as_ref().map(|l| f(l) as f64))
                .collect();
            if values.is_empty() {
                Value::Null
            } else {
                json!(median(&values).round() as u64)
            }
        };
        let throughput: Vec<f64> = samples.iter().map(Summary::throughput).collect();
        let ops: Vec<f64> = samples.iter().map(|s| s.ops as f64).collect();
        let duration: Vec<f64> = samples.iter().map(|s| s.elapsed.as_secs_f64()).collect();
        let mut fields = Self::head("median", bench, imp, Some(concurrency), None);
        fields.extend([
            ("rounds", json!(samples.len())),
            ("payload_bytes", json!(PAYLOAD_BYTES)),
            ("duration_s", json!(round_to(median(&duration), 3))),
            ("ops", json!(median(&ops).round() as u64)),
            (
                "errors",
                json!(samples.iter().map(|s| s.errors).sum::<u64>()),
            ),
            ("throughput_per_s", json!(round_to(median(&throughput), 1))),
            ("p50_us", med_u(&|l| l.p50)),
            ("p90_us", med_u(&|l| l.p90)),
            ("p99_us", med_u(&|l| l.p99)),
            ("p999_us", med_u(&|l| l.p999)),
            ("max_us", med_u(&|l| l.max)),
        ]);
        self.emit(fields);
    }

    /// A ratio line: `value` is the median of `per_round`; `pass` compares it with `target`.
    pub(crate) fn ratio(&self, ratio: &Ratio) {
        let finite: Vec<f64> = ratio
            .per_round
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let value = if finite.is_empty() {
            f64::NAN
        } else {
            median(&finite)
        };
        let pass = ratio
            .target
            .map(|(t, _)| value.is_finite() && t.passes(value));
        let enforced = ratio.target.map(|(_, e)| e == Enforced::Yes);
        if enforced == Some(true)
            && pass == Some(false)
            && let Ok(mut failed) = self.failed.lock()
        {
            failed.push(ratio.name.clone());
        }
        log!(
            "ratio {} = {:.3} (target {}, pass {:?})",
            ratio.name,
            value,
            ratio.target.map_or("none", |(t, _)| t.text()),
            pass
        );
        let mut fields = Self::head(
            "ratio",
            ratio.bench,
            ratio.numerator,
            ratio.concurrency,
            None,
        );
        fields.extend([
            ("name", json!(ratio.name)),
            ("numerator", json!(ratio.numerator)),
            ("denominator", json!(ratio.denominator)),
            (
                "per_round",
                json!(
                    ratio
                        .per_round
                        .iter()
                        .map(|v| round_to(*v, 4))
                        .collect::<Vec<_>>()
                ),
            ),
            ("value", json!(round_to(value, 4))),
            ("target", json!(ratio.target.map(|(t, _)| t.text()))),
            ("pass", json!(pass)),
            ("enforced", json!(enforced)),
        ]);
        self.emit(fields);
    }

    /// A line of another kind (`warmup`, `sentinel`) with its own fields.
    pub(crate) fn other(
        &self,
        kind: &str,
        bench: &str,
        imp: Option<&str>,
        concurrency: Option<usize>,
        extra: Vec<(&'static str, Value)>,
    ) {
        let mut fields = Self::head(kind, bench, imp, concurrency, None);
        fields.extend(extra);
        self.emit(fields);
    }
}

/// The median of `values` (the mean of the middle two for an even count); NaN when empty.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Rounds for printing; NaN and infinities become JSON null through serde_json.
pub(crate) fn round_to(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
