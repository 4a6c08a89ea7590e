//! S13 end to end through the real server, PostgreSQL and NATS, and the decision not to review.

use proto::learning_reviews::v1;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn s13_a_learning_review_after_a_tragic_incident_end_to_end() {
    // Arrange: INS-5's team and open complaint, as the complaints context publishes them.
    let mut h = Harness::start().await;
    let ins5 = h.ins5().await;

    // The incident is reported and assessed.
    let incident_id = h.report(&[ins5]).await;
    h.assess(&incident_id).await.unwrap();

    // Proposed with terms of reference excluding INS-5's judgements.
    let proposed = h.propose_request(h.proposal(&incident_id)).await.unwrap();
    assert_eq!(
        proposed.required_approvers,
        [v1::Approver::Hmci as i32, v1::Approver::BoardChair as i32]
    );
    let review_id = proposed.review_id;

    // A commission with only HMCI's approval is refused.
    let (hmci, chair) = (h.hmci(), h.chair());
    h.approve(&hmci, &review_id).await.unwrap();
    let refused = h.commission(&review_id).await.unwrap_err();
    assert_eq!(reason(&refused), "APPROVAL_MISSING");
    assert!(refused.message().contains("BoardChair"), "{refused:?}");

    // Both approve; commissioned, and the incident's decision recorded with it.
    h.approve(&chair, &review_id).await.unwrap();
    h.commission(&review_id).await.unwrap();
    let incident = h.get_incident(&incident_id).await;
    assert_eq!(
        incident.status,
        v1::IncidentStatus::ReviewCommissioned as i32
    );
    assert_eq!(incident.review_id, review_id);

    // One of INS-5's inspectors, and its complaint's investigator, are refused.
    for connected in [INS5_INSPECTOR, INS5_LEAD, INS5_INVESTIGATOR] {
        assert_rule(
            h.appoint(&review_id, connected, &[v1::PriorRole::ContractedInspector])
                .await,
            "CONFLICT_OF_INTEREST",
        );
    }

    // An eligible reviewer is appointed with the prior roles disclosed.
    h.appoint(
        &review_id,
        REVIEWER,
        &[
            v1::PriorRole::FormerHmci,
            v1::PriorRole::FormerInspectorateEmployee,
        ],
    )
    .await
    .unwrap();

    // Terms published; evidence gathered.
    h.publish_terms(&review_id).await.unwrap();
    let (reviewer, liaison) = (h.reviewer(), h.liaison());
    h.client
        .grant_records_access(with_token(
            v1::GrantRecordsAccessRequest {
                request_id: key(),
                review_id: review_id.clone(),
                records_ref: "doc:records-index".into(),
            },
            &hmci,
        ))
        .await
        .unwrap();
    for consent in ["", "vault:consent-7"] {
        h.client
            .record_interview(with_token(
                v1::RecordInterviewRequest {
                    request_id: key(),
                    review_id: review_id.clone(),
                    interview_ref: "vault:interview".into(),
                    named_with_consent_ref: consent.into(),
                },
                &reviewer,
            ))
            .await
            .unwrap();
    }
    h.client
        .offer_family_engagement(with_token(
            v1::OfferFamilyEngagementRequest {
                request_id: key(),
                review_id: review_id.clone(),
            },
            &liaison,
        ))
        .await
        .unwrap();
    h.client
        .record_family_engagement(with_token(
            v1::RecordFamilyEngagementRequest {
                request_id: key(),
                review_id: review_id.clone(),
                notes_ref: "vault:family-meeting-1".into(),
            },
            &liaison,
        ))
        .await
        .unwrap();
    h.client
        .record_specialist_advice(with_token(
            v1::RecordSpecialistAdviceRequest {
                request_id: key(),
                review_id: review_id.clone(),
                advice_ref: "doc:mental-health-advice".into(),
            },
            &reviewer,
        ))
        .await
        .unwrap();

    // The report with three recommendations.
    h.submit(&reviewer, &review_id, &["R1", "R2", "R3"])
        .await
        .unwrap();

    // Act and assert: closure is refused until everything invariant 9 asks is done.
    assert_rule(h.close(&review_id).await, "REPORT_NOT_PUBLISHED");
    h.publish_report(&review_id).await.unwrap();
    assert_rule(h.close(&review_id).await, "RECOMMENDATIONS_UNANSWERED");
    h.respond(&review_id, "R1", v1::RecommendationResponse::Accepted, "")
        .await
        .unwrap();
    h.respond(
        &review_id,
        "R2",
        v1::RecommendationResponse::PartlyAccepted,
        "doc:reasons-r2",
    )
    .await
    .unwrap();
    assert_rule(
        h.publish_response(&review_id).await,
        "RECOMMENDATIONS_UNANSWERED",
    );
    h.respond(
        &review_id,
        "R3",
        v1::RecommendationResponse::NotAccepted,
        "doc:reasons-r3",
    )
    .await
    .unwrap();
    assert_rule(h.close(&review_id).await, "RESPONSE_NOT_PUBLISHED");
    h.publish_response(&review_id).await.unwrap();
    let owner = h.owner();
    h.client
        .publish_monitoring_report(with_token(
            v1::PublishMonitoringReportRequest {
                request_id: key(),
                review_id: review_id.clone(),
                monitoring_report_ref: "pub:monitoring-1".into(),
            },
            &owner,
        ))
        .await
        .unwrap();
    assert_rule(h.close(&review_id).await, "ACTIONS_OUTSTANDING");
    h.implemented(&review_id, "R1").await.unwrap();
    h.transfer(&review_id, "R2").await.unwrap();
    assert_rule(h.close(&review_id).await, "LESSONS_NOT_DISSEMINATED");
    h.disseminate(
        &review_id,
        &[v1::Audience::InspectorTraining, v1::Audience::Board],
    )
    .await
    .unwrap();
    h.close(&review_id).await.unwrap();

    // The review as the read model shows it.
    let auditor = h.auditor();
    let review = h.get_review(&auditor, &review_id).await.unwrap();
    assert_eq!(review.status, v1::ReviewStatus::Closed as i32);
    assert_eq!(review.incident_id, incident_id);
    assert_eq!(review.related_inspection_ids, [ins5.to_string()]);
    assert_eq!(
        review.scope_out,
        [v1::ScopeItem::InspectionJudgements as i32]
    );
    assert_eq!(
        review.approvals,
        [v1::Approver::Hmci as i32, v1::Approver::BoardChair as i32]
    );
    assert_eq!(review.reviewer_ref, REVIEWER);
    assert_eq!(review.reviewer_prior_roles.len(), 2);
    assert_eq!(review.terms_of_reference_ref, "doc:terms-of-reference-1");
    assert_eq!((review.interviews, review.anonymised_interviews), (2, 1));
    assert!(review.family_engagement_offered && review.family_engagement_held);
    assert_eq!(review.report_ref, "doc:report-1");
    let recommendations: Vec<(&str, i32, &str)> = review
        .recommendations
        .iter()
        .map(|r| (r.recommendation_id.as_str(), r.response, r.action.as_str()))
        .collect();
    assert_eq!(
        recommendations,
        [
            (
                "R1",
                v1::RecommendationResponse::Accepted as i32,
                "implemented"
            ),
            (
                "R2",
                v1::RecommendationResponse::PartlyAccepted as i32,
                "transferred"
            ),
            ("R3", v1::RecommendationResponse::NotAccepted as i32, ""),
        ]
    );
    assert_eq!(review.recommendations[2].reasons_ref, "doc:reasons-r3");
    assert_eq!(
        review.audiences,
        [
            v1::Audience::InspectorTraining as i32,
            v1::Audience::Board as i32
        ]
    );
    assert_eq!(review.monitoring_reports, 1);
    assert!(review.commissioned_at.is_some() && review.closed_at.is_some());
}

#[tokio::test]
async fn a_decision_not_to_review_needs_its_reasons_and_is_recorded_with_them() {
    let mut h = Harness::start().await;
    let incident_id = h.report(&[Uuid::now_v7()]).await;
    assert_rule(
        h.decide_no_review(&incident_id, "doc:reasons").await,
        "NOT_ASSESSED",
    );
    h.assess(&incident_id).await.unwrap();
    let events = h.event_count().await;

    assert_rule(
        h.decide_no_review(&incident_id, "").await,
        "REASONS_REQUIRED",
    );
    assert_eq!(h.event_count().await, events, "a refusal writes nothing");

    h.decide_no_review(&incident_id, "doc:reasons-no-review")
        .await
        .unwrap();
    let incident = h.get_incident(&incident_id).await;
    assert_eq!(incident.status, v1::IncidentStatus::NoReview as i32);
    assert_eq!(incident.no_review_reasons_ref, "doc:reasons-no-review");
    assert!(incident.review_id.is_empty());

    // The decision is taken once, and no review follows it.
    assert_rule(
        h.decide_no_review(&incident_id, "doc:other").await,
        "ALREADY_DECIDED",
    );
    let request = h.proposal(&incident_id);
    assert_rule(h.propose_request(request).await, "INCIDENT_ALREADY_DECIDED");
}

#[tokio::test]
async fn a_review_of_an_incident_not_yet_assessed_is_refused() {
    let mut h = Harness::start().await;
    let incident_id = h.report(&[]).await;
    let request = h.proposal(&incident_id);
    assert_rule(h.propose_request(request).await, "INCIDENT_NOT_ASSESSED");
    let mut request = h.proposal(&incident_id);
    h.assess(&incident_id).await.unwrap();
    request.scope_out.clear();
    assert_rule(
        h.propose_request(request).await,
        "JUDGEMENTS_SCOPE_UNSTATED",
    );
}

#[tokio::test]
async fn the_commission_and_the_incidents_decision_commit_together_and_once() {
    // Arrange: two reviews proposed for one incident, both fully approved.
    let mut h = Harness::start().await;
    let incident_id = h.report(&[]).await;
    h.assess(&incident_id).await.unwrap();
    let first = h.propose(&incident_id).await;
    let second = h.propose(&incident_id).await;
    let (hmci, chair) = (h.hmci(), h.chair());
    for review in [&first, &second] {
        h.approve(&hmci, review).await.unwrap();
        h.approve(&chair, review).await.unwrap();
    }

    // Act
    h.commission(&first).await.unwrap();
    let events = h.event_count().await;
    let refused = h.commission(&second).await;

    // Assert: one unit wrote both streams; the second review's commission wrote nothing.
    assert_rule(refused, "INCIDENT_ALREADY_DECIDED");
    assert_eq!(h.event_count().await, events);
    assert_eq!(
        h.stream_events(&incident_id)
            .await
            .last()
            .map(String::as_str),
        Some("redress.learning_reviews.v1.LearningReviewCommissioningDecided")
    );
    let together: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT transaction_id) FROM events
         WHERE event_type IN ('redress.learning_reviews.v1.LearningReviewCommissioned',
                              'redress.learning_reviews.v1.LearningReviewCommissioningDecided')",
    )
    .fetch_one(h.app.db_pool())
    .await
    .unwrap();
    assert_eq!(together, 1, "commission and decision share one transaction");
    let auditor = h.auditor();
    assert_eq!(
        h.get_review(&auditor, &second).await.unwrap().status,
        v1::ReviewStatus::Proposed as i32
    );
}
