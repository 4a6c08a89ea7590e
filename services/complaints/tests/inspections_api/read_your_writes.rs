//! Read-your-writes: a query at a receipt's position sees that command's effect.

use proto::common::v1::ReadConsistency;
use proto::complaints::v1;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::Code;

use crate::helpers::{Api, ts};

fn at(
    receipt: Option<proto::common::v1::CommandReceipt>,
    max_wait_ms: u32,
) -> Option<ReadConsistency> {
    Some(ReadConsistency {
        at_least: receipt.and_then(|r| r.position),
        max_wait_ms,
    })
}

#[tokio::test]
async fn a_query_at_the_receipts_position_sees_the_command_once_the_read_models_run() {
    // Arrange: the read models run in the background, as in production.
    let mut api = Api::spawn().await;
    let mut tasks = JoinSet::new();
    let stop = CancellationToken::new();
    api.app.inspections.spawn(&mut tasks, &stop);
    api.set_now("2025-03-11T08:00:00Z");
    let id = api.notified("2025-03-11").await;

    // Act
    let receipt = api
        .client
        .record_on_site_started(api.system(v1::RecordOnSiteStartedRequest {
            request_id: "start-1".into(),
            inspection_id: id.to_string(),
            occurred_at: ts("2025-03-11T08:00:00Z"),
        }))
        .await
        .expect("started")
        .into_inner()
        .receipt;
    let case = api
        .client
        .get_inspection_case(api.system(v1::GetInspectionCaseRequest {
            inspection_id: id.to_string(),
            consistency: at(receipt, 2_000),
        }))
        .await
        .expect("caught up")
        .into_inner();
    stop.cancel();
    while let Some(joined) = tasks.join_next().await {
        joined.expect("a task ran").expect("a task stopped cleanly");
    }

    // Assert
    assert_eq!(case.stage, v1::InspectionCaseStage::OnSite as i32);
    assert_eq!(case.provider_id, crate::helpers::PROVIDER);
    assert_eq!(case.version, 2);
}

#[tokio::test]
async fn a_query_at_a_position_the_read_models_have_not_reached_is_unavailable() {
    // Arrange: nothing applies events.
    let mut api = Api::spawn().await;
    api.set_now("2025-03-11T08:00:00Z");
    let id = api.notified("2025-03-11").await;
    let receipt = api
        .client
        .record_on_site_started(api.system(v1::RecordOnSiteStartedRequest {
            request_id: "start-1".into(),
            inspection_id: id.to_string(),
            occurred_at: ts("2025-03-11T08:00:00Z"),
        }))
        .await
        .expect("started")
        .into_inner()
        .receipt;

    // Act
    let behind = api
        .client
        .get_inspection_case(api.system(v1::GetInspectionCaseRequest {
            inspection_id: id.to_string(),
            consistency: at(receipt.clone(), 50),
        }))
        .await
        .expect_err("not caught up");
    api.app.settle().await;
    let settled = api
        .client
        .get_inspection_case(api.system(v1::GetInspectionCaseRequest {
            inspection_id: id.to_string(),
            consistency: at(receipt, 50),
        }))
        .await
        .expect("caught up")
        .into_inner();

    // Assert
    assert_eq!(behind.code(), Code::Unavailable);
    assert_eq!(settled.stage, v1::InspectionCaseStage::OnSite as i32);
}
