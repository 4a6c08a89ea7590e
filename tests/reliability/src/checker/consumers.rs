//! I6, consumer effects exactly once: every cross-service consumer applied each event once.
//!
//! A consumer records each event id it handled in its service's `inbox`, in the transaction of
//! the command it issued, and that command's events carry the source event's id as their
//! `causation_id`. So, from PostgreSQL alone:
//! * each `(consumer, event_id)` is in an inbox once, and names an event of some log;
//! * the effects of one inboxed event (the events caused by it) appear once per event type and
//!   stream;
//! * no event is caused by another service's event without an inbox record (an effect that went
//!   around the inbox would repeat on redelivery).

use std::collections::{HashMap, HashSet};

use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{Checker, Verdict};
use crate::cluster::Service;

impl Checker {
    /// I6, over every service's inbox and the events its consumers caused. Call after
    /// [`super::settle`]. `injected`: the `Nats-Msg-Id`s a scenario published itself
    /// ([`Cluster::injected`](crate::cluster::Cluster::injected)), in no log: a consumer may
    /// record one it handled without effect, and it is counted apart.
    ///
    /// # Errors
    /// When a log or an inbox cannot be read.
    pub async fn consumers(&self, injected: &[String]) -> anyhow::Result<Verdict> {
        let mut verdict = Verdict::new("I6");
        let injected: HashSet<Uuid> = injected.iter().filter_map(|id| id.parse().ok()).collect();
        let mut logged: HashMap<Uuid, &'static str> = HashMap::new();
        for service in Service::ALL {
            let schema = service.schema();
            let ids: Vec<Uuid> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT event_id FROM {schema}.events"
            )))
            .fetch_all(&self.pool)
            .await?;
            logged.extend(ids.into_iter().map(|id| (id, schema)));
        }
        for service in Service::ALL {
            let schema = service.schema();
            let inbox: Vec<(String, Uuid, i64)> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT consumer, event_id, count(*) FROM {schema}.inbox GROUP BY 1, 2"
            )))
            .fetch_all(&self.pool)
            .await?;
            let mut inboxed = HashSet::new();
            for (consumer, event_id, count) in inbox {
                if injected.contains(&event_id) {
                    *verdict.figures.entry("injected").or_default() += 1;
                    continue;
                }
                verdict.check(count == 1, || {
                    format!("{schema}: {consumer} has {event_id} {count} times in its inbox")
                });
                verdict.check(logged.contains_key(&event_id), || {
                    format!("{schema}: {consumer} handled {event_id}, which no log holds")
                });
                inboxed.insert(event_id);
                *verdict.figures.entry("inboxed").or_default() += 1;
            }
            let caused: Vec<(Uuid, Uuid, String, Uuid)> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT event_id, causation_id, event_type, stream_id FROM {schema}.events
                 WHERE causation_id IS NOT NULL"
            )))
            .fetch_all(&self.pool)
            .await?;
            // Per stream: one source event may cause the same event type in several streams
            // (findings with two recommendations make two register entries), never twice in one.
            let mut effects: HashMap<(Uuid, String, Uuid), Vec<Uuid>> = HashMap::new();
            for (event_id, cause, event_type, stream_id) in caused {
                if inboxed.contains(&cause) {
                    effects
                        .entry((cause, event_type, stream_id))
                        .or_default()
                        .push(event_id);
                } else if let Some(source) = logged.get(&cause).filter(|s| **s != schema) {
                    verdict.violate(format!(
                        "{schema}: {event_type} {event_id} was caused by {cause} of {source} \
                         without an inbox record"
                    ));
                }
            }
            for ((cause, event_type, _), ids) in effects {
                *verdict.figures.entry("effects").or_default() += ids.len() as u64;
                verdict.check(ids.len() == 1, || {
                    format!(
                        "{schema}: {cause} caused {event_type} {} times: {ids:?}",
                        ids.len()
                    )
                });
            }
        }
        Ok(verdict)
    }
}
