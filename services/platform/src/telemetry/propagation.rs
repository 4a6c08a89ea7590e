//! W3C Trace Context propagation: how a command's trace follows it from the gRPC call through the
//! event store and NATS into every projection.
//!
//! The path, and the function used at each hop:
//! 1. gRPC server: [`set_parent_from_headers`] on the request span.
//! 2. Event store: [`current_trace_context`], stored in the `traceparent` and `tracestate` columns.
//! 3. Relay and projections: [`set_parent_from_trace_context`] on the span that handles the
//!    stored event.
//! 4. Relay publishing: [`inject_current_into_nats`] (or [`inject_nats_headers`]) on the message
//!    headers.
//! 5. Consumers: [`set_parent_from_nats`] on the span that handles the message.
//!
//! These functions speak W3C Trace Context directly instead of going through the global
//! propagator, so they behave the same in tests that never call [`init`](super::init).
//!
//! # What callers can rely on
//! * Nothing here panics or returns an error: telemetry never fails a request or a message.
//! * A missing or malformed `traceparent` (wrong length, not lowercase hex, version `ff`, an
//!   all-zero id, extra fields after a version `00` value) is ignored: the span keeps its local
//!   parent, or starts a new trace if it has none. The check is stricter than the OpenTelemetry
//!   SDK's parser, which accepts ids shorter than W3C allows.
//! * Parents must be set on a new span **before it is first entered** (so before `in_scope`,
//!   `enter`, `instrument` polls it, or `#[instrument]` runs the body). After that the span's
//!   trace is fixed; a late call logs a warning and changes nothing.
//! * Those spans should be `INFO` or above: [`init`](super::init) traces nothing below `INFO`,
//!   and a parent set on an untraced span is lost.
//! * Without an OpenTelemetry layer (OTLP not configured) spans have no trace ids of their own.
//!   The incoming context is then remembered on the span, and [`current_trace_context`] returns
//!   it unchanged from that span and its descendants: the trace passes through this process,
//!   which adds no spans to it. With no remembered context it returns `None`, never an all-zero
//!   `traceparent`. Remembering needs a subscriber built on `tracing_subscriber::Registry`, as
//!   every subscriber in this crate is.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::{OpenTelemetrySpanExt, SetParentError};
use tracing_subscriber::registry::{LookupSpan, Registry, SpanRef};

use super::carriers::{HeaderExtractor, HeaderInjector, NatsHeaderExtractor, NatsHeaderInjector};

/// Header (and metadata key) carrying the W3C `traceparent`.
pub const TRACEPARENT: &str = "traceparent";
/// Header (and metadata key) carrying the W3C `tracestate`.
pub const TRACESTATE: &str = "tracestate";

/// A span's W3C trace context in its header form, as stored beside each event.
///
/// Values produced by this module are canonical: `traceparent` is
/// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>` and `tracestate` is `None` rather than
/// empty. Values read back from storage are validated again wherever they are used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The W3C `traceparent` value.
    pub traceparent: String,
    /// The W3C `tracestate` value, when the trace carries vendor state.
    pub tracestate: Option<String>,
}

/// Reads a stored [`TraceContext`] as if it were a pair of headers.
impl Extractor for TraceContext {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => Some(&self.traceparent),
            TRACESTATE => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        match self.tracestate {
            Some(_) => vec![TRACEPARENT, TRACESTATE],
            None => vec![TRACEPARENT],
        }
    }
}

/// Makes the W3C context in gRPC request headers the parent of `span`.
///
/// Call it on the request span before the span is first entered. Missing or malformed headers
/// leave the span as it was (see the module docs).
pub fn set_parent_from_headers(span: &Span, headers: &http::HeaderMap) {
    set_parent_from(span, &HeaderExtractor(headers), "grpc");
}

/// Makes the W3C context in NATS message headers the parent of `span`.
///
/// Call it on the span that handles the message, before the span is first entered.
pub fn set_parent_from_nats(span: &Span, headers: &async_nats::HeaderMap) {
    set_parent_from(span, &NatsHeaderExtractor(headers), "nats");
}

/// Makes a stored event's trace context the parent of `span`.
///
/// Used by the relay and projections when handling an event read back from the store. Call it
/// before the span is first entered.
pub fn set_parent_from_trace_context(span: &Span, context: &TraceContext) {
    set_parent_from(span, context, "event");
}

/// The trace context of the current span, ready to be stored with an event or sent onwards.
///
/// With an OpenTelemetry layer, the `traceparent` names the current span's trace and its own
/// span id. Without one it is the context remembered by a `set_parent_from_*` call on the
/// current span or an ancestor, unchanged. `None` when there is neither, or when there is no
/// current span.
pub fn current_trace_context() -> Option<TraceContext> {
    let span = Span::current();
    trace_context_of(span.context().span().span_context())
        // The current span may be filtered out of tracing while an enclosing one is traced;
        // the OpenTelemetry context activated on entering that span still names it.
        .or_else(|| trace_context_of(Context::current().span().span_context()))
        .or_else(|| remembered_parent(&span))
}

/// Writes `context` into NATS headers as `traceparent` (and `tracestate` when present).
///
/// The context is validated and written in canonical form. An invalid `traceparent` leaves the
/// headers unchanged; an invalid `tracestate` is dropped.
pub fn inject_nats_headers(context: &TraceContext, headers: &mut async_nats::HeaderMap) {
    if let Some(canonical) = remote_span_context(context).and_then(|sc| trace_context_of(&sc)) {
        write(&canonical, &mut NatsHeaderInjector(headers));
    }
}

/// Writes [`current_trace_context`] into NATS headers; leaves them unchanged when it is `None`.
pub fn inject_current_into_nats(headers: &mut async_nats::HeaderMap) {
    if let Some(context) = current_trace_context() {
        write(&context, &mut NatsHeaderInjector(headers));
    }
}

/// Writes [`current_trace_context`] into HTTP/2 headers (for outgoing gRPC calls, e.g. from a
/// client interceptor via `request.metadata_mut().as_mut()`); leaves them unchanged when it is
/// `None`.
pub fn inject_current_into_headers(headers: &mut http::HeaderMap) {
    if let Some(context) = current_trace_context() {
        write(&context, &mut HeaderInjector(headers));
    }
}

/// The extension that carries a remote parent through spans when no OpenTelemetry layer exists.
struct RemoteParent(TraceContext);

fn set_parent_from(span: &Span, carrier: &dyn Extractor, source: &'static str) {
    let Some(remote) = remote_span_context(carrier) else {
        if let Some(traceparent) = carrier.get(TRACEPARENT) {
            tracing::debug!(source, ?traceparent, "ignoring a malformed traceparent");
        }
        return;
    };
    match span.set_parent(Context::new().with_remote_span_context(remote.clone())) {
        Ok(()) => {}
        Err(SetParentError::LayerNotFound) => {
            if let Some(context) = trace_context_of(&remote) {
                remember_parent(span, context);
            }
        }
        Err(SetParentError::AlreadyStarted) => tracing::warn!(
            source,
            "the span was already entered, so its trace parent can no longer be set; \
             set it right after creating the span"
        ),
        // A disabled span records nothing, so there is nothing to attach the parent to.
        Err(SetParentError::SpanDisabled) => {}
    }
}

/// The valid remote span context in `carrier`, if any.
fn remote_span_context(carrier: &dyn Extractor) -> Option<SpanContext> {
    let traceparent = carrier.get(TRACEPARENT)?.trim();
    if !is_well_formed_traceparent(traceparent) {
        return None;
    }
    let context = TraceContextPropagator::new().extract(carrier);
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

/// W3C Trace Context §3.2: `version-traceid-parentid-flags`, lowercase hex of 2, 32, 16 and 2
/// digits; version `ff` and all-zero ids are invalid; version `00` has exactly four fields, later
/// versions may append more.
fn is_well_formed_traceparent(value: &str) -> bool {
    let mut fields = value.split('-');
    let (Some(version), Some(trace_id), Some(parent_id), Some(flags)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let has_more_fields = fields.next().is_some();
    is_lower_hex(version, 2)
        && version != "ff"
        && !(version == "00" && has_more_fields)
        && is_lower_hex(trace_id, 32)
        && is_lower_hex(parent_id, 16)
        && is_lower_hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && parent_id.bytes().any(|b| b != b'0')
}

fn is_lower_hex(field: &str, len: usize) -> bool {
    field.len() == len
        && field
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The canonical header form of a valid span context; `None` for an invalid one.
fn trace_context_of(span_context: &SpanContext) -> Option<TraceContext> {
    if !span_context.is_valid() {
        return None;
    }
    let mut fields = HashMap::new();
    let context = Context::new().with_remote_span_context(span_context.clone());
    TraceContextPropagator::new().inject_context(&context, &mut fields);
    Some(TraceContext {
        traceparent: fields.remove(TRACEPARENT)?,
        tracestate: fields.remove(TRACESTATE).filter(|state| !state.is_empty()),
    })
}

fn write(context: &TraceContext, injector: &mut dyn Injector) {
    injector.set(TRACEPARENT, context.traceparent.clone());
    if let Some(state) = &context.tracestate {
        injector.set(TRACESTATE, state.clone());
    }
}

fn remember_parent(span: &Span, context: TraceContext) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(span) = dispatch.downcast_ref::<Registry>().and_then(|r| r.span(id)) {
            span.extensions_mut().replace(RemoteParent(context));
        }
    });
}

/// The trace context of the span a log event is in, for the log line: [`current_trace_context`]
/// as seen from inside the subscriber, where `Span::current()` is not available (tracing does
/// not dispatch re-entrantly) but the OpenTelemetry context entered with the span is, and so is
/// the span itself through the formatter's context.
pub(super) fn log_trace_context<R>(current: Option<SpanRef<'_, R>>) -> Option<TraceContext>
where
    R: for<'a> LookupSpan<'a>,
{
    trace_context_of(Context::current().span().span_context()).or_else(|| {
        current?
            .scope()
            .find_map(|s| s.extensions().get::<RemoteParent>().map(|p| p.0.clone()))
    })
}

fn remembered_parent(span: &Span) -> Option<TraceContext> {
    span.with_subscriber(|(id, dispatch)| {
        let span = dispatch.downcast_ref::<Registry>()?.span(id)?;
        span.scope()
            .find_map(|s| s.extensions().get::<RemoteParent>().map(|p| p.0.clone()))
    })
    .flatten()
}
