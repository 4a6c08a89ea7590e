//! The learning-reviews link: `IncidentReported` published on the (prefixed) `LEARNING_REVIEWS`
//! stream with the relay's headers, applied by the learning-reviews policy's durable consumer,
//! which flags the open complaints about the incident's inspections as sensitive and changes
//! nothing else (domain research §5.5, scenario S13).

use complaints::domain::{Role, inspection, v1};
use complaints::formal_complaints::LearningReviewsPolicyConsumer;
use complaints::formal_complaints::learning_reviews_policy::DURABLE;
use jiff::Timestamp;
use jiff::civil::date;
use platform::consumer::Outcome;
use platform::tail::{Metadata, Position, RecordedEvent};
use proto::learning_reviews::v1 as learning_reviews;
use uuid::Uuid;

use crate::helpers::*;

const FLAGGED: &str = "redress.complaints.v1.SensitiveCaseFlagged";
const SOURCE: &str = "learning-reviews";

/// `IncidentReported` for `incident_id` about `inspections`, reported at `at`.
fn reported(
    incident_id: Uuid,
    inspections: &[String],
    at: Timestamp,
) -> learning_reviews::IncidentReported {
    learning_reviews::IncidentReported {
        incident_id: incident_id.to_string(),
        source: learning_reviews::IncidentSource::ResponsibleBody as i32,
        category: learning_reviews::IncidentCategory::Death as i32,
        related_inspection_ids: inspections.to_vec(),
        account_ref: "lrvault:account-1".into(),
        reported_by_ref: "staff:HMCI-office-1".into(),
        reported_at: Some(complaints::domain::timestamp(at)),
    }
}

/// Publishes `message` as the learning-reviews context's relay would (stream type
/// `incident_notification`, stream id `incident_id`), with event id `event_id` and `payload`
/// in place of the encoded message when given; returns the event id.
async fn publish_as<M: prost::Name + prost::Message>(
    api: &Api,
    event_id: Uuid,
    incident_id: Uuid,
    message: &M,
    payload: Option<Vec<u8>>,
) -> Uuid {
    let event = RecordedEvent {
        position: Position::START,
        event_id,
        stream_type: "incident_notification".into(),
        stream_id: incident_id,
        version: 1,
        event_type: M::full_name(),
        payload: payload.unwrap_or_else(|| message.encode_to_vec()),
        recorded_at: Timestamp::now(),
        metadata: Metadata::for_command("test:learning-reviews", Uuid::now_v7(), None),
    };
    let subject = api
        .app
        .namespace
        .event_subject(SOURCE, &event.event_type, &incident_id);
    let mut headers = platform::relay::event_headers(&event, SOURCE);
    headers.insert(
        async_nats::header::NATS_MESSAGE_ID,
        event.event_id.to_string().as_str(),
    );
    js(api)
        .await
        .publish_with_headers(subject, headers, event.payload.clone().into())
        .await
        .expect("published")
        .await
        .expect("acknowledged");
    event_id
}

/// Publishes an incident about `inspections`, reported on Mon 21 July 2025 at 09:00.
async fn report(api: &Api, incident_id: Uuid, inspections: &[Uuid]) -> Uuid {
    let ids: Vec<String> = inspections.iter().map(Uuid::to_string).collect();
    let message = reported(incident_id, &ids, london(date(2025, 7, 21), 9, 0));
    publish_as(api, Uuid::now_v7(), incident_id, &message, None).await
}

/// The complaint as `token`'s caller reads it.
async fn complaint_as(api: &Api, complaint_id: Uuid, token: &str) -> v1::Complaint {
    api.client
        .clone()
        .get_complaint(authed(
            v1::GetComplaintRequest {
                complaint_id: complaint_id.to_string(),
                consistency: None,
            },
            token,
        ))
        .await
        .expect("read")
        .into_inner()
        .complaint
        .expect("a complaint")
}

async fn parked(api: &Api) -> Vec<(Option<Uuid>, String)> {
    sqlx::query_as("SELECT event_id, reason FROM parked_events WHERE consumer = $1")
        .bind(DURABLE)
        .fetch_all(api.app.db_pool())
        .await
        .expect("parked")
}

#[tokio::test]
async fn an_incident_flags_the_open_complaint_on_its_inspection_and_leaves_its_deadlines_alone() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id) = api.investigated_complaint().await;
    api.app.settle().await;
    let before = complaint(&api, complaint_id).await;
    let deadlines_before = deadlines(&api, complaint_id).await;
    let timers_before = timers(&api, complaint_id).await;
    let incident_id = Uuid::now_v7();
    report(&api, incident_id, &[inspection_id]).await;

    // Act
    let outcomes = api.app.learning_reviews_policy_once().await;
    api.app.settle().await;

    // Assert
    assert_eq!(outcomes, [Outcome::Handled]);
    let stream = api.stream(complaint_id).await;
    assert_eq!(stream.last().map(String::as_str), Some(FLAGGED));
    assert_eq!(count(&stream, FLAGGED), 1);
    let after = complaint(&api, complaint_id).await;
    assert!(after.sensitive);
    assert_eq!(
        v1::Complaint {
            sensitive: false,
            ..after
        },
        before,
        "status, investigator and everything else as they were"
    );
    assert_eq!(
        before.status,
        v1::ComplaintStatus::UnderInvestigation as i32
    );
    assert_eq!(deadlines(&api, complaint_id).await, deadlines_before);
    assert_eq!(timers(&api, complaint_id).await, timers_before);
    let payload: Vec<u8> =
        sqlx::query_scalar("SELECT payload FROM events WHERE stream_id = $1 AND event_type = $2")
            .bind(complaint_id)
            .bind(FLAGGED)
            .fetch_one(api.app.db_pool())
            .await
            .expect("flagged");
    let flagged =
        <v1::SensitiveCaseFlagged as prost::Message>::decode(payload.as_slice()).expect("decodes");
    assert_eq!(flagged.incident_id, incident_id.to_string());
    assert_eq!(instant(flagged.flagged_at), london(date(2025, 7, 21), 9, 0));
}

#[tokio::test]
async fn an_answered_complaint_is_flagged_and_keeps_its_status_and_escalation_window() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id, _) = answered_complaint(&mut api).await;
    let before = deadlines(&api, complaint_id).await;
    let incident_id = Uuid::now_v7();
    report(&api, incident_id, &[inspection_id]).await;

    // Act
    let outcomes = api.app.learning_reviews_policy_once().await;
    api.app.settle().await;

    // Assert
    assert_eq!(outcomes, [Outcome::Handled]);
    let after = complaint(&api, complaint_id).await;
    assert!(after.sensitive);
    assert_eq!(after.status, v1::ComplaintStatus::ResponseIssued as i32);
    assert_eq!(deadlines(&api, complaint_id).await, before);
}

#[tokio::test]
async fn an_incident_does_not_flag_a_closed_or_a_withdrawn_complaint() {
    // Arrange
    let mut api = api().await;
    let withdrawn_on = api.inspection_with_draft(date(2025, 6, 30)).await;
    let withdrawn: Uuid = api
        .submit(withdrawn_on, "K2", london(date(2025, 7, 3), 11, 0))
        .await
        .expect("submitted")
        .complaint_id
        .parse()
        .expect("a UUID");
    api.client
        .withdraw_complaint(authed(
            v1::WithdrawComplaintRequest {
                request_id: "withdraw-1".into(),
                complaint_id: withdrawn.to_string(),
                reason: v1::WithdrawalReason::ConcernsResolved as i32,
            },
            &api.provider(),
        ))
        .await
        .expect("withdrawn");
    let (closed_on, closed, window_closes_at) = answered_complaint(&mut api).await;
    api.now(Timestamp::from_microsecond(window_closes_at.as_microsecond() + 1).unwrap());
    api.app.settle().await;
    let before = api.event_count().await;
    report(&api, Uuid::now_v7(), &[withdrawn_on, closed_on]).await;

    // Act
    let outcomes = api.app.learning_reviews_policy_once().await;
    api.app.settle().await;

    // Assert
    assert_eq!(outcomes, [Outcome::Handled]);
    assert_eq!(api.event_count().await, before);
    assert_eq!(
        complaint(&api, withdrawn).await.status,
        v1::ComplaintStatus::Withdrawn as i32
    );
    assert_eq!(
        complaint(&api, closed).await.status,
        v1::ComplaintStatus::Closed as i32
    );
    assert!(!complaint(&api, withdrawn).await.sensitive);
    assert!(!complaint(&api, closed).await.sensitive);
    assert!(parked(&api).await.is_empty());
}

#[tokio::test]
async fn a_complaint_accepted_after_publication_is_flagged_though_it_holds_nothing() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
    api.inspection(
        inspection_id,
        inspection::Command::IssueFinalReport {
            doc_ref: "doc:final-1".into(),
            issued_at: london(date(2025, 7, 14), 9, 0),
            policy: api.policy(date(2025, 6, 23)),
            calendar: api.app.context.calendar,
        },
    )
    .await;
    assert_eq!(
        api.publish(inspection_id, london(date(2025, 7, 15), 9, 0))
            .await,
        Ok(())
    );
    api.now(london(date(2025, 7, 16), 11, 0));
    let mut late = submission(inspection_id);
    late.provider_id = PROVIDER.into();
    let accepted: Uuid = api
        .client
        .accept_out_of_time_complaint(authed(
            v1::AcceptOutOfTimeComplaintRequest {
                request_id: "late-1".into(),
                submission: Some(late),
                justification_ref: "doc:justification-1".into(),
            },
            &api.decision_maker(),
        ))
        .await
        .expect("accepted")
        .into_inner()
        .complaint_id
        .parse()
        .expect("a UUID");
    api.app.settle().await;
    assert!(
        !api.stream(inspection_id)
            .await
            .iter()
            .any(|t| t == HOLD_PLACED)
    );
    report(&api, Uuid::now_v7(), &[inspection_id]).await;

    // Act
    let outcomes = api.app.learning_reviews_policy_once().await;
    api.app.settle().await;

    // Assert
    assert_eq!(outcomes, [Outcome::Handled]);
    assert_eq!(count(&api.stream(accepted).await, FLAGGED), 1);
    assert!(complaint(&api, accepted).await.sensitive);
}

#[tokio::test]
async fn an_incident_about_an_unknown_inspection_or_one_without_complaints_is_nothing_to_do() {
    // Arrange
    let api = api().await;
    let without_complaints = api.inspection_with_draft(date(2025, 6, 30)).await;
    let before = api.event_count().await;
    report(&api, Uuid::now_v7(), &[Uuid::now_v7(), without_complaints]).await;
    report(&api, Uuid::now_v7(), &[]).await;

    // Act
    let outcomes = api.app.learning_reviews_policy_once().await;

    // Assert
    assert_eq!(outcomes, [Outcome::Handled, Outcome::Handled]);
    assert_eq!(api.event_count().await, before);
    assert!(parked(&api).await.is_empty());
}

#[tokio::test]
async fn a_redelivered_incident_takes_effect_once() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id) = api.investigated_complaint().await;
    let incident_id = Uuid::now_v7();
    let event_id = report(&api, incident_id, &[inspection_id]).await;
    let first = api.app.learning_reviews_policy_once().await;
    let before = api.event_count().await;
    // The durable consumer is lost and created again: the stream delivers everything anew.
    let js = js(&api).await;
    js.get_stream(api.app.namespace.stream_name(SOURCE))
        .await
        .expect("the learning-reviews stream")
        .delete_consumer(DURABLE)
        .await
        .expect("deleted");
    let again =
        LearningReviewsPolicyConsumer::start(api.app.context.clone(), js, &api.app.namespace)
            .await
            .expect("created again");

    // Act
    let outcomes = again.run_once().await.expect("handled");

    // Assert
    assert_eq!(first, [Outcome::Handled]);
    assert_eq!(outcomes, [Outcome::Duplicate]);
    assert_eq!(api.event_count().await, before);
    let inbox: i64 =
        sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2")
            .bind(DURABLE)
            .bind(event_id)
            .fetch_one(api.app.db_pool())
            .await
            .expect("inbox");
    assert_eq!(inbox, 1);
    assert_eq!(count(&api.stream(complaint_id).await, FLAGGED), 1);
}

#[tokio::test]
async fn the_same_incident_reported_again_records_nothing() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id) = api.investigated_complaint().await;
    let incident_id = Uuid::now_v7();
    report(&api, incident_id, &[inspection_id, inspection_id]).await;
    let first = api.app.learning_reviews_policy_once().await;
    let before = api.event_count().await;
    report(&api, incident_id, &[inspection_id]).await;

    // Act
    let outcomes = api.app.learning_reviews_policy_once().await;

    // Assert
    assert_eq!(first, [Outcome::Handled]);
    assert_eq!(outcomes, [Outcome::Handled]);
    assert_eq!(api.event_count().await, before);
    assert_eq!(count(&api.stream(complaint_id).await, FLAGGED), 1);
}

#[tokio::test]
async fn an_undecodable_incident_is_parked_and_the_next_one_is_handled() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id) = api.investigated_complaint().await;
    let incident_id = Uuid::now_v7();
    let garbage = publish_as(
        &api,
        Uuid::now_v7(),
        incident_id,
        &learning_reviews::IncidentReported::default(),
        Some(vec![0xff, 0xff, 0xff]),
    )
    .await;
    report(&api, incident_id, &[inspection_id]).await;

    // Act
    let outcomes = api.app.learning_reviews_policy_once().await;

    // Assert
    assert_eq!(outcomes, [Outcome::Parked, Outcome::Handled]);
    let parked = parked(&api).await;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].0, Some(garbage));
    assert!(parked[0].1.contains("decode"), "{}", parked[0].1);
    assert_eq!(count(&api.stream(complaint_id).await, FLAGGED), 1);
}

#[tokio::test]
async fn an_incident_naming_an_inspection_that_is_not_a_uuid_is_parked_and_flags_nothing() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, _) = api.investigated_complaint().await;
    let before = api.event_count().await;
    let incident_id = Uuid::now_v7();
    let message = reported(
        incident_id,
        &[inspection_id.to_string(), "INS-5".into()],
        london(date(2025, 7, 21), 9, 0),
    );
    publish_as(&api, Uuid::now_v7(), incident_id, &message, None).await;

    // Act
    let outcomes = api.app.learning_reviews_policy_once().await;

    // Assert
    assert_eq!(outcomes, [Outcome::Parked]);
    assert_eq!(api.event_count().await, before);
    let parked = parked(&api).await;
    assert!(parked[0].1.contains("INS-5"), "{}", parked[0].1);
}

#[tokio::test]
async fn provider_callers_do_not_see_the_sensitive_flag() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id) = api.investigated_complaint().await;
    report(&api, Uuid::now_v7(), &[inspection_id]).await;
    api.app.learning_reviews_policy_once().await;
    api.app.settle().await;

    // Act
    let as_provider = complaint_as(&api, complaint_id, &api.provider()).await;
    let as_decision_maker = complaint_as(&api, complaint_id, &api.decision_maker()).await;
    let as_auditor = complaint_as(&api, complaint_id, &api.token(Role::Auditor)).await;
    let listed = api
        .client
        .clone()
        .list_complaints(authed(
            v1::ListComplaintsRequest::default(),
            &api.provider(),
        ))
        .await
        .expect("listed")
        .into_inner()
        .complaints;

    // Assert
    assert!(!as_provider.sensitive);
    assert!(listed.iter().all(|c| !c.sensitive));
    assert_eq!(listed.len(), 1);
    assert!(as_decision_maker.sensitive);
    assert!(as_auditor.sensitive);
}

#[test]
fn the_panel_s_samples_carry_no_sensitive_flag() {
    // Arrange
    let descriptors =
        <prost_types::FileDescriptorSet as prost::Message>::decode(proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set decodes");

    // Act
    let sample = descriptors
        .file
        .iter()
        .flat_map(|f| f.message_type.iter())
        .find(|m| m.name() == "ClosedComplaintSample")
        .expect("the panel's sample message");

    // Assert
    assert!(
        sample.field.iter().all(|f| !f.name().contains("sensitive")),
        "{:?}",
        sample.field
    );
}

#[tokio::test]
async fn learning_reviews_events_the_policy_does_not_act_on_are_not_delivered_to_it() {
    // Arrange
    let api = api().await;
    let incident_id = Uuid::now_v7();
    let assessed = learning_reviews::IncidentAssessed {
        incident_id: incident_id.to_string(),
        assessment_ref: "doc:assessment-1".into(),
        assessed_by_ref: "staff:HMCI-office-1".into(),
        assessed_at: Some(complaints::domain::timestamp(london(
            date(2025, 7, 22),
            9,
            0,
        ))),
        policy_version: "lr-2025".into(),
    };
    publish_as(&api, Uuid::now_v7(), incident_id, &assessed, None).await;

    // Act
    let outcomes = api.app.learning_reviews_policy_once().await;

    // Assert
    assert!(outcomes.is_empty(), "{outcomes:?}");
}
