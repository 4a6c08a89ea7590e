//! What the NATS users of `deploy/nats/accounts.conf` do beyond the user × action matrix of
//! `nats_matrix`, against a real server started with that file: the feed and its consumer with
//! the settings the escalation user gives them, the independent body reading the whole feed in
//! order, direct gets, and credentials in a URL. A denial is proven by the call failing *and* the
//! server reporting the permissions violation for the exact subject.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
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
async fn the_independent_body_cannot_get_a_feed_message_directly() {
    // STREAM.MSG.GET, and everything else the matrix lists, is in `nats_matrix`; direct gets
    // have an API subject of their own.
    let world = world().await;

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
