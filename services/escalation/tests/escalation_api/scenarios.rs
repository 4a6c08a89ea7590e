//! Scenarios S8–S11 of domain research §6, end to end through the escalation service: complaint
//! facts arrive on the complaints stream, requests go through gRPC, the feed is read from NATS.

use escalation::domain::{Ground, OutOfRemitAsk};
use proto::escalation::v1;
use proto::escalation::v1::RecommendationKind as Kind;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn s8_escalating_a_withdrawn_complaint_is_refused_and_the_feed_carries_nothing() {
    // Arrange
    let mut h = Harness::start().await;
    let complaint_id = Uuid::now_v7();
    h.submitted(complaint_id).await;
    h.withdrawn(complaint_id).await;
    h.app.settle().await;

    // Act
    let refused = h
        .request(complaint_id, &[Ground::FailureToFollowProcedures], &[])
        .await;

    // Assert
    assert_rule(refused, "COMPLAINT_WITHDRAWN");
    assert!(
        h.feed().await.is_empty(),
        "a refusal never reaches the body"
    );
}

#[tokio::test]
async fn s9_escalating_before_the_response_is_refused_as_not_exhausted() {
    // Arrange
    let mut h = Harness::start().await;
    let complaint_id = Uuid::now_v7();
    h.submitted(complaint_id).await;
    h.app.settle().await;
    h.app.clock().set(london("2025-08-01T09:00"));

    // Act
    let status = h
        .request(complaint_id, &[Ground::FailureToRespondInTimelyManner], &[])
        .await
        .expect_err("not exhausted");

    // Assert
    assert_eq!(reason(&status), "NOT_EXHAUSTED");
    assert!(
        status.message().contains("once Ofsted's response"),
        "the answer says when escalation becomes available: {status:?}"
    );
    assert!(h.feed().await.is_empty());
    // The refusal is on record for the complainant and auditors.
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'redress.escalation.v1.EscalationRefused'",
    )
    .fetch_one(h.app.db_pool())
    .await
    .unwrap();
    assert_eq!(refused, 1);
}

#[tokio::test]
async fn s10_in_remit_grounds_are_referred_and_out_of_remit_asks_split_off() {
    // Arrange
    let mut h = Harness::start().await;
    let complaint_id = h.answered_complaint().await;

    // Act
    let answer = h
        .request(
            complaint_id,
            &[Ground::FailureToFollowProcedures, Ground::Discourtesy],
            &[OutOfRemitAsk::OverturnJudgement],
        )
        .await
        .expect("the escalation goes ahead");

    // Assert
    assert_eq!(
        answer.grounds,
        vec![
            Ground::FailureToFollowProcedures.to_proto(),
            Ground::Discourtesy.to_proto()
        ]
    );
    assert_eq!(
        answer.out_of_remit_asks,
        vec![OutOfRemitAsk::OverturnJudgement.to_proto()]
    );
    assert!(
        answer.case_ref.starts_with("ESC-2025-"),
        "{}",
        answer.case_ref
    );
    let escalation = h.get(&h.provider(), &answer.escalation_id).await.unwrap();
    assert_eq!(escalation.status, v1::EscalationStatus::Referred as i32);
    assert_eq!(escalation.complaint_id, complaint_id.to_string());
    let feed = h.feed().await;
    assert_eq!(feed.len(), 1);
    assert_eq!(
        header(&feed[0], "ce-type"),
        Some("redress.feed.v1.EscalationReferred")
    );
}

#[tokio::test]
async fn s10_the_case_file_is_pulled_only_after_acceptance_and_every_access_is_recorded() {
    // Arrange
    let mut h = Harness::start().await;
    let (_, answer) = h.referred().await;
    let id = answer.escalation_id;
    let body = h.body();

    // Act / Assert: before acceptance
    assert_rule(h.case_file(&body, &id).await, "CASE_FILE_NOT_AVAILABLE");

    h.accept(&id).await.unwrap();
    let file = h.case_file(&body, &id).await.expect("the case file");
    assert_eq!(
        file.provider_id, PROVIDER,
        "the provider is in the case file only"
    );
    let refs: Vec<&str> = file.documents.iter().map(|d| d.doc_ref.as_str()).collect();
    assert_eq!(
        refs,
        [
            "doc:complaint-letter",
            "doc:evidence-1",
            "doc:response-letter"
        ]
    );
    let again = h.case_file(&body, &id).await.expect("a second pull");
    assert_eq!(again.documents, file.documents);
    let accesses: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'redress.escalation.v1.CaseFileAccessed'",
    )
    .fetch_one(h.app.db_pool())
    .await
    .unwrap();
    assert_eq!(accesses, 2, "every access is recorded");
    // The feed announced the same documents under the same opaque ids.
    let feed = h.feed().await;
    let referred: proto::feed::v1::EscalationReferred =
        prost::Message::decode(feed[0].payload.as_ref()).unwrap();
    let announced: Vec<&str> = referred
        .documents
        .iter()
        .map(|d| d.document_id.as_str())
        .collect();
    let pulled: Vec<&str> = file
        .documents
        .iter()
        .map(|d| d.document_id.as_str())
        .collect();
    assert_eq!(announced, pulled);
}

#[tokio::test]
async fn an_adjudicator_not_appointed_to_the_case_cannot_pull_its_file() {
    let mut h = Harness::start().await;
    let id = h.appointed().await;
    let stranger = h.app.token_for(
        "icaso:adjudicator-9",
        platform::grpc::Role::Adjudicator,
        None,
    );
    assert_rule(h.case_file(&stranger, &id).await, "NOT_THE_ADJUDICATOR");
    let appointed = h.adjudicator();
    h.case_file(&appointed, &id)
        .await
        .expect("the appointed adjudicator reads it");
}

#[tokio::test]
async fn s11_a_decline_needs_a_public_reason_and_closure_waits_for_implementation() {
    // Arrange
    let mut h = Harness::start().await;
    let id = h.appointed().await;
    h.findings(
        &id,
        vec![
            recommendation("R1", Kind::Apology),
            recommendation("R2", Kind::ReconsiderComplaint),
        ],
    )
    .await
    .expect("findings");

    // Act / Assert
    h.accept_recommendation(&id, "R1", "")
        .await
        .expect("R1 accepted");
    assert_rule(
        h.decline_recommendation(&id, "R2", "", "https://gov.uk/statement-r2")
            .await,
        "PUBLIC_REASON_REQUIRED",
    );
    assert_rule(
        h.decline_recommendation(&id, "R2", "doc:reason-r2", "")
            .await,
        "PUBLIC_STATEMENT_REQUIRED",
    );
    h.decline_recommendation(&id, "R2", "doc:reason-r2", "https://gov.uk/statement-r2")
        .await
        .expect("R2 declined with a public reason");
    assert_rule(h.close(&id).await, "RECOMMENDATIONS_OUTSTANDING");
    h.implemented(&id, "R1").await.expect("R1 implemented");
    h.close(&id).await.expect("closed");

    let escalation = h.get(&h.owner(), &id).await.unwrap();
    assert_eq!(escalation.status, v1::EscalationStatus::Closed as i32);
    let r2 = escalation
        .recommendations
        .iter()
        .find(|r| r.recommendation_id == "R2")
        .unwrap();
    assert_eq!(r2.decision, v1::RecommendationDecision::Declined as i32);
    assert_eq!(r2.public_reason_ref, "doc:reason-r2");
    assert_eq!(r2.statement_ref, "https://gov.uk/statement-r2");
    let types: Vec<String> = h
        .feed()
        .await
        .iter()
        .map(|m| header(m, "ce-type").unwrap_or_default().to_owned())
        .collect();
    for expected in [
        "redress.feed.v1.RecommendationAccepted",
        "redress.feed.v1.RecommendationDeclined",
        "redress.feed.v1.PublicStatementPublished",
        "redress.feed.v1.RecommendationImplemented",
        "redress.feed.v1.EscalationClosed",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} in {types:?}"
        );
    }
}

#[tokio::test]
async fn s11_findings_recommending_a_change_of_judgement_or_compensation_are_refused() {
    let mut h = Harness::start().await;
    let id = h.appointed().await;
    for kind in [Kind::ChangeJudgement, Kind::Compensation] {
        assert_rule(
            h.findings(&id, vec![recommendation("R1", kind)]).await,
            "OUT_OF_REMIT",
        );
    }
    let before = h.event_count().await;
    assert_rule(
        h.findings(&id, vec![recommendation("R1", Kind::Compensation)])
            .await,
        "OUT_OF_REMIT",
    );
    assert_eq!(
        h.event_count().await,
        before,
        "a refused command writes nothing"
    );
}

#[tokio::test]
async fn the_body_declining_a_referral_ends_the_escalation() {
    let mut h = Harness::start().await;
    let (_, answer) = h.referred().await;
    let token = h.body();
    h.client
        .decline_referral(with_token(
            v1::DeclineReferralRequest {
                request_id: "decline-1".into(),
                escalation_id: answer.escalation_id.clone(),
                reason_ref: "icaso:out-of-scope".into(),
            },
            &token,
        ))
        .await
        .expect("declined");
    let escalation = h.get(&h.owner(), &answer.escalation_id).await.unwrap();
    assert_eq!(escalation.status, v1::EscalationStatus::Declined as i32);
    assert!(escalation.concluded_at.is_some());
    assert_rule(h.accept(&answer.escalation_id).await, "WRONG_STATE");
}

#[tokio::test]
async fn the_complainant_withdraws_before_the_findings_but_not_after() {
    let mut h = Harness::start().await;
    let (_, answer) = h.referred().await;
    h.withdraw(&answer.escalation_id).await.expect("withdrawn");
    let escalation = h.get(&h.provider(), &answer.escalation_id).await.unwrap();
    assert_eq!(escalation.status, v1::EscalationStatus::Withdrawn as i32);

    let id = h.appointed().await;
    h.findings(&id, vec![recommendation("R1", Kind::Apology)])
        .await
        .unwrap();
    assert_rule(h.withdraw(&id).await, "TOO_LATE_TO_WITHDRAW");
}
