//! The independent body's feed (design rule 8): escalation events translated into the
//! minimised `redress.feed.v1` contract, numbered without gaps, published to a stream of their
//! own.
//!
//! * **Translate.** [`Translator`] is a projection over the service's log: for every escalation
//!   event the body should learn of, it builds one feed message from an allow-list of fields
//!   (`docs/feed/allow-list.txt`; see [`translate`]) and appends it, in the same transaction as
//!   its checkpoint, to the one stream of type [`STREAM_TYPE`] in the escalation event store.
//!   The stream's version is the **feed position**: the store's `(stream_id, version)` key makes
//!   it gap-free and the checkpoint lock makes the translator its single writer, so the feed is
//!   exactly once in effect and is itself on record. Its output is durable, so the translator is
//!   never rebuilt.
//! * **Publish.** A relay of its own (checkpoint `relay.feed`) publishes those events, and only
//!   those, to the JetStream stream `FEED` on `feed.v1.<message>.<escalation_id>` with
//!   `Nats-Msg-Id`, `Redress-Feed-Position`, the CloudEvents headers and the trace context; the
//!   service's own relay skips them. The gauges `redress_feed_position` and
//!   `redress_feed_published_position` show how far each has got.
//! * **Read.** The body reads its durable pull consumer [`DURABLE`] (created here, never by the
//!   body) with credentials that allow nothing else (`deploy/nats`).

mod translate;

use std::sync::Arc;

use async_nats::HeaderMap;
use platform::aggregate::Aggregate;
use platform::consumer::ConsumerSpec;
use platform::nats::{Namespace, event_subject_token, headers};
use platform::pg::Pool;
use platform::projection::{Projection, ProjectionRunner};
use platform::relay::{Outgoing, RelayConfig, Route};
use platform::tail::RecordedEvent;
use platform::telemetry::names;
use prost::Message;
use sqlx::PgConnection;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use translate::{FeedMessage, translate};

use crate::app::Context;
use crate::domain::escalation::Escalation;

/// The service name of the feed's JetStream stream: `FEED`, subjects `feed.>`.
pub const STREAM: &str = "feed";

/// The stream type of the feed in the escalation event store.
pub const STREAM_TYPE: &str = "independent_body_feed";

/// The one feed stream in the log; its versions are the feed positions.
pub const FEED_STREAM_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_feed);

/// The independent body's durable consumer of `FEED`.
pub const DURABLE: &str = "ib_feed";

/// The header carrying the feed position.
pub const POSITION_HEADER: &str = "Redress-Feed-Position";

/// The `ce-source` of every feed message.
pub const SOURCE: &str = "urn:redress:escalation";

/// The independent body's consumer: every feed message in order, one in flight, redelivered
/// until acknowledged (never dropped after a number of deliveries: the feed must stay complete).
pub fn independent_body_consumer(namespace: &Namespace) -> ConsumerSpec {
    let mut spec = ConsumerSpec::new(
        &namespace.stream_name(STREAM),
        DURABLE,
        vec![format!("{}.>", namespace.subject_root(STREAM))],
    );
    spec.max_deliver = -1;
    spec
}

/// The first field of every feed message: the escalation it is about.
#[derive(Clone, PartialEq, Message)]
struct Head {
    #[prost(string, tag = "1")]
    escalation_id: String,
}

/// The relay of the feed events to `FEED`.
pub fn relay_config(namespace: &Namespace) -> RelayConfig {
    let mut config = RelayConfig::new(crate::app::SERVICE, namespace.clone());
    config.name = "relay.feed".to_owned();
    let root = format!("{}.v1", namespace.subject_root(STREAM));
    config.route = Route::new(move |event| {
        if event.stream_type != STREAM_TYPE {
            return None;
        }
        let escalation_id = Head::decode(event.payload.as_slice())
            .map(|h| h.escalation_id)
            .unwrap_or_default();
        Some(Outgoing {
            subject: format!(
                "{root}.{}.{}",
                event_subject_token(&event.event_type),
                if escalation_id.is_empty() {
                    "unknown"
                } else {
                    &escalation_id
                }
            ),
            headers: feed_headers(event, &escalation_id),
            message_id: event.event_id.to_string(),
        })
    });
    config
}

/// The headers of a feed message: CloudEvents binary mode and the feed position; nothing about
/// the internal log.
fn feed_headers(event: &RecordedEvent, escalation_id: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(headers::CE_SPECVERSION, "1.0");
    map.insert(headers::CE_ID, event.event_id.to_string().as_str());
    map.insert(headers::CE_TYPE, event.event_type.as_str());
    map.insert(headers::CE_SOURCE, SOURCE);
    map.insert(headers::CE_TIME, event.recorded_at.to_string().as_str());
    map.insert(headers::CE_SUBJECT, escalation_id);
    map.insert(headers::CONTENT_TYPE, headers::PROTOBUF);
    map.insert(POSITION_HEADER, event.version.to_string().as_str());
    map
}

/// The translator projection.
#[derive(Debug)]
pub struct Translator;

impl Projection for Translator {
    fn name(&self) -> &'static str {
        "feed"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    fn create_tables(&self) -> &'static str {
        "SELECT 1"
    }

    fn rebuildable(&self) -> bool {
        false
    }

    fn appends_events(&self) -> bool {
        true
    }

    fn stream_types(&self) -> Option<&'static [&'static str]> {
        const READS: &[&str] = &[<Escalation as Aggregate>::STREAM_TYPE];
        Some(READS)
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        translate::apply(conn, events).await
    }
}

/// The running translator.
#[derive(Debug)]
pub struct Feed {
    translator: ProjectionRunner<Translator>,
    pool: Pool,
}

impl Feed {
    /// Creates the translator's checkpoint on first start.
    ///
    /// # Errors
    /// Database errors; a translator whose version changed (it is never rebuilt).
    pub async fn start(context: &Arc<Context>) -> anyhow::Result<Arc<Feed>> {
        let translator = ProjectionRunner::new(&context.store, &context.schema, Translator)?;
        translator.init().await?;
        Ok(Arc::new(Feed {
            translator,
            pool: context.store.pool().clone(),
        }))
    }

    /// Spawns the translator's run loop, and the loop that keeps the feed's position gauges.
    pub fn spawn(
        self: &Arc<Self>,
        tasks: &mut JoinSet<anyhow::Result<()>>,
        stop: &CancellationToken,
    ) {
        let (me, token) = (Arc::clone(self), stop.clone());
        tasks.spawn(async move { me.translator.run(token).await });
        let (me, token) = (Arc::clone(self), stop.clone());
        tasks.spawn(async move { me.report_positions(token).await });
    }

    /// Sets `redress_feed_position` (the last position translated) and
    /// `redress_feed_published_position` (the last one the feed relay has had acknowledged) every
    /// second until `stop`. Both are read from the log, so every replica reports the same.
    async fn report_positions(&self, stop: CancellationToken) -> anyhow::Result<()> {
        loop {
            match self.positions().await {
                Ok((translated, published)) => {
                    metrics::gauge!(names::FEED_POSITION, "service" => crate::app::SERVICE)
                        .set(translated as f64);
                    metrics::gauge!(names::FEED_PUBLISHED_POSITION, "service" => crate::app::SERVICE)
                        .set(published as f64);
                }
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot read the feed positions"
                ),
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }

    /// The last feed position translated, and the last one published; 0 before the first.
    async fn positions(&self) -> sqlx::Result<(i64, i64)> {
        sqlx::query_as(
            "SELECT coalesce((SELECT max(version) FROM events WHERE stream_id = $1), 0)::bigint,
                    coalesce((SELECT max(e.version) FROM events e JOIN checkpoints c
                                  ON c.name = 'relay.feed'
                                 AND (e.transaction_id, e.position) <= (c.transaction_id, c.position)
                              WHERE e.stream_id = $1), 0)::bigint",
        )
        .bind(FEED_STREAM_ID)
        .fetch_one(&self.pool)
        .await
    }

    /// Translates every committed event (tests and operator tools); returns how many events it
    /// read.
    ///
    /// # Errors
    /// Database errors.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        self.translator.run_once().await
    }
}
