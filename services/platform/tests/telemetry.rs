//! Tests for `platform::telemetry`: propagation through gRPC headers, stored events and NATS;
//! log format; metric names; and `init`, which runs in child processes because it installs
//! process-wide state.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use platform::telemetry::{
    self, LogFormat, TelemetryConfig, TraceContext, UnknownLogFormat, current_trace_context,
    describe_metrics, inject_current_into_headers, inject_current_into_nats, inject_nats_headers,
    names, set_parent_from_headers, set_parent_from_nats, set_parent_from_trace_context,
};
use tracing::{Span, info_span};
use tracing_subscriber::layer::SubscriberExt as _;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A local subscriber with an OpenTelemetry layer that exports into memory.
struct Traced {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
}

impl Traced {
    fn new() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        Self { exporter, provider }
    }

    /// Runs `f` with this subscriber as the thread's default and returns what it returned.
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let subscriber = tracing_subscriber::registry().with(
            tracing_opentelemetry::layer().with_tracer(self.provider.tracer("telemetry-tests")),
        );
        tracing::subscriber::with_default(subscriber, f)
    }

    fn span(&self, name: &str) -> SpanData {
        self.provider.force_flush().expect("Failed to flush spans");
        let spans = self
            .exporter
            .get_finished_spans()
            .expect("Failed to read exported spans");
        spans
            .into_iter()
            .find(|span| span.name == name)
            .unwrap_or_else(|| panic!("no span named {name} was exported"))
    }
}

fn http_headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in pairs {
        headers.insert(
            *name,
            http::HeaderValue::from_str(value).expect("test header value is valid"),
        );
    }
    headers
}

fn stored(traceparent: &str) -> TraceContext {
    TraceContext {
        traceparent: traceparent.to_owned(),
        tracestate: None,
    }
}

/// `(trace id, span id)` of a `traceparent`.
fn ids(traceparent: &str) -> (String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(
        fields.len(),
        4,
        "traceparent {traceparent:?} has four fields"
    );
    (fields[1].to_owned(), fields[2].to_owned())
}

// ---- Propagation with an OpenTelemetry layer ----

#[test]
fn a_span_whose_parent_comes_from_grpc_headers_continues_the_callers_trace() {
    let traced = Traced::new();
    let headers = http_headers(&[("traceparent", TRACEPARENT)]);

    traced.run(|| {
        let span = info_span!("grpc.request");
        set_parent_from_headers(&span, &headers);
        span.in_scope(|| tracing::info!("handled"));
    });

    let span = traced.span("grpc.request");
    assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.to_string(), PARENT_ID);
    assert!(span.parent_span_is_remote);
}

#[test]
fn tonic_metadata_is_read_through_its_header_map() {
    let traced = Traced::new();
    let metadata =
        tonic::metadata::MetadataMap::from_headers(http_headers(&[("traceparent", TRACEPARENT)]));

    traced.run(|| {
        let span = info_span!("grpc.request");
        set_parent_from_headers(&span, metadata.as_ref());
        span.in_scope(|| {});
    });

    assert_eq!(
        traced
            .span("grpc.request")
            .span_context
            .trace_id()
            .to_string(),
        TRACE_ID
    );
}

#[test]
fn current_trace_context_names_the_current_span_and_its_trace() {
    let traced = Traced::new();
    let headers = http_headers(&[
        ("traceparent", TRACEPARENT),
        ("tracestate", "redress=1,other=2"),
    ]);

    let context = traced.run(|| {
        let span = info_span!("handle_command");
        set_parent_from_headers(&span, &headers);
        span.in_scope(current_trace_context)
    });

    let context = context.expect("a traced span has a trace context");
    let exported = traced.span("handle_command");
    assert_eq!(
        context.traceparent,
        format!("00-{TRACE_ID}-{}-01", exported.span_context.span_id())
    );
    assert_ne!(exported.span_context.span_id().to_string(), PARENT_ID);
    assert_eq!(context.tracestate.as_deref(), Some("redress=1,other=2"));
}

#[test]
fn current_trace_context_outside_any_span_is_none() {
    let traced = Traced::new();

    assert_eq!(traced.run(current_trace_context), None);
}

#[test]
fn a_trace_context_survives_a_round_trip_through_nats_headers() {
    let traced = Traced::new();
    let mut headers = async_nats::HeaderMap::new();

    traced.run(|| {
        info_span!("relay.publish").in_scope(|| inject_current_into_nats(&mut headers));
        let consumer = info_span!("consumer.handle");
        set_parent_from_nats(&consumer, &headers);
        consumer.in_scope(|| {});
    });

    let producer = traced.span("relay.publish");
    let consumer = traced.span("consumer.handle");
    let sent = headers
        .get("traceparent")
        .expect("traceparent header was injected");
    assert_eq!(
        ids(sent.as_str()).1,
        producer.span_context.span_id().to_string()
    );
    assert_eq!(
        consumer.span_context.trace_id(),
        producer.span_context.trace_id()
    );
    assert_eq!(consumer.parent_span_id, producer.span_context.span_id());
    assert!(consumer.parent_span_is_remote);
}

#[test]
fn inject_nats_headers_writes_the_stored_context() {
    let context = TraceContext {
        traceparent: TRACEPARENT.to_owned(),
        tracestate: Some("redress=1".to_owned()),
    };
    let mut headers = async_nats::HeaderMap::new();

    inject_nats_headers(&context, &mut headers);

    assert_eq!(
        headers.get("traceparent").map(|v| v.as_str()),
        Some(TRACEPARENT)
    );
    assert_eq!(
        headers.get("tracestate").map(|v| v.as_str()),
        Some("redress=1")
    );
}

#[test]
fn inject_nats_headers_replaces_an_earlier_traceparent_and_omits_an_absent_tracestate() {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-11111111111111111111111111111111-2222222222222222-01",
    );

    inject_nats_headers(&stored(TRACEPARENT), &mut headers);

    assert_eq!(headers.get_all("traceparent").count(), 1);
    assert_eq!(
        headers.get("traceparent").map(|v| v.as_str()),
        Some(TRACEPARENT)
    );
    assert!(headers.get("tracestate").is_none());
}

#[test]
fn nats_headers_are_read_whatever_the_case_of_their_names() {
    let traced = Traced::new();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Traceparent", TRACEPARENT);

    traced.run(|| {
        let span = info_span!("consumer.handle");
        set_parent_from_nats(&span, &headers);
        span.in_scope(|| {});
    });

    assert_eq!(
        traced.span("consumer.handle").parent_span_id.to_string(),
        PARENT_ID
    );
}

#[test]
fn set_parent_from_trace_context_links_a_projection_span_to_the_stored_context() {
    let traced = Traced::new();
    let context = traced.run(|| info_span!("handle_command").in_scope(current_trace_context));
    let context = context.expect("a traced span has a trace context");

    traced.run(|| {
        let span = info_span!("projection.apply");
        set_parent_from_trace_context(&span, &context);
        span.in_scope(|| {});
    });

    let command = traced.span("handle_command");
    let projection = traced.span("projection.apply");
    assert_eq!(
        projection.span_context.trace_id(),
        command.span_context.trace_id()
    );
    assert_eq!(projection.parent_span_id, command.span_context.span_id());
}

#[test]
fn a_later_traceparent_version_is_accepted_for_its_first_four_fields() {
    let traced = Traced::new();
    let future = format!("cc-{TRACE_ID}-{PARENT_ID}-01-what-the-future-holds");

    traced.run(|| {
        let span = info_span!("consumer.handle");
        set_parent_from_trace_context(&span, &stored(&future));
        span.in_scope(|| {});
    });

    let span = traced.span("consumer.handle");
    assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.to_string(), PARENT_ID);
}

const MALFORMED: [(&str, &str); 14] = [
    ("empty", ""),
    ("not a traceparent", "garbage"),
    (
        "trace id too short",
        "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
    ),
    (
        "trace id too long",
        "00-4bf92f3577b34da6a3ce929d0e0e4736aa-00f067aa0ba902b7-01",
    ),
    (
        "parent id too short",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9-01",
    ),
    (
        "missing flags",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
    ),
    (
        "non-hex trace id",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
    ),
    (
        "non-hex flags",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
    ),
    (
        "upper-case hex",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
    ),
    (
        "version ff",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ),
    (
        "all-zero trace id",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    ),
    (
        "all-zero parent id",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    ),
    (
        "extra field after version 00",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
    ),
    (
        "non-ASCII",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
    ),
];

fn assert_new_root(traced: &Traced, name: &str, case: &str) {
    let span = traced.span(name);
    assert_eq!(
        span.parent_span_id,
        SpanId::INVALID,
        "{case}: span has no parent"
    );
    assert!(
        span.span_context.is_valid(),
        "{case}: span has a fresh, valid context"
    );
}

#[test]
fn malformed_traceparent_values_are_ignored_and_the_span_starts_a_new_trace() {
    for (case, value) in MALFORMED {
        let traced = Traced::new();
        let mut nats = async_nats::HeaderMap::new();
        nats.insert("traceparent", value);
        let mut grpc = http::HeaderMap::new();
        grpc.insert(
            "traceparent",
            http::HeaderValue::from_bytes(value.as_bytes()).expect("valid bytes"),
        );

        traced.run(|| {
            let from_grpc = info_span!("from_grpc");
            set_parent_from_headers(&from_grpc, &grpc);
            from_grpc.in_scope(|| {});
            let from_nats = info_span!("from_nats");
            set_parent_from_nats(&from_nats, &nats);
            from_nats.in_scope(|| {});
            let from_store = info_span!("from_store");
            set_parent_from_trace_context(&from_store, &stored(value));
            from_store.in_scope(|| {});
        });

        for name in ["from_grpc", "from_nats", "from_store"] {
            assert_new_root(&traced, name, case);
        }
    }
}

#[test]
fn missing_trace_headers_leave_the_span_a_new_root() {
    let traced = Traced::new();

    traced.run(|| {
        let span = info_span!("grpc.request");
        set_parent_from_headers(&span, &http::HeaderMap::new());
        span.in_scope(|| {});
        let span = info_span!("consumer.handle");
        set_parent_from_nats(&span, &async_nats::HeaderMap::new());
        span.in_scope(|| {});
    });

    assert_new_root(&traced, "grpc.request", "no headers");
    assert_new_root(&traced, "consumer.handle", "no headers");
}

#[test]
fn a_malformed_stored_context_is_not_injected_into_nats_headers() {
    for (_, value) in MALFORMED {
        let mut headers = async_nats::HeaderMap::new();

        inject_nats_headers(&stored(value), &mut headers);

        assert!(headers.is_empty(), "{value:?} was not injected");
    }
}

#[test]
fn an_invalid_tracestate_is_dropped_rather_than_injected() {
    let context = TraceContext {
        traceparent: TRACEPARENT.to_owned(),
        tracestate: Some("a=1\r\nx-evil: 1".to_owned()),
    };
    let mut headers = async_nats::HeaderMap::new();

    inject_nats_headers(&context, &mut headers);

    assert_eq!(
        headers.get("traceparent").map(|v| v.as_str()),
        Some(TRACEPARENT)
    );
    assert!(headers.get("tracestate").is_none());
}

#[test]
fn setting_the_parent_of_a_span_already_entered_changes_nothing() {
    let traced = Traced::new();
    let headers = http_headers(&[("traceparent", TRACEPARENT)]);

    traced.run(|| {
        let span = info_span!("grpc.request");
        span.in_scope(|| {});
        set_parent_from_headers(&span, &headers);
    });

    let span = traced.span("grpc.request");
    assert_ne!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id, SpanId::INVALID);
}

#[test]
fn setting_the_parent_of_a_disabled_span_changes_nothing() {
    let traced = Traced::new();
    let headers = http_headers(&[("traceparent", TRACEPARENT)]);

    let context = traced.run(|| {
        let span = Span::none();
        set_parent_from_headers(&span, &headers);
        span.in_scope(current_trace_context)
    });

    assert_eq!(context, None);
}

#[test]
fn inject_current_into_headers_carries_the_current_span_to_an_outgoing_call() {
    let traced = Traced::new();
    let mut headers = http::HeaderMap::new();

    traced.run(|| info_span!("grpc.client").in_scope(|| inject_current_into_headers(&mut headers)));

    let client = traced.span("grpc.client");
    let sent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .expect("traceparent sent");
    assert_eq!(
        ids(sent),
        (
            client.span_context.trace_id().to_string(),
            client.span_context.span_id().to_string()
        )
    );
}

#[test]
fn carriers_skip_names_and_values_their_maps_cannot_carry() {
    use opentelemetry::propagation::{Extractor as _, Injector as _};
    use telemetry::{HeaderExtractor, HeaderInjector, NatsHeaderExtractor, NatsHeaderInjector};
    let mut grpc = http::HeaderMap::new();
    let mut nats = async_nats::HeaderMap::new();

    HeaderInjector(&mut grpc).set("tracestate", "a=1\nb=2".to_owned());
    HeaderInjector(&mut grpc).set("bad name", "1".to_owned());
    NatsHeaderInjector(&mut nats).set("tracestate", "a=1\r\nb=2".to_owned());
    NatsHeaderInjector(&mut nats).set("bad:name", "1".to_owned());
    grpc.insert(
        "traceparent",
        http::HeaderValue::from_bytes("é".as_bytes()).expect("valid bytes"),
    );

    assert_eq!(HeaderExtractor(&grpc).keys(), ["traceparent"]);
    assert_eq!(HeaderExtractor(&grpc).get("traceparent"), None);
    assert_eq!(HeaderExtractor(&grpc).get("bad name"), None);
    assert!(nats.is_empty());
    assert_eq!(NatsHeaderExtractor(&nats).get("bad:name"), None);
}

#[test]
fn carriers_work_with_an_opentelemetry_propagator() {
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::TraceContextExt as _;
    use telemetry::{HeaderExtractor, NatsHeaderExtractor, NatsHeaderInjector};
    let propagator = opentelemetry_sdk::propagation::TraceContextPropagator::new();
    let incoming = http_headers(&[("traceparent", TRACEPARENT)]);
    let mut outgoing = async_nats::HeaderMap::new();

    let context = propagator.extract(&HeaderExtractor(&incoming));
    propagator.inject_context(&context, &mut NatsHeaderInjector(&mut outgoing));
    let extracted = propagator.extract(&NatsHeaderExtractor(&outgoing));

    assert_eq!(
        outgoing.get("traceparent").map(|v| v.as_str()),
        Some(TRACEPARENT)
    );
    assert_eq!(
        extracted.span().span_context().trace_id().to_string(),
        TRACE_ID
    );
}

// ---- Propagation without an OpenTelemetry layer ----

fn untraced<T>(f: impl FnOnce() -> T) -> T {
    let subscriber =
        tracing_subscriber::registry().with(telemetry::log_layer(LogFormat::Json, std::io::sink));
    tracing::subscriber::with_default(subscriber, f)
}

#[test]
fn current_trace_context_is_none_without_an_opentelemetry_layer() {
    let context = untraced(|| info_span!("handle_command").in_scope(current_trace_context));

    assert_eq!(context, None);
}

#[test]
fn without_an_opentelemetry_layer_the_incoming_context_passes_through_unchanged() {
    let headers = http_headers(&[("traceparent", TRACEPARENT), ("tracestate", "redress=1")]);
    let mut nats = async_nats::HeaderMap::new();

    let context = untraced(|| {
        let request = info_span!("grpc.request");
        set_parent_from_headers(&request, &headers);
        request.in_scope(|| {
            info_span!("handle_command").in_scope(|| {
                inject_current_into_nats(&mut nats);
                current_trace_context()
            })
        })
    });

    let expected = TraceContext {
        traceparent: TRACEPARENT.to_owned(),
        tracestate: Some("redress=1".to_owned()),
    };
    assert_eq!(context, Some(expected));
    assert_eq!(
        nats.get("traceparent").map(|v| v.as_str()),
        Some(TRACEPARENT)
    );
    assert_eq!(
        nats.get("tracestate").map(|v| v.as_str()),
        Some("redress=1")
    );
}

#[test]
fn inject_current_into_nats_without_a_trace_context_leaves_the_headers_empty() {
    let mut traced_headers = async_nats::HeaderMap::new();
    let mut untraced_headers = async_nats::HeaderMap::new();

    Traced::new().run(|| inject_current_into_nats(&mut traced_headers));
    untraced(|| {
        info_span!("relay.publish").in_scope(|| inject_current_into_nats(&mut untraced_headers))
    });

    assert!(traced_headers.is_empty());
    assert!(untraced_headers.is_empty());
}

// ---- Logs ----

/// A `MakeWriter` that appends to a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("buffer lock").clone()).expect("logs are UTF-8")
    }
}

fn log_to(buffer: &Buffer, format: LogFormat, f: impl FnOnce()) {
    let writer = buffer.clone();
    let subscriber =
        tracing_subscriber::registry().with(telemetry::log_layer(format, move || writer.clone()));
    tracing::subscriber::with_default(subscriber, f);
}

#[test]
fn json_logs_are_one_object_per_line_with_the_message_and_span_fields() {
    let buffer = Buffer::default();

    log_to(&buffer, LogFormat::Json, || {
        info_span!("grpc.request", rpc = "SubmitComplaint").in_scope(|| {
            info_span!("handle_command", complaint_id = "c-1").in_scope(|| {
                tracing::info!(version = 3, "command accepted");
                tracing::warn!("second line\nwith a newline inside");
            });
        });
    });

    let text = buffer.text();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"))
        })
        .collect();
    assert_eq!(lines.len(), 2, "two events, two lines: {text}");
    let first = &lines[0];
    assert!(first.is_object());
    assert_eq!(first["message"], "command accepted");
    assert_eq!(first["version"], 3);
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["span"]["name"], "handle_command");
    assert_eq!(first["span"]["complaint_id"], "c-1");
    assert_eq!(first["spans"][0]["rpc"], "SubmitComplaint");
    assert_eq!(lines[1]["message"], "second line\nwith a newline inside");
}

fn json_lines(buffer: &Buffer) -> Vec<serde_json::Value> {
    buffer
        .text()
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"))
        })
        .collect()
}

#[test]
fn json_logs_carry_the_trace_and_span_id_of_the_current_span_when_it_is_traced() {
    let buffer = Buffer::default();
    let traced = Traced::new();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(traced.provider.tracer("log-tests")))
        .with(telemetry::log_layer(LogFormat::Json, move || {
            writer.clone()
        }));
    let headers = http_headers(&[("traceparent", TRACEPARENT)]);

    let context = tracing::subscriber::with_default(subscriber, || {
        let request = info_span!("grpc.request");
        set_parent_from_headers(&request, &headers);
        request.in_scope(|| {
            tracing::info!("inside the request");
            current_trace_context()
        })
    });

    let lines = json_lines(&buffer);
    let (_, span_id) = ids(&context.expect("the span is traced").traceparent);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["message"], "inside the request");
    assert_eq!(lines[0]["trace_id"], TRACE_ID, "the caller's trace");
    assert_eq!(
        lines[0]["span_id"],
        span_id.as_str(),
        "the request span's own id"
    );
    assert_ne!(lines[0]["span_id"], PARENT_ID);
}

#[test]
fn json_logs_carry_the_callers_trace_id_when_this_process_traces_nothing() {
    let buffer = Buffer::default();
    let headers = http_headers(&[("traceparent", TRACEPARENT)]);

    log_to(&buffer, LogFormat::Json, || {
        let request = info_span!("grpc.request");
        set_parent_from_headers(&request, &headers);
        request.in_scope(|| tracing::info!("inside the request"));
        info_span!("relay.publish").in_scope(|| tracing::info!("in an untraced span"));
        tracing::info!("outside every span");
    });

    let lines = json_lines(&buffer);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["trace_id"], TRACE_ID);
    assert_eq!(lines[0]["span_id"], PARENT_ID);
    for line in &lines[1..] {
        assert!(line.get("trace_id").is_none(), "{line}");
        assert!(line.get("span_id").is_none(), "{line}");
    }
}

#[test]
fn pretty_logs_are_text_for_a_terminal() {
    let buffer = Buffer::default();

    log_to(&buffer, LogFormat::Pretty, || {
        info_span!("handle_command", complaint_id = "c-1")
            .in_scope(|| tracing::info!("command accepted"));
    });

    let text = buffer.text();
    assert!(text.contains("command accepted"), "{text}");
    assert!(text.contains("complaint_id"), "{text}");
    assert!(serde_json::from_str::<serde_json::Value>(text.lines().next().unwrap_or("")).is_err());
}

#[test]
fn log_formats_parse_from_their_names_in_any_case() {
    assert_eq!("json".parse(), Ok(LogFormat::Json));
    assert_eq!("Pretty".parse(), Ok(LogFormat::Pretty));
    assert_eq!(LogFormat::default(), LogFormat::Json);
    assert_eq!(LogFormat::Pretty.to_string().parse(), Ok(LogFormat::Pretty));
}

#[test]
fn an_unknown_log_format_is_rejected_with_the_accepted_names() {
    let error = "yaml"
        .parse::<LogFormat>()
        .expect_err("yaml is not a log format");

    assert_eq!(error, UnknownLogFormat("yaml".to_owned()));
    assert_eq!(
        error.to_string(),
        r#"unknown log format "yaml": expected "json" or "pretty""#
    );
}

// ---- Metrics ----

const COUNTERS: [&str; 8] = [
    "redress_grpc_requests_total",
    "redress_append_conflicts_total",
    "redress_events_appended_total",
    "redress_relay_published_total",
    "redress_projection_events_applied_total",
    "redress_consumer_handled_total",
    "redress_consumer_redeliveries_total",
    "redress_consumer_parked_total",
];
const HISTOGRAMS: [&str; 2] = [
    "redress_grpc_request_duration_seconds",
    "redress_command_duration_seconds",
];
const GAUGES: [&str; 7] = [
    "redress_relay_backlog_events",
    "redress_relay_lag_seconds",
    "redress_projection_lag_seconds",
    "redress_horizon_age_seconds",
    "redress_consumer_parked_events",
    "redress_feed_position",
    "redress_feed_published_position",
];

#[test]
fn metric_names_are_exactly_the_ones_other_modules_emit() {
    let mut expected: Vec<&str> = COUNTERS
        .iter()
        .chain(&HISTOGRAMS)
        .chain(&GAUGES)
        .copied()
        .collect();
    let mut declared = names::ALL.to_vec();
    expected.sort_unstable();
    declared.sort_unstable();

    assert_eq!(declared, expected);
    assert_eq!(names::GRPC_REQUESTS_TOTAL, "redress_grpc_requests_total");
    assert_eq!(
        names::GRPC_REQUEST_DURATION_SECONDS,
        "redress_grpc_request_duration_seconds"
    );
    assert_eq!(
        names::COMMAND_DURATION_SECONDS,
        "redress_command_duration_seconds"
    );
    assert_eq!(
        names::APPEND_CONFLICTS_TOTAL,
        "redress_append_conflicts_total"
    );
    assert_eq!(
        names::EVENTS_APPENDED_TOTAL,
        "redress_events_appended_total"
    );
    assert_eq!(
        names::RELAY_PUBLISHED_TOTAL,
        "redress_relay_published_total"
    );
    assert_eq!(names::RELAY_BACKLOG_EVENTS, "redress_relay_backlog_events");
    assert_eq!(names::RELAY_LAG_SECONDS, "redress_relay_lag_seconds");
    assert_eq!(
        names::PROJECTION_LAG_SECONDS,
        "redress_projection_lag_seconds"
    );
    assert_eq!(
        names::PROJECTION_EVENTS_APPLIED_TOTAL,
        "redress_projection_events_applied_total"
    );
    assert_eq!(names::HORIZON_AGE_SECONDS, "redress_horizon_age_seconds");
    assert_eq!(
        names::CONSUMER_HANDLED_TOTAL,
        "redress_consumer_handled_total"
    );
    assert_eq!(
        names::CONSUMER_REDELIVERIES_TOTAL,
        "redress_consumer_redeliveries_total"
    );
    assert_eq!(
        names::CONSUMER_PARKED_TOTAL,
        "redress_consumer_parked_total"
    );
    assert_eq!(
        names::CONSUMER_PARKED_EVENTS,
        "redress_consumer_parked_events"
    );
    assert_eq!(names::FEED_POSITION, "redress_feed_position");
    assert_eq!(
        names::FEED_PUBLISHED_POSITION,
        "redress_feed_published_position"
    );
}

/// Records one value for every platform metric with the recorder current.
fn record_every_metric() {
    for name in COUNTERS {
        metrics::counter!(name, "service" => "complaints").increment(1);
    }
    for name in HISTOGRAMS {
        metrics::histogram!(name, "rpc" => "SubmitComplaint").record(0.02);
    }
    for name in GAUGES {
        metrics::gauge!(name, "service" => "complaints").set(2.0);
    }
}

#[test]
fn describe_metrics_gives_every_platform_metric_help_text_in_the_prometheus_output() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();

    metrics::with_local_recorder(&recorder, || {
        describe_metrics();
        record_every_metric();
    });

    let rendered = handle.render();
    for name in names::ALL {
        assert!(
            rendered.contains(&format!("# HELP {name} ")),
            "{name} is described:\n{rendered}"
        );
    }
    for name in COUNTERS {
        assert!(
            rendered.contains(&format!("# TYPE {name} counter")),
            "{name} is a counter"
        );
    }
    for name in GAUGES {
        assert!(
            rendered.contains(&format!("# TYPE {name} gauge")),
            "{name} is a gauge"
        );
    }
}

// ---- init, in child processes ----

/// Environment variable naming the scenario a child process runs.
const SCENARIO: &str = "REDRESS_TELEMETRY_SCENARIO";
/// The test the child process runs; it dispatches on `SCENARIO`.
const CHILD_TEST: &str = "init_scenario_in_a_child_process";

/// Runs `scenario` in a fresh copy of this test binary and returns its output.
fn run_in_child(scenario: &str, rust_log: &str) -> Output {
    let exe = std::env::current_exe().expect("Failed to find the test binary");
    Command::new(exe)
        .args([
            CHILD_TEST,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO, scenario)
        .env("RUST_LOG", rust_log)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .output()
        .expect("Failed to run the child test process")
}

fn assert_child_passed(scenario: &str, rust_log: &str) -> String {
    let output = run_in_child(scenario, rust_log);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "scenario {scenario} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
#[ignore = "child-process entry point for the init tests; needs REDRESS_TELEMETRY_SCENARIO"]
fn init_scenario_in_a_child_process() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    match scenario.as_str() {
        "json_logs_propagator_and_metrics" => json_logs_propagator_and_metrics(),
        "otlp_export" => otlp_export(),
        "init_twice" => init_twice(),
        "invalid_rust_log" => {
            expect_init_error(&TelemetryConfig::default(), "Failed to parse RUST_LOG")
        }
        "otlp_without_runtime" => {
            let config = otlp_config("http://127.0.0.1:4317");
            expect_init_error(&config, "needs a Tokio runtime");
        }
        "otlp_invalid_endpoint" => {
            in_runtime(|| expect_init_error(&otlp_config("not a uri"), "invalid endpoint"))
        }
        "otlp_https_endpoint" => {
            in_runtime(|| expect_init_error(&otlp_config("https://collector:4317"), "TLS"))
        }
        "otlp_empty_endpoint" => {
            in_runtime(|| expect_init_error(&otlp_config(" "), "otlp_endpoint is empty"))
        }
        "metrics_addr_in_use" => {
            let taken = TcpListener::bind("127.0.0.1:0").expect("Failed to bind a port");
            let config = TelemetryConfig {
                metrics_addr: Some(taken.local_addr().expect("bound address")),
                ..TelemetryConfig::default()
            };
            expect_init_error(&config, "Failed to start the Prometheus exporter");
        }
        "after_init_for_tests" => {
            telemetry::init_for_tests();
            expect_init_error(
                &TelemetryConfig::default(),
                "Failed to install the global tracing subscriber",
            );
        }
        "init_for_tests_twice" => init_for_tests_twice(),
        other => panic!("unknown scenario {other}"),
    }
}

fn otlp_config(endpoint: &str) -> TelemetryConfig {
    TelemetryConfig {
        otlp_endpoint: Some(endpoint.to_owned()),
        ..TelemetryConfig::default()
    }
}

fn in_runtime(f: impl FnOnce()) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("Failed to build a runtime");
    let _entered = runtime.enter();
    f();
}

fn expect_init_error(config: &TelemetryConfig, expected: &str) {
    let error = telemetry::init("complaints", config).expect_err("init should fail");
    let message = format!("{error:#}");
    assert!(
        message.contains(expected),
        "error {message:?} mentions {expected:?}"
    );
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("Failed to bind a port");
    listener.local_addr().expect("bound address")
}

fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("Failed to connect to the metrics listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set timeout");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response
}

fn json_logs_propagator_and_metrics() {
    in_runtime(|| {
        let metrics_addr = free_port();
        let config = TelemetryConfig {
            metrics_addr: Some(metrics_addr),
            ..TelemetryConfig::default()
        };
        let guard = telemetry::init("complaints", &config).expect("init succeeds");

        info_span!("handle_command", complaint_id = "c-42").in_scope(|| {
            tracing::info!("marker: command accepted");
            assert_eq!(current_trace_context(), None, "no OTel layer without OTLP");
        });
        tracing::debug!("marker: filtered out at info");
        let fields: Vec<String> = opentelemetry::global::get_text_map_propagator(|p| {
            p.fields().map(str::to_owned).collect()
        });
        assert_eq!(fields, ["traceparent", "tracestate"]);
        record_every_metric();
        let body = scrape(metrics_addr);
        for name in names::ALL {
            assert!(
                body.contains(&format!("# HELP {name} ")),
                "{name} described:\n{body}"
            );
        }
        assert!(
            body.contains("# TYPE redress_grpc_request_duration_seconds histogram"),
            "{body}"
        );
        assert!(
            body.contains("redress_command_duration_seconds_bucket{"),
            "{body}"
        );
        guard.shutdown().expect("shutdown without OTLP succeeds");
    });
}

fn otlp_export() {
    in_runtime(|| {
        // Nothing listens on this port: export fails, and init and shutdown must still complete.
        let config = otlp_config(&format!("http://{}", free_port()));
        let guard = telemetry::init("complaints", &config).expect("init succeeds");

        let context = info_span!("handle_command").in_scope(current_trace_context);
        let context = context.expect("an OTel layer gives spans a trace context");
        assert_eq!(ids(&context.traceparent).0.len(), 32);

        let started = Instant::now();
        drop(guard);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "shutdown is bounded"
        );
    });
}

fn init_twice() {
    let _guard =
        telemetry::init("complaints", &TelemetryConfig::default()).expect("first init succeeds");
    expect_init_error(&TelemetryConfig::default(), "already initialised");
}

fn init_for_tests_twice() {
    telemetry::init_for_tests();
    telemetry::init_for_tests();
    let context = info_span!("handle_command").in_scope(current_trace_context);
    assert!(
        context.is_some(),
        "test telemetry gives spans real trace contexts"
    );
    tracing::warn!("marker: test writer");
}

#[test]
fn init_writes_json_logs_sets_the_propagator_and_serves_described_metrics() {
    let stdout = assert_child_passed("json_logs_propagator_and_metrics", "info");

    let logs: Vec<serde_json::Value> = stdout
        .lines()
        // libtest's own output may precede a log line on the same line.
        .filter_map(|line| line.find('{').map(|start| &line[start..]))
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"))
        })
        .collect();
    let accepted = logs
        .iter()
        .find(|log| log["message"] == "marker: command accepted")
        .unwrap_or_else(|| panic!("the info event was logged:\n{stdout}"));
    assert_eq!(accepted["span"]["complaint_id"], "c-42");
    assert!(
        !stdout.contains("marker: filtered out"),
        "RUST_LOG=info drops debug events"
    );
}

#[test]
fn init_with_otlp_traces_spans_and_shuts_down_even_when_the_collector_is_unreachable() {
    assert_child_passed("otlp_export", "info");
}

#[test]
fn init_called_twice_fails_the_second_time() {
    assert_child_passed("init_twice", "info");
}

#[test]
fn init_fails_when_rust_log_is_invalid() {
    assert_child_passed("invalid_rust_log", "complaints=loudest");
}

#[test]
fn init_with_otlp_fails_outside_a_tokio_runtime() {
    assert_child_passed("otlp_without_runtime", "info");
}

#[test]
fn init_fails_when_the_otlp_endpoint_is_not_a_uri() {
    assert_child_passed("otlp_invalid_endpoint", "info");
}

#[test]
fn init_fails_when_the_otlp_endpoint_needs_tls() {
    assert_child_passed("otlp_https_endpoint", "info");
}

#[test]
fn init_fails_when_the_otlp_endpoint_is_blank() {
    assert_child_passed("otlp_empty_endpoint", "info");
}

#[test]
fn init_fails_when_the_metrics_address_is_in_use() {
    assert_child_passed("metrics_addr_in_use", "info");
}

#[test]
fn init_fails_when_a_global_subscriber_is_already_installed() {
    assert_child_passed("after_init_for_tests", "info");
}

#[test]
fn init_for_tests_is_idempotent_and_gives_spans_trace_contexts() {
    assert_child_passed("init_for_tests_twice", "");
}
