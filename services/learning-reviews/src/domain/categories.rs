//! The enumerated categories of the learning-reviews context, each the twin of the protobuf enum
//! of the same name in `redress.learning_reviews.v1`, without its `UNSPECIFIED` value: a command
//! cannot carry "unspecified", so no rule has to ask what it would mean. [`Connection`] has no
//! protobuf enum: events carry it by its stable name.

use super::v1;

platform::category! {
    v1 =>
    /// Who told the inspectorate about the incident.
    pub enum IncidentSource {
        ResponsibleBody,
        Family,
        Coroner,
        InspectorateStaff,
        Media,
        Other,
    }
}

platform::category! {
    v1 =>
    /// What happened, as the commissioning policy's triggers name it (research §5.5).
    pub enum IncidentCategory {
        Death,
        SeriousHarm,
        PreventionOfFutureDeathsReport,
        OtherTragicIncident,
        RequestedByHmciOrBoard,
    }
}

platform::category! {
    v1 =>
    /// An approval a commission may need (research §3: HMCI and the Chair, [C: P31]).
    pub enum Approver {
        Hmci,
        BoardChair,
    }
}

platform::category! {
    v1 =>
    /// What a review may look at or leave out.
    pub enum ScopeItem {
        ResponseToIncident,
        CommunicationsAndEngagement,
        InternalInformationSharing,
        SupportToStaffAndInspectors,
        PoliciesAndProcedures,
        /// The judgements and policies of the inspection itself; every review states whether
        /// they are in or out ([C: P31]).
        InspectionJudgements,
    }
}

platform::category! {
    v1 =>
    /// A role a reviewer held before, disclosed at appointment (after [C: P34]).
    pub enum PriorRole {
        /// No prior role; only ever disclosed alone.
        None,
        FormerInspectorateEmployee,
        FormerHmci,
        FormerBoardMember,
        ContractedInspector,
        Other,
    }
}

platform::category! {
    v1 =>
    /// The inspectorate's response to one recommendation ([C: P35]).
    pub enum RecommendationResponse {
        Accepted,
        PartlyAccepted,
        NotAccepted,
    }
}

platform::category! {
    v1 =>
    /// Who the lessons were shared with.
    pub enum Audience {
        InspectorTraining,
        Board,
        Sector,
        ExpertReferenceGroup,
    }
}

platform::category! {
    v1 =>
    /// Where a recommendation in the register comes from.
    pub enum RecommendationSource {
        Adjudication,
        LearningReview,
    }
}

platform::category! {
    v1 =>
    /// A decision on a recommendation, in the register's common terms.
    pub enum RegisterDecision {
        Pending,
        Accepted,
        PartlyAccepted,
        Declined,
    }
}

/// How a person is connected with an inspection, as `InspectionConnectionsRecorded.connection`
/// names it. Which connections make a reviewer conflicted is the policy's
/// (`conflicting_connections`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Connection {
    /// The lead or a team inspector (`InspectionNotified`).
    InspectionTeam,
    /// The senior inspector who handled a concern about it (`ConcernAssigned`).
    ConcernHandler,
    /// The investigator of a complaint about it (`InvestigatorAssigned`).
    ComplaintInvestigator,
    /// Who decided the response to a complaint about it (`ComplaintResponseIssued`).
    ComplaintDecisionMaker,
}

impl Connection {
    /// Every connection, in declaration order.
    pub const ALL: &'static [Connection] = &[
        Connection::InspectionTeam,
        Connection::ConcernHandler,
        Connection::ComplaintInvestigator,
        Connection::ComplaintDecisionMaker,
    ];

    /// The stable name events carry, e.g. `inspection_team`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Connection::InspectionTeam => "inspection_team",
            Connection::ConcernHandler => "concern_handler",
            Connection::ComplaintInvestigator => "complaint_investigator",
            Connection::ComplaintDecisionMaker => "complaint_decision_maker",
        }
    }

    /// The connection of that name; `None` for a name this build does not know.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Connection> {
        Connection::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl std::fmt::Display for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RecommendationResponse {
    /// The register's term for this response: not accepted is declined.
    #[must_use]
    pub fn register_decision(self) -> RegisterDecision {
        match self {
            RecommendationResponse::Accepted => RegisterDecision::Accepted,
            RecommendationResponse::PartlyAccepted => RegisterDecision::PartlyAccepted,
            RecommendationResponse::NotAccepted => RegisterDecision::Declined,
        }
    }
}
