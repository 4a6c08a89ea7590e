//! [`Role`]: what a caller is, as far as authorization is concerned.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a caller is, as far as authorization is concerned (domain research §5.2).
///
/// The serde and [`FromStr`] spelling is snake_case, as carried in the token's `role` claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The partner system reporting inspection facts.
    InspectionSystem,
    /// A head, principal, registered person or chair of governors, through a partner system.
    ProviderRepresentative,
    /// A trust, local authority or governing body acting for its providers.
    ResponsibleBody,
    LeadInspector,
    TeamInspector,
    /// An inspector unconnected with the inspection (helpline and day-after duty).
    SeniorInspector,
    DutyDesk,
    ComplaintsInvestigator,
    ComplaintsDecisionMaker,
    ClosedComplaintsPanelMember,
    IndependentBody,
    Adjudicator,
    RecommendationOwner,
    Hmci,
    BoardChair,
    IndependentReviewer,
    FamilyLiaison,
    /// Runs the stack; ops-level access only.
    Operator,
    Auditor,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 19] = [
        Role::InspectionSystem,
        Role::ProviderRepresentative,
        Role::ResponsibleBody,
        Role::LeadInspector,
        Role::TeamInspector,
        Role::SeniorInspector,
        Role::DutyDesk,
        Role::ComplaintsInvestigator,
        Role::ComplaintsDecisionMaker,
        Role::ClosedComplaintsPanelMember,
        Role::IndependentBody,
        Role::Adjudicator,
        Role::RecommendationOwner,
        Role::Hmci,
        Role::BoardChair,
        Role::IndependentReviewer,
        Role::FamilyLiaison,
        Role::Operator,
        Role::Auditor,
    ];

    /// The snake_case name used in tokens, policies and logs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::InspectionSystem => "inspection_system",
            Role::ProviderRepresentative => "provider_representative",
            Role::ResponsibleBody => "responsible_body",
            Role::LeadInspector => "lead_inspector",
            Role::TeamInspector => "team_inspector",
            Role::SeniorInspector => "senior_inspector",
            Role::DutyDesk => "duty_desk",
            Role::ComplaintsInvestigator => "complaints_investigator",
            Role::ComplaintsDecisionMaker => "complaints_decision_maker",
            Role::ClosedComplaintsPanelMember => "closed_complaints_panel_member",
            Role::IndependentBody => "independent_body",
            Role::Adjudicator => "adjudicator",
            Role::RecommendationOwner => "recommendation_owner",
            Role::Hmci => "hmci",
            Role::BoardChair => "board_chair",
            Role::IndependentReviewer => "independent_reviewer",
            Role::FamilyLiaison => "family_liaison",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }

    /// Whether the role acts for a provider, so its tokens must carry the `provider` claim.
    #[must_use]
    pub const fn acts_for_provider(self) -> bool {
        matches!(self, Role::ProviderRepresentative | Role::ResponsibleBody)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}
