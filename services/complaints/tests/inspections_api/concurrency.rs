//! A command that keeps losing its optimistic-concurrency race: `ABORTED` `CONCURRENT_UPDATE`
//! once the store's bounded retries are spent, and nothing of its own written.

use platform::grpc::Role;
use platform::pg::Pool;
use proto::complaints::v1;
use tonic::Code;

use crate::helpers::{Api, reason, ts};
use crate::race::{Gate, lose_every_race};

/// `platform::event_store`'s attempts for a command with no explicit expected version.
const STORE_ATTEMPTS: u32 = 5;

/// The events the partner's own session has written.
async fn own_events(pool: &Pool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE actor = 'test:inspection_system'")
        .fetch_one(pool)
        .await
        .expect("Failed to count events.")
}

#[tokio::test]
async fn a_command_that_loses_every_race_is_aborted_and_writes_nothing() {
    // Arrange: the partner lodges an appeal while another partner session keeps lodging others
    // on the same case, each committing first.
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-07-01T10:00:00Z");
    let pool = api.app.db_pool().clone();
    let before = api.event_count().await;
    let own_before = own_events(&pool).await;
    let mut gate = Gate::install(&pool, id, "test:inspection_system", 10).await;
    let rival_token = api
        .app
        .token_for("partner:rival", Role::InspectionSystem, None);
    let mut rival = api.client.clone();
    let mut client = api.client.clone();
    let request = api.system(crate::appeals::lodge(id, "lodge-1", "2025-07-01T09:00:00Z"));

    // Act
    let command = tokio::spawn(async move { client.record_tribunal_appeal_lodged(request).await });
    let (answer, lost) = lose_every_race(&mut gate, command, async |round| {
        rival
            .record_tribunal_appeal_lodged(api.with_token(
                &rival_token,
                v1::RecordTribunalAppealLodgedRequest {
                    request_id: format!("rival-{round}"),
                    inspection_id: id.to_string(),
                    appeal_ref: format!("tribunal:rival-{round}"),
                    occurred_at: ts("2025-07-01T09:30:00Z"),
                },
            ))
            .await
            .expect("the rival's appeal is recorded");
    })
    .await;
    gate.remove().await;

    // Assert: aborted after every attempt lost; only the rival's events were written.
    let status = answer.expect_err("every attempt lost");
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert_eq!(reason(&status), "CONCURRENT_UPDATE");
    assert_eq!(lost, STORE_ATTEMPTS);
    assert_eq!(own_events(&pool).await, own_before);
    assert_eq!(api.event_count().await, before + i64::from(lost));
    let keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM commands WHERE scope = $1 AND idempotency_key = $2",
    )
    .bind("test:inspection_system")
    .bind("lodge-1")
    .fetch_one(&pool)
    .await
    .expect("commands");
    assert_eq!(keys, 0, "the request id is not taken");

    // Act: with no rival, the same request goes through as a first attempt.
    let retried = api
        .client
        .record_tribunal_appeal_lodged(api.system(crate::appeals::lodge(
            id,
            "lodge-1",
            "2025-07-01T09:00:00Z",
        )))
        .await
        .expect("recorded")
        .into_inner()
        .receipt
        .expect("a receipt");

    // Assert
    assert!(!retried.replayed);
    assert_eq!(retried.event_ids.len(), 1);
}
