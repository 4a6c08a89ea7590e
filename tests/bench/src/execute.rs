//! W2: the append path alone, in process (no gRPC, no NATS), next to cqrs-es doing the same.
//!
//! * `project`: `EventStore::execute` of the platform's test `Ledger` aggregate, the way a
//!   service's command handler calls it: `Open` on a fresh stream id with a `CommandKey` (a
//!   fresh request id, the hash of the 500-byte request) and command metadata, expectation
//!   `Any`. `Open` begins a stream, so the store decides it on the empty state (one 500-byte
//!   `Opened` event) and one statement appends it with its idempotency record, expecting no
//!   stream; there is no load (`docs/adr/0011`).
//! * `peer:cqrs_es`: cqrs-es 0.5 with postgres-es 0.5 (`postgres_cqrs`, no queries, no
//!   snapshots): `CqrsFramework::execute` of `Open` on a fresh aggregate id of a `Complaint`
//!   aggregate, giving one `ComplaintOpened` event whose JSON payload is 500 bytes. postgres-es
//!   selects the aggregate's events, then inserts the event in a transaction. Its tables are
//!   postgres-es's `db/init.sql` (`events`, `snapshots`).
//! * `peer:sql_insert`: the append part's bare one-row INSERT.
//!
//! Each run at each `--concurrency` gets a fresh schema and a CHECKPOINT first, and a pool of
//! the concurrency (at least 2) opened before the load starts; cqrs-es's pool is sqlx 0.8's,
//! the others sqlx 0.9's. Rounds alternate which side goes first.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use platform::event_store::{CommandContext, CommandKey, EventStore};
use platform::migrate;
use platform::tail::Metadata;
use platform::testing::ledger;
use sqlx_0_8 as sqlx08;
use uuid::Uuid;

use crate::append::{self, PROJECT};
use crate::load;
use crate::report::{self, Enforced, PAYLOAD_BYTES, Ratio, Summary, Target, log};
use crate::run::Ctx;
use crate::workload;

const BENCH: &str = "w2_append";
const CQRS_ES: &str = "peer:cqrs_es";
/// The RPC name hashed into every project command's idempotency key.
const OPEN_RPC: &str = "redress.bench.v1.Ledgers/Open";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Project,
    CqrsEs,
    SqlInsert,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Project => PROJECT,
            Side::CqrsEs => CQRS_ES,
            Side::SqlInsert => append::PEER,
        }
    }
}

type Samples = BTreeMap<(usize, Side), Vec<Summary>>;

/// Runs W2's rounds, then prints the medians and ratio lines.
pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let s = &ctx.settings;
    let mut samples = Samples::new();
    for round in 1..=s.rounds {
        for &c in &s.concurrency {
            let mut order = [Side::Project, Side::CqrsEs, Side::SqlInsert];
            if round % 2 == 0 {
                order.reverse();
            }
            for side in order {
                let summary = match side {
                    Side::Project => project(ctx, c, round).await?,
                    Side::CqrsEs => cqrs_es(ctx, c, round).await?,
                    Side::SqlInsert => {
                        append::run_one(ctx, "w2", append::Side::Peer, c, round).await?
                    }
                };
                ctx.reporter
                    .sample(BENCH, side.name(), c, round, s.run_warmup, &summary);
                samples.entry((c, side)).or_default().push(summary);
            }
        }
    }
    for ((c, side), runs) in &samples {
        ctx.reporter.median(BENCH, side.name(), *c, runs);
    }
    ratios(ctx, &samples);
    Ok(())
}

fn ratios(ctx: &Ctx, samples: &Samples) {
    let runs = |c: usize, side: Side| samples.get(&(c, side)).map_or(&[][..], Vec::as_slice);
    let p99 = |s: &Summary| s.latency.map_or(f64::NAN, |l| l.p99 as f64);
    for &c in &ctx.settings.concurrency {
        let (project, cqrs, insert) = (
            runs(c, Side::Project),
            runs(c, Side::CqrsEs),
            runs(c, Side::SqlInsert),
        );
        if project.is_empty() {
            continue;
        }
        ctx.reporter.ratio(&Ratio {
            name: format!("w2_c{c}_throughput_vs_cqrs_es"),
            bench: BENCH,
            concurrency: Some(c),
            numerator: PROJECT,
            denominator: Some(CQRS_ES),
            per_round: report::per_round(project, cqrs, |p, q| p.throughput() / q.throughput()),
            target: Some((Target::AtLeast(2.0, ">=2.0"), Enforced::Yes)),
        });
        ctx.reporter.ratio(&Ratio {
            name: format!("w2_c{c}_p99_vs_cqrs_es"),
            bench: BENCH,
            concurrency: Some(c),
            numerator: PROJECT,
            denominator: Some(CQRS_ES),
            per_round: report::per_round(project, cqrs, |p, q| p99(p) / p99(q)),
            target: Some((Target::AtMost(0.7, "<=0.7"), Enforced::Yes)),
        });
        ctx.reporter.ratio(&Ratio {
            name: format!("w2_c{c}_throughput_vs_sql_insert"),
            bench: BENCH,
            concurrency: Some(c),
            numerator: PROJECT,
            denominator: Some(append::PEER),
            per_round: report::per_round(project, insert, |p, i| p.throughput() / i.throughput()),
            target: Some((Target::AtLeast(0.50, ">=0.50"), Enforced::Informational)),
        });
    }
}

/// The pool size of every side at `c` writers.
fn pool_size(c: usize) -> anyhow::Result<u32> {
    Ok(u32::try_from(c.max(2))?)
}

/// One measured run of `EventStore::execute` at `c` writers, in a fresh schema.
async fn project(ctx: &Ctx, c: usize, round: u32) -> anyhow::Result<Summary> {
    let s = &ctx.settings;
    let schema = format!("w2_r{round}_c{c}_project");
    let what = format!("{BENCH} {PROJECT} c={c}");
    log!("{what} round {round}");
    let pool = ctx.db.pool(&schema, pool_size(c)?).await?;
    migrate::apply(&pool, &schema, &[migrate::EVENT_STORE]).await?;
    ctx.db.checkpoint().await;
    let store = EventStore::new(pool.clone());
    let owner = Arc::new(workload::opened_owner());
    // The request whose hash goes into each key: the command as it would arrive, 500 bytes.
    let request = Arc::new(
        ledger::new_event(&ledger::Event::Opened(ledger::Opened {
            owner: (*owner).clone(),
        }))
        .payload,
    );
    anyhow::ensure!(
        request.len() == PAYLOAD_BYTES,
        "the ledger event encodes to {} bytes, not {PAYLOAD_BYTES}",
        request.len()
    );
    let load = load::closed_loop(&what, c, s.run_warmup, s.duration, move || {
        let store = store.clone();
        let owner = owner.clone();
        let request = request.clone();
        async move { open_ledger(&store, &owner, &request).await }
    });
    let result = append::metered_with_wal(ctx, load).await;
    pool.close().await;
    ctx.db.drop_schema(&schema).await;
    result
}

/// One command as a service's handler runs it: a fresh stream, a fresh idempotency key, load,
/// decide, append.
async fn open_ledger(store: &EventStore, owner: &str, request: &[u8]) -> anyhow::Result<()> {
    let request_id = Uuid::new_v4().simple().to_string();
    let key = CommandKey::new("bench", &request_id, OPEN_RPC, request)
        .map_err(|e| anyhow::anyhow!("invalid idempotency key: {e}"))?;
    let context = CommandContext {
        metadata: Metadata::for_command("bench", Uuid::now_v7(), None),
        key: Some(key),
        ..CommandContext::default()
    };
    let command = ledger::Command::Open {
        owner: owner.to_owned(),
    };
    let appended = store
        .execute::<ledger::Ledger>(Uuid::new_v4(), command, &context)
        .await?;
    anyhow::ensure!(
        appended.version == 1 && appended.events.len() == 1 && !appended.replayed,
        "the command did not append exactly one event to a new stream: {appended:?}"
    );
    Ok(())
}

/// One measured run of cqrs-es at `c` writers, in a fresh schema holding postgres-es's tables.
async fn cqrs_es(ctx: &Ctx, c: usize, round: u32) -> anyhow::Result<Summary> {
    let s = &ctx.settings;
    let schema = format!("w2_r{round}_c{c}_cqrs");
    let what = format!("{BENCH} {CQRS_ES} c={c}");
    log!("{what} round {round}");
    ctx.db.execute(complaint::schema_sql(&schema)).await?;
    let pool = cqrs_pool(ctx.db.url(), &schema, pool_size(c)?).await?;
    ctx.db.checkpoint().await;
    let cqrs = Arc::new(postgres_es::postgres_cqrs::<complaint::Complaint>(
        pool.clone(),
        Vec::new(),
        (),
    ));
    let text = Arc::new(complaint::padded_text()?);
    let load = load::closed_loop(&what, c, s.run_warmup, s.duration, move || {
        let cqrs = cqrs.clone();
        let command = complaint::Command::Open {
            text: (*text).clone(),
        };
        async move {
            cqrs.execute(&Uuid::new_v4().to_string(), command)
                .await
                .map_err(|e| anyhow::anyhow!("cqrs-es execute failed: {e}"))
        }
    });
    let result = append::metered_with_wal(ctx, load).await;
    let stored: Result<i64, _> = sqlx08::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await;
    pool.close().await;
    ctx.db.drop_schema(&schema).await;
    Ok(result?.with("events_stored", stored.ok()))
}

/// A sqlx 0.8 pool of `size` connections to the bench database with `schema` as search path,
/// every connection opened before it is returned and checked before use only after it sat idle
/// (as `BenchDb::pool` does for the others, through `platform::pg::connect`).
async fn cqrs_pool(url: &str, schema: &str, size: u32) -> anyhow::Result<sqlx08::PgPool> {
    let options: sqlx08::postgres::PgConnectOptions = url.parse()?;
    let options = options
        .options([("search_path", schema)])
        .application_name("redress-bench-cqrs-es");
    // The project's pool policy, so that W2 compares the libraries, not their pools: a
    // connection is checked before use only when it has sat idle.
    let check_after_idle = platform::pg::CHECK_IDLE_CONNECTION_AFTER;
    let pool = sqlx08::postgres::PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(30))
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= check_after_idle {
                    sqlx08::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await?;
    let mut held = Vec::with_capacity(size as usize);
    for _ in 0..size {
        held.push(pool.acquire().await?);
    }
    drop(held);
    Ok(pool)
}

/// The cqrs-es peer's aggregate: a complaint that can be opened once.
mod complaint {
    use cqrs_es::event_sink::EventSink;
    use cqrs_es::{Aggregate, DomainEvent};
    use serde::{Deserialize, Serialize};

    use crate::report::PAYLOAD_BYTES;

    /// postgres-es 0.5's `db/init.sql` (its tables; not its test view, user or sample row) in
    /// `schema`.
    pub(super) fn schema_sql(schema: &str) -> String {
        format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.events (
                 aggregate_type text NOT NULL,
                 aggregate_id   text NOT NULL,
                 sequence       bigint CHECK (sequence >= 0) NOT NULL,
                 event_type     text NOT NULL,
                 event_version  text NOT NULL,
                 payload        json NOT NULL,
                 metadata       json NOT NULL,
                 PRIMARY KEY (aggregate_type, aggregate_id, sequence)
             );
             CREATE TABLE {schema}.snapshots (
                 aggregate_type   text NOT NULL,
                 aggregate_id     text NOT NULL,
                 last_sequence    bigint CHECK (last_sequence >= 0) NOT NULL,
                 current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
                 payload          json NOT NULL,
                 PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
             );"
        )
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    pub(super) struct Complaint {
        opened: bool,
    }

    #[derive(Clone, Debug)]
    pub(super) enum Command {
        Open { text: String },
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub(super) enum Event {
        ComplaintOpened { text: String },
    }

    impl DomainEvent for Event {
        fn event_type(&self) -> String {
            match self {
                Event::ComplaintOpened { .. } => "ComplaintOpened".to_owned(),
            }
        }

        fn event_version(&self) -> String {
            "1.0".to_owned()
        }
    }

    /// The only rule: a complaint opens once.
    #[derive(Debug)]
    pub(super) struct AlreadyOpen;

    impl std::fmt::Display for AlreadyOpen {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the complaint is already open")
        }
    }

    impl std::error::Error for AlreadyOpen {}

    impl Aggregate for Complaint {
        const TYPE: &'static str = "Complaint";
        type Command = Command;
        type Event = Event;
        type Error = AlreadyOpen;
        type Services = ();

        async fn handle(
            &mut self,
            command: Command,
            _services: &(),
            sink: &EventSink<Self>,
        ) -> Result<(), AlreadyOpen> {
            if self.opened {
                return Err(AlreadyOpen);
            }
            let Command::Open { text } = command;
            sink.write(Event::ComplaintOpened { text }, self).await;
            Ok(())
        }

        fn apply(&mut self, event: Event) {
            match event {
                Event::ComplaintOpened { .. } => self.opened = true,
            }
        }
    }

    /// The `text` that makes the stored event payload (`{"ComplaintOpened":{"text":"…"}}`)
    /// exactly [`PAYLOAD_BYTES`] long.
    pub(super) fn padded_text() -> anyhow::Result<String> {
        let empty = serde_json::to_string(&Event::ComplaintOpened {
            text: String::new(),
        })?;
        let text = "x".repeat(PAYLOAD_BYTES.saturating_sub(empty.len()));
        let payload = serde_json::to_string(&Event::ComplaintOpened { text: text.clone() })?;
        anyhow::ensure!(
            payload.len() == PAYLOAD_BYTES,
            "the cqrs-es event encodes to {} bytes, not {PAYLOAD_BYTES}",
            payload.len()
        );
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::complaint;
    use crate::report::PAYLOAD_BYTES;

    #[test]
    fn the_cqrs_es_event_is_as_large_as_the_project_event() {
        let text = complaint::padded_text().expect("the text pads to the payload size");
        let payload = serde_json::to_string(&complaint::Event::ComplaintOpened { text })
            .expect("the event serialises");
        assert_eq!(payload.len(), PAYLOAD_BYTES);
    }
}
