//! The policy linking the contexts: a durable consumer of the complaints stream that copies what
//! escalation needs into escalation's own `ComplaintRecord` events (design rule 7).
//!
//! | complaints event | recorded as |
//! |---|---|
//! | `ComplaintSubmitted` | `ComplaintSubmissionRecorded` (provider, remit, dates, documents) |
//! | `ComplaintInformationAdded` | `ComplaintInformationRecorded` |
//! | `ComplaintResponseOverdue` | `ComplaintResponseOverdueRecorded` |
//! | `EscalationRightsNotified` | `ComplaintResponseRecorded` (outcome, window, response letter) |
//! | `ComplaintWithdrawn` | `ComplaintWithdrawalRecorded` |
//!
//! Each command runs in the consumer's transaction beside the inbox record, so each complaints
//! event takes effect once however often it is delivered. A fact that cannot be recorded (a
//! payload this build cannot read, a fact about a complaint whose submission was never
//! recorded) is parked for an operator; a lost race is retried.

use platform::aggregate::is_message_named;
use platform::consumer::{ConsumerSpec, Delivery, HandleError, Handler};
use platform::event_store::{ExecuteError, within};
use platform::nats::{Namespace, headers};
use platform::tail::Metadata;
use prost::Message;
use proto::complaints::v1 as complaints;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::complaint_record::{Command, ComplaintRecord};
use crate::domain::v1;

/// The complaints context's service name (its stream is `COMPLAINTS`).
pub const COMPLAINTS: &str = "complaints";

/// The durable consumer's name.
pub const DURABLE: &str = "escalation-complaints-policy";

/// The complaints events this policy reads.
const EVENTS: [&str; 5] = [
    "complaint_submitted",
    "complaint_information_added",
    "complaint_response_overdue",
    "escalation_rights_notified",
    "complaint_withdrawn",
];

/// The durable consumer of the complaints stream, in order (one message in flight).
pub fn consumer_spec(namespace: &Namespace) -> ConsumerSpec {
    let root = namespace.subject_root(COMPLAINTS);
    ConsumerSpec::new(
        &namespace.stream_name(COMPLAINTS),
        DURABLE,
        EVENTS.iter().map(|e| format!("{root}.{e}.>")).collect(),
    )
}

/// Copies complaint facts into complaint records.
#[derive(Clone, Copy, Debug, Default)]
pub struct ComplaintsPolicy;

fn decode<M: Message + Default>(delivery: &Delivery) -> Result<M, HandleError> {
    M::decode(delivery.payload.as_ref()).map_err(|e| {
        HandleError::Permanent(anyhow::anyhow!(
            "undecodable {} payload: {e}",
            delivery.event_type
        ))
    })
}

fn complaint_id(text: &str) -> Result<Uuid, HandleError> {
    Uuid::parse_str(text)
        .map_err(|_| HandleError::Permanent(anyhow::anyhow!("event names no valid complaint id")))
}

/// The command a complaints event asks for. Every event on the subjects this policy reads asks
/// for one; any other type or version is [`HandleError::unknown_type`].
fn command(delivery: &Delivery) -> Result<(Uuid, Command), HandleError> {
    let kind = delivery.event_type.as_str();
    if is_message_named::<complaints::ComplaintSubmitted>(kind) {
        let e: complaints::ComplaintSubmitted = decode(delivery)?;
        return Ok((
            complaint_id(&e.complaint_id)?,
            Command::RecordSubmission(v1::ComplaintSubmissionRecorded {
                complaint_id: e.complaint_id,
                inspection_id: e.inspection_id,
                provider_id: e.provider_id,
                // The escalation remit mirrors the complaints numbering value for value.
                remit: e.remit,
                submitted_at: e.submitted_at,
                draft_issued_at: e.draft_issued_at,
                last_onsite_on: e.last_onsite_date,
                doc_refs: e.doc_refs,
            }),
        ));
    }
    if is_message_named::<complaints::ComplaintInformationAdded>(kind) {
        let e: complaints::ComplaintInformationAdded = decode(delivery)?;
        return Ok((
            complaint_id(&e.complaint_id)?,
            Command::RecordInformation(v1::ComplaintInformationRecorded {
                complaint_id: e.complaint_id,
                doc_ref: e.doc_ref,
                added_at: e.added_at,
            }),
        ));
    }
    if is_message_named::<complaints::ComplaintResponseOverdue>(kind) {
        let e: complaints::ComplaintResponseOverdue = decode(delivery)?;
        return Ok((
            complaint_id(&e.complaint_id)?,
            Command::RecordResponseOverdue(v1::ComplaintResponseOverdueRecorded {
                complaint_id: e.complaint_id,
                response_due_at: e.response_due_at,
                detected_at: e.detected_at,
            }),
        ));
    }
    if is_message_named::<complaints::EscalationRightsNotified>(kind) {
        let e: complaints::EscalationRightsNotified = decode(delivery)?;
        let id = complaint_id(&e.complaint_id)?;
        return Ok((
            id,
            Command::RecordResponse(v1::ComplaintResponseRecorded {
                complaint_id: e.complaint_id,
                // Filled from the complaint record when recorded.
                inspection_id: String::new(),
                // The same numbering in both contexts.
                outcome: e.outcome,
                response_issued_at: e.notified_at,
                escalation_window_closes_at: e.window_closes_at,
                policy_version: e.policy_version,
                calendar_version: e.calendar_version,
                response_doc_ref: e.response_doc_ref,
            }),
        ));
    }
    if is_message_named::<complaints::ComplaintWithdrawn>(kind) {
        let e: complaints::ComplaintWithdrawn = decode(delivery)?;
        return Ok((
            complaint_id(&e.complaint_id)?,
            Command::RecordWithdrawal(v1::ComplaintWithdrawalRecorded {
                complaint_id: e.complaint_id,
                inspection_id: String::new(),
                withdrawn_at: e.withdrawn_at,
            }),
        ));
    }
    Err(HandleError::unknown_type(kind))
}

impl Handler for ComplaintsPolicy {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        delivery: &Delivery,
    ) -> Result<(), HandleError> {
        let (id, command) = command(delivery)?;
        let correlation = delivery
            .headers
            .get(headers::CORRELATION_ID)
            .and_then(|v| Uuid::parse_str(v.as_str()).ok())
            .unwrap_or_else(Uuid::now_v7);
        let metadata = Metadata::for_command(
            "system:complaints-policy",
            correlation,
            Some(delivery.event_id),
        );
        match within::execute::<ComplaintRecord>(conn, id, command, &metadata).await {
            Ok(_) => Ok(()),
            Err(ExecuteError::Rejected(rejection)) => Err(HandleError::Permanent(
                anyhow::Error::new(rejection).context(format!("complaint {id}")),
            )),
            Err(ExecuteError::Conflict { .. }) => Err(HandleError::Transient(anyhow::anyhow!(
                "complaint record {id} changed meanwhile"
            ))),
            Err(e) => Err(HandleError::Transient(anyhow::Error::new(e))),
        }
    }
}
