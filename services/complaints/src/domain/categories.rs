//! The enumerated categories of the complaints context, each the twin of the protobuf enum of the
//! same name in `redress.complaints.v1`, without its `UNSPECIFIED` value: a command cannot carry
//! "unspecified", so no rule has to ask what it would mean.

use serde::{Deserialize, Serialize};

use super::v1;

platform::category! {
    v1 =>
    /// The type of provider or inspection. Selects the pause limit; written in policy files in
    /// snake_case (`schools`, `early_years`, …).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
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
    /// Grounds for deferring an inspection before on-site work starts (research §2).
    pub enum DeferralReason {
        LeaderUnderInvestigation,
        RecentMajorIncident,
        ImminentMergerOrClosure,
        LocalEmergency,
        ClosedForTrainingOrWeather,
        StaffAbsence,
        SeniorLeaderWellbeing,
        Other,
    }
}

platform::category! {
    v1 =>
    /// Who initiated a pause: normally the lead inspector; the head or responsible body may ask.
    pub enum PauseInitiator {
        LeadInspector,
        ProviderRepresentative,
        ResponsibleBody,
    }
}

platform::category! {
    v1 =>
    /// Why an inspection was paused. The reason itself is health data and stays in the vault.
    pub enum PauseReason {
        LeaderWellbeing,
        Incident,
        Other,
    }
}

platform::category! {
    v1 =>
    /// The duty desk consulted before a pause.
    pub enum DutyDesk {
        Regional,
        NationalSafeguardingAndWellbeing,
    }
}

platform::category! {
    v1 =>
    /// What the formal-complaint window counts from.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum WindowStart {
        /// Since 5 April 2024: the draft report.
        DraftReport,
        /// September 2020 to 4 April 2024: the final report.
        FinalReport,
    }
}

platform::category! {
    v1 =>
    /// Why a publication hold was lifted.
    pub enum HoldReleaseReason {
        ResponseIssued,
        Withdrawn,
    }
}

platform::category! {
    v1 =>
    /// Why publication is taking longer than expected.
    pub enum PublicationDelayReason {
        FormalComplaintOpen,
        AdditionalEvidence,
        QualityAssurance,
        InspectionIncomplete,
        Other,
    }
}

platform::category! {
    v1 =>
    /// Whose details a wellbeing contact is.
    pub enum WellbeingContactKind {
        ResponsibleForLeadersWellbeing,
        AlternativeEmergencyContact,
    }
}

platform::category! {
    v1 =>
    /// How an informal concern was raised.
    pub enum ConcernChannel {
        /// To the lead inspector, on site.
        OnSiteLeadInspector,
        /// To a senior inspector on the helpline, while the inspection is on site or paused.
        DuringInspectionHelpline,
        /// To a senior inspector on the working day after the last on-site day.
        DayAfterContact,
    }
}

platform::category! {
    v1 =>
    /// What an informal concern is about.
    pub enum ConcernTopic {
        InspectorConduct,
        InspectionProcess,
        LikelyOutcome,
        EvidenceNotConsidered,
        NextSteps,
        Other,
    }
}

platform::category! {
    v1 =>
    /// Where a provider is pointed instead.
    pub enum Redirect {
        OnSiteLeadInspector,
        DuringInspectionHelpline,
        DayAfterContact,
        FormalComplaintAtDraft,
        AddComplaintInformation,
        /// A decision maker's discretionary acceptance of an out-of-time complaint.
        OutOfTimeDiscretion,
    }
}

platform::category! {
    v1 =>
    /// The rule an intake submission broke, as recorded in the intake log.
    pub enum RejectionReason {
        TooEarly,
        WindowClosed,
        NotDuringInspection,
        OutOfTime,
        DuplicateOpen,
        RouteAlreadyChosen,
        NoDraftReport,
        TribunalAppealPending,
        /// Reserved for the API's scope checks; no domain rule produces it.
        OutOfScope,
    }
}

platform::category! {
    v1 =>
    /// Which route brought a formal complaint in.
    pub enum ComplaintRoute {
        DraftStage,
        FinalReportStage,
        OutOfTime,
    }
}

platform::category! {
    v1 =>
    /// What a formal complaint asks to be reviewed.
    pub enum ComplaintGround {
        Findings,
        Judgements,
        InspectorConduct,
        InspectionProcess,
        EvidenceNotConsidered,
    }
}

platform::category! {
    v1 =>
    /// Why a response deadline was extended.
    pub enum ExtensionReason {
        ComplexComplaint,
        AwaitingInformation,
        InvestigationCallRescheduled,
        AdditionalEvidence,
        Other,
    }
}

platform::category! {
    v1 =>
    /// The outcome of a formal complaint.
    pub enum ComplaintOutcome {
        Upheld,
        PartiallyUpheld,
        NotUpheld,
    }
}

platform::category! {
    v1 =>
    /// What a response does about a complaint.
    pub enum Remedy {
        ReportAmended,
        JudgementRevised,
        /// The evidence base is insufficient: more evidence is gathered or the provider is
        /// re-inspected.
        EvidenceBaseInsufficient,
        Reinspection,
        Apology,
        NoChange,
    }
}

platform::category! {
    v1 =>
    /// Why a complainant withdrew.
    pub enum WithdrawalReason {
        ConcernsResolved,
        NoLongerWishesToPursue,
        SubmittedInError,
        Other,
    }
}

platform::category! {
    v1 =>
    /// Why an answered complaint was closed.
    pub enum ClosureReason {
        EscalationWindowLapsed,
        EscalationConcluded,
    }
}

platform::category! {
    v1 =>
    /// How a First-tier Tribunal appeal about an inspection's enforcement decision ended.
    pub enum TribunalAppealOutcome {
        /// The Tribunal found for the provider.
        Allowed,
        /// The Tribunal upheld the decision appealed against.
        Dismissed,
        /// The provider withdrew the appeal.
        Withdrawn,
    }
}

platform::category! {
    v1 =>
    /// Where a complainant goes after the inspectorate's response.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum EscalationRoute {
        /// Since 5 April 2024: directly to the independent adjudicator.
        IndependentBody,
        /// Before: the inspectorate's internal review first.
        InternalReview,
    }
}

platform::category! {
    v1 =>
    /// Why a data subject's personal data was erased (UK GDPR Article 17). Written on the command
    /// line in kebab-case (`subject-request`, `retention-ended`, …).
    pub enum ErasureGround {
        SubjectRequest,
        RetentionEnded,
        UnlawfullyHeld,
        LegalObligation,
    }
}
