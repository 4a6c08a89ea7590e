//! The enumerated categories of the escalation context, each the twin of the protobuf enum of the
//! same name in `redress.escalation.v1`, without its `UNSPECIFIED` value: a command cannot carry
//! "unspecified", so no rule has to ask what it would mean.

use super::v1;

platform::category! {
    v1 =>
    /// A ground the independent body can review: how the complaint was handled, never the
    /// judgement (research §1.5, [C: P18]).
    pub enum Ground {
        FailureToFollowProcedures,
        Discourtesy,
        FailureToRespondInTimelyManner,
        FailureToInvestigateProperly,
        Maladministration,
    }
}

platform::category! {
    v1 =>
    /// Something a complainant asks for that the independent body cannot give. Noted and split
    /// off; it never blocks the in-remit grounds.
    pub enum OutOfRemitAsk {
        OverturnJudgement,
        Compensation,
        PolicyChange,
    }
}

platform::category! {
    v1 =>
    /// Why a request for escalation was refused and recorded as such.
    pub enum RefusalReason {
        /// Ofsted has not responded yet: the complaints process is not exhausted.
        NotExhausted,
        ComplaintWithdrawn,
        OutOfTime,
        /// Another escalation of the same complaint is active.
        AlreadyActive,
        /// Every ask was out of remit.
        NoGroundInRemit,
    }
}

platform::category! {
    v1 =>
    /// What the independent body may recommend; `ChangeJudgement` and `Compensation` exist so
    /// that findings asking for them can be named and refused.
    pub enum RecommendationKind {
        Apology,
        ReconsiderComplaint,
        ProcessImprovement,
        StaffTraining,
        ChangeJudgement,
        Compensation,
    }
}

platform::category! {
    v1 =>
    /// The outcome of the complaint, as copied from the complaints context.
    pub enum ComplaintOutcome {
        Upheld,
        PartiallyUpheld,
        NotUpheld,
    }
}

platform::category! {
    v1 =>
    /// The inspection remit of the complaint, as the complaints context reports it.
    pub enum Remit {
        Schools,
        EarlyYears,
        FurtherEducationAndSkills,
        SocialCare,
        LocalAuthorityChildrensServices,
        Cafcass,
        JointTargetedAreaInspection,
        AreaSend,
        InitialTeacherEducation,
    }
}

platform::category! {
    v1 =>
    /// What a document of the case file is.
    pub enum DocumentKind {
        /// The complaint and its evidence, as submitted.
        Complaint,
        /// Information the complainant added before the response.
        AdditionalInformation,
        /// Ofsted's response letter.
        Response,
    }
}

impl RefusalReason {
    /// The stable code, e.g. `NOT_EXHAUSTED`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            RefusalReason::NotExhausted => "NOT_EXHAUSTED",
            RefusalReason::ComplaintWithdrawn => "COMPLAINT_WITHDRAWN",
            RefusalReason::OutOfTime => "OUT_OF_TIME",
            RefusalReason::AlreadyActive => "ALREADY_ACTIVE",
            RefusalReason::NoGroundInRemit => "NO_GROUND_IN_REMIT",
        }
    }
}

impl RecommendationKind {
    /// Whether the independent body may make this recommendation: never a change of judgement or
    /// compensation (research §5.6 invariant 7).
    #[must_use]
    pub fn in_remit(self) -> bool {
        !matches!(
            self,
            RecommendationKind::ChangeJudgement | RecommendationKind::Compensation
        )
    }
}
