//! PostgreSQL types sqlx does not map for us: `xid8` transaction ids and `timestamptz` as
//! [`jiff::Timestamp`], plus the per-service [`Pool`], which checks a connection with a round
//! trip only when it has sat idle ([`CHECK_IDLE_CONNECTION_AFTER`], `docs/adr/0012`) and gives
//! one whose statement completed straight to the next ([`pool`], `docs/adr/0013`).

pub mod pool;

pub use pool::{Lease, Pool, PoolTransaction};

use std::time::Duration;

use jiff::Timestamp;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgConnectOptions, PgPoolOptions, PgTypeInfo, PgValueRef};
use sqlx::{Connection as _, Decode, Encode, Postgres, Type};

/// A PostgreSQL 64-bit transaction id (`xid8`), as returned by `pg_current_xact_id()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Xid8(pub u64);

/// `xid8` has a fixed OID in every PostgreSQL since 13.
const XID8_OID: u32 = 5069;

impl Type<Postgres> for Xid8 {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(XID8_OID))
    }
}

impl Encode<'_, Postgres> for Xid8 {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend_from_slice(&self.0.to_be_bytes());
        Ok(IsNull::No)
    }
}

impl Decode<'_, Postgres> for Xid8 {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        let bytes: [u8; 8] = value.as_bytes()?.try_into()?;
        Ok(Xid8(u64::from_be_bytes(bytes)))
    }
}

/// A `timestamptz` read or written as a [`jiff::Timestamp`] (microsecond precision, as stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PgTimestamp(pub Timestamp);

/// Seconds between the Unix epoch and PostgreSQL's epoch, 2000-01-01T00:00:00Z.
const PG_EPOCH_UNIX_SECONDS: i64 = 946_684_800;

impl Type<Postgres> for PgTimestamp {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("timestamptz")
    }
}

impl Encode<'_, Postgres> for PgTimestamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        let micros = self.0.as_microsecond() - PG_EPOCH_UNIX_SECONDS * 1_000_000;
        buf.extend_from_slice(&micros.to_be_bytes());
        Ok(IsNull::No)
    }
}

impl Decode<'_, Postgres> for PgTimestamp {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        let bytes: [u8; 8] = value.as_bytes()?.try_into()?;
        let micros = i64::from_be_bytes(bytes);
        let unix = micros
            .checked_add(PG_EPOCH_UNIX_SECONDS * 1_000_000)
            .ok_or("timestamptz out of range")?;
        Ok(PgTimestamp(Timestamp::from_microsecond(unix)?))
    }
}

/// Checks that `schema` is a plain lower-case identifier, so it can be spliced into SQL text.
///
/// # Errors
/// When the name is empty, longer than 63 bytes, or has anything but `a-z`, `0-9` and `_`.
pub fn validate_schema_name(schema: &str) -> anyhow::Result<()> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    anyhow::ensure!(
        valid,
        "invalid schema name {schema:?}: use lower-case letters, digits and _"
    );
    Ok(())
}

/// How long a pooled connection may sit idle before the pool checks it with a round trip
/// (`Sync`, then `ReadyForQuery`) as it hands it out.
///
/// sqlx checks every connection it hands out by default, so each statement through a pool
/// would cost a round trip more. A connection given back less than this long ago has just
/// answered a statement (or was checked on its way back), so it goes straight to the next one.
/// One that sat idle longer, which is where a server restart or a dropped socket goes
/// unnoticed, is checked, and replaced if the check fails.
pub const CHECK_IDLE_CONNECTION_AFTER: Duration = Duration::from_secs(1);

/// Opens a pool whose connections resolve unqualified names in `schema` first.
///
/// Every service owns one schema; its SQL is written without schema names so the same code
/// runs against a rebuild schema or a test database. A connection is checked before use only
/// when it has sat idle for [`CHECK_IDLE_CONNECTION_AFTER`].
///
/// # Errors
/// When the URL is malformed, the schema name is invalid, or PostgreSQL cannot be reached.
pub async fn connect(
    database_url: &str,
    schema: &str,
    max_connections: u32,
) -> anyhow::Result<Pool> {
    connect_checking_after(
        database_url,
        schema,
        max_connections,
        CHECK_IDLE_CONNECTION_AFTER,
    )
    .await
}

/// [`connect`], checking a connection before use only when it has sat idle for
/// `check_after_idle`.
///
/// # Errors
/// As [`connect`].
pub async fn connect_checking_after(
    database_url: &str,
    schema: &str,
    max_connections: u32,
    check_after_idle: Duration,
) -> anyhow::Result<Pool> {
    validate_schema_name(schema)?;
    let options: PgConnectOptions = database_url.parse()?;
    let options = options
        .options([("search_path", schema)])
        .application_name(&format!("redress-{schema}"));
    let connections = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= check_after_idle {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await?;
    Ok(Pool::new(connections, check_after_idle))
}
