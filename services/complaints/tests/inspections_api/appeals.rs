//! Tribunal appeals as the partner system reports them: lodged, shown on the case, concluded,
//! repeated, refused, retried.

use proto::common::v1::ReadConsistency;
use proto::complaints::v1;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{Api, reason, ts};

pub(crate) const APPEAL: &str = "tribunal:EA-2025-0142";

pub(crate) fn lodge(id: Uuid, request_id: &str, at: &str) -> v1::RecordTribunalAppealLodgedRequest {
    v1::RecordTribunalAppealLodgedRequest {
        request_id: request_id.into(),
        inspection_id: id.to_string(),
        appeal_ref: APPEAL.into(),
        occurred_at: ts(at),
    }
}

pub(crate) fn conclude(
    id: Uuid,
    request_id: &str,
    at: &str,
) -> v1::RecordTribunalAppealConcludedRequest {
    v1::RecordTribunalAppealConcludedRequest {
        request_id: request_id.into(),
        inspection_id: id.to_string(),
        appeal_ref: APPEAL.into(),
        outcome: v1::TribunalAppealOutcome::Dismissed as i32,
        occurred_at: ts(at),
    }
}

/// The case as a reader sees it once the read models applied `receipt`.
async fn case_at(
    api: &mut Api,
    id: Uuid,
    receipt: Option<proto::common::v1::CommandReceipt>,
) -> v1::InspectionCaseView {
    api.app.settle().await;
    api.client
        .get_inspection_case(api.system(v1::GetInspectionCaseRequest {
            inspection_id: id.to_string(),
            consistency: Some(ReadConsistency {
                at_least: receipt.and_then(|r| r.position),
                max_wait_ms: 2_000,
            }),
        }))
        .await
        .expect("the case")
        .into_inner()
}

#[tokio::test]
async fn a_lodged_appeal_shows_as_pending_on_the_case_until_it_concludes() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-07-01T10:00:00Z");

    // Act
    let lodged = api
        .client
        .record_tribunal_appeal_lodged(api.system(lodge(id, "lodge-1", "2025-07-01T09:00:00Z")))
        .await
        .expect("lodged")
        .into_inner();
    let while_pending = case_at(&mut api, id, lodged.receipt.clone()).await;
    api.set_now("2025-09-01T10:00:00Z");
    let concluded = api
        .client
        .record_tribunal_appeal_concluded(api.system(conclude(
            id,
            "conclude-1",
            "2025-09-01T09:00:00Z",
        )))
        .await
        .expect("concluded")
        .into_inner();
    let after = case_at(&mut api, id, concluded.receipt.clone()).await;

    // Assert
    assert_eq!(lodged.receipt.expect("a receipt").event_ids.len(), 1);
    assert!(while_pending.tribunal_appeal_pending);
    assert_eq!(
        while_pending.stage,
        v1::InspectionCaseStage::OnSiteEnded as i32,
        "an appeal does not move the case"
    );
    assert!(!after.tribunal_appeal_pending);
    let appeals: Vec<String> = api
        .event_types()
        .await
        .into_iter()
        .filter(|t| t.starts_with("TribunalAppeal"))
        .collect();
    assert_eq!(appeals, ["TribunalAppealLodged", "TribunalAppealConcluded"]);
}

#[tokio::test]
async fn the_same_appeal_lodged_again_under_another_request_id_records_nothing() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-07-01T10:00:00Z");
    api.client
        .record_tribunal_appeal_lodged(api.system(lodge(id, "lodge-1", "2025-07-01T09:00:00Z")))
        .await
        .expect("lodged");
    let before = api.event_count().await;

    // Act
    let again = api
        .client
        .record_tribunal_appeal_lodged(api.system(lodge(id, "lodge-2", "2025-07-01T09:30:00Z")))
        .await
        .expect("accepted, with nothing to record")
        .into_inner();

    // Assert
    let receipt = again.receipt.expect("a receipt");
    assert!(receipt.event_ids.is_empty());
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn concluding_an_appeal_never_lodged_or_already_concluded_is_refused_with_its_reason() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-09-01T10:00:00Z");
    let never_lodged = api
        .client
        .record_tribunal_appeal_concluded(api.system(conclude(
            id,
            "conclude-1",
            "2025-09-01T09:00:00Z",
        )))
        .await
        .expect_err("nothing to conclude");
    api.client
        .record_tribunal_appeal_lodged(api.system(lodge(id, "lodge-1", "2025-07-01T09:00:00Z")))
        .await
        .expect("lodged");
    api.client
        .record_tribunal_appeal_concluded(api.system(conclude(
            id,
            "conclude-2",
            "2025-09-01T09:00:00Z",
        )))
        .await
        .expect("concluded");
    let before = api.event_count().await;

    // Act
    let twice = api
        .client
        .record_tribunal_appeal_concluded(api.system(conclude(
            id,
            "conclude-3",
            "2025-09-01T09:30:00Z",
        )))
        .await
        .expect_err("already concluded");
    let unknown_case = api
        .client
        .record_tribunal_appeal_lodged(api.system(lodge(
            Uuid::now_v7(),
            "lodge-2",
            "2025-07-01T09:00:00Z",
        )))
        .await
        .expect_err("no such inspection");

    // Assert
    for (status, expected) in [
        (&never_lodged, "TRIBUNAL_APPEAL_NOT_LODGED"),
        (&twice, "TRIBUNAL_APPEAL_ALREADY_CONCLUDED"),
        (&unknown_case, "NOT_NOTIFIED"),
    ] {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert_eq!(reason(status), expected);
    }
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn a_retried_lodging_returns_the_recorded_receipt_and_writes_once() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-07-01T10:00:00Z");
    let first = api
        .client
        .record_tribunal_appeal_lodged(api.system(lodge(id, "lodge-1", "2025-07-01T09:00:00Z")))
        .await
        .expect("lodged")
        .into_inner()
        .receipt
        .expect("a receipt");
    let after_first = api.event_count().await;

    // Act
    let retried = api
        .client
        .record_tribunal_appeal_lodged(api.system(lodge(id, "lodge-1", "2025-07-01T09:00:00Z")))
        .await
        .expect("the recorded answer")
        .into_inner()
        .receipt
        .expect("a receipt");
    let reused = api
        .client
        .record_tribunal_appeal_lodged(api.system(v1::RecordTribunalAppealLodgedRequest {
            appeal_ref: "tribunal:EA-2025-0199".into(),
            ..lodge(id, "lodge-1", "2025-07-01T09:00:00Z")
        }))
        .await
        .expect_err("the id was used for another appeal");

    // Assert
    assert!(!first.replayed);
    assert!(retried.replayed);
    assert_eq!(first.event_ids, retried.event_ids);
    assert_eq!(first.position, retried.position);
    assert_eq!(reused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&reused), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(api.event_count().await, after_first);
}
