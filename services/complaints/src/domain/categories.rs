//! The enumerated categories of the complaints context, each the twin of the protobuf enum of the
//! same name in `redress.complaints.v1`, without its `UNSPECIFIED` value: a command cannot carry
//! "unspecified", so no rule has to ask what it would mean.

use serde::{Deserialize, Serialize};

/// Declares a domain enum and its conversions to and from the protobuf enum of the same name.
///
/// `from_proto` matches every protobuf value by name, so adding a value to the schema without
/// adding it here fails to compile rather than being read as unknown.
macro_rules! category {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The protobuf enum value of the same name.
            #[must_use]
            pub fn to_proto(self) -> i32 {
                match self {
                    $( $name::$variant => ::proto::complaints::v1::$name::$variant as i32 ),+
                }
            }

            /// The value of the same name; `None` for `UNSPECIFIED` and for a number this build
            /// does not know (a newer writer's).
            #[must_use]
            pub fn from_proto(value: i32) -> Option<$name> {
                match ::proto::complaints::v1::$name::try_from(value).ok()? {
                    $( ::proto::complaints::v1::$name::$variant => Some($name::$variant), )+
                    ::proto::complaints::v1::$name::Unspecified => None,
                }
            }
        }
    };
}

category! {
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

category! {
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

category! {
    /// Who initiated a pause: normally the lead inspector; the head or responsible body may ask.
    pub enum PauseInitiator {
        LeadInspector,
        ProviderRepresentative,
        ResponsibleBody,
    }
}

category! {
    /// Why an inspection was paused. The reason itself is health data and stays in the vault.
    pub enum PauseReason {
        LeaderWellbeing,
        Incident,
        Other,
    }
}

category! {
    /// The duty desk consulted before a pause.
    pub enum DutyDesk {
        Regional,
        NationalSafeguardingAndWellbeing,
    }
}

category! {
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

category! {
    /// Why a publication hold was lifted.
    pub enum HoldReleaseReason {
        ResponseIssued,
        Withdrawn,
    }
}

category! {
    /// Why publication is taking longer than expected.
    pub enum PublicationDelayReason {
        FormalComplaintOpen,
        AdditionalEvidence,
        QualityAssurance,
        InspectionIncomplete,
        Other,
    }
}

category! {
    /// Whose details a wellbeing contact is.
    pub enum WellbeingContactKind {
        ResponsibleForLeadersWellbeing,
        AlternativeEmergencyContact,
    }
}

category! {
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

category! {
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

category! {
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

category! {
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

category! {
    /// Which route brought a formal complaint in.
    pub enum ComplaintRoute {
        DraftStage,
        FinalReportStage,
        OutOfTime,
    }
}

category! {
    /// What a formal complaint asks to be reviewed.
    pub enum ComplaintGround {
        Findings,
        Judgements,
        InspectorConduct,
        InspectionProcess,
        EvidenceNotConsidered,
    }
}

category! {
    /// Why a response deadline was extended.
    pub enum ExtensionReason {
        ComplexComplaint,
        AwaitingInformation,
        InvestigationCallRescheduled,
        AdditionalEvidence,
        Other,
    }
}

category! {
    /// The outcome of a formal complaint.
    pub enum ComplaintOutcome {
        Upheld,
        PartiallyUpheld,
        NotUpheld,
    }
}

category! {
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

category! {
    /// Why a complainant withdrew.
    pub enum WithdrawalReason {
        ConcernsResolved,
        NoLongerWishesToPursue,
        SubmittedInError,
        Other,
    }
}

category! {
    /// Why an answered complaint was closed.
    pub enum ClosureReason {
        EscalationWindowLapsed,
        EscalationConcluded,
    }
}

category! {
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
