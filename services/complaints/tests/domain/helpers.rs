//! The vocabulary the domain tests share: Europe/London instants, the embedded policies, fixed
//! ids and references, commands with sensible defaults, and histories built by running commands
//! through `decide` (so every history is one the rules allow).

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;

use complaints::domain::complaint::{self, FormalComplaint, Submission, SubmissionFacts};
use complaints::domain::concern::{self, Concern};
use complaints::domain::inspection::{self, ComplaintIntake, InspectionCase};
use complaints::domain::policy::{Policy, PolicySet};
use complaints::domain::{
    Actor, ComplaintGround, ComplaintOutcome, ConcernChannel, ConcernTopic, DutyDesk,
    HoldReleaseReason, PauseInitiator, PauseReason, Remedy, Remit, Role, TribunalAppealOutcome,
    timestamp,
};
use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};
use platform::aggregate::{Aggregate, Given, given};
use platform::calendar::Calendar;
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

/// 00:00 on `y-mo-d`, Europe/London.
pub fn start_of(y: i16, mo: i8, d: i8) -> Timestamp {
    london(y, mo, d, 0, 0)
}

/// 23:59:59.999999999 on `y-mo-d`, Europe/London.
pub fn end_of(y: i16, mo: i8, d: i8) -> Timestamp {
    let next = date(y, mo, d)
        .tomorrow()
        .expect("test dates have a tomorrow");
    start_of(next.year(), next.month(), next.day()) - SignedDuration::from_nanos(1)
}

/// An instant in RFC 3339 with an offset, as the scenarios write them.
pub fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

/// An event's timestamp field.
pub fn ts(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(timestamp(at))
}

pub fn day(y: i16, mo: i8, d: i8) -> Date {
    date(y, mo, d)
}

// ---- calendar and policy ----

pub fn cal() -> &'static Calendar {
    Calendar::england_and_wales()
}

pub const CALENDAR_VERSION: &str = "ew-2026-11";
pub const ERA_B: &str = "era-b-2020-09";
pub const ERA_C: &str = "era-c-2024-04";

pub fn era_c() -> Arc<Policy> {
    PolicySet::embedded()
        .version(ERA_C)
        .expect("era C is embedded")
}

pub fn era_b() -> Arc<Policy> {
    PolicySet::embedded()
        .version(ERA_B)
        .expect("era B is embedded")
}

/// The embedded Era C policy as JSON, for tests that build variants of it.
pub fn era_c_json() -> serde_json::Value {
    let set: serde_json::Value =
        serde_json::from_str(include_str!("../../policy/default.json")).expect("valid JSON");
    set["policies"]
        .as_array()
        .and_then(|policies| policies.iter().find(|p| p["version"] == ERA_C))
        .cloned()
        .expect("era C is in the file")
}

/// Era C with `changes` applied on top, under `version`.
pub fn policy_with(version: &str, changes: serde_json::Value) -> Arc<Policy> {
    let mut policy = era_c_json();
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
pub const OTHER_INS: Uuid = Uuid::from_u128(0x1000_0002);
pub const COMPLAINT: Uuid = Uuid::from_u128(0x2000_0001);
pub const OTHER_COMPLAINT: Uuid = Uuid::from_u128(0x2000_0002);
pub const CONCERN: Uuid = Uuid::from_u128(0x3000_0001);
pub const PANEL: Uuid = Uuid::from_u128(0x4000_0001);
pub const INCIDENT: Uuid = Uuid::from_u128(0x5000_0001);
pub const ESCALATION: Uuid = Uuid::from_u128(0x6000_0001);
pub const OTHER_ESCALATION: Uuid = Uuid::from_u128(0x6000_0002);
/// The independent body's recommendation ids: unique within its findings, not UUIDs.
pub const RECOMMENDATION: &str = "R2";
pub const OTHER_RECOMMENDATION: &str = "R3";

pub const LEAD: &str = "staff:LI-1";
pub const TEAM: &str = "staff:TI-2";
pub const SENIOR: &str = "staff:SI-9";
pub const INVESTIGATOR: &str = "staff:CI-4";
pub const DECISION_MAKER: &str = "staff:DM-3";
pub const HEAD: &str = "person:head-1";
/// The inspected provider's URN, as the partner reports it.
pub const PROVIDER: &str = "URN-100001";

pub fn senior_inspector() -> Actor {
    Actor::new(SENIOR, Role::SeniorInspector)
}

pub fn investigator() -> Actor {
    Actor::new(INVESTIGATOR, Role::ComplaintsInvestigator)
}

pub fn decision_maker() -> Actor {
    Actor::new(DECISION_MAKER, Role::ComplaintsDecisionMaker)
}

// ---- histories ----

/// The events of running `commands` in order from the empty aggregate; panics on a rejection.
pub fn run<A>(commands: impl IntoIterator<Item = A::Command>) -> Vec<A::Event>
where
    A: Aggregate,
    A::Rejection: Debug,
{
    let mut state = A::default();
    let mut history = Vec::new();
    for command in commands {
        let events = state.decide(command).expect("the history is allowed");
        for event in events {
            state = state.evolve(&event);
            history.push(event);
        }
    }
    history
}

/// `history` followed by the events of `commands`.
pub fn and<A>(
    history: Vec<A::Event>,
    commands: impl IntoIterator<Item = A::Command>,
) -> Vec<A::Event>
where
    A: Aggregate,
    A::Event: Clone,
    A::Rejection: Debug,
{
    let mut state = A::replay(&history);
    let mut history = history;
    for command in commands {
        let events = state.decide(command).expect("the history is allowed");
        for event in events {
            state = state.evolve(&event);
            history.push(event);
        }
    }
    history
}

pub fn case(history: Vec<inspection::Event>) -> Given<InspectionCase> {
    given::<InspectionCase>(history)
}

pub fn concern(history: Vec<concern::Event>) -> Given<Concern> {
    given::<Concern>(history)
}

pub fn complaint(history: Vec<complaint::Event>) -> Given<FormalComplaint> {
    given::<FormalComplaint>(history)
}

// ---- inspection commands ----

/// INS, a school inspection by LEAD and TEAM, notified at 10:00 the day before `on_site`.
pub fn notify(on_site: Date) -> inspection::Command {
    notify_with(Remit::Schools, on_site, era_c())
}

pub fn notify_with(remit: Remit, on_site: Date, policy: Arc<Policy>) -> inspection::Command {
    let before = on_site.yesterday().expect("test dates have a yesterday");
    inspection::Command::RecordInspectionNotified {
        inspection_id: INS,
        remit,
        lead_inspector_ref: LEAD.into(),
        team_inspector_refs: vec![TEAM.into()],
        notified_at: london(before.year(), before.month(), before.day(), 10, 0),
        on_site_starts_on: on_site,
        policy,
        provider_id: PROVIDER.into(),
    }
}

pub fn start(at: Timestamp) -> inspection::Command {
    start_with(at, era_c())
}

pub fn start_with(at: Timestamp, policy: Arc<Policy>) -> inspection::Command {
    inspection::Command::RecordOnSiteStarted {
        started_at: at,
        policy,
    }
}

pub fn end(last: Date, at: Timestamp) -> inspection::Command {
    end_with(last, at, era_c())
}

pub fn end_with(last: Date, at: Timestamp, policy: Arc<Policy>) -> inspection::Command {
    inspection::Command::RecordOnSiteEnded {
        last_onsite_date: last,
        recorded_at: at,
        policy,
        calendar: cal(),
    }
}

pub fn pause(at: Timestamp) -> inspection::Command {
    pause_with(at, era_c())
}

pub fn pause_with(at: Timestamp, policy: Arc<Policy>) -> inspection::Command {
    inspection::Command::PauseInspection {
        paused_at: at,
        initiated_by: PauseInitiator::LeadInspector,
        recorded_by_ref: LEAD.into(),
        reason: PauseReason::LeaderWellbeing,
        duty_desk: DutyDesk::Regional,
        consultation_ref: "dutydesk:C-1".into(),
        consulted_at: at,
        planned_resume_on: None,
        policy,
        calendar: cal(),
    }
}

pub fn draft(at: Timestamp) -> inspection::Command {
    draft_with(at, era_c())
}

pub fn draft_with(at: Timestamp, policy: Arc<Policy>) -> inspection::Command {
    inspection::Command::IssueDraftReport {
        doc_ref: "doc:draft-1".into(),
        issued_at: at,
        policy,
        calendar: cal(),
    }
}

pub fn final_report(at: Timestamp) -> inspection::Command {
    final_report_with(at, era_c())
}

pub fn final_report_with(at: Timestamp, policy: Arc<Policy>) -> inspection::Command {
    inspection::Command::IssueFinalReport {
        doc_ref: "doc:final-1".into(),
        issued_at: at,
        policy,
        calendar: cal(),
    }
}

pub fn hold(complaint_id: Uuid, at: Timestamp) -> inspection::Command {
    inspection::Command::PlacePublicationHold {
        complaint_id,
        placed_at: at,
    }
}

pub fn release(
    complaint_id: Uuid,
    reason: HoldReleaseReason,
    at: Timestamp,
) -> inspection::Command {
    inspection::Command::ReleasePublicationHold {
        complaint_id,
        reason,
        released_at: at,
    }
}

pub fn publish(at: Timestamp) -> inspection::Command {
    inspection::Command::PublishReport { published_at: at }
}

/// The partner system's reference of the test tribunal appeals.
pub const APPEAL: &str = "tribunal:EA-2025-0142";
pub const OTHER_APPEAL: &str = "tribunal:EA-2025-0199";

pub fn appeal_lodged(appeal_ref: &str, at: Timestamp) -> inspection::Command {
    inspection::Command::RecordTribunalAppealLodged {
        appeal_ref: appeal_ref.into(),
        lodged_at: at,
    }
}

pub fn appeal_concluded(appeal_ref: &str, at: Timestamp) -> inspection::Command {
    inspection::Command::RecordTribunalAppealConcluded {
        appeal_ref: appeal_ref.into(),
        outcome: TribunalAppealOutcome::Dismissed,
        concluded_at: at,
    }
}

pub fn fast_track(at: Timestamp) -> inspection::Command {
    inspection::Command::RecordFactualAccuracyPoints {
        doc_ref: "doc:fa-1".into(),
        submitted_at: at,
    }
}

// ---- inspection histories (INS-1 of scenarios S1 and S4) ----

/// INS-1 notified Mon 9 June 2025, on site from Tue 10 June 2025 08:00.
pub fn ins1_on_site() -> Vec<inspection::Event> {
    run::<InspectionCase>([notify(day(2025, 6, 10)), start(london(2025, 6, 10, 8, 0))])
}

/// INS-1 after its last on-site day, Wed 11 June 2025.
pub fn ins1_ended() -> Vec<inspection::Event> {
    and::<InspectionCase>(
        ins1_on_site(),
        [end(day(2025, 6, 11), london(2025, 6, 11, 17, 0))],
    )
}

/// INS-1 with its draft report issued Mon 30 June 2025 10:00 (S4).
pub fn ins1_drafted() -> Vec<inspection::Event> {
    and::<InspectionCase>(ins1_ended(), [draft(london(2025, 6, 30, 10, 0))])
}

/// INS-1's draft issued, then an appeal against an enforcement decision lodged on Wed 2 July 2025.
pub fn ins1_appealed() -> Vec<inspection::Event> {
    and::<InspectionCase>(
        ins1_drafted(),
        [appeal_lodged(APPEAL, london(2025, 7, 2, 9, 0))],
    )
}

/// The facts a complaint about an inspection with `history` is checked against.
pub fn intake_of(history: &[inspection::Event]) -> ComplaintIntake {
    InspectionCase::replay(history)
        .complaint_intake()
        .expect("the inspection is notified")
}

pub fn facts_of(history: &[inspection::Event]) -> SubmissionFacts {
    SubmissionFacts {
        inspection: intake_of(history),
        open_complaint: None,
    }
}

// ---- concerns ----

pub fn raise(
    channel: ConcernChannel,
    at: Timestamp,
    inspection: &[inspection::Event],
) -> concern::Command {
    concern::Command::RaiseConcern {
        concern_id: CONCERN,
        inspection_id: INS,
        channel,
        topic: ConcernTopic::InspectorConduct,
        raised_by_ref: HEAD.into(),
        detail_ref: "doc:concern-1".into(),
        accompanied: false,
        raised_at: at,
        inspection: InspectionCase::replay(inspection).stage(),
    }
}

pub fn assign(handler: Actor, at: Timestamp) -> concern::Command {
    concern::Command::AssignConcern {
        handler,
        assigned_at: at,
        team: InspectionCase::replay(&ins1_on_site())
            .team()
            .expect("INS-1 has a team"),
    }
}

// ---- complaints ----

/// The provider's complaint about INS-1's judgements and an inspector's conduct.
pub fn submission(at: Timestamp) -> Submission {
    Submission {
        inspection_id: INS,
        complainant_ref: HEAD.into(),
        grounds: BTreeSet::from([
            ComplaintGround::Judgements,
            ComplaintGround::InspectorConduct,
        ]),
        doc_refs: vec!["doc:complaint-1".into()],
        submitted_at: at,
        route_override: None,
    }
}

/// Submit [`submission`] at `at` against the inspection `history`.
pub fn submit(at: Timestamp, history: &[inspection::Event]) -> complaint::Command {
    complaint::Command::SubmitFormalComplaint {
        complaint_id: COMPLAINT,
        submission: submission(at),
        facts: facts_of(history),
        policy: era_c(),
        calendar: cal(),
    }
}

pub fn acknowledge(at: Timestamp) -> complaint::Command {
    complaint::Command::AcknowledgeComplaint {
        acknowledged_at: at,
        policy: era_c(),
        calendar: cal(),
    }
}

pub fn assign_investigator(who: Actor, at: Timestamp) -> complaint::Command {
    complaint::Command::AssignInvestigator {
        investigator: who,
        assigned_at: at,
        team: InspectionCase::replay(&ins1_on_site())
            .team()
            .expect("INS-1 has a team"),
    }
}

pub fn respond(at: Timestamp) -> complaint::Command {
    respond_with(
        ComplaintOutcome::NotUpheld,
        BTreeSet::from([Remedy::NoChange]),
        at,
    )
}

pub fn respond_with(
    outcome: ComplaintOutcome,
    remedies: BTreeSet<Remedy>,
    at: Timestamp,
) -> complaint::Command {
    complaint::Command::IssueComplaintResponse {
        outcome,
        remedies,
        response_doc_ref: "doc:response-1".into(),
        decided_by: decision_maker(),
        responded_at: at,
        policy: era_c(),
        calendar: cal(),
    }
}

/// The S4 complaint: submitted Thu 3 July 2025 10:00 against INS-1's draft of 30 June.
pub fn submitted() -> Vec<complaint::Event> {
    run::<FormalComplaint>([submit(london(2025, 7, 3, 10, 0), &ins1_drafted())])
}

/// Acknowledged Fri 4 July 2025; response due 14 August 2025.
pub fn acknowledged() -> Vec<complaint::Event> {
    and::<FormalComplaint>(submitted(), [acknowledge(london(2025, 7, 4, 9, 0))])
}

/// Under investigation by INVESTIGATOR from Mon 7 July 2025.
pub fn investigating() -> Vec<complaint::Event> {
    and::<FormalComplaint>(
        acknowledged(),
        [assign_investigator(
            investigator(),
            london(2025, 7, 7, 9, 0),
        )],
    )
}

/// Answered Thu 14 August 2025 10:00 (not upheld); escalation window to 14 November 2025.
pub fn responded() -> Vec<complaint::Event> {
    and::<FormalComplaint>(investigating(), [respond(london(2025, 8, 14, 10, 0))])
}

/// Closed after the escalation window lapsed.
pub fn closed() -> Vec<complaint::Event> {
    and::<FormalComplaint>(
        responded(),
        [complaint::Command::CloseComplaint {
            closed_at: london(2025, 11, 15, 9, 0),
            because: complaint::Closure::EscalationWindowLapsed,
        }],
    )
}

/// The escalation context's `EscalationRequested` for `escalation_id` at `at`, as the policy
/// passes it on.
pub fn escalate(escalation_id: Uuid, at: Timestamp) -> complaint::Command {
    complaint::Command::RecordEscalationRequested {
        escalation_id,
        requested_at: at,
    }
}

/// The answered complaint escalated (ESCALATION) on Mon 1 September 2025 (scenario S10).
pub fn escalated() -> Vec<complaint::Event> {
    and::<FormalComplaint>(
        responded(),
        [escalate(ESCALATION, london(2025, 9, 1, 10, 0))],
    )
}

/// The inspectorate's acceptance of `recommendation` of ESCALATION, "reconsider the complaint".
pub fn reconsider(recommendation: &str, at: Timestamp) -> complaint::Command {
    complaint::Command::ReopenForReconsideration {
        escalation_id: ESCALATION,
        recommendation_id: recommendation.to_owned(),
        reopened_at: at,
        policy: era_c(),
        calendar: cal(),
    }
}

/// The escalated complaint reopened for reconsideration on Mon 1 December 2025; the new response
/// is due Thu 15 January 2026.
pub fn reopened() -> Vec<complaint::Event> {
    and::<FormalComplaint>(
        escalated(),
        [reconsider(RECOMMENDATION, london(2025, 12, 1, 10, 0))],
    )
}

pub fn withdrawn() -> Vec<complaint::Event> {
    and::<FormalComplaint>(
        investigating(),
        [complaint::Command::WithdrawComplaint {
            reason: complaints::domain::WithdrawalReason::ConcernsResolved,
            withdrawn_by_ref: HEAD.into(),
            withdrawn_at: london(2025, 7, 20, 12, 0),
        }],
    )
}
