//! One read of the log's end for every tailer of a store in this process.
//!
//! A service runs several tailers over one log (its read models, timers and relays), and every
//! commit wakes them all. Each reading the log for itself would cost the database one query per
//! tailer per commit, for the same rows. Instead they share a [`SharedTail`]: a window holding
//! the latest events read, in log order, and a single reader of the log's end.
//!
//! A call is answered from the window when it can be without changing what
//! [`read_after`](super::read_after) promises:
//! * a full page (`limit` events after the cursor) comes from the window whenever the window
//!   holds that many;
//! * a shorter page, which tells the caller it has read everything visible, comes from the
//!   window only when a read of the log's end that began after the call found nothing more.
//!   Otherwise the caller reads the end itself, or waits for the reader already doing so and
//!   then checks again. The reader first lets every tailer woken by the same commit ask (it
//!   yields once), so one query answers them all.
//!
//! Rows below the horizon never change (see [`super`]), so events kept in the window are the
//! events a query would return. A caller behind the window reads the log itself and leaves the
//! window alone; a caller ahead of it (it read the log itself meanwhile) moves the window to its
//! cursor.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::{Position, RecordedEvent, read_after};

use crate::pg::Pool;

/// How many of the latest events the window keeps: a few seconds of the busiest load.
const WINDOW: usize = 4096;

/// The fewest events one read of the log's end asks for.
const FETCH: i64 = 1000;

/// The latest events of one log, shared by its tailers in this process.
#[derive(Default)]
pub struct SharedTail {
    /// Numbers every call, so a read of the end knows which calls began before it.
    calls: AtomicU64,
    window: Mutex<Window>,
    /// Held while reading the log's end, so only one such read runs.
    reading: tokio::sync::Mutex<()>,
    /// Queries of the log made for callers, whether of its end or behind the window.
    log_reads: AtomicU64,
}

impl std::fmt::Debug for SharedTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("SharedTail")
            .field("span", &window.span)
            .field("events", &window.events.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Window {
    /// The window holds every event in `(base, head]`; `None` before the first read.
    span: Option<(Position, Position)>,
    events: VecDeque<Arc<RecordedEvent>>,
    /// Calls numbered below this have seen a read of the end, begun after them, that found
    /// everything visible: nothing past `head`.
    complete_below: u64,
}

enum Answer {
    Page(Vec<Arc<RecordedEvent>>),
    /// The cursor is before the window: read the log directly.
    Behind,
    /// Read the log's end from this position first.
    ReadFrom(Position),
}

impl Window {
    fn answer(&self, after: Position, limit: usize, call: u64) -> Answer {
        let Some((base, head)) = self.span else {
            return Answer::ReadFrom(after);
        };
        if after < base {
            return Answer::Behind;
        }
        if after > head {
            return Answer::ReadFrom(after);
        }
        let start = self.events.partition_point(|e| e.position <= after);
        let available = self.events.len() - start;
        if available >= limit || self.complete_below > call {
            let end = start + available.min(limit);
            Answer::Page(self.events.range(start..end).cloned().collect())
        } else {
            Answer::ReadFrom(head)
        }
    }

    /// Takes in a page read after `from`; `complete` when it was short, so it holds everything
    /// visible to a read that calls numbered below `covers` all preceded.
    fn read(&mut self, from: Position, page: Vec<RecordedEvent>, complete: bool, covers: u64) {
        let (mut base, mut head) = match self.span {
            Some((base, head)) if head == from => (base, head),
            _ => {
                self.events.clear();
                (from, from)
            }
        };
        for event in page {
            head = event.position;
            self.events.push_back(Arc::new(event));
        }
        while self.events.len() > WINDOW {
            if let Some(dropped) = self.events.pop_front() {
                base = dropped.position;
            }
        }
        self.span = Some((base, head));
        self.complete_below = if complete { covers } else { 0 };
    }
}

impl SharedTail {
    /// [`read_after`] over `pool`, answered from the window when it can be (see the module's
    /// documentation); the same rows, with the same guarantee for a short page.
    ///
    /// # Errors
    /// Database errors.
    pub async fn read_after(
        &self,
        pool: &Pool,
        after: Position,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        let Ok(wanted) = usize::try_from(limit) else {
            return self.read_log(pool, after, limit).await;
        };
        if wanted == 0 {
            return Ok(Vec::new());
        }
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        loop {
            match self.answer(after, wanted, call) {
                Answer::Page(events) => return Ok(owned(&events)),
                Answer::Behind => return self.read_log(pool, after, limit).await,
                Answer::ReadFrom(_) => {}
            }
            let reading = self.reading.lock().await;
            // A read that finished while this call waited may answer it.
            let from = match self.answer(after, wanted, call) {
                Answer::Page(events) => return Ok(owned(&events)),
                Answer::Behind => {
                    drop(reading);
                    return self.read_log(pool, after, limit).await;
                }
                Answer::ReadFrom(from) => from,
            };
            // Let every tailer woken by the same commit call before this read begins.
            tokio::task::yield_now().await;
            let covers = self.calls.load(Ordering::SeqCst);
            let fetch = limit.max(FETCH);
            let page = self.read_log(pool, from, fetch).await?;
            let complete = i64::try_from(page.len()).is_ok_and(|n| n < fetch);
            self.lock().read(from, page, complete, covers);
        }
    }

    /// How many queries of the log this has made for its callers: one per read of the end,
    /// however many calls it answered, and one per call behind the window.
    pub fn log_reads(&self) -> u64 {
        self.log_reads.load(Ordering::Relaxed)
    }

    async fn read_log(
        &self,
        pool: &Pool,
        after: Position,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        self.log_reads.fetch_add(1, Ordering::Relaxed);
        read_after(pool, after, limit).await
    }

    fn answer(&self, after: Position, limit: usize, call: u64) -> Answer {
        self.lock().answer(after, limit, call)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn owned(events: &[Arc<RecordedEvent>]) -> Vec<RecordedEvent> {
    events.iter().map(|e| RecordedEvent::clone(e)).collect()
}
