//! The links to the other contexts: facts copied into learning reviews' own events once each,
//! a redelivered event taking effect once (the inbox), and what cannot be copied parked without
//! stopping the rest.

use learning_reviews::policy::{complaints as complaints_link, escalation as escalation_link};
use proto::complaints::v1 as complaints;
use proto::escalation::v1 as escalation;
use proto::learning_reviews::v1;
use uuid::Uuid;

use crate::helpers::*;

async fn inbox(h: &Harness, consumer: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = $1")
        .bind(consumer)
        .fetch_one(h.app.db_pool())
        .await
        .unwrap()
}

async fn parked(h: &Harness, consumer: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT reason FROM parked_events WHERE consumer = $1 ORDER BY id")
        .bind(consumer)
        .fetch_all(h.app.db_pool())
        .await
        .unwrap()
}

/// Deletes and recreates a durable consumer, as after the loss of the server's consumer state:
/// the stream delivers everything again.
async fn recreate(h: &Harness, spec: platform::consumer::ConsumerSpec) {
    let stream = h.app.js.get_stream(&spec.stream).await.unwrap();
    stream.delete_consumer(&spec.durable).await.unwrap();
    platform::consumer::ensure_consumer(&h.app.js, &spec)
        .await
        .unwrap();
}

#[tokio::test]
async fn complaint_facts_are_recorded_in_learning_reviews_own_events() {
    let h = Harness::start().await;
    let ins5 = h.ins5().await;
    assert_eq!(
        h.stream_events(&ins5.to_string()).await,
        [
            "redress.learning_reviews.v1.InspectionConnectionsRecorded",
            "redress.learning_reviews.v1.InspectionConnectionsRecorded"
        ]
    );
    let links: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_type = 'case_link'")
            .fetch_one(h.app.db_pool())
            .await
            .unwrap();
    assert_eq!(links, 1, "the complaint is linked to INS-5");
    assert_eq!(inbox(&h, complaints_link::DURABLE).await, 3);
}

#[tokio::test]
async fn concern_handlers_and_complaint_decision_makers_are_connected_too() {
    // Arrange: a concern about INS-5 handled by a senior inspector; the complaint answered by a
    // decision maker.
    let mut h = Harness::start().await;
    let ins5 = Uuid::now_v7();
    h.inspection_notified(ins5).await;
    let complaint_id = h.complaint_investigated(ins5).await;
    let concern_id = Uuid::now_v7();
    h.app
        .publish_event(
            "complaints",
            concern_id,
            &complaints::ConcernRaised {
                concern_id: concern_id.to_string(),
                inspection_id: ins5.to_string(),
                raised_by_ref: "vault:head-1".into(),
                raised_at: ts(london("2025-03-05T09:30")),
                ..Default::default()
            },
        )
        .await;
    h.app
        .publish_event(
            "complaints",
            concern_id,
            &complaints::ConcernAssigned {
                concern_id: concern_id.to_string(),
                handler_ref: "staff:senior-inspector-9".into(),
                assigned_at: ts(london("2025-03-05T10:00")),
            },
        )
        .await;
    h.app
        .publish_event(
            "complaints",
            complaint_id,
            &complaints::ComplaintResponseIssued {
                complaint_id: complaint_id.to_string(),
                outcome: complaints::ComplaintOutcome::NotUpheld as i32,
                response_doc_ref: "doc:response".into(),
                decided_by_ref: "staff:decision-maker-4".into(),
                responded_at: ts(london("2025-04-22T15:00")),
                ..Default::default()
            },
        )
        .await;
    h.app.settle().await;
    let (_, review_id) = h.commissioned(&[ins5]).await;

    // Act and assert
    for connected in ["staff:senior-inspector-9", "staff:decision-maker-4"] {
        assert_rule(
            h.appoint(
                &review_id,
                connected,
                &[v1::PriorRole::FormerInspectorateEmployee],
            )
            .await,
            "CONFLICT_OF_INTEREST",
        );
    }
    h.appoint(&review_id, REVIEWER, &[v1::PriorRole::None])
        .await
        .expect("an unconnected reviewer is appointed");
}

#[tokio::test]
async fn a_redelivered_event_takes_effect_once() {
    // Arrange: facts from both contexts, copied.
    let h = Harness::start().await;
    h.ins5().await;
    h.escalation_with_findings("ESC-2025-7K3QMX2D").await;
    h.app.settle().await;
    let events = h.event_count().await;
    let handled = (
        inbox(&h, complaints_link::DURABLE).await,
        inbox(&h, escalation_link::DURABLE).await,
    );
    assert_eq!(handled, (3, 2));

    // Act: both consumers lose their state and the streams deliver everything again.
    recreate(&h, complaints_link::consumer_spec(&h.app.namespace)).await;
    recreate(&h, escalation_link::consumer_spec(&h.app.namespace)).await;
    let redelivered = h.app.consume_once().await;

    // Assert
    assert_eq!(redelivered, 5, "every event was delivered again");
    assert_eq!(h.event_count().await, events, "and took effect once");
    assert_eq!(
        (
            inbox(&h, complaints_link::DURABLE).await,
            inbox(&h, escalation_link::DURABLE).await,
        ),
        handled
    );
}

#[tokio::test]
async fn an_undecodable_event_is_parked_and_the_link_moves_on() {
    let mut h = Harness::start().await;
    let ins5 = Uuid::now_v7();
    h.app
        .publish_raw(
            "complaints",
            Uuid::now_v7(),
            ins5,
            "redress.complaints.v1.InspectionNotified",
            vec![0xff, 0xff, 0xff],
        )
        .await;
    h.inspection_notified(ins5).await;
    h.app
        .publish_raw(
            "escalation",
            Uuid::now_v7(),
            Uuid::now_v7(),
            "redress.escalation.v1.AdjudicationFindingsIssued",
            vec![0x0a, 0xff],
        )
        .await;
    h.app.settle().await;
    for consumer in [complaints_link::DURABLE, escalation_link::DURABLE] {
        let reasons = parked(&h, consumer).await;
        assert_eq!(reasons.len(), 1, "{consumer}: {reasons:?}");
        assert!(reasons[0].contains("undecodable"), "{reasons:?}");
    }
    let (_, review_id) = h.commissioned(&[ins5]).await;
    assert_rule(
        h.appoint(&review_id, INS5_INSPECTOR, &[v1::PriorRole::Other])
            .await,
        "CONFLICT_OF_INTEREST",
    );
}

#[tokio::test]
async fn facts_about_cases_never_recorded_are_parked() {
    let h = Harness::start().await;
    let complaint_id = Uuid::now_v7();
    h.app
        .publish_event(
            "complaints",
            complaint_id,
            &complaints::InvestigatorAssigned {
                complaint_id: complaint_id.to_string(),
                investigator_ref: INS5_INVESTIGATOR.into(),
                assigned_at: ts(london("2025-03-13T10:00")),
            },
        )
        .await;
    let escalation_id = Uuid::now_v7();
    h.publish_escalation(
        escalation_id,
        &escalation::AdjudicationFindingsIssued {
            escalation_id: escalation_id.to_string(),
            findings_ref: "icaso:findings".into(),
            issued_at: ts(london("2025-10-15T12:00")),
            ..Default::default()
        },
    )
    .await;
    h.publish_escalation(
        escalation_id,
        &escalation::RecommendationImplemented {
            escalation_id: escalation_id.to_string(),
            recommendation_id: "R1".into(),
            evidence_ref: "doc:evidence".into(),
            recorded_by_ref: "staff:director-3".into(),
            implemented_at: ts(london("2025-12-01T09:00")),
        },
    )
    .await;
    h.app.settle().await;
    let complaints_parked = parked(&h, complaints_link::DURABLE).await;
    assert_eq!(complaints_parked.len(), 1);
    assert!(
        complaints_parked[0].contains("no inspection is recorded"),
        "{complaints_parked:?}"
    );
    let escalation_parked = parked(&h, escalation_link::DURABLE).await;
    assert_eq!(escalation_parked.len(), 2, "{escalation_parked:?}");
    assert!(escalation_parked[0].contains("no request is recorded"));
    assert!(escalation_parked[1].contains("no recommendation has been recorded"));
    assert_eq!(h.event_count().await, 0);
}
