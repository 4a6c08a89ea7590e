//! Retried and reused request ids (AIP-155).

use platform::grpc::Role;
use proto::complaints::v1;
use tonic::Code;

use crate::helpers::{Api, notification, reason};

fn pause(id: uuid::Uuid, consultation: &str) -> v1::PauseInspectionRequest {
    v1::PauseInspectionRequest {
        consultation_ref: consultation.into(),
        ..crate::pauses::pause_request(id)
    }
}

async fn on_site(api: &mut Api) -> uuid::Uuid {
    api.set_now("2025-03-11T08:00:00Z");
    let id = api.notified("2025-03-11").await;
    api.on_site_started(id, "2025-03-11T08:00:00Z").await;
    api.set_now("2025-03-11T10:00:00Z");
    id
}

#[tokio::test]
async fn the_same_request_id_twice_returns_the_same_receipt_and_writes_once() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = on_site(&mut api).await;

    // Act
    let first = api
        .client
        .pause_inspection(api.as_role(Role::LeadInspector, pause(id, "DD-1")))
        .await
        .expect("paused")
        .into_inner();
    let after_first = api.event_count().await;
    let second = api
        .client
        .pause_inspection(api.as_role(Role::LeadInspector, pause(id, "DD-1")))
        .await
        .expect("the recorded answer")
        .into_inner();

    // Assert
    let (first, second) = (
        first.receipt.expect("a receipt"),
        second.receipt.expect("a receipt"),
    );
    assert_eq!(first.event_ids, second.event_ids);
    assert_eq!(first.position, second.position);
    assert_eq!(first.version, second.version);
    assert!(!first.replayed);
    assert!(second.replayed);
    assert_eq!(api.event_count().await, after_first);
}

#[tokio::test]
async fn the_same_request_id_with_a_different_request_is_refused_and_writes_nothing() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = on_site(&mut api).await;
    api.client
        .pause_inspection(api.as_role(Role::LeadInspector, pause(id, "DD-1")))
        .await
        .expect("paused");
    let before = api.event_count().await;

    // Act
    let reused = api
        .client
        .pause_inspection(api.as_role(Role::LeadInspector, pause(id, "DD-2")))
        .await
        .expect_err("a different request");

    // Assert
    assert_eq!(reused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&reused), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn a_retried_concern_answers_with_the_same_concern_id() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-06-12T09:30:00+01:00");
    let raise = || {
        api.raise(
            Role::ProviderRepresentative,
            id,
            v1::ConcernChannel::DayAfterContact,
            "raise-1",
        )
    };
    let first = api
        .client
        .clone()
        .raise_concern(raise())
        .await
        .expect("raised")
        .into_inner();
    let before = api.event_count().await;

    // Act
    let second = api
        .client
        .clone()
        .raise_concern(raise())
        .await
        .expect("the recorded answer")
        .into_inner();

    // Assert
    assert_eq!(first.concern_id, second.concern_id);
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn a_retried_notification_returns_the_same_receipt() {
    // Arrange
    let api = Api::spawn().await;
    api.set_now("2025-03-11T08:00:00Z");
    let id = uuid::Uuid::now_v7();
    let request = || {
        notification(
            "notify-1",
            &id.to_string(),
            "2025-03-11",
            "2025-03-04T09:00:00Z",
        )
    };
    let first = api
        .client
        .clone()
        .record_inspection_notified(api.system(request()))
        .await
        .expect("notified")
        .into_inner();
    let before = api.event_count().await;

    // Act
    let second = api
        .client
        .clone()
        .record_inspection_notified(api.system(request()))
        .await
        .expect("replayed")
        .into_inner();

    // Assert
    assert_eq!(
        first.receipt.expect("receipt").event_ids,
        second.receipt.expect("receipt").event_ids
    );
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn a_notification_reusing_a_request_id_for_another_inspection_is_refused() {
    // Arrange
    let api = Api::spawn().await;
    api.set_now("2025-03-11T08:00:00Z");
    let request = |id: uuid::Uuid| {
        notification(
            "notify-1",
            &id.to_string(),
            "2025-03-11",
            "2025-03-04T09:00:00Z",
        )
    };
    let first = uuid::Uuid::now_v7();
    api.client
        .clone()
        .record_inspection_notified(api.system(request(first)))
        .await
        .expect("notified");
    let before = api.event_count().await;

    // Act
    let reused = api
        .client
        .clone()
        .record_inspection_notified(api.system(request(uuid::Uuid::now_v7())))
        .await
        .expect_err("another inspection under the same request id");

    // Assert
    assert_eq!(reused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&reused), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn a_retried_wellbeing_contact_stores_the_details_once() {
    // Arrange
    let mut api = Api::spawn().await;
    api.set_now("2025-03-04T09:00:00Z");
    let id = api.notified("2025-03-11").await;
    let contact = || v1::RecordWellbeingContactRequest {
        request_id: "contact-1".into(),
        inspection_id: id.to_string(),
        kind: v1::WellbeingContactKind::AlternativeEmergencyContact as i32,
        name: "Sam Example".into(),
        phone: "+44 20 7946 0000".into(),
        email: String::new(),
    };
    api.client
        .clone()
        .record_wellbeing_contact(api.system(contact()))
        .await
        .expect("recorded");
    let before = api.event_count().await;

    // Act
    let retry = api
        .client
        .clone()
        .record_wellbeing_contact(api.system(contact()))
        .await
        .expect("the recorded answer")
        .into_inner();

    // Assert
    assert!(retry.receipt.expect("a receipt").replayed);
    assert_eq!(api.event_count().await, before);
    let records: i64 = sqlx::query_scalar("SELECT count(*) FROM vault_records")
        .fetch_one(api.app.db_pool())
        .await
        .expect("the vault is readable");
    assert_eq!(records, 1);
}
