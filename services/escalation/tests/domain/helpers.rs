//! The vocabulary the domain tests share: Europe/London instants, the embedded policy and
//! variants of it, fixed ids and references, commands with sensible defaults, and histories built
//! by running commands through `decide` (so every history is one the rules allow).

use std::sync::Arc;

use escalation::domain::escalation::{
    Command, ComplaintFacts, Escalation, Event, Recommendation, Request,
};
use escalation::domain::policy::{Policy, PolicySet};
use escalation::domain::{
    Actor, ComplaintOutcome, Ground, OutOfRemitAsk, RecommendationKind, Role, timestamp, v1,
};
use jiff::Timestamp;
use jiff::civil::{Date, date};
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

/// 23:59:59.999999999 on `y-mo-d`, Europe/London.
pub fn end_of(y: i16, mo: i8, d: i8) -> Timestamp {
    let next = date(y, mo, d)
        .tomorrow()
        .expect("test dates have a tomorrow");
    london(next.year(), next.month(), next.day(), 0, 0) - jiff::SignedDuration::from_nanos(1)
}

/// An event's timestamp field.
pub fn ts(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(timestamp(at))
}

pub fn day(y: i16, mo: i8, d: i8) -> Date {
    date(y, mo, d)
}

// ---- policy ----

pub const POLICY: &str = "escalation-2024-04";
pub const COMPLAINTS_POLICY: &str = "era-c-2024-04";
pub const CALENDAR_VERSION: &str = "ew-2026-11";

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

pub const INS: Uuid = Uuid::from_u128(0x1000_0001);
pub const COMPLAINT: Uuid = Uuid::from_u128(0x2000_0001);
pub const ESC: Uuid = Uuid::from_u128(0x6000_0001);
/// `ESC`'s case reference for a request made in 2025.
pub const CASE_REF: &str = "ESC-2025-01G00001";

pub const HEAD: &str = "vault:provider-rep-1";
pub const ICASO: &str = "icaso:case-officer-1";
pub const ADJ: &str = "icaso:adjudicator-7";
pub const OWNER: &str = "staff:rec-owner-1";

pub fn head() -> Actor {
    Actor::new(HEAD, Role::ProviderRepresentative)
}

pub fn icaso() -> Actor {
    Actor::new(ICASO, Role::IndependentBody)
}

pub fn adjudicator() -> Actor {
    Actor::new(ADJ, Role::Adjudicator)
}

pub fn owner() -> Actor {
    Actor::new(OWNER, Role::RecommendationOwner)
}

// ---- complaint facts ----

/// The response was issued at 10:00 on 2 June 2025; the complaints policy closed the window at the
/// end of 2 September 2025.
pub fn response_issued_at() -> Timestamp {
    london(2025, 6, 2, 10, 0)
}

pub fn window_closes_at() -> Timestamp {
    end_of(2025, 9, 2)
}

/// The request time the happy paths use: inside the window.
pub fn now() -> Timestamp {
    london(2025, 6, 20, 9, 0)
}

pub fn response_recorded() -> v1::ComplaintResponseRecorded {
    v1::ComplaintResponseRecorded {
        complaint_id: COMPLAINT.to_string(),
        inspection_id: INS.to_string(),
        outcome: ComplaintOutcome::NotUpheld.to_proto(),
        response_issued_at: ts(response_issued_at()),
        escalation_window_closes_at: ts(window_closes_at()),
        policy_version: COMPLAINTS_POLICY.into(),
        calendar_version: CALENDAR_VERSION.into(),
        response_doc_ref: "doc:response-1".into(),
    }
}

/// A complaint with neither a response nor a withdrawal.
pub fn facts_pending() -> ComplaintFacts {
    ComplaintFacts::new(COMPLAINT, INS)
}

/// A complaint Ofsted responded to.
pub fn facts_responded() -> ComplaintFacts {
    let mut facts = facts_pending();
    facts.record_response(&response_recorded());
    facts
}

// ---- commands ----

pub fn request_with(grounds: &[Ground], asks: &[OutOfRemitAsk]) -> Request {
    Request {
        escalation_id: ESC,
        requested_by: head(),
        grounds: grounds.to_vec(),
        out_of_remit: asks.to_vec(),
        complaint: facts_responded(),
        another_active_escalation: false,
        policy: policy(),
        now: now(),
    }
}

pub fn request() -> Request {
    request_with(&[Ground::FailureToFollowProcedures], &[])
}

pub fn rec(id: &str, kind: RecommendationKind) -> Recommendation {
    Recommendation {
        recommendation_id: id.into(),
        kind,
        text_ref: format!("doc:findings-1#{id}"),
    }
}

pub fn issue_findings(recommendations: Vec<Recommendation>) -> Command {
    Command::IssueFindings {
        by: adjudicator(),
        findings_ref: "doc:findings-1".into(),
        upheld_grounds: vec![Ground::FailureToFollowProcedures],
        recommendations,
        now: london(2025, 9, 15, 12, 0),
    }
}

pub fn accept(id: &str, due_on: Option<Date>) -> Command {
    Command::AcceptRecommendation {
        by: owner(),
        recommendation_id: id.into(),
        planned_action_ref: format!("doc:plan#{id}"),
        due_on,
        policy: policy(),
        now: london(2025, 10, 1, 9, 0),
    }
}

pub fn decline(id: &str, public_reason_ref: &str) -> Command {
    Command::DeclineRecommendation {
        by: owner(),
        recommendation_id: id.into(),
        public_reason_ref: public_reason_ref.into(),
        statement_ref: format!("pub:statement#{id}"),
        now: london(2025, 10, 1, 9, 30),
    }
}

pub fn implemented(id: &str) -> Command {
    Command::RecordImplemented {
        by: owner(),
        recommendation_id: id.into(),
        evidence_ref: format!("doc:evidence#{id}"),
        now: london(2025, 11, 3, 9, 0),
    }
}

pub fn close() -> Command {
    Command::Close {
        by: owner(),
        policy: policy(),
        now: london(2025, 12, 1, 9, 0),
    }
}

// ---- histories ----

/// Runs `commands` in order through `decide`, each against the state of the ones before.
pub fn history(commands: impl IntoIterator<Item = Command>) -> Vec<Event> {
    let mut state = Escalation::default();
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

pub fn requested() -> Vec<Command> {
    vec![Command::Request(request())]
}

pub fn referred() -> Vec<Command> {
    let mut commands = requested();
    commands.push(Command::Refer {
        feed_payload_version: 1,
        now: london(2025, 6, 20, 9, 5),
    });
    commands
}

pub fn accepted() -> Vec<Command> {
    let mut commands = referred();
    commands.push(Command::AcceptReferral {
        by: icaso(),
        now: london(2025, 7, 1, 9, 0),
    });
    commands
}

pub fn appointed() -> Vec<Command> {
    let mut commands = accepted();
    commands.push(Command::AppointAdjudicator {
        by: icaso(),
        adjudicator_ref: ADJ.into(),
        now: london(2025, 7, 2, 9, 0),
    });
    commands
}

/// Findings with R1 (apology) and R2 (process improvement).
pub fn findings() -> Vec<Command> {
    let mut commands = appointed();
    commands.push(issue_findings(vec![
        rec("R1", RecommendationKind::Apology),
        rec("R2", RecommendationKind::ProcessImprovement),
    ]));
    commands
}

pub fn given_after(commands: Vec<Command>) -> Given<Escalation> {
    given(history(commands))
}
