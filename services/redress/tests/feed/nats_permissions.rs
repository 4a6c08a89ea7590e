//! What each NATS user of `deploy/nats/accounts.conf` may and may not do, against a real server
//! started with that file. A denial is proven by the call failing *and* the server reporting the
//! permissions violation for the exact subject, so a test fails as soon as the permission is
//! granted.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt as _;

use platform::nats::{Namespace, StreamSpec, ensure_stream};

use crate::helpers::*;

/// The server after the services started as they do: each ensures its own stream and the
/// streams it consumes and creates its consumers; escalation also creates the feed and the
/// independent body's consumer. Three feed messages and one complaints event are published.
struct World {
    nats: SecuredNats,
    ib: Connection,
}

/// Each service's policy consumer, as its service names it.
const ESCALATION_POLICY: &str = "escalation-complaints-policy";
const COMPLAINTS_POLICY: &str = "complaints-escalation-policy";

fn policy_consumer(durable: &str) -> pull::Config {
    pull::Config {
        durable_name: Some(durable.into()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ..Default::default()
    }
}

async fn world() -> World {
    let nats = SecuredNats::start().await;
    let root = Namespace::root();
    let complaints = nats.connect("complaints").await;
    create_complaints_stream(&complaints).await;
    ensure_stream(
        &complaints.js,
        &StreamSpec::for_service(&root, "escalation"),
    )
    .await
    .expect("the complaints user ensures ESCALATION");
    complaints
        .js
        .create_consumer_on_stream(policy_consumer(COMPLAINTS_POLICY), "ESCALATION")
        .await
        .expect("the complaints user creates its consumer on ESCALATION");
    let escalation = nats.connect("escalation").await;
    for service in ["escalation", "complaints"] {
        ensure_stream(&escalation.js, &StreamSpec::for_service(&root, service))
            .await
            .unwrap_or_else(|e| panic!("the escalation user ensures {service}: {e}"));
    }
    create_feed(&escalation).await;
    escalation
        .js
        .create_consumer_on_stream(policy_consumer(ESCALATION_POLICY), "COMPLAINTS")
        .await
        .expect("the escalation user creates its consumer on COMPLAINTS");
    publish_case(&escalation.js, 1, 3).await;
    let ib = nats.connect("ib").await;
    World { nats, ib }
}

#[tokio::test]
async fn the_escalation_user_pulls_and_acknowledges_its_consumer_of_the_complaints_stream() {
    let world = world().await;
    let escalation = world.nats.connect("escalation").await;
    let consumer: jetstream::consumer::Consumer<pull::Config> = escalation
        .js
        .get_consumer_from_stream(ESCALATION_POLICY, "COMPLAINTS")
        .await
        .unwrap();

    let mut messages = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .unwrap();
    let message = messages
        .next()
        .await
        .expect("the complaints event")
        .unwrap();

    message
        .double_ack()
        .await
        .expect("the server confirms the ack");
}

#[tokio::test]
async fn the_escalation_user_creates_the_feed_and_its_consumer_and_publishes_to_it() {
    let world = world().await;
    let escalation = world.nats.connect("escalation").await;

    let mut stream = escalation.js.get_stream("FEED").await.unwrap();
    let mut consumer: jetstream::consumer::Consumer<pull::Config> = escalation
        .js
        .get_consumer_from_stream("ib_feed", "FEED")
        .await
        .unwrap();

    assert_eq!(stream.info().await.unwrap().state.messages, 3);
    let info = consumer.info().await.unwrap();
    assert_eq!(info.config.max_ack_pending, 1);
    assert_eq!(info.config.ack_wait, Duration::from_secs(30));
    assert_eq!(
        info.config.max_deliver, -1,
        "redelivered until acknowledged, never dropped"
    );
    assert_eq!(info.num_pending, 3);
}

#[tokio::test]
async fn the_independent_body_fetches_its_feed_and_its_acknowledgements_are_confirmed() {
    // Arrange
    let world = world().await;
    let mut consumer: jetstream::consumer::Consumer<pull::Config> = world
        .ib
        .js
        .get_consumer_from_stream("ib_feed", "FEED")
        .await
        .expect("the body reads its consumer's info");

    // Act
    let mut messages = consumer
        .fetch()
        .max_messages(3)
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .expect("the body pulls from its consumer");
    let mut positions = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        positions.push(
            message
                .headers
                .as_ref()
                .and_then(|h| h.get("Redress-Feed-Position"))
                .unwrap()
                .as_str()
                .to_owned(),
        );
        message
            .double_ack()
            .await
            .expect("the server confirms the ack");
    }

    // Assert: everything delivered in order, the ack floor at the last message, nothing again.
    assert_eq!(positions, ["1", "2", "3"]);
    let info = consumer.info().await.unwrap();
    assert_eq!(info.ack_floor.stream_sequence, 3);
    assert_eq!((info.num_ack_pending, info.num_pending), (0, 0));
    assert_eq!(info.num_redelivered, 0);
    let mut again = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_millis(1500))
        .messages()
        .await
        .unwrap();
    assert!(
        again.next().await.is_none(),
        "an acknowledged message came back"
    );
}

#[tokio::test]
async fn the_independent_body_cannot_publish_to_a_feed_subject() {
    let world = world().await;

    world
        .ib
        .client
        .publish("feed.v1.x", "forged".into())
        .await
        .unwrap();
    world.ib.client.flush().await.unwrap();

    world.ib.expect_violation("Publish to \"feed.v1.x\"").await;
}

#[tokio::test]
async fn the_independent_body_cannot_publish_to_a_complaints_subject() {
    let world = world().await;

    world
        .ib
        .client
        .publish("complaints.x", "forged".into())
        .await
        .unwrap();
    world.ib.client.flush().await.unwrap();

    world
        .ib
        .expect_violation("Publish to \"complaints.x\"")
        .await;
}

#[tokio::test]
async fn the_independent_body_cannot_create_a_stream() {
    let world = world().await;

    world
        .ib
        .assert_denied(
            "STREAM.CREATE.IB_COPY",
            world.ib.js_denied.create_stream(stream::Config {
                name: "IB_COPY".into(),
                subjects: vec!["ib.>".into()],
                ..Default::default()
            }),
        )
        .await;
}

#[tokio::test]
async fn the_independent_body_cannot_delete_the_feed_stream() {
    let world = world().await;

    world
        .ib
        .assert_denied(
            "STREAM.DELETE.FEED",
            world.ib.js_denied.delete_stream("FEED"),
        )
        .await;
}

#[tokio::test]
async fn the_independent_body_cannot_purge_the_feed_stream() {
    let world = world().await;

    world
        .ib
        .assert_denied(
            "STREAM.PURGE.FEED",
            world
                .ib
                .api_request("STREAM.PURGE.FEED", serde_json::json!({})),
        )
        .await;
}

#[tokio::test]
async fn the_independent_body_cannot_read_the_feed_stream_info() {
    let world = world().await;

    world
        .ib
        .assert_denied("STREAM.INFO.FEED", world.ib.js_denied.get_stream("FEED"))
        .await;
}

#[tokio::test]
async fn the_independent_body_cannot_create_a_consumer_on_the_feed() {
    let world = world().await;

    world
        .ib
        .assert_denied(
            "CONSUMER.CREATE.FEED.ib_copy",
            world.ib.js_denied.create_consumer_on_stream(
                pull::Config {
                    durable_name: Some("ib_copy".into()),
                    ..Default::default()
                },
                "FEED",
            ),
        )
        .await;
}

#[tokio::test]
async fn the_independent_body_cannot_delete_its_own_consumer() {
    let world = world().await;

    world
        .ib
        .assert_denied(
            "CONSUMER.DELETE.FEED.ib_feed",
            world
                .ib
                .js_denied
                .delete_consumer_from_stream("ib_feed", "FEED"),
        )
        .await;
}

#[tokio::test]
async fn the_independent_body_cannot_read_a_consumer_of_the_complaints_stream() {
    let world = world().await;

    world
        .ib
        .assert_denied(
            "CONSUMER.INFO.COMPLAINTS.escalation-complaints-policy",
            world
                .ib
                .js_denied
                .get_consumer_from_stream::<pull::Config, _, _>(ESCALATION_POLICY, "COMPLAINTS"),
        )
        .await;
}

#[tokio::test]
async fn the_independent_body_cannot_fetch_from_a_consumer_of_the_complaints_stream() {
    let world = world().await;
    let subject = format!(
        "{}.CONSUMER.MSG.NEXT.COMPLAINTS.{ESCALATION_POLICY}",
        world.ib.api_prefix
    );

    let fetched = tokio::time::timeout(
        DENIED_REQUEST_TIMEOUT,
        world.ib.client.request(
            subject.clone(),
            r#"{"batch":1,"expires":1000000000}"#.into(),
        ),
    )
    .await;

    assert!(
        !matches!(fetched, Ok(Ok(_))),
        "the body fetched from COMPLAINTS"
    );
    world
        .ib
        .expect_violation(&format!("Publish to \"{subject}\""))
        .await;
}

#[tokio::test]
async fn the_independent_body_cannot_get_a_feed_message_by_sequence() {
    let world = world().await;

    world
        .ib
        .assert_denied(
            "STREAM.MSG.GET.FEED",
            world
                .ib
                .api_request("STREAM.MSG.GET.FEED", serde_json::json!({ "seq": 1 })),
        )
        .await;
    world
        .ib
        .assert_denied(
            "DIRECT.GET.FEED",
            world
                .ib
                .api_request("DIRECT.GET.FEED", serde_json::json!({ "seq": 1 })),
        )
        .await;
}

#[tokio::test]
async fn the_independent_body_cannot_subscribe_to_feed_subjects() {
    let world = world().await;

    let _subscription = world.ib.client.subscribe("feed.>").await.unwrap();
    world.ib.client.flush().await.unwrap();

    world
        .ib
        .expect_violation("Subscription to \"feed.>\"")
        .await;
}

#[tokio::test]
async fn the_complaints_user_cannot_publish_to_an_escalation_subject() {
    let world = world().await;
    let complaints = world.nats.connect("complaints").await;

    complaints
        .client
        .publish("escalation.x", "forged".into())
        .await
        .unwrap();
    complaints.client.flush().await.unwrap();

    complaints
        .expect_violation("Publish to \"escalation.x\"")
        .await;
}

#[tokio::test]
async fn the_complaints_user_cannot_create_a_consumer_on_the_feed() {
    let world = world().await;
    let complaints = world.nats.connect("complaints").await;

    complaints
        .assert_denied(
            "CONSUMER.CREATE.FEED.complaints_peek",
            complaints.js_denied.create_consumer_on_stream(
                pull::Config {
                    durable_name: Some("complaints_peek".into()),
                    ..Default::default()
                },
                "FEED",
            ),
        )
        .await;
}

#[tokio::test]
async fn the_escalation_user_cannot_delete_the_independent_bodys_consumer() {
    let world = world().await;
    let escalation = world.nats.connect("escalation").await;

    escalation
        .assert_denied(
            "CONSUMER.DELETE.FEED.ib_feed",
            escalation
                .js_denied
                .delete_consumer_from_stream("ib_feed", "FEED"),
        )
        .await;
}

#[tokio::test]
async fn the_escalation_user_cannot_delete_the_feed_stream() {
    let world = world().await;
    let escalation = world.nats.connect("escalation").await;

    escalation
        .assert_denied(
            "STREAM.DELETE.FEED",
            escalation.js_denied.delete_stream("FEED"),
        )
        .await;
}

#[tokio::test]
async fn a_client_without_credentials_is_refused() {
    let nats = SecuredNats::start().await;

    let connected = async_nats::ConnectOptions::new().connect(nats.url()).await;

    assert!(connected.is_err(), "an anonymous client was let in");
}

#[tokio::test]
async fn async_nats_does_not_send_credentials_written_in_the_url() {
    // So `nats://ib:secret@host:4222` in NATS_URL is not enough: `redress feed tail` takes the
    // user and password as settings of their own.
    let nats = SecuredNats::start().await;
    let url = nats
        .url()
        .replacen("nats://", &format!("nats://ib:{}@", password("ib")), 1);

    let connected = async_nats::ConnectOptions::new()
        .connect(url.as_str())
        .await;

    assert!(
        connected.is_err(),
        "async-nats now logs in with the URL's credentials: NATS_URL may carry them"
    );
}
