//! What this context puts on NATS and reads from it: `IncidentReported` published on
//! `LEARNING_REVIEWS` with its related inspections, the streams it reads ensured at start with
//! its durable consumers, and nothing shared with the independent body's feed.

use learning_reviews::policy::{complaints as complaints_link, escalation as escalation_link};
use platform::nats::{StreamSpec, headers};
use prost::Message;
use proto::learning_reviews::v1;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn incident_reported_is_published_with_its_related_inspections() {
    // Arrange
    let mut h = Harness::start().await;
    let related = [Uuid::now_v7(), Uuid::now_v7()];
    let token = h.liaison();
    let reported = h.report_as(&token, &key(), &related).await.unwrap();

    // Act
    let published = h.app.relay_once().await;

    // Assert
    assert_eq!(published, 1);
    let messages = read_stream(&h.app.js, &h.app.namespace.stream_name("learning-reviews")).await;
    let [message] = messages.as_slice() else {
        panic!("one message expected, got {}", messages.len());
    };
    let root = h.app.namespace.subject_root("learning-reviews");
    assert_eq!(
        message.subject.as_str(),
        format!("{root}.incident_reported.{}", reported.incident_id)
    );
    assert_eq!(
        header(message, headers::CE_TYPE),
        Some("redress.learning_reviews.v1.IncidentReported")
    );
    assert_eq!(
        header(message, "Nats-Msg-Id"),
        reported
            .receipt
            .unwrap()
            .event_ids
            .first()
            .map(String::as_str)
    );
    let event = v1::IncidentReported::decode(message.payload.as_ref()).unwrap();
    assert_eq!(
        event.related_inspection_ids,
        related.iter().map(Uuid::to_string).collect::<Vec<_>>()
    );
    assert_eq!(event.source, v1::IncidentSource::ResponsibleBody as i32);
}

#[tokio::test]
async fn the_streams_read_here_exist_at_start_with_this_contexts_durable_consumers() {
    let h = Harness::start().await;
    let ns = &h.app.namespace;
    for (service, spec) in [
        ("complaints", complaints_link::consumer_spec(ns)),
        ("escalation", escalation_link::consumer_spec(ns)),
    ] {
        let mut stream = h.app.js.get_stream(ns.stream_name(service)).await.unwrap();
        assert_eq!(
            stream.info().await.unwrap().config.subjects,
            [format!("{}.>", ns.subject_root(service))]
        );
        let consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer(&spec.durable).await.unwrap();
        let mut consumer = consumer;
        let config = consumer.info().await.unwrap().config.clone();
        assert_eq!(config.filter_subjects, spec.filter_subjects);
        assert_eq!(config.max_ack_pending, 1, "in order");
    }
    // Ensuring a stream again is harmless: a second start finds them.
    for service in ["learning-reviews", "complaints", "escalation"] {
        platform::nats::ensure_stream(&h.app.js, &StreamSpec::for_service(ns, service))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn nothing_from_this_context_shares_a_subject_or_stream_with_the_feed() {
    // Arrange: a whole review and copied facts, all relayed.
    let mut h = Harness::start().await;
    let ins5 = h.ins5().await;
    h.escalation_with_findings("ESC-2025-7K3QMX2D").await;
    let review_id = h
        .responded(&[ins5], &[("R1", v1::RecommendationResponse::NotAccepted)])
        .await;
    h.disseminate(&review_id, &[v1::Audience::Board])
        .await
        .unwrap();
    h.close(&review_id).await.unwrap();
    h.app.settle().await;
    let published = h.app.relay_once().await;
    assert_eq!(i64::try_from(published).unwrap(), h.event_count().await);

    // Act: the independent body's stream is created beside ours; JetStream refuses a stream
    // whose subjects overlap another's, so its creation proves the two are disjoint.
    let ns = &h.app.namespace;
    let feed = StreamSpec::for_service(ns, "feed");
    platform::nats::ensure_stream(&h.app.js, &feed)
        .await
        .unwrap();

    // Assert
    let own = StreamSpec::for_service(ns, "learning-reviews");
    assert_ne!(own.name, feed.name);
    assert!(own.subjects.iter().all(|s| !feed.subjects.contains(s)));
    let root = format!("{}.", ns.subject_root("learning-reviews"));
    let messages = read_stream(&h.app.js, &own.name).await;
    assert_eq!(messages.len(), published);
    assert!(messages.iter().all(|m| m.subject.starts_with(&root)));
    assert!(messages.iter().all(|m| {
        header(m, headers::CE_TYPE).is_some_and(|t| t.starts_with("redress.learning_reviews.v1."))
    }));
    assert!(read_stream(&h.app.js, &feed.name).await.is_empty());
    for spec in [
        complaints_link::consumer_spec(ns),
        escalation_link::consumer_spec(ns),
    ] {
        assert_ne!(spec.stream, feed.name);
        assert!(
            spec.filter_subjects
                .iter()
                .all(|s| !s.contains(".feed.") && !s.starts_with(&ns.subject_root("feed")))
        );
    }
}
