//! The NATS side of W8, as deployed: a nats-server with the real accounts
//! (`deploy/nats/accounts.conf`, built into the bench, with passwords made for the run), every
//! stream and durable consumer created by `redress streams` as the operator `ops`, each service
//! under its own user, and the independent body's reference consumer.
//!
//! The consumer is `redress feed tail`'s own code, [`feed_tail::run`], logged in as user `ib`
//! of the `IB` account, through the JetStream domain `redress`, on the durable `ib_feed`: the
//! pull, the position check, the decoding, the position saved in the state file (one synced sector) and the
//! double acknowledgement of every message, exactly as the body's reader does. It runs in a
//! thread with a runtime of its own, as a separate client would, and writes its JSON lines to
//! [`LineTimer`], which takes the time each line is written and hands it, with the line's
//! `time` (the message's `ce-time`), to the op waiting for that escalation (see [`Arrivals`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use platform::testing::NatsServer;
use redress::feed_tail::{self, TailConfig};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::report::log;

/// Who may connect and what each may do: the deployed file itself.
const ACCOUNTS: &str = include_str!("../../../deploy/nats/accounts.conf");

/// Every user of [`ACCOUNTS`] and the variable its password comes from.
const USERS: [(&str, &str); 5] = [
    ("complaints", "REDRESS_NATS_COMPLAINTS_PASSWORD"),
    ("escalation", "REDRESS_NATS_ESCALATION_PASSWORD"),
    ("learning-reviews", "REDRESS_NATS_LEARNING_REVIEWS_PASSWORD"),
    ("ops", "REDRESS_NATS_OPS_PASSWORD"),
    ("ib", "REDRESS_NATS_IB_PASSWORD"),
];

/// A nats-server with the deployed accounts, its streams and consumers created. Killed when
/// dropped.
#[derive(Debug)]
pub(crate) struct FeedNats {
    server: NatsServer,
    /// Made for the run; the same for every user.
    secret: String,
}

impl FeedNats {
    /// Starts the server (file storage, `sync_interval: always`, as every bench server) and
    /// runs `redress streams` on it as `ops`.
    ///
    /// # Errors
    /// When no suitable nats-server is installed, or the streams cannot be created.
    pub(crate) async fn start() -> anyhow::Result<FeedNats> {
        let secret = Uuid::new_v4().simple().to_string();
        // The variables go ahead of the accounts, where their `$REDRESS_NATS_*_PASSWORD` find them.
        let mut config: String = USERS
            .iter()
            .map(|(user, variable)| format!("{variable}: \"{}\"\n", password(&secret, user)))
            .collect();
        config.push_str(ACCOUNTS);
        let server = NatsServer::start_with_config(&config).await?;
        let nats = FeedNats { server, secret };
        redress::streams::run(&nats.url_as("ops"), "", &mut std::io::sink()).await?;
        log!(
            "w8: nats-server at {} with the deployed accounts",
            nats.server.url()
        );
        Ok(nats)
    }

    /// `nats://<user>:<password>@127.0.0.1:<port>`.
    pub(crate) fn url_as(&self, user: &str) -> String {
        let url = self.server.url();
        let host = url.strip_prefix("nats://").unwrap_or(url);
        format!("nats://{user}:{}@{host}", password(&self.secret, user))
    }

    /// The body's reader: user `ib`, domain `redress`, `FEED`/`ib_feed`, its position kept in
    /// `state_file`, running until stopped.
    pub(crate) fn tail_config(&self, state_file: &Path) -> TailConfig {
        let mut config = TailConfig::new(self.server.url(), state_file);
        config.user = Some("ib".to_owned());
        config.password = Some(password(&self.secret, "ib").into());
        config
    }
}

fn password(secret: &str, user: &str) -> String {
    format!("bench-{user}-{secret}")
}

/// A feed message as the reader wrote it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arrival {
    /// When the reader wrote its line.
    pub(crate) at: Instant,
    /// Its `ce-time`: when the feed translator recorded it (PostgreSQL's clock).
    pub(crate) recorded: Option<jiff::Timestamp>,
}

/// Where each escalation's feed message stands.
#[derive(Debug)]
enum Slot {
    /// The reader wrote it; no op has asked for it yet.
    Arrived(Arrival),
    /// An op waits for it.
    Waiting(oneshot::Sender<Arrival>),
    /// Handed to its op.
    Delivered,
}

#[derive(Debug, Default)]
struct Book {
    slots: HashMap<Uuid, Slot>,
    lines: u64,
    /// A second line about an escalation already seen.
    duplicates: u64,
    /// Lines without a readable `escalation_id`.
    unreadable: u64,
}

/// The feed messages the reader wrote, by escalation id, matched to the ops that wait for them.
/// A message may arrive before its command's reply names the escalation; it then waits here.
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    book: Mutex<Book>,
}

/// What the reader wrote in one run, as [`Arrivals`] counted it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counts {
    pub(crate) lines: u64,
    pub(crate) duplicates: u64,
    pub(crate) unreadable: u64,
    /// Messages no op claimed (an escalation the bench did not request).
    pub(crate) unclaimed: u64,
    /// Escalations an op waited for in vain: lost on the way.
    pub(crate) waiting: u64,
}

impl Arrivals {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn arrived(&self, escalation_id: Option<Uuid>, arrival: Arrival) {
        let mut book = self.book();
        book.lines += 1;
        let Some(id) = escalation_id else {
            book.unreadable += 1;
            return;
        };
        match book.slots.remove(&id) {
            None => {
                book.slots.insert(id, Slot::Arrived(arrival));
            }
            Some(Slot::Waiting(op)) => {
                let _ = op.send(arrival);
                book.slots.insert(id, Slot::Delivered);
            }
            Some(seen @ (Slot::Arrived(_) | Slot::Delivered)) => {
                book.duplicates += 1;
                book.slots.insert(id, seen);
            }
        }
    }

    /// The reader's message about `escalation_id`: at once if it has written it, otherwise
    /// once it does.
    ///
    /// # Errors
    /// When it does not within `timeout`, or the escalation was asked for before.
    pub(crate) async fn wait(
        &self,
        escalation_id: Uuid,
        timeout: Duration,
    ) -> anyhow::Result<Arrival> {
        let receiver = {
            let mut book = self.book();
            match book.slots.remove(&escalation_id) {
                Some(Slot::Arrived(arrival)) => {
                    book.slots.insert(escalation_id, Slot::Delivered);
                    return Ok(arrival);
                }
                None => {
                    let (sender, receiver) = oneshot::channel();
                    book.slots.insert(escalation_id, Slot::Waiting(sender));
                    receiver
                }
                Some(other) => {
                    book.slots.insert(escalation_id, other);
                    anyhow::bail!("escalation {escalation_id} was awaited twice");
                }
            }
        };
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(arrival)) => Ok(arrival),
            Ok(Err(_)) => anyhow::bail!("the feed reader went away"),
            Err(_) => {
                anyhow::bail!("escalation {escalation_id} not on the feed within {timeout:?}")
            }
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        let book = self.book();
        Counts {
            lines: book.lines,
            duplicates: book.duplicates,
            unreadable: book.unreadable,
            unclaimed: book
                .slots
                .values()
                .filter(|s| matches!(s, Slot::Arrived(_)))
                .count() as u64,
            waiting: book
                .slots
                .values()
                .filter(|s| matches!(s, Slot::Waiting(_)))
                .count() as u64,
        }
    }
}

/// The reader's output: each complete JSON line is timed when written and its `escalation_id`
/// handed to [`Arrivals`].
struct LineTimer {
    arrivals: Arc<Arrivals>,
    pending: Vec<u8>,
}

impl Write for LineTimer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let at = Instant::now();
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let value = serde_json::from_slice::<serde_json::Value>(&line).ok();
            let field = |name: &str| value.as_ref()?.get(name)?.as_str();
            let escalation_id = field("escalation_id").and_then(|v| v.parse().ok());
            let recorded = field("time").and_then(|v| v.parse().ok());
            self.arrivals
                .arrived(escalation_id, Arrival { at, recorded });
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The reader, running in its own thread.
#[derive(Debug)]
pub(crate) struct RunningTail {
    stop: CancellationToken,
    done: oneshot::Receiver<anyhow::Result<feed_tail::Summary>>,
}

impl RunningTail {
    /// Starts [`feed_tail::run`] with `config` in a thread of its own, its lines going to
    /// `arrivals`, its gap notes to stderr.
    pub(crate) fn spawn(
        config: TailConfig,
        arrivals: Arc<Arrivals>,
    ) -> anyhow::Result<RunningTail> {
        let stop = CancellationToken::new();
        let (sender, done) = oneshot::channel();
        let token = stop.clone();
        std::thread::Builder::new()
            .name("ib-feed-tail".to_owned())
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(anyhow::Error::from)
                    .and_then(|runtime| {
                        runtime.block_on(async {
                            let mut out = LineTimer {
                                arrivals,
                                pending: Vec::new(),
                            };
                            feed_tail::run(
                                &config,
                                &mut out,
                                &mut std::io::stderr(),
                                token.cancelled_owned(),
                            )
                            .await
                            .map_err(anyhow::Error::from)
                        })
                    });
                let _ = sender.send(result);
            })?;
        Ok(RunningTail { stop, done })
    }

    /// Stops the reader between two messages; returns what it did.
    ///
    /// # Errors
    /// What the reader failed with.
    pub(crate) async fn stop(self) -> anyhow::Result<feed_tail::Summary> {
        self.stop.cancel();
        self.done
            .await
            .map_err(|_| anyhow::anyhow!("the feed reader's thread died"))?
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write as _;
    use std::sync::Arc;
    use std::time::Duration;

    use uuid::Uuid;

    use super::{Arrivals, LineTimer};

    fn line(escalation_id: &str) -> Vec<u8> {
        format!(
            "{{\"feed_position\":1,\"time\":\"2026-01-05T08:00:00.123Z\",\
             \"escalation_id\":\"{escalation_id}\",\"message\":{{}}}}\n"
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn a_message_written_before_its_command_replied_is_handed_over_when_asked_for() {
        let arrivals = Arc::new(Arrivals::default());
        let mut out = LineTimer {
            arrivals: arrivals.clone(),
            pending: Vec::new(),
        };
        let id = Uuid::new_v4();

        out.write_all(&line(&id.to_string())).unwrap();

        let arrival = arrivals.wait(id, Duration::from_secs(60)).await.unwrap();
        assert_eq!(
            arrival.recorded,
            Some("2026-01-05T08:00:00.123Z".parse().unwrap())
        );
        let counts = arrivals.counts();
        assert_eq!((counts.lines, counts.unclaimed, counts.waiting), (1, 0, 0));
    }

    #[tokio::test]
    async fn a_waiting_command_gets_its_message_and_a_second_copy_is_a_duplicate() {
        let arrivals = Arc::new(Arrivals::default());
        let mut out = LineTimer {
            arrivals: arrivals.clone(),
            pending: Vec::new(),
        };
        let id = Uuid::new_v4();
        let waiting = {
            let arrivals = arrivals.clone();
            tokio::spawn(async move { arrivals.wait(id, Duration::from_secs(60)).await })
        };
        while arrivals.counts().waiting == 0 {
            tokio::task::yield_now().await;
        }

        // One line split over two writes, then the same message again.
        let bytes = line(&id.to_string());
        out.write_all(&bytes[..10]).unwrap();
        out.write_all(&bytes[10..]).unwrap();
        out.write_all(&bytes).unwrap();

        assert!(waiting.await.unwrap().is_ok());
        let counts = arrivals.counts();
        assert_eq!((counts.lines, counts.duplicates, counts.waiting), (2, 1, 0));
    }

    #[test]
    fn a_line_without_an_escalation_id_is_counted_as_unreadable() {
        let arrivals = Arc::new(Arrivals::default());
        let mut out = LineTimer {
            arrivals: arrivals.clone(),
            pending: Vec::new(),
        };

        out.write_all(b"{\"feed_position\":1,\"escalation_id\":null}\n")
            .unwrap();

        let counts = arrivals.counts();
        assert_eq!(
            (counts.lines, counts.unreadable, counts.unclaimed),
            (1, 1, 0)
        );
    }
}
