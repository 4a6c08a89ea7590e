//! The link to the escalation context: a durable consumer of `ESCALATION` that copies the
//! adjudicator's recommendations and the inspectorate's decisions on them into the register.
//!
//! | escalation event | recorded as |
//! |---|---|
//! | `EscalationRequested` | `CaseLinkRecorded` (escalation → inspection, with its `case_ref`) |
//! | `AdjudicationFindingsIssued` | `RegisterRecommendationRecorded` per recommendation (kind by enum name) |
//! | `RecommendationAccepted` | `RegisterDecisionRecorded` (`REGISTER_DECISION_ACCEPTED`) |
//! | `RecommendationDeclined` | `RegisterDecisionRecorded` (`REGISTER_DECISION_DECLINED`, the public reason) |
//! | `RecommendationImplemented` | `RegisterImplementationRecorded` |
//!
//! The consumer reads in order, so an escalation's request precedes its findings; findings for
//! an escalation never recorded, and decisions on a recommendation never recorded, are parked.

use platform::aggregate::is_message_named;
use platform::consumer::{ConsumerSpec, Delivery, HandleError, Handler};
use platform::nats::Namespace;
use proto::escalation::v1 as escalation;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{decode, execute, id, load, metadata};
use crate::domain::connections::{CaseLink, RecordLink};
use crate::domain::register::{Command, RegisterEntry, entry_id};
use crate::domain::{RecommendationSource, RegisterDecision, instant, v1};

/// The escalation context's service name (its stream is `ESCALATION`).
pub const ESCALATION: &str = "escalation";

/// The durable consumer's name.
pub const DURABLE: &str = "learning-reviews-escalation-policy";

/// The escalation events this link reads.
pub const EVENTS: [&str; 5] = [
    "escalation_requested",
    "adjudication_findings_issued",
    "recommendation_accepted",
    "recommendation_declined",
    "recommendation_implemented",
];

/// The durable consumer of the escalation stream, in order (one message in flight).
pub fn consumer_spec(namespace: &Namespace) -> ConsumerSpec {
    let root = namespace.subject_root(ESCALATION);
    ConsumerSpec::new(
        &namespace.stream_name(ESCALATION),
        DURABLE,
        EVENTS.iter().map(|e| format!("{root}.{e}.>")).collect(),
    )
}

/// Copies the adjudicator's recommendations into the register.
#[derive(Clone, Copy, Debug, Default)]
pub struct EscalationLink;

const SOURCE: RecommendationSource = RecommendationSource::Adjudication;

/// The register entry of an escalation's recommendation.
fn entry(escalation_id: &str, recommendation_id: &str) -> Result<Uuid, HandleError> {
    let case = id("escalation_id", escalation_id)?;
    Ok(entry_id(SOURCE, case, recommendation_id))
}

impl Handler for EscalationLink {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        delivery: &Delivery,
    ) -> Result<(), HandleError> {
        let kind = delivery.event_type.as_str();
        let metadata = metadata("system:escalation-link", delivery);
        if is_message_named::<escalation::EscalationRequested>(kind) {
            let e: escalation::EscalationRequested = decode(delivery)?;
            let case_id = id("escalation_id", &e.escalation_id)?;
            let command = RecordLink {
                case_id,
                inspection_id: id("inspection_id", &e.inspection_id)?,
                case_ref: e.case_ref,
                now: instant(e.requested_at.as_ref()),
            };
            return execute::<CaseLink>(conn, case_id, command, &metadata).await;
        }
        if is_message_named::<escalation::AdjudicationFindingsIssued>(kind) {
            let e: escalation::AdjudicationFindingsIssued = decode(delivery)?;
            let case_id = id("escalation_id", &e.escalation_id)?;
            let link: CaseLink = load(conn, case_id).await?;
            if link.inspection_id().is_none() {
                return Err(HandleError::Permanent(anyhow::anyhow!(
                    "no request is recorded for escalation {case_id}"
                )));
            }
            for r in e.recommendations {
                let stream = entry_id(SOURCE, case_id, &r.recommendation_id);
                let kind = escalation::RecommendationKind::try_from(r.kind)
                    .map(|k| k.as_str_name().to_owned())
                    .unwrap_or_default();
                let command = Command::RecordRecommendation(v1::RegisterRecommendationRecorded {
                    source: SOURCE.to_proto(),
                    case_id: e.escalation_id.clone(),
                    case_ref: link.case_ref().to_owned(),
                    recommendation_id: r.recommendation_id,
                    kind,
                    issued_at: e.issued_at,
                });
                execute::<RegisterEntry>(conn, stream, command, &metadata).await?;
            }
            return Ok(());
        }
        if is_message_named::<escalation::RecommendationAccepted>(kind) {
            let e: escalation::RecommendationAccepted = decode(delivery)?;
            let stream = entry(&e.escalation_id, &e.recommendation_id)?;
            let command = Command::RecordDecision(v1::RegisterDecisionRecorded {
                source: SOURCE.to_proto(),
                case_id: e.escalation_id,
                recommendation_id: e.recommendation_id,
                decision: RegisterDecision::Accepted.to_proto(),
                public_reason_ref: String::new(),
                decided_at: e.accepted_at,
            });
            return execute::<RegisterEntry>(conn, stream, command, &metadata).await;
        }
        if is_message_named::<escalation::RecommendationDeclined>(kind) {
            let e: escalation::RecommendationDeclined = decode(delivery)?;
            let stream = entry(&e.escalation_id, &e.recommendation_id)?;
            let command = Command::RecordDecision(v1::RegisterDecisionRecorded {
                source: SOURCE.to_proto(),
                case_id: e.escalation_id,
                recommendation_id: e.recommendation_id,
                decision: RegisterDecision::Declined.to_proto(),
                public_reason_ref: e.public_reason_ref,
                decided_at: e.declined_at,
            });
            return execute::<RegisterEntry>(conn, stream, command, &metadata).await;
        }
        if is_message_named::<escalation::RecommendationImplemented>(kind) {
            let e: escalation::RecommendationImplemented = decode(delivery)?;
            let stream = entry(&e.escalation_id, &e.recommendation_id)?;
            let command = Command::RecordImplementation(v1::RegisterImplementationRecorded {
                source: SOURCE.to_proto(),
                case_id: e.escalation_id,
                recommendation_id: e.recommendation_id,
                implemented_at: e.implemented_at,
            });
            return execute::<RegisterEntry>(conn, stream, command, &metadata).await;
        }
        Err(HandleError::unknown_type(kind))
    }
}
