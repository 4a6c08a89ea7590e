//! The relay: copies a service's events from PostgreSQL to its JetStream stream.
//!
//! The events table is the outbox. One relay per service leads (a session advisory lock); it
//! reads the log in tail order, publishes each event with `Nats-Msg-Id` = event id, keeps many
//! publishes in flight, and moves its checkpoint only over the contiguous prefix the server has
//! acknowledged. A relay that dies after an acknowledgement but before its checkpoint moved
//! republishes those events on restart; JetStream drops them as duplicates inside the stream's
//! duplicate window, and consumers de-duplicate by event id beyond it.
//!
//! What a relay publishes, where, and with which headers is its [`Route`]: by default every
//! event to the service's own stream ([`Route::service_stream`]). A service may run several
//! relays over one log, each with its own name (its checkpoint and leader lock) and route — the
//! escalation service publishes its independent-body feed, a stream of its log, to a stream of
//! its own that way. Events a route skips count as done for its checkpoint.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use sqlx::{Connection, PgConnection};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::event_store::EventStore;
use crate::nats::{Namespace, headers};
use crate::pg::{Pool, Xid8};
use crate::tail::{self, CatchUp, Position, RecordedEvent, Wakeup};
use crate::telemetry::{self, names};

/// How often an idle leader checks its lock connection and refreshes its backlog gauges.
const LEAD_CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long a leader may hold, unsaved, a checkpoint it moved past events its route skips;
/// at most this much of the log is read again by the next leader.
const SAVE_SKIPPED_AFTER: Duration = Duration::from_millis(250);

/// What one page of publishing did.
#[derive(Clone, Copy, Debug)]
struct Page {
    /// The checkpoint: everything up to here is acknowledged or skipped.
    acked: Position,
    /// Events published and acknowledged (skipped ones are not counted).
    published: usize,
    /// Whether the page was full, so more may follow at once.
    full: bool,
    /// Whether `acked` was saved.
    saved: bool,
}

/// Where one event goes.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub subject: String,
    pub headers: HeaderMap,
    /// JetStream's deduplication id.
    pub message_id: String,
}

type RouteFn = dyn Fn(&RecordedEvent) -> Option<Outgoing> + Send + Sync;

/// Decides, for each event of the log, whether a relay publishes it and how. `None` skips it.
#[derive(Clone)]
pub struct Route(Arc<RouteFn>);

impl Route {
    /// A route from a function.
    pub fn new(route: impl Fn(&RecordedEvent) -> Option<Outgoing> + Send + Sync + 'static) -> Self {
        Route(Arc::new(route))
    }

    /// Every event whose stream type is not in `skipped`, to `<service>.<event>.<stream id>` with
    /// [`event_headers`] and `Nats-Msg-Id` = event id.
    pub fn service_stream(service: &str, namespace: Namespace, skipped: &[&str]) -> Self {
        let service = service.to_owned();
        let skipped: Vec<String> = skipped.iter().map(|s| (*s).to_owned()).collect();
        Route::new(move |event| {
            if skipped.contains(&event.stream_type) {
                return None;
            }
            Some(Outgoing {
                subject: namespace.event_subject(&service, &event.event_type, &event.stream_id),
                headers: event_headers(event, &service),
                message_id: event.event_id.to_string(),
            })
        })
    }

    fn outgoing(&self, event: &RecordedEvent) -> Option<Outgoing> {
        (self.0)(event)
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Route")
    }
}

/// How a relay publishes.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// The service whose log this is, e.g. `complaints`.
    pub service: String,
    pub namespace: Namespace,
    /// The relay's checkpoint row and leader-lock name: `relay` for the service's own stream.
    pub name: String,
    pub route: Route,
    /// Publishes awaiting acknowledgement at once.
    pub max_in_flight: usize,
    /// Longest wait between polls when nothing wakes the relay.
    pub idle_poll: Duration,
    /// Wait before retrying after NATS or PostgreSQL failed.
    pub retry_delay: Duration,
}

impl RelayConfig {
    /// The relay of every event to the service's own stream.
    pub fn new(service: &str, namespace: Namespace) -> Self {
        RelayConfig {
            service: service.to_owned(),
            route: Route::service_stream(service, namespace.clone(), &[]),
            namespace,
            name: "relay".to_owned(),
            max_in_flight: 256,
            idle_poll: Duration::from_millis(100),
            retry_delay: Duration::from_secs(1),
        }
    }
}

/// Publishes one service's events to JetStream.
#[derive(Clone, Debug)]
pub struct Relay {
    store: EventStore,
    js: jetstream::Context,
    config: RelayConfig,
}

impl Relay {
    pub fn new(store: &EventStore, js: jetstream::Context, config: RelayConfig) -> Self {
        Relay {
            store: store.clone(),
            js,
            config,
        }
    }

    /// Leads when it can, publishes until `shutdown`, and stands by otherwise.
    ///
    /// # Errors
    /// Never returns an error for NATS or PostgreSQL outages: it logs them and retries.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut wakeup = Wakeup::new(Some(self.store.appended()), self.config.idle_poll);
        while !shutdown.is_cancelled() {
            match self.lead(&shutdown, &mut wakeup).await {
                Ok(true) => {}
                Ok(false) => {
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = tokio::time::sleep(self.config.retry_delay) => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(service = %self.config.service, error = format!("{error:#}"), "relay failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = tokio::time::sleep(self.config.retry_delay) => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Publishes every event committed before the call, then returns how many it published.
    /// For tests and operator commands; takes the leader lock for the duration.
    ///
    /// # Errors
    /// When another relay leads, or NATS or PostgreSQL fail.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let lock = self
            .try_lead()
            .await?
            .ok_or_else(|| anyhow::anyhow!("another relay is leading"))?;
        let result = async {
            let catch_up = CatchUp::start(self.store.pool(), Duration::from_secs(30)).await?;
            let mut checkpoint = self.checkpoint().await?;
            let mut published = 0;
            loop {
                let ready = catch_up.ready(self.store.pool()).await?;
                let Page {
                    acked: next,
                    published: count,
                    ..
                } = self.publish_page(checkpoint, true).await?;
                let idle = next == checkpoint;
                checkpoint = next;
                published += count;
                if idle {
                    if ready {
                        return anyhow::Ok(published);
                    }
                    catch_up.pause().await?;
                }
            }
        }
        .await;
        // Closed on every path: a dropped connection releases the lock only once the server
        // notices, and the next relay would find it still held.
        self.unlock(lock).await.ok();
        result
    }

    /// Returns Ok(false) when another relay holds the lead.
    async fn lead(
        &self,
        shutdown: &CancellationToken,
        wakeup: &mut Wakeup,
    ) -> anyhow::Result<bool> {
        let Some(mut lock) = self.try_lead().await? else {
            return Ok(false);
        };
        tracing::info!(service = %self.config.service, relay = %self.config.name, "relay is leading");
        let mut checkpoint = self.checkpoint().await?;
        // When the checkpoint first moved, unsaved, past events the route skips.
        let mut unsaved_since: Option<Instant> = None;
        let result = async {
            let mut checked: Option<Instant> = None;
            loop {
                let due = unsaved_since.is_some_and(|at| at.elapsed() >= SAVE_SKIPPED_AFTER);
                let page = self.publish_page(checkpoint, due).await?;
                let progressed = page.acked != checkpoint;
                checkpoint = page.acked;
                if page.saved {
                    unsaved_since = None;
                } else if progressed {
                    unsaved_since.get_or_insert_with(Instant::now);
                }
                if progressed {
                    wakeup.progressed();
                    // A page shorter than a full one read everything visible.
                    if page.full {
                        continue;
                    }
                } else if due {
                    save_checkpoint(self.store.pool(), &self.config.name, checkpoint).await?;
                    unsaved_since = None;
                }
                if checked.is_none_or(|at| at.elapsed() >= LEAD_CHECK_EVERY) {
                    // A lost lock connection means another relay may lead now.
                    sqlx::query("SELECT 1").execute(&mut lock).await?;
                    self.report_backlog(checkpoint).await;
                    checked = Some(Instant::now());
                }
                if !wakeup.wait(shutdown, checkpoint.transaction).await {
                    if unsaved_since.is_some() {
                        // Best effort: what is not saved is read again, and skipped again.
                        save_checkpoint(self.store.pool(), &self.config.name, checkpoint)
                            .await
                            .ok();
                    }
                    return anyhow::Ok(());
                }
            }
        }
        .await;
        self.unlock(lock).await.ok();
        result.map(|()| true)
    }

    /// Takes the leader lock on a connection of its own: the lock lives exactly as long as
    /// that connection, so a relay that dies or drops it — on any path — lets another lead.
    async fn try_lead(&self) -> anyhow::Result<Option<PgConnection>> {
        let mut conn = self.store.pool().acquire().await?.detach();
        let locked: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_lock(hashtext('redress.' || $1 || '.' || $2))",
        )
        .bind(&self.config.name)
        .bind(&self.config.service)
        .fetch_one(&mut conn)
        .await?;
        Ok(locked.then_some(conn))
    }

    async fn unlock(&self, lock: PgConnection) -> anyhow::Result<()> {
        lock.close().await?;
        Ok(())
    }

    /// The relay's checkpoint; everything at or before it is acknowledged by JetStream.
    ///
    /// # Errors
    /// Database errors.
    pub async fn checkpoint(&self) -> anyhow::Result<Position> {
        load_checkpoint(self.store.pool(), &self.config.name).await
    }

    /// Publishes up to one page after `from`. The checkpoint is saved before returning, also
    /// on failure, when anything was published or `save_skipped` is true; a page of events the
    /// route skips only moves the checkpoint in memory otherwise (see [`Page`]).
    #[tracing::instrument(skip_all, fields(service = %self.config.service, from = %from))]
    async fn publish_page(&self, from: Position, save_skipped: bool) -> anyhow::Result<Page> {
        let limit = i64::try_from(self.config.max_in_flight * 4).unwrap_or(1024);
        let page = self.store.read_after(from, limit).await?;
        if page.is_empty() {
            return Ok(Page {
                acked: from,
                published: 0,
                full: false,
                saved: false,
            });
        }
        let full = i64::try_from(page.len()).is_ok_and(|n| n >= limit);
        let mut in_flight: FuturesOrdered<InFlight<'_>> = FuturesOrdered::new();
        let mut acked = from;
        let mut count = 0;
        let mut failure = None;
        for event in &page {
            while in_flight.len() >= self.config.max_in_flight {
                match next_ack(&mut in_flight).await {
                    Ok((position, published)) => {
                        acked = position;
                        count += usize::from(published);
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            if failure.is_some() {
                break;
            }
            let Some(outgoing) = self.config.route.outgoing(event) else {
                in_flight.push_back(Box::pin(async move { (event.position, None) }));
                continue;
            };
            match self.send(event, outgoing).await {
                Ok(ack) => {
                    in_flight.push_back(Box::pin(async move { (event.position, Some(ack.await)) }))
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        while failure.is_none() && !in_flight.is_empty() {
            match next_ack(&mut in_flight).await {
                Ok((position, published)) => {
                    acked = position;
                    count += usize::from(published);
                }
                Err(e) => failure = Some(e),
            }
        }
        drop(in_flight);
        fail::fail_point!("relay::after_ack_before_checkpoint", |_| Err(
            anyhow::anyhow!("failpoint relay::after_ack_before_checkpoint")
        ));
        let saved = acked != from && (count > 0 || save_skipped);
        if saved {
            save_checkpoint(self.store.pool(), &self.config.name, acked).await?;
            metrics::counter!(names::RELAY_PUBLISHED_TOTAL, "service" => self.config.service.clone(), "relay" => self.config.name.clone())
                .increment(count as u64);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(Page {
                acked,
                published: count,
                full,
                saved,
            }),
        }
    }

    async fn send(
        &self,
        event: &RecordedEvent,
        outgoing: Outgoing,
    ) -> anyhow::Result<PublishAckFuture> {
        let span = tracing::info_span!("relay.publish", event_id = %event.event_id, event_type = %event.event_type);
        if let Some(traceparent) = &event.metadata.traceparent {
            let context = telemetry::TraceContext {
                traceparent: traceparent.clone(),
                tracestate: event.metadata.tracestate.clone(),
            };
            telemetry::set_parent_from_trace_context(&span, &context);
        }
        let Outgoing {
            subject,
            mut headers,
            message_id,
        } = outgoing;
        span.in_scope(|| match telemetry::current_trace_context() {
            Some(context) => telemetry::inject_nats_headers(&context, &mut headers),
            None => {
                if let Some(traceparent) = &event.metadata.traceparent {
                    headers.insert(headers::TRACEPARENT, traceparent.as_str());
                }
            }
        });
        let message = PublishMessage::build()
            .payload(event.payload.clone().into())
            .headers(headers)
            .message_id(message_id);
        // Instrumented, never entered across the await (see `Consumer::process`).
        self.js
            .send_publish(subject, message)
            .instrument(span)
            .await
            .map_err(|e| anyhow::anyhow!("Failed to publish event {}: {e}", event.event_id))
    }

    async fn report_backlog(&self, checkpoint: Position) {
        // Not prepared: a generic plan made while the table was small would scan it whole.
        let backlog: Result<(i64, Option<f64>), _> = sqlx::query_as(
            "SELECT count(*), extract(epoch FROM now() - min(recorded_at))::float8
             FROM events WHERE (transaction_id, position) > ($1, $2)",
        )
        .bind(Xid8(checkpoint.transaction))
        .bind(checkpoint.sequence)
        .persistent(false)
        .fetch_one(self.store.pool())
        .await;
        let (service, relay) = (self.config.service.clone(), self.config.name.clone());
        if let Ok((count, lag)) = backlog {
            metrics::gauge!(names::RELAY_BACKLOG_EVENTS, "service" => service.clone(), "relay" => relay.clone())
                .set(count as f64);
            metrics::gauge!(names::RELAY_LAG_SECONDS, "service" => service.clone(), "relay" => relay.clone())
                .set(lag.unwrap_or(0.0));
        }
        // The horizon is the cluster's, but every relay waits on it; each reports what it sees.
        if let Ok(holder) = tail::oldest_transaction(self.store.pool()).await {
            metrics::gauge!(names::HORIZON_AGE_SECONDS, "service" => service, "relay" => relay)
                .set(holder.map_or(0.0, |h| h.age_seconds.max(0.0)));
        }
    }
}

/// A publish awaiting its acknowledgement, or an event the route skipped (`None`).
type InFlight<'a> = std::pin::Pin<
    Box<
        dyn Future<
                Output = (
                    Position,
                    Option<
                        Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
                    >,
                ),
            > + Send
            + 'a,
    >,
>;

/// The next settled position, and whether it was published (not skipped).
async fn next_ack(
    in_flight: &mut FuturesOrdered<InFlight<'_>>,
) -> anyhow::Result<(Position, bool)> {
    match in_flight.next().await {
        Some((position, None)) => Ok((position, false)),
        Some((position, Some(Ok(_)))) => Ok((position, true)),
        Some((position, Some(Err(e)))) => Err(anyhow::anyhow!(
            "JetStream did not acknowledge the event at {position}: {e}"
        )),
        None => Err(anyhow::anyhow!("no publish in flight")),
    }
}

/// The headers every published event carries (CloudEvents binary mode, plus Redress's own).
pub fn event_headers(event: &RecordedEvent, service: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(headers::CE_SPECVERSION, "1.0");
    map.insert(headers::CE_ID, event.event_id.to_string().as_str());
    map.insert(headers::CE_TYPE, event.event_type.as_str());
    map.insert(
        headers::CE_SOURCE,
        format!("urn:redress:{service}").as_str(),
    );
    map.insert(headers::CE_TIME, event.recorded_at.to_string().as_str());
    map.insert(headers::CE_SUBJECT, event.stream_id.to_string().as_str());
    map.insert(headers::CONTENT_TYPE, headers::PROTOBUF);
    map.insert(headers::POSITION, event.position.to_string().as_str());
    map.insert(headers::STREAM_VERSION, event.version.to_string().as_str());
    map.insert(
        headers::CORRELATION_ID,
        event.metadata.correlation_id.to_string().as_str(),
    );
    if let Some(causation) = event.metadata.causation_id {
        map.insert(headers::CAUSATION_ID, causation.to_string().as_str());
    }
    map
}

/// Reads a named checkpoint; a missing one is the start of the log.
///
/// # Errors
/// Database errors.
pub async fn load_checkpoint(pool: &Pool, name: &str) -> anyhow::Result<Position> {
    Ok(find_checkpoint(pool, name)
        .await?
        .unwrap_or(Position::START))
}

/// Reads a named checkpoint, `None` when there is no such row.
pub(crate) async fn find_checkpoint(pool: &Pool, name: &str) -> sqlx::Result<Option<Position>> {
    let row: Option<(Xid8, i64)> =
        sqlx::query_as("SELECT transaction_id, position FROM checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(tx, sequence)| Position {
        transaction: tx.0,
        sequence,
    }))
}

/// Moves a named checkpoint forward; never backward, whoever else writes it.
///
/// The commit does not wait for its WAL flush (ADR 0009): a checkpoint a database crash takes
/// back is a crash between acknowledgement and checkpoint (ADR 0002), so the relay publishes
/// those events again with the same message ids and JetStream's duplicate window drops them.
async fn save_checkpoint(pool: &Pool, name: &str, position: Position) -> anyhow::Result<()> {
    sqlx::query(
        "WITH commit_mode AS (SELECT set_config('synchronous_commit', 'off', true))
         INSERT INTO checkpoints (name, transaction_id, position)
         SELECT $1, $2, $3 FROM commit_mode
         ON CONFLICT (name) DO UPDATE SET transaction_id = excluded.transaction_id,
                                          position = excluded.position, updated_at = now()
         WHERE (checkpoints.transaction_id, checkpoints.position) < (excluded.transaction_id, excluded.position)",
    )
    .bind(name)
    .bind(Xid8(position.transaction))
    .bind(position.sequence)
    .execute(pool)
    .await?;
    Ok(())
}
