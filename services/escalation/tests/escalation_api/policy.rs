//! The complaints policy: complaint facts copied into escalation's own events, once each, and
//! what cannot be copied parked without stopping the rest.

use escalation::domain::Ground;
use proto::complaints::v1 as complaints;
use uuid::Uuid;

use crate::helpers::*;

async fn record_events(h: &Harness, complaint_id: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT event_type FROM events WHERE stream_id = $1 AND stream_type = 'complaint_record'
         ORDER BY version",
    )
    .bind(complaint_id)
    .fetch_all(h.app.db_pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn complaint_facts_are_recorded_in_escalations_own_events() {
    let h = Harness::start().await;
    let complaint_id = h.answered_complaint().await;
    assert_eq!(
        record_events(&h, complaint_id).await,
        [
            "redress.escalation.v1.ComplaintSubmissionRecorded",
            "redress.escalation.v1.ComplaintResponseRecorded"
        ]
    );
    let inbox: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM inbox WHERE consumer = 'escalation-complaints-policy'",
    )
    .fetch_one(h.app.db_pool())
    .await
    .unwrap();
    assert_eq!(inbox, 2, "each handled event is in the inbox");
}

#[tokio::test]
async fn a_fact_delivered_again_under_another_message_id_changes_nothing() {
    let h = Harness::start().await;
    let complaint_id = h.answered_complaint().await;
    h.answered(complaint_id).await;
    h.submitted(complaint_id).await;
    h.app.settle().await;
    assert_eq!(record_events(&h, complaint_id).await.len(), 2);
}

#[tokio::test]
async fn an_undecodable_event_is_parked_and_the_policy_moves_on() {
    let mut h = Harness::start().await;
    let complaint_id = Uuid::now_v7();
    h.app
        .publish_raw_complaint_event(
            Uuid::now_v7(),
            complaint_id,
            "redress.complaints.v1.ComplaintSubmitted",
            vec![0xff, 0xff, 0xff],
        )
        .await;
    h.submitted(complaint_id).await;
    h.answered(complaint_id).await;
    h.app.settle().await;
    let parked: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM parked_events WHERE consumer = 'escalation-complaints-policy'",
    )
    .fetch_all(h.app.db_pool())
    .await
    .unwrap();
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert!(parked[0].contains("undecodable"), "{parked:?}");
    h.request(complaint_id, &[Ground::Discourtesy], &[])
        .await
        .expect("the later facts were recorded");
}

#[tokio::test]
async fn a_fact_about_a_complaint_never_recorded_is_parked() {
    let h = Harness::start().await;
    let unknown = Uuid::now_v7();
    h.answered(unknown).await;
    h.app.settle().await;
    let parked: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM parked_events WHERE consumer = 'escalation-complaints-policy'",
    )
    .fetch_all(h.app.db_pool())
    .await
    .unwrap();
    assert_eq!(parked.len(), 1);
    assert!(
        parked[0].contains("no submission has been recorded"),
        "{parked:?}"
    );
    assert!(record_events(&h, unknown).await.is_empty());
}

#[tokio::test]
async fn an_overdue_response_is_recorded_and_a_later_response_supersedes_it() {
    let mut h = Harness::start().await;
    let complaint_id = Uuid::now_v7();
    h.submitted(complaint_id).await;
    h.app
        .publish_complaint_event(
            complaint_id,
            &complaints::ComplaintResponseOverdue {
                complaint_id: complaint_id.to_string(),
                response_due_at: ts(end_of("2025-08-14")),
                detected_at: ts(london("2025-08-15T00:00")),
                escalation_allowed: false,
                policy_version: "era-c-2024-04".into(),
                calendar_version: "england-and-wales-2020-2030".into(),
            },
        )
        .await;
    h.app.settle().await;
    // The default policy does not let an overdue response open escalation.
    assert_rule(
        h.request(complaint_id, &[Ground::Discourtesy], &[]).await,
        "NOT_EXHAUSTED",
    );
    h.answered(complaint_id).await;
    h.app.settle().await;
    assert_eq!(
        record_events(&h, complaint_id).await,
        [
            "redress.escalation.v1.ComplaintSubmissionRecorded",
            "redress.escalation.v1.ComplaintResponseOverdueRecorded",
            "redress.escalation.v1.ComplaintResponseRecorded"
        ]
    );
    h.request(complaint_id, &[Ground::Discourtesy], &[])
        .await
        .expect("exhausted now");
}

#[tokio::test]
async fn information_added_to_the_complaint_joins_the_case_file() {
    let mut h = Harness::start().await;
    let complaint_id = Uuid::now_v7();
    h.submitted(complaint_id).await;
    h.app
        .publish_complaint_event(
            complaint_id,
            &complaints::ComplaintInformationAdded {
                complaint_id: complaint_id.to_string(),
                doc_ref: "doc:more-evidence".into(),
                added_by_ref: "vault:contact".into(),
                added_at: ts(london("2025-07-10T10:00")),
            },
        )
        .await;
    h.answered(complaint_id).await;
    h.app.settle().await;
    let answer = h
        .request(complaint_id, &[Ground::Discourtesy], &[])
        .await
        .unwrap();
    h.accept(&answer.escalation_id).await.unwrap();
    let body = h.body();
    let file = h.case_file(&body, &answer.escalation_id).await.unwrap();
    let refs: Vec<&str> = file.documents.iter().map(|d| d.doc_ref.as_str()).collect();
    assert_eq!(
        refs,
        [
            "doc:complaint-letter",
            "doc:evidence-1",
            "doc:more-evidence",
            "doc:response-letter"
        ]
    );
}
