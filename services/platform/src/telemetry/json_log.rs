//! The JSON log line: tracing-subscriber's JSON format, plus the trace and span ids of the
//! current span, so a log line leads to its trace and a trace to its log lines.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Adds `"trace_id"` and `"span_id"` (lowercase hex, as in a W3C `traceparent`) at the top level
/// of each line whose current span belongs to a trace, that is when
/// [`current_trace_context`](super::current_trace_context) would have one: with OTLP export, the
/// current span's own ids; without, the trace and span of the caller whose context the request
/// or message carried. Lines outside any traced span are left as they are.
#[derive(Debug)]
pub(super) struct JsonWithTraceIds(pub(super) Format<Json>);

impl<S, N> FormatEvent<S, N> for JsonWithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Read before formatting starts: both look into the span's extensions, never at once.
        let ids = super::propagation::log_trace_context(ctx.lookup_current()).and_then(|context| {
            let mut fields = context.traceparent.split('-').skip(1);
            Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
        });
        let Some((trace_id, span_id)) = ids else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        // The JSON format writes one non-empty object (it always has a timestamp and a level)
        // and a newline; the ids are hex, so they need no escaping.
        match line.trim_end().strip_suffix('}') {
            Some(object) => writeln!(
                writer,
                "{object},\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"}}"
            ),
            None => writer.write_str(&line),
        }
    }
}
