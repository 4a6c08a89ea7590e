//! A private NATS server started with Redress's real accounts (`deploy/nats/accounts.conf`),
//! clients logged in as each user, and feed messages with the headers the escalation service
//! puts on them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::pull, message::PublishMessage};
use platform::nats::{Namespace, StreamSpec, ensure_stream, event_subject_token, headers};
use platform::testing::NatsServer;
use proto::feed::v1 as feed;
use tokio::sync::mpsc;
use uuid::Uuid;

/// The accounts file every deployment uses.
pub const ACCOUNTS_CONF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/nats/accounts.conf"
);

/// Each user of the accounts file and the variable its password comes from.
pub const USERS: [(&str, &str); 5] = [
    ("complaints", "REDRESS_NATS_COMPLAINTS_PASSWORD"),
    ("escalation", "REDRESS_NATS_ESCALATION_PASSWORD"),
    ("learning-reviews", "REDRESS_NATS_LEARNING_REVIEWS_PASSWORD"),
    ("ops", "REDRESS_NATS_OPS_PASSWORD"),
    ("ib", "REDRESS_NATS_IB_PASSWORD"),
];

/// The password the test server gives `user`.
pub fn password(user: &str) -> String {
    format!("test-{user}-secret")
}

/// The JetStream domain the independent body's clients use: its account reaches the feed
/// through imports under `$JS.redress.API`.
pub const IB_DOMAIN: &str = "redress";

/// How long a denied request may take to fail: a publish the server refuses gets no reply,
/// so the request ends at the client's timeout.
pub const DENIED_REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);

/// A NATS server with the real accounts. The passwords are set as configuration variables
/// ahead of the file's text, where its `$REDRESS_NATS_*_PASSWORD` references find them before
/// the environment.
pub struct SecuredNats {
    pub server: NatsServer,
}

impl SecuredNats {
    pub async fn start() -> SecuredNats {
        let accounts =
            std::fs::read_to_string(ACCOUNTS_CONF).expect("Failed to read accounts.conf");
        let mut config = String::new();
        for (user, variable) in USERS {
            config.push_str(&format!("{variable}: \"{}\"\n", password(user)));
        }
        config.push_str(&accounts);
        let server = NatsServer::start_with_config(&config)
            .await
            .expect("Failed to start nats-server with deploy/nats/accounts.conf");
        SecuredNats { server }
    }

    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// Logs in as `user` with its password; the independent body through its domain.
    pub async fn connect(&self, user: &str) -> Connection {
        let api_prefix = if user == "ib" {
            format!("$JS.{IB_DOMAIN}.API")
        } else {
            "$JS.API".to_owned()
        };
        Connection::open(
            async_nats::ConnectOptions::new().user_and_password(user.to_owned(), password(user)),
            self.url(),
            &api_prefix,
        )
        .await
        .unwrap_or_else(|e| panic!("Failed to log in as {user}: {e}"))
    }
}

/// A logged-in client that records what the server reports about it.
pub struct Connection {
    pub client: async_nats::Client,
    /// `$JS.API`, or `$JS.redress.API` for the independent body.
    pub api_prefix: String,
    /// For calls that should succeed.
    pub js: jetstream::Context,
    /// For calls that should be denied: gives up sooner.
    pub js_denied: jetstream::Context,
    server_errors: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Connection {
    pub async fn open(
        options: async_nats::ConnectOptions,
        url: &str,
        api_prefix: &str,
    ) -> Result<Connection, async_nats::ConnectError> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let client = options
            .name("redress-permission-test")
            .event_callback(move |event| {
                let sender = sender.clone();
                async move {
                    if let async_nats::Event::ServerError(error) = event {
                        let _ = sender.send(error.to_string());
                    }
                }
            })
            .connect(url)
            .await?;
        Ok(Connection {
            api_prefix: api_prefix.to_owned(),
            js: jetstream::ContextBuilder::new()
                .api_prefix(api_prefix)
                .timeout(Duration::from_secs(10))
                .build(client.clone()),
            js_denied: jetstream::ContextBuilder::new()
                .api_prefix(api_prefix)
                .timeout(DENIED_REQUEST_TIMEOUT)
                .build(client.clone()),
            client,
            server_errors: tokio::sync::Mutex::new(receiver),
            seen,
        })
    }

    /// Waits for the server's permissions violation for `what`, e.g. `Publish to "feed.v1.x"`
    /// or `Subscription to "feed.>"`, as the connection's event callback reports it.
    ///
    /// # Panics
    /// When no such report arrives within 5 s: the permission was granted.
    pub async fn expect_violation(&self, what: &str) {
        if !self.violation_within(what, Duration::from_secs(5)).await {
            panic!(
                "the server reported no permissions violation for {what}; it reported {:?}",
                self.seen.lock().expect("not poisoned")
            );
        }
    }

    /// Whether the server reports a permissions violation for `what` within `wait`.
    pub async fn violation_within(&self, what: &str, wait: Duration) -> bool {
        let wanted = format!("permissions violation for {what}").to_lowercase();
        if self.already_seen(&wanted) {
            return true;
        }
        let mut errors = self.server_errors.lock().await;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, errors.recv()).await {
                Ok(Some(error)) => {
                    let matched = error.to_lowercase().contains(&wanted);
                    self.seen.lock().expect("not poisoned").push(error);
                    if matched {
                        return true;
                    }
                }
                Ok(None) | Err(_) => return false,
            }
        }
    }

    fn already_seen(&self, wanted: &str) -> bool {
        self.seen
            .lock()
            .expect("not poisoned")
            .iter()
            .any(|e| e.to_lowercase().contains(wanted))
    }

    /// Asserts that `call` failed and that the server refused the publish to the JetStream API
    /// subject `<api prefix>.<api>` behind it, e.g. `STREAM.DELETE.FEED`. Either alone is not
    /// proof: a granted request can fail for other reasons (no such stream, no import).
    pub async fn assert_denied<T, E>(&self, api: &str, call: impl Future<Output = Result<T, E>>) {
        let subject = format!("{}.{api}", self.api_prefix);
        let result = call.await;
        assert!(result.is_err(), "the call behind {subject} succeeded");
        self.expect_violation(&format!("Publish to \"{subject}\""))
            .await;
    }

    /// A raw JetStream API request (`<api prefix>.<suffix>`); an error reply counts as failure.
    pub async fn api_request(
        &self,
        suffix: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let reply: serde_json::Value = self
            .js_denied
            .request(suffix.to_owned(), &body)
            .await
            .map_err(|e| e.to_string())?;
        match reply.get("error") {
            Some(error) => Err(error.to_string()),
            None => Ok(reply),
        }
    }
}

/// The durable consumer `ib_feed` exactly as the escalation service creates it: every feed
/// message in order, one unacknowledged at a time, redelivered after 30 s until acknowledged.
pub fn ib_feed_config() -> pull::Config {
    escalation::feed::independent_body_consumer(&Namespace::root()).pull_config()
}

/// The feed as the escalation user sets it up: the `FEED` stream and the `ib_feed` consumer
/// with `config`.
pub async fn create_feed_with(
    escalation: &Connection,
    config: pull::Config,
) -> jetstream::consumer::Consumer<pull::Config> {
    let spec = StreamSpec::for_service(&Namespace::root(), "feed");
    ensure_stream(&escalation.js, &spec)
        .await
        .expect("the escalation user creates FEED");
    escalation
        .js
        .create_consumer_on_stream(config, "FEED")
        .await
        .expect("the escalation user creates ib_feed")
}

/// The feed exactly as Redress sets it up.
pub async fn create_feed(escalation: &Connection) -> jetstream::consumer::Consumer<pull::Config> {
    create_feed_with(escalation, ib_feed_config()).await
}

/// The headers of a feed message at `position`, as the escalation service sets them.
pub fn feed_headers(position: u64, message_type: &str, escalation_id: Uuid, id: Uuid) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(
        escalation::feed::POSITION_HEADER,
        position.to_string().as_str(),
    );
    map.insert(headers::CE_SPECVERSION, "1.0");
    map.insert(headers::CE_ID, id.to_string().as_str());
    map.insert(headers::CE_TYPE, message_type);
    map.insert(headers::CE_SOURCE, escalation::feed::SOURCE);
    map.insert(
        headers::CE_TIME,
        jiff::Timestamp::now().to_string().as_str(),
    );
    map.insert(headers::CE_SUBJECT, escalation_id.to_string().as_str());
    map.insert(headers::CONTENT_TYPE, headers::PROTOBUF);
    map.insert(
        headers::TRACEPARENT,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    map
}

/// Publishes a feed message of any type and payload, waits for the stream's acknowledgement and
/// returns its message id.
pub async fn publish_raw(
    js: &jetstream::Context,
    position: u64,
    message_type: &str,
    escalation_id: Uuid,
    payload: Vec<u8>,
) -> Uuid {
    let id = Uuid::now_v7();
    let subject = format!(
        "feed.v1.{}.{escalation_id}",
        event_subject_token(message_type)
    );
    let message = PublishMessage::build()
        .payload(payload.into())
        .headers(feed_headers(position, message_type, escalation_id, id))
        .message_id(id.to_string());
    js.send_publish(subject, message)
        .await
        .expect("publish sent")
        .await
        .expect("publish acknowledged by FEED");
    id
}

/// Publishes `message` as the feed message at `position`.
pub async fn publish_feed<M: prost::Message + prost::Name>(
    js: &jetstream::Context,
    position: u64,
    escalation_id: Uuid,
    message: &M,
) -> Uuid {
    publish_raw(
        js,
        position,
        &M::full_name(),
        escalation_id,
        message.encode_to_vec(),
    )
    .await
}

/// A protobuf timestamp at whole seconds.
pub fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// A referral as the escalation service would put it on the feed.
pub fn referred(escalation_id: Uuid) -> feed::EscalationReferred {
    feed::EscalationReferred {
        escalation_id: escalation_id.to_string(),
        case_ref: "ESC-2025-7K3QMX2D".into(),
        referred_at: at(1_767_600_000),
        grounds: vec![
            feed::Ground::Discourtesy as i32,
            feed::Ground::FailureToInvestigateProperly as i32,
        ],
        remit: feed::Remit::Schools as i32,
        key_dates: Some(feed::KeyDates {
            last_onsite_on: "2025-11-12".into(),
            draft_report_issued_at: at(1_763_400_000),
            complaint_submitted_at: at(1_763_900_000),
            response_issued_at: at(1_766_000_000),
            escalation_requested_at: at(1_767_000_000),
            application_window_closed_at: at(1_772_000_000),
        }),
        complaint_outcome: feed::ComplaintOutcome::NotUpheld as i32,
        response_overdue: false,
        documents: vec![feed::AvailableDocument {
            document_id: "doc-1".into(),
            kind: feed::DocumentKind::Complaint as i32,
        }],
    }
}

/// The body's acceptance, the usual second message of a case.
pub fn accepted(escalation_id: Uuid) -> feed::ReferralAccepted {
    feed::ReferralAccepted {
        escalation_id: escalation_id.to_string(),
        case_ref: "ESC-2025-7K3QMX2D".into(),
        accepted_at: at(1_767_700_000),
    }
}

/// `referred` then `accepted`, as `count` messages of one case at positions `from`, `from + 1`, ….
pub async fn publish_case(js: &jetstream::Context, from: u64, count: u64) -> Uuid {
    let escalation_id = Uuid::now_v7();
    for position in from..from + count {
        if position == from {
            publish_feed(js, position, escalation_id, &referred(escalation_id)).await;
        } else {
            publish_feed(js, position, escalation_id, &accepted(escalation_id)).await;
        }
    }
    escalation_id
}

/// The full name of a feed message type, e.g. `redress.feed.v1.EscalationReferred`.
pub fn type_name<M: prost::Name>() -> String {
    M::full_name()
}

/// The stream of complaints as the complaints user creates it, with one event.
pub async fn create_complaints_stream(complaints: &Connection) {
    let spec = StreamSpec::for_service(&Namespace::root(), "complaints");
    ensure_stream(&complaints.js, &spec)
        .await
        .expect("the complaints user creates COMPLAINTS");
    complaints
        .js
        .publish(
            format!("complaints.complaint_submitted.{}", Uuid::now_v7()),
            vec![1, 2, 3].into(),
        )
        .await
        .expect("publish sent")
        .await
        .expect("publish acknowledged by COMPLAINTS");
}
