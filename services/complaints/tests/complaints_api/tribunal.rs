//! Submissions while a tribunal appeal about the inspection is pending: the partner system lodges
//! and concludes the appeal through the `Inspections` RPCs on the same server, and the
//! `Complaints` service refuses, logs, and later accepts.

use complaints::domain::{Role, v1};
use complaints::formal_complaints::intake_stream_id;
use jiff::Timestamp;
use jiff::civil::date;
use proto::complaints::v1::inspections_client::InspectionsClient;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::helpers::*;

const APPEAL: &str = "tribunal:EA-2025-0142";

/// The partner system's client on the same server.
async fn partner(api: &Api) -> (InspectionsClient<Channel>, String) {
    let client = InspectionsClient::new(api.app.channel().await);
    (client, api.token(Role::InspectionSystem))
}

async fn lodge(api: &Api, inspection_id: Uuid, at: Timestamp) {
    api.now(at);
    let (mut client, token) = partner(api).await;
    client
        .record_tribunal_appeal_lodged(authed(
            v1::RecordTribunalAppealLodgedRequest {
                request_id: format!("lodge-{inspection_id}"),
                inspection_id: inspection_id.to_string(),
                appeal_ref: APPEAL.into(),
                occurred_at: Some(complaints::domain::timestamp(at)),
            },
            &token,
        ))
        .await
        .expect("the appeal is recorded");
}

async fn conclude(api: &Api, inspection_id: Uuid, at: Timestamp) {
    api.now(at);
    let (mut client, token) = partner(api).await;
    client
        .record_tribunal_appeal_concluded(authed(
            v1::RecordTribunalAppealConcludedRequest {
                request_id: format!("conclude-{inspection_id}"),
                inspection_id: inspection_id.to_string(),
                appeal_ref: APPEAL.into(),
                outcome: v1::TribunalAppealOutcome::Withdrawn as i32,
                occurred_at: Some(complaints::domain::timestamp(at)),
            },
            &token,
        ))
        .await
        .expect("the conclusion is recorded");
}

/// The intake log's records for the inspection, decoded.
async fn intake_records(api: &Api, inspection_id: Uuid) -> Vec<v1::ComplaintSubmissionRejected> {
    let payloads: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE stream_id = $1 AND event_type = $2 ORDER BY version",
    )
    .bind(intake_stream_id(inspection_id))
    .bind(REJECTED)
    .fetch_all(api.app.db_pool())
    .await
    .expect("the intake log is readable");
    payloads
        .iter()
        .map(|p| <v1::ComplaintSubmissionRejected as prost::Message>::decode(p.as_slice()))
        .collect::<Result<_, _>>()
        .expect("intake records decode")
}

#[tokio::test]
async fn a_submission_while_a_tribunal_appeal_is_pending_is_refused_and_logged_and_accepted_once_it_concluded()
 {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
    lodge(&api, inspection_id, london(date(2025, 7, 1), 9, 0)).await;
    let before = api.event_count().await;

    // Act
    let refused = api
        .submit(inspection_id, "K1", london(date(2025, 7, 2), 10, 0))
        .await;

    // Assert: refused, recorded in the intake log only; no complaint, no hold.
    assert_rule(refused, "TRIBUNAL_APPEAL_PENDING");
    assert_eq!(api.event_count().await, before + 1);
    let records = intake_records(&api, inspection_id).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].reason(),
        v1::RejectionReason::TribunalAppealPending
    );
    assert_eq!(records[0].inspection_id, inspection_id.to_string());
    let events = api.events().await;
    assert!(
        !events
            .iter()
            .any(|(_, t)| t == SUBMITTED || t == HOLD_PLACED)
    );

    // Act: the appeal is withdrawn; the provider submits again, still inside the window.
    conclude(&api, inspection_id, london(date(2025, 7, 3), 9, 0)).await;
    let accepted = api
        .submit(inspection_id, "K2", london(date(2025, 7, 3), 10, 0))
        .await
        .expect("accepted once the appeal concluded");

    // Assert
    let complaint_id: Uuid = accepted.complaint_id.parse().expect("a UUID");
    assert_eq!(api.stream(complaint_id).await, [SUBMITTED]);
    assert!(
        api.stream(inspection_id)
            .await
            .iter()
            .any(|t| t == HOLD_PLACED)
    );
    assert_eq!(intake_records(&api, inspection_id).await.len(), 1);
}

#[tokio::test]
async fn an_out_of_time_acceptance_is_refused_while_a_tribunal_appeal_is_pending() {
    // Arrange: the provider's late submission is refused for the appeal first.
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
    lodge(&api, inspection_id, london(date(2025, 7, 7), 9, 0)).await;
    assert_rule(
        api.submit(inspection_id, "K1", london(date(2025, 7, 8), 0, 5))
            .await,
        "TRIBUNAL_APPEAL_PENDING",
    );
    api.now(london(date(2025, 7, 9), 11, 0));
    let mut late = submission(inspection_id);
    late.provider_id = PROVIDER.into();
    let token = api.decision_maker();
    let before = api.event_count().await;

    // Act
    let result = api
        .client
        .accept_out_of_time_complaint(authed(
            v1::AcceptOutOfTimeComplaintRequest {
                request_id: "late-1".into(),
                submission: Some(late.clone()),
                justification_ref: "doc:justification-1".into(),
            },
            &token,
        ))
        .await;

    // Assert: discretion is about time, not about the appeal; the decision writes nothing.
    assert_rule(result, "TRIBUNAL_APPEAL_PENDING");
    assert_eq!(api.event_count().await, before);

    // Act: once the appeal concluded, the same discretion lets the complaint in.
    conclude(&api, inspection_id, london(date(2025, 9, 1), 9, 0)).await;
    api.now(london(date(2025, 9, 1), 11, 0));
    let accepted = api
        .client
        .accept_out_of_time_complaint(authed(
            v1::AcceptOutOfTimeComplaintRequest {
                request_id: "late-2".into(),
                submission: Some(late),
                justification_ref: "doc:justification-1".into(),
            },
            &token,
        ))
        .await
        .expect("accepted")
        .into_inner();

    // Assert
    let complaint_id: Uuid = accepted.complaint_id.parse().expect("a UUID");
    assert_eq!(
        api.stream(complaint_id).await,
        [SUBMITTED, OUT_OF_TIME_ACCEPTED]
    );
}
