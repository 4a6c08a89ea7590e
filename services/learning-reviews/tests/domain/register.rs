//! The adjudicator's recommendations copied for the register: recorded once, decided and
//! implemented only once recorded.

use learning_reviews::domain::register::{Command, Event, RegisterEntry, Rejection, entry_id};
use learning_reviews::domain::{Reason, RecommendationSource, RegisterDecision, v1};
use platform::aggregate::given;
use uuid::Uuid;

use crate::helpers::*;

const ESC: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0e5c);

fn recorded() -> v1::RegisterRecommendationRecorded {
    v1::RegisterRecommendationRecorded {
        source: RecommendationSource::Adjudication.to_proto(),
        case_id: ESC.to_string(),
        case_ref: "ESC-2025-01G00001".into(),
        recommendation_id: "R1".into(),
        kind: "RECOMMENDATION_KIND_APOLOGY".into(),
        issued_at: ts(london(2025, 9, 15, 12, 0)),
    }
}

fn decision(decision: RegisterDecision, reason: &str) -> v1::RegisterDecisionRecorded {
    v1::RegisterDecisionRecorded {
        source: RecommendationSource::Adjudication.to_proto(),
        case_id: ESC.to_string(),
        recommendation_id: "R1".into(),
        decision: decision.to_proto(),
        public_reason_ref: reason.into(),
        decided_at: ts(london(2025, 10, 1, 9, 0)),
    }
}

fn implementation() -> v1::RegisterImplementationRecorded {
    v1::RegisterImplementationRecorded {
        source: RecommendationSource::Adjudication.to_proto(),
        case_id: ESC.to_string(),
        recommendation_id: "R1".into(),
        implemented_at: ts(london(2025, 11, 3, 9, 0)),
    }
}

fn entry() -> Vec<Event> {
    vec![Event::RecommendationRecorded(recorded())]
}

#[test]
fn a_recommendation_is_recorded_once() {
    let state = given::<RegisterEntry>([])
        .when(Command::RecordRecommendation(recorded()))
        .then(entry());
    assert_eq!(state.entry().unwrap().kind, "RECOMMENDATION_KIND_APOLOGY");
    assert_eq!(state.decision(), None);
    given::<RegisterEntry>(entry())
        .when(Command::RecordRecommendation(recorded()))
        .then_nothing();
}

#[test]
fn a_decision_is_recorded_and_the_same_decision_again_changes_nothing() {
    let declined = decision(RegisterDecision::Declined, "doc:public-reason");
    let state = given::<RegisterEntry>(entry())
        .when(Command::RecordDecision(declined.clone()))
        .then([Event::DecisionRecorded(declined.clone())]);
    assert_eq!(state.decision(), Some(RegisterDecision::Declined));
    let mut history = entry();
    history.push(Event::DecisionRecorded(declined.clone()));
    given::<RegisterEntry>(history)
        .when(Command::RecordDecision(declined))
        .then_nothing();
}

#[test]
fn an_implementation_is_recorded_once() {
    let state = given::<RegisterEntry>(entry())
        .when(Command::RecordImplementation(implementation()))
        .then([Event::ImplementationRecorded(implementation())]);
    assert!(state.implemented());
    let mut history = entry();
    history.push(Event::ImplementationRecorded(implementation()));
    given::<RegisterEntry>(history)
        .when(Command::RecordImplementation(implementation()))
        .then_nothing();
}

#[test]
fn a_decision_or_implementation_before_the_recommendation_is_refused() {
    given::<RegisterEntry>([])
        .when(Command::RecordDecision(decision(
            RegisterDecision::Accepted,
            "",
        )))
        .then_rejects(Rejection::NotRecorded);
    given::<RegisterEntry>([])
        .when(Command::RecordImplementation(implementation()))
        .then_rejects(Rejection::NotRecorded);
}

#[test]
fn a_fact_about_another_recommendation_is_refused() {
    let mut other = decision(RegisterDecision::Accepted, "");
    other.recommendation_id = "R2".into();
    given::<RegisterEntry>(entry())
        .when(Command::RecordDecision(other))
        .then_rejects(Rejection::EntryMismatch);
}

#[test]
fn the_entry_id_is_stable_and_tells_source_case_and_recommendation_apart() {
    let id = entry_id(RecommendationSource::Adjudication, ESC, "R1");
    assert_eq!(id, entry_id(RecommendationSource::Adjudication, ESC, "R1"));
    assert_ne!(id, entry_id(RecommendationSource::Adjudication, ESC, "R2"));
    assert_ne!(
        id,
        entry_id(RecommendationSource::LearningReview, ESC, "R1")
    );
    assert_ne!(
        id,
        entry_id(RecommendationSource::Adjudication, REVIEW, "R1")
    );
    assert_eq!(id.get_version_num(), 8);
}

#[test]
fn every_rejection_has_a_stable_code() {
    assert_eq!(
        Rejection::NotRecorded.reason(),
        "REGISTER_ENTRY_NOT_RECORDED"
    );
    assert_eq!(Rejection::EntryMismatch.reason(), "REGISTER_ENTRY_MISMATCH");
}
