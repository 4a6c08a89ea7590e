//! A command that loses every optimistic-concurrency race, for real.
//!
//! [`Gate::install`] puts a trigger on `events` that makes one caller's inserts into one stream
//! wait, inside the caller's own append statement, for a PostgreSQL advisory lock named after the
//! version being inserted; the test holds those locks. [`lose_every_race`] then waits until the
//! caller's append is blocked at a version, lets a rival command commit that same version through
//! the real API, and releases the lock: the caller's statement, whose snapshot predates the
//! rival's commit, meets the rival's row in the `(stream_id, version)` primary key and fails as
//! any concurrent loser does. The caller re-reads, re-decides and blocks again at the next
//! version, until its bounded retries run out. Nothing in the service is mocked or hooked.

use std::time::Duration;

use platform::pg::Pool;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The first key of the advisory locks the gate uses; the second is the stream version.
const LOCK_CLASS: i32 = 0x5ace;

/// How long a round may take before the test gives up instead of hanging.
const ROUND_LIMIT: Duration = Duration::from_secs(20);

/// Holds one caller's appends to one stream at each version until released.
#[derive(Debug)]
pub(crate) struct Gate {
    pool: Pool,
    /// The session holding the advisory locks.
    locks: PgConnection,
    /// The version the caller's next attempt inserts.
    next: i32,
    /// One past the last version locked.
    end: i32,
}

impl Gate {
    /// Installs the trigger for `actor`'s inserts into `stream_id` and locks the next `versions`
    /// versions of the stream.
    pub(crate) async fn install(pool: &Pool, stream_id: Uuid, actor: &str, versions: i32) -> Gate {
        // DDL takes no parameters; the stream id is a UUID and the actor a test token subject.
        assert!(
            actor
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_:-".contains(c))
        );
        let ddl = format!(
            "CREATE FUNCTION test_hold_append() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.stream_id = '{stream_id}' AND NEW.actor = '{actor}' THEN
                     PERFORM pg_advisory_xact_lock({LOCK_CLASS}, NEW.version);
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER test_hold_append BEFORE INSERT ON events
                 FOR EACH ROW EXECUTE FUNCTION test_hold_append();"
        );
        sqlx::raw_sql(AssertSqlSafe(ddl))
            .execute(pool)
            .await
            .expect("Failed to install the gate trigger.");
        let current: i32 =
            sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1")
                .bind(stream_id)
                .fetch_one(pool)
                .await
                .expect("Failed to read the stream's version.");
        let mut locks = pool
            .acquire()
            .await
            .expect("Failed to get a connection for the locks.")
            .detach();
        for version in current + 1..=current + versions {
            sqlx::query("SELECT pg_advisory_lock($1, $2)")
                .bind(LOCK_CLASS)
                .bind(version)
                .execute(&mut locks)
                .await
                .expect("Failed to take a version lock.");
        }
        Gate {
            pool: pool.clone(),
            locks,
            next: current + 1,
            end: current + versions + 1,
        }
    }

    /// Whether the caller's append is waiting at the next version's lock. `pg_locks` shows every
    /// database's locks, and other tests run their gates at the same time.
    async fn blocked(&self) -> bool {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                 AND classid = $1 AND objid = $2 AND objsubid = 2
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
        )
        .bind(LOCK_CLASS)
        .bind(self.next)
        .fetch_one(&self.pool)
        .await
        .expect("Failed to read pg_locks.")
    }

    /// Lets the blocked append go on; it meets the rival's row at its version.
    async fn release(&mut self) {
        sqlx::query("SELECT pg_advisory_unlock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(self.next)
            .execute(&mut self.locks)
            .await
            .expect("Failed to release a version lock.");
        self.next += 1;
    }

    /// Drops the trigger and every lock still held.
    pub(crate) async fn remove(mut self) {
        sqlx::raw_sql("DROP TRIGGER test_hold_append ON events; DROP FUNCTION test_hold_append();")
            .execute(&self.pool)
            .await
            .expect("Failed to drop the gate trigger.");
        sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut self.locks)
            .await
            .expect("Failed to release the locks.");
        self.locks
            .close()
            .await
            .expect("Failed to close the lock session.");
    }
}

/// Drives `command` (already running) until it finishes, making each of its attempts lose: when
/// its append is blocked at a version, `rival(round)` commits that version, then the lock is
/// released. Returns the command's answer and the number of attempts it lost.
///
/// # Panics
/// When a round takes longer than [`ROUND_LIMIT`], or the command attempts more versions than
/// the gate locked.
pub(crate) async fn lose_every_race<T>(
    gate: &mut Gate,
    command: JoinHandle<T>,
    mut rival: impl AsyncFnMut(u32),
) -> (T, u32) {
    let mut lost = 0;
    let mut round_started = tokio::time::Instant::now();
    while !command.is_finished() {
        if gate.blocked().await {
            assert!(gate.next < gate.end, "the command outlasted the gate");
            rival(lost + 1).await;
            gate.release().await;
            lost += 1;
            round_started = tokio::time::Instant::now();
            continue;
        }
        assert!(
            round_started.elapsed() < ROUND_LIMIT,
            "the command neither blocked nor finished"
        );
        // A blocked backend signals nothing but its row in pg_locks, so poll it.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (command.await.expect("the command task ran"), lost)
}
