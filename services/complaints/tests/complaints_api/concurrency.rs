//! A submission whose unit of work keeps losing the race for its inspection's stream: `ABORTED`
//! `CONCURRENT_UPDATE` once its retries are spent, with no complaint, no hold and no intake
//! record.

use complaints::domain::{Role, v1};
use jiff::civil::date;
use proto::complaints::v1::inspections_client::InspectionsClient;
use tonic::Code;

use crate::helpers::*;
use crate::race::{Gate, lose_every_race};

/// `formal_complaints::grpc::commands`' attempts at a unit of work.
const UNIT_OF_WORK_ATTEMPTS: u32 = 5;

#[tokio::test]
async fn a_submission_that_loses_every_race_for_its_inspection_is_aborted_and_writes_nothing() {
    // Arrange: the provider submits while the partner keeps recording facts on the inspection,
    // each committing first.
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
    api.now(london(date(2025, 7, 3), 10, 0));
    let pool = api.app.db_pool().clone();
    let before = api.events().await;
    let mut gate = Gate::install(&pool, inspection_id, "test:provider_representative", 10).await;
    let mut partner = InspectionsClient::new(api.app.channel().await);
    let partner_token = api
        .app
        .token_for("partner:rival", Role::InspectionSystem, None);
    let mut client = api.client.clone();
    let request = authed(submit_request(inspection_id, "K1"), &api.provider());

    // Act
    let command = tokio::spawn(async move { client.submit_formal_complaint(request).await });
    let (answer, lost) = lose_every_race(&mut gate, command, async |round| {
        partner
            .record_publication_delay_explanation(authed(
                v1::RecordPublicationDelayExplanationRequest {
                    request_id: format!("explain-{round}"),
                    inspection_id: inspection_id.to_string(),
                    reason: v1::PublicationDelayReason::QualityAssurance as i32,
                    text_ref: format!("doc:delay-{round}"),
                    occurred_at: Some(complaints::domain::timestamp(london(
                        date(2025, 7, 3),
                        9,
                        0,
                    ))),
                },
                &partner_token,
            ))
            .await
            .expect("the partner's fact is recorded");
    })
    .await;
    gate.remove().await;

    // Assert: aborted; the partner's facts are the only new events.
    let status = answer.expect_err("every attempt lost");
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert_eq!(reason(&status), "CONCURRENT_UPDATE");
    assert_eq!(lost, UNIT_OF_WORK_ATTEMPTS);
    let after = api.events().await;
    assert_eq!(after[..before.len()], before[..]);
    let new: Vec<&str> = after[before.len()..]
        .iter()
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(
        new,
        ["redress.complaints.v1.PublicationDelayExplained"; UNIT_OF_WORK_ATTEMPTS as usize]
    );
    let keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM commands WHERE scope = $1 AND idempotency_key = $2",
    )
    .bind("test:provider_representative")
    .bind("K1")
    .fetch_one(&pool)
    .await
    .expect("commands");
    assert_eq!(keys, 0, "the request id is not taken");

    // Act: with no rival, the same request is a first submission.
    let submitted = api
        .submit(inspection_id, "K1", london(date(2025, 7, 3), 10, 5))
        .await
        .expect("accepted");

    // Assert
    let receipt = submitted.receipt.expect("a receipt");
    assert!(!receipt.replayed);
    let complaint_id = submitted.complaint_id.parse().expect("a UUID");
    assert_eq!(api.stream(complaint_id).await, [SUBMITTED]);
}
