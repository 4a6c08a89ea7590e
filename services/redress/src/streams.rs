//! `redress streams`: creates or updates every JetStream stream and the durable consumers
//! Redress owns, idempotently, and says what it changed.
//!
//! Services ensure what they use at start as well, but under users that may not delete or
//! recreate anything; this command is the operator's (user `ops`), run in the deployment's
//! one-shot job after `redress migrate`, so the streams exist with the reliability plan's
//! settings (file storage, deny delete and purge, a 10-minute duplicate window) before any
//! service starts, and the independent body's consumer exists before the body connects.
//!
//! What a run did is decided by comparing each stream's and consumer's configuration as the
//! server reports it before and after: `created`, `updated` (with the settings that changed)
//! or `unchanged`.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer, context::ConsumerInfoErrorKind};
use platform::consumer::ConsumerSpec;
use platform::nats::{Namespace, StreamSpec};
use serde::Serialize;

use crate::services::Service;

/// Every stream and durable consumer Redress owns in a namespace.
#[derive(Clone, Debug)]
pub struct Plan {
    pub streams: Vec<StreamSpec>,
    pub consumers: Vec<ConsumerSpec>,
}

impl Plan {
    /// One stream per service plus the independent body's `FEED`; the body's consumer
    /// `ib_feed` and the durable consumer of each cross-context policy (escalation's and
    /// learning reviews' on `COMPLAINTS`, complaints' and learning reviews' on `ESCALATION`,
    /// complaints' on `LEARNING_REVIEWS`).
    pub fn for_namespace(namespace: &Namespace) -> Plan {
        let streams = Service::ALL
            .iter()
            .map(|service| service.name())
            .chain([escalation::feed::STREAM])
            .map(|name| StreamSpec::for_service(namespace, name))
            .collect();
        let consumers = vec![
            escalation::feed::independent_body_consumer(namespace),
            escalation::policy::consumer_spec(namespace),
            complaints::formal_complaints::escalation_policy::consumer_spec(namespace),
            complaints::formal_complaints::learning_reviews_policy::consumer_spec(namespace),
            learning_reviews::policy::complaints::consumer_spec(namespace),
            learning_reviews::policy::escalation::consumer_spec(namespace),
        ];
        Plan { streams, consumers }
    }
}

/// What a run did to one stream or consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Created,
    /// The names of the settings that changed, in the server's spelling (`duplicate_window`).
    Updated(Vec<String>),
    Unchanged,
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `stream COMPLAINTS` or `consumer FEED/ib_feed`.
    pub what: String,
    pub change: Change,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.change {
            Change::Created => write!(f, "{} created", self.what),
            Change::Updated(settings) => {
                write!(f, "{} updated: {}", self.what, settings.join(", "))
            }
            Change::Unchanged => write!(f, "{} unchanged", self.what),
        }
    }
}

/// Brings every stream, then every consumer, of `plan` to its settings, writing one line per
/// item to `out` as it goes. Returns the same outcomes.
///
/// # Errors
/// When the server cannot be reached, refuses the user, or refuses a setting (a consumer
/// setting the server cannot change in place, such as its deliver policy, must be changed by
/// deleting the consumer first).
pub async fn apply(
    js: &jetstream::Context,
    plan: &Plan,
    out: &mut impl std::io::Write,
) -> anyhow::Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for spec in &plan.streams {
        let outcome = apply_stream(js, spec).await?;
        writeln!(out, "{outcome}")?;
        outcomes.push(outcome);
    }
    for spec in &plan.consumers {
        let outcome = apply_consumer(js, spec).await?;
        writeln!(out, "{outcome}")?;
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Connects with the credentials in `nats_url` and applies the plan of `prefix`'s namespace.
///
/// # Errors
/// See [`apply`]; also an invalid prefix.
pub async fn run(
    nats_url: &str,
    prefix: &str,
    out: &mut impl std::io::Write,
) -> anyhow::Result<Vec<Outcome>> {
    let namespace = Namespace::prefixed(prefix)?;
    let client = platform::nats::connect(nats_url, "redress-streams").await?;
    let js = jetstream::new(client.clone());
    let outcomes = apply(&js, &Plan::for_namespace(&namespace), out).await;
    client.drain().await.ok();
    outcomes
}

#[tracing::instrument(skip_all, fields(stream = %spec.name))]
async fn apply_stream(js: &jetstream::Context, spec: &StreamSpec) -> anyhow::Result<Outcome> {
    let before = match js.get_stream(&spec.name).await {
        Ok(stream) => Some(stream.cached_info().config.clone()),
        Err(e) if is_stream_not_found(&e) => None,
        Err(e) => {
            return Err(anyhow::anyhow!(e))
                .with_context(|| format!("Failed to read stream {}", spec.name));
        }
    };
    let after = platform::nats::ensure_stream(js, spec).await?.config;
    let change = change(before.as_ref(), &after)?;
    tracing::info!(change = ?change, "stream ensured");
    Ok(Outcome {
        what: format!("stream {}", spec.name),
        change,
    })
}

#[tracing::instrument(skip_all, fields(stream = %spec.stream, consumer = %spec.durable))]
async fn apply_consumer(js: &jetstream::Context, spec: &ConsumerSpec) -> anyhow::Result<Outcome> {
    let stream = js
        .get_stream(&spec.stream)
        .await
        .map_err(|e| anyhow::anyhow!("Failed to find stream {}: {e}", spec.stream))?;
    let before = match stream.consumer_info(&spec.durable).await {
        Ok(info) => Some(info.config),
        Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => None,
        Err(e) => {
            return Err(anyhow::anyhow!(e)).with_context(|| {
                format!("Failed to read consumer {}/{}", spec.stream, spec.durable)
            });
        }
    };
    let ensured = platform::consumer::ensure_consumer(js, spec).await?;
    let after: consumer::Config = ensured.cached_info().config.clone();
    let change = change(before.as_ref(), &after)?;
    tracing::info!(change = ?change, "consumer ensured");
    Ok(Outcome {
        what: format!("consumer {}/{}", spec.stream, spec.durable),
        change,
    })
}

fn is_stream_not_found(error: &jetstream::context::GetStreamError) -> bool {
    matches!(
        error.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(e)
            if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

/// Compares two configurations as the server reported them, setting by setting.
fn change<C: Serialize>(before: Option<&C>, after: &C) -> anyhow::Result<Change> {
    let Some(before) = before else {
        return Ok(Change::Created);
    };
    let before = serde_json::to_value(before)?;
    let after = serde_json::to_value(after)?;
    let empty = serde_json::Map::new();
    let (before, after) = (
        before.as_object().unwrap_or(&empty),
        after.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let changed: Vec<String> = keys
        .into_iter()
        .filter(|key| before.get(*key) != after.get(*key))
        .cloned()
        .collect();
    Ok(if changed.is_empty() {
        Change::Unchanged
    } else {
        Change::Updated(changed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_holds_every_stream_and_every_consumer_redress_owns() {
        let plan = Plan::for_namespace(&Namespace::root());

        let streams: Vec<&str> = plan.streams.iter().map(|s| s.name.as_str()).collect();
        let consumers: Vec<(&str, &str)> = plan
            .consumers
            .iter()
            .map(|c| (c.stream.as_str(), c.durable.as_str()))
            .collect();

        assert_eq!(
            streams,
            ["COMPLAINTS", "ESCALATION", "LEARNING_REVIEWS", "FEED"]
        );
        assert_eq!(
            consumers,
            [
                ("FEED", "ib_feed"),
                ("COMPLAINTS", "escalation-complaints-policy"),
                ("ESCALATION", "complaints-escalation-policy"),
                ("LEARNING_REVIEWS", "complaints-learning-reviews-policy"),
                ("COMPLAINTS", "learning-reviews-complaints-policy"),
                ("ESCALATION", "learning-reviews-escalation-policy"),
            ]
        );
    }

    #[test]
    fn a_changed_setting_is_named_and_an_equal_configuration_is_unchanged() {
        let before =
            serde_json::json!({"name": "FEED", "duplicate_window": 60, "deny_purge": true});
        let after =
            serde_json::json!({"name": "FEED", "duplicate_window": 600, "deny_purge": true});

        assert_eq!(change(None, &after).ok(), Some(Change::Created));
        assert_eq!(
            change(Some(&before), &after).ok(),
            Some(Change::Updated(vec!["duplicate_window".to_owned()]))
        );
        assert_eq!(change(Some(&after), &after).ok(), Some(Change::Unchanged));
    }
}
