//! `Escalation`: a complainant's request that the independent body review how Ofsted handled a
//! complaint, from the request to closure (domain research §5.4).
//!
//! ```text
//! Requested ─▶ Referred ─▶ AcceptedByIndependentBody ─▶ AdjudicatorAppointed ─▶ FindingsIssued ─▶ Closed
//!     │             └─▶ DeclinedByIndependentBody (terminal)
//!     └ (or instead) Refused (terminal; NotExhausted | ComplaintWithdrawn | OutOfTime | AlreadyActive | NoGroundInRemit)
//! any state before FindingsIssued ─▶ Withdrawn
//! ```
//!
//! Rules (research §5.6, invariants 6 to 8):
//! * Escalation only after Ofsted's response (the process is exhausted), within the window the
//!   complaints policy recorded; with the policy flag `allow_escalation_when_response_overdue`,
//!   also on an overdue response, with the ground `FailureToRespondInTimelyManner`.
//! * One active escalation per complaint.
//! * Grounds are the remit's; out-of-remit asks are noted and split off and never block the
//!   in-remit grounds.
//! * Findings never recommend a change of judgement or compensation.
//! * A declined recommendation needs a public reason and is published with a statement.
//! * Closure only when every recommendation is decided and every accepted one is implemented, or
//!   scheduled when the policy allows.
//!
//! The "response overdue" state between findings and closure (`OfstedResponded` in the research)
//! is derived from the recommendations rather than recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use uuid::Uuid;

use super::policy::Policy;
use super::{
    Actor, ComplaintOutcome, Ground, OutOfRemitAsk, Reason, RecommendationKind, RefusalReason,
    Role, instant, stamp, v1,
};

platform::domain_event! {
    Event {
        Requested(v1::EscalationRequested),
        OutOfRemitNoted(v1::OutOfRemitElementsNoted),
        Refused(v1::EscalationRefused),
        Referred(v1::EscalationReferred),
        AcceptedByIndependentBody(v1::EscalationAcceptedByIndependentBody),
        DeclinedByIndependentBody(v1::EscalationDeclinedByIndependentBody),
        AdjudicatorAppointed(v1::AdjudicatorAppointed),
        CaseFileAccessed(v1::CaseFileAccessed),
        FindingsIssued(v1::AdjudicationFindingsIssued),
        RecommendationAccepted(v1::RecommendationAccepted),
        RecommendationDeclined(v1::RecommendationDeclined),
        PublicStatementPublished(v1::PublicStatementPublished),
        RecommendationImplemented(v1::RecommendationImplemented),
        Closed(v1::EscalationClosed),
        Withdrawn(v1::EscalationWithdrawn),
    }
}

/// One event of an escalation's stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Requested(v1::EscalationRequested),
    OutOfRemitNoted(v1::OutOfRemitElementsNoted),
    Refused(v1::EscalationRefused),
    Referred(v1::EscalationReferred),
    AcceptedByIndependentBody(v1::EscalationAcceptedByIndependentBody),
    DeclinedByIndependentBody(v1::EscalationDeclinedByIndependentBody),
    AdjudicatorAppointed(v1::AdjudicatorAppointed),
    CaseFileAccessed(v1::CaseFileAccessed),
    FindingsIssued(v1::AdjudicationFindingsIssued),
    RecommendationAccepted(v1::RecommendationAccepted),
    RecommendationDeclined(v1::RecommendationDeclined),
    PublicStatementPublished(v1::PublicStatementPublished),
    RecommendationImplemented(v1::RecommendationImplemented),
    Closed(v1::EscalationClosed),
    Withdrawn(v1::EscalationWithdrawn),
}

/// Where an escalation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// No event yet.
    New,
    Requested,
    /// Terminal: the request broke a rule and was recorded as refused.
    Refused(Option<RefusalReason>),
    Referred,
    AcceptedByIndependentBody,
    /// Terminal.
    DeclinedByIndependentBody,
    AdjudicatorAppointed,
    FindingsIssued,
    /// Terminal.
    Closed,
    /// Terminal.
    Withdrawn,
}

impl Status {
    /// Whether the escalation counts as active for the one-per-complaint rule.
    #[must_use]
    pub fn is_active(self) -> bool {
        !matches!(
            self,
            Status::New
                | Status::Refused(_)
                | Status::DeclinedByIndependentBody
                | Status::Closed
                | Status::Withdrawn
        )
    }
}

/// What has been decided about one recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Pending,
    /// Accepted; `due_on` is the date implementation is scheduled for, if scheduled.
    Accepted {
        due_on: Option<Date>,
    },
    /// Declined with a public reason and a published statement.
    Declined,
    Implemented,
}

/// One recommendation of the findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecommendationState {
    /// `None` for a kind this build does not know.
    pub kind: Option<RecommendationKind>,
    pub decision: Decision,
}

/// The escalation aggregate's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Escalation {
    status: Status,
    escalation_id: Uuid,
    complaint_id: Uuid,
    case_ref: String,
    grounds: BTreeSet<Ground>,
    out_of_remit: BTreeSet<OutOfRemitAsk>,
    adjudicator_ref: Option<String>,
    recommendations: BTreeMap<String, RecommendationState>,
}

impl Default for Escalation {
    fn default() -> Self {
        Escalation {
            status: Status::New,
            escalation_id: Uuid::nil(),
            complaint_id: Uuid::nil(),
            case_ref: String::new(),
            grounds: BTreeSet::new(),
            out_of_remit: BTreeSet::new(),
            adjudicator_ref: None,
            recommendations: BTreeMap::new(),
        }
    }
}

impl Escalation {
    pub fn status(&self) -> Status {
        self.status
    }

    pub fn escalation_id(&self) -> Uuid {
        self.escalation_id
    }

    pub fn complaint_id(&self) -> Uuid {
        self.complaint_id
    }

    /// The reference the independent body knows the case by; empty before the request.
    pub fn case_ref(&self) -> &str {
        &self.case_ref
    }

    /// The in-remit grounds requested.
    pub fn grounds(&self) -> &BTreeSet<Ground> {
        &self.grounds
    }

    /// The out-of-remit asks noted and split off.
    pub fn out_of_remit(&self) -> &BTreeSet<OutOfRemitAsk> {
        &self.out_of_remit
    }

    pub fn adjudicator_ref(&self) -> Option<&str> {
        self.adjudicator_ref.as_deref()
    }

    pub fn recommendations(&self) -> &BTreeMap<String, RecommendationState> {
        &self.recommendations
    }
}

/// Ofsted's response as the escalation context records it (`ComplaintResponseRecorded`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseFacts {
    pub outcome: Option<ComplaintOutcome>,
    pub issued_at: Timestamp,
    /// Computed by the complaints policy when the response was issued; never recomputed here.
    pub window_closes_at: Timestamp,
    pub policy_version: String,
    pub calendar_version: String,
}

/// What the escalation context knows about a complaint. A policy consumer copies the complaints
/// context's events into `ComplaintResponseRecorded` and `ComplaintWithdrawalRecorded`; the
/// application folds them with [`ComplaintFacts::record_response`] and
/// [`ComplaintFacts::record_withdrawal`] and passes the result with the command. `response_due_at`
/// comes from the complaints read model when the response is overdue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComplaintFacts {
    pub complaint_id: Uuid,
    pub inspection_id: Uuid,
    pub response: Option<ResponseFacts>,
    pub withdrawn: bool,
    /// When the response was due, if it is overdue and not yet issued.
    pub response_overdue_since: Option<Timestamp>,
}

impl ComplaintFacts {
    /// A complaint with no response and no withdrawal recorded.
    pub fn new(complaint_id: Uuid, inspection_id: Uuid) -> ComplaintFacts {
        ComplaintFacts {
            complaint_id,
            inspection_id,
            response: None,
            withdrawn: false,
            response_overdue_since: None,
        }
    }

    /// Folds in a recorded response.
    pub fn record_response(&mut self, event: &v1::ComplaintResponseRecorded) {
        self.response = Some(ResponseFacts {
            outcome: ComplaintOutcome::from_proto(event.outcome),
            issued_at: instant(event.response_issued_at.as_ref()),
            window_closes_at: instant(event.escalation_window_closes_at.as_ref()),
            policy_version: event.policy_version.clone(),
            calendar_version: event.calendar_version.clone(),
        });
        self.response_overdue_since = None;
    }

    /// Folds in a recorded withdrawal.
    pub fn record_withdrawal(&mut self, _event: &v1::ComplaintWithdrawalRecorded) {
        self.withdrawn = true;
    }
}

/// A request to escalate a complaint.
#[derive(Clone, Debug)]
pub struct Request {
    pub escalation_id: Uuid,
    pub requested_by: Actor,
    pub grounds: Vec<Ground>,
    pub out_of_remit: Vec<OutOfRemitAsk>,
    pub complaint: ComplaintFacts,
    /// Whether another escalation of the same complaint is active, from the escalation read model
    /// (escalations by complaint, with their status). The store's unique key on the active
    /// escalation per complaint guards the race between two requests.
    pub another_active_escalation: bool,
    /// The escalation policy in force on the request's date.
    pub policy: Arc<Policy>,
    pub now: Timestamp,
}

/// A recommendation as the findings carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recommendation {
    pub recommendation_id: String,
    pub kind: RecommendationKind,
    pub text_ref: String,
}

/// The commands of an escalation.
#[derive(Clone, Debug)]
pub enum Command {
    /// By the provider's representative or responsible body.
    Request(Request),
    /// By the system, when the request is recorded; publishes on the external feed.
    Refer {
        feed_payload_version: u32,
        now: Timestamp,
    },
    AcceptReferral {
        by: Actor,
        now: Timestamp,
    },
    DeclineReferral {
        by: Actor,
        reason_ref: String,
        now: Timestamp,
    },
    AppointAdjudicator {
        by: Actor,
        adjudicator_ref: String,
        now: Timestamp,
    },
    /// Pull-only and audited: the independent body or the appointed adjudicator reads the file.
    RequestCaseFile {
        by: Actor,
        doc_refs: Vec<String>,
        now: Timestamp,
    },
    IssueFindings {
        by: Actor,
        findings_ref: String,
        upheld_grounds: Vec<Ground>,
        recommendations: Vec<Recommendation>,
        now: Timestamp,
    },
    AcceptRecommendation {
        by: Actor,
        recommendation_id: String,
        planned_action_ref: String,
        /// The date implementation is scheduled for, if already scheduled.
        due_on: Option<Date>,
        /// The escalation policy in force on the acceptance's date.
        policy: Arc<Policy>,
        now: Timestamp,
    },
    DeclineRecommendation {
        by: Actor,
        recommendation_id: String,
        public_reason_ref: String,
        statement_ref: String,
        now: Timestamp,
    },
    RecordImplemented {
        by: Actor,
        recommendation_id: String,
        evidence_ref: String,
        now: Timestamp,
    },
    Close {
        by: Actor,
        /// The escalation policy in force on the closure's date.
        policy: Arc<Policy>,
        now: Timestamp,
    },
    Withdraw {
        by: Actor,
        now: Timestamp,
    },
}

/// The rules an escalation command can break.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("this escalation has already been requested")]
    AlreadyRequested,
    #[error("no escalation has been requested")]
    NotRequested,
    #[error("the role {0:?} may not do this")]
    RoleNotPermitted(Role),
    #[error("a request needs at least one ground or ask")]
    NoGrounds,
    #[error("not allowed while the escalation is {0:?}")]
    WrongState(Status),
    #[error("the case file is available only after the independent body accepted the escalation")]
    CaseFileNotAvailable,
    #[error("only the appointed adjudicator may do this")]
    NotTheAdjudicator,
    #[error("recommendation {recommendation_id:?} of kind {kind:?} is outside the remit")]
    OutOfRemit {
        recommendation_id: String,
        kind: RecommendationKind,
    },
    #[error("recommendation ids must be non-empty and unique")]
    InvalidRecommendationId,
    #[error("no recommendation {0:?} in the findings")]
    UnknownRecommendation(String),
    #[error("recommendation {0:?} has already been decided")]
    RecommendationAlreadyDecided(String),
    #[error("an accepted recommendation needs a planned action")]
    PlannedActionRequired,
    #[error("implementation may be scheduled no later than {latest}")]
    DueTooLate { latest: Date },
    #[error("a declined recommendation needs a public reason")]
    PublicReasonRequired,
    #[error("a declined recommendation needs a published statement")]
    PublicStatementRequired,
    #[error("recommendation {0:?} has not been accepted")]
    RecommendationNotAccepted(String),
    #[error("recommendation {0:?} is neither implemented nor scheduled")]
    RecommendationsOutstanding(String),
    #[error("an escalation cannot be withdrawn after the findings")]
    TooLateToWithdraw,
}

impl Reason for Rejection {
    fn reason(&self) -> &'static str {
        match self {
            Rejection::AlreadyRequested => "ALREADY_REQUESTED",
            Rejection::NotRequested => "NOT_REQUESTED",
            Rejection::RoleNotPermitted(_) => "ROLE_NOT_PERMITTED",
            Rejection::NoGrounds => "NO_GROUNDS",
            Rejection::WrongState(_) => "WRONG_STATE",
            Rejection::CaseFileNotAvailable => "CASE_FILE_NOT_AVAILABLE",
            Rejection::NotTheAdjudicator => "NOT_THE_ADJUDICATOR",
            Rejection::OutOfRemit { .. } => "OUT_OF_REMIT",
            Rejection::InvalidRecommendationId => "INVALID_RECOMMENDATION_ID",
            Rejection::UnknownRecommendation(_) => "UNKNOWN_RECOMMENDATION",
            Rejection::RecommendationAlreadyDecided(_) => "RECOMMENDATION_ALREADY_DECIDED",
            Rejection::PlannedActionRequired => "PLANNED_ACTION_REQUIRED",
            Rejection::DueTooLate { .. } => "DUE_TOO_LATE",
            Rejection::PublicReasonRequired => "PUBLIC_REASON_REQUIRED",
            Rejection::PublicStatementRequired => "PUBLIC_STATEMENT_REQUIRED",
            Rejection::RecommendationNotAccepted(_) => "RECOMMENDATION_NOT_ACCEPTED",
            Rejection::RecommendationsOutstanding(_) => "RECOMMENDATIONS_OUTSTANDING",
            Rejection::TooLateToWithdraw => "TOO_LATE_TO_WITHDRAW",
        }
    }
}

fn require(by: &Actor, roles: &[Role]) -> Result<(), Rejection> {
    if roles.contains(&by.role) {
        Ok(())
    } else {
        Err(Rejection::RoleNotPermitted(by.role))
    }
}

const COMPLAINANT: &[Role] = &[Role::ProviderRepresentative, Role::ResponsibleBody];
const INDEPENDENT_BODY: &[Role] = &[Role::IndependentBody];
const ADJUDICATION: &[Role] = &[Role::IndependentBody, Role::Adjudicator];
const OWNER: &[Role] = &[Role::RecommendationOwner];

impl platform::aggregate::Aggregate for Escalation {
    const STREAM_TYPE: &'static str = "escalation";
    type Command = Command;
    type Event = Event;
    type Rejection = Rejection;

    fn decide(&self, command: Command) -> Result<Vec<Event>, Rejection> {
        if self.status == Status::New && !matches!(command, Command::Request(_)) {
            return Err(Rejection::NotRequested);
        }
        let id = self.escalation_id.to_string();
        match command {
            Command::Request(request) => self.request(request),
            Command::Refer {
                feed_payload_version,
                now,
            } => {
                self.expect(Status::Requested)?;
                Ok(vec![Event::Referred(v1::EscalationReferred {
                    escalation_id: id,
                    feed_payload_version,
                    referred_at: stamp(now),
                })])
            }
            Command::AcceptReferral { by, now } => {
                require(&by, INDEPENDENT_BODY)?;
                self.expect(Status::Referred)?;
                Ok(vec![Event::AcceptedByIndependentBody(
                    v1::EscalationAcceptedByIndependentBody {
                        escalation_id: id,
                        accepted_by_ref: by.actor_ref,
                        accepted_at: stamp(now),
                    },
                )])
            }
            Command::DeclineReferral {
                by,
                reason_ref,
                now,
            } => {
                require(&by, INDEPENDENT_BODY)?;
                self.expect(Status::Referred)?;
                Ok(vec![Event::DeclinedByIndependentBody(
                    v1::EscalationDeclinedByIndependentBody {
                        escalation_id: id,
                        declined_by_ref: by.actor_ref,
                        reason_ref,
                        declined_at: stamp(now),
                        complaint_id: self.complaint_id.to_string(),
                    },
                )])
            }
            Command::AppointAdjudicator {
                by,
                adjudicator_ref,
                now,
            } => {
                require(&by, INDEPENDENT_BODY)?;
                self.expect(Status::AcceptedByIndependentBody)?;
                Ok(vec![Event::AdjudicatorAppointed(
                    v1::AdjudicatorAppointed {
                        escalation_id: id,
                        adjudicator_ref,
                        appointed_by_ref: by.actor_ref,
                        appointed_at: stamp(now),
                    },
                )])
            }
            Command::RequestCaseFile { by, doc_refs, now } => {
                require(&by, ADJUDICATION)?;
                if !matches!(
                    self.status,
                    Status::AcceptedByIndependentBody
                        | Status::AdjudicatorAppointed
                        | Status::FindingsIssued
                ) {
                    return Err(Rejection::CaseFileNotAvailable);
                }
                self.check_adjudicator(&by)?;
                Ok(vec![Event::CaseFileAccessed(v1::CaseFileAccessed {
                    escalation_id: id,
                    accessed_by_ref: by.actor_ref,
                    doc_refs,
                    accessed_at: stamp(now),
                })])
            }
            Command::IssueFindings {
                by,
                findings_ref,
                upheld_grounds,
                recommendations,
                now,
            } => {
                require(&by, ADJUDICATION)?;
                self.expect(Status::AdjudicatorAppointed)?;
                self.check_adjudicator(&by)?;
                let mut ids = BTreeSet::new();
                for r in &recommendations {
                    if r.recommendation_id.trim().is_empty()
                        || !ids.insert(r.recommendation_id.as_str())
                    {
                        return Err(Rejection::InvalidRecommendationId);
                    }
                    if !r.kind.in_remit() {
                        return Err(Rejection::OutOfRemit {
                            recommendation_id: r.recommendation_id.clone(),
                            kind: r.kind,
                        });
                    }
                }
                let upheld: BTreeSet<Ground> = upheld_grounds.into_iter().collect();
                Ok(vec![Event::FindingsIssued(
                    v1::AdjudicationFindingsIssued {
                        escalation_id: id,
                        findings_ref,
                        upheld_grounds: upheld.into_iter().map(Ground::to_proto).collect(),
                        recommendations: recommendations
                            .into_iter()
                            .map(|r| v1::Recommendation {
                                recommendation_id: r.recommendation_id,
                                kind: r.kind.to_proto(),
                                text_ref: r.text_ref,
                            })
                            .collect(),
                        issued_by_ref: by.actor_ref,
                        issued_at: stamp(now),
                    },
                )])
            }
            Command::AcceptRecommendation {
                by,
                recommendation_id,
                planned_action_ref,
                due_on,
                policy,
                now,
            } => {
                require(&by, OWNER)?;
                let kind = self.pending(&recommendation_id)?;
                if planned_action_ref.trim().is_empty() {
                    return Err(Rejection::PlannedActionRequired);
                }
                if let Some(due) = due_on
                    && let Some(latest) = policy.latest_due_date(now)
                    && due > latest
                {
                    return Err(Rejection::DueTooLate { latest });
                }
                Ok(vec![Event::RecommendationAccepted(
                    v1::RecommendationAccepted {
                        escalation_id: id,
                        recommendation_id,
                        planned_action_ref,
                        due_on: due_on.map(|d| d.to_string()).unwrap_or_default(),
                        accepted_by_ref: by.actor_ref,
                        accepted_at: stamp(now),
                        policy_version: policy.version().to_owned(),
                        kind: kind.map_or(0, RecommendationKind::to_proto),
                        complaint_id: self.complaint_id.to_string(),
                    },
                )])
            }
            Command::DeclineRecommendation {
                by,
                recommendation_id,
                public_reason_ref,
                statement_ref,
                now,
            } => {
                require(&by, OWNER)?;
                self.pending(&recommendation_id)?;
                if public_reason_ref.trim().is_empty() {
                    return Err(Rejection::PublicReasonRequired);
                }
                if statement_ref.trim().is_empty() {
                    return Err(Rejection::PublicStatementRequired);
                }
                Ok(vec![
                    Event::RecommendationDeclined(v1::RecommendationDeclined {
                        escalation_id: id.clone(),
                        recommendation_id: recommendation_id.clone(),
                        public_reason_ref,
                        declined_by_ref: by.actor_ref,
                        declined_at: stamp(now),
                    }),
                    Event::PublicStatementPublished(v1::PublicStatementPublished {
                        escalation_id: id,
                        recommendation_id,
                        statement_ref,
                        published_at: stamp(now),
                    }),
                ])
            }
            Command::RecordImplemented {
                by,
                recommendation_id,
                evidence_ref,
                now,
            } => {
                require(&by, OWNER)?;
                self.expect(Status::FindingsIssued)?;
                match self.recommendation(&recommendation_id)?.decision {
                    Decision::Implemented => Ok(vec![]),
                    Decision::Accepted { .. } => Ok(vec![Event::RecommendationImplemented(
                        v1::RecommendationImplemented {
                            escalation_id: id,
                            recommendation_id,
                            evidence_ref,
                            recorded_by_ref: by.actor_ref,
                            implemented_at: stamp(now),
                        },
                    )]),
                    Decision::Pending | Decision::Declined => {
                        Err(Rejection::RecommendationNotAccepted(recommendation_id))
                    }
                }
            }
            Command::Close { by, policy, now } => {
                require(&by, OWNER)?;
                self.expect(Status::FindingsIssued)?;
                for (rec_id, rec) in &self.recommendations {
                    let done = match rec.decision {
                        Decision::Pending => false,
                        Decision::Declined | Decision::Implemented => true,
                        Decision::Accepted { due_on } => {
                            due_on.is_some() && !policy.closure_requires_implementation()
                        }
                    };
                    if !done {
                        return Err(Rejection::RecommendationsOutstanding(rec_id.clone()));
                    }
                }
                Ok(vec![Event::Closed(v1::EscalationClosed {
                    escalation_id: id,
                    closed_by_ref: by.actor_ref,
                    closed_at: stamp(now),
                    complaint_id: self.complaint_id.to_string(),
                })])
            }
            Command::Withdraw { by, now } => {
                require(&by, COMPLAINANT)?;
                match self.status {
                    Status::FindingsIssued => Err(Rejection::TooLateToWithdraw),
                    status if status.is_active() => {
                        Ok(vec![Event::Withdrawn(v1::EscalationWithdrawn {
                            escalation_id: id,
                            withdrawn_by_ref: by.actor_ref,
                            withdrawn_at: stamp(now),
                            complaint_id: self.complaint_id.to_string(),
                        })])
                    }
                    status => Err(Rejection::WrongState(status)),
                }
            }
        }
    }

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::Requested(e) => {
                self.status = Status::Requested;
                self.escalation_id = parse_id(&e.escalation_id);
                self.complaint_id = parse_id(&e.complaint_id);
                self.case_ref.clone_from(&e.case_ref);
                self.grounds = e
                    .grounds
                    .iter()
                    .filter_map(|g| Ground::from_proto(*g))
                    .collect();
            }
            Event::OutOfRemitNoted(e) => {
                self.out_of_remit
                    .extend(e.asks.iter().filter_map(|a| OutOfRemitAsk::from_proto(*a)));
            }
            Event::Refused(e) => {
                self.status = Status::Refused(RefusalReason::from_proto(e.reason));
                self.escalation_id = parse_id(&e.escalation_id);
                self.complaint_id = parse_id(&e.complaint_id);
            }
            Event::Referred(_) => self.status = Status::Referred,
            Event::AcceptedByIndependentBody(_) => {
                self.status = Status::AcceptedByIndependentBody;
            }
            Event::DeclinedByIndependentBody(_) => {
                self.status = Status::DeclinedByIndependentBody;
            }
            Event::AdjudicatorAppointed(e) => {
                self.status = Status::AdjudicatorAppointed;
                self.adjudicator_ref = Some(e.adjudicator_ref.clone());
            }
            Event::CaseFileAccessed(_) | Event::PublicStatementPublished(_) => {}
            Event::FindingsIssued(e) => {
                self.status = Status::FindingsIssued;
                self.recommendations = e
                    .recommendations
                    .iter()
                    .map(|r| {
                        (
                            r.recommendation_id.clone(),
                            RecommendationState {
                                kind: RecommendationKind::from_proto(r.kind),
                                decision: Decision::Pending,
                            },
                        )
                    })
                    .collect();
            }
            Event::RecommendationAccepted(e) => {
                let due_on = e.due_on.parse::<Date>().ok();
                self.decide_recommendation(&e.recommendation_id, Decision::Accepted { due_on });
            }
            Event::RecommendationDeclined(e) => {
                self.decide_recommendation(&e.recommendation_id, Decision::Declined);
            }
            Event::RecommendationImplemented(e) => {
                self.decide_recommendation(&e.recommendation_id, Decision::Implemented);
            }
            Event::Closed(_) => self.status = Status::Closed,
            Event::Withdrawn(_) => self.status = Status::Withdrawn,
        }
        self
    }
}

impl Escalation {
    fn request(&self, request: Request) -> Result<Vec<Event>, Rejection> {
        if self.status != Status::New {
            return Err(Rejection::AlreadyRequested);
        }
        require(&request.requested_by, COMPLAINANT)?;
        if request.grounds.is_empty() && request.out_of_remit.is_empty() {
            return Err(Rejection::NoGrounds);
        }
        let Request {
            escalation_id,
            requested_by,
            grounds,
            out_of_remit,
            complaint,
            another_active_escalation,
            policy,
            now,
        } = request;
        let mut grounds: BTreeSet<Ground> = grounds.into_iter().collect();
        let asks: BTreeSet<OutOfRemitAsk> = out_of_remit.into_iter().collect();
        let refuse = |reason: RefusalReason| {
            Ok(vec![Event::Refused(v1::EscalationRefused {
                escalation_id: escalation_id.to_string(),
                complaint_id: complaint.complaint_id.to_string(),
                requested_by_ref: requested_by.actor_ref.clone(),
                reason: reason.to_proto(),
                refused_at: stamp(now),
                policy_version: policy.version().to_owned(),
            })])
        };
        if complaint.withdrawn {
            return refuse(RefusalReason::ComplaintWithdrawn);
        }
        if another_active_escalation {
            return refuse(RefusalReason::AlreadyActive);
        }
        let (response_issued_at, window_closes_at, calendar_version) =
            match (&complaint.response, complaint.response_overdue_since) {
                (Some(response), _) => (
                    stamp(response.issued_at),
                    response.window_closes_at,
                    response.calendar_version.clone(),
                ),
                (None, Some(due_at)) if policy.allow_escalation_when_response_overdue() => {
                    grounds.insert(Ground::FailureToRespondInTimelyManner);
                    // `None` only at the end of time: such a window never closes.
                    let closes = policy
                        .overdue_window_closes_at(due_at)
                        .unwrap_or(Timestamp::MAX);
                    (None, closes, String::new())
                }
                (None, _) => return refuse(RefusalReason::NotExhausted),
            };
        if now > window_closes_at {
            return refuse(RefusalReason::OutOfTime);
        }
        if grounds.is_empty() {
            return refuse(RefusalReason::NoGroundInRemit);
        }
        let id = escalation_id.to_string();
        let mut events = vec![Event::Requested(v1::EscalationRequested {
            escalation_id: id.clone(),
            complaint_id: complaint.complaint_id.to_string(),
            inspection_id: complaint.inspection_id.to_string(),
            requested_by_ref: requested_by.actor_ref,
            grounds: grounds.into_iter().map(Ground::to_proto).collect(),
            requested_at: stamp(now),
            response_issued_at,
            window_closes_at: stamp(window_closes_at),
            policy_version: policy.version().to_owned(),
            calendar_version,
            case_ref: case_ref(escalation_id, now),
        })];
        if !asks.is_empty() {
            events.push(Event::OutOfRemitNoted(v1::OutOfRemitElementsNoted {
                escalation_id: id,
                asks: asks.into_iter().map(OutOfRemitAsk::to_proto).collect(),
                noted_at: stamp(now),
            }));
        }
        Ok(events)
    }

    fn expect(&self, status: Status) -> Result<(), Rejection> {
        if self.status == status {
            Ok(())
        } else {
            Err(Rejection::WrongState(self.status))
        }
    }

    /// An adjudicator acts only on the escalation they were appointed to.
    fn check_adjudicator(&self, by: &Actor) -> Result<(), Rejection> {
        if by.role == Role::Adjudicator && self.adjudicator_ref.as_deref() != Some(&by.actor_ref) {
            return Err(Rejection::NotTheAdjudicator);
        }
        Ok(())
    }

    fn recommendation(&self, recommendation_id: &str) -> Result<&RecommendationState, Rejection> {
        self.recommendations
            .get(recommendation_id)
            .ok_or_else(|| Rejection::UnknownRecommendation(recommendation_id.to_owned()))
    }

    /// The recommendation's kind, when it still awaits a decision.
    fn pending(&self, recommendation_id: &str) -> Result<Option<RecommendationKind>, Rejection> {
        self.expect(Status::FindingsIssued)?;
        let recommendation = self.recommendation(recommendation_id)?;
        match recommendation.decision {
            Decision::Pending => Ok(recommendation.kind),
            _ => Err(Rejection::RecommendationAlreadyDecided(
                recommendation_id.to_owned(),
            )),
        }
    }

    fn decide_recommendation(&mut self, recommendation_id: &str, decision: Decision) {
        if let Some(rec) = self.recommendations.get_mut(recommendation_id) {
            rec.decision = decision;
        }
    }
}

/// The opaque reference the independent body and Ofsted quote for an escalation:
/// `ESC-<year>-<8 characters>`, the year of the request in Europe/London and 40 of the
/// escalation id's random bits in Crockford base 32 (no I, L, O or U, so it reads aloud). It says
/// nothing about the provider or the complaint.
#[must_use]
pub fn case_ref(escalation_id: Uuid, requested_at: Timestamp) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let bits = escalation_id.as_u128() & ((1 << 40) - 1);
    let code: String = (0..8)
        .rev()
        .map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize]))
        .collect();
    format!("ESC-{}-{code}", super::local_date(requested_at).year())
}

/// An id as events carry it; an invalid one reads as the nil UUID.
fn parse_id(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap_or(Uuid::nil())
}
