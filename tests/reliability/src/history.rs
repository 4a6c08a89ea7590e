//! The history of a run: one JSON line per command the workload sent, written as each command
//! ends, so that the checker (and a person after a failed run) reads what the clients saw, not
//! what the harness believes happened.
//!
//! A command is one idempotency key. It may take several attempts: a retry after an unknown
//! outcome reuses the key. Its outcome is `ok` when an attempt succeeded, `fail` when one ended
//! in a definite failure (the server said no and wrote nothing), and `unknown` when every
//! attempt ended in a way that says nothing about what the server did (`UNAVAILABLE`,
//! `DEADLINE_EXCEEDED`, a reset connection, `INTERNAL`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tonic::Code;

/// How a command ended, as its client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Fail,
    Unknown,
}

/// What the client meant the command to do: be accepted, or be refused with a definite
/// failure (the probes that give I2 something to check).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Accept,
    Refuse,
}

/// Whether a status code is a definite failure: the server refused the command and wrote
/// nothing (reliability plan §6.1, I2; `NOT_FOUND` also names a refusal before any write).
pub fn definite(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::FailedPrecondition
            | Code::Aborted
            | Code::NotFound
    )
}

/// One attempt of a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Milliseconds since the run began.
    pub start_ms: u64,
    pub end_ms: u64,
    /// `OK` or the gRPC code's name.
    pub code: String,
    /// The event ids an `OK` answer's receipt named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_ids: Vec<String>,
}

/// One command: a client, an idempotency key and everything that came back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub client: usize,
    pub idempotency_key: String,
    /// The full method path, e.g. `/redress.complaints.v1.Complaints/SubmitFormalComplaint`.
    pub rpc: String,
    /// The schema of the service that owns the command (`complaints`, `escalation`,
    /// `learning_reviews`), where its key is recorded.
    pub schema: String,
    /// The caller's token subject: the scope of the key.
    pub scope: String,
    /// A hash of the encoded request (the same for every attempt).
    pub request_hash: String,
    pub intent: Intent,
    pub start_ms: u64,
    pub end_ms: u64,
    pub outcome: Outcome,
    /// The last attempt's code.
    pub code: String,
    pub attempts: Vec<Attempt>,
    /// From the receipt of an `ok` answer: the aggregate acted on, its version after the
    /// command, and the events the command recorded.
    pub stream_id: Option<String>,
    pub version: Option<u64>,
    pub returned_event_ids: Vec<String>,
    /// An id the answer created (complaint, concern, escalation, incident, review).
    pub created_id: Option<String>,
}

/// A history being written: every entry is appended to the file as it is recorded.
#[derive(Debug)]
pub struct History {
    path: PathBuf,
    epoch: Instant,
    file: Mutex<std::io::BufWriter<std::fs::File>>,
}

impl History {
    /// Creates (or truncates) the file; times are counted from now.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(path: &Path) -> anyhow::Result<History> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("Failed to create {}", path.display()))?;
        Ok(History {
            path: path.to_owned(),
            epoch: Instant::now(),
            file: Mutex::new(std::io::BufWriter::new(file)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Milliseconds since the history was created: the clock of every entry and fault.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Appends one entry and flushes it.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn record(&self, entry: &Entry) -> anyhow::Result<()> {
        let line = serde_json::to_string(entry)?;
        let mut file = self
            .file
            .lock()
            .map_err(|_| anyhow::anyhow!("a writer of the history panicked"))?;
        writeln!(file, "{line}")?;
        file.flush()?;
        Ok(())
    }

    /// Every entry of a history file.
    ///
    /// # Errors
    /// When the file cannot be read or a line is not an entry.
    pub fn read(path: &Path) -> anyhow::Result<Vec<Entry>> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("Failed to read {}", path.display()))?;
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .enumerate()
            .map(|(n, line)| {
                serde_json::from_str(line)
                    .with_context(|| format!("{}:{}: not a history entry", path.display(), n + 1))
            })
            .collect()
    }
}
