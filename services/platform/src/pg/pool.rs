//! The services' connection pool: sqlx's pool opens, limits and closes the connections, and a
//! stack of warm ones in front of it hands a connection whose last statement completed
//! straight to the next statement, with no round trip in between (`docs/adr/0013`).
//!
//! sqlx sends a round trip (`Sync`, then `ReadyForQuery`) every time a connection goes back
//! to its pool, from a task of its own, to find a broken connection and to flush what a
//! cancelled statement or a dropped transaction left behind. A connection whose statement ran
//! to completion, or whose transaction committed or rolled back, has nothing left behind, so
//! [`Pool`] keeps it on its warm stack instead. Every other connection (a statement that
//! failed or was cancelled, a transaction dropped while open, a [`Lease`] used by hand) goes
//! back through sqlx and is checked as before. A warm connection idle for
//! [`CHECK_IDLE_CONNECTION_AFTER`](super::CHECK_IDLE_CONNECTION_AFTER) is checked before use,
//! and moved back to sqlx's pool, where its idle timeout applies, soon after.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt as _};
use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt as _, TryStreamExt as _};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgQueryResult, PgRow, PgTransactionManager, PgTypeInfo};
use sqlx::{Connection as _, Database, Either, Execute, Executor, PgConnection, PgPool, Postgres};
use sqlx_core::transaction::TransactionManager as _;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// A pool of PostgreSQL connections for one service's schema. Cheap to clone; every clone
/// shares the connections. `&Pool` runs statements as an [`Executor`], each on a connection
/// of its own for the statement's length.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    /// Opens, limits and closes the connections; holds the ones not warm or in use.
    connections: PgPool,
    /// One per connection the pool may have: a [`Lease`] holds one while it has a connection.
    permits: Arc<Semaphore>,
    warm: Mutex<Warm>,
    /// Signalled when a connection goes onto the warm stack, for a caller waiting on sqlx's
    /// pool while the connection it needs is kept here.
    kept: Notify,
    check_after_idle: Duration,
    acquire_timeout: Duration,
}

#[derive(Default)]
struct Warm {
    closed: bool,
    /// Last kept on top: the connection used most recently is used next.
    stack: Vec<(PoolConnection<Postgres>, Instant)>,
}

impl Pool {
    /// Puts a warm stack in front of `connections`, a sqlx pool configured by the caller
    /// ([`connect`](super::connect) configures the services'). A warm connection idle for
    /// `check_after_idle` is checked before use; the pool's size and acquire timeout are
    /// `connections`' own. Must be called within a Tokio runtime.
    pub fn new(connections: PgPool, check_after_idle: Duration) -> Self {
        let max_connections = connections.options().get_max_connections();
        let acquire_timeout = connections.options().get_acquire_timeout();
        let shared = Arc::new(Shared {
            connections,
            permits: Arc::new(Semaphore::new(max_connections as usize)),
            warm: Mutex::new(Warm::default()),
            kept: Notify::new(),
            check_after_idle,
            acquire_timeout,
        });
        tokio::spawn(return_idle(Arc::downgrade(&shared), check_after_idle));
        Self { shared }
    }

    /// A connection for the caller's own use, given back when the [`Lease`] is dropped. It goes
    /// back through sqlx's check, since the pool cannot know what was left on it.
    ///
    /// # Errors
    /// [`sqlx::Error::PoolTimedOut`] when no connection is free within the acquire timeout,
    /// [`sqlx::Error::PoolClosed`] after [`Pool::close`], and connection errors.
    pub async fn acquire(&self) -> Result<Lease, sqlx::Error> {
        tokio::time::timeout(self.shared.acquire_timeout, self.lease())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn lease(&self) -> Result<Lease, sqlx::Error> {
        let shared = &self.shared;
        let permit = Arc::clone(&shared.permits)
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        // sqlx's acquire, once asked for: it may be opening a connection, so it is never
        // dropped half way for a warm one (PostgreSQL would have started a backend for nothing).
        let mut opening: Option<BoxFuture<'static, Result<PoolConnection<Postgres>, sqlx::Error>>> =
            None;
        loop {
            // Registered before the stack is looked at, so a connection kept after the look
            // wakes the wait below.
            let kept = shared.kept.notified();
            tokio::pin!(kept);
            kept.as_mut().enable();
            while let Some((mut conn, since)) = shared.take_warm()? {
                if since.elapsed() < shared.check_after_idle || conn.ping().await.is_ok() {
                    if let Some(opening) = opening {
                        Arc::clone(shared).keep_when_opened(opening);
                    }
                    return Ok(Lease::new(conn, permit, shared));
                }
                // Broken: sqlx's check on the way back finds it so and closes it.
                drop(conn);
            }
            let acquire = opening.get_or_insert_with(|| shared.connections.acquire().boxed());
            tokio::select! {
                conn = acquire => return Ok(Lease::new(conn?, permit, shared)),
                () = &mut kept => {}
            }
        }
    }

    /// Begins a transaction on a connection of its own. A transaction that commits or rolls
    /// back gives its connection straight to the next statement; one dropped while open is
    /// rolled back when its connection goes back through sqlx's check.
    ///
    /// # Errors
    /// As [`Pool::acquire`], and the `BEGIN` failing.
    pub async fn begin(&self) -> Result<PoolTransaction, sqlx::Error> {
        let mut lease = self.acquire().await?;
        PgTransactionManager::begin(&mut lease, None).await?;
        Ok(PoolTransaction { lease, open: true })
    }

    /// The options every connection is opened with.
    pub fn connect_options(&self) -> Arc<PgConnectOptions> {
        self.shared.connections.connect_options()
    }

    /// Connections open now, in use, warm or idle.
    pub fn size(&self) -> u32 {
        self.shared.connections.size()
    }

    /// Connections open and not in use: warm, or idle in sqlx's pool.
    pub fn num_idle(&self) -> usize {
        self.shared.lock_warm().stack.len() + self.shared.connections.num_idle()
    }

    /// Closes every connection, waiting for those in use to be given back; later calls to
    /// [`Pool::acquire`] fail with [`sqlx::Error::PoolClosed`].
    pub async fn close(&self) {
        let warm = {
            let mut warm = self.shared.lock_warm();
            warm.closed = true;
            std::mem::take(&mut warm.stack)
        };
        self.shared.permits.close();
        drop(warm);
        self.shared.connections.close().await;
    }

    /// Whether [`Pool::close`] has been called.
    pub fn is_closed(&self) -> bool {
        self.shared.connections.is_closed()
    }
}

impl Shared {
    fn lock_warm(&self) -> std::sync::MutexGuard<'_, Warm> {
        self.warm.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_warm(&self) -> Result<Option<(PoolConnection<Postgres>, Instant)>, sqlx::Error> {
        let mut warm = self.lock_warm();
        if warm.closed {
            return Err(sqlx::Error::PoolClosed);
        }
        Ok(warm.stack.pop())
    }

    /// Lets sqlx's acquire finish in a task of its own, and keeps what it brings warm.
    fn keep_when_opened(
        self: Arc<Self>,
        opening: BoxFuture<'static, Result<PoolConnection<Postgres>, sqlx::Error>>,
    ) {
        tokio::spawn(async move {
            if let Ok(conn) = opening.await {
                self.keep(conn);
            }
        });
    }

    /// Puts a connection with nothing left on it onto the warm stack.
    fn keep(&self, conn: PoolConnection<Postgres>) {
        let mut warm = self.lock_warm();
        if warm.closed {
            drop(warm);
            // Back to sqlx's pool, which closes it and lets `close` finish.
            drop(conn);
            return;
        }
        warm.stack.push((conn, Instant::now()));
        drop(warm);
        self.kept.notify_one();
    }
}

/// Every `every`, moves the connections warm for that long back to sqlx's pool, which checks
/// them and closes them after its idle timeout. Ends with the pool.
async fn return_idle(shared: Weak<Shared>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let idle: Vec<_> = {
            let mut warm = shared.lock_warm();
            let keep_from = warm
                .stack
                .iter()
                .position(|(_, since)| since.elapsed() < every)
                .unwrap_or(warm.stack.len());
            warm.stack.drain(..keep_from).collect()
        };
        drop(shared);
        drop(idle);
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size())
            .field("idle", &self.num_idle())
            .finish_non_exhaustive()
    }
}

/// A connection taken from a [`Pool`], given back when dropped.
pub struct Lease {
    conn: Option<PoolConnection<Postgres>>,
    /// Set when what ran on the connection completed and left nothing behind.
    settled: bool,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    fn new(
        conn: PoolConnection<Postgres>,
        permit: OwnedSemaphorePermit,
        shared: &Arc<Shared>,
    ) -> Self {
        Self {
            conn: Some(conn),
            settled: false,
            shared: Arc::clone(shared),
            _permit: permit,
        }
    }

    /// Takes the connection out of the pool for good: it no longer counts against the pool's
    /// size, and closes when dropped.
    pub fn detach(mut self) -> PgConnection {
        self.conn
            .take()
            .expect("a lease holds its connection until it is dropped")
            .detach()
    }
}

impl Deref for Lease {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.conn
            .as_deref()
            .expect("a lease holds its connection until it is dropped")
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn
            .as_deref_mut()
            .expect("a lease holds its connection until it is dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.settled && !conn.is_in_transaction() {
            self.shared.keep(conn);
        }
        // Otherwise dropping it sends it back through sqlx's check. The permit goes after it,
        // so a caller waiting for one finds the connection kept.
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("settled", &self.settled)
            .finish_non_exhaustive()
    }
}

/// A transaction on a connection of its own, from [`Pool::begin`]. Statements run on
/// `&mut *tx`. Dropped without [`commit`](Self::commit) or [`rollback`](Self::rollback), it is
/// rolled back.
pub struct PoolTransaction {
    lease: Lease,
    open: bool,
}

impl PoolTransaction {
    /// Commits the transaction.
    ///
    /// # Errors
    /// The `COMMIT` failing; the transaction is then rolled back.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        PgTransactionManager::commit(&mut self.lease).await?;
        self.open = false;
        self.lease.settled = true;
        Ok(())
    }

    /// Rolls the transaction back.
    ///
    /// # Errors
    /// The `ROLLBACK` failing.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        PgTransactionManager::rollback(&mut self.lease).await?;
        self.open = false;
        self.lease.settled = true;
        Ok(())
    }
}

impl Deref for PoolTransaction {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.lease
    }
}

impl DerefMut for PoolTransaction {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.lease
    }
}

impl Drop for PoolTransaction {
    fn drop(&mut self) {
        if self.open {
            // Queued on the connection; sqlx's check sends it as the connection goes back.
            PgTransactionManager::start_rollback(&mut self.lease);
        }
    }
}

impl fmt::Debug for PoolTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolTransaction")
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

/// Runs `$method($args)` on a leased connection and settles the lease when it succeeds.
macro_rules! on_lease {
    ($pool:expr, $method:ident($($arg:expr),*)) => {{
        let pool = $pool.clone();
        Box::pin(async move {
            let mut lease = pool.acquire().await?;
            let out = (&mut *lease).$method($($arg),*).await?;
            lease.settled = true;
            Ok(out)
        })
    }};
}

impl<'p> Executor<'p> for &'_ Pool {
    type Database = Postgres;

    /// Collects the whole answer before yielding it, so the connection is given back settled.
    /// Nothing in the services streams from the pool; a read too large to hold in memory
    /// would stream on a [`Lease`].
    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.clone();
        stream::once(async move {
            let mut lease = pool.acquire().await?;
            let steps: Vec<_> = (&mut *lease).fetch_many(query).try_collect().await?;
            lease.settled = true;
            Ok::<_, sqlx::Error>(stream::iter(steps.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        on_lease!(self, fetch_optional(query))
    }

    fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Vec<PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        on_lease!(self, fetch_all(query))
    }

    fn execute<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<PgQueryResult, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        on_lease!(self, execute(query))
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<<Postgres as Database>::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        on_lease!(self, prepare_with(sql, parameters))
    }
}
