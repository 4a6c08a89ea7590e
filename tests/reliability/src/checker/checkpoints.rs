//! I8, monotonic checkpoints: no relay or projection checkpoint ever moves back, and a relay's
//! checkpoint never covers an event NATS does not hold.
//!
//! The first half is exact. Before the load, [`record_writes`] installs an `AFTER UPDATE OR
//! DELETE` row trigger on every service's `checkpoints` table that appends each write (schema,
//! name, old and new `(transaction_id, position)`, `clock_timestamp()` and the writer's
//! transaction id) to `reliability.checkpoint_writes`. The trigger function is `SECURITY
//! DEFINER`, owned by the superuser the suite connects as, so the services need no grant on the
//! suite's schema. A recorded row commits or rolls back with the write it records, so the
//! recording holds exactly the writes that took effect, however short-lived; a sample every
//! few hundred milliseconds would miss a checkpoint written back and forward again in between.
//! [`Recording::judge`] then holds every UPDATE that kept the row's name to `new >= old`.
//!
//! What is not a regression, and why:
//! * An INSERT starts a checkpoint (a projection's first start, a relay's first page): it has
//!   no earlier position, so it is not recorded.
//! * A DELETE ends one (an operator or a test resetting a relay to republish; every publish is
//!   de-duplicated by `Nats-Msg-Id`). The row that is inserted next starts again from the
//!   start, and only later UPDATEs of it are compared, with it. DELETEs are counted.
//! * An UPDATE that changes `name` turns one checkpoint into another; it is counted, not
//!   compared.
//!
//! A projection rebuild (`redress projections rebuild`, or a version change at start) replays
//! the log into a scratch schema and moves the tables into the live schema, and does not
//! reset, delete or rename the checkpoint: it upserts it, under the checkpoint's row lock, to
//! where its replay ended. That replay read, under the lock, everything below the current
//! horizon, which covers every event the live runner had read, so a rebuild's write is
//! held to the same rule as every other UPDATE. The relay's upsert only moves forward (its
//! `WHERE` clause; a write it skips fires no trigger) and a projection's step moves from the
//! position it locked to the end of a page read after it.
//!
//! Writes before [`record_writes`] (the services' first start, before any load) and after
//! [`Sampler::finish`] (I7's rebuilds) are outside the verdict. The verdict also fails when a
//! trigger is missing or disabled at the end, since the recording would then be incomplete.
//!
//! The second half stays sampled: the events at or before a relay's checkpoint that its route
//! publishes, read in one statement with the checkpoint, must not outnumber the messages its
//! JetStream stream holds, read after it. Streams deny delete and purge and de-duplicate by
//! `Nats-Msg-Id`, so a stream's message count only grows and counts distinct events; a
//! checkpoint past an unpublished event is the only way to break it.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use platform::nats::Namespace;
use platform::pg::{PgTimestamp, Xid8};
use sqlx::{AssertSqlSafe, PgPool};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Verdict;
use crate::cluster::{Cluster, Service};
use crate::history::History;

/// How often the relays' coverage is read.
const EVERY: Duration = Duration::from_millis(300);

/// The name of the recording trigger on each `checkpoints` table.
const TRIGGER: &str = "reliability_checkpoint_writes";

/// The suite's own schema, its table of recorded writes and the trigger function. Not
/// `UNLOGGED`: an unlogged table is emptied by crash recovery, and S4 crashes PostgreSQL. The
/// function needs no `EXECUTE` grant: PostgreSQL checks that when a trigger is created, not
/// when it fires, and a trigger function cannot be called directly.
const RECORDING: &str = "
CREATE SCHEMA IF NOT EXISTS reliability;
CREATE TABLE IF NOT EXISTS reliability.checkpoint_writes (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schema_name        text        NOT NULL,
    operation          text        NOT NULL CHECK (operation IN ('UPDATE', 'DELETE')),
    old_name           text        NOT NULL,
    old_transaction_id xid8        NOT NULL,
    old_position       bigint      NOT NULL,
    new_name           text,
    new_transaction_id xid8,
    new_position       bigint,
    written_at         timestamptz NOT NULL,
    writer             xid8        NOT NULL
);
CREATE OR REPLACE FUNCTION reliability.record_checkpoint_write() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO reliability.checkpoint_writes
            (schema_name, operation, old_name, old_transaction_id, old_position,
             new_name, new_transaction_id, new_position, written_at, writer)
        VALUES (TG_TABLE_SCHEMA, TG_OP, OLD.name, OLD.transaction_id, OLD.position,
                NEW.name, NEW.transaction_id, NEW.position, clock_timestamp(), pg_current_xact_id());
    ELSE
        INSERT INTO reliability.checkpoint_writes
            (schema_name, operation, old_name, old_transaction_id, old_position, written_at, writer)
        VALUES (TG_TABLE_SCHEMA, TG_OP, OLD.name, OLD.transaction_id, OLD.position,
                clock_timestamp(), pg_current_xact_id());
    END IF;
    RETURN NULL;
END
$$;
";

/// Every write of a checkpoint since [`record_writes`], recorded in PostgreSQL by a trigger.
#[derive(Clone, Debug)]
pub struct Recording {
    schemas: Vec<&'static str>,
    /// PostgreSQL's clock when the triggers were in place, and the run's clock then (ms), to
    /// report a write's time on the history's clock.
    since: PgTimestamp,
    since_ms: u64,
}

/// Installs the recording on every service's `checkpoints` table, straight to PostgreSQL as the
/// superuser (not through a proxy). Call after the cluster has migrated and before the load.
///
/// # Errors
/// When PostgreSQL cannot be reached or the trigger cannot be created.
pub async fn record_writes(cluster: &Cluster) -> anyhow::Result<Recording> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&cluster.database_url())
        .await?;
    let schemas = Service::ALL.iter().map(|s| s.schema()).collect();
    let recording = install(&pool, schemas).await;
    pool.close().await;
    Ok(Recording {
        since_ms: cluster.history().now_ms(),
        ..recording?
    })
}

/// Creates the recording table and function and a trigger on `<schema>.checkpoints` for each
/// schema, in one transaction. Safe to repeat. The recording's clock starts at 0 ms then.
async fn install(pool: &PgPool, schemas: Vec<&'static str>) -> anyhow::Result<Recording> {
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(RECORDING).execute(&mut *tx).await?;
    for schema in &schemas {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE OR REPLACE TRIGGER {TRIGGER} AFTER UPDATE OR DELETE ON {schema}.checkpoints
             FOR EACH ROW EXECUTE FUNCTION reliability.record_checkpoint_write()"
        )))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let since: PgTimestamp = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(pool)
        .await?;
    Ok(Recording {
        schemas,
        since,
        since_ms: 0,
    })
}

/// A recorded UPDATE that moved a checkpoint back.
type Regression = (String, String, Xid8, i64, Xid8, i64, PgTimestamp, Xid8);

impl Recording {
    /// Adds the recorded writes to `verdict`: each UPDATE that kept a checkpoint's name is
    /// checked (`figures.writes`), and one whose new `(transaction_id, position)` is below the
    /// old is a violation naming the checkpoint, both positions, the run's time (ms) and the
    /// writing transaction. DELETEs and renames are counted (`figures.deletes`,
    /// `figures.renames`), not compared. A schema whose trigger is gone or disabled is a
    /// violation.
    ///
    /// # Errors
    /// When the recording cannot be read.
    pub async fn judge(&self, pool: &PgPool, verdict: &mut Verdict) -> anyhow::Result<()> {
        let schemas: Vec<String> = self.schemas.iter().map(|s| (*s).to_owned()).collect();
        let armed: Vec<String> = sqlx::query_scalar(
            "SELECT n.nspname::text FROM pg_trigger t
               JOIN pg_class c ON c.oid = t.tgrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE t.tgname = $1 AND c.relname = 'checkpoints' AND t.tgenabled IN ('O', 'A')",
        )
        .bind(TRIGGER)
        .fetch_all(pool)
        .await?;
        for schema in &schemas {
            verdict.check(armed.contains(schema), || {
                format!("{schema}.checkpoints: the recording trigger is gone or disabled")
            });
        }
        let (updates, renames, deletes): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE operation = 'UPDATE' AND new_name = old_name),
                    count(*) FILTER (WHERE operation = 'UPDATE' AND new_name <> old_name),
                    count(*) FILTER (WHERE operation = 'DELETE')
               FROM reliability.checkpoint_writes WHERE schema_name = ANY($1)",
        )
        .bind(&schemas)
        .fetch_one(pool)
        .await?;
        let back: Vec<Regression> = sqlx::query_as(
            "SELECT schema_name, old_name, old_transaction_id, old_position,
                    new_transaction_id, new_position, written_at, writer
               FROM reliability.checkpoint_writes
              WHERE schema_name = ANY($1) AND operation = 'UPDATE' AND new_name = old_name
                AND (new_transaction_id, new_position) < (old_transaction_id, old_position)
              ORDER BY id",
        )
        .bind(&schemas)
        .fetch_all(pool)
        .await?;
        let updates = u64::try_from(updates).unwrap_or_default();
        verdict.checked += updates;
        *verdict.figures.entry("writes").or_default() += updates;
        *verdict.figures.entry("renames").or_default() += u64::try_from(renames).unwrap_or(0);
        *verdict.figures.entry("deletes").or_default() += u64::try_from(deletes).unwrap_or(0);
        for (schema, name, old_tx, old_position, new_tx, new_position, at, writer) in back {
            let at_ms = self.run_ms(at);
            verdict.violate(format!(
                "{schema}.{name} moved back from ({}, {old_position}) to ({}, {new_position}) \
                 at {at_ms} ms, in transaction {}",
                old_tx.0, new_tx.0, writer.0
            ));
        }
        Ok(())
    }

    /// A PostgreSQL time on the run's clock, in milliseconds.
    fn run_ms(&self, at: PgTimestamp) -> i128 {
        i128::from(self.since_ms) + at.0.duration_since(self.since.0).as_millis()
    }
}

/// A relay: its schema, checkpoint, stream and the events its route publishes.
#[derive(Debug)]
pub struct Relay {
    /// The service's schema, where its events and checkpoints are.
    pub schema: &'static str,
    /// The relay's row in `<schema>.checkpoints`.
    pub checkpoint: &'static str,
    /// The service name of its JetStream stream.
    pub stream: &'static str,
    /// A condition on `e`, a row of `<schema>.events`: the events this relay publishes.
    pub published: String,
}

/// Every relay of the system: one per service, and the escalation feed's.
pub fn relays() -> Vec<Relay> {
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

/// Records every checkpoint write and samples every relay's coverage until stopped;
/// [`Sampler::finish`] gives the verdict.
#[derive(Debug)]
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Verdict>,
}

impl Sampler {
    /// Installs the recording ([`record_writes`]) and starts sampling, straight to PostgreSQL
    /// and to NATS as `ops` (not through a proxy).
    ///
    /// # Errors
    /// When PostgreSQL or NATS cannot be reached at the start, or the recording cannot be
    /// installed.
    pub async fn start(cluster: &Cluster) -> anyhow::Result<Sampler> {
        let recording = record_writes(cluster).await?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(1))
            .connect(&cluster.database_url())
            .await?;
        let js = jetstream::new(cluster.nats_as_ops().await?);
        let clock = Arc::clone(cluster.history());
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut verdict = Verdict::new("I8");
            loop {
                sample(&mut verdict, &pool, &js, &clock).await;
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(EVERY) => {}
                }
            }
            // One last sample, after the system settled.
            sample(&mut verdict, &pool, &js, &clock).await;
            if let Err(e) = recording.judge(&pool, &mut verdict).await {
                verdict.violate(format!(
                    "the recorded checkpoint writes could not be read: {e:#}"
                ));
            }
            pool.close().await;
            verdict
        });
        Ok(Sampler { stop, task })
    }

    /// Stops sampling and decides I8: the recorded writes, then the samples.
    ///
    /// # Errors
    /// When the sampling task panicked.
    pub async fn finish(self) -> anyhow::Result<Verdict> {
        let _ = self.stop.send(());
        Ok(self.task.await?)
    }
}

/// Reads every relay's coverage once. A server that does not answer (during an outage) skips
/// that relay's probe, which `figures.skipped` counts.
async fn sample(verdict: &mut Verdict, pool: &PgPool, js: &jetstream::Context, clock: &History) {
    let at_ms = clock.now_ms();
    *verdict.figures.entry("samples").or_default() += 1;
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
        let covered = match covered {
            Ok(Some(covered)) => covered,
            // The relay has not written its checkpoint yet.
            Ok(None) => continue,
            Err(_) => {
                *verdict.figures.entry("skipped").or_default() += 1;
                continue;
            }
        };
        let stream_name = namespace.stream_name(relay.stream);
        let info = match js.get_stream(&stream_name).await {
            Ok(mut stream) => stream.info().await.map(|info| info.state.messages).ok(),
            Err(_) => None,
        };
        let Some(messages) = info else {
            *verdict.figures.entry("skipped").or_default() += 1;
            continue;
        };
        let covered = u64::try_from(covered).unwrap_or_default();
        *verdict.figures.entry("relay_probes").or_default() += 1;
        verdict.check(covered <= messages, || {
            format!(
                "{}.{} covers {covered} published events at {at_ms} ms, {stream_name} holds {messages}",
                relay.schema, relay.checkpoint
            )
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use platform::migrate::{self, EVENT_STORE};
    use platform::testing::TestDb;

    use super::*;

    /// A fresh database with the platform's real `checkpoints` table in `complaints`, the
    /// recording installed on it, and a relay checkpoint at (10, 1).
    async fn recorded() -> (TestDb, PgPool, Recording) {
        let db = TestDb::create().await.unwrap();
        let service = db.pool("complaints").await.unwrap();
        migrate::apply(&service, "complaints", &[EVENT_STORE])
            .await
            .unwrap();
        service.close().await;
        // The recording is installed and judged as the superuser, not through a service pool.
        let pool = PgPool::connect(db.url()).await.unwrap();
        let recording = install(&pool, vec!["complaints"]).await.unwrap();
        sqlx::query("INSERT INTO complaints.checkpoints (name, transaction_id, position) VALUES ('relay', $1, 1)")
            .bind(Xid8(10))
            .execute(&pool)
            .await
            .unwrap();
        (db, pool, recording)
    }

    /// Writes the checkpoint `name` as the relay and projections do: one UPDATE, committed.
    async fn write(pool: &PgPool, name: &str, transaction: u64, position: i64) {
        sqlx::query(
            "UPDATE complaints.checkpoints SET transaction_id = $2, position = $3, updated_at = now()
             WHERE name = $1",
        )
        .bind(name)
        .bind(Xid8(transaction))
        .bind(position)
        .execute(pool)
        .await
        .unwrap();
    }

    async fn judged(pool: &PgPool, recording: &Recording) -> Verdict {
        let mut verdict = Verdict::new("I8");
        recording.judge(pool, &mut verdict).await.unwrap();
        verdict
    }

    #[tokio::test]
    async fn a_checkpoint_written_back_and_forward_again_between_samples_breaks_i8() {
        // Arrange
        let (_db, pool, recording) = recorded().await;

        // Act: forward, back and forward again within a few milliseconds.
        write(&pool, "relay", 12, 3).await;
        write(&pool, "relay", 11, 7).await;
        write(&pool, "relay", 13, 1).await;

        // Assert: a sample now sees the checkpoint ahead of where it was; the recording does not.
        let now: (Xid8, i64) = sqlx::query_as(
            "SELECT transaction_id, position FROM complaints.checkpoints WHERE name = 'relay'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(now, (Xid8(13), 1));
        let verdict = judged(&pool, &recording).await;
        assert!(!verdict.held);
        assert_eq!(verdict.violations, 1);
        assert_eq!(verdict.figures.get("writes"), Some(&3));
        assert!(
            verdict.examples[0].starts_with("complaints.relay moved back from (12, 3) to (11, 7)"),
            "{:?}",
            verdict.examples
        );
    }

    #[tokio::test]
    async fn a_checkpoint_that_only_moves_forward_holds_i8() {
        // Arrange
        let (_db, pool, recording) = recorded().await;

        // Act: forward, the same position again (as a rebuild that found nothing new writes
        // it), forward again, and a rebuild's upsert past it.
        write(&pool, "relay", 10, 5).await;
        write(&pool, "relay", 10, 5).await;
        write(&pool, "relay", 11, 1).await;
        sqlx::query(
            "INSERT INTO complaints.checkpoints (name, transaction_id, position) VALUES ('relay', $1, 4)
             ON CONFLICT (name) DO UPDATE SET transaction_id = excluded.transaction_id,
                                              position = excluded.position, updated_at = now()",
        )
        .bind(Xid8(12))
        .execute(&pool)
        .await
        .unwrap();

        // Assert
        let verdict = judged(&pool, &recording).await;
        assert!(verdict.held, "{:?}", verdict.examples);
        assert_eq!(verdict.figures.get("writes"), Some(&4));
        assert_eq!(verdict.checked, 5, "four writes and one trigger");
    }

    #[tokio::test]
    async fn a_deleted_or_renamed_checkpoint_that_starts_again_holds_i8() {
        // Arrange
        let (_db, pool, recording) = recorded().await;

        // Act: the relay's checkpoint deleted (to republish) and started again from the start;
        // a checkpoint renamed to one further back.
        write(&pool, "relay", 20, 1).await;
        sqlx::query("DELETE FROM complaints.checkpoints WHERE name = 'relay'")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO complaints.checkpoints (name) VALUES ('relay')")
            .execute(&pool)
            .await
            .unwrap();
        write(&pool, "relay", 5, 1).await;
        sqlx::query(
            "UPDATE complaints.checkpoints SET name = 'relay.old', transaction_id = $1, position = 0
             WHERE name = 'relay'",
        )
        .bind(Xid8(1))
        .execute(&pool)
        .await
        .unwrap();

        // Assert
        let verdict = judged(&pool, &recording).await;
        assert!(verdict.held, "{:?}", verdict.examples);
        assert_eq!(verdict.figures.get("writes"), Some(&2));
        assert_eq!(verdict.figures.get("deletes"), Some(&1));
        assert_eq!(verdict.figures.get("renames"), Some(&1));
    }

    #[tokio::test]
    async fn a_regression_rolled_back_with_its_transaction_is_not_recorded() {
        // Arrange
        let (_db, pool, recording) = recorded().await;

        // Act
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("UPDATE complaints.checkpoints SET position = 0 WHERE name = 'relay'")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();

        // Assert
        let verdict = judged(&pool, &recording).await;
        assert!(verdict.held, "{:?}", verdict.examples);
        assert_eq!(verdict.figures.get("writes"), Some(&0));
    }

    #[tokio::test]
    async fn a_disabled_recording_breaks_i8() {
        // Arrange
        let (_db, pool, recording) = recorded().await;

        // Act
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER TABLE complaints.checkpoints DISABLE TRIGGER {TRIGGER}"
        )))
        .execute(&pool)
        .await
        .unwrap();
        write(&pool, "relay", 1, 1).await;

        // Assert
        let verdict = judged(&pool, &recording).await;
        assert!(!verdict.held);
        assert!(
            verdict.examples[0].contains("gone or disabled"),
            "{:?}",
            verdict.examples
        );
    }
}
