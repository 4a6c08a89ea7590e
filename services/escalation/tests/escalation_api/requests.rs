//! Requests: one active escalation per complaint (also under a race), idempotent retries,
//! provider scoping, and the independent body's view of refused requests.

use escalation::domain::{Ground, OutOfRemitAsk};
use platform::grpc::Role;
use platform::pg::Pool;
use proto::escalation::v1;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn a_second_request_while_one_is_active_is_refused_as_already_active() {
    let mut h = Harness::start().await;
    let (complaint_id, _) = h.referred().await;
    assert_rule(
        h.request(complaint_id, &[Ground::Discourtesy], &[]).await,
        "ALREADY_ACTIVE",
    );
}

#[tokio::test]
async fn after_a_withdrawal_the_complaint_can_be_escalated_again_within_the_window() {
    let mut h = Harness::start().await;
    let (complaint_id, first) = h.referred().await;
    h.withdraw(&first.escalation_id).await.unwrap();
    let second = h
        .request(complaint_id, &[Ground::Discourtesy], &[])
        .await
        .expect("a new escalation goes ahead");
    assert_ne!(second.escalation_id, first.escalation_id);
}

#[tokio::test]
async fn racing_requests_for_one_complaint_let_exactly_one_go_ahead() {
    // Arrange: every request waits, decided, before committing, so they all decide against
    // the same state and only the complaint record's expected version tells them apart.
    let h = Harness::start().await;
    let complaint_id = h.answered_complaint().await;
    let token = h.provider();
    fail::cfg("escalation::request::before_commit", "sleep(300)").unwrap();

    // Act: eight clients at once, each with its own request id.
    let mut calls = Vec::new();
    for i in 0..8 {
        let mut client = h.client.clone();
        let token = token.clone();
        calls.push(tokio::spawn(async move {
            client
                .request_escalation(with_token(
                    v1::RequestEscalationRequest {
                        request_id: format!("race-{i}"),
                        complaint_id: complaint_id.to_string(),
                        grounds: vec![Ground::Discourtesy.to_proto()],
                        out_of_remit_asks: vec![],
                    },
                    &token,
                ))
                .await
        }));
    }
    let mut ahead = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => ahead += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert_eq!(reason(&status), "ALREADY_ACTIVE");
            }
        }
    }

    // Assert
    assert_eq!(ahead, 1);
    let opened: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'redress.escalation.v1.EscalationOpened'",
    )
    .fetch_one(h.app.db_pool())
    .await
    .unwrap();
    assert_eq!(opened, 1);
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_returns_the_same_answer_and_writes_nothing() {
    let mut h = Harness::start().await;
    let complaint_id = h.answered_complaint().await;
    let token = h.provider();
    let grounds = [Ground::FailureToFollowProcedures];
    let asks = [OutOfRemitAsk::Compensation];
    let first = h
        .request_as(&token, "retry-1", complaint_id, &grounds, &asks)
        .await
        .unwrap();
    let events = h.event_count().await;
    let second = h
        .request_as(&token, "retry-1", complaint_id, &grounds, &asks)
        .await
        .unwrap();
    assert_eq!(second.escalation_id, first.escalation_id);
    assert_eq!(second.case_ref, first.case_ref);
    assert_eq!(second.grounds, first.grounds);
    assert_eq!(second.out_of_remit_asks, first.out_of_remit_asks);
    assert!(second.receipt.unwrap().replayed);
    assert_eq!(h.event_count().await, events);
}

#[tokio::test]
async fn a_retried_refusal_is_refused_again_and_recorded_once() {
    let mut h = Harness::start().await;
    let complaint_id = Uuid::now_v7();
    h.submitted(complaint_id).await;
    h.app.settle().await;
    let token = h.provider();
    let first = h
        .request_as(&token, "early-1", complaint_id, &[Ground::Discourtesy], &[])
        .await
        .unwrap_err();
    let events = h.event_count().await;
    // Meanwhile Ofsted answers: the retry still answers as the first call did.
    h.answered(complaint_id).await;
    h.app.settle().await;
    let events_after_answer = h.event_count().await;
    let second = h
        .request_as(&token, "early-1", complaint_id, &[Ground::Discourtesy], &[])
        .await
        .unwrap_err();
    assert_eq!(reason(&second), "NOT_EXHAUSTED");
    assert_eq!(second.message(), first.message());
    assert!(events_after_answer > events);
    assert_eq!(h.event_count().await, events_after_answer);
}

#[tokio::test]
async fn the_same_request_id_with_another_request_is_refused() {
    let mut h = Harness::start().await;
    let complaint_id = h.answered_complaint().await;
    let token = h.provider();
    h.request_as(
        &token,
        "reused-1",
        complaint_id,
        &[Ground::Discourtesy],
        &[],
    )
    .await
    .unwrap();
    let events = h.event_count().await;
    assert_rule(
        h.request_as(
            &token,
            "reused-1",
            complaint_id,
            &[Ground::FailureToFollowProcedures],
            &[],
        )
        .await,
        "IDEMPOTENCY_KEY_REUSED",
    );
    assert_eq!(h.event_count().await, events);
}

#[tokio::test]
async fn a_provider_cannot_escalate_or_see_another_providers_complaint() {
    let mut h = Harness::start().await;
    let complaint_id = Uuid::now_v7();
    h.submitted_by(complaint_id, OTHER_PROVIDER).await;
    h.answered(complaint_id).await;
    h.app.settle().await;
    let events = h.event_count().await;
    let status = h
        .request(complaint_id, &[Ground::Discourtesy], &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(h.event_count().await, events);

    let theirs = h
        .app
        .token(Role::ProviderRepresentative, Some(OTHER_PROVIDER));
    let answer = h
        .request_as(
            &theirs,
            "theirs-1",
            complaint_id,
            &[Ground::Discourtesy],
            &[],
        )
        .await
        .unwrap();
    let mine = h.provider();
    let status = h.get(&mine, &answer.escalation_id).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        h.withdraw(&answer.escalation_id).await.unwrap_err().code(),
        Code::NotFound
    );
}

#[tokio::test]
async fn an_unknown_complaint_is_not_found() {
    let mut h = Harness::start().await;
    let status = h
        .request(Uuid::now_v7(), &[Ground::Discourtesy], &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(h.event_count().await, 0);
}

#[tokio::test]
async fn every_ask_outside_the_remit_is_refused_as_no_ground_in_remit() {
    let mut h = Harness::start().await;
    let complaint_id = h.answered_complaint().await;
    assert_rule(
        h.request(
            complaint_id,
            &[],
            &[
                OutOfRemitAsk::OverturnJudgement,
                OutOfRemitAsk::Compensation,
            ],
        )
        .await,
        "NO_GROUND_IN_REMIT",
    );
}

#[tokio::test]
async fn a_request_after_the_window_is_refused_as_out_of_time() {
    let mut h = Harness::start().await;
    let complaint_id = h.answered_complaint().await;
    h.app.clock().set(london("2025-11-15T00:01"));
    assert_rule(
        h.request(complaint_id, &[Ground::Discourtesy], &[]).await,
        "OUT_OF_TIME",
    );
}

#[tokio::test]
async fn the_body_never_sees_a_refused_request() {
    let mut h = Harness::start().await;
    let complaint_id = Uuid::now_v7();
    h.submitted(complaint_id).await;
    h.app.settle().await;
    let status = h
        .request(complaint_id, &[Ground::Discourtesy], &[])
        .await
        .unwrap_err();
    let refused_id = tonic_types::StatusExt::get_details_error_info(&status)
        .unwrap()
        .metadata["escalation_id"]
        .clone();
    let status = h.accept(&refused_id).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    h.app.settle().await;
    let token = h.body();
    let queue = h
        .client
        .list_escalation_queue(with_token(
            v1::ListEscalationQueueRequest::default(),
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(queue.items.is_empty());
}

#[tokio::test]
async fn the_queue_shows_the_body_its_cases_and_an_adjudicator_only_its_own() {
    let mut h = Harness::start().await;
    let appointed = h.appointed().await;
    let (_, other) = h.referred().await;
    h.app.settle().await;
    let body = h.body();
    let all = h
        .client
        .list_escalation_queue(with_token(v1::ListEscalationQueueRequest::default(), &body))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = all.items.iter().map(|i| i.escalation_id.as_str()).collect();
    assert_eq!(ids, [appointed.as_str(), other.escalation_id.as_str()]);
    assert!(all.items.iter().all(|i| i.case_ref.starts_with("ESC-")));
    let adjudicator = h.adjudicator();
    let own = h
        .client
        .list_escalation_queue(with_token(
            v1::ListEscalationQueueRequest::default(),
            &adjudicator,
        ))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = own.items.iter().map(|i| i.escalation_id.as_str()).collect();
    assert_eq!(ids, [appointed.as_str()]);
    // Paging: one at a time.
    let first = h
        .client
        .list_escalation_queue(with_token(
            v1::ListEscalationQueueRequest {
                page_size: 1,
                ..Default::default()
            },
            &body,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.items.len(), 1);
    let second = h
        .client
        .list_escalation_queue(with_token(
            v1::ListEscalationQueueRequest {
                page_size: 1,
                page_token: first.next_page_token.clone(),
                ..Default::default()
            },
            &body,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.items[0].escalation_id, other.escalation_id);
    assert!(second.next_page_token.is_empty());
}

#[tokio::test]
async fn a_query_waits_for_the_commands_position() {
    let mut h = Harness::start().await;
    let (_, answer) = h.referred().await;
    let position = answer.receipt.unwrap().position;
    // The read model is not applied by anyone: the wait times out as UNAVAILABLE.
    let token = h.provider();
    let status = h
        .client
        .get_escalation(with_token(
            v1::GetEscalationRequest {
                escalation_id: answer.escalation_id.clone(),
                consistency: Some(proto::common::v1::ReadConsistency {
                    at_least: position,
                    max_wait_ms: 50,
                }),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    h.app.settle().await;
    let found = h
        .client
        .get_escalation(with_token(
            v1::GetEscalationRequest {
                escalation_id: answer.escalation_id.clone(),
                consistency: Some(proto::common::v1::ReadConsistency {
                    at_least: position,
                    max_wait_ms: 50,
                }),
            },
            &token,
        ))
        .await
        .unwrap();
    assert!(found.into_inner().escalation.is_some());
}

#[tokio::test]
async fn the_register_lists_every_recommendation_with_its_decision() {
    let mut h = Harness::start().await;
    let id = h.appointed().await;
    h.findings(
        &id,
        vec![
            recommendation("R1", v1::RecommendationKind::Apology),
            recommendation("R2", v1::RecommendationKind::ProcessImprovement),
        ],
    )
    .await
    .unwrap();
    h.accept_recommendation(&id, "R1", "2026-01-31")
        .await
        .unwrap();
    h.decline_recommendation(&id, "R2", "doc:reason", "https://gov.uk/s")
        .await
        .unwrap();
    h.app.settle().await;
    let token = h.app.token(Role::Hmci, None);
    let register = h
        .client
        .list_recommendations(with_token(
            v1::ListRecommendationsRequest {
                page_size: 1,
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(register.recommendations.len(), 1);
    assert_eq!(register.recommendations[0].due_on, "2026-01-31");
    let rest = h
        .client
        .list_recommendations(with_token(
            v1::ListRecommendationsRequest {
                page_token: register.next_page_token,
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.recommendations.len(), 1);
    assert_eq!(
        rest.recommendations[0].decision,
        v1::RecommendationDecision::Declined as i32
    );
    let declined = h
        .client
        .list_recommendations(with_token(
            v1::ListRecommendationsRequest {
                decision: v1::RecommendationDecision::Declined as i32,
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(declined.recommendations.len(), 1);
    assert_eq!(declined.recommendations[0].public_reason_ref, "doc:reason");
}

#[tokio::test]
async fn the_read_models_equal_a_rebuild_from_the_event_store() {
    let mut h = Harness::start().await;
    let id = h.appointed().await;
    h.findings(
        &id,
        vec![recommendation("R1", v1::RecommendationKind::Apology)],
    )
    .await
    .unwrap();
    h.accept_recommendation(&id, "R1", "").await.unwrap();
    h.referred().await;
    h.app.settle().await;
    let dump = |pool: Pool| async move {
        let mut all = Vec::new();
        for table in [
            "escalation_complaints",
            "escalations",
            "escalation_recommendations",
        ] {
            let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT t::text FROM {table} t ORDER BY t::text"
            )))
            .fetch_all(&pool)
            .await
            .unwrap();
            all.push(rows);
        }
        all
    };
    let before = dump(h.app.db_pool().clone()).await;
    h.app.read_models.rebuild().await.unwrap();
    assert_eq!(dump(h.app.db_pool().clone()).await, before);
}
