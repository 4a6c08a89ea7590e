//! `LearningReview`: an independent review after a tragic incident, from its proposal to closure
//! (domain research §3, §5.5, invariant 9).
//!
//! ```text
//! Proposed ─▶ Commissioned ─▶ ReviewerAppointed ─▶ TermsPublished ─▶ ReportSubmitted
//!    (approvals)                                   (evidence)             │
//!                        Closed ◀── ResponsePublished ◀── ReportPublished ◀┘
//!                       (monitoring, actions, dissemination)
//! ```
//!
//! Rules:
//! * The proposal states its scope, and whether the inspection's judgements are in or out is
//!   always explicit: `InspectionJudgements` is in exactly one of the two lists, and no item is
//!   in both ([C: P31]).
//! * Only an incident assessed under a policy whose triggers name its category, and not yet
//!   decided, can have a review proposed.
//! * Every approval the policy names (HMCI and the Chair, [C: P31]) is in before the commission;
//!   each approver approves once, and the caller's role says which approver they are.
//! * The reviewer is independent: not connected with any related inspection in a way the policy
//!   calls conflicting (its team, the handlers of its concerns and complaints); they sign a
//!   declaration and disclose every prior role (`PriorRole::None` only alone; after [C: P34]).
//! * Evidence is gathered once the terms of reference are published; interviews are anonymised
//!   unless the interviewee consented to be named ([C: P33]); family engagement is held only
//!   after it was offered.
//! * Only the appointed reviewer submits the report; recommendation ids are unique.
//! * Each recommendation gets one response; anything but acceptance gives reasons. The response
//!   is published only when every recommendation has one ([C: P35]).
//! * Closure only when the report and the response are published, every action the policy asks
//!   for (accepted and partly accepted) is implemented or transferred, and the lessons reached
//!   the policy's number of audiences.
//!
//! Every command that follows the policy is given the version recorded at the proposal (itself
//! the incident's assessment's), so a replay decides as the original did.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use uuid::Uuid;

use super::connections::InspectionConnections;
use super::incident::IncidentFacts;
use super::policy::Policy;
use super::{
    Actor, Approver, Audience, Connection, PriorRole, Reason, RecommendationResponse, Role,
    ScopeItem, parse_id, parse_ids, require, stamp, v1,
};

platform::domain_event! {
    Event {
        Proposed(v1::LearningReviewProposed),
        CommissionApproved(v1::CommissionApproved),
        Commissioned(v1::LearningReviewCommissioned),
        ReviewerAppointed(v1::ReviewerAppointed),
        TermsPublished(v1::TermsOfReferencePublished),
        RecordsAccessGranted(v1::RecordsAccessGranted),
        InterviewRecorded(v1::InterviewRecorded),
        FamilyEngagementOffered(v1::FamilyEngagementOffered),
        FamilyEngagementHeld(v1::FamilyEngagementHeld),
        SpecialistAdviceObtained(v1::SpecialistAdviceObtained),
        ReportSubmitted(v1::LearningReviewReportSubmitted),
        ReportPublished(v1::LearningReviewReportPublished),
        RecommendationResponded(v1::LearningRecommendationResponded),
        ResponsePublished(v1::LearningReviewResponsePublished),
        MonitoringReportPublished(v1::ImprovementMonitoringReportPublished),
        ActionImplemented(v1::LearningActionImplemented),
        ActionTransferred(v1::LearningActionTransferred),
        LessonsDisseminated(v1::LessonsDisseminated),
        Closed(v1::LearningReviewClosed),
    }
}

/// One event of a learning review's stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Proposed(v1::LearningReviewProposed),
    CommissionApproved(v1::CommissionApproved),
    Commissioned(v1::LearningReviewCommissioned),
    ReviewerAppointed(v1::ReviewerAppointed),
    TermsPublished(v1::TermsOfReferencePublished),
    RecordsAccessGranted(v1::RecordsAccessGranted),
    InterviewRecorded(v1::InterviewRecorded),
    FamilyEngagementOffered(v1::FamilyEngagementOffered),
    FamilyEngagementHeld(v1::FamilyEngagementHeld),
    SpecialistAdviceObtained(v1::SpecialistAdviceObtained),
    ReportSubmitted(v1::LearningReviewReportSubmitted),
    ReportPublished(v1::LearningReviewReportPublished),
    RecommendationResponded(v1::LearningRecommendationResponded),
    ResponsePublished(v1::LearningReviewResponsePublished),
    MonitoringReportPublished(v1::ImprovementMonitoringReportPublished),
    ActionImplemented(v1::LearningActionImplemented),
    ActionTransferred(v1::LearningActionTransferred),
    LessonsDisseminated(v1::LessonsDisseminated),
    Closed(v1::LearningReviewClosed),
}

/// Where a review is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// No event yet.
    New,
    Proposed,
    Commissioned,
    ReviewerAppointed,
    /// Evidence gathering.
    TermsPublished,
    ReportSubmitted,
    ReportPublished,
    /// Monitoring.
    ResponsePublished,
    /// Terminal.
    Closed,
}

impl Status {
    /// The `redress.learning_reviews.v1.ReviewStatus` value.
    #[must_use]
    pub fn to_proto(self) -> i32 {
        use v1::ReviewStatus as S;
        (match self {
            Status::New => S::Unspecified,
            Status::Proposed => S::Proposed,
            Status::Commissioned => S::Commissioned,
            Status::ReviewerAppointed => S::ReviewerAppointed,
            Status::TermsPublished => S::TermsPublished,
            Status::ReportSubmitted => S::ReportSubmitted,
            Status::ReportPublished => S::ReportPublished,
            Status::ResponsePublished => S::ResponsePublished,
            Status::Closed => S::Closed,
        }) as i32
    }
}

/// What was done about an accepted recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Implemented,
    /// Formally handed to another programme (e.g. the improvement plan).
    Transferred,
}

impl Action {
    /// The name the read model shows: `implemented` or `transferred`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Implemented => "implemented",
            Action::Transferred => "transferred",
        }
    }
}

/// The inspectorate's answer to one recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Unanswered,
    /// `None` for a response this build does not know.
    Answered(Option<RecommendationResponse>),
}

/// One recommendation of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recommendation {
    pub recommendation_id: String,
    pub text_ref: String,
}

/// One recommendation with its response and action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecommendationState {
    pub recommendation_id: String,
    pub text_ref: String,
    pub answer: Answer,
    pub action: Option<Action>,
}

/// The learning review's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearningReview {
    status: Status,
    review_id: Uuid,
    incident_id: Uuid,
    related_inspection_ids: Vec<Uuid>,
    terms_of_reference_ref: String,
    scope_in: BTreeSet<ScopeItem>,
    scope_out: BTreeSet<ScopeItem>,
    required_approvers: BTreeSet<Approver>,
    approvals: BTreeSet<Approver>,
    policy_version: String,
    reviewer_ref: Option<String>,
    prior_roles: Vec<PriorRole>,
    family_engagement_offered: bool,
    /// In the order of the report.
    recommendations: Vec<RecommendationState>,
    audiences: BTreeSet<Audience>,
}

impl Default for LearningReview {
    fn default() -> Self {
        LearningReview {
            status: Status::New,
            review_id: Uuid::nil(),
            incident_id: Uuid::nil(),
            related_inspection_ids: Vec::new(),
            terms_of_reference_ref: String::new(),
            scope_in: BTreeSet::new(),
            scope_out: BTreeSet::new(),
            required_approvers: BTreeSet::new(),
            approvals: BTreeSet::new(),
            policy_version: String::new(),
            reviewer_ref: None,
            prior_roles: Vec::new(),
            family_engagement_offered: false,
            recommendations: Vec::new(),
            audiences: BTreeSet::new(),
        }
    }
}

impl LearningReview {
    pub fn status(&self) -> Status {
        self.status
    }

    pub fn review_id(&self) -> Uuid {
        self.review_id
    }

    pub fn incident_id(&self) -> Uuid {
        self.incident_id
    }

    /// The inspections the incident relates to, whose connected people may not review it.
    pub fn related_inspection_ids(&self) -> &[Uuid] {
        &self.related_inspection_ids
    }

    pub fn scope_in(&self) -> &BTreeSet<ScopeItem> {
        &self.scope_in
    }

    pub fn scope_out(&self) -> &BTreeSet<ScopeItem> {
        &self.scope_out
    }

    /// The approvals the policy required when the review was proposed.
    pub fn required_approvers(&self) -> &BTreeSet<Approver> {
        &self.required_approvers
    }

    pub fn approvals(&self) -> &BTreeSet<Approver> {
        &self.approvals
    }

    /// The policy version every later rule follows.
    pub fn policy_version(&self) -> &str {
        &self.policy_version
    }

    /// The appointed reviewer; `None` before the appointment.
    pub fn reviewer_ref(&self) -> Option<&str> {
        self.reviewer_ref.as_deref()
    }

    pub fn prior_roles(&self) -> &[PriorRole] {
        &self.prior_roles
    }

    /// The report's recommendations, in its order.
    pub fn recommendations(&self) -> &[RecommendationState] {
        &self.recommendations
    }

    /// The distinct audiences the lessons have reached.
    pub fn audiences(&self) -> &BTreeSet<Audience> {
        &self.audiences
    }
}

/// A proposal for a review of an incident.
#[derive(Clone, Debug)]
pub struct Proposal {
    pub review_id: Uuid,
    pub by: Actor,
    /// The incident as its notification stands (see `IncidentNotification::facts`).
    pub incident: IncidentFacts,
    pub terms_of_reference_ref: String,
    pub scope_in: Vec<ScopeItem>,
    pub scope_out: Vec<ScopeItem>,
    /// The policy version the incident was assessed under.
    pub policy: Arc<Policy>,
    pub now: Timestamp,
}

/// An appointment, with what the independence check needs.
#[derive(Clone, Debug)]
pub struct Appointment {
    pub by: Actor,
    pub reviewer_ref: String,
    pub independence_declaration_ref: String,
    pub prior_roles: Vec<PriorRole>,
    /// The people connected with each related inspection, as recorded from the complaints
    /// context; an inspection with nothing recorded may be missing.
    pub connections: BTreeMap<Uuid, InspectionConnections>,
    /// The review's policy version.
    pub policy: Arc<Policy>,
    pub now: Timestamp,
}

/// The commands of a learning review.
#[derive(Clone, Debug)]
pub enum Command {
    Propose(Proposal),
    /// The caller's role says which approver they are.
    ApproveCommission {
        by: Actor,
        now: Timestamp,
    },
    Commission {
        by: Actor,
        now: Timestamp,
    },
    AppointReviewer(Appointment),
    PublishTermsOfReference {
        by: Actor,
        now: Timestamp,
    },
    GrantRecordsAccess {
        by: Actor,
        records_ref: String,
        now: Timestamp,
    },
    RecordInterview {
        by: Actor,
        interview_ref: String,
        /// The interviewee's consent to be named; `None` keeps them anonymous.
        consent_ref: Option<String>,
        now: Timestamp,
    },
    OfferFamilyEngagement {
        by: Actor,
        now: Timestamp,
    },
    RecordFamilyEngagement {
        by: Actor,
        notes_ref: String,
        now: Timestamp,
    },
    RecordSpecialistAdvice {
        by: Actor,
        advice_ref: String,
        now: Timestamp,
    },
    SubmitReport {
        by: Actor,
        report_ref: String,
        recommendations: Vec<Recommendation>,
        now: Timestamp,
    },
    PublishReport {
        by: Actor,
        published_ref: String,
        now: Timestamp,
    },
    RespondToRecommendation {
        by: Actor,
        recommendation_id: String,
        response: RecommendationResponse,
        reasons_ref: String,
        now: Timestamp,
    },
    PublishResponse {
        by: Actor,
        response_ref: String,
        now: Timestamp,
    },
    PublishMonitoringReport {
        by: Actor,
        monitoring_report_ref: String,
        now: Timestamp,
    },
    RecordActionImplemented {
        by: Actor,
        recommendation_id: String,
        evidence_ref: String,
        /// The review's policy version.
        policy: Arc<Policy>,
        now: Timestamp,
    },
    TransferAction {
        by: Actor,
        recommendation_id: String,
        transferred_to_ref: String,
        /// The review's policy version.
        policy: Arc<Policy>,
        now: Timestamp,
    },
    DisseminateLessons {
        by: Actor,
        audiences: Vec<Audience>,
        lessons_ref: String,
        now: Timestamp,
    },
    Close {
        by: Actor,
        /// The review's policy version.
        policy: Arc<Policy>,
        now: Timestamp,
    },
}

/// The rules a learning-review command can break.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("this review has already been proposed")]
    AlreadyProposed,
    #[error("no review has been proposed")]
    NotProposed,
    #[error("the role {0} may not do this")]
    RoleNotPermitted(Role),
    #[error("not allowed while the review is {0:?}")]
    WrongState(Status),
    #[error("the incident must be assessed against the policy before a review is proposed")]
    IncidentNotAssessed,
    #[error("the decision whether to review this incident has already been taken")]
    IncidentAlreadyDecided,
    #[error("the policy does not commission reviews of incidents in this category")]
    NotAReviewTrigger,
    #[error("a review needs at least one item in scope")]
    NothingInScope,
    #[error("the scope must say whether the inspection's judgements are in or out")]
    JudgementsScopeUnstated,
    #[error("{0:?} cannot be both in and out of scope")]
    ScopeItemInAndOut(ScopeItem),
    #[error("the commission does not need the approval of {0:?}")]
    ApproverNotRequired(Approver),
    #[error("{0:?} has already approved the commission")]
    AlreadyApproved(Approver),
    #[error("the commission still needs the approval of {0:?}")]
    ApprovalMissing(Approver),
    #[error("a reviewer has already been appointed")]
    ReviewerAlreadyAppointed,
    #[error("the reviewer is connected with related inspection {inspection_id} ({connection})")]
    ConflictOfInterest {
        inspection_id: Uuid,
        connection: Connection,
    },
    #[error("the reviewer must sign an independence declaration")]
    DeclarationRequired,
    #[error("the reviewer must disclose their prior roles (PRIOR_ROLE_NONE for none)")]
    PriorRolesNotDisclosed,
    #[error("PRIOR_ROLE_NONE cannot be disclosed together with other roles")]
    PriorRoleNoneNotAlone,
    #[error("only the appointed reviewer may do this")]
    NotTheReviewer,
    #[error("family engagement must be offered before it is held")]
    FamilyEngagementNotOffered,
    #[error("recommendation id {0:?} is empty or not unique")]
    InvalidRecommendationId(String),
    #[error("no recommendation {0:?} in the report")]
    UnknownRecommendation(String),
    #[error("recommendation {0:?} already has a response")]
    AlreadyResponded(String),
    #[error("a response other than acceptance needs its reasons")]
    ReasonsRequired,
    #[error("the report has not been published")]
    ReportNotPublished,
    #[error("recommendations {0:?} have no response")]
    RecommendationsUnanswered(Vec<String>),
    #[error("the response has not been published")]
    ResponseNotPublished,
    #[error("recommendation {0:?} has no action to implement or transfer")]
    NoActionRequired(String),
    #[error("the action for recommendation {0:?} has already been recorded")]
    ActionAlreadyRecorded(String),
    #[error("the actions for recommendations {0:?} are neither implemented nor transferred")]
    ActionsOutstanding(Vec<String>),
    #[error("lessons must be disseminated to at least one audience")]
    AudienceRequired,
    #[error("lessons have reached {reached} audiences; closure needs {required}")]
    LessonsNotDisseminated { reached: u32, required: u32 },
}

impl Reason for Rejection {
    fn reason(&self) -> &'static str {
        match self {
            Rejection::AlreadyProposed => "ALREADY_PROPOSED",
            Rejection::NotProposed => "NOT_PROPOSED",
            Rejection::RoleNotPermitted(_) => "ROLE_NOT_PERMITTED",
            Rejection::WrongState(_) => "WRONG_STATE",
            Rejection::IncidentNotAssessed => "INCIDENT_NOT_ASSESSED",
            Rejection::IncidentAlreadyDecided => "INCIDENT_ALREADY_DECIDED",
            Rejection::NotAReviewTrigger => "NOT_A_REVIEW_TRIGGER",
            Rejection::NothingInScope => "NOTHING_IN_SCOPE",
            Rejection::JudgementsScopeUnstated => "JUDGEMENTS_SCOPE_UNSTATED",
            Rejection::ScopeItemInAndOut(_) => "SCOPE_ITEM_IN_AND_OUT",
            Rejection::ApproverNotRequired(_) => "APPROVER_NOT_REQUIRED",
            Rejection::AlreadyApproved(_) => "ALREADY_APPROVED",
            Rejection::ApprovalMissing(_) => "APPROVAL_MISSING",
            Rejection::ReviewerAlreadyAppointed => "REVIEWER_ALREADY_APPOINTED",
            Rejection::ConflictOfInterest { .. } => "CONFLICT_OF_INTEREST",
            Rejection::DeclarationRequired => "DECLARATION_REQUIRED",
            Rejection::PriorRolesNotDisclosed => "PRIOR_ROLES_NOT_DISCLOSED",
            Rejection::PriorRoleNoneNotAlone => "PRIOR_ROLE_NONE_NOT_ALONE",
            Rejection::NotTheReviewer => "NOT_THE_REVIEWER",
            Rejection::FamilyEngagementNotOffered => "FAMILY_ENGAGEMENT_NOT_OFFERED",
            Rejection::InvalidRecommendationId(_) => "INVALID_RECOMMENDATION_ID",
            Rejection::UnknownRecommendation(_) => "UNKNOWN_RECOMMENDATION",
            Rejection::AlreadyResponded(_) => "ALREADY_RESPONDED",
            Rejection::ReasonsRequired => "REASONS_REQUIRED",
            Rejection::ReportNotPublished => "REPORT_NOT_PUBLISHED",
            Rejection::RecommendationsUnanswered(_) => "RECOMMENDATIONS_UNANSWERED",
            Rejection::ResponseNotPublished => "RESPONSE_NOT_PUBLISHED",
            Rejection::NoActionRequired(_) => "NO_ACTION_REQUIRED",
            Rejection::ActionAlreadyRecorded(_) => "ACTION_ALREADY_RECORDED",
            Rejection::ActionsOutstanding(_) => "ACTIONS_OUTSTANDING",
            Rejection::AudienceRequired => "AUDIENCE_REQUIRED",
            Rejection::LessonsNotDisseminated { .. } => "LESSONS_NOT_DISSEMINATED",
        }
    }
}

/// HMCI and the Chair commission, appoint, publish and close ([C: P31]).
pub const LEADERSHIP: &[Role] = &[Role::Hmci, Role::BoardChair];
/// Who answers the recommendations and follows their actions up.
pub const RESPONDERS: &[Role] = &[Role::Hmci, Role::BoardChair, Role::RecommendationOwner];
/// The appointed reviewer gathers evidence and reports.
pub const REVIEWER: &[Role] = &[Role::IndependentReviewer];
/// Family engagement is offered and held by family liaison or the reviewer.
pub const FAMILY: &[Role] = &[Role::FamilyLiaison, Role::IndependentReviewer];

/// The approver a role approves as; `None` for every other role.
#[must_use]
pub fn approver_of(role: Role) -> Option<Approver> {
    match role {
        Role::Hmci => Some(Approver::Hmci),
        Role::BoardChair => Some(Approver::BoardChair),
        _ => None,
    }
}

fn refuse(role: Role) -> Rejection {
    Rejection::RoleNotPermitted(role)
}

impl platform::aggregate::Aggregate for LearningReview {
    const STREAM_TYPE: &'static str = "learning_review";
    type Command = Command;
    type Event = Event;
    type Rejection = Rejection;

    /// A proposal opens a review under a fresh id.
    fn starts_stream(command: &Command) -> bool {
        matches!(command, Command::Propose(_))
    }

    fn decide(&self, command: Command) -> Result<Vec<Event>, Rejection> {
        match (self.status, &command) {
            (Status::New, Command::Propose(_)) => {}
            (Status::New, _) => return Err(Rejection::NotProposed),
            (_, Command::Propose(_)) => return Err(Rejection::AlreadyProposed),
            _ => {}
        }
        let id = self.review_id.to_string();
        match command {
            Command::Propose(proposal) => propose(proposal),
            Command::ApproveCommission { by, now } => {
                let approver = approver_of(by.role).ok_or(Rejection::RoleNotPermitted(by.role))?;
                self.expect(&[Status::Proposed])?;
                if !self.required_approvers.contains(&approver) {
                    return Err(Rejection::ApproverNotRequired(approver));
                }
                if self.approvals.contains(&approver) {
                    return Err(Rejection::AlreadyApproved(approver));
                }
                Ok(vec![Event::CommissionApproved(v1::CommissionApproved {
                    review_id: id,
                    approver: approver.to_proto(),
                    approved_by_ref: by.actor_ref,
                    approved_at: stamp(now),
                })])
            }
            Command::Commission { by, now } => {
                require(&by, LEADERSHIP, refuse)?;
                self.expect(&[Status::Proposed])?;
                if let Some(missing) = self
                    .required_approvers
                    .iter()
                    .find(|a| !self.approvals.contains(a))
                {
                    return Err(Rejection::ApprovalMissing(*missing));
                }
                Ok(vec![Event::Commissioned(v1::LearningReviewCommissioned {
                    review_id: id,
                    incident_id: self.incident_id.to_string(),
                    approvals: self.approvals.iter().map(|a| a.to_proto()).collect(),
                    commissioned_by_ref: by.actor_ref,
                    commissioned_at: stamp(now),
                })])
            }
            Command::AppointReviewer(appointment) => self.appoint(appointment),
            Command::PublishTermsOfReference { by, now } => {
                require(&by, LEADERSHIP, refuse)?;
                self.expect(&[Status::ReviewerAppointed])?;
                Ok(vec![Event::TermsPublished(v1::TermsOfReferencePublished {
                    review_id: id,
                    terms_of_reference_ref: self.terms_of_reference_ref.clone(),
                    published_at: stamp(now),
                })])
            }
            Command::GrantRecordsAccess {
                by,
                records_ref,
                now,
            } => {
                require(&by, LEADERSHIP, refuse)?;
                self.expect(&[Status::TermsPublished])?;
                Ok(vec![Event::RecordsAccessGranted(
                    v1::RecordsAccessGranted {
                        review_id: id,
                        records_ref,
                        granted_by_ref: by.actor_ref,
                        granted_at: stamp(now),
                    },
                )])
            }
            Command::RecordInterview {
                by,
                interview_ref,
                consent_ref,
                now,
            } => {
                self.reviewer(&by, REVIEWER)?;
                self.expect(&[Status::TermsPublished])?;
                let consent_ref = consent_ref.filter(|c| !c.trim().is_empty());
                Ok(vec![Event::InterviewRecorded(v1::InterviewRecorded {
                    review_id: id,
                    interview_ref,
                    anonymised: consent_ref.is_none(),
                    consent_ref: consent_ref.unwrap_or_default(),
                    recorded_at: stamp(now),
                })])
            }
            Command::OfferFamilyEngagement { by, now } => {
                self.reviewer(&by, FAMILY)?;
                self.expect(&[Status::TermsPublished])?;
                Ok(vec![Event::FamilyEngagementOffered(
                    v1::FamilyEngagementOffered {
                        review_id: id,
                        offered_by_ref: by.actor_ref,
                        offered_at: stamp(now),
                    },
                )])
            }
            Command::RecordFamilyEngagement { by, notes_ref, now } => {
                self.reviewer(&by, FAMILY)?;
                self.expect(&[Status::TermsPublished])?;
                if !self.family_engagement_offered {
                    return Err(Rejection::FamilyEngagementNotOffered);
                }
                Ok(vec![Event::FamilyEngagementHeld(
                    v1::FamilyEngagementHeld {
                        review_id: id,
                        notes_ref,
                        held_at: stamp(now),
                    },
                )])
            }
            Command::RecordSpecialistAdvice {
                by,
                advice_ref,
                now,
            } => {
                self.reviewer(&by, REVIEWER)?;
                self.expect(&[Status::TermsPublished])?;
                Ok(vec![Event::SpecialistAdviceObtained(
                    v1::SpecialistAdviceObtained {
                        review_id: id,
                        advice_ref,
                        obtained_at: stamp(now),
                    },
                )])
            }
            Command::SubmitReport {
                by,
                report_ref,
                recommendations,
                now,
            } => {
                self.reviewer(&by, REVIEWER)?;
                self.expect(&[Status::TermsPublished])?;
                let mut seen = BTreeSet::new();
                for r in &recommendations {
                    if r.recommendation_id.trim().is_empty()
                        || !seen.insert(r.recommendation_id.as_str())
                    {
                        return Err(Rejection::InvalidRecommendationId(
                            r.recommendation_id.clone(),
                        ));
                    }
                }
                Ok(vec![Event::ReportSubmitted(
                    v1::LearningReviewReportSubmitted {
                        review_id: id,
                        report_ref,
                        recommendations: recommendations
                            .into_iter()
                            .map(|r| v1::LearningRecommendation {
                                recommendation_id: r.recommendation_id,
                                text_ref: r.text_ref,
                            })
                            .collect(),
                        submitted_by_ref: by.actor_ref,
                        submitted_at: stamp(now),
                    },
                )])
            }
            Command::PublishReport {
                by,
                published_ref,
                now,
            } => {
                require(&by, LEADERSHIP, refuse)?;
                self.expect(&[Status::ReportSubmitted])?;
                Ok(vec![Event::ReportPublished(
                    v1::LearningReviewReportPublished {
                        review_id: id,
                        published_ref,
                        published_at: stamp(now),
                    },
                )])
            }
            Command::RespondToRecommendation {
                by,
                recommendation_id,
                response,
                reasons_ref,
                now,
            } => {
                require(&by, RESPONDERS, refuse)?;
                self.expect(&[Status::ReportSubmitted, Status::ReportPublished])?;
                let recommendation = self.recommendation(&recommendation_id)?;
                if recommendation.answer != Answer::Unanswered {
                    return Err(Rejection::AlreadyResponded(recommendation_id));
                }
                if response != RecommendationResponse::Accepted && reasons_ref.trim().is_empty() {
                    return Err(Rejection::ReasonsRequired);
                }
                Ok(vec![Event::RecommendationResponded(
                    v1::LearningRecommendationResponded {
                        review_id: id,
                        recommendation_id,
                        response: response.to_proto(),
                        reasons_ref,
                        responded_by_ref: by.actor_ref,
                        responded_at: stamp(now),
                    },
                )])
            }
            Command::PublishResponse {
                by,
                response_ref,
                now,
            } => {
                require(&by, LEADERSHIP, refuse)?;
                if self.status == Status::ReportSubmitted {
                    return Err(Rejection::ReportNotPublished);
                }
                self.expect(&[Status::ReportPublished])?;
                self.all_answered()?;
                Ok(vec![Event::ResponsePublished(
                    v1::LearningReviewResponsePublished {
                        review_id: id,
                        response_ref,
                        published_at: stamp(now),
                    },
                )])
            }
            Command::PublishMonitoringReport {
                by,
                monitoring_report_ref,
                now,
            } => {
                require(&by, RESPONDERS, refuse)?;
                self.expect(&[Status::ResponsePublished])?;
                Ok(vec![Event::MonitoringReportPublished(
                    v1::ImprovementMonitoringReportPublished {
                        review_id: id,
                        monitoring_report_ref,
                        published_at: stamp(now),
                    },
                )])
            }
            Command::RecordActionImplemented {
                by,
                recommendation_id,
                evidence_ref,
                policy,
                now,
            } => {
                self.actionable(&by, &recommendation_id, &policy)?;
                Ok(vec![Event::ActionImplemented(
                    v1::LearningActionImplemented {
                        review_id: id,
                        recommendation_id,
                        evidence_ref,
                        implemented_at: stamp(now),
                    },
                )])
            }
            Command::TransferAction {
                by,
                recommendation_id,
                transferred_to_ref,
                policy,
                now,
            } => {
                self.actionable(&by, &recommendation_id, &policy)?;
                Ok(vec![Event::ActionTransferred(
                    v1::LearningActionTransferred {
                        review_id: id,
                        recommendation_id,
                        transferred_to_ref,
                        transferred_at: stamp(now),
                    },
                )])
            }
            Command::DisseminateLessons {
                by,
                audiences,
                lessons_ref,
                now,
            } => {
                require(&by, LEADERSHIP, refuse)?;
                self.expect(&[Status::ReportPublished, Status::ResponsePublished])?;
                let audiences: BTreeSet<Audience> = audiences.into_iter().collect();
                if audiences.is_empty() {
                    return Err(Rejection::AudienceRequired);
                }
                Ok(vec![Event::LessonsDisseminated(v1::LessonsDisseminated {
                    review_id: id,
                    audiences: audiences.into_iter().map(Audience::to_proto).collect(),
                    lessons_ref,
                    disseminated_at: stamp(now),
                })])
            }
            Command::Close { by, policy, now } => {
                require(&by, LEADERSHIP, refuse)?;
                self.closable(&policy)?;
                Ok(vec![Event::Closed(v1::LearningReviewClosed {
                    review_id: id,
                    closed_by_ref: by.actor_ref,
                    closed_at: stamp(now),
                })])
            }
        }
    }

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::Proposed(e) => {
                self.status = Status::Proposed;
                self.review_id = parse_id(&e.review_id);
                self.incident_id = parse_id(&e.incident_id);
                self.related_inspection_ids = parse_ids(&e.related_inspection_ids);
                self.terms_of_reference_ref
                    .clone_from(&e.terms_of_reference_ref);
                self.scope_in = e
                    .scope_in
                    .iter()
                    .filter_map(|s| ScopeItem::from_proto(*s))
                    .collect();
                self.scope_out = e
                    .scope_out
                    .iter()
                    .filter_map(|s| ScopeItem::from_proto(*s))
                    .collect();
                self.required_approvers = e
                    .required_approvers
                    .iter()
                    .filter_map(|a| Approver::from_proto(*a))
                    .collect();
                self.policy_version.clone_from(&e.policy_version);
            }
            Event::CommissionApproved(e) => {
                self.approvals.extend(Approver::from_proto(e.approver));
            }
            Event::Commissioned(_) => self.status = Status::Commissioned,
            Event::ReviewerAppointed(e) => {
                self.status = Status::ReviewerAppointed;
                self.reviewer_ref = Some(e.reviewer_ref.clone());
                self.prior_roles = e
                    .prior_roles
                    .iter()
                    .filter_map(|r| PriorRole::from_proto(*r))
                    .collect();
            }
            Event::TermsPublished(_) => self.status = Status::TermsPublished,
            Event::FamilyEngagementOffered(_) => self.family_engagement_offered = true,
            Event::RecordsAccessGranted(_)
            | Event::InterviewRecorded(_)
            | Event::FamilyEngagementHeld(_)
            | Event::SpecialistAdviceObtained(_)
            | Event::MonitoringReportPublished(_) => {}
            Event::ReportSubmitted(e) => {
                self.status = Status::ReportSubmitted;
                self.recommendations = e
                    .recommendations
                    .iter()
                    .map(|r| RecommendationState {
                        recommendation_id: r.recommendation_id.clone(),
                        text_ref: r.text_ref.clone(),
                        answer: Answer::Unanswered,
                        action: None,
                    })
                    .collect();
            }
            Event::ReportPublished(_) => self.status = Status::ReportPublished,
            Event::RecommendationResponded(e) => {
                if let Some(r) = self.recommendation_mut(&e.recommendation_id) {
                    r.answer = Answer::Answered(RecommendationResponse::from_proto(e.response));
                }
            }
            Event::ResponsePublished(_) => self.status = Status::ResponsePublished,
            Event::ActionImplemented(e) => {
                if let Some(r) = self.recommendation_mut(&e.recommendation_id) {
                    r.action = Some(Action::Implemented);
                }
            }
            Event::ActionTransferred(e) => {
                if let Some(r) = self.recommendation_mut(&e.recommendation_id) {
                    r.action = Some(Action::Transferred);
                }
            }
            Event::LessonsDisseminated(e) => {
                self.audiences
                    .extend(e.audiences.iter().filter_map(|a| Audience::from_proto(*a)));
            }
            Event::Closed(_) => self.status = Status::Closed,
        }
        self
    }
}

fn propose(proposal: Proposal) -> Result<Vec<Event>, Rejection> {
    let Proposal {
        review_id,
        by,
        incident,
        terms_of_reference_ref,
        scope_in,
        scope_out,
        policy,
        now,
    } = proposal;
    require(&by, LEADERSHIP, refuse)?;
    if incident.decided {
        return Err(Rejection::IncidentAlreadyDecided);
    }
    if incident.assessed_under.is_none() {
        return Err(Rejection::IncidentNotAssessed);
    }
    if !incident.category.is_some_and(|c| policy.triggers_review(c)) {
        return Err(Rejection::NotAReviewTrigger);
    }
    let scope_in: BTreeSet<ScopeItem> = scope_in.into_iter().collect();
    let scope_out: BTreeSet<ScopeItem> = scope_out.into_iter().collect();
    if let Some(both) = scope_in.intersection(&scope_out).next() {
        return Err(Rejection::ScopeItemInAndOut(*both));
    }
    if scope_in.is_empty() {
        return Err(Rejection::NothingInScope);
    }
    let judgements = ScopeItem::InspectionJudgements;
    if !scope_in.contains(&judgements) && !scope_out.contains(&judgements) {
        return Err(Rejection::JudgementsScopeUnstated);
    }
    Ok(vec![Event::Proposed(v1::LearningReviewProposed {
        review_id: review_id.to_string(),
        incident_id: incident.incident_id.to_string(),
        related_inspection_ids: incident
            .related_inspection_ids
            .iter()
            .map(Uuid::to_string)
            .collect(),
        terms_of_reference_ref,
        scope_in: scope_in.into_iter().map(ScopeItem::to_proto).collect(),
        scope_out: scope_out.into_iter().map(ScopeItem::to_proto).collect(),
        proposed_by_ref: by.actor_ref,
        proposed_at: stamp(now),
        required_approvers: policy
            .required_approvers()
            .iter()
            .map(|a| a.to_proto())
            .collect(),
        policy_version: policy.version().to_owned(),
    })])
}

impl LearningReview {
    fn appoint(&self, appointment: Appointment) -> Result<Vec<Event>, Rejection> {
        let Appointment {
            by,
            reviewer_ref,
            independence_declaration_ref,
            prior_roles,
            connections,
            policy,
            now,
        } = appointment;
        require(&by, LEADERSHIP, refuse)?;
        match self.status {
            Status::Commissioned => {}
            Status::Proposed | Status::Closed => return Err(Rejection::WrongState(self.status)),
            _ => return Err(Rejection::ReviewerAlreadyAppointed),
        }
        if independence_declaration_ref.trim().is_empty() {
            return Err(Rejection::DeclarationRequired);
        }
        let mut disclosed: Vec<PriorRole> = Vec::with_capacity(prior_roles.len());
        for role in prior_roles {
            if !disclosed.contains(&role) {
                disclosed.push(role);
            }
        }
        if disclosed.is_empty() {
            return Err(Rejection::PriorRolesNotDisclosed);
        }
        if disclosed.len() > 1 && disclosed.contains(&PriorRole::None) {
            return Err(Rejection::PriorRoleNoneNotAlone);
        }
        for inspection_id in &self.related_inspection_ids {
            let Some(known) = connections.get(inspection_id) else {
                continue;
            };
            let held = known.connections_of(&reviewer_ref);
            if let Some(connection) = held
                .iter()
                .find(|c| policy.conflicting_connections().contains(c))
            {
                return Err(Rejection::ConflictOfInterest {
                    inspection_id: *inspection_id,
                    connection: *connection,
                });
            }
        }
        Ok(vec![Event::ReviewerAppointed(v1::ReviewerAppointed {
            review_id: self.review_id.to_string(),
            reviewer_ref,
            independence_declaration_ref,
            prior_roles: disclosed.into_iter().map(PriorRole::to_proto).collect(),
            appointed_by_ref: by.actor_ref,
            appointed_at: stamp(now),
        })])
    }

    fn expect(&self, statuses: &[Status]) -> Result<(), Rejection> {
        if statuses.contains(&self.status) {
            Ok(())
        } else {
            Err(Rejection::WrongState(self.status))
        }
    }

    /// `by` holds one of `roles`, and an independent reviewer is the one appointed.
    fn reviewer(&self, by: &Actor, roles: &[Role]) -> Result<(), Rejection> {
        require(by, roles, refuse)?;
        if by.role == Role::IndependentReviewer
            && self.reviewer_ref.as_deref() != Some(by.actor_ref.as_str())
        {
            return Err(Rejection::NotTheReviewer);
        }
        Ok(())
    }

    fn recommendation(&self, recommendation_id: &str) -> Result<&RecommendationState, Rejection> {
        self.recommendations
            .iter()
            .find(|r| r.recommendation_id == recommendation_id)
            .ok_or_else(|| Rejection::UnknownRecommendation(recommendation_id.to_owned()))
    }

    fn recommendation_mut(&mut self, recommendation_id: &str) -> Option<&mut RecommendationState> {
        self.recommendations
            .iter_mut()
            .find(|r| r.recommendation_id == recommendation_id)
    }

    fn all_answered(&self) -> Result<(), Rejection> {
        let unanswered: Vec<String> = self
            .recommendations
            .iter()
            .filter(|r| r.answer == Answer::Unanswered)
            .map(|r| r.recommendation_id.clone())
            .collect();
        if unanswered.is_empty() {
            Ok(())
        } else {
            Err(Rejection::RecommendationsUnanswered(unanswered))
        }
    }

    /// Whether `policy` asks for an action on this recommendation.
    fn needs_action(recommendation: &RecommendationState, policy: &Policy) -> bool {
        matches!(recommendation.answer, Answer::Answered(Some(response)) if policy.requires_action(response))
    }

    /// An action may be recorded for the recommendation now.
    fn actionable(
        &self,
        by: &Actor,
        recommendation_id: &str,
        policy: &Policy,
    ) -> Result<(), Rejection> {
        require(by, RESPONDERS, refuse)?;
        self.expect(&[
            Status::ReportSubmitted,
            Status::ReportPublished,
            Status::ResponsePublished,
        ])?;
        let recommendation = self.recommendation(recommendation_id)?;
        if !Self::needs_action(recommendation, policy) {
            return Err(Rejection::NoActionRequired(recommendation_id.to_owned()));
        }
        if recommendation.action.is_some() {
            return Err(Rejection::ActionAlreadyRecorded(
                recommendation_id.to_owned(),
            ));
        }
        Ok(())
    }

    /// Everything invariant 9 asks before closure, in the order it is done; the first thing
    /// missing is the rejection.
    fn closable(&self, policy: &Policy) -> Result<(), Rejection> {
        match self.status {
            Status::Proposed | Status::Closed => return Err(Rejection::WrongState(self.status)),
            Status::ReportPublished | Status::ResponsePublished => {}
            _ => return Err(Rejection::ReportNotPublished),
        }
        self.all_answered()?;
        if self.status != Status::ResponsePublished {
            return Err(Rejection::ResponseNotPublished);
        }
        let outstanding: Vec<String> = self
            .recommendations
            .iter()
            .filter(|r| Self::needs_action(r, policy) && r.action.is_none())
            .map(|r| r.recommendation_id.clone())
            .collect();
        if !outstanding.is_empty() {
            return Err(Rejection::ActionsOutstanding(outstanding));
        }
        let reached = u32::try_from(self.audiences.len()).unwrap_or(u32::MAX);
        if reached < policy.min_audiences_to_close() {
            return Err(Rejection::LessonsNotDisseminated {
                reached,
                required: policy.min_audiences_to_close(),
            });
        }
        Ok(())
    }
}
