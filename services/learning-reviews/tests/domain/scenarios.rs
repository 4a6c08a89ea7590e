//! Scenario S13 of domain research §6 — a learning review after a tragic incident — with its
//! dates: reported on Mon 2 June 2025, commissioned on Wed 11 June, reported on Mon 1 September,
//! closed on Mon 15 December 2025.

use learning_reviews::domain::incident::{self, IncidentNotification};
use learning_reviews::domain::review::{Command, Event, LearningReview, Rejection, Status};
use learning_reviews::domain::{
    Approver, Audience, Connection, IncidentSource, PriorRole, RecommendationResponse, ScopeItem,
};
use platform::aggregate::Aggregate;

use crate::helpers::*;

/// A review being walked through S13, one command at a time.
struct Walk {
    review: LearningReview,
}

impl Walk {
    fn accept(&mut self, command: Command) -> Vec<Event> {
        let events = self.review.decide(command).expect("accepted");
        for event in &events {
            self.review = self.review.clone().evolve(event);
        }
        events
    }

    fn refuse(&self, command: Command) -> Rejection {
        self.review.decide(command).expect_err("refused")
    }
}

#[test]
fn s13_a_learning_review_after_a_tragic_incident() {
    // Given: the responsible body reports an incident related to INS-5, which has an open
    // formal complaint; the incident is assessed under the policy.
    let mut incident = IncidentNotification::default();
    for command in [report(), assess()] {
        for event in incident.decide(command).expect("accepted") {
            incident = incident.evolve(&event);
        }
    }
    let reported = incident.incident().unwrap();
    assert_eq!(reported.source, Some(IncidentSource::ResponsibleBody));
    assert_eq!(reported.related_inspection_ids, vec![INS5]);

    // When: HMCI proposes a review whose terms exclude INS-5's judgements.
    let mut walk = Walk {
        review: LearningReview::default(),
    };
    walk.accept(Command::Propose(proposal()));
    assert!(
        walk.review
            .scope_out()
            .contains(&ScopeItem::InspectionJudgements)
    );

    // A commission attempt with only HMCI's approval is rejected.
    walk.accept(approve(hmci()));
    assert_eq!(
        walk.refuse(commission()),
        Rejection::ApprovalMissing(Approver::BoardChair)
    );

    // HMCI and the Board Chair both approve; the review is commissioned, and the incident's
    // decision records it (the application commits both in one unit of work).
    walk.accept(approve(chair()));
    let commissioned = walk.accept(commission());
    assert!(matches!(commissioned.as_slice(), [Event::Commissioned(_)]));
    let decided = incident
        .decide(incident::Command::RecordCommissioned {
            by: hmci(),
            review_id: REVIEW,
            now: london(2025, 6, 11, 12, 0),
        })
        .expect("the decision is recorded");
    incident = incident.evolve(&decided[0]);
    assert_eq!(incident.status(), incident::Status::ReviewCommissioned);

    // A reviewer who was one of INS-5's inspectors is rejected.
    assert_eq!(
        walk.refuse(Command::AppointReviewer(appointment(
            INS5_INSPECTOR,
            &[PriorRole::ContractedInspector]
        ))),
        Rejection::ConflictOfInterest {
            inspection_id: INS5,
            connection: Connection::InspectionTeam,
        }
    );

    // An eligible reviewer is appointed with the prior-roles disclosure.
    walk.accept(appoint());
    assert_eq!(walk.review.reviewer_ref(), Some(REVIEWER));
    assert_eq!(walk.review.prior_roles(), [PriorRole::FormerHmci]);

    // Terms published; evidence gathered, staff anonymised, the family engaged.
    walk.accept(publish_terms());
    walk.accept(Command::GrantRecordsAccess {
        by: hmci(),
        records_ref: "doc:records-index".into(),
        now: london(2025, 6, 18, 9, 0),
    });
    walk.accept(Command::OfferFamilyEngagement {
        by: liaison(),
        now: london(2025, 6, 20, 10, 0),
    });
    walk.accept(Command::RecordFamilyEngagement {
        by: liaison(),
        notes_ref: "vault:family-meeting-1".into(),
        now: london(2025, 7, 1, 10, 0),
    });
    let interview = walk.accept(Command::RecordInterview {
        by: reviewer(),
        interview_ref: "vault:interview-1".into(),
        consent_ref: None,
        now: london(2025, 7, 2, 14, 0),
    });
    assert!(matches!(&interview[..], [Event::InterviewRecorded(e)] if e.anonymised));
    walk.accept(Command::RecordSpecialistAdvice {
        by: reviewer(),
        advice_ref: "doc:mental-health-advice".into(),
        now: london(2025, 7, 8, 9, 0),
    });

    // The report, with three recommendations, on Mon 1 September 2025.
    walk.accept(submit(vec![rec("R1"), rec("R2"), rec("R3")]));

    // Closure requires the published report, a response to every recommendation, the
    // published response, the actions and at least one dissemination.
    assert_eq!(walk.refuse(close()), Rejection::ReportNotPublished);
    walk.accept(publish_report());
    assert_eq!(
        walk.refuse(close()),
        Rejection::RecommendationsUnanswered(vec!["R1".into(), "R2".into(), "R3".into()])
    );
    walk.accept(respond("R1", RecommendationResponse::Accepted, ""));
    walk.accept(respond(
        "R2",
        RecommendationResponse::PartlyAccepted,
        "doc:reasons-r2",
    ));
    assert_eq!(
        walk.refuse(publish_response()),
        Rejection::RecommendationsUnanswered(vec!["R3".into()])
    );
    walk.accept(respond(
        "R3",
        RecommendationResponse::NotAccepted,
        "doc:reasons-r3",
    ));
    assert_eq!(walk.refuse(close()), Rejection::ResponseNotPublished);
    walk.accept(publish_response());
    walk.accept(Command::PublishMonitoringReport {
        by: owner(),
        monitoring_report_ref: "pub:monitoring-1".into(),
        now: london(2025, 12, 1, 8, 0),
    });
    assert_eq!(
        walk.refuse(close()),
        Rejection::ActionsOutstanding(vec!["R1".into(), "R2".into()])
    );
    walk.accept(implemented("R1"));
    walk.accept(transferred("R2"));
    assert_eq!(
        walk.refuse(close()),
        Rejection::LessonsNotDisseminated {
            reached: 0,
            required: 1
        }
    );
    walk.accept(disseminate(&[Audience::InspectorTraining, Audience::Board]));
    walk.accept(close());
    assert_eq!(walk.review.status(), Status::Closed);
}

#[test]
fn s13_variant_a_decision_not_to_review_is_on_record_with_its_reasons() {
    let mut commands = assessed();
    commands.push(incident::Command::DecideNoReview {
        by: chair(),
        reasons_ref: "doc:reasons-no-review".into(),
        now: london(2025, 6, 6, 16, 0),
    });
    let state = IncidentNotification::replay(&history::<IncidentNotification>(commands));
    assert_eq!(
        state,
        IncidentNotification::NoReviewDecided {
            incident: state.incident().unwrap().clone(),
            policy_version: POLICY.into(),
            reasons_ref: "doc:reasons-no-review".into(),
        }
    );
}
