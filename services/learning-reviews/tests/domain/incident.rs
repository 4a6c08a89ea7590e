//! Every rule and rejection of `IncidentNotification`.

use learning_reviews::domain::incident::{Command, Event, IncidentNotification, Rejection, Status};
use learning_reviews::domain::{Actor, IncidentCategory, IncidentSource, Reason, Role, v1};
use platform::aggregate::{Aggregate, given};
use uuid::Uuid;

use crate::helpers::*;

const OTHER_REVIEW: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0099);

fn no_review(reasons_ref: &str) -> Command {
    Command::DecideNoReview {
        by: hmci(),
        reasons_ref: reasons_ref.into(),
        now: london(2025, 6, 6, 16, 0),
    }
}

fn commissioned(review_id: Uuid) -> Command {
    Command::RecordCommissioned {
        by: chair(),
        review_id,
        now: london(2025, 6, 11, 12, 0),
    }
}

#[test]
fn a_reported_incident_records_its_source_category_and_related_inspections() {
    let state = given::<IncidentNotification>([])
        .when(report())
        .then([Event::Reported(v1::IncidentReported {
            incident_id: INCIDENT.to_string(),
            source: IncidentSource::ResponsibleBody.to_proto(),
            category: IncidentCategory::Death.to_proto(),
            related_inspection_ids: vec![INS5.to_string()],
            account_ref: "vault:account-1".into(),
            reported_by_ref: LIAISON.into(),
            reported_at: ts(london(2025, 6, 2, 10, 0)),
        })]);
    assert_eq!(state.status(), Status::Reported);
    let incident = state.incident().unwrap();
    assert_eq!(incident.related_inspection_ids, vec![INS5]);
    assert_eq!(incident.category, Some(IncidentCategory::Death));
}

#[test]
fn a_related_inspection_named_twice_is_recorded_once() {
    let mut command = report();
    if let Command::Report {
        related_inspection_ids,
        ..
    } = &mut command
    {
        *related_inspection_ids = vec![INS5, INS6, INS5];
    }
    match history::<IncidentNotification>([command]).as_slice() {
        [Event::Reported(e)] => assert_eq!(
            e.related_inspection_ids,
            vec![INS5.to_string(), INS6.to_string()]
        ),
        other => panic!("expected a report, got {other:?}"),
    }
}

#[test]
fn reporting_the_same_incident_twice_is_refused() {
    given_incident(reported())
        .when(report())
        .then_rejects(Rejection::AlreadyReported);
}

#[test]
fn only_hmci_the_chair_and_family_liaison_report_incidents() {
    for role in Role::ALL {
        let mut command = report();
        if let Command::Report { by, .. } = &mut command {
            *by = Actor::new("someone", role);
        }
        let outcome = IncidentNotification::default().decide(command);
        if [Role::Hmci, Role::BoardChair, Role::FamilyLiaison].contains(&role) {
            assert!(outcome.is_ok(), "{role}");
        } else {
            assert_eq!(outcome, Err(Rejection::RoleNotPermitted(role)), "{role}");
        }
    }
}

#[test]
fn nothing_but_a_report_is_accepted_before_the_report() {
    for command in [assess(), no_review("doc:reasons"), commissioned(REVIEW)] {
        given::<IncidentNotification>([])
            .when(command)
            .then_rejects(Rejection::NotReported);
    }
}

#[test]
fn an_assessment_records_the_policy_version_it_was_made_under() {
    let state = given_incident(reported())
        .when(assess())
        .then([Event::Assessed(v1::IncidentAssessed {
            incident_id: INCIDENT.to_string(),
            assessment_ref: "doc:assessment-1".into(),
            assessed_by_ref: HMCI.into(),
            assessed_at: ts(london(2025, 6, 4, 15, 0)),
            policy_version: POLICY.into(),
        })]);
    assert_eq!(state.status(), Status::Assessed);
    assert_eq!(state.policy_version(), Some(POLICY));
}

#[test]
fn an_incident_is_assessed_once() {
    given_incident(assessed())
        .when(assess())
        .then_rejects(Rejection::AlreadyAssessed);
}

#[test]
fn family_liaison_may_report_but_not_assess_or_decide() {
    let by = liaison();
    given_incident(reported())
        .when(Command::Assess {
            by: by.clone(),
            assessment_ref: "doc:a".into(),
            policy: policy(),
            now: london(2025, 6, 4, 15, 0),
        })
        .then_rejects(Rejection::RoleNotPermitted(Role::FamilyLiaison));
    given_incident(assessed())
        .when(Command::DecideNoReview {
            by: by.clone(),
            reasons_ref: "doc:r".into(),
            now: london(2025, 6, 6, 16, 0),
        })
        .then_rejects(Rejection::RoleNotPermitted(Role::FamilyLiaison));
    given_incident(assessed())
        .when(Command::RecordCommissioned {
            by,
            review_id: REVIEW,
            now: london(2025, 6, 6, 16, 0),
        })
        .then_rejects(Rejection::RoleNotPermitted(Role::FamilyLiaison));
}

#[test]
fn a_decision_before_the_assessment_is_refused() {
    given_incident(reported())
        .when(no_review("doc:reasons"))
        .then_rejects(Rejection::NotAssessed);
    given_incident(reported())
        .when(commissioned(REVIEW))
        .then_rejects(Rejection::NotAssessed);
}

#[test]
fn a_decision_not_to_review_without_reasons_is_refused() {
    for reasons in ["", "   "] {
        given_incident(assessed())
            .when(no_review(reasons))
            .then_rejects(Rejection::ReasonsRequired);
    }
}

#[test]
fn a_decision_not_to_review_is_recorded_with_its_reasons() {
    let state = given_incident(assessed())
        .when(no_review("doc:reasons-no-review"))
        .then([Event::Decided(v1::LearningReviewCommissioningDecided {
            incident_id: INCIDENT.to_string(),
            commissioned: false,
            review_id: String::new(),
            reasons_ref: "doc:reasons-no-review".into(),
            decided_by_ref: HMCI.into(),
            decided_at: ts(london(2025, 6, 6, 16, 0)),
        })]);
    assert_eq!(state.status(), Status::NoReviewDecided);
    assert!(state.facts().unwrap().decided);
}

#[test]
fn a_commissioned_review_is_recorded_as_the_decision() {
    let state = given_incident(assessed())
        .when(commissioned(REVIEW))
        .then([Event::Decided(v1::LearningReviewCommissioningDecided {
            incident_id: INCIDENT.to_string(),
            commissioned: true,
            review_id: REVIEW.to_string(),
            reasons_ref: String::new(),
            decided_by_ref: CHAIR.into(),
            decided_at: ts(london(2025, 6, 11, 12, 0)),
        })]);
    assert_eq!(
        state,
        IncidentNotification::ReviewCommissioned {
            incident: state.incident().unwrap().clone(),
            policy_version: POLICY.into(),
            review_id: REVIEW,
        }
    );
}

#[test]
fn recording_the_same_commission_again_changes_nothing() {
    let mut commands = assessed();
    commands.push(commissioned(REVIEW));
    given_incident(commands)
        .when(commissioned(REVIEW))
        .then_nothing();
}

#[test]
fn a_second_decision_is_refused() {
    let mut after_commission = assessed();
    after_commission.push(commissioned(REVIEW));
    let mut after_no_review = assessed();
    after_no_review.push(no_review("doc:reasons"));
    given_incident(after_commission.clone())
        .when(no_review("doc:reasons"))
        .then_rejects(Rejection::AlreadyDecided);
    given_incident(after_commission)
        .when(commissioned(OTHER_REVIEW))
        .then_rejects(Rejection::AlreadyDecided);
    given_incident(after_no_review.clone())
        .when(commissioned(REVIEW))
        .then_rejects(Rejection::AlreadyDecided);
    given_incident(after_no_review)
        .when(no_review("doc:other-reasons"))
        .then_rejects(Rejection::AlreadyDecided);
}

#[test]
fn the_facts_follow_the_assessment_and_the_decision() {
    let reported = facts_after(reported());
    assert_eq!(reported.assessed_under, None);
    assert!(!reported.decided);
    let assessed = facts_after(assessed());
    assert_eq!(assessed.assessed_under.as_deref(), Some(POLICY));
    assert_eq!(assessed.related_inspection_ids, vec![INS5]);
    assert!(IncidentNotification::default().facts().is_none());
}

#[test]
fn every_rejection_has_a_stable_code() {
    let codes: Vec<&str> = [
        Rejection::AlreadyReported,
        Rejection::NotReported,
        Rejection::RoleNotPermitted(Role::Operator),
        Rejection::AlreadyAssessed,
        Rejection::NotAssessed,
        Rejection::AlreadyDecided,
        Rejection::ReasonsRequired,
    ]
    .iter()
    .map(Reason::reason)
    .collect();
    assert_eq!(
        codes,
        [
            "ALREADY_REPORTED",
            "NOT_REPORTED",
            "ROLE_NOT_PERMITTED",
            "ALREADY_ASSESSED",
            "NOT_ASSESSED",
            "ALREADY_DECIDED",
            "REASONS_REQUIRED"
        ]
    );
}
