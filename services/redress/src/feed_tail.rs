//! `redress feed tail`: reads the independent body's feed exactly as the body does, and prints
//! each message as one JSON line.
//!
//! It is the reference consumer of the contract in `docs/feed/`: it connects as the body's NATS
//! user, pulls from the durable consumer `ib_feed` on `FEED` (the only thing that user may
//! read), and for each message
//!
//! 1. reads the `Redress-Feed-Position` header. A position at or below the last one handled is a
//!    redelivery: acknowledged, not printed (noted on stderr). A position beyond the next one
//!    means messages are missing: a `{"gap":{"expected":N,"received":M}}` line goes to the notes
//!    writer (stderr) and, with `fail_on_gap`, the tail stops before handling the message;
//! 2. decodes the payload as the protobuf message named by `ce-type` (through [`crate::payload`])
//!    and writes one JSON line ([`FeedLine`]) to the output writer (stdout); an unknown type is
//!    printed with `"message":null` and the raw payload in base64;
//! 3. saves the position in the state file (one sector overwritten in place and synced; see
//!    [`state`]);
//! 4. acknowledges and waits for the server to confirm.
//!
//! Restarting resumes where it stopped: the durable consumer redelivers whatever was not
//! acknowledged and the state file recognises what was already printed. A crash between
//! steps 2 and 3 prints that one message again on restart; every other crash prints nothing
//! twice.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures_util::StreamExt as _;
use prost_reflect::DescriptorPool;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;

use crate::payload::{self, JsonMessage, Undecoded, descriptor_pool};

mod state;

use state::StateFile;
pub use state::load as load_state;

/// The header carrying a message's place in the feed: 1, 2, 3, … with no gaps.
pub const FEED_POSITION: &str = "Redress-Feed-Position";

/// The message id JetStream deduplicates on; equal to `ce-id`.
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";

/// The protobuf package of every feed message.
pub const FEED_PACKAGE: &str = "redress.feed.v1";

/// Messages asked for in one pull request.
const BATCH: usize = 100;

/// How to reach the feed and where to keep the position.
#[derive(Clone, Debug)]
pub struct TailConfig {
    pub nats_url: String,
    /// The body's NATS user (`ib`); `None` connects without credentials.
    pub user: Option<String>,
    pub password: Option<SecretString>,
    /// The JetStream domain the body's account reaches the feed through (`redress`: API prefix
    /// `$JS.redress.API`); `None` for the plain `$JS.API` of an account holding the stream.
    pub domain: Option<String>,
    /// `FEED`.
    pub stream: String,
    /// `ib_feed`.
    pub durable: String,
    /// Holds the last handled feed position; created on first use.
    pub state_file: PathBuf,
    /// Drain what is pending, then return.
    pub once: bool,
    /// Return after printing this many messages.
    pub limit: Option<u64>,
    /// Stop with [`Error::Gap`] instead of continuing past missing positions.
    pub fail_on_gap: bool,
}

impl TailConfig {
    /// The body's defaults: domain `redress`, stream `FEED`, durable `ib_feed`, no credentials,
    /// run until stopped.
    pub fn new(nats_url: &str, state_file: impl Into<PathBuf>) -> Self {
        TailConfig {
            nats_url: nats_url.to_owned(),
            user: None,
            password: None,
            domain: Some("redress".to_owned()),
            stream: "FEED".to_owned(),
            durable: "ib_feed".to_owned(),
            state_file: state_file.into(),
            once: false,
            limit: None,
            fail_on_gap: false,
        }
    }
}

/// Positions `expected..received` never arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub expected: u64,
    pub received: u64,
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines written to the output.
    pub printed: u64,
    /// Redelivered messages acknowledged without printing.
    pub duplicates: u64,
    pub gaps: Vec<Gap>,
    /// The state file's position when the run ended.
    pub last_feed_position: u64,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Positions are missing and `fail_on_gap` is set; the message after the gap is left
    /// unacknowledged for the next run.
    #[error("feed positions {} to {} are missing (received {} after {})", .0.expected, .0.received - 1, .0.received, .0.expected - 1)]
    Gap(Gap),
    /// A message broke the feed contract (no or unreadable `Redress-Feed-Position`); it is left
    /// unacknowledged.
    #[error("message {stream_sequence} on the feed breaks the contract: {reason}")]
    Contract {
        stream_sequence: u64,
        reason: String,
    },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// One line of output: the message's envelope and its decoded payload.
#[derive(Debug, Serialize)]
pub struct FeedLine {
    pub feed_position: u64,
    /// `Nats-Msg-Id` (equal to `ce-id`): the message's unique id.
    pub id: Option<String>,
    /// `ce-type`: the fully qualified protobuf message name.
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    /// `ce-time`.
    pub time: Option<String>,
    /// `ce-subject`.
    pub escalation_id: Option<String>,
    /// The payload in the protobuf JSON mapping, every field included; `null` when the type is
    /// unknown to this build or the payload does not decode.
    pub message: Option<JsonMessage>,
    /// The raw payload, only when `message` is `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
}

impl FeedLine {
    /// Builds the line for a message at `feed_position`, decoding with `pool`.
    pub fn decode(
        pool: &DescriptorPool,
        feed_position: u64,
        headers: &HeaderMap,
        payload: &[u8],
    ) -> FeedLine {
        let message_type = header(headers, platform::nats::headers::CE_TYPE);
        let decoded = payload::decode_in_package(
            pool,
            FEED_PACKAGE,
            message_type.as_deref().unwrap_or_default(),
            payload,
        );
        let message = match decoded {
            Ok(message) => Some(message),
            Err(Undecoded::Malformed { error, .. }) => {
                tracing::warn!(feed_position, message_type = ?message_type, error = %error, "payload does not decode as its ce-type: printed raw");
                None
            }
            Err(Undecoded::UnknownType(_)) => {
                tracing::warn!(feed_position, message_type = ?message_type, "message type unknown to this build: printed raw");
                None
            }
        };
        FeedLine {
            feed_position,
            id: header(headers, NATS_MSG_ID)
                .or_else(|| header(headers, platform::nats::headers::CE_ID)),
            payload_base64: message.is_none().then(|| payload::base64(payload)),
            message_type,
            time: header(headers, platform::nats::headers::CE_TIME),
            escalation_id: header(headers, platform::nats::headers::CE_SUBJECT),
            message,
        }
    }
}

/// Tails the feed until `shutdown`, until drained with `once`, or until `limit` lines are
/// printed. Feed lines go to `out`; gap lines to `notes`; logs through `tracing`.
///
/// # Errors
/// [`Error::Gap`] with `fail_on_gap`; [`Error::Contract`] for a message without a feed
/// position; otherwise when NATS cannot be reached, the consumer does not exist or the user
/// may not read it, a writer fails, or the state file cannot be read or written.
pub async fn run(
    config: &TailConfig,
    out: &mut dyn Write,
    notes: &mut dyn Write,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, Error> {
    let pool = descriptor_pool()?;
    let client = connect(config).await?;
    let js = match &config.domain {
        Some(domain) => jetstream::with_domain(client.clone(), domain),
        None => jetstream::new(client.clone()),
    };
    let mut consumer: jetstream::consumer::Consumer<pull::Config> = js
        .get_consumer_from_stream(&config.durable, &config.stream)
        .await
        .with_context(|| {
            format!(
                "Failed to open the durable consumer {} on {} (Redress creates it; check the user's permissions)",
                config.durable, config.stream
            )
        })?;
    let mut tail = Tail {
        config,
        pool,
        state: StateFile::new(&config.state_file),
        summary: Summary {
            last_feed_position: load_state(&config.state_file)?,
            ..Summary::default()
        },
    };
    tracing::info!(stream = %config.stream, durable = %config.durable, last_feed_position = tail.summary.last_feed_position, "tailing the feed");
    tokio::pin!(shutdown);
    let expires = if config.once {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    'pull: loop {
        let wanted = match config.limit {
            Some(limit) if tail.summary.printed >= limit => break,
            Some(limit) => usize::try_from(limit - tail.summary.printed)
                .unwrap_or(BATCH)
                .min(BATCH),
            None => BATCH,
        };
        let batch = consumer
            .batch()
            .max_messages(wanted)
            .expires(expires)
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(e) if !config.once => {
                tracing::warn!(error = %e, "cannot pull from the feed; retrying");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
            Err(e) => return Err(anyhow::anyhow!("Failed to pull from the feed: {e}").into()),
        };
        loop {
            let next = tokio::select! {
                biased;
                () = &mut shutdown => break 'pull,
                next = batch.next() => next,
            };
            match next {
                Some(Ok(message)) => {
                    tail.process(message, out, notes).await?;
                    if config
                        .limit
                        .is_some_and(|limit| tail.summary.printed >= limit)
                    {
                        break 'pull;
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "pull interrupted");
                    if !config.once {
                        // Not straight back: a refusal would repeat at once.
                        tokio::select! {
                            () = &mut shutdown => break 'pull,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                    break;
                }
                None => break,
            }
        }
        if config.once {
            // Done when every message is delivered and acknowledged: one left unacknowledged by
            // an earlier run comes back once its redelivery delay has passed.
            let info = consumer
                .info()
                .await
                .map_err(|e| anyhow::anyhow!("Failed to read the consumer's state: {e}"))?;
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                break;
            }
        }
    }
    client
        .flush()
        .await
        .map_err(|e| anyhow::anyhow!("Failed to flush to NATS: {e}"))?;
    tracing::info!(
        printed = tail.summary.printed,
        duplicates = tail.summary.duplicates,
        gaps = tail.summary.gaps.len(),
        last_feed_position = tail.summary.last_feed_position,
        "feed tail stopped"
    );
    Ok(tail.summary)
}

struct Tail<'a> {
    config: &'a TailConfig,
    pool: DescriptorPool,
    state: StateFile,
    summary: Summary,
}

impl Tail<'_> {
    #[tracing::instrument(skip_all, fields(subject = %message.subject, feed_position))]
    async fn process(
        &mut self,
        message: jetstream::Message,
        out: &mut dyn Write,
        notes: &mut dyn Write,
    ) -> Result<(), Error> {
        let (stream_sequence, delivered) = message
            .info()
            .map(|info| (info.stream_sequence, info.delivered))
            .map_err(|e| anyhow::anyhow!("message without JetStream info: {e}"))?;
        let headers = message.headers.clone().unwrap_or_default();
        let position = match header(&headers, FEED_POSITION).map(|v| v.trim().parse::<u64>()) {
            Some(Ok(position)) if position > 0 => position,
            other => {
                settle(&message, AckKind::Nak(None)).await;
                let reason = match other {
                    None => format!("no {FEED_POSITION} header"),
                    Some(_) => format!("{FEED_POSITION} is not a positive integer"),
                };
                return Err(Error::Contract {
                    stream_sequence,
                    reason,
                });
            }
        };
        tracing::Span::current().record("feed_position", position);
        let last = self.summary.last_feed_position;
        if position <= last {
            tracing::info!(
                feed_position = position,
                last_feed_position = last,
                delivered,
                "already handled: acknowledged without printing"
            );
            settle(&message, AckKind::Ack).await;
            self.summary.duplicates += 1;
            return Ok(());
        }
        if position > last + 1 {
            let gap = Gap {
                expected: last + 1,
                received: position,
            };
            self.summary.gaps.push(gap);
            write_json_line(notes, &serde_json::json!({ "gap": gap }))?;
            tracing::warn!(
                expected = gap.expected,
                received = gap.received,
                "feed positions are missing"
            );
            if self.config.fail_on_gap {
                // Handed back at once so the next run meets the same gap.
                settle(&message, AckKind::Nak(None)).await;
                return Err(Error::Gap(gap));
            }
        }
        let line = FeedLine::decode(&self.pool, position, &headers, &message.payload);
        write_json_line(out, &line)?;
        self.state.save(position)?;
        self.summary.last_feed_position = position;
        self.summary.printed += 1;
        fail::fail_point!("feed_tail::after_save_before_ack", |_| Err(
            anyhow::anyhow!("failpoint feed_tail::after_save_before_ack").into()
        ));
        settle(&message, AckKind::Ack).await;
        Ok(())
    }
}

/// Acknowledges (or hands back) and waits for the server to confirm. An acknowledgement that is
/// not confirmed is only logged: the message comes back and the state file recognises it.
async fn settle(message: &jetstream::Message, kind: AckKind) {
    if let Err(e) = message.double_ack_with(kind).await {
        tracing::warn!(error = %e, "acknowledgement not confirmed; the message will be redelivered");
    }
}

fn write_json_line(writer: &mut dyn Write, value: &impl Serialize) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(value).context("Failed to encode a line as JSON")?;
    line.push(b'\n');
    writer
        .write_all(&line)
        .and_then(|()| writer.flush())
        .context("Failed to write a line")
}

async fn connect(config: &TailConfig) -> anyhow::Result<async_nats::Client> {
    let mut options = async_nats::ConnectOptions::new()
        .name("redress-feed-tail")
        .connection_timeout(Duration::from_secs(5))
        .event_callback(|event| async move {
            // Connection changes are logged by the client itself; a refusal (a permissions
            // violation) deserves a warning.
            match event {
                async_nats::Event::ServerError(e) => {
                    tracing::warn!(error = %e, "the NATS server reported an error");
                }
                async_nats::Event::ClientError(e) => {
                    tracing::warn!(error = %e, "NATS client error")
                }
                _ => {}
            }
        });
    match (&config.user, &config.password) {
        (Some(user), password) => {
            let password = password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            options = options.user_and_password(user.clone(), password);
        }
        (None, Some(_)) => anyhow::bail!("a NATS password was given without a user"),
        (None, None) => {}
    }
    options
        .connect(config.nats_url.as_str())
        .await
        .with_context(|| format!("Failed to connect to NATS at {}", config.nats_url))
}

/// A header's first value, matching the name without regard to case.
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(key, _)| AsRef::<str>::as_ref(key).eq_ignore_ascii_case(name))
        .and_then(|(_, values)| values.first())
        .map(|value| value.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_unknown_message_type_is_printed_raw() {
        let pool = descriptor_pool().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("ce-type", "redress.feed.v1.NotYetInvented");

        let line = FeedLine::decode(&pool, 7, &headers, &[1, 2, 3]);

        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["message"], serde_json::Value::Null);
        assert_eq!(json["payload_base64"], "AQID");
    }

    #[test]
    fn a_message_of_another_package_is_not_decoded_as_a_feed_message() {
        let pool = descriptor_pool().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("ce-type", "redress.common.v1.Position");

        let line = FeedLine::decode(&pool, 1, &headers, &[]);

        assert!(line.message.is_none());
    }
}
