//! The links to the other contexts: durable consumers of their JetStream streams that copy the
//! facts learning reviews need into learning reviews' own events (design rule 7, ADR 5).
//!
//! * [`complaints`]: from `COMPLAINTS`, the people connected with each inspection — its team,
//!   its concern handlers, complaint investigators and decision makers — for the reviewer's
//!   independence check.
//! * [`escalation`]: from `ESCALATION`, the adjudicator's recommendations and the inspectorate's
//!   decision and implementation of each, for the recommendation register.
//!
//! Each command runs in the consumer's transaction beside the inbox record
//! (`platform::event_store::within`), so each event takes effect once however often it is
//! delivered. A fact that cannot be recorded (a payload this build cannot read, a fact about a
//! case or recommendation that was never recorded) is parked for an operator; a lost race is
//! retried.

pub mod complaints;
pub mod escalation;

use platform::aggregate::Aggregate;
use platform::consumer::{Delivery, HandleError};
use platform::event_store::{ExecuteError, within};
use platform::nats::headers;
use platform::tail::Metadata;
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

/// The payload as `M`, or a permanent failure.
fn decode<M: Message + Default>(delivery: &Delivery) -> Result<M, HandleError> {
    M::decode(delivery.payload.as_ref()).map_err(|e| {
        HandleError::Permanent(anyhow::anyhow!(
            "undecodable {} payload: {e}",
            delivery.event_type
        ))
    })
}

/// A UUID field of the payload, or a permanent failure naming the field.
fn id(field: &'static str, text: &str) -> Result<Uuid, HandleError> {
    Uuid::parse_str(text)
        .map_err(|_| HandleError::Permanent(anyhow::anyhow!("event has no valid {field}")))
}

/// The metadata of a command issued for `delivery`: the policy as actor, the delivery's
/// correlation, the integration event as cause.
fn metadata(actor: &str, delivery: &Delivery) -> Metadata {
    let correlation = delivery
        .headers
        .get(headers::CORRELATION_ID)
        .and_then(|v| Uuid::parse_str(v.as_str()).ok())
        .unwrap_or_else(Uuid::now_v7);
    Metadata::for_command(actor, correlation, Some(delivery.event_id))
}

/// Loads a stream in the consumer's transaction.
async fn load<A: Aggregate>(conn: &mut PgConnection, id: Uuid) -> Result<A, HandleError> {
    within::load::<A>(conn, id)
        .await
        .map(|(state, _)| state)
        .map_err(|e| failure(e, id))
}

/// Runs one command in the consumer's transaction.
async fn execute<A: Aggregate>(
    conn: &mut PgConnection,
    id: Uuid,
    command: A::Command,
    metadata: &Metadata,
) -> Result<(), HandleError> {
    within::execute::<A>(conn, id, command, metadata)
        .await
        .map(drop)
        .map_err(|e| failure(e, id))
}

/// A broken rule or a stream of another type will never succeed; a lost race may.
fn failure<R: std::error::Error + Send + Sync + 'static>(
    error: ExecuteError<R>,
    id: Uuid,
) -> HandleError {
    match error {
        ExecuteError::Rejected(rejection) => {
            HandleError::Permanent(anyhow::Error::new(rejection).context(format!("stream {id}")))
        }
        ExecuteError::WrongStreamType(_) => HandleError::Permanent(anyhow::anyhow!(
            "stream {id} belongs to another aggregate type"
        )),
        ExecuteError::Conflict { .. } => {
            HandleError::Transient(anyhow::anyhow!("stream {id} changed meanwhile"))
        }
        e => HandleError::Transient(anyhow::Error::new(e)),
    }
}
