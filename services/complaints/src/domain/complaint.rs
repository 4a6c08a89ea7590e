//! `FormalComplaint`: a provider's formal complaint about an inspection, from submission to the
//! response, the escalation rights that follow it, closure and the external panel's periodic
//! review.
//!
//! The stream id is the `complaint_id` the application generates; the inspection is referenced.
//! A refused submission creates no complaint stream: the application records it in the intake log
//! with [`rejected_submission`].
//!
//! ```text
//! Submitted ─ack─▶ Acknowledged ─assign─▶ UnderInvestigation ─respond─▶ ResponseIssued ─▶ Closed
//!     └───────────────┴──────withdraw──────────┘                     ▲       │  (window lapsed,
//!                                 ▼                          respond │       │   escalation
//!                             Withdrawn                              │       │   concluded)
//!                                               UnderReconsideration ◀───────┘ reconsider
//! ```
//!
//! The escalation context's events reach the complaint through the application's escalation
//! policy: an escalation in progress (`ComplaintEscalated`) keeps the escalation window from
//! closing the complaint, until the escalation is withdrawn (`ComplaintEscalationWithdrawn`,
//! closing the complaint at once if the window has passed), concludes (`ComplaintClosed`) or
//! reopens the complaint for reconsideration on an accepted recommendation
//! (`ComplaintReopenedForReconsideration`, with a new response deadline). Commands the policy
//! repeats record nothing when their effect is already recorded.
//!
//! A tragic incident the learning-reviews context reports about the complaint's inspection
//! reaches an open complaint through the application's learning-reviews policy as
//! `SensitiveCaseFlagged`: communications are handled with care, and no state, outcome or
//! deadline changes.
//!
//! The complaint follows its inspection's policy version throughout: every command that takes a
//! policy must pass that version (`PolicySet::version` of `ComplaintIntake::policy_version`), and
//! is refused with `POLICY_VERSION_MISMATCH` otherwise.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;

use jiff::Timestamp;
use platform::aggregate::Aggregate;
use platform::calendar::{CalendarError, local_date};
use uuid::Uuid;

use super::inspection::{ComplaintIntake, InspectionTeam};
use super::policy::Policy;
use super::{
    Actor, CalendarRef, ClosureReason, ComplaintGround, ComplaintOutcome, ComplaintRoute,
    ExtensionReason, Reason, Redirect, RejectionReason, Remedy, Role, WindowStart,
    WithdrawalReason, date_text, instant, intake, stamp, uncovered_date, v1,
};

/// What the provider sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    pub inspection_id: Uuid,
    pub complainant_ref: String,
    pub grounds: BTreeSet<ComplaintGround>,
    /// The complaint and its evidence, in the document store.
    pub doc_refs: Vec<String>,
    pub submitted_at: Timestamp,
    /// A decision maker's leave to complain although fast-track points were sent.
    pub route_override: Option<RouteOverride>,
}

/// A decision maker's leave to use the formal route after the fast-track one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteOverride {
    pub decided_by: Actor,
    /// The recorded reason, in the document store.
    pub reason_ref: String,
}

/// The facts about other aggregates a submission is checked against, gathered by the application
/// just before it submits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmissionFacts {
    /// `InspectionCase::complaint_intake()` of the inspection complained about, including
    /// whether a tribunal appeal about it is pending.
    pub inspection: ComplaintIntake,
    /// The open complaint by the same provider about the same inspection, from the complaints
    /// read model (`complaint_deadlines`), if there is one.
    pub open_complaint: Option<Uuid>,
}

/// How an answered complaint ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closure {
    /// Timer, scheduled for the first instant after the recorded escalation `window_closes_at`:
    /// the window passed. Refused while an escalation is in progress.
    EscalationWindowLapsed,
    /// Policy on the escalation context's `EscalationClosed` or
    /// `EscalationDeclinedByIndependentBody`: the escalation in progress concluded.
    EscalationConcluded { escalation_id: Uuid },
}

/// What providers, investigators, decision makers, timers and other contexts ask of a complaint.
#[derive(Clone, Debug)]
pub enum Command {
    /// Submit a formal complaint inside the window.
    SubmitFormalComplaint {
        complaint_id: Uuid,
        submission: Submission,
        facts: SubmissionFacts,
        policy: Arc<Policy>,
        calendar: CalendarRef,
    },
    /// A decision maker accepts a complaint submitted outside the window, with a justification.
    /// The response clock starts at `accepted_at`. Discretion is about time only: every other
    /// rule of a submission still applies, so it too is refused while a tribunal appeal about the
    /// inspection is pending.
    AcceptOutOfTime {
        complaint_id: Uuid,
        submission: Submission,
        facts: SubmissionFacts,
        decided_by: Actor,
        justification_ref: String,
        accepted_at: Timestamp,
        policy: Arc<Policy>,
        calendar: CalendarRef,
    },
    /// Acknowledge the complaint and fix its response deadline.
    AcknowledgeComplaint {
        acknowledged_at: Timestamp,
        policy: Arc<Policy>,
        calendar: CalendarRef,
    },
    /// The complainant adds information, answered in the one response.
    AddComplaintInformation {
        doc_ref: String,
        added_by_ref: String,
        added_at: Timestamp,
    },
    /// Give the complaint to an investigator. `investigator.role` comes from the staff
    /// directory; `team` is `InspectionCase::team()` of the complaint's inspection.
    AssignInvestigator {
        investigator: Actor,
        assigned_at: Timestamp,
        team: InspectionTeam,
    },
    /// The investigator held a call with the provider.
    RecordInvestigationCall {
        notes_ref: String,
        accompanied: bool,
        held_at: Timestamp,
    },
    /// A decision maker moves the response deadline by whole working days, with a reason.
    ExtendResponseDeadline {
        additional_working_days: NonZeroU32,
        reason: ExtensionReason,
        reason_ref: String,
        decided_by: Actor,
        decided_at: Timestamp,
        policy: Arc<Policy>,
        calendar: CalendarRef,
    },
    /// Timer: the response deadline passed. Schedule it for the first instant after the
    /// recorded `response_due_at` (rescheduled when the deadline is extended); `policy` is the
    /// complaint's, and says whether escalation opens now.
    MarkResponseOverdue { now: Timestamp, policy: Arc<Policy> },
    /// A decision maker issues the response, and the complainant is told how to escalate.
    IssueComplaintResponse {
        outcome: ComplaintOutcome,
        remedies: BTreeSet<Remedy>,
        response_doc_ref: String,
        decided_by: Actor,
        responded_at: Timestamp,
        policy: Arc<Policy>,
        calendar: CalendarRef,
    },
    /// The complainant withdraws before the response.
    WithdrawComplaint {
        reason: WithdrawalReason,
        withdrawn_by_ref: String,
        withdrawn_at: Timestamp,
    },
    /// Close an answered complaint.
    CloseComplaint {
        closed_at: Timestamp,
        because: Closure,
    },
    /// Policy on the escalation context's `EscalationRequested`: the complainant escalated the
    /// answered complaint (or, where the policy allows it, the overdue one).
    RecordEscalationRequested {
        escalation_id: Uuid,
        requested_at: Timestamp,
    },
    /// Policy on the escalation context's `EscalationWithdrawn`. `now` is when the policy handles
    /// it: if the escalation window has passed by then, the complaint closes at once (its
    /// window timer, refused while the escalation was in progress, does not fire again).
    RecordEscalationWithdrawn {
        escalation_id: Uuid,
        withdrawn_at: Timestamp,
        now: Timestamp,
    },
    /// Policy on the escalation context's `RecommendationAccepted` of kind "reconsider the
    /// complaint": investigate the answered complaint again, with a new response deadline from
    /// `reopened_at`. `policy` is the complaint's.
    ReopenForReconsideration {
        escalation_id: Uuid,
        /// The independent body's id of the recommendation, unique within its findings.
        recommendation_id: String,
        reopened_at: Timestamp,
        policy: Arc<Policy>,
        calendar: CalendarRef,
    },
    /// Draw a closed complaint for the external panel's periodic review.
    SelectForPeriodicReview {
        panel_id: Uuid,
        sampled_at: Timestamp,
    },
    /// Policy on the learning-reviews context's `IncidentReported`, for a complaint about one of
    /// the incident's related inspections: handle communications with care. It changes no
    /// state, outcome or deadline. Only an open complaint is flagged — submitted, acknowledged,
    /// under investigation or reconsideration, or answered (escalated or not): a withdrawn or
    /// closed one has no communications left to take care over, and is refused.
    FlagSensitiveCase {
        incident_id: Uuid,
        flagged_at: Timestamp,
    },
}

/// The facts a complaint records.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    ComplaintSubmitted(v1::ComplaintSubmitted),
    OutOfTimeComplaintAccepted(v1::OutOfTimeComplaintAccepted),
    ComplaintAcknowledged(v1::ComplaintAcknowledged),
    ComplaintInformationAdded(v1::ComplaintInformationAdded),
    InvestigatorAssigned(v1::InvestigatorAssigned),
    InvestigationCallHeld(v1::InvestigationCallHeld),
    ResponseDeadlineExtended(v1::ResponseDeadlineExtended),
    ComplaintResponseOverdue(v1::ComplaintResponseOverdue),
    ComplaintResponseIssued(v1::ComplaintResponseIssued),
    EscalationRightsNotified(v1::EscalationRightsNotified),
    ComplaintWithdrawn(v1::ComplaintWithdrawn),
    ComplaintClosed(v1::ComplaintClosed),
    ClosedComplaintSampledForReview(v1::ClosedComplaintSampledForReview),
    SensitiveCaseFlagged(v1::SensitiveCaseFlagged),
    ComplaintEscalated(v1::ComplaintEscalated),
    ComplaintEscalationWithdrawn(v1::ComplaintEscalationWithdrawn),
    ComplaintReopenedForReconsideration(v1::ComplaintReopenedForReconsideration),
}

platform::domain_event! { Event {
    ComplaintSubmitted(v1::ComplaintSubmitted),
    OutOfTimeComplaintAccepted(v1::OutOfTimeComplaintAccepted),
    ComplaintAcknowledged(v1::ComplaintAcknowledged),
    ComplaintInformationAdded(v1::ComplaintInformationAdded),
    InvestigatorAssigned(v1::InvestigatorAssigned),
    InvestigationCallHeld(v1::InvestigationCallHeld),
    ResponseDeadlineExtended(v1::ResponseDeadlineExtended),
    ComplaintResponseOverdue(v1::ComplaintResponseOverdue),
    ComplaintResponseIssued(v1::ComplaintResponseIssued),
    EscalationRightsNotified(v1::EscalationRightsNotified),
    ComplaintWithdrawn(v1::ComplaintWithdrawn),
    ComplaintClosed(v1::ComplaintClosed),
    ClosedComplaintSampledForReview(v1::ClosedComplaintSampledForReview),
    SensitiveCaseFlagged(v1::SensitiveCaseFlagged),
    ComplaintEscalated(v1::ComplaintEscalated),
    ComplaintEscalationWithdrawn(v1::ComplaintEscalationWithdrawn),
    ComplaintReopenedForReconsideration(v1::ComplaintReopenedForReconsideration),
} }

/// The rule a complaint command broke.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("this complaint has already been submitted")]
    AlreadySubmitted,
    /// Another complaint about the inspection is open; add information to it instead.
    #[error("complaint {existing} about this inspection is still open")]
    DuplicateOpen { existing: Uuid },
    #[error("complaints are not investigated while a tribunal appeal is under way")]
    TribunalAppealPending,
    #[error("no draft report has been issued")]
    NoDraftReport,
    /// `opens_at` is `None` while the window has not opened (before the final report, under the
    /// rules before 5 April 2024).
    #[error("the formal-complaint window is not open yet")]
    TooEarly { opens_at: Option<Timestamp> },
    #[error("the formal-complaint window closed at {window_closed_at}")]
    OutOfTime { window_closed_at: Timestamp },
    #[error("the complaint is within the window, which closes at {window_closes_at}")]
    WithinWindow { window_closes_at: Timestamp },
    #[error("fast-track points were submitted; the formal route needs a decision maker's override")]
    RouteAlreadyChosen,
    #[error("only a complaints decision maker may do this")]
    NotDecisionMaker,
    #[error("an out-of-time acceptance needs a justification")]
    JustificationRequired,
    #[error("this decision needs a recorded reason")]
    ReasonRequired,
    #[error("a complaint needs at least one ground")]
    GroundsRequired,
    #[error("the facts passed are about another inspection")]
    InspectionMismatch,
    #[error("no complaint has been submitted")]
    NotSubmitted,
    #[error("the complaint has not been acknowledged")]
    NotAcknowledged,
    #[error("the complaint has already been acknowledged")]
    AlreadyAcknowledged,
    #[error("no investigator has been assigned")]
    NotUnderInvestigation,
    #[error("the investigator must be a complaints investigator")]
    NotComplaintsInvestigator,
    #[error("the investigator is on the inspection team")]
    InvestigatorOnInspectionTeam,
    #[error("the complaint has been withdrawn")]
    AlreadyWithdrawn,
    #[error("the response has already been issued")]
    ResponseAlreadyIssued,
    #[error("the response has not been issued")]
    ResponseNotIssued,
    #[error("the complaint is not closed")]
    NotClosed,
    #[error("the complaint is closed")]
    AlreadyClosed,
    #[error("the response is not due until {due_at}")]
    ResponseNotYetDue { due_at: Timestamp },
    #[error("the remedies do not fit a {outcome:?} outcome")]
    RemediesInconsistentWithOutcome { outcome: ComplaintOutcome },
    #[error("the escalation window is open until {closes_at}")]
    EscalationWindowOpen { closes_at: Timestamp },
    #[error("an escalation is in progress")]
    EscalationInProgress,
    /// The escalation context reported an outcome of an escalation this complaint has not
    /// recorded as in progress.
    #[error("escalation {escalation_id} is not in progress for this complaint")]
    EscalationNotInProgress { escalation_id: Uuid },
    #[error("the complaint follows policy {recorded:?}, not {supplied:?}")]
    PolicyVersionMismatch { recorded: String, supplied: String },
    #[error("the working-day calendar does not cover {date}")]
    CalendarOutOfRange { date: jiff::civil::Date },
}

impl Reason for Rejection {
    fn reason(&self) -> &'static str {
        match self {
            Rejection::AlreadySubmitted => "ALREADY_SUBMITTED",
            Rejection::DuplicateOpen { .. } => "DUPLICATE_OPEN",
            Rejection::TribunalAppealPending => "TRIBUNAL_APPEAL_PENDING",
            Rejection::NoDraftReport => "NO_DRAFT_REPORT",
            Rejection::TooEarly { .. } => "TOO_EARLY",
            Rejection::OutOfTime { .. } => "OUT_OF_TIME",
            Rejection::WithinWindow { .. } => "WITHIN_WINDOW",
            Rejection::RouteAlreadyChosen => "ROUTE_ALREADY_CHOSEN",
            Rejection::NotDecisionMaker => "NOT_DECISION_MAKER",
            Rejection::JustificationRequired => "JUSTIFICATION_REQUIRED",
            Rejection::ReasonRequired => "REASON_REQUIRED",
            Rejection::GroundsRequired => "GROUNDS_REQUIRED",
            Rejection::InspectionMismatch => "INSPECTION_MISMATCH",
            Rejection::NotSubmitted => "NOT_SUBMITTED",
            Rejection::NotAcknowledged => "NOT_ACKNOWLEDGED",
            Rejection::AlreadyAcknowledged => "ALREADY_ACKNOWLEDGED",
            Rejection::NotUnderInvestigation => "NOT_UNDER_INVESTIGATION",
            Rejection::NotComplaintsInvestigator => "NOT_COMPLAINTS_INVESTIGATOR",
            Rejection::InvestigatorOnInspectionTeam => "INVESTIGATOR_ON_INSPECTION_TEAM",
            Rejection::AlreadyWithdrawn => "ALREADY_WITHDRAWN",
            Rejection::ResponseAlreadyIssued => "RESPONSE_ALREADY_ISSUED",
            Rejection::ResponseNotIssued => "RESPONSE_NOT_ISSUED",
            Rejection::NotClosed => "NOT_CLOSED",
            Rejection::AlreadyClosed => "ALREADY_CLOSED",
            Rejection::ResponseNotYetDue { .. } => "RESPONSE_NOT_YET_DUE",
            Rejection::RemediesInconsistentWithOutcome { .. } => {
                "REMEDIES_INCONSISTENT_WITH_OUTCOME"
            }
            Rejection::EscalationWindowOpen { .. } => "ESCALATION_WINDOW_OPEN",
            Rejection::EscalationInProgress => "ESCALATION_IN_PROGRESS",
            Rejection::EscalationNotInProgress { .. } => "ESCALATION_NOT_IN_PROGRESS",
            Rejection::PolicyVersionMismatch { .. } => "POLICY_VERSION_MISMATCH",
            Rejection::CalendarOutOfRange { .. } => "CALENDAR_OUT_OF_RANGE",
        }
    }
}

impl Rejection {
    /// The stable machine-readable code of the broken rule, e.g. `OUT_OF_TIME`.
    pub fn reason(&self) -> &'static str {
        Reason::reason(self)
    }
}

/// A formal complaint as its events describe it. The response deadline exists only once the
/// complaint is acknowledged, an investigator only once assigned, the escalation window only once
/// the response is issued; a reconsideration has a deadline of its own and keeps the investigator
/// of the first response until another is assigned.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum FormalComplaint {
    #[default]
    NotSubmitted,
    Submitted {
        complaint: Complaint,
    },
    Acknowledged {
        complaint: Complaint,
        response: ResponseClock,
    },
    UnderInvestigation {
        complaint: Complaint,
        response: ResponseClock,
        investigator_ref: String,
    },
    ResponseIssued {
        complaint: Complaint,
        escalation_window_closes_at: Timestamp,
        investigator_ref: String,
    },
    /// Reopened on the independent body's recommendation; answered again like an investigation.
    UnderReconsideration {
        complaint: Complaint,
        response: ResponseClock,
        investigator_ref: String,
        reconsideration: Reconsideration,
    },
    Withdrawn {
        complaint: Complaint,
        withdrawn_at: Timestamp,
    },
    Closed {
        complaint: Complaint,
        sampled_by: BTreeSet<Uuid>,
    },
}

/// What is known of every submitted complaint.
#[derive(Clone, Debug, PartialEq)]
pub struct Complaint {
    pub complaint_id: Uuid,
    pub inspection_id: Uuid,
    /// The inspection's policy version.
    pub policy_version: String,
    /// The inspected provider's opaque identifier (URN), from the inspection's facts.
    pub provider_id: String,
    /// When the response clock starts: submission, or acceptance for an out-of-time complaint.
    pub clock_starts_at: Timestamp,
    /// Incidents a learning review flagged; communications only.
    pub sensitive: BTreeSet<Uuid>,
    /// The escalation in progress, from `EscalationRequested` until it is withdrawn, concludes
    /// or reopens the complaint.
    pub escalation: Option<Uuid>,
    /// Every escalation recorded on the complaint, in progress or ended.
    pub escalations: BTreeSet<Uuid>,
    /// The accepted recommendations that reopened the complaint, by escalation.
    pub reconsiderations: BTreeSet<(Uuid, String)>,
}

/// Why and since when a complaint is being reconsidered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconsideration {
    pub escalation_id: Uuid,
    pub recommendation_id: String,
    pub reopened_at: Timestamp,
}

/// The response deadline, the calendar it was computed with, and whether it has been marked as
/// passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseClock {
    pub due_at: Timestamp,
    pub calendar_version: String,
    pub overdue: bool,
}

impl FormalComplaint {
    /// The complaint, once submitted.
    pub fn complaint(&self) -> Option<&Complaint> {
        match self {
            FormalComplaint::NotSubmitted => None,
            FormalComplaint::Submitted { complaint }
            | FormalComplaint::Acknowledged { complaint, .. }
            | FormalComplaint::UnderInvestigation { complaint, .. }
            | FormalComplaint::ResponseIssued { complaint, .. }
            | FormalComplaint::UnderReconsideration { complaint, .. }
            | FormalComplaint::Withdrawn { complaint, .. }
            | FormalComplaint::Closed { complaint, .. } => Some(complaint),
        }
    }

    /// The escalation in progress, if any.
    pub fn escalation_in_progress(&self) -> Option<Uuid> {
        self.complaint().and_then(|c| c.escalation)
    }

    /// The inspected provider's opaque identifier (URN), once submitted.
    pub fn provider_id(&self) -> Option<&str> {
        self.complaint().map(|c| c.provider_id.as_str())
    }

    /// Whether the complaint is open: submitted and neither answered nor withdrawn. An open
    /// complaint refuses a second one about the same inspection.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            FormalComplaint::Submitted { .. }
                | FormalComplaint::Acknowledged { .. }
                | FormalComplaint::UnderInvestigation { .. }
        )
    }

    /// The complaint a before-the-response command acts on.
    fn open(&self) -> Result<&Complaint, Rejection> {
        match self {
            FormalComplaint::Submitted { complaint }
            | FormalComplaint::Acknowledged { complaint, .. }
            | FormalComplaint::UnderInvestigation { complaint, .. } => Ok(complaint),
            other => Err(other.not_open()),
        }
    }

    /// The complaint and its deadline, once acknowledged and before the response, or while
    /// reconsidered before the new response.
    fn clocked(&self) -> Result<(&Complaint, &ResponseClock), Rejection> {
        match self {
            FormalComplaint::Acknowledged {
                complaint,
                response,
            }
            | FormalComplaint::UnderInvestigation {
                complaint,
                response,
                ..
            }
            | FormalComplaint::UnderReconsideration {
                complaint,
                response,
                ..
            } => Ok((complaint, response)),
            FormalComplaint::Submitted { .. } => Err(Rejection::NotAcknowledged),
            other => Err(other.not_open()),
        }
    }

    /// The complaint a command that adds to the investigation acts on: open, or reconsidered.
    fn answerable(&self) -> Result<&Complaint, Rejection> {
        match self {
            FormalComplaint::UnderReconsideration { complaint, .. } => Ok(complaint),
            other => other.open(),
        }
    }

    /// Why a before-the-response command is refused in a state that is not open.
    fn not_open(&self) -> Rejection {
        match self {
            FormalComplaint::NotSubmitted => Rejection::NotSubmitted,
            FormalComplaint::Withdrawn { .. } => Rejection::AlreadyWithdrawn,
            _ => Rejection::ResponseAlreadyIssued,
        }
    }

    /// Why a command of the escalation policy is refused in a state it does not apply to.
    fn not_answered(&self) -> Rejection {
        match self {
            FormalComplaint::NotSubmitted => Rejection::NotSubmitted,
            FormalComplaint::Withdrawn { .. } => Rejection::AlreadyWithdrawn,
            FormalComplaint::Closed { .. } => Rejection::AlreadyClosed,
            _ => Rejection::ResponseNotIssued,
        }
    }
}

fn same_policy(complaint: &Complaint, policy: &Policy) -> Result<(), Rejection> {
    if complaint.policy_version == policy.version() {
        Ok(())
    } else {
        Err(Rejection::PolicyVersionMismatch {
            recorded: complaint.policy_version.clone(),
            supplied: policy.version().to_owned(),
        })
    }
}

fn uncovered(at: Timestamp) -> impl Fn(CalendarError) -> Rejection {
    move |error| Rejection::CalendarOutOfRange {
        date: uncovered_date(&error, local_date(at)),
    }
}

/// Whether `escalation_id` was recorded on the complaint and is no longer in progress.
fn ended(complaint: &Complaint, escalation_id: Uuid) -> bool {
    complaint.escalations.contains(&escalation_id) && complaint.escalation != Some(escalation_id)
}

fn closed(
    complaint: &Complaint,
    reason: ClosureReason,
    closed_at: Timestamp,
    escalation_id: String,
) -> Event {
    Event::ComplaintClosed(v1::ComplaintClosed {
        complaint_id: complaint.complaint_id.to_string(),
        reason: reason.to_proto(),
        closed_at: stamp(closed_at),
        escalation_id,
    })
}

fn decision_maker(actor: &Actor) -> Result<(), Rejection> {
    if actor.role == Role::ComplaintsDecisionMaker {
        Ok(())
    } else {
        Err(Rejection::NotDecisionMaker)
    }
}

/// A discretionary acceptance, when the submission is out of time.
struct Discretion {
    decided_by: Actor,
    justification_ref: String,
    accepted_at: Timestamp,
}

/// The remedies an outcome may carry: a complaint not upheld changes nothing; an upheld or partly
/// upheld one does something; "no change" cannot sit beside an amended report or judgement.
fn check_remedies(outcome: ComplaintOutcome, remedies: &BTreeSet<Remedy>) -> Result<(), Rejection> {
    let acts = remedies.iter().any(|r| *r != Remedy::NoChange);
    let consistent = match outcome {
        ComplaintOutcome::NotUpheld => !acts,
        ComplaintOutcome::Upheld | ComplaintOutcome::PartiallyUpheld => {
            acts && !(remedies.contains(&Remedy::NoChange)
                && (remedies.contains(&Remedy::ReportAmended)
                    || remedies.contains(&Remedy::JudgementRevised)))
        }
    };
    if consistent {
        Ok(())
    } else {
        Err(Rejection::RemediesInconsistentWithOutcome { outcome })
    }
}

impl FormalComplaint {
    /// The rules of §5.3 and §5.6 for letting a complaint in, in the order a provider can act on
    /// them: a duplicate first (add information instead), then the inspection's state, then time,
    /// then the route.
    fn admit(
        &self,
        complaint_id: Uuid,
        submission: Submission,
        facts: SubmissionFacts,
        policy: &Policy,
        calendar: CalendarRef,
        discretion: Option<Discretion>,
    ) -> Result<Vec<Event>, Rejection> {
        if !matches!(self, FormalComplaint::NotSubmitted) {
            return Err(Rejection::AlreadySubmitted);
        }
        if let Some(discretion) = &discretion {
            decision_maker(&discretion.decided_by)?;
            if discretion.justification_ref.trim().is_empty() {
                return Err(Rejection::JustificationRequired);
            }
        }
        if submission.grounds.is_empty() {
            return Err(Rejection::GroundsRequired);
        }
        let inspection = &facts.inspection;
        if inspection.inspection_id != submission.inspection_id {
            return Err(Rejection::InspectionMismatch);
        }
        if let Some(existing) = facts.open_complaint {
            return Err(Rejection::DuplicateOpen { existing });
        }
        // Ofsted does not investigate a complaint while an appeal to the Tribunal about the
        // inspection is under way (domain research §1.4), whoever lets the complaint in.
        if inspection.tribunal_appeal_pending {
            return Err(Rejection::TribunalAppealPending);
        }
        if inspection.policy_version != policy.version() {
            return Err(Rejection::PolicyVersionMismatch {
                recorded: inspection.policy_version.clone(),
                supplied: policy.version().to_owned(),
            });
        }
        let draft = inspection.draft.as_ref().ok_or(Rejection::NoDraftReport)?;
        let window = draft
            .window
            .as_ref()
            .ok_or(Rejection::TooEarly { opens_at: None })?;
        if submission.submitted_at < window.opens_at {
            return Err(Rejection::TooEarly {
                opens_at: Some(window.opens_at),
            });
        }
        let late = submission.submitted_at > window.closes_at;
        match (&discretion, late) {
            (None, true) => {
                return Err(Rejection::OutOfTime {
                    window_closed_at: window.closes_at,
                });
            }
            (Some(_), false) => {
                return Err(Rejection::WithinWindow {
                    window_closes_at: window.closes_at,
                });
            }
            _ => {}
        }
        // Only an override that was needed is recorded; one sent "just in case" says nothing.
        let route_override =
            if draft.fast_track_chosen && policy.factual_accuracy_precludes_formal_complaint() {
                let route_override = submission
                    .route_override
                    .clone()
                    .ok_or(Rejection::RouteAlreadyChosen)?;
                decision_maker(&route_override.decided_by)?;
                if route_override.reason_ref.trim().is_empty() {
                    return Err(Rejection::ReasonRequired);
                }
                Some(route_override)
            } else {
                None
            };
        let clock_starts_at = discretion
            .as_ref()
            .map_or(submission.submitted_at, |d| d.accepted_at);
        let acknowledgement_due_at = policy
            .acknowledgement_due_at(calendar, clock_starts_at)
            .map_err(uncovered(clock_starts_at))?;
        let route = match (&discretion, window.counted_from) {
            (Some(_), _) => ComplaintRoute::OutOfTime,
            (None, WindowStart::DraftReport) => ComplaintRoute::DraftStage,
            (None, WindowStart::FinalReport) => ComplaintRoute::FinalReportStage,
        };
        let mut events = vec![Event::ComplaintSubmitted(v1::ComplaintSubmitted {
            complaint_id: complaint_id.to_string(),
            inspection_id: inspection.inspection_id.to_string(),
            remit: inspection.remit.to_proto(),
            complainant_ref: submission.complainant_ref,
            grounds: submission.grounds.iter().map(|g| g.to_proto()).collect(),
            doc_refs: submission.doc_refs,
            submitted_at: stamp(submission.submitted_at),
            route: route.to_proto(),
            draft_issued_at: stamp(draft.issued_at),
            window_closes_at: stamp(window.closes_at),
            acknowledgement_due_at: stamp(acknowledgement_due_at),
            route_override_reason_ref: route_override
                .as_ref()
                .map(|o| o.reason_ref.clone())
                .unwrap_or_default(),
            route_override_by_ref: route_override
                .map(|o| o.decided_by.actor_ref)
                .unwrap_or_default(),
            policy_version: policy.version().to_owned(),
            calendar_version: calendar.version().to_owned(),
            provider_id: inspection.provider_id.clone(),
            last_onsite_date: inspection
                .last_onsite_date
                .map(date_text)
                .unwrap_or_default(),
        })];
        if let Some(discretion) = discretion {
            events.push(Event::OutOfTimeComplaintAccepted(
                v1::OutOfTimeComplaintAccepted {
                    complaint_id: complaint_id.to_string(),
                    decided_by_ref: discretion.decided_by.actor_ref,
                    justification_ref: discretion.justification_ref,
                    accepted_at: stamp(discretion.accepted_at),
                    window_closed_at: stamp(window.closes_at),
                },
            ));
        }
        Ok(events)
    }
}

impl Aggregate for FormalComplaint {
    const STREAM_TYPE: &'static str = "formal_complaint";
    type Command = Command;
    type Event = Event;
    type Rejection = Rejection;

    fn decide(&self, command: Command) -> Result<Vec<Event>, Rejection> {
        match command {
            Command::SubmitFormalComplaint {
                complaint_id,
                submission,
                facts,
                policy,
                calendar,
            } => self.admit(complaint_id, submission, facts, &policy, calendar, None),

            Command::AcceptOutOfTime {
                complaint_id,
                submission,
                facts,
                decided_by,
                justification_ref,
                accepted_at,
                policy,
                calendar,
            } => self.admit(
                complaint_id,
                submission,
                facts,
                &policy,
                calendar,
                Some(Discretion {
                    decided_by,
                    justification_ref,
                    accepted_at,
                }),
            ),

            Command::AcknowledgeComplaint {
                acknowledged_at,
                policy,
                calendar,
            } => {
                let complaint = match self {
                    FormalComplaint::Submitted { complaint } => complaint,
                    FormalComplaint::Acknowledged { .. }
                    | FormalComplaint::UnderInvestigation { .. } => {
                        return Err(Rejection::AlreadyAcknowledged);
                    }
                    other => return Err(other.not_open()),
                };
                same_policy(complaint, &policy)?;
                let response_due_at = policy
                    .response_due_at(calendar, complaint.clock_starts_at)
                    .map_err(uncovered(complaint.clock_starts_at))?;
                Ok(vec![Event::ComplaintAcknowledged(
                    v1::ComplaintAcknowledged {
                        complaint_id: complaint.complaint_id.to_string(),
                        acknowledged_at: stamp(acknowledged_at),
                        response_due_at: stamp(response_due_at),
                        response_target_working_days: policy.response_target_working_days(),
                        policy_version: policy.version().to_owned(),
                        calendar_version: calendar.version().to_owned(),
                    },
                )])
            }

            Command::AddComplaintInformation {
                doc_ref,
                added_by_ref,
                added_at,
            } => {
                let complaint = self.answerable()?;
                Ok(vec![Event::ComplaintInformationAdded(
                    v1::ComplaintInformationAdded {
                        complaint_id: complaint.complaint_id.to_string(),
                        doc_ref,
                        added_by_ref,
                        added_at: stamp(added_at),
                    },
                )])
            }

            Command::AssignInvestigator {
                investigator,
                assigned_at,
                team,
            } => {
                let (complaint, _) = self.clocked()?;
                if team.inspection_id != complaint.inspection_id {
                    return Err(Rejection::InspectionMismatch);
                }
                if investigator.role != Role::ComplaintsInvestigator {
                    return Err(Rejection::NotComplaintsInvestigator);
                }
                if team.members.contains(&investigator.actor_ref) {
                    return Err(Rejection::InvestigatorOnInspectionTeam);
                }
                if matches!(self, FormalComplaint::UnderInvestigation { investigator_ref, .. }
                    | FormalComplaint::UnderReconsideration { investigator_ref, .. }
                    if *investigator_ref == investigator.actor_ref)
                {
                    return Ok(vec![]);
                }
                Ok(vec![Event::InvestigatorAssigned(
                    v1::InvestigatorAssigned {
                        complaint_id: complaint.complaint_id.to_string(),
                        investigator_ref: investigator.actor_ref,
                        assigned_at: stamp(assigned_at),
                    },
                )])
            }

            Command::RecordInvestigationCall {
                notes_ref,
                accompanied,
                held_at,
            } => {
                let complaint = match self {
                    FormalComplaint::UnderInvestigation { complaint, .. }
                    | FormalComplaint::UnderReconsideration { complaint, .. } => complaint,
                    FormalComplaint::Submitted { .. } | FormalComplaint::Acknowledged { .. } => {
                        return Err(Rejection::NotUnderInvestigation);
                    }
                    other => return Err(other.not_open()),
                };
                Ok(vec![Event::InvestigationCallHeld(
                    v1::InvestigationCallHeld {
                        complaint_id: complaint.complaint_id.to_string(),
                        notes_ref,
                        accompanied,
                        held_at: stamp(held_at),
                    },
                )])
            }

            Command::ExtendResponseDeadline {
                additional_working_days,
                reason,
                reason_ref,
                decided_by,
                decided_at,
                policy,
                calendar,
            } => {
                let (complaint, response) = self.clocked()?;
                decision_maker(&decided_by)?;
                if reason_ref.trim().is_empty() {
                    return Err(Rejection::ReasonRequired);
                }
                same_policy(complaint, &policy)?;
                let new_due_at = calendar
                    .end_of_nth_working_day_after(response.due_at, additional_working_days.get())
                    .map_err(uncovered(response.due_at))?;
                Ok(vec![Event::ResponseDeadlineExtended(
                    v1::ResponseDeadlineExtended {
                        complaint_id: complaint.complaint_id.to_string(),
                        previous_due_at: stamp(response.due_at),
                        new_due_at: stamp(new_due_at),
                        additional_working_days: additional_working_days.get(),
                        reason: reason.to_proto(),
                        reason_ref,
                        decided_by_ref: decided_by.actor_ref,
                        decided_at: stamp(decided_at),
                        policy_version: policy.version().to_owned(),
                        calendar_version: calendar.version().to_owned(),
                    },
                )])
            }

            Command::MarkResponseOverdue { now, policy } => {
                let (complaint, response) = self.clocked()?;
                if response.overdue {
                    return Ok(vec![]);
                }
                if now <= response.due_at {
                    return Err(Rejection::ResponseNotYetDue {
                        due_at: response.due_at,
                    });
                }
                same_policy(complaint, &policy)?;
                Ok(vec![Event::ComplaintResponseOverdue(
                    v1::ComplaintResponseOverdue {
                        complaint_id: complaint.complaint_id.to_string(),
                        response_due_at: stamp(response.due_at),
                        detected_at: stamp(now),
                        escalation_allowed: policy.allow_escalation_when_response_overdue(),
                        policy_version: policy.version().to_owned(),
                        calendar_version: response.calendar_version.clone(),
                    },
                )])
            }

            Command::IssueComplaintResponse {
                outcome,
                remedies,
                response_doc_ref,
                decided_by,
                responded_at,
                policy,
                calendar,
            } => {
                let (complaint, response) = match self {
                    FormalComplaint::UnderInvestigation {
                        complaint,
                        response,
                        ..
                    }
                    | FormalComplaint::UnderReconsideration {
                        complaint,
                        response,
                        ..
                    } => (complaint, response),
                    FormalComplaint::Submitted { .. } | FormalComplaint::Acknowledged { .. } => {
                        return Err(Rejection::NotUnderInvestigation);
                    }
                    other => return Err(other.not_open()),
                };
                decision_maker(&decided_by)?;
                check_remedies(outcome, &remedies)?;
                same_policy(complaint, &policy)?;
                let window_closes_at = policy
                    .escalation_window_closes_at(calendar, responded_at)
                    .map_err(uncovered(responded_at))?;
                let complaint_id = complaint.complaint_id.to_string();
                Ok(vec![
                    Event::ComplaintResponseIssued(v1::ComplaintResponseIssued {
                        complaint_id: complaint_id.clone(),
                        outcome: outcome.to_proto(),
                        remedies: remedies.iter().map(|r| r.to_proto()).collect(),
                        response_doc_ref: response_doc_ref.clone(),
                        decided_by_ref: decided_by.actor_ref,
                        responded_at: stamp(responded_at),
                        late: responded_at > response.due_at,
                    }),
                    Event::EscalationRightsNotified(v1::EscalationRightsNotified {
                        complaint_id,
                        route: policy.escalation().route.to_proto(),
                        notified_at: stamp(responded_at),
                        window_closes_at: stamp(window_closes_at),
                        policy_version: policy.version().to_owned(),
                        calendar_version: calendar.version().to_owned(),
                        outcome: outcome.to_proto(),
                        response_doc_ref,
                    }),
                ])
            }

            Command::WithdrawComplaint {
                reason,
                withdrawn_by_ref,
                withdrawn_at,
            } => {
                let complaint = self.open()?;
                Ok(vec![Event::ComplaintWithdrawn(v1::ComplaintWithdrawn {
                    complaint_id: complaint.complaint_id.to_string(),
                    reason: reason.to_proto(),
                    withdrawn_by_ref,
                    withdrawn_at: stamp(withdrawn_at),
                })])
            }

            Command::CloseComplaint { closed_at, because } => {
                let (complaint, closes_at) = match self {
                    FormalComplaint::ResponseIssued {
                        complaint,
                        escalation_window_closes_at,
                        ..
                    } => (complaint, *escalation_window_closes_at),
                    // The timer and the escalation policy may both try; the first one closes it.
                    FormalComplaint::Closed { .. } => return Ok(vec![]),
                    FormalComplaint::NotSubmitted => return Err(Rejection::NotSubmitted),
                    FormalComplaint::Withdrawn { .. } => return Err(Rejection::AlreadyWithdrawn),
                    // Open, or reconsidered and not yet answered again.
                    other => {
                        return match (because, other.complaint()) {
                            // An escalation that already ended here (it reopened the
                            // complaint) concludes with nothing left to do.
                            (Closure::EscalationConcluded { escalation_id }, Some(c))
                                if ended(c, escalation_id) =>
                            {
                                Ok(vec![])
                            }
                            _ => Err(Rejection::ResponseNotIssued),
                        };
                    }
                };
                let (reason, escalation_id) = match because {
                    Closure::EscalationWindowLapsed if complaint.escalation.is_some() => {
                        return Err(Rejection::EscalationInProgress);
                    }
                    Closure::EscalationWindowLapsed if closed_at <= closes_at => {
                        return Err(Rejection::EscalationWindowOpen { closes_at });
                    }
                    Closure::EscalationWindowLapsed => {
                        (ClosureReason::EscalationWindowLapsed, String::new())
                    }
                    Closure::EscalationConcluded { escalation_id }
                        if complaint.escalation == Some(escalation_id) =>
                    {
                        (
                            ClosureReason::EscalationConcluded,
                            escalation_id.to_string(),
                        )
                    }
                    // Withdrawn earlier, or it reopened the complaint: this response has a
                    // window of its own.
                    Closure::EscalationConcluded { escalation_id }
                        if ended(complaint, escalation_id) =>
                    {
                        return Ok(vec![]);
                    }
                    Closure::EscalationConcluded { escalation_id } => {
                        return Err(Rejection::EscalationNotInProgress { escalation_id });
                    }
                };
                Ok(vec![closed(complaint, reason, closed_at, escalation_id)])
            }

            Command::RecordEscalationRequested {
                escalation_id,
                requested_at,
            } => {
                let complaint = self.complaint().ok_or(Rejection::NotSubmitted)?;
                if complaint.escalations.contains(&escalation_id) {
                    return Ok(vec![]);
                }
                if complaint.escalation.is_some() {
                    return Err(Rejection::EscalationInProgress);
                }
                // Escalation follows the response, or an overdue response where the policy lets
                // the complainant escalate on it (the escalation context checked which).
                let exhausted = match self {
                    FormalComplaint::ResponseIssued { .. } => true,
                    other => other.clocked().is_ok_and(|(_, response)| response.overdue),
                };
                if !exhausted {
                    return Err(self.not_answered());
                }
                Ok(vec![Event::ComplaintEscalated(v1::ComplaintEscalated {
                    complaint_id: complaint.complaint_id.to_string(),
                    escalation_id: escalation_id.to_string(),
                    escalated_at: stamp(requested_at),
                })])
            }

            Command::RecordEscalationWithdrawn {
                escalation_id,
                withdrawn_at,
                now,
            } => {
                let complaint = self.complaint().ok_or(Rejection::NotSubmitted)?;
                if complaint.escalation != Some(escalation_id) {
                    return if ended(complaint, escalation_id) {
                        Ok(vec![])
                    } else {
                        Err(Rejection::EscalationNotInProgress { escalation_id })
                    };
                }
                let mut events = vec![Event::ComplaintEscalationWithdrawn(
                    v1::ComplaintEscalationWithdrawn {
                        complaint_id: complaint.complaint_id.to_string(),
                        escalation_id: escalation_id.to_string(),
                        withdrawn_at: stamp(withdrawn_at),
                    },
                )];
                if let FormalComplaint::ResponseIssued {
                    escalation_window_closes_at,
                    ..
                } = self
                    && now > *escalation_window_closes_at
                {
                    events.push(closed(
                        complaint,
                        ClosureReason::EscalationWindowLapsed,
                        now,
                        String::new(),
                    ));
                }
                Ok(events)
            }

            Command::ReopenForReconsideration {
                escalation_id,
                recommendation_id,
                reopened_at,
                policy,
                calendar,
            } => {
                let key = (escalation_id, recommendation_id);
                let complaint = match self {
                    FormalComplaint::ResponseIssued { complaint, .. } => complaint,
                    FormalComplaint::UnderReconsideration {
                        complaint,
                        reconsideration,
                        ..
                    } if reconsideration.escalation_id == escalation_id
                        || complaint.reconsiderations.contains(&key) =>
                    {
                        return Ok(vec![]);
                    }
                    other => return Err(other.not_answered()),
                };
                if complaint.reconsiderations.contains(&key) {
                    return Ok(vec![]);
                }
                if complaint.escalation != Some(escalation_id) {
                    return Err(Rejection::EscalationNotInProgress { escalation_id });
                }
                same_policy(complaint, &policy)?;
                let response_due_at = policy
                    .response_due_at(calendar, reopened_at)
                    .map_err(uncovered(reopened_at))?;
                Ok(vec![Event::ComplaintReopenedForReconsideration(
                    v1::ComplaintReopenedForReconsideration {
                        complaint_id: complaint.complaint_id.to_string(),
                        escalation_id: escalation_id.to_string(),
                        recommendation_id: key.1,
                        reopened_at: stamp(reopened_at),
                        response_due_at: stamp(response_due_at),
                        policy_version: policy.version().to_owned(),
                        calendar_version: calendar.version().to_owned(),
                    },
                )])
            }

            Command::SelectForPeriodicReview {
                panel_id,
                sampled_at,
            } => match self {
                FormalComplaint::Closed { sampled_by, .. } if sampled_by.contains(&panel_id) => {
                    Ok(vec![])
                }
                FormalComplaint::Closed { complaint, .. } => {
                    Ok(vec![Event::ClosedComplaintSampledForReview(
                        v1::ClosedComplaintSampledForReview {
                            complaint_id: complaint.complaint_id.to_string(),
                            panel_id: panel_id.to_string(),
                            sampled_at: stamp(sampled_at),
                        },
                    )])
                }
                FormalComplaint::NotSubmitted => Err(Rejection::NotSubmitted),
                _ => Err(Rejection::NotClosed),
            },

            Command::FlagSensitiveCase {
                incident_id,
                flagged_at,
            } => {
                let complaint = match self {
                    FormalComplaint::Submitted { complaint }
                    | FormalComplaint::Acknowledged { complaint, .. }
                    | FormalComplaint::UnderInvestigation { complaint, .. }
                    | FormalComplaint::ResponseIssued { complaint, .. }
                    | FormalComplaint::UnderReconsideration { complaint, .. } => complaint,
                    FormalComplaint::NotSubmitted => return Err(Rejection::NotSubmitted),
                    FormalComplaint::Withdrawn { .. } => return Err(Rejection::AlreadyWithdrawn),
                    FormalComplaint::Closed { .. } => return Err(Rejection::AlreadyClosed),
                };
                if complaint.sensitive.contains(&incident_id) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::SensitiveCaseFlagged(
                    v1::SensitiveCaseFlagged {
                        complaint_id: complaint.complaint_id.to_string(),
                        incident_id: incident_id.to_string(),
                        flagged_at: stamp(flagged_at),
                    },
                )])
            }
        }
    }

    fn evolve(self, event: &Event) -> Self {
        use FormalComplaint as S;
        match (self, event) {
            (S::NotSubmitted, Event::ComplaintSubmitted(e)) => S::Submitted {
                complaint: Complaint {
                    complaint_id: e.complaint_id.parse().unwrap_or_default(),
                    inspection_id: e.inspection_id.parse().unwrap_or_default(),
                    policy_version: e.policy_version.clone(),
                    provider_id: e.provider_id.clone(),
                    clock_starts_at: instant(e.submitted_at.as_ref()),
                    sensitive: BTreeSet::new(),
                    escalation: None,
                    escalations: BTreeSet::new(),
                    reconsiderations: BTreeSet::new(),
                },
            },
            (S::Submitted { mut complaint }, Event::OutOfTimeComplaintAccepted(e)) => {
                complaint.clock_starts_at = instant(e.accepted_at.as_ref());
                S::Submitted { complaint }
            }
            (S::Submitted { complaint }, Event::ComplaintAcknowledged(e)) => S::Acknowledged {
                complaint,
                response: ResponseClock {
                    due_at: instant(e.response_due_at.as_ref()),
                    calendar_version: e.calendar_version.clone(),
                    overdue: false,
                },
            },
            (
                S::Acknowledged {
                    complaint,
                    response,
                }
                | S::UnderInvestigation {
                    complaint,
                    response,
                    ..
                },
                Event::InvestigatorAssigned(e),
            ) => S::UnderInvestigation {
                complaint,
                response,
                investigator_ref: e.investigator_ref.clone(),
            },
            (
                S::UnderReconsideration {
                    complaint,
                    response,
                    reconsideration,
                    ..
                },
                Event::InvestigatorAssigned(e),
            ) => S::UnderReconsideration {
                complaint,
                response,
                investigator_ref: e.investigator_ref.clone(),
                reconsideration,
            },
            (mut state, Event::ResponseDeadlineExtended(e)) => {
                if let S::Acknowledged { response, .. }
                | S::UnderInvestigation { response, .. }
                | S::UnderReconsideration { response, .. } = &mut state
                {
                    *response = ResponseClock {
                        due_at: instant(e.new_due_at.as_ref()),
                        calendar_version: e.calendar_version.clone(),
                        overdue: false,
                    };
                }
                state
            }
            (mut state, Event::ComplaintResponseOverdue(_)) => {
                if let S::Acknowledged { response, .. }
                | S::UnderInvestigation { response, .. }
                | S::UnderReconsideration { response, .. } = &mut state
                {
                    response.overdue = true;
                }
                state
            }
            (
                S::UnderInvestigation {
                    complaint,
                    investigator_ref,
                    ..
                }
                | S::UnderReconsideration {
                    complaint,
                    investigator_ref,
                    ..
                },
                Event::ComplaintResponseIssued(e),
            ) => {
                // Until the rights are notified the window is the response itself; the next event
                // sets it.
                S::ResponseIssued {
                    complaint,
                    escalation_window_closes_at: instant(e.responded_at.as_ref()),
                    investigator_ref,
                }
            }
            (
                S::ResponseIssued {
                    complaint,
                    investigator_ref,
                    ..
                },
                Event::EscalationRightsNotified(e),
            ) => S::ResponseIssued {
                complaint,
                escalation_window_closes_at: instant(e.window_closes_at.as_ref()),
                investigator_ref,
            },
            (
                S::Submitted { complaint }
                | S::Acknowledged { complaint, .. }
                | S::UnderInvestigation { complaint, .. },
                Event::ComplaintWithdrawn(e),
            ) => S::Withdrawn {
                complaint,
                withdrawn_at: instant(e.withdrawn_at.as_ref()),
            },
            (S::ResponseIssued { mut complaint, .. }, Event::ComplaintClosed(_)) => {
                complaint.escalation = None;
                S::Closed {
                    complaint,
                    sampled_by: BTreeSet::new(),
                }
            }
            (mut state, Event::ComplaintEscalated(e)) => {
                let escalation_id: Uuid = e.escalation_id.parse().unwrap_or_default();
                if let Some(complaint) = state.complaint_mut() {
                    complaint.escalation = Some(escalation_id);
                    complaint.escalations.insert(escalation_id);
                }
                state
            }
            (mut state, Event::ComplaintEscalationWithdrawn(e)) => {
                let escalation_id: Uuid = e.escalation_id.parse().unwrap_or_default();
                if let Some(complaint) = state.complaint_mut()
                    && complaint.escalation == Some(escalation_id)
                {
                    complaint.escalation = None;
                }
                state
            }
            (
                S::ResponseIssued {
                    mut complaint,
                    investigator_ref,
                    ..
                },
                Event::ComplaintReopenedForReconsideration(e),
            ) => {
                let escalation_id: Uuid = e.escalation_id.parse().unwrap_or_default();
                let recommendation_id = e.recommendation_id.clone();
                // The escalation has done its work for the complaint; the new response opens a
                // new window.
                complaint.escalation = None;
                complaint.escalations.insert(escalation_id);
                complaint
                    .reconsiderations
                    .insert((escalation_id, recommendation_id.clone()));
                S::UnderReconsideration {
                    complaint,
                    response: ResponseClock {
                        due_at: instant(e.response_due_at.as_ref()),
                        calendar_version: e.calendar_version.clone(),
                        overdue: false,
                    },
                    investigator_ref,
                    reconsideration: Reconsideration {
                        escalation_id,
                        recommendation_id,
                        reopened_at: instant(e.reopened_at.as_ref()),
                    },
                }
            }
            (
                S::Closed {
                    complaint,
                    mut sampled_by,
                },
                Event::ClosedComplaintSampledForReview(e),
            ) => {
                sampled_by.insert(e.panel_id.parse().unwrap_or_default());
                S::Closed {
                    complaint,
                    sampled_by,
                }
            }
            (mut state, Event::SensitiveCaseFlagged(e)) => {
                let incident_id: Uuid = e.incident_id.parse().unwrap_or_default();
                if let Some(complaint) = state.complaint_mut() {
                    complaint.sensitive.insert(incident_id);
                }
                state
            }
            // Recorded for the investigation file; they change no rule's answer.
            (state, Event::ComplaintInformationAdded(_) | Event::InvestigationCallHeld(_)) => state,
            (state, _) => state,
        }
    }
}

impl FormalComplaint {
    fn complaint_mut(&mut self) -> Option<&mut Complaint> {
        match self {
            FormalComplaint::NotSubmitted => None,
            FormalComplaint::Submitted { complaint }
            | FormalComplaint::Acknowledged { complaint, .. }
            | FormalComplaint::UnderInvestigation { complaint, .. }
            | FormalComplaint::ResponseIssued { complaint, .. }
            | FormalComplaint::UnderReconsideration { complaint, .. }
            | FormalComplaint::Withdrawn { complaint, .. }
            | FormalComplaint::Closed { complaint, .. } => Some(complaint),
        }
    }
}

/// The intake-log record of a refused [`Command::SubmitFormalComplaint`], for the rules that
/// refuse a submission (too early, out of time, duplicate open, route already chosen, no draft
/// report, tribunal appeal pending); `None` for any other command or rejection, including a
/// decision maker's refused [`Command::AcceptOutOfTime`], which is a decision about a
/// submission already logged. The record carries the window the decision used and, for a
/// duplicate, the open complaint to add information to.
pub fn rejected_submission(command: &Command, rejection: &Rejection) -> Option<intake::Command> {
    let Command::SubmitFormalComplaint {
        complaint_id,
        submission,
        facts,
        ..
    } = command
    else {
        return None;
    };
    let mut record = v1::ComplaintSubmissionRejected {
        complaint_id: complaint_id.to_string(),
        inspection_id: submission.inspection_id.to_string(),
        complainant_ref: submission.complainant_ref.clone(),
        submitted_at: stamp(submission.submitted_at),
        policy_version: facts.inspection.policy_version.clone(),
        ..Default::default()
    };
    let window = facts
        .inspection
        .draft
        .as_ref()
        .and_then(|d| d.window.as_ref());
    if let Some(window) = window {
        record.policy_version.clone_from(&window.policy_version);
        record.calendar_version.clone_from(&window.calendar_version);
    }
    let (reason, redirect) = match rejection {
        Rejection::TooEarly { opens_at } => {
            record.window_opens_at = opens_at.and_then(stamp);
            (RejectionReason::TooEarly, None)
        }
        Rejection::OutOfTime { window_closed_at } => {
            record.window_closed_at = stamp(*window_closed_at);
            (
                RejectionReason::OutOfTime,
                Some(Redirect::OutOfTimeDiscretion),
            )
        }
        Rejection::DuplicateOpen { existing } => {
            record.existing_complaint_id = existing.to_string();
            (
                RejectionReason::DuplicateOpen,
                Some(Redirect::AddComplaintInformation),
            )
        }
        Rejection::RouteAlreadyChosen => (RejectionReason::RouteAlreadyChosen, None),
        Rejection::NoDraftReport => (RejectionReason::NoDraftReport, None),
        Rejection::TribunalAppealPending => (RejectionReason::TribunalAppealPending, None),
        _ => return None,
    };
    record.reason = reason.to_proto();
    record.redirect = redirect.map(Redirect::to_proto).unwrap_or_default();
    Some(intake::Command::RecordComplaintSubmissionRejected(record))
}
