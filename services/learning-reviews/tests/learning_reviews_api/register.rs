//! The recommendation register across contexts: the adjudicator's recommendations copied from
//! the escalation context's events and the learning reviews' own, each with its decision, public
//! reason and implementation; the same after a rebuild from the event store.

use proto::escalation::v1 as escalation;
use proto::learning_reviews::v1;
use uuid::Uuid;

use crate::helpers::*;

const CASE_REF: &str = "ESC-2025-7K3QMX2D";

/// An escalation's R1 accepted and implemented, R2 declined with a public reason; a learning
/// review's L1 accepted and implemented, L2 not accepted.
async fn both_sources(h: &mut Harness) -> (Uuid, String) {
    let escalation_id = h.escalation_with_findings(CASE_REF).await;
    h.publish_escalation(
        escalation_id,
        &escalation::RecommendationAccepted {
            escalation_id: escalation_id.to_string(),
            recommendation_id: "R1".into(),
            planned_action_ref: "doc:plan-R1".into(),
            accepted_at: ts(london("2025-11-03T09:00")),
            kind: escalation::RecommendationKind::Apology as i32,
            ..Default::default()
        },
    )
    .await;
    h.publish_escalation(
        escalation_id,
        &escalation::RecommendationDeclined {
            escalation_id: escalation_id.to_string(),
            recommendation_id: "R2".into(),
            public_reason_ref: "pub:reason-R2".into(),
            declined_by_ref: "staff:director-3".into(),
            declined_at: ts(london("2025-11-03T10:00")),
        },
    )
    .await;
    h.publish_escalation(
        escalation_id,
        &escalation::RecommendationImplemented {
            escalation_id: escalation_id.to_string(),
            recommendation_id: "R1".into(),
            evidence_ref: "doc:evidence-R1".into(),
            recorded_by_ref: "staff:director-3".into(),
            implemented_at: ts(london("2025-12-01T09:00")),
        },
    )
    .await;
    let review_id = h
        .responded(
            &[],
            &[
                ("L1", v1::RecommendationResponse::Accepted),
                ("L2", v1::RecommendationResponse::NotAccepted),
            ],
        )
        .await;
    h.implemented(&review_id, "L1").await.unwrap();
    h.app.settle().await;
    (escalation_id, review_id)
}

fn summary(entries: &[v1::RegisterEntry]) -> Vec<(i32, String, String, String, i32, String, bool)> {
    let mut rows: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.source,
                e.case_ref.clone(),
                e.recommendation_id.clone(),
                e.kind.clone(),
                e.decision,
                e.public_reason_ref.clone(),
                e.implemented,
            )
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn the_register_shows_the_adjudicators_and_the_learning_reviews_recommendations() {
    // Arrange
    let mut h = Harness::start().await;
    let (escalation_id, review_id) = both_sources(&mut h).await;

    // Act
    let register = h.register(v1::ListRegisterRequest::default()).await;

    // Assert
    const ADJ: i32 = v1::RecommendationSource::Adjudication as i32;
    const LR: i32 = v1::RecommendationSource::LearningReview as i32;
    assert_eq!(
        summary(&register.entries),
        [
            (
                ADJ,
                CASE_REF.to_owned(),
                "R1".to_owned(),
                "RECOMMENDATION_KIND_APOLOGY".to_owned(),
                v1::RegisterDecision::Accepted as i32,
                String::new(),
                true
            ),
            (
                ADJ,
                CASE_REF.to_owned(),
                "R2".to_owned(),
                "RECOMMENDATION_KIND_PROCESS_IMPROVEMENT".to_owned(),
                v1::RegisterDecision::Declined as i32,
                "pub:reason-R2".to_owned(),
                false
            ),
            (
                LR,
                review_id.clone(),
                "L1".to_owned(),
                String::new(),
                v1::RegisterDecision::Accepted as i32,
                String::new(),
                true
            ),
            (
                LR,
                review_id.clone(),
                "L2".to_owned(),
                String::new(),
                v1::RegisterDecision::Declined as i32,
                "doc:reasons".to_owned(),
                false
            ),
        ]
    );
    let adjudication = register
        .entries
        .iter()
        .find(|e| e.recommendation_id == "R1")
        .unwrap();
    assert_eq!(adjudication.case_id, escalation_id.to_string());
    assert!(adjudication.decided_at.is_some() && adjudication.implemented_at.is_some());

    // Filters and pages.
    let learning = h
        .register(v1::ListRegisterRequest {
            source: LR,
            ..Default::default()
        })
        .await;
    assert!(learning.entries.iter().all(|e| e.source == LR));
    assert_eq!(learning.entries.len(), 2);
    let declined = h
        .register(v1::ListRegisterRequest {
            decision: v1::RegisterDecision::Declined as i32,
            ..Default::default()
        })
        .await;
    assert_eq!(declined.entries.len(), 2);
    let first = h
        .register(v1::ListRegisterRequest {
            page_size: 3,
            ..Default::default()
        })
        .await;
    assert_eq!(first.entries.len(), 3);
    let rest = h
        .register(v1::ListRegisterRequest {
            page_size: 3,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await;
    assert_eq!(rest.entries.len(), 1);
    assert!(rest.next_page_token.is_empty());
}

#[tokio::test]
async fn the_register_is_the_same_after_a_rebuild_from_the_event_store() {
    let mut h = Harness::start().await;
    both_sources(&mut h).await;
    let before = h.register(v1::ListRegisterRequest::default()).await;
    assert_eq!(before.entries.len(), 4);
    h.app.read_models.rebuild().await.unwrap();
    let after = h.register(v1::ListRegisterRequest::default()).await;
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_learning_reviews_recommendations_join_the_register_as_soon_as_the_report_is_submitted() {
    let mut h = Harness::start().await;
    let review_id = h.gathering(&[]).await;
    let token = h.reviewer();
    h.submit(&token, &review_id, &["L1"]).await.unwrap();
    let register = h.register(v1::ListRegisterRequest::default()).await;
    assert_eq!(register.entries.len(), 1);
    assert_eq!(register.entries[0].case_ref, review_id);
    assert_eq!(
        register.entries[0].decision,
        v1::RegisterDecision::Pending as i32
    );
}
