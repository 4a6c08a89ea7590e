//! `InspectionCase`: the inspection facts the partner system reports, the pause register's
//! records, the deadlines that follow the end of on-site work, and the publication gate.
//!
//! The stream id is the partner system's `inspection_id`. The case conforms to upstream facts
//! (notified, on site, paused, ended, draft, final, published) and owns one rule outright: a
//! report is never published while a formal complaint holds it. The complaint-side process
//! manager places a hold when a complaint is submitted and releases it when the complaint is
//! answered or withdrawn.
//!
//! The partner system also reports First-tier Tribunal appeals against enforcement decisions
//! arising from the inspection (early years and social care): an appeal is lodged under the
//! partner's opaque reference and later concluded. An inspection may see several appeals over
//! time, at any stage after notification; while any is pending, formal complaints about the
//! inspection are not investigated ([`ComplaintIntake::tribunal_appeal_pending`]).
//!
//! ```text
//! Notified → Deferred? → OnSite ⇄ Paused → (Incomplete → OnSite …) → OnSiteEnded
//!          → DraftIssued → FinalIssued → Published
//! ```
//!
//! The case also answers the questions other aggregates' commands need
//! ([`InspectionCase::stage`], [`InspectionCase::team`], [`InspectionCase::complaint_intake`]):
//! the application loads the case and passes the answer in the command. The learning-reviews
//! policy asks it which complaints an incident about the inspection may touch
//! ([`InspectionCase::formal_complaints`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use platform::aggregate::Aggregate;
use platform::calendar::{CalendarError, local_date};
use uuid::Uuid;

use super::policy::Policy;
use super::{
    CalendarRef, DeferralReason, DutyDesk, HoldReleaseReason, PauseInitiator, PauseReason,
    PublicationDelayReason, Reason, Remit, TribunalAppealOutcome, WellbeingContactKind,
    WindowStart, date_text, instant, recorded_date, stamp, uncovered_date, v1,
};

/// The id of a record in the restricted wellbeing vault. A UUID and nothing else, so a name or a
/// phone number cannot be passed where a reference belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VaultRef(pub Uuid);

/// What the partner system, inspectors and case workers ask of an inspection case.
#[derive(Clone, Debug)]
pub enum Command {
    /// The provider was told of an inspection. `policy` is the one in force on
    /// `on_site_starts_on` (`PolicySet::in_force_at`), recorded provisionally until on-site work
    /// starts.
    RecordInspectionNotified {
        inspection_id: Uuid,
        remit: Remit,
        lead_inspector_ref: String,
        team_inspector_refs: Vec<String>,
        notified_at: Timestamp,
        on_site_starts_on: Date,
        policy: Arc<Policy>,
        /// The provider's opaque identifier (URN) as the partner reports it. The gRPC layer
        /// validates it; the case records it.
        provider_id: String,
    },
    /// The inspection was put back before on-site work started.
    RecordDeferral {
        reason: DeferralReason,
        deferred_at: Timestamp,
        on_site_starts_on: Date,
    },
    /// On-site work started, or resumed on a return visit after the inspection was deemed
    /// incomplete. On the first start `policy` is the one in force on the start's date
    /// (`PolicySet::in_force_at`) and becomes the case's; on a return visit it must be the case's
    /// ([`InspectionCase::policy_version`]).
    RecordOnSiteStarted {
        started_at: Timestamp,
        policy: Arc<Policy>,
    },
    /// Pause on-site work after consulting the duty desk. `policy` is the case's.
    PauseInspection {
        paused_at: Timestamp,
        initiated_by: PauseInitiator,
        recorded_by_ref: String,
        reason: PauseReason,
        duty_desk: DutyDesk,
        consultation_ref: String,
        consulted_at: Timestamp,
        planned_resume_on: Option<Date>,
        policy: Arc<Policy>,
        calendar: CalendarRef,
    },
    /// On-site work resumed after a pause.
    ResumeInspection { resumed_at: Timestamp },
    /// Timer: deem a pause that outlasted the limit for the remit incomplete. Schedule it for
    /// the first instant after the pause's recorded `resume_deadline`: a `now` at or before the
    /// deadline is refused, because the last instant of the last day is still inside the limit.
    DeemInspectionIncomplete { now: Timestamp },
    /// On-site work ended on `last_onsite_date`. `policy` is the case's.
    RecordOnSiteEnded {
        last_onsite_date: Date,
        recorded_at: Timestamp,
        policy: Arc<Policy>,
        calendar: CalendarRef,
    },
    /// Send the draft report. `policy` is the case's.
    IssueDraftReport {
        doc_ref: String,
        issued_at: Timestamp,
        policy: Arc<Policy>,
        calendar: CalendarRef,
    },
    /// The provider sent fast-track factual-accuracy points.
    RecordFactualAccuracyPoints {
        doc_ref: String,
        submitted_at: Timestamp,
    },
    /// Process manager, on `ComplaintSubmitted`: hold publication for this complaint.
    PlacePublicationHold {
        complaint_id: Uuid,
        placed_at: Timestamp,
    },
    /// Process manager, on `ComplaintResponseIssued` or `ComplaintWithdrawn`: lift the hold.
    ReleasePublicationHold {
        complaint_id: Uuid,
        reason: HoldReleaseReason,
        released_at: Timestamp,
    },
    /// Send the final report. `policy` is the case's.
    IssueFinalReport {
        doc_ref: String,
        issued_at: Timestamp,
        policy: Arc<Policy>,
        calendar: CalendarRef,
    },
    /// Publish the report.
    PublishReport { published_at: Timestamp },
    /// Timer: the report is later than the policy expects; an explanation is owed. Schedule it
    /// for the first instant after the recorded `publication_expected_by`.
    RequirePublicationDelayExplanation { now: Timestamp },
    /// Tell the provider why publication is delayed.
    RecordPublicationDelayExplanation {
        reason: PublicationDelayReason,
        text_ref: String,
        explained_at: Timestamp,
    },
    /// The contact for leaders' wellbeing is in the vault under `vault_ref`.
    RecordWellbeingContact {
        vault_ref: VaultRef,
        kind: WellbeingContactKind,
        recorded_at: Timestamp,
    },
    /// The partner system: the provider appealed to the First-tier Tribunal against an
    /// enforcement decision arising from the inspection. `appeal_ref` is the partner's opaque
    /// reference; an appeal already recorded under it (pending or concluded) records nothing.
    RecordTribunalAppealLodged {
        appeal_ref: String,
        lodged_at: Timestamp,
    },
    /// The partner system: the appeal lodged under `appeal_ref` was decided or withdrawn.
    RecordTribunalAppealConcluded {
        appeal_ref: String,
        outcome: TribunalAppealOutcome,
        concluded_at: Timestamp,
    },
}

/// The facts an inspection case records.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    InspectionNotified(v1::InspectionNotified),
    InspectionDeferred(v1::InspectionDeferred),
    OnSiteVisitStarted(v1::OnSiteVisitStarted),
    DutyDeskConsulted(v1::DutyDeskConsulted),
    InspectionPaused(v1::InspectionPaused),
    InspectionResumed(v1::InspectionResumed),
    InspectionDeemedIncomplete(v1::InspectionDeemedIncomplete),
    OnSiteVisitEnded(v1::OnSiteVisitEnded),
    DraftReportIssued(v1::DraftReportIssued),
    FormalComplaintWindowOpened(v1::FormalComplaintWindowOpened),
    FactualAccuracyPointsSubmitted(v1::FactualAccuracyPointsSubmitted),
    PublicationHoldPlaced(v1::PublicationHoldPlaced),
    PublicationHoldReleased(v1::PublicationHoldReleased),
    FinalReportIssued(v1::FinalReportIssued),
    ReportPublished(v1::ReportPublished),
    PublicationDelayExplanationDue(v1::PublicationDelayExplanationDue),
    PublicationDelayExplained(v1::PublicationDelayExplained),
    WellbeingContactRecorded(v1::WellbeingContactRecorded),
    TribunalAppealLodged(v1::TribunalAppealLodged),
    TribunalAppealConcluded(v1::TribunalAppealConcluded),
}

platform::domain_event! { Event {
    InspectionNotified(v1::InspectionNotified),
    InspectionDeferred(v1::InspectionDeferred),
    OnSiteVisitStarted(v1::OnSiteVisitStarted),
    DutyDeskConsulted(v1::DutyDeskConsulted),
    InspectionPaused(v1::InspectionPaused),
    InspectionResumed(v1::InspectionResumed),
    InspectionDeemedIncomplete(v1::InspectionDeemedIncomplete),
    OnSiteVisitEnded(v1::OnSiteVisitEnded),
    DraftReportIssued(v1::DraftReportIssued),
    FormalComplaintWindowOpened(v1::FormalComplaintWindowOpened),
    FactualAccuracyPointsSubmitted(v1::FactualAccuracyPointsSubmitted),
    PublicationHoldPlaced(v1::PublicationHoldPlaced),
    PublicationHoldReleased(v1::PublicationHoldReleased),
    FinalReportIssued(v1::FinalReportIssued),
    ReportPublished(v1::ReportPublished),
    PublicationDelayExplanationDue(v1::PublicationDelayExplanationDue),
    PublicationDelayExplained(v1::PublicationDelayExplained),
    WellbeingContactRecorded(v1::WellbeingContactRecorded),
    TribunalAppealLodged(v1::TribunalAppealLodged),
    TribunalAppealConcluded(v1::TribunalAppealConcluded),
} }

/// The rule an inspection-case command broke.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the inspection has not been notified")]
    NotNotified,
    #[error("the inspection has already been notified")]
    AlreadyNotified,
    #[error("on-site work has already started, so the inspection can no longer be deferred")]
    OnSiteAlreadyStarted,
    #[error("inspectors are already on site")]
    AlreadyOnSite,
    #[error("on-site work has already ended")]
    OnSiteAlreadyEnded,
    #[error("inspectors are not on site")]
    NotOnSite,
    #[error("the inspection is already paused")]
    AlreadyPaused,
    #[error("the inspection is not paused")]
    NotPaused,
    #[error("a pause needs the duty desk's consultation reference")]
    DutyDeskNotConsulted,
    #[error("the pause outlasted its limit at {resume_deadline}; the inspection is incomplete")]
    PauseLimitExceeded { resume_deadline: Timestamp },
    #[error("the pause may last until {resume_deadline}")]
    PauseLimitNotReached { resume_deadline: Timestamp },
    #[error("on-site work cannot end while the inspection is paused")]
    StillPaused,
    #[error("the last on-site day is before this visit started")]
    EndsBeforeStart,
    #[error("on-site work has not ended")]
    OnSiteNotEnded,
    #[error("the draft report has already been issued")]
    DraftAlreadyIssued,
    #[error("no draft report has been issued")]
    NoDraftReport,
    #[error("the window opens at {opens_at}")]
    TooEarly { opens_at: Timestamp },
    #[error("the window closed at {window_closed_at}")]
    OutOfTime { window_closed_at: Timestamp },
    #[error("the provider has already chosen the formal-complaint route")]
    RouteAlreadyChosen,
    #[error("the report is already final")]
    ReportAlreadyFinal,
    #[error("the final report has not been issued")]
    FinalReportNotIssued,
    #[error("publication is held by {} open complaint(s)", complaint_ids.len())]
    PublicationHeld { complaint_ids: Vec<Uuid> },
    #[error("the report has already been published")]
    AlreadyPublished,
    #[error("publication is not delayed until after {publication_expected_by}")]
    PublicationNotDelayed { publication_expected_by: Timestamp },
    #[error("an explanation needs the reference of the text shown to the provider")]
    ExplanationTextRequired,
    #[error("the case follows policy {recorded:?}, not {supplied:?}")]
    PolicyVersionMismatch { recorded: String, supplied: String },
    #[error("policy {version:?} takes effect on {effective_from}, after {date}")]
    PolicyNotInForce {
        version: String,
        effective_from: Date,
        date: Date,
    },
    #[error("the working-day calendar does not cover {date}")]
    CalendarOutOfRange { date: Date },
    #[error("a tribunal appeal needs the partner system's reference")]
    AppealRefRequired,
    #[error("no tribunal appeal was lodged under this reference")]
    TribunalAppealNotLodged,
    #[error("the tribunal appeal has already concluded")]
    TribunalAppealAlreadyConcluded,
    #[error("the tribunal appeal was lodged at {lodged_at}, after this conclusion")]
    TribunalAppealConcludedBeforeLodged { lodged_at: Timestamp },
}

impl Reason for Rejection {
    fn reason(&self) -> &'static str {
        match self {
            Rejection::NotNotified => "NOT_NOTIFIED",
            Rejection::AlreadyNotified => "ALREADY_NOTIFIED",
            Rejection::OnSiteAlreadyStarted => "ON_SITE_ALREADY_STARTED",
            Rejection::AlreadyOnSite => "ALREADY_ON_SITE",
            Rejection::OnSiteAlreadyEnded => "ON_SITE_ALREADY_ENDED",
            Rejection::NotOnSite => "NOT_ON_SITE",
            Rejection::AlreadyPaused => "ALREADY_PAUSED",
            Rejection::NotPaused => "NOT_PAUSED",
            Rejection::DutyDeskNotConsulted => "DUTY_DESK_NOT_CONSULTED",
            Rejection::PauseLimitExceeded { .. } => "PAUSE_LIMIT_EXCEEDED",
            Rejection::PauseLimitNotReached { .. } => "PAUSE_LIMIT_NOT_REACHED",
            Rejection::StillPaused => "STILL_PAUSED",
            Rejection::EndsBeforeStart => "ENDS_BEFORE_START",
            Rejection::OnSiteNotEnded => "ON_SITE_NOT_ENDED",
            Rejection::DraftAlreadyIssued => "DRAFT_ALREADY_ISSUED",
            Rejection::NoDraftReport => "NO_DRAFT_REPORT",
            Rejection::TooEarly { .. } => "TOO_EARLY",
            Rejection::OutOfTime { .. } => "OUT_OF_TIME",
            Rejection::RouteAlreadyChosen => "ROUTE_ALREADY_CHOSEN",
            Rejection::ReportAlreadyFinal => "REPORT_ALREADY_FINAL",
            Rejection::FinalReportNotIssued => "FINAL_REPORT_NOT_ISSUED",
            Rejection::PublicationHeld { .. } => "PUBLICATION_HELD",
            Rejection::AlreadyPublished => "ALREADY_PUBLISHED",
            Rejection::PublicationNotDelayed { .. } => "PUBLICATION_NOT_DELAYED",
            Rejection::ExplanationTextRequired => "EXPLANATION_TEXT_REQUIRED",
            Rejection::PolicyVersionMismatch { .. } => "POLICY_VERSION_MISMATCH",
            Rejection::PolicyNotInForce { .. } => "POLICY_NOT_IN_FORCE",
            Rejection::CalendarOutOfRange { .. } => "CALENDAR_OUT_OF_RANGE",
            Rejection::AppealRefRequired => "APPEAL_REF_REQUIRED",
            Rejection::TribunalAppealNotLodged => "TRIBUNAL_APPEAL_NOT_LODGED",
            Rejection::TribunalAppealAlreadyConcluded => "TRIBUNAL_APPEAL_ALREADY_CONCLUDED",
            Rejection::TribunalAppealConcludedBeforeLodged { .. } => {
                "TRIBUNAL_APPEAL_CONCLUDED_BEFORE_LODGED"
            }
        }
    }
}

impl Rejection {
    /// The stable machine-readable code of the broken rule, e.g. `PUBLICATION_HELD`.
    pub fn reason(&self) -> &'static str {
        Reason::reason(self)
    }
}

/// An inspection as its events describe it. Each variant holds exactly what is true at that
/// stage: a pause only while paused, a day-after window only once on-site work has ended, holds
/// only once a draft exists.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum InspectionCase {
    /// No notification recorded.
    #[default]
    Unknown,
    Notified(Case),
    Deferred(Case),
    OnSite {
        case: Case,
        visit: Visit,
    },
    Paused {
        case: Case,
        visit: Visit,
        pause: Pause,
    },
    /// A pause outlasted the limit; inspectors will return for additional evidence.
    Incomplete {
        case: Case,
        deemed_at: Timestamp,
    },
    OnSiteEnded {
        case: Case,
        ended: Ended,
    },
    DraftIssued {
        case: Case,
        ended: Ended,
        draft: Draft,
    },
    FinalIssued {
        case: Case,
        ended: Ended,
        draft: Draft,
        final_issued_at: Timestamp,
    },
    Published {
        case: Case,
        ended: Ended,
        draft: Draft,
        published_at: Timestamp,
    },
}

/// What is known of every notified inspection.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub inspection_id: Uuid,
    pub remit: Remit,
    /// The lead and every team inspector.
    pub team: BTreeSet<String>,
    /// Provisional until on-site work first starts, fixed from then on.
    pub policy_version: String,
    /// The provider's opaque identifier (URN) as the partner reported it.
    pub provider_id: String,
    /// Every tribunal appeal recorded about the inspection, by the partner's reference.
    pub tribunal_appeals: BTreeMap<String, TribunalAppeal>,
}

/// A tribunal appeal about the inspection, as the partner system reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TribunalAppeal {
    /// Lodged and not yet decided: formal complaints about the inspection are not investigated.
    Pending { lodged_at: Timestamp },
    /// Decided or withdrawn. `outcome` is `None` for an outcome a newer writer added: the appeal
    /// has still concluded.
    Concluded {
        outcome: Option<TribunalAppealOutcome>,
        concluded_at: Timestamp,
    },
}

/// The current on-site visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Visit {
    pub started_at: Timestamp,
}

/// The pause in progress.
#[derive(Clone, Debug, PartialEq)]
pub struct Pause {
    pub paused_at: Timestamp,
    pub resume_deadline: Timestamp,
    pub pause_limit_working_days: u32,
    pub policy_version: String,
    pub calendar_version: String,
}

/// What was fixed when on-site work ended. Both deadlines share the versions recorded in
/// `day_after_window`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ended {
    /// The last on-site day, Europe/London.
    pub last_onsite_date: Date,
    pub day_after_window: DayAfterWindow,
    pub publication_expected_by: Timestamp,
    pub explanation: Explanation,
}

/// Whether the provider has been told why publication is late.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Explanation {
    NotDue,
    Due,
    Explained,
}

/// The draft report and what followed it.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub issued_at: Timestamp,
    pub factual_accuracy_closes_at: Timestamp,
    /// Fast-track factual-accuracy points were submitted.
    pub fast_track: bool,
    /// Every complaint that ever held publication: the formal route was chosen.
    pub formal_complaints: BTreeSet<Uuid>,
    /// The complaints holding publication now.
    pub holds: BTreeSet<Uuid>,
    pub window: Option<FormalComplaintWindow>,
}

/// The day-after contact window, as recorded when on-site work ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayAfterWindow {
    pub opens_at: Timestamp,
    pub closes_at: Timestamp,
    pub policy_version: String,
    pub calendar_version: String,
}

/// The formal-complaint window, as recorded when it opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormalComplaintWindow {
    pub counted_from: WindowStart,
    pub opens_at: Timestamp,
    pub closes_at: Timestamp,
    pub policy_version: String,
    pub calendar_version: String,
}

/// Where an inspection is, as a concern's channel rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InspectionStage {
    /// Not notified, notified or deferred.
    NotStarted,
    OnSite,
    Paused,
    /// Deemed incomplete; no window is open until a later visit ends.
    Incomplete,
    /// On-site work ended (the report may since have been drafted, finalised or published).
    Ended(DayAfterWindow),
}

/// The people who must not handle a concern or complaint about this inspection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InspectionTeam {
    pub inspection_id: Uuid,
    pub members: BTreeSet<String>,
}

/// What a formal-complaint submission needs to know about its inspection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComplaintIntake {
    pub inspection_id: Uuid,
    pub remit: Remit,
    /// The inspection's policy; the complaint follows it too.
    pub policy_version: String,
    /// The inspected provider's opaque identifier (URN); the complaint records it.
    pub provider_id: String,
    /// The last on-site day, once on-site work ended; the complaint records it.
    pub last_onsite_date: Option<Date>,
    /// `None` until a draft report is issued.
    pub draft: Option<DraftFacts>,
    pub published: bool,
    /// A tribunal appeal about the inspection is pending: a complaint is refused
    /// (`TRIBUNAL_APPEAL_PENDING`), also at a decision maker's discretion.
    pub tribunal_appeal_pending: bool,
}

/// The draft-report facts a complaint submission is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftFacts {
    pub issued_at: Timestamp,
    /// Fast-track factual-accuracy points were submitted.
    pub fast_track_chosen: bool,
    /// `None` while the window has not opened (before the final report, under Era B rules).
    pub window: Option<FormalComplaintWindow>,
}

impl InspectionCase {
    fn case(&self) -> Option<&Case> {
        match self {
            InspectionCase::Unknown => None,
            InspectionCase::Notified(case) | InspectionCase::Deferred(case) => Some(case),
            InspectionCase::OnSite { case, .. }
            | InspectionCase::Paused { case, .. }
            | InspectionCase::Incomplete { case, .. }
            | InspectionCase::OnSiteEnded { case, .. }
            | InspectionCase::DraftIssued { case, .. }
            | InspectionCase::FinalIssued { case, .. }
            | InspectionCase::Published { case, .. } => Some(case),
        }
    }

    fn case_mut(&mut self) -> Option<&mut Case> {
        match self {
            InspectionCase::Unknown => None,
            InspectionCase::Notified(case) | InspectionCase::Deferred(case) => Some(case),
            InspectionCase::OnSite { case, .. }
            | InspectionCase::Paused { case, .. }
            | InspectionCase::Incomplete { case, .. }
            | InspectionCase::OnSiteEnded { case, .. }
            | InspectionCase::DraftIssued { case, .. }
            | InspectionCase::FinalIssued { case, .. }
            | InspectionCase::Published { case, .. } => Some(case),
        }
    }

    fn ended(&self) -> Option<&Ended> {
        match self {
            InspectionCase::OnSiteEnded { ended, .. }
            | InspectionCase::DraftIssued { ended, .. }
            | InspectionCase::FinalIssued { ended, .. }
            | InspectionCase::Published { ended, .. } => Some(ended),
            _ => None,
        }
    }

    fn draft(&self) -> Option<&Draft> {
        match self {
            InspectionCase::DraftIssued { draft, .. }
            | InspectionCase::FinalIssued { draft, .. }
            | InspectionCase::Published { draft, .. } => Some(draft),
            _ => None,
        }
    }

    /// The inspection's id, once notified.
    pub fn inspection_id(&self) -> Option<Uuid> {
        self.case().map(|c| c.inspection_id)
    }

    /// The inspected provider's opaque identifier (URN), once notified.
    pub fn provider_id(&self) -> Option<&str> {
        self.case().map(|c| c.provider_id.as_str())
    }

    /// The policy version the inspection follows: pass `PolicySet::version` of it in every
    /// command that takes a policy, and in the complaint's.
    pub fn policy_version(&self) -> Option<&str> {
        self.case().map(|c| c.policy_version.as_str())
    }

    /// Whether a tribunal appeal about the inspection is pending.
    pub fn tribunal_appeal_pending(&self) -> bool {
        self.case().is_some_and(|c| {
            c.tribunal_appeals
                .values()
                .any(|a| matches!(a, TribunalAppeal::Pending { .. }))
        })
    }

    /// The complaints currently holding publication.
    pub fn holds(&self) -> BTreeSet<Uuid> {
        self.draft().map(|d| d.holds.clone()).unwrap_or_default()
    }

    /// Every formal complaint about the inspection that held its publication, open or ended:
    /// those submitted (or accepted out of time) before the report was published. A complaint
    /// accepted after publication holds nothing, so it is not among them.
    pub fn formal_complaints(&self) -> BTreeSet<Uuid> {
        self.draft()
            .map(|d| d.formal_complaints.clone())
            .unwrap_or_default()
    }

    /// Where the inspection is, for `concern::Command::RaiseConcern`.
    pub fn stage(&self) -> InspectionStage {
        match self {
            InspectionCase::Unknown | InspectionCase::Notified(_) | InspectionCase::Deferred(_) => {
                InspectionStage::NotStarted
            }
            InspectionCase::OnSite { .. } => InspectionStage::OnSite,
            InspectionCase::Paused { .. } => InspectionStage::Paused,
            InspectionCase::Incomplete { .. } => InspectionStage::Incomplete,
            InspectionCase::OnSiteEnded { ended, .. }
            | InspectionCase::DraftIssued { ended, .. }
            | InspectionCase::FinalIssued { ended, .. }
            | InspectionCase::Published { ended, .. } => {
                InspectionStage::Ended(ended.day_after_window.clone())
            }
        }
    }

    /// The lead and team inspectors, for the "unconnected handler" rules
    /// (`concern::Command::AssignConcern`, `complaint::Command::AssignInvestigator`).
    pub fn team(&self) -> Option<InspectionTeam> {
        self.case().map(|c| InspectionTeam {
            inspection_id: c.inspection_id,
            members: c.team.clone(),
        })
    }

    /// The facts a formal-complaint submission is checked against
    /// (`complaint::Command::SubmitFormalComplaint`, `complaint::Command::AcceptOutOfTime`).
    pub fn complaint_intake(&self) -> Option<ComplaintIntake> {
        let case = self.case()?;
        Some(ComplaintIntake {
            inspection_id: case.inspection_id,
            remit: case.remit,
            policy_version: case.policy_version.clone(),
            provider_id: case.provider_id.clone(),
            last_onsite_date: self.ended().map(|e| e.last_onsite_date),
            draft: self.draft().map(|d| DraftFacts {
                issued_at: d.issued_at,
                fast_track_chosen: d.fast_track,
                window: d.window.clone(),
            }),
            published: matches!(self, InspectionCase::Published { .. }),
            tribunal_appeal_pending: self.tribunal_appeal_pending(),
        })
    }
}

fn same_policy(case: &Case, policy: &Policy) -> Result<(), Rejection> {
    if case.policy_version == policy.version() {
        Ok(())
    } else {
        Err(Rejection::PolicyVersionMismatch {
            recorded: case.policy_version.clone(),
            supplied: policy.version().to_owned(),
        })
    }
}

fn in_force(policy: &Policy, date: Date) -> Result<(), Rejection> {
    if policy.effective_from() <= date {
        Ok(())
    } else {
        Err(Rejection::PolicyNotInForce {
            version: policy.version().to_owned(),
            effective_from: policy.effective_from(),
            date,
        })
    }
}

fn uncovered(at: Timestamp) -> impl Fn(CalendarError) -> Rejection {
    move |error| Rejection::CalendarOutOfRange {
        date: uncovered_date(&error, local_date(at)),
    }
}

/// The rejection for a command that needs on-site work to have ended.
fn before_end(state: &InspectionCase) -> Rejection {
    match state {
        InspectionCase::Unknown => Rejection::NotNotified,
        _ => Rejection::OnSiteNotEnded,
    }
}

impl Aggregate for InspectionCase {
    const STREAM_TYPE: &'static str = "inspection_case";
    type Command = Command;
    type Event = Event;
    type Rejection = Rejection;

    /// The notice opens the case.
    fn starts_stream(command: &Command) -> bool {
        matches!(command, Command::RecordInspectionNotified { .. })
    }

    fn decide(&self, command: Command) -> Result<Vec<Event>, Rejection> {
        match command {
            Command::RecordInspectionNotified {
                inspection_id,
                remit,
                lead_inspector_ref,
                team_inspector_refs,
                notified_at,
                on_site_starts_on,
                policy,
                provider_id,
            } => {
                if !matches!(self, InspectionCase::Unknown) {
                    return Err(Rejection::AlreadyNotified);
                }
                in_force(&policy, on_site_starts_on)?;
                Ok(vec![Event::InspectionNotified(v1::InspectionNotified {
                    inspection_id: inspection_id.to_string(),
                    remit: remit.to_proto(),
                    lead_inspector_ref,
                    team_inspector_refs,
                    notified_at: stamp(notified_at),
                    on_site_starts_on: date_text(on_site_starts_on),
                    policy_version: policy.version().to_owned(),
                    provider_id,
                })])
            }

            Command::RecordDeferral {
                reason,
                deferred_at,
                on_site_starts_on,
            } => match self {
                InspectionCase::Notified(case) | InspectionCase::Deferred(case) => {
                    Ok(vec![Event::InspectionDeferred(v1::InspectionDeferred {
                        inspection_id: case.inspection_id.to_string(),
                        reason: reason.to_proto(),
                        deferred_at: stamp(deferred_at),
                        on_site_starts_on: date_text(on_site_starts_on),
                    })])
                }
                InspectionCase::Unknown => Err(Rejection::NotNotified),
                _ => Err(Rejection::OnSiteAlreadyStarted),
            },

            Command::RecordOnSiteStarted { started_at, policy } => {
                let (case, return_visit) = match self {
                    InspectionCase::Notified(case) | InspectionCase::Deferred(case) => {
                        in_force(&policy, local_date(started_at))?;
                        (case, false)
                    }
                    InspectionCase::Incomplete { case, .. } => {
                        same_policy(case, &policy)?;
                        (case, true)
                    }
                    InspectionCase::Unknown => return Err(Rejection::NotNotified),
                    InspectionCase::OnSite { .. } | InspectionCase::Paused { .. } => {
                        return Err(Rejection::AlreadyOnSite);
                    }
                    _ => return Err(Rejection::OnSiteAlreadyEnded),
                };
                Ok(vec![Event::OnSiteVisitStarted(v1::OnSiteVisitStarted {
                    inspection_id: case.inspection_id.to_string(),
                    started_at: stamp(started_at),
                    return_visit,
                    policy_version: policy.version().to_owned(),
                })])
            }

            Command::PauseInspection {
                paused_at,
                initiated_by,
                recorded_by_ref,
                reason,
                duty_desk,
                consultation_ref,
                consulted_at,
                planned_resume_on,
                policy,
                calendar,
            } => {
                let case = match self {
                    InspectionCase::OnSite { case, .. } => case,
                    InspectionCase::Paused { .. } => return Err(Rejection::AlreadyPaused),
                    InspectionCase::Unknown => return Err(Rejection::NotNotified),
                    _ => return Err(Rejection::NotOnSite),
                };
                if consultation_ref.trim().is_empty() {
                    return Err(Rejection::DutyDeskNotConsulted);
                }
                same_policy(case, &policy)?;
                let resume_deadline = policy
                    .resume_deadline(calendar, case.remit, paused_at)
                    .map_err(uncovered(paused_at))?;
                let inspection_id = case.inspection_id.to_string();
                Ok(vec![
                    Event::DutyDeskConsulted(v1::DutyDeskConsulted {
                        inspection_id: inspection_id.clone(),
                        duty_desk: duty_desk.to_proto(),
                        consultation_ref: consultation_ref.clone(),
                        consulted_at: stamp(consulted_at),
                    }),
                    Event::InspectionPaused(v1::InspectionPaused {
                        inspection_id,
                        initiated_by: initiated_by.to_proto(),
                        recorded_by_ref,
                        reason: reason.to_proto(),
                        consultation_ref,
                        paused_at: stamp(paused_at),
                        planned_resume_on: planned_resume_on.map(date_text).unwrap_or_default(),
                        pause_limit_working_days: policy.pause_limit_working_days(case.remit),
                        resume_deadline: stamp(resume_deadline),
                        policy_version: policy.version().to_owned(),
                        calendar_version: calendar.version().to_owned(),
                    }),
                ])
            }

            Command::ResumeInspection { resumed_at } => match self {
                InspectionCase::Paused { case, pause, .. } => {
                    if resumed_at > pause.resume_deadline {
                        return Err(Rejection::PauseLimitExceeded {
                            resume_deadline: pause.resume_deadline,
                        });
                    }
                    Ok(vec![Event::InspectionResumed(v1::InspectionResumed {
                        inspection_id: case.inspection_id.to_string(),
                        resumed_at: stamp(resumed_at),
                        paused_at: stamp(pause.paused_at),
                    })])
                }
                InspectionCase::Unknown => Err(Rejection::NotNotified),
                _ => Err(Rejection::NotPaused),
            },

            Command::DeemInspectionIncomplete { now } => match self {
                InspectionCase::Paused { case, pause, .. } => {
                    if now <= pause.resume_deadline {
                        return Err(Rejection::PauseLimitNotReached {
                            resume_deadline: pause.resume_deadline,
                        });
                    }
                    Ok(vec![Event::InspectionDeemedIncomplete(
                        v1::InspectionDeemedIncomplete {
                            inspection_id: case.inspection_id.to_string(),
                            deemed_at: stamp(now),
                            paused_at: stamp(pause.paused_at),
                            resume_deadline: stamp(pause.resume_deadline),
                            pause_limit_working_days: pause.pause_limit_working_days,
                            policy_version: pause.policy_version.clone(),
                            calendar_version: pause.calendar_version.clone(),
                        },
                    )])
                }
                // The timer may fire again after the fact was recorded.
                InspectionCase::Incomplete { .. } => Ok(vec![]),
                InspectionCase::Unknown => Err(Rejection::NotNotified),
                _ => Err(Rejection::NotPaused),
            },

            Command::RecordOnSiteEnded {
                last_onsite_date,
                recorded_at,
                policy,
                calendar,
            } => {
                let (case, visit) = match self {
                    InspectionCase::OnSite { case, visit } => (case, visit),
                    InspectionCase::Paused { .. } => return Err(Rejection::StillPaused),
                    InspectionCase::Unknown => return Err(Rejection::NotNotified),
                    InspectionCase::Notified(_)
                    | InspectionCase::Deferred(_)
                    | InspectionCase::Incomplete { .. } => return Err(Rejection::NotOnSite),
                    _ => return Err(Rejection::OnSiteAlreadyEnded),
                };
                same_policy(case, &policy)?;
                if last_onsite_date < local_date(visit.started_at) {
                    return Err(Rejection::EndsBeforeStart);
                }
                let gap = |error: CalendarError| Rejection::CalendarOutOfRange {
                    date: uncovered_date(&error, last_onsite_date),
                };
                let (opens_at, closes_at) = policy
                    .day_after_window(calendar, last_onsite_date)
                    .map_err(gap)?;
                let publication_expected_by = policy
                    .publication_expected_by(calendar, last_onsite_date)
                    .map_err(gap)?;
                Ok(vec![Event::OnSiteVisitEnded(v1::OnSiteVisitEnded {
                    inspection_id: case.inspection_id.to_string(),
                    last_onsite_date: date_text(last_onsite_date),
                    recorded_at: stamp(recorded_at),
                    day_after_window_opens_at: stamp(opens_at),
                    day_after_window_closes_at: stamp(closes_at),
                    publication_expected_by: stamp(publication_expected_by),
                    policy_version: policy.version().to_owned(),
                    calendar_version: calendar.version().to_owned(),
                })])
            }

            Command::IssueDraftReport {
                doc_ref,
                issued_at,
                policy,
                calendar,
            } => {
                let case = match self {
                    InspectionCase::OnSiteEnded { case, .. } => case,
                    InspectionCase::DraftIssued { .. }
                    | InspectionCase::FinalIssued { .. }
                    | InspectionCase::Published { .. } => {
                        return Err(Rejection::DraftAlreadyIssued);
                    }
                    other => return Err(before_end(other)),
                };
                same_policy(case, &policy)?;
                let factual_accuracy_closes_at = policy
                    .factual_accuracy_closes_at(calendar, issued_at)
                    .map_err(uncovered(issued_at))?;
                let mut events = vec![Event::DraftReportIssued(v1::DraftReportIssued {
                    inspection_id: case.inspection_id.to_string(),
                    doc_ref,
                    issued_at: stamp(issued_at),
                    factual_accuracy_window_closes_at: stamp(factual_accuracy_closes_at),
                    policy_version: policy.version().to_owned(),
                    calendar_version: calendar.version().to_owned(),
                })];
                if policy.formal_complaint_window().counted_from == WindowStart::DraftReport {
                    events.push(window_opened(case, &policy, calendar, issued_at)?);
                }
                Ok(events)
            }

            Command::RecordFactualAccuracyPoints {
                doc_ref,
                submitted_at,
            } => {
                let (case, draft) = match self {
                    InspectionCase::DraftIssued { case, draft, .. } => (case, draft),
                    InspectionCase::FinalIssued { .. } | InspectionCase::Published { .. } => {
                        return Err(Rejection::ReportAlreadyFinal);
                    }
                    InspectionCase::Unknown => return Err(Rejection::NotNotified),
                    _ => return Err(Rejection::NoDraftReport),
                };
                if submitted_at < draft.issued_at {
                    return Err(Rejection::TooEarly {
                        opens_at: draft.issued_at,
                    });
                }
                if submitted_at > draft.factual_accuracy_closes_at {
                    return Err(Rejection::OutOfTime {
                        window_closed_at: draft.factual_accuracy_closes_at,
                    });
                }
                if !draft.formal_complaints.is_empty() {
                    return Err(Rejection::RouteAlreadyChosen);
                }
                Ok(vec![Event::FactualAccuracyPointsSubmitted(
                    v1::FactualAccuracyPointsSubmitted {
                        inspection_id: case.inspection_id.to_string(),
                        doc_ref,
                        submitted_at: stamp(submitted_at),
                    },
                )])
            }

            Command::PlacePublicationHold {
                complaint_id,
                placed_at,
            } => {
                let (case, draft) = match self {
                    InspectionCase::DraftIssued { case, draft, .. }
                    | InspectionCase::FinalIssued { case, draft, .. } => (case, draft),
                    InspectionCase::Published { .. } => return Err(Rejection::AlreadyPublished),
                    InspectionCase::Unknown => return Err(Rejection::NotNotified),
                    _ => return Err(Rejection::NoDraftReport),
                };
                if draft.holds.contains(&complaint_id) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::PublicationHoldPlaced(
                    v1::PublicationHoldPlaced {
                        inspection_id: case.inspection_id.to_string(),
                        complaint_id: complaint_id.to_string(),
                        placed_at: stamp(placed_at),
                    },
                )])
            }

            Command::ReleasePublicationHold {
                complaint_id,
                reason,
                released_at,
            } => match self {
                InspectionCase::DraftIssued { case, draft, .. }
                | InspectionCase::FinalIssued { case, draft, .. }
                    if draft.holds.contains(&complaint_id) =>
                {
                    Ok(vec![Event::PublicationHoldReleased(
                        v1::PublicationHoldReleased {
                            inspection_id: case.inspection_id.to_string(),
                            complaint_id: complaint_id.to_string(),
                            reason: reason.to_proto(),
                            released_at: stamp(released_at),
                        },
                    )])
                }
                InspectionCase::Unknown => Err(Rejection::NotNotified),
                // Released already, or never held (a complaint accepted after publication):
                // the process manager releases on every complaint's end.
                _ => Ok(vec![]),
            },

            Command::IssueFinalReport {
                doc_ref,
                issued_at,
                policy,
                calendar,
            } => {
                let case = match self {
                    InspectionCase::DraftIssued { case, .. } => case,
                    InspectionCase::FinalIssued { .. } | InspectionCase::Published { .. } => {
                        return Err(Rejection::ReportAlreadyFinal);
                    }
                    InspectionCase::Unknown => return Err(Rejection::NotNotified),
                    _ => return Err(Rejection::NoDraftReport),
                };
                same_policy(case, &policy)?;
                let mut events = vec![Event::FinalReportIssued(v1::FinalReportIssued {
                    inspection_id: case.inspection_id.to_string(),
                    doc_ref,
                    issued_at: stamp(issued_at),
                })];
                if policy.formal_complaint_window().counted_from == WindowStart::FinalReport {
                    events.push(window_opened(case, &policy, calendar, issued_at)?);
                }
                Ok(events)
            }

            Command::PublishReport { published_at } => match self {
                InspectionCase::DraftIssued { draft, .. }
                | InspectionCase::FinalIssued { draft, .. }
                    if !draft.holds.is_empty() =>
                {
                    Err(Rejection::PublicationHeld {
                        complaint_ids: draft.holds.iter().copied().collect(),
                    })
                }
                InspectionCase::FinalIssued { case, .. } => {
                    Ok(vec![Event::ReportPublished(v1::ReportPublished {
                        inspection_id: case.inspection_id.to_string(),
                        published_at: stamp(published_at),
                    })])
                }
                InspectionCase::Published { .. } => Err(Rejection::AlreadyPublished),
                InspectionCase::Unknown => Err(Rejection::NotNotified),
                _ => Err(Rejection::FinalReportNotIssued),
            },

            Command::RequirePublicationDelayExplanation { now } => {
                let (case, ended) = match self {
                    InspectionCase::OnSiteEnded { case, ended }
                    | InspectionCase::DraftIssued { case, ended, .. }
                    | InspectionCase::FinalIssued { case, ended, .. } => (case, ended),
                    InspectionCase::Published { .. } => return Err(Rejection::AlreadyPublished),
                    other => return Err(before_end(other)),
                };
                if ended.explanation != Explanation::NotDue {
                    return Ok(vec![]);
                }
                if now <= ended.publication_expected_by {
                    return Err(Rejection::PublicationNotDelayed {
                        publication_expected_by: ended.publication_expected_by,
                    });
                }
                Ok(vec![Event::PublicationDelayExplanationDue(
                    v1::PublicationDelayExplanationDue {
                        inspection_id: case.inspection_id.to_string(),
                        publication_expected_by: stamp(ended.publication_expected_by),
                        raised_at: stamp(now),
                        policy_version: ended.day_after_window.policy_version.clone(),
                        calendar_version: ended.day_after_window.calendar_version.clone(),
                    },
                )])
            }

            Command::RecordPublicationDelayExplanation {
                reason,
                text_ref,
                explained_at,
            } => {
                // An incomplete inspection is delayed by definition; the provider can be told
                // before any threshold passes.
                let case = match self {
                    InspectionCase::Incomplete { case, .. }
                    | InspectionCase::OnSiteEnded { case, .. }
                    | InspectionCase::DraftIssued { case, .. }
                    | InspectionCase::FinalIssued { case, .. } => case,
                    InspectionCase::Published { .. } => return Err(Rejection::AlreadyPublished),
                    other => return Err(before_end(other)),
                };
                if text_ref.trim().is_empty() {
                    return Err(Rejection::ExplanationTextRequired);
                }
                Ok(vec![Event::PublicationDelayExplained(
                    v1::PublicationDelayExplained {
                        inspection_id: case.inspection_id.to_string(),
                        reason: reason.to_proto(),
                        text_ref,
                        explained_at: stamp(explained_at),
                    },
                )])
            }

            Command::RecordWellbeingContact {
                vault_ref,
                kind,
                recorded_at,
            } => {
                let case = self.case().ok_or(Rejection::NotNotified)?;
                Ok(vec![Event::WellbeingContactRecorded(
                    v1::WellbeingContactRecorded {
                        inspection_id: case.inspection_id.to_string(),
                        vault_ref: vault_ref.0.to_string(),
                        kind: kind.to_proto(),
                        recorded_at: stamp(recorded_at),
                    },
                )])
            }

            Command::RecordTribunalAppealLodged {
                appeal_ref,
                lodged_at,
            } => {
                let case = self.case().ok_or(Rejection::NotNotified)?;
                if appeal_ref.trim().is_empty() {
                    return Err(Rejection::AppealRefRequired);
                }
                // The partner may report the same appeal again; a concluded appeal is not
                // reopened by it (a new appeal comes with a new reference).
                if case.tribunal_appeals.contains_key(&appeal_ref) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::TribunalAppealLodged(
                    v1::TribunalAppealLodged {
                        inspection_id: case.inspection_id.to_string(),
                        appeal_ref,
                        lodged_at: stamp(lodged_at),
                    },
                )])
            }

            Command::RecordTribunalAppealConcluded {
                appeal_ref,
                outcome,
                concluded_at,
            } => {
                let case = self.case().ok_or(Rejection::NotNotified)?;
                if appeal_ref.trim().is_empty() {
                    return Err(Rejection::AppealRefRequired);
                }
                match case.tribunal_appeals.get(&appeal_ref) {
                    None => Err(Rejection::TribunalAppealNotLodged),
                    Some(TribunalAppeal::Concluded { .. }) => {
                        Err(Rejection::TribunalAppealAlreadyConcluded)
                    }
                    Some(TribunalAppeal::Pending { lodged_at }) if concluded_at < *lodged_at => {
                        Err(Rejection::TribunalAppealConcludedBeforeLodged {
                            lodged_at: *lodged_at,
                        })
                    }
                    Some(TribunalAppeal::Pending { .. }) => {
                        Ok(vec![Event::TribunalAppealConcluded(
                            v1::TribunalAppealConcluded {
                                inspection_id: case.inspection_id.to_string(),
                                appeal_ref,
                                outcome: outcome.to_proto(),
                                concluded_at: stamp(concluded_at),
                            },
                        )])
                    }
                }
            }
        }
    }

    fn evolve(self, event: &Event) -> Self {
        use InspectionCase as S;
        match (self, event) {
            (S::Unknown, Event::InspectionNotified(e)) => match Remit::from_proto(e.remit) {
                Some(remit) => S::Notified(Case {
                    inspection_id: e.inspection_id.parse().unwrap_or_default(),
                    remit,
                    team: std::iter::once(&e.lead_inspector_ref)
                        .chain(&e.team_inspector_refs)
                        .cloned()
                        .collect(),
                    policy_version: e.policy_version.clone(),
                    provider_id: e.provider_id.clone(),
                    tribunal_appeals: BTreeMap::new(),
                }),
                // A remit a newer writer added: the case stays unknown, so every later command
                // is refused rather than run under a guessed pause limit.
                None => S::Unknown,
            },
            (S::Notified(case) | S::Deferred(case), Event::InspectionDeferred(_)) => {
                S::Deferred(case)
            }
            (S::Notified(mut case) | S::Deferred(mut case), Event::OnSiteVisitStarted(e)) => {
                case.policy_version.clone_from(&e.policy_version);
                S::OnSite {
                    case,
                    visit: Visit {
                        started_at: instant(e.started_at.as_ref()),
                    },
                }
            }
            (S::Incomplete { case, .. }, Event::OnSiteVisitStarted(e)) => S::OnSite {
                case,
                visit: Visit {
                    started_at: instant(e.started_at.as_ref()),
                },
            },
            (S::OnSite { case, visit }, Event::InspectionPaused(e)) => S::Paused {
                case,
                visit,
                pause: Pause {
                    paused_at: instant(e.paused_at.as_ref()),
                    resume_deadline: instant(e.resume_deadline.as_ref()),
                    pause_limit_working_days: e.pause_limit_working_days,
                    policy_version: e.policy_version.clone(),
                    calendar_version: e.calendar_version.clone(),
                },
            },
            (S::Paused { case, visit, .. }, Event::InspectionResumed(_)) => {
                S::OnSite { case, visit }
            }
            (S::Paused { case, .. }, Event::InspectionDeemedIncomplete(e)) => S::Incomplete {
                case,
                deemed_at: instant(e.deemed_at.as_ref()),
            },
            (S::OnSite { case, .. }, Event::OnSiteVisitEnded(e)) => S::OnSiteEnded {
                case,
                ended: Ended {
                    last_onsite_date: recorded_date(&e.last_onsite_date),
                    day_after_window: DayAfterWindow {
                        opens_at: instant(e.day_after_window_opens_at.as_ref()),
                        closes_at: instant(e.day_after_window_closes_at.as_ref()),
                        policy_version: e.policy_version.clone(),
                        calendar_version: e.calendar_version.clone(),
                    },
                    publication_expected_by: instant(e.publication_expected_by.as_ref()),
                    explanation: Explanation::NotDue,
                },
            },
            (S::OnSiteEnded { case, ended }, Event::DraftReportIssued(e)) => S::DraftIssued {
                case,
                ended,
                draft: Draft {
                    issued_at: instant(e.issued_at.as_ref()),
                    factual_accuracy_closes_at: instant(
                        e.factual_accuracy_window_closes_at.as_ref(),
                    ),
                    fast_track: false,
                    formal_complaints: BTreeSet::new(),
                    holds: BTreeSet::new(),
                    window: None,
                },
            },
            (state, Event::FormalComplaintWindowOpened(e)) => {
                let counted_from =
                    WindowStart::from_proto(e.counted_from).unwrap_or(WindowStart::DraftReport);
                state.with_draft(|draft| {
                    draft.window = Some(FormalComplaintWindow {
                        counted_from,
                        opens_at: instant(e.opens_at.as_ref()),
                        closes_at: instant(e.closes_at.as_ref()),
                        policy_version: e.policy_version.clone(),
                        calendar_version: e.calendar_version.clone(),
                    });
                })
            }
            (state, Event::FactualAccuracyPointsSubmitted(_)) => {
                state.with_draft(|draft| draft.fast_track = true)
            }
            (state, Event::PublicationHoldPlaced(e)) => {
                let complaint_id: Uuid = e.complaint_id.parse().unwrap_or_default();
                state.with_draft(|draft| {
                    draft.holds.insert(complaint_id);
                    draft.formal_complaints.insert(complaint_id);
                })
            }
            (state, Event::PublicationHoldReleased(e)) => {
                let complaint_id: Uuid = e.complaint_id.parse().unwrap_or_default();
                state.with_draft(|draft| {
                    draft.holds.remove(&complaint_id);
                })
            }
            (S::DraftIssued { case, ended, draft }, Event::FinalReportIssued(e)) => {
                S::FinalIssued {
                    case,
                    ended,
                    draft,
                    final_issued_at: instant(e.issued_at.as_ref()),
                }
            }
            (
                S::FinalIssued {
                    case, ended, draft, ..
                },
                Event::ReportPublished(e),
            ) => S::Published {
                case,
                ended,
                draft,
                published_at: instant(e.published_at.as_ref()),
            },
            (state, Event::PublicationDelayExplanationDue(_)) => state.with_ended(|ended| {
                if ended.explanation == Explanation::NotDue {
                    ended.explanation = Explanation::Due;
                }
            }),
            (state, Event::PublicationDelayExplained(_)) => {
                state.with_ended(|ended| ended.explanation = Explanation::Explained)
            }
            (state, Event::TribunalAppealLodged(e)) => state.with_case(|case| {
                case.tribunal_appeals.entry(e.appeal_ref.clone()).or_insert(
                    TribunalAppeal::Pending {
                        lodged_at: instant(e.lodged_at.as_ref()),
                    },
                );
            }),
            (state, Event::TribunalAppealConcluded(e)) => state.with_case(|case| {
                case.tribunal_appeals.insert(
                    e.appeal_ref.clone(),
                    TribunalAppeal::Concluded {
                        outcome: TribunalAppealOutcome::from_proto(e.outcome),
                        concluded_at: instant(e.concluded_at.as_ref()),
                    },
                );
            }),
            // Recorded for the pause register and the vault; they change no rule's answer.
            (state, Event::DutyDeskConsulted(_) | Event::WellbeingContactRecorded(_)) => state,
            (state, _) => state,
        }
    }
}

/// `FormalComplaintWindowOpened` for a window that opens at `opens_at`.
fn window_opened(
    case: &Case,
    policy: &Policy,
    calendar: CalendarRef,
    opens_at: Timestamp,
) -> Result<Event, Rejection> {
    let rule = policy.formal_complaint_window();
    let closes_at = policy
        .formal_complaint_closes_at(calendar, opens_at)
        .map_err(uncovered(opens_at))?;
    Ok(Event::FormalComplaintWindowOpened(
        v1::FormalComplaintWindowOpened {
            inspection_id: case.inspection_id.to_string(),
            counted_from: rule.counted_from.to_proto(),
            opens_at: stamp(opens_at),
            closes_at: stamp(closes_at),
            working_days: rule.working_days,
            policy_version: policy.version().to_owned(),
            calendar_version: calendar.version().to_owned(),
        },
    ))
}

impl InspectionCase {
    /// Applies `change` to what is known of every notified inspection; an unknown case is
    /// returned unchanged.
    fn with_case(mut self, change: impl FnOnce(&mut Case)) -> Self {
        if let Some(case) = self.case_mut() {
            change(case);
        }
        self
    }

    /// Applies `change` to the draft, where there is one; other states are returned unchanged.
    fn with_draft(mut self, change: impl FnOnce(&mut Draft)) -> Self {
        match &mut self {
            InspectionCase::DraftIssued { draft, .. }
            | InspectionCase::FinalIssued { draft, .. }
            | InspectionCase::Published { draft, .. } => change(draft),
            _ => {}
        }
        self
    }

    /// Applies `change` to what was fixed at the end of on-site work, where that has happened.
    fn with_ended(mut self, change: impl FnOnce(&mut Ended)) -> Self {
        match &mut self {
            InspectionCase::OnSiteEnded { ended, .. }
            | InspectionCase::DraftIssued { ended, .. }
            | InspectionCase::FinalIssued { ended, .. }
            | InspectionCase::Published { ended, .. } => change(ended),
            _ => {}
        }
        self
    }
}
