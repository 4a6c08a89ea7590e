//! The checker: reads a run's history file and what PostgreSQL and NATS hold after the run, and
//! decides each acceptance invariant of reliability-plan §6.1 it knows. It trusts nothing the
//! harness remembers: only the history (what clients saw) and the servers' state.
//!
//! * I1 no lost acknowledged command: every `ok` command's key is recorded, and the events its
//!   receipt named are the events of that record, each exactly once in the log.
//! * I2 no phantom: a command that ended in a definite failure has no record and no events; a
//!   probe meant to be refused was refused.
//! * I3 unknown outcomes resolve at most once: a retried or unknown command has at most one
//!   record, whose events exist exactly once; every event a client's command wrote lies inside
//!   exactly one command record of a key the history holds (a retry applied twice would not).
//! * I4 stream integrity: versions 1..n without gaps or duplicates per stream; event ids and
//!   positions unique.
//! * I5 feed completeness: within T_feed the event ids on each service's JetStream stream and on
//!   `FEED` equal the log's, without duplicates, and `Redress-Feed-Position` runs 1..n.
//! * I7 projection convergence: every rebuildable projection, rebuilt from the log by
//!   `redress projections rebuild`, gives back the same rows as the live tables.
//!
//! * I9 recovery liveness and I10 hygiene: in [`liveness`].
//!
//! * I6 consumer effects exactly once, in [`consumers`]; I8 monotonic checkpoints, in
//!   [`checkpoints`]: every checkpoint write of the run recorded by a trigger, and each relay's
//!   coverage sampled by a [`checkpoints::Sampler`].
//!
//! New invariants are new functions returning a [`Verdict`]; [`settle`] is what they wait on.

pub mod liveness;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt as _;
use platform::nats::Namespace;
use serde::Serialize;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use crate::cluster::{Cluster, Service};
use crate::history::{Entry, Intent, Outcome};

pub mod checkpoints;
pub mod consumers;
use crate::workload::HOT_SCOPE;

/// How long the feed may take to be complete after load stops and faults heal (T_feed).
pub const T_FEED: Duration = Duration::from_secs(30);
/// How long [`settle`] waits at most. Longer than the plan's T_proj (30 s): a policy consumer
/// that failed during an outage waits out its redelivery backoff (1 s, 5 s, 30 s, …) first.
/// How long it took is reported, never asserted.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The most violations a verdict lists (the count is always complete).
const SHOWN: usize = 10;

/// Whether one invariant held, over how many things, and the first violations.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub id: &'static str,
    pub held: bool,
    pub checked: u64,
    pub violations: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// Figures worth reporting beside the verdict (counts, waits).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub figures: BTreeMap<&'static str, u64>,
}

impl Verdict {
    pub(crate) fn new(id: &'static str) -> Verdict {
        Verdict {
            id,
            held: true,
            checked: 0,
            violations: 0,
            examples: Vec::new(),
            figures: BTreeMap::new(),
        }
    }

    pub(crate) fn check(&mut self, ok: bool, why: impl FnOnce() -> String) {
        self.checked += 1;
        if !ok {
            self.violate(why());
        }
    }

    fn violate(&mut self, why: String) {
        self.held = false;
        self.violations += 1;
        if self.examples.len() < SHOWN {
            self.examples.push(why);
        }
    }
}

/// A command's record in a service's `commands` table.
#[derive(Clone, Debug, sqlx::FromRow)]
struct Recorded {
    scope: String,
    idempotency_key: String,
    stream_id: Uuid,
    first_version: i32,
    last_version: i32,
}

/// An event of a service's log, as far as the checks need it.
#[derive(Clone, Debug, sqlx::FromRow)]
struct Logged {
    event_id: Uuid,
    stream_id: Uuid,
    version: i32,
    event_type: String,
    actor: String,
    /// The writing transaction (`xid8` as text).
    transaction: String,
}

/// What one schema holds.
#[derive(Debug, Default)]
struct Log {
    commands: HashMap<(String, String), Recorded>,
    events: Vec<Logged>,
    by_stream_version: HashMap<(Uuid, i32), usize>,
    by_event_id: HashMap<Uuid, u32>,
}

async fn read_log(pool: &PgPool, schema: &str) -> anyhow::Result<Log> {
    let commands: Vec<Recorded> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT scope, idempotency_key, stream_id, first_version, last_version FROM {schema}.commands"
    )))
    .fetch_all(pool)
    .await
    .with_context(|| format!("Failed to read {schema}.commands"))?;
    let events: Vec<Logged> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT event_id, stream_id, version, event_type, actor, transaction_id::text AS transaction
         FROM {schema}.events"
    )))
    .fetch_all(pool)
    .await
    .with_context(|| format!("Failed to read {schema}.events"))?;
    let mut log = Log::default();
    for (n, event) in events.iter().enumerate() {
        log.by_stream_version
            .insert((event.stream_id, event.version), n);
        *log.by_event_id.entry(event.event_id).or_default() += 1;
    }
    log.events = events;
    log.commands = commands
        .into_iter()
        .map(|c| ((c.scope.clone(), c.idempotency_key.clone()), c))
        .collect();
    Ok(log)
}

/// The checker of one run.
#[derive(Debug)]
pub struct Checker {
    pool: PgPool,
    history: Vec<Entry>,
}

impl Checker {
    /// Reads the history file; connects straight to PostgreSQL (not through a proxy).
    ///
    /// # Errors
    /// When the history cannot be read or PostgreSQL does not answer.
    pub async fn new(cluster: &Cluster) -> anyhow::Result<Checker> {
        let history = crate::history::History::read(cluster.history().path())?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&cluster.database_url())
            .await
            .context("Failed to connect the checker to PostgreSQL")?;
        Ok(Checker { pool, history })
    }

    pub fn history(&self) -> &[Entry] {
        &self.history
    }

    /// I1, I2 and I3, from the history against every service's commands and events.
    ///
    /// # Errors
    /// When the logs cannot be read.
    pub async fn commands(&self) -> anyhow::Result<[Verdict; 3]> {
        let mut logs = BTreeMap::new();
        for service in Service::ALL {
            logs.insert(
                service.schema(),
                read_log(&self.pool, service.schema()).await?,
            );
        }
        let mut i1 = Verdict::new("I1");
        let mut i2 = Verdict::new("I2");
        let mut i3 = Verdict::new("I3");
        let mut scopes = BTreeSet::new();
        for entry in &self.history {
            scopes.insert(entry.scope.clone());
            let Some(log) = logs.get(entry.schema.as_str()) else {
                i1.violate(format!(
                    "{}: unknown schema {}",
                    entry.idempotency_key, entry.schema
                ));
                continue;
            };
            let recorded = log
                .commands
                .get(&(entry.scope.clone(), entry.idempotency_key.clone()));
            match entry.outcome {
                Outcome::Ok => {
                    check_acknowledged(&mut i1, entry, recorded, log);
                    if entry.intent == Intent::Refuse {
                        i2.violate(format!(
                            "{} {}: a probe meant to be refused was accepted",
                            entry.rpc, entry.idempotency_key
                        ));
                    }
                }
                Outcome::Fail => {
                    i2.check(recorded.is_none(), || {
                        format!(
                            "{} {} ended in {} but its key is recorded",
                            entry.rpc, entry.idempotency_key, entry.code
                        )
                    });
                }
                Outcome::Unknown => {}
            }
            if entry.attempts.len() > 1 || entry.outcome == Outcome::Unknown {
                *i3.figures.entry("retried_or_unknown").or_default() += 1;
                if entry.outcome == Outcome::Unknown {
                    *i3.figures.entry("unknown").or_default() += 1;
                    if recorded.is_some() {
                        *i3.figures.entry("unknown_but_written").or_default() += 1;
                    }
                }
                let whole = recorded.is_none_or(|r| events_of(r, log).is_ok());
                i3.check(whole, || {
                    format!(
                        "{} {}: its record's events are not each in the log once",
                        entry.rpc, entry.idempotency_key
                    )
                });
            }
        }
        // A retry applied twice would show as a client's event outside the one record of its
        // key; on the paced load's hot set, as more events than the hot keys recorded there.
        for (schema, log) in &logs {
            let mut hot: HashMap<Uuid, (i32, u32)> = HashMap::new();
            for record in log
                .commands
                .values()
                .filter(|r| r.scope.starts_with(HOT_SCOPE))
            {
                hot.entry(record.stream_id).or_default().0 +=
                    record.last_version - record.first_version + 1;
            }
            for event in log.events.iter().filter(|e| e.actor.starts_with(HOT_SCOPE)) {
                hot.entry(event.stream_id).or_default().1 += 1;
            }
            for (stream_id, (recorded, logged)) in hot {
                i3.check(i64::from(recorded) == i64::from(logged), || {
                    format!("{schema}: hot stream {stream_id} has {logged} hot events, {recorded} recorded")
                });
            }
            // Every event a client's command wrote lies inside exactly one command record of
            // a key the history holds, or was written in the same transaction as one that does
            // (a command writing two streams: a submission and its publication hold). A retry
            // applied twice, without its record, would be neither. (A client may write one
            // event type several times into one stream: a second recommendation accepted, the
            // second of two approvals.)
            let keys: HashSet<(&str, &str)> = self
                .history
                .iter()
                .map(|e| (e.scope.as_str(), e.idempotency_key.as_str()))
                .collect();
            let mut records: HashMap<Uuid, Vec<&Recorded>> = HashMap::new();
            for record in log.commands.values() {
                records.entry(record.stream_id).or_default().push(record);
            }
            let clients: Vec<&Logged> = log
                .events
                .iter()
                .filter(|e| scopes.contains(&e.actor) && !e.actor.starts_with(HOT_SCOPE))
                .collect();
            let mut recorded_in: HashSet<&str> = HashSet::new();
            let mut outside = Vec::new();
            for event in clients {
                let covering: Vec<&&Recorded> = records
                    .get(&event.stream_id)
                    .into_iter()
                    .flatten()
                    .filter(|r| (r.first_version..=r.last_version).contains(&event.version))
                    .collect();
                match covering.as_slice() {
                    [] => outside.push(event),
                    [record] if keys.contains(&(record.scope.as_str(), record.idempotency_key.as_str())) => {
                        recorded_in.insert(event.transaction.as_str());
                        i3.check(true, String::new);
                    }
                    _ => i3.violate(format!(
                        "{schema}: {} {} (version {} of {}) is in {} command records, or one of no key of the history",
                        event.event_type,
                        event.event_id,
                        event.version,
                        event.stream_id,
                        covering.len()
                    )),
                }
            }
            for event in outside {
                i3.check(recorded_in.contains(event.transaction.as_str()), || {
                    format!(
                        "{schema}: {} {} (version {} of {}) is in no command record, nor in a recorded command's transaction",
                        event.event_type, event.event_id, event.version, event.stream_id
                    )
                });
            }
        }
        let refused = self
            .history
            .iter()
            .filter(|e| e.intent == Intent::Refuse && e.outcome == Outcome::Fail)
            .count();
        i2.figures.insert("probes_refused", refused as u64);
        Ok([i1, i2, i3])
    }

    /// I4: per stream, versions 1..n once each; event ids and positions unique.
    ///
    /// # Errors
    /// When a log cannot be read.
    pub async fn streams(&self) -> anyhow::Result<Verdict> {
        let mut verdict = Verdict::new("I4");
        for service in Service::ALL {
            let schema = service.schema();
            let broken: Vec<(String, i64, i32, i32)> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT stream_id::text, count(*), min(version), max(version) FROM {schema}.events
                 GROUP BY stream_id
                 HAVING min(version) <> 1 OR max(version) <> count(*)
                     OR count(DISTINCT version) <> count(*)"
            )))
            .fetch_all(&self.pool)
            .await?;
            let (streams, events, ids, positions): (i64, i64, i64, i64) =
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT count(DISTINCT stream_id), count(*), count(DISTINCT event_id),
                            count(DISTINCT position) FROM {schema}.events"
                )))
                .fetch_one(&self.pool)
                .await?;
            verdict.checked += u64::try_from(streams).unwrap_or(0);
            for (stream, count, min, max) in broken {
                verdict.violate(format!(
                    "{schema}: stream {stream} has {count} events, versions {min}..{max}"
                ));
            }
            verdict.check(ids == events && positions == events, || {
                format!("{schema}: {events} events, {ids} event ids, {positions} positions")
            });
            *verdict.figures.entry("events").or_default() += u64::try_from(events).unwrap_or(0);
        }
        Ok(verdict)
    }

    /// I5: waits up to [`T_FEED`] until every stream on NATS holds exactly the log's event ids,
    /// then decides on what it holds; `figures.waited_ms` is how long that took.
    ///
    /// # Errors
    /// When NATS or PostgreSQL cannot be read at all.
    pub async fn feed(&self, cluster: &Cluster) -> anyhow::Result<Verdict> {
        let client = cluster.nats_as_ops().await?;
        let js = jetstream::new(client);
        let started = Instant::now();
        loop {
            let verdict = self.feed_once(&js, &cluster.injected()).await?;
            if verdict.held || started.elapsed() >= T_FEED {
                let mut verdict = verdict;
                verdict.figures.insert(
                    "waited_ms",
                    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                );
                return Ok(verdict);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// `injected`: the `Nats-Msg-Id`s a scenario published itself, in no log (left out).
    async fn feed_once(
        &self,
        js: &jetstream::Context,
        injected: &[String],
    ) -> anyhow::Result<Verdict> {
        let mut verdict = Verdict::new("I5");
        let namespace = Namespace::root();
        let feed_type = escalation::feed::STREAM_TYPE;
        let streams = [
            ("complaints", "complaints", "TRUE".to_owned()),
            (
                "escalation",
                "escalation",
                format!("stream_type <> '{feed_type}'"),
            ),
            ("learning-reviews", "learning_reviews", "TRUE".to_owned()),
            ("feed", "escalation", format!("stream_type = '{feed_type}'")),
        ];
        for (name, schema, filter) in streams {
            let stream_name = namespace.stream_name(name);
            let logged: Vec<Uuid> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT event_id FROM {schema}.events WHERE {filter}"
            )))
            .fetch_all(&self.pool)
            .await?;
            let logged: BTreeSet<Uuid> = logged.into_iter().collect();
            let messages = read_stream(js, &stream_name).await?;
            let mut published = BTreeSet::new();
            let mut duplicates = 0u64;
            let mut positions = Vec::new();
            for (id, position) in &messages {
                if injected.contains(id) {
                    *verdict.figures.entry("injected").or_default() += 1;
                    continue;
                }
                match id.parse::<Uuid>() {
                    Ok(id) if published.insert(id) => {}
                    Ok(_) => duplicates += 1,
                    Err(_) => {
                        verdict.violate(format!("{stream_name}: a message without an event id"))
                    }
                }
                if let Some(position) = position {
                    positions.push(*position);
                }
            }
            let missing = logged.difference(&published).count();
            let extra = published.difference(&logged).count();
            verdict.checked += logged.len() as u64;
            verdict.figures.insert(
                match name {
                    "complaints" => "complaints_messages",
                    "escalation" => "escalation_messages",
                    "learning-reviews" => "learning_reviews_messages",
                    _ => "feed_messages",
                },
                messages.len() as u64,
            );
            if missing > 0 || extra > 0 {
                verdict.violate(format!(
                    "{stream_name}: {missing} logged events missing, {extra} not in the log"
                ));
            }
            if duplicates > 0 {
                verdict.violate(format!("{stream_name}: {duplicates} duplicate event ids"));
            }
            if name == "feed" {
                let expected: Vec<u64> = (1..=positions.len() as u64).collect();
                if positions != expected {
                    verdict.violate(format!(
                        "FEED positions are not 1..{} in order: first differing at index {:?}",
                        positions.len(),
                        positions.iter().zip(&expected).position(|(a, b)| a != b)
                    ));
                }
            }
        }
        Ok(verdict)
    }

    /// I7: rebuilds every rebuildable projection with `redress projections rebuild` and compares
    /// its tables row by row with what the live runners made. Call after [`settle`].
    ///
    /// # Errors
    /// When the binary cannot run or a table cannot be read.
    pub async fn projections(&self, cluster: &Cluster) -> anyhow::Result<Verdict> {
        let mut verdict = Verdict::new("I7");
        let listed = cluster
            .operator(&["projections", "list", "--json"])
            .output()
            .await?;
        anyhow::ensure!(
            listed.status.success(),
            "redress projections list: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
        let listed: Vec<Listed> = serde_json::from_slice(&listed.stdout)?;
        for projection in listed.iter().filter(|p| p.rebuildable) {
            let name = format!("{}/{}", projection.service, projection.name);
            let schema = projection.service.replace('-', "_");
            let mut before = BTreeMap::new();
            for table in &projection.tables {
                before.insert(table.clone(), rows(&self.pool, &schema, table).await?);
            }
            let rebuilt = cluster
                .operator(&["projections", "rebuild", &name])
                .output()
                .await?;
            if !rebuilt.status.success() {
                verdict.violate(format!(
                    "{name}: rebuild failed: {}",
                    String::from_utf8_lossy(&rebuilt.stderr).trim()
                ));
                continue;
            }
            for (table, expected) in &before {
                let actual = rows(&self.pool, &schema, table).await?;
                verdict.check(&actual == expected, || {
                    let missing = expected.iter().filter(|r| !actual.contains(r)).count();
                    let extra = actual.iter().filter(|r| !expected.contains(r)).count();
                    format!(
                        "{name}: {table} live has {} rows, the rebuild {}: {missing} missing, {extra} new",
                        expected.len(),
                        actual.len()
                    )
                });
                *verdict.figures.entry("rows").or_default() += expected.len() as u64;
            }
        }
        Ok(verdict)
    }
}

/// Checks one acknowledged command against its record.
fn check_acknowledged(
    verdict: &mut Verdict,
    entry: &Entry,
    recorded: Option<&Recorded>,
    log: &Log,
) {
    let what = || format!("{} {}", entry.rpc, entry.idempotency_key);
    let Some(recorded) = recorded else {
        // A command that changed nothing records nothing and names no events.
        verdict.check(entry.returned_event_ids.is_empty(), || {
            format!(
                "{}: acknowledged with events but its key is not recorded",
                what()
            )
        });
        return;
    };
    match events_of(recorded, log) {
        Err(why) => verdict.violate(format!("{}: {why}", what())),
        Ok(ids) => {
            let returned: Vec<Uuid> = entry
                .returned_event_ids
                .iter()
                .filter_map(|id| id.parse().ok())
                .collect();
            verdict.check(returned == ids, || {
                format!(
                    "{}: the receipt named {returned:?}, the record holds {ids:?}",
                    what()
                )
            });
            verdict.check(
                entry.stream_id.as_deref() == Some(recorded.stream_id.to_string().as_str())
                    && entry.version == u64::try_from(recorded.last_version).ok(),
                || {
                    format!(
                        "{}: the receipt's stream or version differs from the record",
                        what()
                    )
                },
            );
        }
    }
}

/// The event ids of a record's versions, each of which must be in the log exactly once.
fn events_of(recorded: &Recorded, log: &Log) -> Result<Vec<Uuid>, String> {
    let mut ids = Vec::new();
    for version in recorded.first_version..=recorded.last_version {
        let Some(&n) = log.by_stream_version.get(&(recorded.stream_id, version)) else {
            return Err(format!(
                "version {version} of {} is missing",
                recorded.stream_id
            ));
        };
        let event = &log.events[n];
        if log.by_event_id.get(&event.event_id) != Some(&1) {
            return Err(format!(
                "event {} is in the log more than once",
                event.event_id
            ));
        }
        ids.push(event.event_id);
    }
    Ok(ids)
}

/// A projection as `redress projections list --json` shows it.
#[derive(Debug, serde::Deserialize)]
struct Listed {
    service: String,
    name: String,
    rebuildable: bool,
    tables: Vec<String>,
}

/// Every row of a table as text, sorted, leaving out what the events do not determine: the
/// timers' bookkeeping (only whether one fired or was cancelled counts) and a sample's random
/// id (the same exceptions as the rebuild tests of `services/redress/tests/ops/projections.rs`).
async fn rows(pool: &PgPool, schema: &str, table: &str) -> anyhow::Result<Vec<String>> {
    let columns = match table {
        "complaint_timers" | "inspection_timers" => {
            "timer_id, kind, stream_id, due_at, fired_at IS NOT NULL AS fired, \
             cancelled_at IS NOT NULL AS cancelled"
        }
        "closed_complaint_samples" => {
            "complaint_id, remit, route, grounds, submitted_at, outcome, remedies, responded_at, \
             late, closed_at, sampled"
        }
        _ => "*",
    };
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT r::text FROM (SELECT {columns} FROM {schema}.{table}) r ORDER BY 1"
    )))
    .fetch_all(pool)
    .await
    .with_context(|| format!("Failed to read {schema}.{table}"))
}

/// Every message of a stream, in order: its `Nats-Msg-Id` and, if present, its
/// `Redress-Feed-Position`. Read with an ordered consumer, which the server deletes itself.
async fn read_stream(
    js: &jetstream::Context,
    name: &str,
) -> anyhow::Result<Vec<(String, Option<u64>)>> {
    let mut stream = js
        .get_stream(name)
        .await
        .with_context(|| format!("Failed to find stream {name}"))?;
    let count = stream.info().await?.state.messages;
    if count == 0 {
        return Ok(Vec::new());
    }
    let consumer = stream
        .create_consumer(pull::OrderedConfig::default())
        .await?;
    let mut messages = consumer.messages().await?;
    let mut out = Vec::new();
    while (out.len() as u64) < count {
        let next = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .with_context(|| format!("{name}: read {} of {count} messages", out.len()))?
            .with_context(|| format!("{name}: the consumer ended"))??;
        let header = |key: &str| {
            next.headers
                .as_ref()
                .and_then(|h| h.get(key))
                .map(|v| v.as_str().to_owned())
        };
        out.push((
            header("Nats-Msg-Id").unwrap_or_default(),
            header(escalation::feed::POSITION_HEADER).and_then(|p| p.parse().ok()),
        ));
    }
    Ok(out)
}

/// Waits, up to [`SETTLE_TIMEOUT`] after load stops and faults heal, until nothing is left to do: every
/// relay and projection has read its whole log, every service's durable consumers have nothing
/// pending, and the logs stopped growing. Returns how long it took.
///
/// # Errors
/// When that has not happened in time; the message says what was still busy.
pub async fn settle(cluster: &Cluster) -> anyhow::Result<Duration> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&cluster.database_url())
        .await?;
    let js = jetstream::new(cluster.nats_as_ops().await?);
    let namespace = Namespace::root();
    let started = Instant::now();
    let mut last = None;
    loop {
        let mut busy = Vec::new();
        let mut counts = Vec::new();
        for service in Service::ALL {
            let schema = service.schema();
            let behind: Vec<(String, i64)> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT c.name, (SELECT count(*) FROM {schema}.events e
                     WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position))
                 FROM {schema}.checkpoints c"
            )))
            .fetch_all(&pool)
            .await?;
            busy.extend(
                behind
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(name, n)| format!("{schema}.{name}: {n} behind")),
            );
            let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT count(*) FROM {schema}.events"
            )))
            .fetch_one(&pool)
            .await?;
            counts.push(count);
            // The independent body's consumer on FEED is read by nobody here.
            let stream = js.get_stream(namespace.stream_name(service.name())).await?;
            let names: Vec<String> = stream
                .consumer_names()
                .filter_map(|name| async move { name.ok() })
                .collect()
                .await;
            for name in names {
                let info = stream.consumer_info(&name).await?;
                if info.num_pending > 0 || info.num_ack_pending > 0 {
                    busy.push(format!(
                        "{name}: {} pending",
                        info.num_pending + info.num_ack_pending as u64
                    ));
                }
            }
        }
        if busy.is_empty() && last.as_ref() == Some(&counts) {
            pool.close().await;
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < SETTLE_TIMEOUT,
            "still busy {} s after the load: {busy:?}",
            SETTLE_TIMEOUT.as_secs()
        );
        last = busy.is_empty().then_some(counts);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
