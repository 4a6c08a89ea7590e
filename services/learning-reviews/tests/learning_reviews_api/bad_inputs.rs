//! Malformed requests: INVALID_ARGUMENT with a field violation for each bad field, no event
//! written.

use proto::learning_reviews::v1;
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::helpers::*;

fn fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_incident_with_bad_fields_names_each_and_writes_nothing() {
    let mut h = Harness::start().await;
    let token = h.liaison();
    let id = Uuid::now_v7().to_string();
    let cases: Vec<(v1::ReportIncidentRequest, Vec<&str>)> = vec![
        (
            v1::ReportIncidentRequest {
                request_id: String::new(),
                source: 0,
                category: 99,
                related_inspection_ids: vec!["INS-5".into()],
                account_ref: String::new(),
            },
            vec![
                "request_id",
                "source",
                "category",
                "related_inspection_ids[0]",
                "account_ref",
            ],
        ),
        (
            v1::ReportIncidentRequest {
                request_id: "r r".into(),
                source: 1,
                category: 1,
                related_inspection_ids: vec![id.clone(), id.clone(), Uuid::nil().to_string()],
                account_ref: "x".repeat(201),
            },
            vec![
                "request_id",
                "related_inspection_ids[1]",
                "related_inspection_ids[2]",
                "account_ref",
            ],
        ),
        (
            v1::ReportIncidentRequest {
                request_id: "x".repeat(129),
                source: 1,
                category: 1,
                related_inspection_ids: vec![id; 21],
                account_ref: "vault:a\u{202e}".into(),
            },
            vec!["request_id", "related_inspection_ids", "account_ref"],
        ),
    ];
    for (request, expected) in cases {
        let status = h
            .client
            .report_incident(with_token(request, &token))
            .await
            .unwrap_err();
        assert_eq!(fields(&status), expected);
    }
    assert_eq!(h.event_count().await, 0);
}

#[tokio::test]
async fn incident_decisions_and_proposals_with_bad_fields_are_invalid_arguments() {
    let mut h = Harness::start().await;
    let (hmci, chair) = (h.hmci(), h.chair());
    let status = h
        .client
        .assess_incident(with_token(
            v1::AssessIncidentRequest {
                request_id: key(),
                incident_id: "nope".into(),
                assessment_ref: String::new(),
            },
            &hmci,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["assessment_ref", "incident_id"]);
    let status = h
        .client
        .decide_no_review(with_token(
            v1::DecideNoReviewRequest {
                request_id: key(),
                incident_id: Uuid::now_v7().to_string(),
                reasons_ref: "r\0".into(),
            },
            &chair,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["reasons_ref"]);
    let status = h
        .client
        .propose_learning_review(with_token(
            v1::ProposeLearningReviewRequest {
                request_id: key(),
                incident_id: String::new(),
                terms_of_reference_ref: " ".into(),
                scope_in: vec![0, 1],
                scope_out: vec![6, 6],
            },
            &hmci,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        [
            "terms_of_reference_ref",
            "scope_in[0]",
            "scope_out[1]",
            "incident_id"
        ]
    );
    assert_eq!(h.event_count().await, 0);
}

#[tokio::test]
async fn review_commands_with_bad_fields_are_invalid_arguments() {
    let mut h = Harness::start().await;
    let review_id = h.gathering(&[]).await;
    let events = h.event_count().await;
    let (chair, reviewer, owner, hmci) = (h.chair(), h.reviewer(), h.owner(), h.hmci());

    let status = h
        .client
        .appoint_reviewer(with_token(
            v1::AppointReviewerRequest {
                request_id: key(),
                review_id: review_id.clone(),
                reviewer_ref: String::new(),
                independence_declaration_ref: "d".repeat(201),
                prior_roles: vec![0, 2, 2],
            },
            &chair,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        [
            "reviewer_ref",
            "independence_declaration_ref",
            "prior_roles[0]",
            "prior_roles[2]"
        ]
    );

    let status = h
        .client
        .submit_report(with_token(
            v1::SubmitReportRequest {
                request_id: key(),
                review_id: review_id.clone(),
                report_ref: String::new(),
                recommendations: vec![
                    v1::LearningRecommendation {
                        recommendation_id: "R1".into(),
                        text_ref: "t".into(),
                    },
                    v1::LearningRecommendation {
                        recommendation_id: "R1".into(),
                        text_ref: String::new(),
                    },
                    v1::LearningRecommendation {
                        recommendation_id: "R 3".into(),
                        text_ref: "t".into(),
                    },
                ],
            },
            &reviewer,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        [
            "report_ref",
            "recommendations[1].recommendation_id",
            "recommendations[1].text_ref",
            "recommendations[2].recommendation_id"
        ]
    );
    let too_many = (0..51)
        .map(|i| v1::LearningRecommendation {
            recommendation_id: format!("R{i}"),
            text_ref: "t".into(),
        })
        .collect();
    let status = h
        .client
        .submit_report(with_token(
            v1::SubmitReportRequest {
                request_id: key(),
                review_id: review_id.clone(),
                report_ref: "doc:r".into(),
                recommendations: too_many,
            },
            &reviewer,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["recommendations"]);

    let status = h
        .client
        .respond_to_recommendation(with_token(
            v1::RespondToRecommendationRequest {
                request_id: key(),
                review_id: "bad".into(),
                recommendation_id: String::new(),
                response: 0,
                reasons_ref: String::new(),
            },
            &owner,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        ["recommendation_id", "response", "review_id"]
    );

    let status = h
        .client
        .record_action_implemented(with_token(
            v1::RecordActionImplementedRequest {
                request_id: key(),
                review_id: review_id.clone(),
                recommendation_id: "R1".into(),
                evidence_ref: String::new(),
            },
            &owner,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["evidence_ref"]);

    for (audiences, expected) in [
        (vec![], vec!["audiences"]),
        (vec![1, 2, 3, 4, 1], vec!["audiences"]),
        (vec![1, 1], vec!["audiences[1]"]),
        (vec![7], vec!["audiences[0]"]),
    ] {
        let status = h
            .client
            .disseminate_lessons(with_token(
                v1::DisseminateLessonsRequest {
                    request_id: key(),
                    review_id: review_id.clone(),
                    audiences,
                    lessons_ref: "doc:lessons".into(),
                },
                &hmci,
            ))
            .await
            .unwrap_err();
        assert_eq!(fields(&status), expected);
    }

    let status = h
        .client
        .record_interview(with_token(
            v1::RecordInterviewRequest {
                request_id: String::new(),
                review_id: review_id.clone(),
                interview_ref: String::new(),
                named_with_consent_ref: "\u{2066}".into(),
            },
            &reviewer,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        ["request_id", "interview_ref", "named_with_consent_ref"]
    );
    assert_eq!(h.event_count().await, events);
}

#[tokio::test]
async fn queries_with_bad_fields_are_invalid_arguments() {
    let mut h = Harness::start().await;
    let token = h.auditor();
    let status = h
        .client
        .get_learning_review(with_token(
            v1::GetLearningReviewRequest {
                review_id: "x".into(),
                consistency: None,
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["review_id"]);
    let status = h
        .client
        .list_learning_reviews(with_token(
            v1::ListLearningReviewsRequest {
                status: 42,
                page_size: 101,
                page_token: "nope".into(),
                consistency: None,
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["status", "page_size", "page_token"]);
    let status = h
        .client
        .list_register(with_token(
            v1::ListRegisterRequest {
                source: 9,
                decision: 9,
                page_size: 500,
                page_token: "not/a token".into(),
                consistency: None,
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        ["source", "decision", "page_size", "page_token"]
    );
}
