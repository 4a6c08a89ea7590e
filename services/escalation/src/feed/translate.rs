//! From escalation events to feed messages: the allow-list in code.
//!
//! Every feed field is set here from a named source and from nothing else: ids, the case
//! reference, enumerated categories mapped by name, timestamps and dates, the body's own
//! references (the adjudicator), and Ofsted's public reason and statement references. Provider
//! identifiers, complaint and inspection ids, person references (requesters, decision makers),
//! document references (the case file maps opaque document ids to them), findings and text
//! references never reach a feed message. `docs/feed/allow-list.txt` is the written list; a test
//! decodes every message the scenarios produce and fails on any field outside it.

use std::collections::HashMap;

use platform::aggregate::{Aggregate, DomainEvent};
use platform::event_store::{ExpectedVersion, NewEvent, within};
use platform::tail::{Metadata, RecordedEvent};
use proto::feed::v1 as feed;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{FEED_STREAM_ID, STREAM_TYPE};
use crate::domain::complaint_record::{self, ComplaintRecord};
use crate::domain::escalation::{self, Escalation};
use crate::domain::{document_id, v1};

platform::domain_event! {
    FeedMessage {
        EscalationReferred(feed::EscalationReferred),
        EscalationWithdrawn(feed::EscalationWithdrawn),
        ReferralAccepted(feed::ReferralAccepted),
        ReferralDeclined(feed::ReferralDeclined),
        AdjudicatorAppointed(feed::AdjudicatorAppointed),
        CaseFileAccessed(feed::CaseFileAccessed),
        FindingsIssued(feed::FindingsIssued),
        RecommendationAccepted(feed::RecommendationAccepted),
        RecommendationDeclined(feed::RecommendationDeclined),
        PublicStatementPublished(feed::PublicStatementPublished),
        RecommendationImplemented(feed::RecommendationImplemented),
        EscalationClosed(feed::EscalationClosed),
    }
}

/// One message of the independent body's feed.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedMessage {
    EscalationReferred(feed::EscalationReferred),
    EscalationWithdrawn(feed::EscalationWithdrawn),
    ReferralAccepted(feed::ReferralAccepted),
    ReferralDeclined(feed::ReferralDeclined),
    AdjudicatorAppointed(feed::AdjudicatorAppointed),
    CaseFileAccessed(feed::CaseFileAccessed),
    FindingsIssued(feed::FindingsIssued),
    RecommendationAccepted(feed::RecommendationAccepted),
    RecommendationDeclined(feed::RecommendationDeclined),
    PublicStatementPublished(feed::PublicStatementPublished),
    RecommendationImplemented(feed::RecommendationImplemented),
    EscalationClosed(feed::EscalationClosed),
}

/// The escalation's history up to an event, and the complaint record as it stood before it.
#[derive(Debug)]
pub struct Context<'a> {
    /// The escalation after the event.
    pub escalation: &'a Escalation,
    /// The escalation's first event.
    pub requested: Option<&'a v1::EscalationRequested>,
    /// The complaint record before the event.
    pub record: &'a ComplaintRecord,
}

/// The same-named value of another enum, by protobuf name; UNSPECIFIED when it has none.
fn by_name<F>(value: i32, name: fn(i32) -> Option<&'static str>, into: fn(&str) -> Option<F>) -> i32
where
    F: Into<i32>,
{
    name(value).and_then(into).map_or(0, Into::into)
}

fn ground(value: i32) -> i32 {
    by_name(
        value,
        |v| v1::Ground::try_from(v).ok().map(|g| g.as_str_name()),
        feed::Ground::from_str_name,
    )
}

/// The feed message an escalation event announces, if any. Pure: the same event and context
/// always give the same message.
pub fn translate(event: &escalation::Event, context: &Context<'_>) -> Option<FeedMessage> {
    use escalation::Event as E;
    let escalation_id = context.escalation.escalation_id().to_string();
    let case_ref = context.escalation.case_ref().to_owned();
    Some(match event {
        // A request is referred at once; a refusal never reaches the body.
        E::Requested(_) | E::OutOfRemitNoted(_) | E::Refused(_) => return None,
        E::Referred(e) => {
            let requested = context.requested?;
            let submission = context.record.submission();
            let outcome = context
                .record
                .facts()
                .and_then(|f| f.response.as_ref())
                .and_then(|r| r.outcome);
            FeedMessage::EscalationReferred(feed::EscalationReferred {
                referred_at: e.referred_at,
                grounds: requested.grounds.iter().map(|g| ground(*g)).collect(),
                remit: submission.and_then(|s| s.remit).map_or(0, |r| {
                    by_name(
                        r.to_proto(),
                        |v| v1::Remit::try_from(v).ok().map(|r| r.as_str_name()),
                        feed::Remit::from_str_name,
                    )
                }),
                key_dates: Some(feed::KeyDates {
                    last_onsite_on: submission
                        .map(|s| s.last_onsite_on.clone())
                        .unwrap_or_default(),
                    draft_report_issued_at: submission
                        .map(|s| crate::domain::timestamp(s.draft_issued_at)),
                    complaint_submitted_at: submission
                        .map(|s| crate::domain::timestamp(s.submitted_at)),
                    response_issued_at: requested.response_issued_at,
                    escalation_requested_at: requested.requested_at,
                    application_window_closed_at: requested.window_closes_at,
                }),
                complaint_outcome: outcome.map_or(0, |o| {
                    by_name(
                        o.to_proto(),
                        |v| {
                            v1::ComplaintOutcome::try_from(v)
                                .ok()
                                .map(|o| o.as_str_name())
                        },
                        feed::ComplaintOutcome::from_str_name,
                    )
                }),
                response_overdue: requested.response_issued_at.is_none(),
                documents: context
                    .record
                    .documents()
                    .iter()
                    .map(|d| feed::AvailableDocument {
                        document_id: document_id(context.escalation.escalation_id(), &d.doc_ref),
                        kind: by_name(
                            d.kind.to_proto(),
                            |v| v1::DocumentKind::try_from(v).ok().map(|k| k.as_str_name()),
                            feed::DocumentKind::from_str_name,
                        ),
                    })
                    .collect(),
                escalation_id,
                case_ref,
            })
        }
        E::AcceptedByIndependentBody(e) => FeedMessage::ReferralAccepted(feed::ReferralAccepted {
            escalation_id,
            case_ref,
            accepted_at: e.accepted_at,
        }),
        E::DeclinedByIndependentBody(e) => FeedMessage::ReferralDeclined(feed::ReferralDeclined {
            escalation_id,
            case_ref,
            declined_at: e.declined_at,
        }),
        E::AdjudicatorAppointed(e) => {
            FeedMessage::AdjudicatorAppointed(feed::AdjudicatorAppointed {
                escalation_id,
                case_ref,
                adjudicator_ref: e.adjudicator_ref.clone(),
                appointed_at: e.appointed_at,
            })
        }
        E::CaseFileAccessed(e) => FeedMessage::CaseFileAccessed(feed::CaseFileAccessed {
            escalation_id,
            case_ref,
            accessed_at: e.accessed_at,
            document_count: u32::try_from(e.doc_refs.len()).unwrap_or(u32::MAX),
        }),
        E::FindingsIssued(e) => FeedMessage::FindingsIssued(feed::FindingsIssued {
            escalation_id,
            case_ref,
            issued_at: e.issued_at,
            upheld_grounds: e.upheld_grounds.iter().map(|g| ground(*g)).collect(),
            recommendations: e
                .recommendations
                .iter()
                .map(|r| feed::Recommendation {
                    recommendation_id: r.recommendation_id.clone(),
                    kind: by_name(
                        r.kind,
                        |v| {
                            v1::RecommendationKind::try_from(v)
                                .ok()
                                .map(|k| k.as_str_name())
                        },
                        feed::RecommendationKind::from_str_name,
                    ),
                })
                .collect(),
        }),
        E::RecommendationAccepted(e) => {
            FeedMessage::RecommendationAccepted(feed::RecommendationAccepted {
                escalation_id,
                case_ref,
                recommendation_id: e.recommendation_id.clone(),
                accepted_at: e.accepted_at,
                due_on: e.due_on.clone(),
            })
        }
        E::RecommendationDeclined(e) => {
            FeedMessage::RecommendationDeclined(feed::RecommendationDeclined {
                escalation_id,
                case_ref,
                recommendation_id: e.recommendation_id.clone(),
                declined_at: e.declined_at,
                public_reason_ref: e.public_reason_ref.clone(),
            })
        }
        E::PublicStatementPublished(e) => {
            FeedMessage::PublicStatementPublished(feed::PublicStatementPublished {
                escalation_id,
                case_ref,
                recommendation_id: e.recommendation_id.clone(),
                published_at: e.published_at,
                statement_ref: e.statement_ref.clone(),
            })
        }
        E::RecommendationImplemented(e) => {
            FeedMessage::RecommendationImplemented(feed::RecommendationImplemented {
                escalation_id,
                case_ref,
                recommendation_id: e.recommendation_id.clone(),
                implemented_at: e.implemented_at,
            })
        }
        E::Closed(e) => FeedMessage::EscalationClosed(feed::EscalationClosed {
            escalation_id,
            case_ref,
            closed_at: e.closed_at,
        }),
        E::Withdrawn(e) => FeedMessage::EscalationWithdrawn(feed::EscalationWithdrawn {
            escalation_id,
            case_ref,
            withdrawn_at: e.withdrawn_at,
        }),
    })
}

/// An escalation's history as far as the page has read it.
struct History {
    state: Escalation,
    requested: Option<v1::EscalationRequested>,
    version: u32,
}

/// Translates a page of the log and appends the feed messages, in log order, in the
/// translator's transaction.
pub(super) async fn apply(conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
    let mut histories: HashMap<Uuid, History> = HashMap::new();
    for recorded in events {
        if recorded.stream_type != Escalation::STREAM_TYPE {
            continue;
        }
        let event = match escalation::Event::decode(&recorded.event_type, &recorded.payload) {
            Ok(event) => event,
            // A newer writer's event: nothing this build announces depends on it.
            Err(platform::aggregate::DecodeError::UnknownType(_)) => continue,
            Err(error) => {
                return Err(anyhow::Error::new(error).context(format!(
                    "Failed to decode event {} of escalation {}",
                    recorded.version, recorded.stream_id
                )));
            }
        };
        let history = match histories.remove(&recorded.stream_id) {
            Some(history) if history.version + 1 == recorded.version => history,
            _ => load_history(conn, recorded.stream_id, recorded.version - 1).await?,
        };
        let History {
            state,
            mut requested,
            ..
        } = history;
        if let escalation::Event::Requested(e) = &event {
            requested = Some(e.clone());
        }
        let state = state.evolve(&event);
        {
            // Only the referral describes the complaint.
            let record = if matches!(event, escalation::Event::Referred(_)) {
                record_before(conn, state.complaint_id(), recorded).await?
            } else {
                ComplaintRecord::default()
            };
            let context = Context {
                escalation: &state,
                requested: requested.as_ref(),
                record: &record,
            };
            if let Some(message) = translate(&event, &context) {
                let metadata = Metadata {
                    correlation_id: recorded.metadata.correlation_id,
                    causation_id: Some(recorded.event_id),
                    actor: "system:feed".to_owned(),
                    traceparent: recorded.metadata.traceparent.clone(),
                    tracestate: recorded.metadata.tracestate.clone(),
                    policy_version: None,
                    calendar_version: None,
                };
                within::append(
                    conn,
                    STREAM_TYPE,
                    FEED_STREAM_ID,
                    ExpectedVersion::Any,
                    &[NewEvent::from_domain(&message)],
                    &metadata,
                )
                .await
                .map_err(|e| anyhow::Error::new(e).context("Failed to append to the feed"))?;
            }
        }
        histories.insert(
            recorded.stream_id,
            History {
                state,
                requested,
                version: recorded.version,
            },
        );
    }
    Ok(())
}

/// An escalation's state after its first `version` events.
async fn load_history(
    conn: &mut PgConnection,
    escalation_id: Uuid,
    version: u32,
) -> anyhow::Result<History> {
    let mut history = History {
        state: Escalation::default(),
        requested: None,
        version: 0,
    };
    for recorded in within::read_stream(conn, escalation_id, 0).await? {
        if recorded.version > version {
            break;
        }
        let event = escalation::Event::decode(&recorded.event_type, &recorded.payload)?;
        if let escalation::Event::Requested(e) = &event {
            history.requested = Some(e.clone());
        }
        history.state = history.state.evolve(&event);
        history.version = recorded.version;
    }
    Ok(history)
}

/// The complaint record as it stood before `before` was written.
async fn record_before(
    conn: &mut PgConnection,
    complaint_id: Uuid,
    before: &RecordedEvent,
) -> anyhow::Result<ComplaintRecord> {
    let mut record = ComplaintRecord::default();
    for recorded in within::read_stream(conn, complaint_id, 0).await? {
        if recorded.position >= before.position {
            break;
        }
        let event = complaint_record::Event::decode(&recorded.event_type, &recorded.payload)?;
        record = record.evolve(&event);
    }
    Ok(record)
}
