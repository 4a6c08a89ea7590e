//! The link to the complaints context: a durable consumer of `COMPLAINTS` that records who is
//! connected with each inspection, for the reviewer's independence check.
//!
//! | complaints event | recorded as |
//! |---|---|
//! | `InspectionNotified` | `InspectionConnectionsRecorded` (lead and team, `inspection_team`) |
//! | `ConcernRaised` | `CaseLinkRecorded` (concern → inspection) |
//! | `ConcernAssigned` | `InspectionConnectionsRecorded` (the handler, `concern_handler`, on the concern's inspection) |
//! | `ComplaintSubmitted` | `CaseLinkRecorded` (complaint → inspection) |
//! | `InvestigatorAssigned` | `InspectionConnectionsRecorded` (`complaint_investigator`, on the complaint's inspection) |
//! | `ComplaintResponseIssued` | `InspectionConnectionsRecorded` (`decided_by_ref`, `complaint_decision_maker`) |
//!
//! The consumer reads in order (one message in flight), so a concern or complaint is linked
//! before anyone is assigned to it; an assignment to a case never linked is parked.

use jiff::Timestamp;
use platform::aggregate::is_message_named;
use platform::consumer::{ConsumerSpec, Delivery, HandleError, Handler};
use platform::nats::Namespace;
use proto::complaints::v1 as complaints;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{decode, execute, id, load, metadata};
use crate::domain::Connection;
use crate::domain::connections::{CaseLink, InspectionConnections, RecordConnections, RecordLink};
use crate::domain::instant;

/// The complaints context's service name (its stream is `COMPLAINTS`).
pub const COMPLAINTS: &str = "complaints";

/// The durable consumer's name.
pub const DURABLE: &str = "learning-reviews-complaints-policy";

/// The complaints events this link reads.
pub const EVENTS: [&str; 6] = [
    "inspection_notified",
    "concern_raised",
    "concern_assigned",
    "complaint_submitted",
    "investigator_assigned",
    "complaint_response_issued",
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

/// Copies the connections of inspections from the complaints context.
#[derive(Clone, Copy, Debug, Default)]
pub struct ComplaintsLink;

/// What a complaints event asks for.
enum Fact {
    Connections(RecordConnections),
    Link(RecordLink),
    /// People connected with the inspection a case is about, once the case's link is known.
    OnCase {
        case_id: Uuid,
        people_refs: Vec<String>,
        connection: Connection,
        at: Timestamp,
    },
}

/// What a complaints event asks for. Every event on the subjects this link reads asks for
/// something; any other type or version is [`HandleError::unknown_type`].
fn fact(delivery: &Delivery) -> Result<Fact, HandleError> {
    let kind = delivery.event_type.as_str();
    if is_message_named::<complaints::InspectionNotified>(kind) {
        let e: complaints::InspectionNotified = decode(delivery)?;
        let mut people = vec![e.lead_inspector_ref];
        people.extend(e.team_inspector_refs);
        return Ok(Fact::Connections(RecordConnections {
            inspection_id: id("inspection_id", &e.inspection_id)?,
            people_refs: people,
            connection: Connection::InspectionTeam,
            now: instant(e.notified_at.as_ref()),
        }));
    }
    if is_message_named::<complaints::ConcernRaised>(kind) {
        let e: complaints::ConcernRaised = decode(delivery)?;
        return Ok(Fact::Link(RecordLink {
            case_id: id("concern_id", &e.concern_id)?,
            inspection_id: id("inspection_id", &e.inspection_id)?,
            case_ref: String::new(),
            now: instant(e.raised_at.as_ref()),
        }));
    }
    if is_message_named::<complaints::ConcernAssigned>(kind) {
        let e: complaints::ConcernAssigned = decode(delivery)?;
        return Ok(Fact::OnCase {
            case_id: id("concern_id", &e.concern_id)?,
            people_refs: vec![e.handler_ref],
            connection: Connection::ConcernHandler,
            at: instant(e.assigned_at.as_ref()),
        });
    }
    if is_message_named::<complaints::ComplaintSubmitted>(kind) {
        let e: complaints::ComplaintSubmitted = decode(delivery)?;
        return Ok(Fact::Link(RecordLink {
            case_id: id("complaint_id", &e.complaint_id)?,
            inspection_id: id("inspection_id", &e.inspection_id)?,
            case_ref: String::new(),
            now: instant(e.submitted_at.as_ref()),
        }));
    }
    if is_message_named::<complaints::InvestigatorAssigned>(kind) {
        let e: complaints::InvestigatorAssigned = decode(delivery)?;
        return Ok(Fact::OnCase {
            case_id: id("complaint_id", &e.complaint_id)?,
            people_refs: vec![e.investigator_ref],
            connection: Connection::ComplaintInvestigator,
            at: instant(e.assigned_at.as_ref()),
        });
    }
    if is_message_named::<complaints::ComplaintResponseIssued>(kind) {
        let e: complaints::ComplaintResponseIssued = decode(delivery)?;
        return Ok(Fact::OnCase {
            case_id: id("complaint_id", &e.complaint_id)?,
            people_refs: vec![e.decided_by_ref],
            connection: Connection::ComplaintDecisionMaker,
            at: instant(e.responded_at.as_ref()),
        });
    }
    Err(HandleError::unknown_type(kind))
}

impl Handler for ComplaintsLink {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        delivery: &Delivery,
    ) -> Result<(), HandleError> {
        let fact = fact(delivery)?;
        let metadata = metadata("system:complaints-link", delivery);
        match fact {
            Fact::Connections(command) => {
                let inspection = command.inspection_id;
                execute::<InspectionConnections>(conn, inspection, command, &metadata).await
            }
            Fact::Link(command) => {
                let case = command.case_id;
                execute::<CaseLink>(conn, case, command, &metadata).await
            }
            Fact::OnCase {
                case_id,
                people_refs,
                connection,
                at,
            } => {
                let link: CaseLink = load(conn, case_id).await?;
                let Some(inspection_id) = link.inspection_id() else {
                    return Err(HandleError::Permanent(anyhow::anyhow!(
                        "no inspection is recorded for case {case_id}"
                    )));
                };
                let command = RecordConnections {
                    inspection_id,
                    people_refs,
                    connection,
                    now: at,
                };
                execute::<InspectionConnections>(conn, inspection_id, command, &metadata).await
            }
        }
    }
}
