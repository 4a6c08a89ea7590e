//! Telemetry: JSON logs, OpenTelemetry traces over OTLP, Prometheus metrics, and the W3C trace
//! context that lets one command's trace follow it through gRPC, the event store and NATS.
//!
//! # Layout
//! * this file: [`TelemetryConfig`], [`init`] and its [`TelemetryGuard`], [`init_for_tests`],
//!   [`log_layer`].
//! * `propagation`: [`set_parent_from_headers`], [`current_trace_context`],
//!   [`set_parent_from_trace_context`] and the NATS functions. Start there to see how a trace
//!   crosses process boundaries.
//! * `carriers`: [`HeaderExtractor`], [`NatsHeaderInjector`] and friends, which let OpenTelemetry
//!   propagators read and write gRPC metadata and NATS headers.
//! * `metrics`: [`names`] of every platform metric and [`describe_metrics`].
//! * `json_log`: the JSON log line, with the trace and span ids of the current span.
//!
//! # Usage
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let config = platform::telemetry::TelemetryConfig::default();
//! let telemetry = platform::telemetry::init("complaints", &config)?;
//! // ... serve until shutdown ...
//! telemetry.shutdown()?; // flushes buffered spans; dropping the guard does the same
//! # Ok(())
//! # }
//! ```

mod carriers;
mod json_log;
mod metrics;
mod propagation;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};
use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use self::carriers::{
    HeaderExtractor, HeaderInjector, NatsHeaderExtractor, NatsHeaderInjector,
};
pub use self::metrics::{describe_metrics, names};
pub use self::propagation::{
    TRACEPARENT, TRACESTATE, TraceContext, current_trace_context, inject_current_into_headers,
    inject_current_into_nats, inject_nats_headers, set_parent_from_headers, set_parent_from_nats,
    set_parent_from_trace_context,
};

/// How [`init`] sets telemetry up. `Default` gives JSON logs and no exporters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// Log line format on stdout. JSON (the default) for services; pretty for a terminal.
    pub log_format: LogFormat,
    /// OTLP/gRPC collector endpoint, e.g. `http://otel-collector:4317`. When set, spans are
    /// exported in batches; when `None`, no spans are exported (trace context still passes
    /// through, see `propagation`). Plain `http` only: no TLS support is compiled in.
    pub otlp_endpoint: Option<String>,
    /// Address for the Prometheus scrape endpoint (`/metrics`, in fact any path). `None` records
    /// no metrics.
    pub metrics_addr: Option<SocketAddr>,
    /// The `service.name` reported with every span. `None` uses the name passed to [`init`]; set
    /// it to tell deployments apart (e.g. `complaints-staging`).
    pub service_name: Option<String>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line with the message and fields at the top level, the current span
    /// under `span`, all entered spans under `spans`, and `trace_id` and `span_id` when the
    /// current span belongs to a trace.
    #[default]
    Json,
    /// Multi-line, human-readable text for a developer's terminal.
    Pretty,
}

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;

    /// Parses `json` or `pretty`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            _ => Err(UnknownLogFormat(s.to_owned())),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Json => "json",
            LogFormat::Pretty => "pretty",
        })
    }
}

/// A log format name other than `json` or `pretty`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log format {0:?}: expected \"json\" or \"pretty\"")]
pub struct UnknownLogFormat(pub String);

/// Set by the first call to [`init`], successful or not.
static INITIALISED: AtomicBool = AtomicBool::new(false);

/// Sets up logs, traces and metrics for this process. Call it once, early in `main`, inside the
/// Tokio runtime, and keep the guard until shutdown.
///
/// What it installs:
/// * the global W3C Trace Context propagator, always;
/// * a global `tracing` subscriber: logs on stdout in `config.log_format`, filtered by `RUST_LOG`
///   (default `info`) except for the gRPC audit entries (target `audit`), always written; plus, when `otlp_endpoint` is set, an OpenTelemetry layer exporting spans
///   at `INFO` and above through a batch exporter, whatever `RUST_LOG` says, so quieter logs
///   never break a trace;
/// * when `metrics_addr` is set, the global Prometheus recorder and its HTTP listener, with every
///   platform metric described.
///
/// # Errors
/// * `init` was already called in this process: it may run once, and a second call fails even if
///   the first one failed.
/// * `RUST_LOG` is not a valid filter.
/// * `otlp_endpoint` is empty, not a valid URI, `https`, or set while no Tokio runtime is running
///   (the exporter's channel needs one).
/// * The metrics listener cannot bind `metrics_addr`, or a metrics recorder is already installed.
/// * A global `tracing` subscriber is already installed (for example by [`init_for_tests`]).
///
/// Configuration errors are found before anything global is installed. The last two can leave
/// the propagator or metrics recorder installed; the process is expected to exit.
pub fn init(service_name: &str, config: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    if INITIALISED.swap(true, Ordering::SeqCst) {
        bail!("telemetry is already initialised: `init` may be called once per process");
    }
    // Audit entries are written whatever `RUST_LOG` says.
    let log_filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env()
        .context("Failed to parse RUST_LOG")?
        .add_directive(
            format!("{}=info", crate::grpc::AUDIT_TARGET)
                .parse()
                .context("Failed to parse the audit directive")?,
        );
    let service_name = config.service_name.as_deref().unwrap_or(service_name);
    let tracer_provider = match &config.otlp_endpoint {
        Some(endpoint) => Some(otlp_tracer_provider(service_name, endpoint)?),
        None => None,
    };

    if let Some(addr) = config.metrics_addr {
        self::metrics::prometheus_builder(addr)
            .and_then(|builder| builder.install())
            .with_context(|| format!("Failed to start the Prometheus exporter on {addr}"))?;
    }
    global::set_text_map_propagator(TraceContextPropagator::new());
    let trace_layer = tracer_provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service_name.to_owned()))
            .with_filter(LevelFilter::INFO)
    });
    tracing_subscriber::registry()
        .with(log_layer(config.log_format, std::io::stdout).with_filter(log_filter))
        .with(trace_layer)
        .try_init()
        .context("Failed to install the global tracing subscriber")?;
    if let Some(provider) = &tracer_provider {
        global::set_tracer_provider(provider.clone());
    }
    describe_metrics();
    tracing::info!(
        service_name,
        otlp_endpoint = ?config.otlp_endpoint,
        metrics_addr = ?config.metrics_addr,
        "telemetry initialised"
    );
    Ok(TelemetryGuard { tracer_provider })
}

fn otlp_tracer_provider(service_name: &str, endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    if endpoint.trim().is_empty() {
        // The exporter would silently fall back to its default endpoint.
        bail!("otlp_endpoint is empty: leave it unset to disable trace export");
    }
    // tonic's lazily connected channel spawns its worker on the current runtime, and the
    // batch exporter's thread relies on that worker.
    tokio::runtime::Handle::try_current()
        .context("OTLP trace export needs a Tokio runtime: call `init` from inside the runtime")?;
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("Failed to build the OTLP span exporter for {endpoint:?}"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build())
}

/// Keeps trace export running; returned by [`init`].
///
/// Dropping it, or calling [`shutdown`](TelemetryGuard::shutdown), flushes buffered spans and
/// shuts the exporter down (waiting up to 5 seconds). Do that on a multi-threaded runtime (the
/// `#[tokio::main]` default), or from `spawn_blocking`: the flush blocks the calling thread while
/// the export runs on the runtime. Logs and metrics keep working after shutdown; spans ended
/// afterwards are not exported.
#[derive(Debug)]
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Flushes buffered spans and shuts the trace exporter down. Does nothing when OTLP export
    /// was not configured.
    ///
    /// # Errors
    /// The exporter could not flush or shut down in time (e.g. the collector is unreachable);
    /// the spans still buffered are lost.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        self.shutdown_tracer_provider()
    }

    fn shutdown_tracer_provider(&mut self) -> anyhow::Result<()> {
        match self.tracer_provider.take() {
            Some(provider) => provider
                .shutdown()
                .context("Failed to flush and shut down trace export"),
            None => Ok(()),
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown_tracer_provider() {
            tracing::warn!(error = ?error, "trace export did not shut down cleanly");
        }
    }
}

/// The log layer [`init`] installs, writing to `writer`; public so tests can capture exactly
/// what a service would print.
pub fn log_layer<S, W>(format: LogFormat, writer: W) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer();
    match format {
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .map_event_format(json_log::JsonWithTraceIds)
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => layer.pretty().with_writer(writer).boxed(),
    }
}

/// Telemetry for tests; safe to call from every test, any number of times.
///
/// The first call installs the W3C propagator and a global subscriber that logs to the test
/// writer (captured per test by the harness), filtered by `RUST_LOG` (default `warn`; an invalid
/// value also means `warn`). It also installs an OpenTelemetry layer that exports nothing, so
/// spans at `INFO` and above have real trace ids and [`current_trace_context`] returns `Some`
/// inside them, as in a service that exports traces. If a global subscriber already exists, it
/// is kept.
pub fn init_for_tests() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let log_filter = EnvFilter::builder()
            .with_default_directive(LevelFilter::WARN.into())
            .from_env_lossy();
        // No exporter: spans get ids and propagate, and are dropped when they end.
        let provider = SdkTracerProvider::builder().build();
        let _already_installed = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_filter(log_filter),
            )
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("tests"))
                    .with_filter(LevelFilter::INFO),
            )
            .try_init();
    });
}
