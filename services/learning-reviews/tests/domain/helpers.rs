//! The vocabulary the domain tests share: Europe/London instants, the embedded policy and
//! variants of it, fixed ids and references, commands with sensible defaults, and histories built
//! by running commands through `decide` (so every history is one the rules allow).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::date;
use learning_reviews::domain::connections::{InspectionConnections, RecordConnections};
use learning_reviews::domain::incident::{self, IncidentFacts, IncidentNotification};
use learning_reviews::domain::policy::{Policy, PolicySet};
use learning_reviews::domain::review::{
    Appointment, Command, LearningReview, Proposal, Recommendation,
};
use learning_reviews::domain::{
    Actor, Audience, Connection, IncidentCategory, IncidentSource, PriorRole,
    RecommendationResponse, Role, ScopeItem, timestamp,
};
use platform::aggregate::{Aggregate, Given, given};
use uuid::Uuid;

// ---- time ----

/// `h:m` on `y-mo-d`, Europe/London.
pub fn london(y: i16, mo: i8, d: i8, h: i8, m: i8) -> Timestamp {
    date(y, mo, d)
        .at(h, m, 0, 0)
        .in_tz("Europe/London")
        .expect("test instants exist in Europe/London")
        .timestamp()
}

/// An event's timestamp field.
pub fn ts(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(timestamp(at))
}

// ---- policy ----

pub const POLICY: &str = "learning-review-2024-04";

pub fn policy() -> Arc<Policy> {
    PolicySet::embedded()
        .version(POLICY)
        .expect("the default is embedded")
}

/// The embedded policy as JSON, for tests that build variants of it.
pub fn policy_json() -> serde_json::Value {
    let set: serde_json::Value =
        serde_json::from_str(include_str!("../../policy/default.json")).expect("valid JSON");
    set["policies"][0].clone()
}

/// The embedded policy with `changes` applied on top, under `version`.
pub fn policy_with(version: &str, changes: serde_json::Value) -> Arc<Policy> {
    let mut policy = policy_json();
    for (key, value) in changes.as_object().expect("changes are an object") {
        policy[key] = value.clone();
    }
    policy["version"] = version.into();
    let json = serde_json::json!({ "policies": [policy] }).to_string();
    PolicySet::from_json(&json)
        .expect("the variant is valid")
        .version(version)
        .expect("the variant is in its set")
}

// ---- ids and references ----

pub const INCIDENT: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0001);
pub const REVIEW: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0002);
/// INS-5, the inspection S13's incident relates to.
pub const INS5: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0005);
/// Another related inspection.
pub const INS6: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0006);

pub const HMCI: &str = "staff:hmci";
pub const CHAIR: &str = "staff:board-chair";
pub const LIAISON: &str = "staff:family-liaison-2";
pub const OWNER: &str = "staff:director-strategy";
/// The eligible reviewer.
pub const REVIEWER: &str = "expert:reviewer-1";
/// One of INS-5's team inspectors.
pub const INS5_INSPECTOR: &str = "staff:inspector-51";
pub const INS5_LEAD: &str = "staff:inspector-50";
pub const INS5_INVESTIGATOR: &str = "staff:investigator-9";

pub fn hmci() -> Actor {
    Actor::new(HMCI, Role::Hmci)
}

pub fn chair() -> Actor {
    Actor::new(CHAIR, Role::BoardChair)
}

pub fn liaison() -> Actor {
    Actor::new(LIAISON, Role::FamilyLiaison)
}

pub fn owner() -> Actor {
    Actor::new(OWNER, Role::RecommendationOwner)
}

pub fn reviewer() -> Actor {
    Actor::new(REVIEWER, Role::IndependentReviewer)
}

pub fn other_reviewer() -> Actor {
    Actor::new("expert:reviewer-2", Role::IndependentReviewer)
}

// ---- histories ----

/// Runs `commands` in order through `decide`, each against the state of the ones before.
pub fn history<A: Aggregate>(commands: impl IntoIterator<Item = A::Command>) -> Vec<A::Event>
where
    A::Rejection: std::fmt::Debug,
{
    let mut state = A::default();
    let mut events = Vec::new();
    for command in commands {
        let produced = state
            .decide(command)
            .expect("history commands are accepted");
        for event in &produced {
            state = state.evolve(event);
        }
        events.extend(produced);
    }
    events
}

// ---- incidents ----

/// Reported by the responsible body at 10:00 on Mon 2 June 2025, about INS-5.
pub fn report() -> incident::Command {
    incident::Command::Report {
        incident_id: INCIDENT,
        by: liaison(),
        source: IncidentSource::ResponsibleBody,
        category: IncidentCategory::Death,
        related_inspection_ids: vec![INS5],
        account_ref: "vault:account-1".into(),
        now: london(2025, 6, 2, 10, 0),
    }
}

/// Assessed by HMCI at 15:00 on Wed 4 June 2025.
pub fn assess() -> incident::Command {
    incident::Command::Assess {
        by: hmci(),
        assessment_ref: "doc:assessment-1".into(),
        policy: policy(),
        now: london(2025, 6, 4, 15, 0),
    }
}

pub fn reported() -> Vec<incident::Command> {
    vec![report()]
}

pub fn assessed() -> Vec<incident::Command> {
    vec![report(), assess()]
}

pub fn given_incident(commands: Vec<incident::Command>) -> Given<IncidentNotification> {
    given(history::<IncidentNotification>(commands))
}

/// The facts of an incident after `commands`.
pub fn facts_after(commands: Vec<incident::Command>) -> IncidentFacts {
    IncidentNotification::replay(&history::<IncidentNotification>(commands))
        .facts()
        .expect("the incident is reported")
}

// ---- reviews ----

/// The scope of S13: the response, communications, staff support and policies in; the
/// inspection's judgements out.
pub fn proposal() -> Proposal {
    Proposal {
        review_id: REVIEW,
        by: hmci(),
        incident: facts_after(assessed()),
        terms_of_reference_ref: "doc:terms-of-reference-1".into(),
        scope_in: vec![
            ScopeItem::ResponseToIncident,
            ScopeItem::CommunicationsAndEngagement,
            ScopeItem::SupportToStaffAndInspectors,
            ScopeItem::PoliciesAndProcedures,
        ],
        scope_out: vec![ScopeItem::InspectionJudgements],
        policy: policy(),
        now: london(2025, 6, 9, 10, 0),
    }
}

pub fn approve(by: Actor) -> Command {
    Command::ApproveCommission {
        by,
        now: london(2025, 6, 10, 11, 0),
    }
}

pub fn commission() -> Command {
    Command::Commission {
        by: hmci(),
        now: london(2025, 6, 11, 12, 0),
    }
}

/// INS-5's team, its complaint's investigator.
pub fn ins5_connections() -> BTreeMap<Uuid, InspectionConnections> {
    let mut known = InspectionConnections::default();
    for (people, connection) in [
        (vec![INS5_LEAD, INS5_INSPECTOR], Connection::InspectionTeam),
        (vec![INS5_INVESTIGATOR], Connection::ComplaintInvestigator),
    ] {
        let command = RecordConnections {
            inspection_id: INS5,
            people_refs: people.into_iter().map(str::to_owned).collect(),
            connection,
            now: london(2025, 3, 3, 9, 0),
        };
        for event in known.decide(command).expect("recorded") {
            known = known.evolve(&event);
        }
    }
    BTreeMap::from([(INS5, known)])
}

pub fn appointment(reviewer_ref: &str, prior_roles: &[PriorRole]) -> Appointment {
    Appointment {
        by: hmci(),
        reviewer_ref: reviewer_ref.into(),
        independence_declaration_ref: format!("doc:declaration-{reviewer_ref}"),
        prior_roles: prior_roles.to_vec(),
        connections: ins5_connections(),
        policy: policy(),
        now: london(2025, 6, 16, 9, 0),
    }
}

pub fn appoint() -> Command {
    Command::AppointReviewer(appointment(REVIEWER, &[PriorRole::FormerHmci]))
}

pub fn publish_terms() -> Command {
    Command::PublishTermsOfReference {
        by: chair(),
        now: london(2025, 6, 17, 9, 0),
    }
}

pub fn rec(id: &str) -> Recommendation {
    Recommendation {
        recommendation_id: id.into(),
        text_ref: format!("doc:report-1#{id}"),
    }
}

pub fn submit(recommendations: Vec<Recommendation>) -> Command {
    Command::SubmitReport {
        by: reviewer(),
        report_ref: "doc:report-1".into(),
        recommendations,
        now: london(2025, 9, 1, 9, 0),
    }
}

pub fn publish_report() -> Command {
    Command::PublishReport {
        by: hmci(),
        published_ref: "pub:report-1".into(),
        now: london(2025, 9, 3, 9, 0),
    }
}

pub fn respond(id: &str, response: RecommendationResponse, reasons_ref: &str) -> Command {
    Command::RespondToRecommendation {
        by: hmci(),
        recommendation_id: id.into(),
        response,
        reasons_ref: reasons_ref.into(),
        now: london(2025, 9, 3, 10, 0),
    }
}

pub fn publish_response() -> Command {
    Command::PublishResponse {
        by: chair(),
        response_ref: "pub:response-1".into(),
        now: london(2025, 9, 3, 11, 0),
    }
}

pub fn implemented(id: &str) -> Command {
    Command::RecordActionImplemented {
        by: owner(),
        recommendation_id: id.into(),
        evidence_ref: format!("doc:evidence#{id}"),
        policy: policy(),
        now: london(2025, 12, 1, 9, 0),
    }
}

pub fn transferred(id: &str) -> Command {
    Command::TransferAction {
        by: owner(),
        recommendation_id: id.into(),
        transferred_to_ref: "doc:improvement-plan".into(),
        policy: policy(),
        now: london(2025, 12, 1, 9, 30),
    }
}

pub fn disseminate(audiences: &[Audience]) -> Command {
    Command::DisseminateLessons {
        by: hmci(),
        audiences: audiences.to_vec(),
        lessons_ref: "doc:lessons-1".into(),
        now: london(2025, 12, 8, 9, 0),
    }
}

pub fn close() -> Command {
    Command::Close {
        by: hmci(),
        policy: policy(),
        now: london(2025, 12, 15, 9, 0),
    }
}

pub fn proposed() -> Vec<Command> {
    vec![Command::Propose(proposal())]
}

pub fn approved() -> Vec<Command> {
    let mut commands = proposed();
    commands.extend([approve(hmci()), approve(chair())]);
    commands
}

pub fn commissioned() -> Vec<Command> {
    let mut commands = approved();
    commands.push(commission());
    commands
}

pub fn appointed() -> Vec<Command> {
    let mut commands = commissioned();
    commands.push(appoint());
    commands
}

pub fn gathering() -> Vec<Command> {
    let mut commands = appointed();
    commands.push(publish_terms());
    commands
}

/// The report with R1, R2 and R3.
pub fn submitted() -> Vec<Command> {
    let mut commands = gathering();
    commands.push(submit(vec![rec("R1"), rec("R2"), rec("R3")]));
    commands
}

pub fn published() -> Vec<Command> {
    let mut commands = submitted();
    commands.push(publish_report());
    commands
}

/// R1 accepted, R2 partly accepted, R3 not accepted.
pub fn answered() -> Vec<Command> {
    let mut commands = published();
    commands.extend([
        respond("R1", RecommendationResponse::Accepted, ""),
        respond(
            "R2",
            RecommendationResponse::PartlyAccepted,
            "doc:reasons-r2",
        ),
        respond("R3", RecommendationResponse::NotAccepted, "doc:reasons-r3"),
    ]);
    commands
}

pub fn responded() -> Vec<Command> {
    let mut commands = answered();
    commands.push(publish_response());
    commands
}

/// Everything closure needs: actions for R1 and R2, lessons to inspector training.
pub fn ready_to_close() -> Vec<Command> {
    let mut commands = responded();
    commands.extend([
        implemented("R1"),
        transferred("R2"),
        disseminate(&[Audience::InspectorTraining]),
    ]);
    commands
}

pub fn given_review(commands: Vec<Command>) -> Given<LearningReview> {
    given(history::<LearningReview>(commands))
}
