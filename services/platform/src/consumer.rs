//! Durable JetStream consumers for cross-context policies, with an inbox.
//!
//! A consumer pulls from another context's stream. For each message it opens a transaction,
//! records the event id in the `inbox` table, lets the handler issue its command inside the same
//! transaction, commits, and only then acknowledges. A redelivered message whose id is already in
//! the inbox is acknowledged without being handled again, so each event takes effect once.
//!
//! Failures are bounded: a transient failure is negatively acknowledged with a growing delay; a
//! message that still fails on its last allowed delivery, or can never be handled (no event id,
//! undecodable), is parked in `parked_events` with its headers and payload and terminated, and
//! the consumer moves on. An event of a type or schema version the handler does not know is
//! never acknowledged without effect ([`HandleError::unknown_type`]): it is retried like a
//! transient failure — a newer version of the consumer may be on its way — and parked after the
//! last delivery. The failpoint `consumer::retry_delay` (feature `failpoints`) shortens the
//! schedule for tests.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use bytes::Bytes;
use futures_util::StreamExt;
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::event_store::EventStore;
use crate::nats::headers;
use crate::pg::Pool;
use crate::telemetry::{self, names};

/// Why a handler could not handle a message.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// May succeed later (a dependency is down, a race was lost, a newer version of this
    /// consumer is being deployed): redeliver after a delay, park after the last delivery.
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
    /// Will never succeed (a malformed payload, a fact the domain refuses): park it now.
    #[error("permanent: {0:#}")]
    Permanent(anyhow::Error),
}

impl HandleError {
    /// An event of a type, or a schema version, this consumer does not know, on a subject it
    /// reads. Never acknowledged without effect: a producer rolled out ahead of this consumer
    /// may have sent it, and the consumer's next version will know it. So it is transient:
    /// retried on the backoff schedule, holding the events behind it (one message in flight),
    /// and parked for an operator only after the last delivery.
    pub fn unknown_type(event_type: &str) -> HandleError {
        HandleError::Transient(anyhow::anyhow!(
            "{event_type:?} is a type or version this consumer does not know"
        ))
    }

    /// An event that did not decode as `what`: [`HandleError::unknown_type`] for a type it
    /// does not know; permanent for a malformed payload of a type it knows.
    pub fn undecodable(error: crate::aggregate::DecodeError, what: &str) -> HandleError {
        match error {
            crate::aggregate::DecodeError::UnknownType(event_type) => {
                HandleError::unknown_type(&event_type)
            }
            malformed => HandleError::Permanent(
                anyhow::Error::new(malformed).context(format!("Failed to decode {what}")),
            ),
        }
    }
}

/// One delivered integration event.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event_id: Uuid,
    pub subject: String,
    /// The `ce-type` header: the fully qualified protobuf message name.
    pub event_type: String,
    pub headers: async_nats::HeaderMap,
    pub payload: Bytes,
    pub stream_sequence: u64,
    /// 1 on first delivery.
    pub delivered: i64,
}

/// Handles integration events inside the consumer's transaction.
pub trait Handler: Send + Sync + 'static {
    /// Does what the event requires, writing only through `conn` so that the effect commits
    /// with the inbox record.
    fn handle(
        &self,
        conn: &mut PgConnection,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<(), HandleError>> + Send;
}

/// A durable pull consumer's settings.
#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    /// The stream to read, e.g. `COMPLAINTS`.
    pub stream: String,
    /// The durable name, also the inbox's `consumer` column.
    pub durable: String,
    pub filter_subjects: Vec<String>,
    /// Deliveries before a failing message is parked.
    pub max_deliver: i64,
    /// Delay before redelivery after the n-th failed attempt (the last entry repeats).
    pub backoff: Vec<Duration>,
    pub ack_wait: Duration,
    /// 1 keeps the stream's order; a policy that does not care about order may raise it.
    pub max_ack_pending: i64,
}

impl ConsumerSpec {
    /// The reliability plan's settings: 8 deliveries, 1 s to 10 min backoff, 30 s ack wait.
    pub fn new(stream: &str, durable: &str, filter_subjects: Vec<String>) -> Self {
        ConsumerSpec {
            stream: stream.to_owned(),
            durable: durable.to_owned(),
            filter_subjects,
            max_deliver: 8,
            backoff: [1, 5, 30, 120, 300, 600, 600]
                .map(Duration::from_secs)
                .to_vec(),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 1,
        }
    }

    /// The server-side settings of the durable consumer.
    pub fn pull_config(&self) -> pull::Config {
        pull::Config {
            durable_name: Some(self.durable.clone()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_wait: self.ack_wait,
            max_deliver: self.max_deliver,
            filter_subjects: self.filter_subjects.clone(),
            max_ack_pending: self.max_ack_pending,
            ..Default::default()
        }
    }

    fn delay_after(&self, delivered: i64) -> Duration {
        // A test binary may shorten the schedule, to see a message through its deliveries.
        fail::fail_point!("consumer::retry_delay", |ms| Duration::from_millis(
            ms.and_then(|ms| ms.parse().ok()).unwrap_or(100)
        ));
        let index = usize::try_from(delivered.saturating_sub(1)).unwrap_or(0);
        self.backoff
            .get(index)
            .or(self.backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }
}

/// Creates the durable consumer `spec` describes, or brings an existing one to these settings,
/// without running it: for consumers another party reads (the independent body's). Idempotent.
///
/// # Errors
/// When the stream does not exist or the server refuses the settings.
pub async fn ensure_consumer(
    js: &jetstream::Context,
    spec: &ConsumerSpec,
) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
    let stream = js
        .get_stream(&spec.stream)
        .await
        .map_err(|e| anyhow::anyhow!("Failed to find stream {}: {e}", spec.stream))?;
    stream
        .create_consumer(spec.pull_config())
        .await
        .map_err(|e| anyhow::anyhow!("Failed to create consumer {}: {e}", spec.durable))
}

/// What happened to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Handled,
    /// Already in the inbox: acknowledged without handling.
    Duplicate,
    /// Will be redelivered after a delay.
    Retrying,
    Parked,
}

/// A running durable consumer.
#[derive(Debug)]
pub struct Consumer<H> {
    pool: Pool,
    consumer: jetstream::consumer::Consumer<pull::Config>,
    spec: ConsumerSpec,
    handler: H,
    /// The store the handler appends to, whose tailers hear of each commit.
    announce_to: Option<EventStore>,
}

impl<H: Handler> Consumer<H> {
    /// Creates or updates the durable consumer on the server.
    ///
    /// # Errors
    /// When the stream does not exist or the server refuses the settings.
    pub async fn create(
        pool: Pool,
        js: &jetstream::Context,
        spec: ConsumerSpec,
        handler: H,
    ) -> anyhow::Result<Self> {
        let consumer = ensure_consumer(js, &spec).await?;
        let consumer = Consumer {
            pool,
            consumer,
            spec,
            handler,
            announce_to: None,
        };
        // Every series exists from the start, so a rate or an alert sees 0 rather than nothing.
        for name in [
            names::CONSUMER_REDELIVERIES_TOTAL,
            names::CONSUMER_PARKED_TOTAL,
        ] {
            metrics::counter!(name, "consumer" => consumer.spec.durable.clone()).increment(0);
        }
        consumer.report_parked().await?;
        Ok(consumer)
    }

    /// Wakes `store`'s in-process tailers (its relays and read models) after every handled
    /// message, for a handler that appends to it: they see its events at once instead of at
    /// their next poll.
    #[must_use]
    pub fn announcing_to(mut self, store: &EventStore) -> Self {
        self.announce_to = Some(store.clone());
        self
    }

    /// Handles messages until `shutdown`.
    ///
    /// # Errors
    /// Never for message failures (they are retried or parked); only when the server keeps
    /// refusing to deliver.
    pub async fn run(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        while !shutdown.is_cancelled() {
            let mut messages = match self.consumer.messages().await {
                Ok(messages) => messages,
                Err(e) => {
                    tracing::warn!(consumer = %self.spec.durable, error = %e, "cannot pull; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    next = messages.next() => next,
                };
                match next {
                    Some(Ok(message)) => {
                        if let Err(e) = self.process(message).await {
                            tracing::warn!(consumer = %self.spec.durable, error = format!("{e:#}"), "message left for redelivery");
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(consumer = %self.spec.durable, error = %e, "pull failed");
                        break;
                    }
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// Handles what the server has pending now, without waiting for more. For tests.
    ///
    /// # Errors
    /// When the server cannot be reached or the database fails.
    pub async fn run_once(&self) -> anyhow::Result<Vec<Outcome>> {
        const BATCH: usize = 100;
        let mut outcomes = Vec::new();
        loop {
            // A short expiry rather than no-wait: a no-wait fetch stays open for messages whose
            // redelivery is pending, which would handle a retry inside the same call.
            let mut batch = self
                .consumer
                .batch()
                .max_messages(BATCH)
                .expires(Duration::from_millis(200))
                .messages()
                .await
                .map_err(|e| anyhow::anyhow!("Failed to fetch: {e}"))?;
            let mut fetched = 0;
            while let Some(message) = batch.next().await {
                let message = message.map_err(|e| anyhow::anyhow!("Failed to fetch: {e}"))?;
                fetched += 1;
                outcomes.push(self.process(message).await?);
            }
            // A full batch may have more behind it. A short one may too: with one message in
            // flight the server hands them over one acknowledgement at a time, and a loaded
            // machine fits fewer into the expiry. Ask the server what is still undelivered
            // (messages awaiting a delayed redelivery do not count). An empty batch means
            // nothing can be delivered now (the one slot in flight awaits a redelivery).
            if fetched == 0 {
                return Ok(outcomes);
            }
            if fetched < BATCH {
                let info = self
                    .consumer
                    .get_info()
                    .await
                    .map_err(|e| anyhow::anyhow!("Failed to read the consumer's state: {e}"))?;
                if info.num_pending == 0 {
                    return Ok(outcomes);
                }
            }
        }
    }

    /// Handles one message and settles it with the server.
    async fn process(&self, message: jetstream::Message) -> anyhow::Result<Outcome> {
        let info = message
            .info()
            .map_err(|e| anyhow::anyhow!("message without JetStream info: {e}"))?;
        let (stream_sequence, delivered) = (info.stream_sequence, info.delivered);
        let headers = message.headers.clone().unwrap_or_default();
        let span = tracing::info_span!("consumer.handle", consumer = %self.spec.durable, subject = %message.subject);
        telemetry::set_parent_from_nats(&span, &headers);
        // Instrumented, never entered: an entered guard held across an await stays on the span
        // stack of the worker thread the task was suspended on, where another task then finds a
        // closed span current (tracing-subscriber panics on it).
        self.process_in_span(message, stream_sequence, delivered, headers)
            .instrument(span)
            .await
    }

    /// [`Consumer::process`] inside the message's span.
    async fn process_in_span(
        &self,
        message: jetstream::Message,
        stream_sequence: u64,
        delivered: i64,
        headers: async_nats::HeaderMap,
    ) -> anyhow::Result<Outcome> {
        if delivered > 1 {
            metrics::counter!(names::CONSUMER_REDELIVERIES_TOTAL, "consumer" => self.spec.durable.clone()).increment(1);
        }
        let event_id = headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .and_then(|v| Uuid::parse_str(v.as_str()).ok());
        let Some(event_id) = event_id else {
            self.park(
                &message,
                None,
                stream_sequence,
                delivered,
                "no event id in Nats-Msg-Id",
            )
            .await?;
            return Ok(Outcome::Parked);
        };
        let delivery = Delivery {
            event_id,
            subject: message.subject.to_string(),
            event_type: headers
                .get(headers::CE_TYPE)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default(),
            headers: headers.clone(),
            payload: message.payload.clone(),
            stream_sequence,
            delivered,
        };
        let mut tx = self.pool.begin().await?;
        let fresh = sqlx::query(
            "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&self.spec.durable)
        .bind(event_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            tx.commit().await?;
            self.settle(&message, AckKind::Ack).await;
            self.count("duplicate");
            return Ok(Outcome::Duplicate);
        }
        match self.handler.handle(&mut tx, &delivery).await {
            Ok(()) => {
                tx.commit().await?;
                if let Some(store) = &self.announce_to {
                    store.committed_elsewhere();
                }
                self.settle(&message, AckKind::Ack).await;
                self.count("handled");
                Ok(Outcome::Handled)
            }
            Err(HandleError::Transient(e)) if delivered < self.spec.max_deliver => {
                tx.rollback().await?;
                let delay = self.spec.delay_after(delivered);
                tracing::warn!(%event_id, delivered, ?delay, error = format!("{e:#}"), "handling failed; will retry");
                self.settle(&message, AckKind::Nak(Some(delay))).await;
                self.count("retrying");
                Ok(Outcome::Retrying)
            }
            Err(e) => {
                tx.rollback().await?;
                tracing::error!(%event_id, delivered, error = %e, "handling failed for good; parking the event");
                self.park(
                    &message,
                    Some(event_id),
                    stream_sequence,
                    delivered,
                    &e.to_string(),
                )
                .await?;
                Ok(Outcome::Parked)
            }
        }
    }

    async fn park(
        &self,
        message: &jetstream::Message,
        event_id: Option<Uuid>,
        stream_sequence: u64,
        delivered: i64,
        reason: &str,
    ) -> anyhow::Result<()> {
        let headers: serde_json::Map<String, serde_json::Value> = message
            .headers
            .iter()
            .flat_map(|map| map.iter())
            .map(|(name, values)| {
                let values: Vec<serde_json::Value> =
                    values.iter().map(|v| v.as_str().into()).collect();
                (name.to_string(), serde_json::Value::Array(values))
            })
            .collect();
        sqlx::query(
            "INSERT INTO parked_events (consumer, event_id, subject, stream_sequence, deliveries, reason, headers, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&self.spec.durable)
        .bind(event_id)
        .bind(message.subject.as_str())
        .bind(i64::try_from(stream_sequence).unwrap_or(i64::MAX))
        .bind(delivered)
        .bind(reason)
        .bind(serde_json::Value::Object(headers))
        .bind(message.payload.as_ref())
        .execute(&self.pool)
        .await?;
        self.settle(message, AckKind::Term).await;
        self.count("parked");
        metrics::counter!(names::CONSUMER_PARKED_TOTAL, "consumer" => self.spec.durable.clone())
            .increment(1);
        self.report_parked().await
    }

    /// Sets the parked-events gauge to the consumer's unresolved parked events.
    async fn report_parked(&self) -> anyhow::Result<()> {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM parked_events WHERE consumer = $1 AND resolved_at IS NULL",
        )
        .bind(&self.spec.durable)
        .fetch_one(&self.pool)
        .await?;
        metrics::gauge!(names::CONSUMER_PARKED_EVENTS, "consumer" => self.spec.durable.clone())
            .set(open as f64);
        Ok(())
    }

    /// Acknowledges and waits for the server to confirm, so a settled message is not
    /// redelivered; if confirmation fails, the inbox still prevents a second effect.
    async fn settle(&self, message: &jetstream::Message, kind: AckKind) {
        if let Err(e) = message.double_ack_with(kind).await {
            tracing::warn!(consumer = %self.spec.durable, error = %e, "acknowledgement not confirmed");
        }
    }

    fn count(&self, outcome: &'static str) {
        metrics::counter!(names::CONSUMER_HANDLED_TOTAL, "consumer" => self.spec.durable.clone(), "outcome" => outcome)
            .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::DecodeError;

    #[test]
    fn an_event_type_the_handler_does_not_know_is_retried_not_parked_at_once() {
        let unknown = DecodeError::UnknownType("redress.complaints.v2.ComplaintSubmitted".into());
        let error = HandleError::undecodable(unknown, "a complaints event");
        assert!(matches!(error, HandleError::Transient(_)), "{error}");
        assert!(
            error.to_string().contains("v2.ComplaintSubmitted"),
            "{error}"
        );
    }

    #[test]
    fn a_malformed_payload_of_a_known_type_is_parked_at_once() {
        let malformed = DecodeError::Malformed {
            event_type: "redress.complaints.v1.ComplaintSubmitted".into(),
            reason: "invalid wire type".into(),
        };
        let error = HandleError::undecodable(malformed, "a complaints event");
        assert!(matches!(error, HandleError::Permanent(_)), "{error}");
        assert!(error.to_string().contains("a complaints event"), "{error}");
    }
}
