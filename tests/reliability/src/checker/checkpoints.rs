//! I8, monotonic checkpoints: sampled through the whole scenario, no relay or projection
//! checkpoint ever moves back, and a relay's checkpoint never covers an event NATS does not hold.
//!
//! The second half is a count: the events at or before a relay's checkpoint that its route
//! publishes, read in one statement with the checkpoint, must not outnumber the messages its
//! JetStream stream holds, read after it. Streams deny delete and purge and de-duplicate by
//! `Nats-Msg-Id`, so a stream's message count only grows and counts distinct events; a
//! checkpoint past an unpublished event is the only way to break it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use platform::nats::Namespace;
use sqlx::{AssertSqlSafe, PgPool};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Verdict;
use crate::cluster::{Cluster, Service};
use crate::history::History;

/// How often the checkpoints are read.
const EVERY: Duration = Duration::from_millis(300);

/// A relay: its schema, checkpoint, stream and the events its route publishes.
struct Relay {
    schema: &'static str,
    checkpoint: &'static str,
    stream: &'static str,
    published: String,
}

fn relays() -> Vec<Relay> {
    let feed = escalation::feed::STREAM_TYPE;
    vec![
        Relay {
            schema: "complaints",
            checkpoint: "relay",
            stream: "complaints",
            published: "TRUE".into(),
        },
        Relay {
            schema: "escalation",
            checkpoint: "relay",
            stream: "escalation",
            published: format!("e.stream_type <> '{feed}'"),
        },
        Relay {
            schema: "escalation",
            checkpoint: "relay.feed",
            stream: "feed",
            published: format!("e.stream_type = '{feed}'"),
        },
        Relay {
            schema: "learning_reviews",
            checkpoint: "relay",
            stream: "learning-reviews",
            published: "TRUE".into(),
        },
    ]
}

/// Reads every checkpoint until stopped; [`Sampler::finish`] gives the verdict.
#[derive(Debug)]
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Verdict>,
}

impl Sampler {
    /// Starts sampling, straight to PostgreSQL and to NATS as `ops` (not through a proxy).
    ///
    /// # Errors
    /// When PostgreSQL or NATS cannot be reached at the start.
    pub async fn start(cluster: &Cluster) -> anyhow::Result<Sampler> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(1))
            .connect(&cluster.database_url())
            .await?;
        let js = jetstream::new(cluster.nats_as_ops().await?);
        let clock = Arc::clone(cluster.history());
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut state = State::default();
            loop {
                state.sample(&pool, &js, &clock).await;
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(EVERY) => {}
                }
            }
            // One last sample, after the system settled.
            state.sample(&pool, &js, &clock).await;
            pool.close().await;
            state.verdict
        });
        Ok(Sampler { stop, task })
    }

    /// Stops sampling and decides I8.
    ///
    /// # Errors
    /// When the sampling task panicked.
    pub async fn finish(self) -> anyhow::Result<Verdict> {
        let _ = self.stop.send(());
        Ok(self.task.await?)
    }
}

/// A checkpoint's position, comparable: (transaction id, position).
type Position = (u64, i64);

#[derive(Debug)]
struct State {
    last: BTreeMap<(&'static str, String), (Position, u64)>,
    verdict: Verdict,
}

impl Default for State {
    fn default() -> State {
        State {
            last: BTreeMap::new(),
            verdict: Verdict::new("I8"),
        }
    }
}

impl State {
    /// Reads every checkpoint and every relay's coverage once. A server that does not answer
    /// (during an outage) skips the sample, which the figures count.
    async fn sample(&mut self, pool: &PgPool, js: &jetstream::Context, clock: &History) {
        let at_ms = clock.now_ms();
        for service in Service::ALL {
            let schema = service.schema();
            let rows: Result<Vec<(String, String, i64)>, _> = sqlx::query_as(AssertSqlSafe(
                format!("SELECT name, transaction_id::text, position FROM {schema}.checkpoints"),
            ))
            .fetch_all(pool)
            .await;
            let Ok(rows) = rows else {
                *self.verdict.figures.entry("skipped").or_default() += 1;
                continue;
            };
            for (name, transaction, position) in rows {
                let now = (transaction.parse().unwrap_or_default(), position);
                let key = (schema, name);
                if let Some((before, before_ms)) = self.last.get(&key) {
                    let before = *before;
                    let before_ms = *before_ms;
                    self.verdict.check(now >= before, || {
                        format!(
                            "{}.{} moved back from {before:?} at {before_ms} ms to {now:?} at {at_ms} ms",
                            key.0, key.1
                        )
                    });
                }
                self.last.insert(key, (now, at_ms));
            }
        }
        *self.verdict.figures.entry("samples").or_default() += 1;
        let namespace = Namespace::root();
        for relay in relays() {
            let covered: Result<Option<i64>, _> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT count(e.event_id) FROM {schema}.checkpoints c
                 LEFT JOIN {schema}.events e
                   ON (e.transaction_id, e.position) <= (c.transaction_id, c.position)
                  AND {published}
                 WHERE c.name = $1 GROUP BY c.name",
                schema = relay.schema,
                published = relay.published,
            )))
            .bind(relay.checkpoint)
            .fetch_optional(pool)
            .await;
            let Ok(Some(covered)) = covered else {
                continue;
            };
            let stream_name = namespace.stream_name(relay.stream);
            let messages = match js.get_stream(&stream_name).await {
                Ok(mut stream) => match stream.info().await {
                    Ok(info) => info.state.messages,
                    Err(_) => continue,
                },
                Err(_) => continue,
            };
            let covered = u64::try_from(covered).unwrap_or_default();
            *self.verdict.figures.entry("relay_probes").or_default() += 1;
            self.verdict.check(covered <= messages, || {
                format!(
                    "{}.{} covers {covered} published events at {at_ms} ms, {stream_name} holds {messages}",
                    relay.schema, relay.checkpoint
                )
            });
        }
    }
}
