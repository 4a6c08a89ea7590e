//! `redress events show <stream id>`: one stream's events as JSON lines, for an operator reading
//! what happened to a case, or finding the position to move a relay back to.

use std::io::Write;

use anyhow::Context as _;
use platform::event_store::EventStore;
use platform::tail::RecordedEvent;
use prost_reflect::DescriptorPool;
use serde::Serialize;
use uuid::Uuid;

use crate::cli::EventsShowArgs;
use crate::payload::{self, JsonMessage};
use crate::services::Service;

/// One stored event as `events show` prints it.
#[derive(Debug, Serialize)]
pub struct EventLine {
    /// The service whose log holds it (as on the command line).
    pub service: &'static str,
    pub stream_type: String,
    pub stream_id: Uuid,
    pub version: u32,
    /// The fully qualified protobuf message name of the payload.
    pub event_type: String,
    pub event_id: Uuid,
    /// RFC 3339, UTC.
    pub recorded_at: String,
    /// The writing transaction's id: with `position`, the event's place in the log, as the
    /// `checkpoints` table records a reader's.
    pub transaction_id: u64,
    pub position: i64,
    pub metadata: EventMetadata,
    /// The payload in the protobuf JSON mapping, every field included; `null` when this build
    /// does not know the type or the payload does not decode.
    pub payload: Option<JsonMessage>,
    /// The raw payload, only when `payload` is `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
}

/// Who and what caused the event.
#[derive(Debug, Serialize)]
pub struct EventMetadata {
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub actor: String,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub policy_version: Option<String>,
    pub calendar_version: Option<String>,
}

impl EventLine {
    /// The line for `event` of `service`'s log, its payload decoded through `pool`.
    pub fn new(service: Service, event: RecordedEvent, pool: &DescriptorPool) -> EventLine {
        let payload = match payload::decode(pool, &event.event_type, &event.payload) {
            Ok(message) => Some(message),
            Err(e) => {
                tracing::warn!(event_id = %event.event_id, error = %e, "payload printed raw");
                None
            }
        };
        let metadata = event.metadata;
        EventLine {
            service: service.name(),
            payload_base64: payload.is_none().then(|| payload::base64(&event.payload)),
            payload,
            stream_type: event.stream_type,
            stream_id: event.stream_id,
            version: event.version,
            event_type: event.event_type,
            event_id: event.event_id,
            recorded_at: event.recorded_at.to_string(),
            transaction_id: event.position.transaction,
            position: event.position.sequence,
            metadata: EventMetadata {
                correlation_id: metadata.correlation_id,
                causation_id: metadata.causation_id,
                actor: metadata.actor,
                traceparent: metadata.traceparent,
                tracestate: metadata.tracestate,
                policy_version: metadata.policy_version,
                calendar_version: metadata.calendar_version,
            },
        }
    }
}

/// Writes the stream's events, service by service, in version order; returns how many.
///
/// # Errors
/// When a service's log cannot be read, the output cannot be written, or no selected service
/// has the stream.
pub async fn show(args: &EventsShowArgs, out: &mut impl Write) -> anyhow::Result<usize> {
    let pool = payload::descriptor_pool()?;
    let services = args.service.map_or(Service::ALL.to_vec(), |s| vec![s]);
    let mut shown = 0;
    for service in &services {
        let db = platform::pg::connect(&args.database.database_url, service.schema(), 1)
            .await
            .with_context(|| format!("Failed to connect to PostgreSQL for {}", service.name()))?;
        let events = EventStore::new(db.clone())
            .read_stream(args.stream_id, 0)
            .await
            .with_context(|| {
                format!(
                    "Failed to read the {} log (--service reads one service's only)",
                    service.name()
                )
            })?;
        db.close().await;
        for event in events {
            let mut line = serde_json::to_vec(&EventLine::new(*service, event, &pool))
                .context("Failed to encode an event as JSON")?;
            line.push(b'\n');
            out.write_all(&line).context("Failed to write an event")?;
            shown += 1;
        }
    }
    out.flush().context("Failed to write the events")?;
    anyhow::ensure!(
        shown > 0,
        "no stream {} in the log of {}",
        args.stream_id,
        services
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(shown)
}
