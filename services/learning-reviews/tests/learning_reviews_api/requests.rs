//! Requests: idempotent retries and reused keys, unknown ids, read-your-writes, listing, the
//! reviewer's scope, and read models equal to a rebuild.

use platform::grpc::Role;
use platform::pg::Pool;
use proto::learning_reviews::v1;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn a_retried_report_returns_the_same_incident_and_writes_nothing() {
    let mut h = Harness::start().await;
    let token = h.liaison();
    let related = [Uuid::now_v7()];
    let first = h.report_as(&token, "report-1", &related).await.unwrap();
    let events = h.event_count().await;
    let second = h.report_as(&token, "report-1", &related).await.unwrap();
    assert_eq!(second.incident_id, first.incident_id);
    let receipt = second.receipt.unwrap();
    assert!(receipt.replayed);
    assert_eq!(receipt.event_ids, first.receipt.unwrap().event_ids);
    assert_eq!(h.event_count().await, events);
}

#[tokio::test]
async fn a_retried_proposal_and_commission_answer_as_the_first_call_did() {
    let mut h = Harness::start().await;
    let incident_id = h.report(&[]).await;
    h.assess(&incident_id).await.unwrap();
    let request = h.proposal(&incident_id);
    let first = h.propose_request(request.clone()).await.unwrap();
    let second = h.propose_request(request).await.unwrap();
    assert_eq!(second.review_id, first.review_id);
    assert_eq!(second.required_approvers, first.required_approvers);
    assert!(second.receipt.unwrap().replayed);

    let (hmci, chair) = (h.hmci(), h.chair());
    h.approve(&hmci, &first.review_id).await.unwrap();
    h.approve(&chair, &first.review_id).await.unwrap();
    let commissioned = h
        .commission_as("commission-1", &first.review_id)
        .await
        .unwrap();
    let events = h.event_count().await;
    let again = h
        .commission_as("commission-1", &first.review_id)
        .await
        .unwrap();
    assert_eq!(
        again.receipt.as_ref().unwrap().event_ids,
        commissioned.receipt.unwrap().event_ids
    );
    assert!(again.receipt.unwrap().replayed);
    assert_eq!(h.event_count().await, events);
}

#[tokio::test]
async fn a_retried_refusal_is_refused_again_and_writes_nothing() {
    let mut h = Harness::start().await;
    let (_, review_id) = h.commissioned(&[]).await;
    let token = h.chair();
    let request = v1::AppointReviewerRequest {
        request_id: "appoint-1".into(),
        review_id: review_id.clone(),
        reviewer_ref: REVIEWER.into(),
        independence_declaration_ref: String::new(),
        prior_roles: vec![v1::PriorRole::None as i32],
    };
    let events = h.event_count().await;
    for _ in 0..2 {
        let status = h
            .client
            .appoint_reviewer(with_token(request.clone(), &token))
            .await
            .unwrap_err();
        assert_eq!(reason(&status), "DECLARATION_REQUIRED");
    }
    assert_eq!(h.event_count().await, events);
}

#[tokio::test]
async fn the_same_request_id_with_another_request_is_refused() {
    let mut h = Harness::start().await;
    let token = h.liaison();
    h.report_as(&token, "report-1", &[]).await.unwrap();
    let status = h
        .report_as(&token, "report-1", &[Uuid::now_v7()])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "IDEMPOTENCY_KEY_REUSED");
}

#[tokio::test]
async fn an_unknown_id_is_not_found() {
    let mut h = Harness::start().await;
    let incident_id = h.report(&[]).await;
    let unknown = Uuid::now_v7().to_string();
    assert_eq!(h.assess(&unknown).await.unwrap_err().code(), Code::NotFound);
    let request = h.proposal(&unknown);
    assert_eq!(
        h.propose_request(request).await.unwrap_err().code(),
        Code::NotFound
    );
    // An incident's id is no review's.
    for review_id in [&unknown, &incident_id] {
        assert_eq!(
            h.commission(review_id).await.unwrap_err().code(),
            Code::NotFound
        );
        assert_eq!(h.close(review_id).await.unwrap_err().code(), Code::NotFound);
        let status = h
            .appoint(review_id, REVIEWER, &[v1::PriorRole::None])
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        let auditor = h.auditor();
        assert_eq!(
            h.get_review(&auditor, review_id).await.unwrap_err().code(),
            Code::NotFound
        );
    }
    let token = h.auditor();
    let status = h
        .client
        .get_incident(with_token(
            v1::GetIncidentRequest {
                incident_id: unknown,
                consistency: None,
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn a_query_waits_for_the_commands_position() {
    let mut h = Harness::start().await;
    let token = h.liaison();
    let reported = h.report_as(&token, &key(), &[]).await.unwrap();
    let position = reported.receipt.unwrap().position;
    let auditor = h.auditor();
    let ask = |incident_id: &str| {
        with_token(
            v1::GetIncidentRequest {
                incident_id: incident_id.to_owned(),
                consistency: Some(proto::common::v1::ReadConsistency {
                    at_least: position,
                    max_wait_ms: 50,
                }),
            },
            &auditor,
        )
    };
    // Nobody applies the read model: the wait times out as UNAVAILABLE.
    let status = h
        .client
        .get_incident(ask(&reported.incident_id))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    h.app.settle().await;
    let found = h
        .client
        .get_incident(ask(&reported.incident_id))
        .await
        .unwrap();
    assert_eq!(
        found.into_inner().incident.unwrap().status,
        v1::IncidentStatus::Reported as i32
    );
}

#[tokio::test]
async fn reviews_are_listed_by_status_oldest_first_in_pages() {
    let mut h = Harness::start().await;
    let (_, commissioned) = h.commissioned(&[]).await;
    let incident_id = h.report(&[]).await;
    h.assess(&incident_id).await.unwrap();
    let proposed_a = h.propose(&incident_id).await;
    let proposed_b = h.propose(&incident_id).await;
    h.app.settle().await;
    let token = h.owner();
    let list = |status: v1::ReviewStatus, page_size: u32, page_token: String| {
        with_token(
            v1::ListLearningReviewsRequest {
                status: status as i32,
                page_size,
                page_token,
                consistency: None,
            },
            &token,
        )
    };
    let first = h
        .client
        .list_learning_reviews(list(v1::ReviewStatus::Proposed, 1, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.reviews.len(), 1);
    assert_eq!(first.reviews[0].review_id, proposed_a);
    let second = h
        .client
        .list_learning_reviews(list(v1::ReviewStatus::Proposed, 1, first.next_page_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.reviews[0].review_id, proposed_b);
    let all = h
        .client
        .list_learning_reviews(list(v1::ReviewStatus::Unspecified, 0, String::new()))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = all.reviews.iter().map(|r| r.review_id.as_str()).collect();
    assert_eq!(ids, [commissioned.as_str(), &proposed_a, &proposed_b]);
    assert!(all.next_page_token.is_empty());
}

#[tokio::test]
async fn the_appointed_reviewer_acts_and_sees_only_their_review() {
    let mut h = Harness::start().await;
    let review_id = h.gathering(&[]).await;
    let other = h.reviewer_token("expert:reviewer-2");
    assert_rule(
        h.submit(&other, &review_id, &["R1"]).await,
        "NOT_THE_REVIEWER",
    );
    assert_eq!(
        h.get_review(&other, &review_id).await.unwrap_err().code(),
        Code::NotFound
    );
    let own = h.reviewer();
    assert_eq!(
        h.get_review(&own, &review_id).await.unwrap().reviewer_ref,
        REVIEWER
    );
    h.submit(&own, &review_id, &["R1"]).await.unwrap();
    // Approving as anyone but HMCI or the Chair is refused before it reaches the rules.
    let owner = h.app.token(Role::RecommendationOwner, None);
    assert_eq!(
        h.approve(&owner, &review_id).await.unwrap_err().code(),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn the_read_models_equal_a_rebuild_from_the_event_store() {
    let mut h = Harness::start().await;
    let ins5 = h.ins5().await;
    let review_id = h
        .responded(
            &[ins5],
            &[
                ("R1", v1::RecommendationResponse::Accepted),
                ("R2", v1::RecommendationResponse::PartlyAccepted),
            ],
        )
        .await;
    h.implemented(&review_id, "R1").await.unwrap();
    h.transfer(&review_id, "R2").await.unwrap();
    h.disseminate(&review_id, &[v1::Audience::Sector])
        .await
        .unwrap();
    h.close(&review_id).await.unwrap();
    let incident_id = h.report(&[]).await;
    h.assess(&incident_id).await.unwrap();
    h.decide_no_review(&incident_id, "doc:reasons")
        .await
        .unwrap();
    h.escalation_with_findings("ESC-2025-ABCDEFGH").await;
    h.app.settle().await;
    let dump = |pool: Pool| async move {
        let mut all = Vec::new();
        for table in [
            "incidents",
            "reviews",
            "review_recommendations",
            "recommendation_register",
        ] {
            let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT t::text FROM {table} t ORDER BY t::text"
            )))
            .fetch_all(&pool)
            .await
            .unwrap();
            assert!(!rows.is_empty(), "{table} has rows");
            all.push(rows);
        }
        all
    };
    let before = dump(h.app.db_pool().clone()).await;
    h.app.read_models.rebuild().await.unwrap();
    assert_eq!(dump(h.app.db_pool().clone()).await, before);
}
