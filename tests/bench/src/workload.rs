//! What every part writes and reads: the 500-byte event, the peer's row, the bulk seeding of
//! the events table, and the read model both the projection and its peer upsert into.

use std::collections::HashMap;

use platform::aggregate::DomainEvent;
use platform::event_store::NewEvent;
use platform::pg::Pool;
use platform::projection::Projection;
use platform::tail::RecordedEvent;
use platform::testing::ledger;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::report::PAYLOAD_BYTES;

/// The stream type of every benchmark event.
pub(crate) const STREAM_TYPE: &str = "ledger";

/// Length of the `owner` string that makes an encoded `Opened` exactly [`PAYLOAD_BYTES`] long
/// (1 tag byte + 2 length bytes + 497).
const OWNER_LEN: usize = PAYLOAD_BYTES - 3;

/// A ledger `Opened` event whose protobuf payload is exactly 500 bytes.
pub(crate) fn opened_event() -> anyhow::Result<NewEvent> {
    let owner = opened_owner();
    let event = ledger::new_event(&ledger::Event::Opened(ledger::Opened { owner }));
    anyhow::ensure!(
        event.payload.len() == PAYLOAD_BYTES,
        "the benchmark event encodes to {} bytes, not {PAYLOAD_BYTES}",
        event.payload.len()
    );
    Ok(event)
}

/// An `owner` that makes a ledger `Opened` event exactly [`PAYLOAD_BYTES`] long: a random
/// UUID, then padding.
pub(crate) fn opened_owner() -> String {
    let mut owner = Uuid::new_v4().simple().to_string();
    owner.push_str(&"x".repeat(OWNER_LEN - owner.len()));
    owner
}

/// The fully qualified event type of [`opened_event`].
pub(crate) fn opened_type() -> &'static str {
    ledger::Event::Opened(ledger::Opened::default()).event_type()
}

/// The peer's `payload text` column: 500 characters, like pgbench's `md5(..) || repeat('x', 468)`.
pub(crate) fn peer_payload() -> String {
    let mut text = Uuid::new_v4().simple().to_string();
    text.push_str(&"x".repeat(PAYLOAD_BYTES - text.len()));
    text
}

/// The peer table of the benchmark plan (§3.1), in `schema`.
pub(crate) fn peer_table_sql(schema: &str) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE {schema}.events (global_position bigserial PRIMARY KEY, stream_id uuid NOT NULL,
           version int NOT NULL, event_type text NOT NULL, payload text NOT NULL,
           recorded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (stream_id, version));"
    )
}

/// The bare single-row autocommit INSERT of the peer `peer:sql_insert`.
pub(crate) const PEER_INSERT: &str =
    "INSERT INTO events (stream_id, version, event_type, payload) VALUES ($1, 1, $2, $3)";

/// Stores `count` valid `Opened` events (500-byte payloads, distinct stream ids, version 1) with
/// set-based INSERT … SELECT from generate_series, at most `per_transaction` rows per
/// statement, then VACUUM ANALYZE so the first reader does not pay for hint bits.
pub(crate) async fn seed_events(
    pool: &Pool,
    count: u64,
    per_transaction: u64,
) -> anyhow::Result<()> {
    let sample = opened_event()?;
    // Everything before the owner string: the tag and the length varint.
    let prefix = sample.payload[..PAYLOAD_BYTES - OWNER_LEN].to_vec();
    // Event ids: an ordered 64-bit counter from a random base, then random bits, so inserts
    // go to the right edge of the primary key as UUIDv7 ids do.
    let base = i64::from(rand_u32()) << 24;
    let mut from: u64 = 1;
    while from <= count {
        let to = (from + per_transaction - 1).min(count);
        sqlx::query(
            "INSERT INTO events (event_id, stream_type, stream_id, version, event_type, payload,
                                 correlation_id, actor)
             SELECT (lpad(to_hex($1::bigint + g), 16, '0') || substr(md5(g::text), 1, 16))::uuid,
                    $2, gen_random_uuid(), 1, $3,
                    $4::bytea || convert_to(md5(g::text) || repeat('x', $5), 'UTF8'),
                    gen_random_uuid(), 'bench'
             FROM generate_series($6::bigint, $7::bigint) AS g",
        )
        .bind(base)
        .bind(STREAM_TYPE)
        .bind(opened_type())
        .bind(&prefix)
        .bind(i32::try_from(OWNER_LEN - 32)?)
        .bind(i64::try_from(from)?)
        .bind(i64::try_from(to)?)
        .execute(pool)
        .await?;
        from = to + 1;
    }
    sqlx::raw_sql("VACUUM (ANALYZE) events")
        .execute(pool)
        .await?;
    let bad: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE length(payload) <> $1")
        .bind(i32::try_from(PAYLOAD_BYTES)?)
        .fetch_one(pool)
        .await?;
    anyhow::ensure!(
        bad == 0,
        "{bad} seeded payloads are not {PAYLOAD_BYTES} bytes"
    );
    Ok(())
}

fn rand_u32() -> u32 {
    let bytes = Uuid::new_v4().into_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The read model: one row per stream with its latest version and the ledger's owner.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamSummary;

const READ_MODEL_SQL: &str = "CREATE TABLE bench_streams (
    stream_id     uuid        NOT NULL PRIMARY KEY,
    version       integer     NOT NULL,
    owner         text        NOT NULL,
    last_position bigint      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
)";

/// One statement per batch: UNNEST the columns, upsert by stream id.
const UPSERT_SQL: &str = "INSERT INTO bench_streams (stream_id, version, owner, last_position)
SELECT * FROM UNNEST($1::uuid[], $2::integer[], $3::text[], $4::bigint[])
ON CONFLICT (stream_id) DO UPDATE
   SET version = excluded.version, owner = excluded.owner,
       last_position = excluded.last_position, updated_at = now()
 WHERE bench_streams.version < excluded.version";

/// The table of the read model, for the peer (the runner creates it itself).
pub(crate) fn read_model_sql() -> &'static str {
    READ_MODEL_SQL
}

/// Column arrays of one upsert batch, one entry per stream (the last event of each wins, as
/// `ON CONFLICT DO UPDATE` cannot touch a row twice in one statement).
#[derive(Debug, Default)]
pub(crate) struct Batch {
    index: HashMap<Uuid, usize>,
    stream_ids: Vec<Uuid>,
    versions: Vec<i32>,
    owners: Vec<String>,
    positions: Vec<i64>,
}

impl Batch {
    pub(crate) fn with_capacity(n: usize) -> Batch {
        Batch {
            index: HashMap::with_capacity(n),
            stream_ids: Vec::with_capacity(n),
            versions: Vec::with_capacity(n),
            owners: Vec::with_capacity(n),
            positions: Vec::with_capacity(n),
        }
    }

    /// Decodes one stored event and adds its effect; events other than `Opened` change nothing.
    pub(crate) fn push(
        &mut self,
        stream_id: Uuid,
        version: i32,
        event_type: &str,
        payload: &[u8],
        position: i64,
    ) -> anyhow::Result<()> {
        let ledger::Event::Opened(opened) = ledger::Event::decode(event_type, payload)? else {
            return Ok(());
        };
        match self.index.get(&stream_id) {
            Some(&i) => {
                self.versions[i] = version;
                self.owners[i] = opened.owner;
                self.positions[i] = position;
            }
            None => {
                self.index.insert(stream_id, self.stream_ids.len());
                self.stream_ids.push(stream_id);
                self.versions.push(version);
                self.owners.push(opened.owner);
                self.positions.push(position);
            }
        }
        Ok(())
    }

    /// Upserts the batch in one statement and empties it.
    pub(crate) async fn upsert(&mut self, conn: &mut PgConnection) -> anyhow::Result<()> {
        if self.stream_ids.is_empty() {
            return Ok(());
        }
        sqlx::query(UPSERT_SQL)
            .bind(&self.stream_ids)
            .bind(&self.versions)
            .bind(&self.owners)
            .bind(&self.positions)
            .execute(conn)
            .await?;
        self.index.clear();
        self.stream_ids.clear();
        self.versions.clear();
        self.owners.clear();
        self.positions.clear();
        Ok(())
    }
}

impl Projection for StreamSummary {
    fn name(&self) -> &'static str {
        "bench_streams"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["bench_streams"]
    }

    fn create_tables(&self) -> &'static str {
        READ_MODEL_SQL
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        let mut batch = Batch::with_capacity(events.len());
        for e in events {
            batch.push(
                e.stream_id,
                i32::try_from(e.version)?,
                &e.event_type,
                &e.payload,
                e.position.sequence,
            )?;
        }
        batch.upsert(conn).await
    }
}
