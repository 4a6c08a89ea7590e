//! Test support: the whole escalation service in-process, on a port of its own, against a fresh
//! database and a private NATS server, with a settable clock and tokens for any role.
//!
//! Background work does not run on its own here: tests drive it with [`TestApp::settle`] (the
//! complaints policy, the read models and the feed translator apply what is there) and
//! [`TestApp::relay_once`], so nothing depends on sleeping. Complaint facts reach the service
//! as they would in production: published to the `COMPLAINTS` stream ([`TestApp::publish_complaint_event`]).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use jiff::Timestamp;
use platform::clock::Clock;
use platform::grpc::Role;
use platform::nats::{Namespace, headers};
use platform::pg::Pool;
use platform::testing::{NatsServer, TestDb, TestTokens, unique_prefix};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::app::{App, Context};
use crate::config::Config;
use crate::feed::Feed;
use crate::read_models::ReadModels;

/// A running service and handles on everything a test needs.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub context: Arc<Context>,
    pub read_models: Arc<ReadModels>,
    pub feed: Arc<Feed>,
    pub nats: NatsServer,
    pub namespace: Namespace,
    pub js: jetstream::Context,
    app: App,
    tokens: TestTokens,
    stop: CancellationToken,
    db: TestDb,
}

/// Starts the service. The clock is fixed at 2025-09-01T09:00:00Z until a test moves it.
///
/// # Panics
/// When PostgreSQL or a NATS server binary is not available: the test cannot run.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(NatsServer::start().await.expect("Failed to start NATS.")).await
}

/// Starts the service against an already running NATS server.
///
/// # Panics
/// As [`spawn_app`].
pub async fn spawn_app_on(nats: NatsServer) -> TestApp {
    platform::telemetry::init_for_tests();
    let db = TestDb::create()
        .await
        .expect("Failed to create a test database.");
    let pool = db
        .pool("escalation")
        .await
        .expect("Failed to connect to the test database.");
    platform::migrate::apply(&pool, "escalation", &[platform::migrate::EVENT_STORE])
        .await
        .expect("Failed to migrate the test database.");
    pool.close().await;
    let namespace = Namespace::prefixed(&unique_prefix()).expect("a valid prefix");
    let tokens = TestTokens::new();
    let mut config = Config::new(db.url().to_owned(), vec![tokens.public_key()]);
    config.jwt_issuer = TestTokens::ISSUER.to_owned();
    config.jwt_audience = TestTokens::AUDIENCE.to_owned();
    config.nats_url = Some(nats.url().to_owned());
    config.namespace = namespace.clone();
    config.max_read_wait = Duration::from_secs(2);
    let start: Timestamp = "2025-09-01T09:00:00Z".parse().expect("a valid timestamp");
    let app = App::build(config, Clock::fixed(start))
        .await
        .expect("Failed to build the app.");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("Failed to bind a port.");
    let address = format!("http://{}", listener.local_addr().expect("a bound address"));
    let stop = CancellationToken::new();
    let server = app.server();
    let stopped = stop.clone();
    tokio::spawn(async move { server.serve(listener, stopped.cancelled_owned()).await });
    let js = jetstream::new(nats.client().await.expect("Failed to connect to NATS."));
    TestApp {
        address,
        context: app.context.clone(),
        read_models: app.read_models.clone(),
        feed: app.feed.clone(),
        nats,
        namespace,
        js,
        app,
        tokens,
        stop,
        db,
    }
}

impl TestApp {
    /// A valid bearer token (with the `Bearer ` prefix) for subject `test:<role>`.
    pub fn token(&self, role: Role, provider: Option<&str>) -> String {
        self.tokens.token(role, provider)
    }

    /// A valid bearer token (with the `Bearer ` prefix) for `subject`.
    pub fn token_for(&self, subject: &str, role: Role, provider: Option<&str>) -> String {
        self.tokens.token_for(subject, role, provider)
    }

    /// The service's clock; move it to put the service at another moment.
    pub fn clock(&self) -> &Clock {
        &self.context.clock
    }

    /// The service's pool (search path: the escalation schema).
    pub fn db_pool(&self) -> &Pool {
        self.context.store.pool()
    }

    /// The test database's connection string.
    pub fn database_url(&self) -> &str {
        self.db.url()
    }

    /// Publishes a complaints-context event to the `COMPLAINTS` stream as the complaints relay
    /// would (subject, `Nats-Msg-Id`, `ce-type`); returns its event id.
    ///
    /// # Panics
    /// When NATS does not acknowledge it.
    pub async fn publish_complaint_event<M: prost::Message + prost::Name>(
        &self,
        complaint_id: Uuid,
        event: &M,
    ) -> Uuid {
        let event_id = Uuid::now_v7();
        self.publish_complaint_event_with_id(event_id, complaint_id, event)
            .await;
        event_id
    }

    /// As [`Self::publish_complaint_event`], with a given event id (to test redelivery).
    ///
    /// # Panics
    /// When NATS does not acknowledge it.
    pub async fn publish_complaint_event_with_id<M: prost::Message + prost::Name>(
        &self,
        event_id: Uuid,
        complaint_id: Uuid,
        event: &M,
    ) {
        self.publish_raw_complaint_event(
            event_id,
            complaint_id,
            &M::full_name(),
            event.encode_to_vec(),
        )
        .await;
    }

    /// Publishes any payload as a complaints event of type `event_type` (to test what the
    /// policy does with what it cannot read).
    ///
    /// # Panics
    /// When NATS does not acknowledge it.
    pub async fn publish_raw_complaint_event(
        &self,
        event_id: Uuid,
        complaint_id: Uuid,
        event_type: &str,
        payload: Vec<u8>,
    ) {
        let subject =
            self.namespace
                .event_subject(crate::policy::COMPLAINTS, event_type, &complaint_id);
        let mut map = async_nats::HeaderMap::new();
        map.insert(headers::CE_TYPE, event_type);
        map.insert(headers::CE_ID, event_id.to_string().as_str());
        map.insert(
            async_nats::header::NATS_MESSAGE_ID,
            event_id.to_string().as_str(),
        );
        self.js
            .publish_with_headers(subject, map, payload.into())
            .await
            .expect("Failed to publish.")
            .await
            .expect("NATS did not acknowledge.");
    }

    /// Lets the complaints policy copy what is pending, then the read models and the feed
    /// translator apply everything committed.
    ///
    /// # Panics
    /// When a background step fails: the test has found a bug.
    pub async fn settle(&self) {
        self.app
            .consume_complaints_once()
            .await
            .expect("complaints policy failed");
        self.read_models
            .run_once()
            .await
            .expect("read models failed");
        self.feed.run_once().await.expect("feed translator failed");
    }

    /// Publishes every committed event (own stream and feed); returns how many.
    ///
    /// # Panics
    /// When publishing fails.
    pub async fn relay_once(&self) -> usize {
        self.app.relay_once().await.expect("relay failed")
    }

    /// A gRPC channel to the service.
    ///
    /// # Panics
    /// When the service does not answer.
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.address.clone())
            .expect("a valid address")
            .connect()
            .await
            .expect("Failed to connect to the service.")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The written allow-list of the feed (`docs/feed/allow-list.txt`): `<message>.<field>` lines.
pub const FEED_ALLOW_LIST: &str = include_str!("../../../docs/feed/allow-list.txt");

/// Every field of a feed message, as it is on the wire, that the allow-list does not name —
/// also inside nested messages, and also fields this build's schema does not know (reported as
/// `<message>.#<number>`). Walks the protobuf encoding with the compiled descriptor set rather
/// than decoding into the generated type, which would silently drop unknown fields.
///
/// # Panics
/// When the descriptor set does not describe `message_type` or the payload is not protobuf.
pub fn fields_outside_feed_allow_list(message_type: &str, payload: &[u8]) -> Vec<String> {
    use prost::Message;
    use prost_types::field_descriptor_proto::Type;
    let set = prost_types::FileDescriptorSet::decode(proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    let mut messages = std::collections::HashMap::new();
    for file in &set.file {
        for message in &file.message_type {
            messages.insert(
                format!("{}.{}", file.package(), message.name()),
                message.clone(),
            );
        }
    }
    let allowed: std::collections::HashSet<&str> = FEED_ALLOW_LIST
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut outside = Vec::new();
    let mut pending = vec![(message_type.to_owned(), payload.to_vec())];
    while let Some((name, bytes)) = pending.pop() {
        let descriptor = messages
            .get(&name)
            .unwrap_or_else(|| panic!("no descriptor for {name}"));
        for (number, value) in wire_fields(&bytes) {
            let Some(field) = descriptor
                .field
                .iter()
                .find(|f| f.number() == i32::try_from(number).unwrap_or(-1))
            else {
                outside.push(format!("{name}.#{number}"));
                continue;
            };
            let path = format!("{name}.{}", field.name());
            if !allowed.contains(path.as_str()) {
                outside.push(path);
                continue;
            }
            if field.r#type() == Type::Message
                && let Some(nested) = value
            {
                pending.push((field.type_name().trim_start_matches('.').to_owned(), nested));
            }
        }
    }
    outside
}

/// The fields of one protobuf message: number, and the bytes of a length-delimited value.
fn wire_fields(mut bytes: &[u8]) -> Vec<(u64, Option<Vec<u8>>)> {
    fn varint(bytes: &mut &[u8]) -> u64 {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = bytes.split_first().expect("a complete varint");
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        value
    }
    let mut fields = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes);
        let (number, wire_type) = (key >> 3, key & 7);
        let value = match wire_type {
            0 => {
                varint(&mut bytes);
                None
            }
            1 => {
                bytes = &bytes[8..];
                None
            }
            2 => {
                let len = usize::try_from(varint(&mut bytes)).expect("a length");
                let (value, rest) = bytes.split_at(len);
                bytes = rest;
                Some(value.to_vec())
            }
            5 => {
                bytes = &bytes[4..];
                None
            }
            other => panic!("unexpected wire type {other}"),
        };
        fields.push((number, value));
    }
    fields
}
