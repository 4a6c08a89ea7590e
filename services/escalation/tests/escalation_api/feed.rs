//! The independent body's feed: contiguous positions, CloudEvents headers, the allow-list, no
//! personal or identifying data, exactly once under racing translators and a relay restart.

use escalation::testing::fields_outside_feed_allow_list;
use proto::escalation::v1::RecommendationKind as Kind;

use crate::helpers::*;

/// S10 and S11 on one escalation, plus a withdrawn and a declined one: every feed message type.
async fn scenarios(h: &mut Harness) {
    let id = h.appointed().await;
    let adjudicator = h.adjudicator();
    h.case_file(&adjudicator, &id).await.unwrap();
    h.findings(
        &id,
        vec![
            recommendation("R1", Kind::Apology),
            recommendation("R2", Kind::ReconsiderComplaint),
        ],
    )
    .await
    .unwrap();
    h.accept_recommendation(&id, "R1", "2026-01-31")
        .await
        .unwrap();
    h.decline_recommendation(&id, "R2", "doc:reason-r2", "https://gov.uk/statement-r2")
        .await
        .unwrap();
    h.implemented(&id, "R1").await.unwrap();
    h.close(&id).await.unwrap();
    let (_, withdrawn) = h.referred().await;
    h.withdraw(&withdrawn.escalation_id).await.unwrap();
    let (_, declined) = h.referred().await;
    let token = h.body();
    h.client
        .decline_referral(with_token(
            proto::escalation::v1::DeclineReferralRequest {
                request_id: "decline".into(),
                escalation_id: declined.escalation_id,
                reason_ref: "icaso:reason".into(),
            },
            &token,
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn every_feed_message_has_the_next_position_and_the_cloud_events_headers() {
    // Arrange
    let mut h = Harness::start().await;
    scenarios(&mut h).await;

    // Act
    let feed = h.feed().await;

    // Assert
    assert_eq!(feed.len(), 14, "one message per announced event");
    for (i, message) in feed.iter().enumerate() {
        assert_eq!(
            header(message, "Redress-Feed-Position"),
            Some((i + 1).to_string().as_str()),
            "positions are 1, 2, 3, … with no gap"
        );
        let id = header(message, "Nats-Msg-Id").expect("a message id");
        assert_eq!(header(message, "ce-id"), Some(id));
        assert_eq!(header(message, "ce-specversion"), Some("1.0"));
        assert_eq!(header(message, "ce-source"), Some("urn:redress:escalation"));
        assert_eq!(
            header(message, "content-type"),
            Some("application/protobuf")
        );
        assert!(header(message, "ce-time").is_some());
        assert!(
            header(message, "traceparent").is_some_and(|t| t.starts_with("00-")),
            "the trace of the command continues on the feed"
        );
        let kind = header(message, "ce-type").unwrap();
        assert!(kind.starts_with("redress.feed.v1."), "{kind}");
        let subject_escalation = message.subject.rsplit('.').next().unwrap();
        assert_eq!(header(message, "ce-subject"), Some(subject_escalation));
    }
}

#[tokio::test]
async fn every_field_on_the_feed_is_on_the_allow_list() {
    let mut h = Harness::start().await;
    scenarios(&mut h).await;
    let feed = h.feed().await;
    let mut types = std::collections::BTreeSet::new();
    for message in &feed {
        let kind = header(message, "ce-type").unwrap();
        types.insert(kind.to_owned());
        let outside = fields_outside_feed_allow_list(kind, &message.payload);
        assert!(outside.is_empty(), "{kind} carries {outside:?}");
    }
    assert_eq!(
        types.len(),
        12,
        "every feed message type was checked: {types:?}"
    );
}

#[test]
fn the_allow_list_check_reports_a_field_it_does_not_name() {
    // A provider identifier smuggled into field 99 of a referral, and a field the schema has
    // but the list does not (the body's findings reference would be one).
    let mut payload = prost::Message::encode_to_vec(&proto::feed::v1::EscalationReferred {
        escalation_id: "e".into(),
        ..Default::default()
    });
    payload.extend([0x9a, 0x06, 0x03, b'U', b'R', b'N']);
    assert_eq!(
        fields_outside_feed_allow_list("redress.feed.v1.EscalationReferred", &payload),
        ["redress.feed.v1.EscalationReferred.#99"]
    );
}

#[tokio::test]
async fn the_feed_carries_no_provider_person_complaint_or_document_reference() {
    let mut h = Harness::start().await;
    scenarios(&mut h).await;
    let complaint_ids: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT complaint_id::text FROM escalations")
            .fetch_all(h.app.db_pool())
            .await
            .unwrap();
    let inspection_ids: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT inspection_id::text FROM escalations")
            .fetch_all(h.app.db_pool())
            .await
            .unwrap();
    let mut forbidden = vec![
        PROVIDER.to_owned(),
        "vault:0190aaaa-contact".into(),
        "doc:complaint-letter".into(),
        "doc:evidence-1".into(),
        "doc:response-letter".into(),
        "test:provider_representative".into(),
        "icaso:desk-1".into(),
        "ofsted:director-3".into(),
        "icaso:findings-1".into(),
        "icaso:text-R1".into(),
        "doc:plan-R1".into(),
        "doc:evidence-R1".into(),
        "icaso:reason".into(),
    ];
    forbidden.extend(complaint_ids);
    forbidden.extend(inspection_ids);
    for message in h.feed().await {
        let mut bytes = message.payload.to_vec();
        if let Some(headers) = &message.headers {
            for (name, values) in headers.iter() {
                bytes.extend(name.to_string().as_bytes());
                for value in values {
                    bytes.extend(value.as_str().as_bytes());
                }
            }
        }
        bytes.extend(message.subject.as_bytes());
        let text = String::from_utf8_lossy(&bytes);
        for needle in &forbidden {
            assert!(
                !text.contains(needle.as_str()),
                "the feed carries {needle:?}"
            );
        }
    }
}

#[tokio::test]
async fn racing_translators_number_the_feed_once() {
    let mut h = Harness::start().await;
    for _ in 0..3 {
        h.referred().await;
    }
    let second = escalation::feed::Feed::start(&h.app.context).await.unwrap();
    let (a, b) = tokio::join!(h.app.feed.run_once(), second.run_once());
    a.unwrap();
    b.unwrap();
    let positions: Vec<i32> = sqlx::query_scalar(
        "SELECT version FROM events WHERE stream_type = 'independent_body_feed' ORDER BY version",
    )
    .fetch_all(h.app.db_pool())
    .await
    .unwrap();
    assert_eq!(positions, [1, 2, 3]);
}

#[tokio::test]
async fn a_relay_that_republishes_after_a_crash_adds_nothing_to_the_feed() {
    let mut h = Harness::start().await;
    h.referred().await;
    h.referred().await;
    let before = h.feed().await.len();
    // As if the relay died after the acknowledgements but before its checkpoint moved.
    sqlx::query("DELETE FROM checkpoints WHERE name = 'relay.feed'")
        .execute(h.app.db_pool())
        .await
        .unwrap();
    let after = h.feed().await;
    assert_eq!(after.len(), before);
    assert_eq!(before, 2);
}

#[tokio::test]
async fn the_services_own_stream_never_carries_the_feed() {
    let mut h = Harness::start().await;
    h.referred().await;
    h.feed().await;
    let own = read_stream(&h.app.js, &h.app.namespace.stream_name("escalation")).await;
    assert!(!own.is_empty());
    assert!(
        own.iter().all(|m| !header(m, "ce-type")
            .unwrap_or_default()
            .starts_with("redress.feed.")),
        "the feed has a stream of its own"
    );
}
