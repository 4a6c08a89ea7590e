//! S13 across the contexts: an incident reported to the learning-reviews service about an
//! inspection with an open complaint flags that complaint as sensitive in the complaints context,
//! changing nothing else; the review is commissioned with both approvals.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use platform::grpc::Role;
use proto::complaints::v1 as complaints;
use proto::learning_reviews::v1 as learning;

use crate::stack::*;

#[tokio::test]
async fn s13_an_incident_flags_the_open_complaint_of_its_inspection_and_changes_nothing_else() {
    // Arrange: a complaint answered on an inspection (its escalation window runs).
    let stack = Stack::new().await;
    let process = stack.start();
    let mut c = clients(process.port).await;
    let journey = Journey::new(&stack, 5, Timestamp::now() - SignedDuration::from_hours(96));
    let complaint_id = journey.answered(&mut c).await.unwrap();
    let decision = journey.token("decision").to_owned();
    let read = |mut c: Clients| {
        let token = decision.clone();
        async move {
            // NOT_FOUND until the read model has applied the submission.
            let complaint = c
                .complaints
                .get_complaint(with_token(
                    complaints::GetComplaintRequest {
                        complaint_id: complaint_id.to_string(),
                        consistency: None,
                    },
                    &token,
                ))
                .await
                .ok()?
                .into_inner()
                .complaint?;
            let deadlines = c
                .complaints
                .get_complaint_deadlines(with_token(
                    complaints::GetComplaintDeadlinesRequest {
                        complaint_id: complaint_id.to_string(),
                        consistency: None,
                    },
                    &token,
                ))
                .await
                .ok()?
                .into_inner()
                .deadlines?;
            Some((complaint, deadlines))
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (before, deadlines_before) = loop {
        // Both read models: the complaint's status and, a projection of its own, its deadlines
        // with the escalation window the response opened.
        if let Some((complaint, deadlines)) = read(c.clone()).await
            && complaint.status == complaints::ComplaintStatus::ResponseIssued as i32
            && deadlines.escalation_window_closes_at.is_some()
        {
            break (complaint, deadlines);
        }
        assert!(Instant::now() < deadline, "the response never showed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!before.sensitive);

    // Act: the responsible body reports a death; HMCI assesses and proposes a review, which
    // cannot be commissioned on HMCI's approval alone.
    let hmci = stack.token("staff:hmci", Role::Hmci, None);
    let chair = stack.token("board:chair", Role::BoardChair, None);
    let incident = c
        .learning
        .report_incident(with_token(
            learning::ReportIncidentRequest {
                request_id: "s13-incident".into(),
                source: learning::IncidentSource::ResponsibleBody as i32,
                category: learning::IncidentCategory::Death as i32,
                related_inspection_ids: vec![journey.inspection_id.to_string()],
                account_ref: "vault:s13-account".into(),
            },
            &hmci,
        ))
        .await
        .unwrap()
        .into_inner()
        .incident_id;
    c.learning
        .assess_incident(with_token(
            learning::AssessIncidentRequest {
                request_id: "s13-assess".into(),
                incident_id: incident.clone(),
                assessment_ref: "doc:s13-assessment".into(),
            },
            &hmci,
        ))
        .await
        .unwrap();
    let review = c
        .learning
        .propose_learning_review(with_token(
            learning::ProposeLearningReviewRequest {
                request_id: "s13-propose".into(),
                incident_id: incident,
                terms_of_reference_ref: "doc:s13-terms".into(),
                scope_in: vec![learning::ScopeItem::ResponseToIncident as i32],
                scope_out: vec![learning::ScopeItem::InspectionJudgements as i32],
            },
            &hmci,
        ))
        .await
        .unwrap()
        .into_inner()
        .review_id;
    let approve = |key: &str, token: &str| {
        with_token(
            learning::ApproveCommissionRequest {
                request_id: key.into(),
                review_id: review.clone(),
            },
            token,
        )
    };
    let commission = |key: &str| {
        with_token(
            learning::CommissionLearningReviewRequest {
                request_id: key.into(),
                review_id: review.clone(),
            },
            &hmci,
        )
    };
    c.learning
        .approve_commission(approve("s13-hmci", &hmci))
        .await
        .unwrap();
    let refused = c
        .learning
        .commission_learning_review(commission("s13-commission-1"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    c.learning
        .approve_commission(approve("s13-chair", &chair))
        .await
        .unwrap();
    c.learning
        .commission_learning_review(commission("s13-commission-2"))
        .await
        .unwrap();

    // Assert: the complaint is flagged; its state and deadlines are what they were.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (after, deadlines_after) = read(c.clone()).await.unwrap();
        if after.sensitive {
            assert_eq!(after.status, before.status);
            assert_eq!(after.outcome, before.outcome);
            assert_eq!(deadlines_after, deadlines_before);
            break;
        }
        assert!(Instant::now() < deadline, "the complaint was never flagged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
