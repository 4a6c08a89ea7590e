use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt;
use platform::event_store::ExpectedVersion;
use platform::nats::{Namespace, StreamSpec, ensure_stream, headers};
use platform::relay::{Relay, RelayConfig};
use platform::tail::Position;
use platform::testing::NatsServer;
use uuid::Uuid;

use crate::helpers::{Store, append_streams, metadata, opened, prefix, store};

pub struct Setup {
    pub s: Store,
    pub nats: NatsServer,
    pub js: jetstream::Context,
    pub namespace: Namespace,
    pub stream: String,
}

pub async fn setup() -> Setup {
    let s = store().await;
    let nats = NatsServer::start().await.unwrap();
    let js = jetstream::new(nats.client().await.unwrap());
    let namespace = Namespace::prefixed(&prefix()).unwrap();
    let spec = StreamSpec::for_service(&namespace, "ledgers");
    ensure_stream(&js, &spec).await.unwrap();
    Setup {
        s,
        nats,
        js,
        namespace,
        stream: spec.name,
    }
}

impl Setup {
    pub fn relay(&self) -> Relay {
        Relay::new(
            &self.s.store,
            self.js.clone(),
            RelayConfig::new("ledgers", self.namespace.clone()),
        )
    }

    pub async fn stream_messages(&self) -> u64 {
        self.js
            .get_stream(&self.stream)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages
    }

    /// Every message in the stream, in stream order.
    pub async fn read_stream(&self) -> Vec<jetstream::Message> {
        let stream = self.js.get_stream(&self.stream).await.unwrap();
        let consumer = stream
            .create_consumer(pull::Config {
                ack_policy: jetstream::consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
        let count = self.stream_messages().await as usize;
        let mut messages = Vec::new();
        let mut batch = consumer
            .fetch()
            .max_messages(count.max(1))
            .messages()
            .await
            .unwrap();
        while let Some(message) = batch.next().await {
            messages.push(message.unwrap());
        }
        messages
    }
}

#[tokio::test]
async fn the_relay_publishes_every_event_once_in_log_order_with_its_headers() {
    let t = setup().await;
    let ids = append_streams(&t.s.store, 5).await;

    let published = t.relay().run_once().await.unwrap();

    assert_eq!(published, 5);
    let messages = t.read_stream().await;
    let read: Vec<Uuid> = messages
        .iter()
        .map(|m| {
            Uuid::parse_str(
                m.headers
                    .as_ref()
                    .unwrap()
                    .get(async_nats::header::NATS_MESSAGE_ID)
                    .unwrap()
                    .as_str(),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(read, ids);
    let first = &messages[0];
    let h = first.headers.as_ref().unwrap();
    let event =
        &t.s.store
            .read_stream(ids_stream(&t, ids[0]).await, 0)
            .await
            .unwrap()[0];
    assert_eq!(h.get(headers::CE_SPECVERSION).unwrap().as_str(), "1.0");
    assert_eq!(h.get(headers::CE_ID).unwrap().as_str(), ids[0].to_string());
    assert_eq!(
        h.get(headers::CE_TYPE).unwrap().as_str(),
        "redress.testing.ledger.Opened"
    );
    assert_eq!(
        h.get(headers::CE_SOURCE).unwrap().as_str(),
        "urn:redress:ledgers"
    );
    assert_eq!(
        h.get(headers::CE_SUBJECT).unwrap().as_str(),
        event.stream_id.to_string()
    );
    assert_eq!(
        h.get(headers::CE_TIME).unwrap().as_str(),
        event.recorded_at.to_string()
    );
    assert_eq!(
        h.get(headers::CONTENT_TYPE).unwrap().as_str(),
        "application/protobuf"
    );
    assert_eq!(
        h.get(headers::POSITION).unwrap().as_str(),
        event.position.to_string()
    );
    assert_eq!(h.get(headers::STREAM_VERSION).unwrap().as_str(), "1");
    assert_eq!(
        first.subject.as_str(),
        t.namespace
            .event_subject("ledgers", "redress.testing.ledger.Opened", &event.stream_id)
    );
    assert_eq!(first.payload.as_ref(), event.payload.as_slice());
    assert_eq!(
        t.relay().checkpoint().await.unwrap(),
        event_position_of_last(&t).await
    );
}

async fn ids_stream(t: &Setup, event_id: Uuid) -> Uuid {
    sqlx::query_scalar("SELECT stream_id FROM events WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(t.s.store.pool())
        .await
        .unwrap()
}

async fn event_position_of_last(t: &Setup) -> Position {
    let (tx, sequence): (i64, i64) = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1",
    )
    .fetch_one(t.s.store.pool())
    .await
    .unwrap();
    Position {
        transaction: tx as u64,
        sequence,
    }
}

#[tokio::test]
async fn the_trace_context_of_the_command_travels_in_the_traceparent_header() {
    let t = setup().await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let meta = platform::tail::Metadata {
        traceparent: Some(traceparent.into()),
        ..metadata()
    };
    t.s.store
        .append(
            "ledger",
            Uuid::now_v7(),
            ExpectedVersion::NoStream,
            &[opened("a")],
            &meta,
            None,
        )
        .await
        .unwrap();

    t.relay().run_once().await.unwrap();

    let messages = t.read_stream().await;
    let sent = messages[0]
        .headers
        .as_ref()
        .unwrap()
        .get(headers::TRACEPARENT)
        .unwrap()
        .as_str()
        .to_owned();
    assert_eq!(
        &sent[..35],
        &traceparent[..35],
        "the trace id must be the command's"
    );
}

#[tokio::test]
async fn a_relay_killed_after_acknowledgement_before_its_checkpoint_causes_no_duplicate() {
    let scenario = fail::FailScenario::setup();
    let t = setup().await;
    let ids = append_streams(&t.s.store, 20).await;
    crate::helpers::wait_until_readable(&t.s.store, 20).await;
    fail::cfg("relay::after_ack_before_checkpoint", "1*return").unwrap();

    // Act: the first relay publishes, is acknowledged, and dies before saving its checkpoint.
    let crashed = t.relay().run_once().await;
    assert!(crashed.is_err());
    assert_eq!(
        t.relay().checkpoint().await.unwrap(),
        Position::START,
        "the checkpoint must not have moved"
    );
    assert_eq!(t.stream_messages().await, 20);
    // A new relay starts from the old checkpoint and publishes everything again.
    let republished = t.relay().run_once().await.unwrap();

    // Assert: JetStream kept one copy of each; a consumer applies each event once.
    assert_eq!(republished, 20);
    assert_eq!(
        t.stream_messages().await,
        20,
        "Nats-Msg-Id must de-duplicate the republished events"
    );
    let mut seen: HashMap<String, usize> = HashMap::new();
    for message in t.read_stream().await {
        let id = message
            .headers
            .as_ref()
            .unwrap()
            .get(async_nats::header::NATS_MESSAGE_ID)
            .unwrap()
            .as_str()
            .to_owned();
        *seen.entry(id).or_default() += 1;
    }
    assert_eq!(seen.len(), ids.len());
    assert!(seen.values().all(|&n| n == 1));
    scenario.teardown();
}

#[tokio::test]
async fn when_nats_is_down_the_checkpoint_stays_and_nothing_is_lost() {
    let t = setup().await;
    append_streams(&t.s.store, 3).await;
    let relay = t.relay();
    let Setup { s, nats, .. } = t;
    drop(nats);

    let result = tokio::time::timeout(Duration::from_secs(30), relay.run_once())
        .await
        .unwrap();

    assert!(result.is_err());
    assert_eq!(relay.checkpoint().await.unwrap(), Position::START);
    drop(s);
}

#[tokio::test]
async fn only_one_relay_leads_at_a_time() {
    let t = setup().await;
    let leader = t.relay();
    let mut lock = t.s.store.pool().acquire().await.unwrap();
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('redress.relay.ledgers'))")
            .fetch_one(&mut *lock)
            .await
            .unwrap();
    assert!(locked);

    let result = leader.run_once().await;

    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains("another relay is leading")
    );
}

#[tokio::test]
async fn a_running_relay_publishes_new_events_as_they_commit_and_stops_on_shutdown() {
    let t = setup().await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(t.relay().run(shutdown.clone()));

    append_streams(&t.s.store, 3).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while t.stream_messages().await < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay did not publish within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();

    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(t.stream_messages().await, 3);
}

#[tokio::test]
async fn a_command_in_a_traced_request_carries_its_trace_through_the_store_into_nats() {
    let t = setup().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut incoming = http::HeaderMap::new();
    incoming.insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    let request = tracing::info_span!("grpc.request");
    platform::telemetry::set_parent_from_headers(&request, &incoming);

    let meta = request
        .in_scope(|| platform::tail::Metadata::for_command("test:user", Uuid::now_v7(), None));
    t.s.store
        .append(
            "ledger",
            Uuid::now_v7(),
            ExpectedVersion::NoStream,
            &[opened("a")],
            &meta,
            None,
        )
        .await
        .unwrap();
    t.relay().run_once().await.unwrap();

    assert!(
        meta.traceparent.as_deref().unwrap().contains(trace_id),
        "{meta:?}"
    );
    let messages = t.read_stream().await;
    let sent = messages[0]
        .headers
        .as_ref()
        .unwrap()
        .get(headers::TRACEPARENT)
        .unwrap()
        .as_str()
        .to_owned();
    assert!(
        sent.contains(trace_id),
        "published traceparent {sent} is not in the command's trace"
    );
}

#[tokio::test]
async fn a_routed_relay_publishes_only_what_its_route_selects_and_moves_past_the_rest() {
    use platform::relay::{Outgoing, Route};
    let t = setup().await;
    let ids = append_streams(&t.s.store, 4).await;
    let selected: Vec<Uuid> = vec![ids[1], ids[3]];
    let keep = selected.clone();
    let namespace = t.namespace.clone();
    let mut config = RelayConfig::new("ledgers", t.namespace.clone());
    config.name = "relay.selected".to_owned();
    config.route = Route::new(move |event| {
        keep.contains(&event.event_id).then(|| Outgoing {
            subject: format!(
                "{}.selected.{}",
                namespace.subject_root("ledgers"),
                event.stream_id
            ),
            headers: async_nats::HeaderMap::new(),
            message_id: event.event_id.to_string(),
        })
    });
    let relay = Relay::new(&t.s.store, t.js.clone(), config);

    let published = relay.run_once().await.unwrap();

    assert_eq!(published, 2);
    let read: Vec<Uuid> = t
        .read_stream()
        .await
        .iter()
        .map(|m| {
            Uuid::parse_str(
                m.headers
                    .as_ref()
                    .unwrap()
                    .get(async_nats::header::NATS_MESSAGE_ID)
                    .unwrap()
                    .as_str(),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(read, selected);
    let last =
        t.s.store
            .read_stream(ids_stream(&t, ids[3]).await, 0)
            .await
            .unwrap()[0]
            .position;
    assert_eq!(
        relay.checkpoint().await.unwrap(),
        last,
        "skipped events count as done"
    );
    assert_eq!(relay.run_once().await.unwrap(), 0);
    // The service's own relay keeps its own checkpoint.
    assert_eq!(t.relay().checkpoint().await.unwrap(), Position::START);
}
