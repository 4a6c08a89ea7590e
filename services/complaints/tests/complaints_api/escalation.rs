//! The escalation link: escalation events published on the (prefixed) `ESCALATION` stream with
//! the relay's headers, applied by the escalation policy's durable consumer, and the
//! escalation-window timer.

use complaints::domain::v1;
use complaints::formal_complaints::EscalationPolicyConsumer;
use complaints::formal_complaints::escalation_policy::DURABLE;
use jiff::Timestamp;
use jiff::civil::date;
use platform::consumer::Outcome;
use platform::tail::{Metadata, Position, RecordedEvent};
use proto::escalation::v1 as escalation;
use uuid::Uuid;

use crate::helpers::*;

const CLOSED: &str = "redress.complaints.v1.ComplaintClosed";
const ESCALATED: &str = "redress.complaints.v1.ComplaintEscalated";
const ESCALATION_WITHDRAWN: &str = "redress.complaints.v1.ComplaintEscalationWithdrawn";
const REOPENED: &str = "redress.complaints.v1.ComplaintReopenedForReconsideration";

fn stamp(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(complaints::domain::timestamp(at))
}

/// Publishes `message` as the escalation context's relay would, with event id `event_id`;
/// returns the event id.
async fn publish_as<M: prost::Name + prost::Message>(
    api: &Api,
    event_id: Uuid,
    escalation_id: Uuid,
    message: &M,
) -> Uuid {
    let event = RecordedEvent {
        position: Position::START,
        event_id,
        stream_type: "escalation".into(),
        stream_id: escalation_id,
        version: 1,
        event_type: M::full_name(),
        payload: message.encode_to_vec(),
        recorded_at: Timestamp::now(),
        metadata: Metadata::for_command("test:escalation", Uuid::now_v7(), None),
    };
    publish_raw(
        api,
        &event,
        api.app
            .namespace
            .event_subject("escalation", &event.event_type, &escalation_id),
    )
    .await;
    event_id
}

async fn publish<M: prost::Name + prost::Message>(
    api: &Api,
    escalation_id: Uuid,
    message: &M,
) -> Uuid {
    publish_as(api, Uuid::now_v7(), escalation_id, message).await
}

/// Publishes `event` on `subject` with the relay's headers and `Nats-Msg-Id`, and waits for the
/// server's acknowledgement.
async fn publish_raw(api: &Api, event: &RecordedEvent, subject: String) {
    let mut headers = platform::relay::event_headers(event, "escalation");
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
}

fn requested(
    complaint_id: Uuid,
    escalation_id: Uuid,
    at: Timestamp,
) -> escalation::EscalationRequested {
    escalation::EscalationRequested {
        escalation_id: escalation_id.to_string(),
        complaint_id: complaint_id.to_string(),
        grounds: vec![escalation::Ground::FailureToFollowProcedures as i32],
        requested_at: stamp(at),
        case_ref: "ESC-2025-TEST0001".into(),
        ..Default::default()
    }
}

fn closed(complaint_id: Uuid, escalation_id: Uuid, at: Timestamp) -> escalation::EscalationClosed {
    escalation::EscalationClosed {
        escalation_id: escalation_id.to_string(),
        closed_by_ref: "staff:RO-1".into(),
        closed_at: stamp(at),
        complaint_id: complaint_id.to_string(),
    }
}

fn withdrawn(
    complaint_id: Uuid,
    escalation_id: Uuid,
    at: Timestamp,
) -> escalation::EscalationWithdrawn {
    escalation::EscalationWithdrawn {
        escalation_id: escalation_id.to_string(),
        withdrawn_by_ref: "person:head-1".into(),
        withdrawn_at: stamp(at),
        complaint_id: complaint_id.to_string(),
    }
}

fn accepted(
    complaint_id: Uuid,
    escalation_id: Uuid,
    kind: escalation::RecommendationKind,
    at: Timestamp,
) -> escalation::RecommendationAccepted {
    escalation::RecommendationAccepted {
        escalation_id: escalation_id.to_string(),
        recommendation_id: "R2".to_owned(),
        planned_action_ref: "doc:plan-1".into(),
        accepted_by_ref: "staff:RO-1".into(),
        accepted_at: stamp(at),
        kind: kind as i32,
        complaint_id: complaint_id.to_string(),
        ..Default::default()
    }
}

/// The stored `ComplaintClosed` of a complaint.
async fn closure(api: &Api, complaint_id: Uuid) -> v1::ComplaintClosed {
    let payload: Vec<u8> =
        sqlx::query_scalar("SELECT payload FROM events WHERE stream_id = $1 AND event_type = $2")
            .bind(complaint_id)
            .bind(CLOSED)
            .fetch_one(api.app.db_pool())
            .await
            .expect("closed");
    <v1::ComplaintClosed as prost::Message>::decode(payload.as_slice()).expect("decodes")
}

/// `at` as the read models store it, to the microsecond.
fn stored(at: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(at.as_microsecond()).expect("in range")
}

#[tokio::test]
async fn an_escalation_closing_closes_the_complaint_as_concluded() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id, _) = answered_complaint(&mut api).await;
    let escalation_id = Uuid::now_v7();
    let at = london(date(2025, 9, 1), 10, 0);
    publish(
        &api,
        escalation_id,
        &requested(complaint_id, escalation_id, at),
    )
    .await;
    let escalated = api.app.escalation_policy_once().await;
    api.app.settle().await;
    let while_escalated = complaint(&api, complaint_id).await;
    let deadlines_while_escalated = deadlines(&api, complaint_id).await;
    api.now(london(date(2026, 2, 2), 10, 0));
    api.app.settle().await;

    // Act
    let closed_at = london(date(2026, 2, 2), 9, 0);
    publish(
        &api,
        escalation_id,
        &closed(complaint_id, escalation_id, closed_at),
    )
    .await;
    let outcomes = api.app.escalation_policy_once().await;
    api.app.settle().await;

    // Assert
    assert_eq!(escalated, [Outcome::Handled]);
    assert_eq!(outcomes, [Outcome::Handled]);
    assert_eq!(
        while_escalated.status,
        v1::ComplaintStatus::Escalated as i32
    );
    assert_eq!(while_escalated.escalation_id, escalation_id.to_string());
    assert!(deadlines_while_escalated.escalation_in_progress);
    let stream = api.stream(complaint_id).await;
    assert_eq!(&stream[stream.len() - 2..], [ESCALATED, CLOSED]);
    let closure = closure(&api, complaint_id).await;
    assert_eq!(
        closure.reason,
        v1::ClosureReason::EscalationConcluded as i32
    );
    assert_eq!(closure.escalation_id, escalation_id.to_string());
    assert_eq!(instant(closure.closed_at), closed_at);
    let now_closed = complaint(&api, complaint_id).await;
    assert_eq!(now_closed.status, v1::ComplaintStatus::Closed as i32);
    assert_eq!(now_closed.escalation_id, "");
    let deadlines = deadlines(&api, complaint_id).await;
    assert!(!deadlines.escalation_in_progress);
    assert_eq!(instant(deadlines.closed_at), closed_at);
    let sample_closed_at: Option<jiff::Timestamp> =
        sqlx::query_scalar::<_, platform::pg::PgTimestamp>(
            "SELECT closed_at FROM closed_complaint_samples WHERE complaint_id = $1",
        )
        .bind(complaint_id)
        .fetch_optional(api.app.db_pool())
        .await
        .expect("sample row")
        .map(|t| t.0);
    assert_eq!(sample_closed_at, Some(closed_at));
    assert_eq!(
        timers(&api, complaint_id).await.last(),
        Some(&("escalation_window".to_owned(), true, false)),
        "the window timer fired while the escalation was in progress and did nothing"
    );
}

#[tokio::test]
async fn an_escalation_the_independent_body_declined_closes_the_complaint() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id, _) = answered_complaint(&mut api).await;
    let escalation_id = Uuid::now_v7();
    publish(
        &api,
        escalation_id,
        &requested(complaint_id, escalation_id, london(date(2025, 9, 1), 10, 0)),
    )
    .await;
    let declined = escalation::EscalationDeclinedByIndependentBody {
        escalation_id: escalation_id.to_string(),
        declined_by_ref: "body:ICASO-1".into(),
        reason_ref: "doc:declined-1".into(),
        declined_at: stamp(london(date(2025, 9, 15), 10, 0)),
        complaint_id: complaint_id.to_string(),
    };
    publish(&api, escalation_id, &declined).await;

    // Act
    let outcomes = api.app.escalation_policy_once().await;
    api.app.settle().await;

    // Assert
    assert_eq!(outcomes, [Outcome::Handled, Outcome::Handled]);
    let closure = closure(&api, complaint_id).await;
    assert_eq!(
        closure.reason,
        v1::ClosureReason::EscalationConcluded as i32
    );
    assert_eq!(closure.escalation_id, escalation_id.to_string());
    assert_eq!(
        complaint(&api, complaint_id).await.status,
        v1::ComplaintStatus::Closed as i32
    );
}

#[tokio::test]
async fn an_escalation_withdrawn_after_the_window_closes_the_complaint_as_lapsed() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id, window_closes_at) = answered_complaint(&mut api).await;
    let escalation_id = Uuid::now_v7();
    publish(
        &api,
        escalation_id,
        &requested(complaint_id, escalation_id, london(date(2025, 9, 1), 10, 0)),
    )
    .await;
    api.app.escalation_policy_once().await;
    let after_window = london(date(2025, 12, 1), 9, 0);
    api.now(after_window);
    api.app.settle().await;
    let before_withdrawal = api.stream(complaint_id).await;

    // Act
    publish(
        &api,
        escalation_id,
        &withdrawn(
            complaint_id,
            escalation_id,
            london(date(2025, 11, 28), 16, 0),
        ),
    )
    .await;
    let outcomes = api.app.escalation_policy_once().await;
    api.app.settle().await;

    // Assert
    assert!(window_closes_at < after_window);
    assert_eq!(count(&before_withdrawal, CLOSED), 0, "not while escalated");
    assert_eq!(outcomes, [Outcome::Handled]);
    let stream = api.stream(complaint_id).await;
    assert_eq!(&stream[stream.len() - 2..], [ESCALATION_WITHDRAWN, CLOSED]);
    let closure = closure(&api, complaint_id).await;
    assert_eq!(
        closure.reason,
        v1::ClosureReason::EscalationWindowLapsed as i32
    );
    assert_eq!(instant(closure.closed_at), after_window);
    assert_eq!(
        complaint(&api, complaint_id).await.status,
        v1::ComplaintStatus::Closed as i32
    );
}

#[tokio::test]
async fn an_escalation_withdrawn_inside_the_window_leaves_the_window_timer_to_close_it() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id, window_closes_at) = answered_complaint(&mut api).await;
    let escalation_id = Uuid::now_v7();
    publish(
        &api,
        escalation_id,
        &requested(complaint_id, escalation_id, london(date(2025, 9, 1), 10, 0)),
    )
    .await;
    api.now(london(date(2025, 9, 10), 9, 0));
    publish(
        &api,
        escalation_id,
        &withdrawn(complaint_id, escalation_id, london(date(2025, 9, 10), 8, 0)),
    )
    .await;
    api.app.escalation_policy_once().await;
    api.app.settle().await;
    let after_withdrawal = complaint(&api, complaint_id).await;

    // Act
    api.now(Timestamp::from_microsecond(window_closes_at.as_microsecond() + 1).unwrap());
    api.app.settle().await;

    // Assert
    assert_eq!(
        after_withdrawal.status,
        v1::ComplaintStatus::ResponseIssued as i32
    );
    let closure = closure(&api, complaint_id).await;
    assert_eq!(
        closure.reason,
        v1::ClosureReason::EscalationWindowLapsed as i32
    );
}

#[tokio::test]
async fn the_window_timer_closes_an_unescalated_complaint_once_after_the_window() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id, window_closes_at) = answered_complaint(&mut api).await;

    // Act
    api.now(window_closes_at);
    api.app.settle().await;
    let on_the_last_instant = api.stream(complaint_id).await;
    api.now(Timestamp::from_microsecond(window_closes_at.as_microsecond() + 1).unwrap());
    api.app.settle().await;
    api.app.settle().await;

    // Assert
    assert_eq!(count(&on_the_last_instant, CLOSED), 0);
    assert_eq!(count(&api.stream(complaint_id).await, CLOSED), 1);
    let closure = closure(&api, complaint_id).await;
    assert_eq!(
        closure.reason,
        v1::ClosureReason::EscalationWindowLapsed as i32
    );
    assert_eq!(
        complaint(&api, complaint_id).await.status,
        v1::ComplaintStatus::Closed as i32
    );
    assert_eq!(
        timers(&api, complaint_id).await.last(),
        Some(&("escalation_window".to_owned(), true, false))
    );
}

#[tokio::test]
async fn the_window_timer_does_nothing_while_an_escalation_is_in_progress() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id, window_closes_at) = answered_complaint(&mut api).await;
    let escalation_id = Uuid::now_v7();
    publish(
        &api,
        escalation_id,
        &requested(complaint_id, escalation_id, london(date(2025, 9, 1), 10, 0)),
    )
    .await;
    api.app.escalation_policy_once().await;
    let before = api.stream(complaint_id).await;

    // Act
    api.now(Timestamp::from_microsecond(window_closes_at.as_microsecond() + 1).unwrap());
    api.app.settle().await;
    api.now(london(date(2026, 3, 1), 9, 0));
    api.app.settle().await;

    // Assert
    assert_eq!(api.stream(complaint_id).await, before);
    assert_eq!(
        complaint(&api, complaint_id).await.status,
        v1::ComplaintStatus::Escalated as i32
    );
    assert_eq!(
        timers(&api, complaint_id).await.last(),
        Some(&("escalation_window".to_owned(), true, false)),
        "fired once, with no effect"
    );
}

#[tokio::test]
async fn a_reconsideration_reopens_the_complaint_and_a_new_response_is_issued_without_a_hold() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id, first_window) = answered_complaint(&mut api).await;
    api.inspection(
        inspection_id,
        complaints::domain::inspection::Command::IssueFinalReport {
            doc_ref: "doc:final-1".into(),
            issued_at: london(date(2025, 8, 4), 9, 0),
            policy: api.policy(date(2025, 6, 23)),
            calendar: api.app.context.calendar,
        },
    )
    .await;
    assert_eq!(
        api.publish(inspection_id, london(date(2025, 8, 5), 9, 0))
            .await,
        Ok(())
    );
    let inspection_events = api.stream(inspection_id).await;
    let escalation_id = Uuid::now_v7();
    publish(
        &api,
        escalation_id,
        &requested(complaint_id, escalation_id, london(date(2025, 9, 1), 10, 0)),
    )
    .await;
    let apology = accepted(
        complaint_id,
        escalation_id,
        escalation::RecommendationKind::Apology,
        london(date(2025, 12, 1), 10, 0),
    );
    publish(&api, escalation_id, &apology).await;
    let reconsider = accepted(
        complaint_id,
        escalation_id,
        escalation::RecommendationKind::ReconsiderComplaint,
        london(date(2025, 12, 1), 10, 0),
    );
    publish(&api, escalation_id, &reconsider).await;

    // Act
    let outcomes = api.app.escalation_policy_once().await;
    api.app.settle().await;
    let reopened = complaint(&api, complaint_id).await;
    let reopened_deadlines = deadlines(&api, complaint_id).await;
    let reopened_timers = timers(&api, complaint_id).await;
    api.now(london(date(2026, 1, 12), 10, 0));
    let answered = api
        .client
        .issue_complaint_response(authed(
            response(complaint_id, "respond-2"),
            &api.decision_maker(),
        ))
        .await;
    api.app.settle().await;

    // Assert
    assert_eq!(outcomes, [Outcome::Handled; 3]);
    let stream = api.stream(complaint_id).await;
    assert_eq!(count(&stream, REOPENED), 1);
    assert_eq!(
        reopened.status,
        v1::ComplaintStatus::UnderReconsideration as i32
    );
    assert_eq!(reopened.escalation_id, "");
    assert_eq!(
        instant(reopened_deadlines.response_due_at),
        stored(end_of(date(2026, 1, 15)))
    );
    assert!(reopened_deadlines.escalation_window_closes_at.is_none());
    assert!(!reopened_deadlines.escalation_in_progress);
    assert!(!reopened_deadlines.overdue);
    assert_eq!(
        instant(reopened_deadlines.reopened_at),
        london(date(2025, 12, 1), 10, 0)
    );
    assert_eq!(
        reopened_timers,
        [
            ("response_overdue".to_owned(), false, true),
            ("escalation_window".to_owned(), false, true),
            ("response_overdue".to_owned(), false, false),
        ],
        "the first window no longer applies; the new response deadline runs"
    );
    let answered = answered
        .expect("the reconsidered response is issued")
        .into_inner();
    let second_window = instant(answered.escalation_window_closes_at);
    assert!(second_window > first_window);
    assert_eq!(
        &stream[stream.len() - 2..],
        [RESPONSE_ISSUED, RIGHTS_NOTIFIED]
    );
    assert_eq!(
        api.stream(inspection_id).await,
        inspection_events,
        "the published report is neither held nor released again"
    );
    assert_eq!(
        complaint(&api, complaint_id).await.status,
        v1::ComplaintStatus::ResponseIssued as i32
    );
    let deadlines = deadlines(&api, complaint_id).await;
    assert_eq!(
        instant(deadlines.escalation_window_closes_at),
        stored(second_window)
    );
    let timers = timers(&api, complaint_id).await;
    assert_eq!(
        timers.last(),
        Some(&("escalation_window".to_owned(), false, false))
    );
}

#[tokio::test]
async fn the_escalation_that_reopened_the_complaint_concluding_leaves_it_open() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id, _) = answered_complaint(&mut api).await;
    let escalation_id = Uuid::now_v7();
    publish(
        &api,
        escalation_id,
        &requested(complaint_id, escalation_id, london(date(2025, 9, 1), 10, 0)),
    )
    .await;
    publish(
        &api,
        escalation_id,
        &accepted(
            complaint_id,
            escalation_id,
            escalation::RecommendationKind::ReconsiderComplaint,
            london(date(2025, 12, 1), 10, 0),
        ),
    )
    .await;
    api.app.escalation_policy_once().await;
    let before = api.event_count().await;

    // Act
    publish(
        &api,
        escalation_id,
        &closed(
            complaint_id,
            escalation_id,
            london(date(2025, 12, 10), 10, 0),
        ),
    )
    .await;
    let outcomes = api.app.escalation_policy_once().await;
    api.app.settle().await;

    // Assert
    assert_eq!(outcomes, [Outcome::Handled]);
    assert_eq!(api.event_count().await, before);
    assert_eq!(
        complaint(&api, complaint_id).await.status,
        v1::ComplaintStatus::UnderReconsideration as i32
    );
}

#[tokio::test]
async fn a_redelivered_escalation_event_takes_effect_once() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id, _) = answered_complaint(&mut api).await;
    let escalation_id = Uuid::now_v7();
    let event_id = publish(
        &api,
        escalation_id,
        &requested(complaint_id, escalation_id, london(date(2025, 9, 1), 10, 0)),
    )
    .await;
    let first = api.app.escalation_policy_once().await;
    let before = api.event_count().await;
    // The durable consumer is lost and created again: the stream delivers everything anew.
    let js = js(&api).await;
    js.get_stream(api.app.namespace.stream_name("escalation"))
        .await
        .expect("the escalation stream")
        .delete_consumer(DURABLE)
        .await
        .expect("deleted");
    let again = EscalationPolicyConsumer::start(api.app.context.clone(), js, &api.app.namespace)
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
    assert_eq!(count(&api.stream(complaint_id).await, ESCALATED), 1);
}

#[tokio::test]
async fn an_undecodable_escalation_event_is_parked_and_the_next_one_is_handled() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id, _) = answered_complaint(&mut api).await;
    let escalation_id = Uuid::now_v7();
    let garbage = RecordedEvent {
        position: Position::START,
        event_id: Uuid::now_v7(),
        stream_type: "escalation".into(),
        stream_id: escalation_id,
        version: 1,
        event_type: "redress.escalation.v1.EscalationRequested".into(),
        payload: vec![0xff, 0xff, 0xff],
        recorded_at: Timestamp::now(),
        metadata: Metadata::default(),
    };
    let subject =
        api.app
            .namespace
            .event_subject("escalation", &garbage.event_type, &escalation_id);
    publish_raw(&api, &garbage, subject).await;
    publish(
        &api,
        escalation_id,
        &requested(complaint_id, escalation_id, london(date(2025, 9, 1), 10, 0)),
    )
    .await;

    // Act
    let outcomes = api.app.escalation_policy_once().await;

    // Assert
    assert_eq!(outcomes, [Outcome::Parked, Outcome::Handled]);
    let parked: Vec<(Option<Uuid>, String)> =
        sqlx::query_as("SELECT event_id, reason FROM parked_events WHERE consumer = $1")
            .bind(DURABLE)
            .fetch_all(api.app.db_pool())
            .await
            .expect("parked");
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].0, Some(garbage.event_id));
    assert!(parked[0].1.contains("decode"), "{}", parked[0].1);
    assert_eq!(count(&api.stream(complaint_id).await, ESCALATED), 1);
}

#[tokio::test]
async fn an_escalation_of_an_unknown_complaint_is_parked() {
    // Arrange
    let api = api().await;
    let escalation_id = Uuid::now_v7();
    publish(
        &api,
        escalation_id,
        &requested(
            Uuid::now_v7(),
            escalation_id,
            london(date(2025, 9, 1), 10, 0),
        ),
    )
    .await;

    // Act
    let outcomes = api.app.escalation_policy_once().await;

    // Assert
    assert_eq!(outcomes, [Outcome::Parked]);
    assert_eq!(api.event_count().await, 0);
    let reason: String = sqlx::query_scalar("SELECT reason FROM parked_events WHERE consumer = $1")
        .bind(DURABLE)
        .fetch_one(api.app.db_pool())
        .await
        .expect("parked");
    assert!(reason.contains("NOT_SUBMITTED"), "{reason}");
}

#[tokio::test]
async fn escalation_events_the_policy_does_not_act_on_are_not_delivered_to_it() {
    // Arrange
    let api = api().await;
    let escalation_id = Uuid::now_v7();
    let referred = escalation::EscalationReferred {
        escalation_id: escalation_id.to_string(),
        feed_payload_version: 1,
        referred_at: stamp(london(date(2025, 9, 2), 10, 0)),
    };
    publish(&api, escalation_id, &referred).await;

    // Act
    let outcomes = api.app.escalation_policy_once().await;

    // Assert
    assert!(outcomes.is_empty(), "{outcomes:?}");
}
