//! Forgetting a data subject: the subject's key in the vault is destroyed and
//! `DataSubjectForgotten` is appended to the log in one transaction, so an erasure is never
//! without its record nor a record without its erasure. The read models react to the event; the
//! events that refer to the subject's records stay as they are, and a replay gives the erased
//! state again because the event names every record it made unreadable.
//!
//! Who a subject is: the complainant of one formal complaint (a subject of their own, created at
//! submission: their contact details and narrative), or an inspection (its id: the wellbeing
//! contact, the narratives of its concerns and the summaries they were closed with). Nothing here
//! needs the vault's master key: the erasure destroys a key, it opens nothing.

use jiff::Timestamp;
use platform::event_store::{Appended, ExecuteError, within};
use platform::pg::Pool;
use platform::tail::Metadata;
use platform::vault::{self, SubjectEntry};
use uuid::Uuid;

use crate::domain::ErasureGround;
use crate::domain::data_subject::{self, Command, DataSubject, Rejection};

/// An operator's request to forget a subject.
#[derive(Clone, Debug)]
pub struct Forget {
    pub subject_id: Uuid,
    pub ground: ErasureGround,
    /// The request's reference in the data protection officer's case system.
    pub request_ref: String,
    /// Who asked: an operator's or officer's reference, recorded as the event's actor.
    pub requested_by_ref: String,
    pub at: Timestamp,
}

/// What a [`forget`] did.
#[derive(Debug)]
pub enum Outcome {
    /// The key was destroyed now and the erasure recorded.
    Forgotten {
        entry: SubjectEntry,
        appended: Appended,
    },
    /// The subject was forgotten before; nothing changed.
    AlreadyForgotten { record: Option<Record> },
}

/// Why nothing was forgotten. Nothing changed in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the complaints vault holds nothing about data subject {0}")]
    UnknownSubject(Uuid),
    #[error("{0}")]
    Rejected(Rejection),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The recorded erasure of a subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub forgotten_at: Timestamp,
    pub ground: Option<ErasureGround>,
    pub request_ref: String,
    pub requested_by_ref: String,
    pub records: usize,
}

/// A subject as the vault and the log know it.
#[derive(Clone, Debug)]
pub struct Subject {
    pub entry: SubjectEntry,
    /// `Some` once the subject was forgotten.
    pub erasure: Option<Record>,
}

/// Forgets `request.subject_id` in the complaints schema `pool` is set to: locks the subject's
/// vault row, records `DataSubjectForgotten` naming every record the vault holds about them, and
/// destroys their key, in one transaction. A subject forgotten before is left alone.
///
/// # Errors
/// [`Error::UnknownSubject`] when the vault never held anything about the subject,
/// [`Error::Rejected`] for a missing or too long reference, and database errors; nothing is
/// changed then.
#[tracing::instrument(skip_all, fields(subject_id = %request.subject_id))]
pub async fn forget(pool: &Pool, request: Forget) -> Result<Outcome, Error> {
    let subject_id = request.subject_id;
    let mut tx = pool
        .begin()
        .await
        .map_err(|e| anyhow::Error::new(e).context("Failed to begin the erasure"))?;
    let entry = vault::subject_entry(&mut tx, subject_id, true)
        .await
        .map_err(|e| anyhow::Error::new(e).context("Failed to read the vault"))?
        .filter(|entry| !entry.records.is_empty())
        .ok_or(Error::UnknownSubject(subject_id))?;
    let metadata = Metadata::for_command(request.requested_by_ref.trim(), Uuid::now_v7(), None);
    let command = Command::Forget {
        subject_id,
        records: entry.records.iter().map(|r| r.record_id).collect(),
        ground: request.ground,
        request_ref: request.request_ref,
        requested_by_ref: request.requested_by_ref,
        at: request.at,
    };
    let stream_id = data_subject::stream_id(subject_id);
    match within::execute::<DataSubject>(&mut tx, stream_id, command, &metadata).await {
        Ok(appended) => {
            vault::erase_within(&mut tx, subject_id)
                .await
                .map_err(|e| {
                    anyhow::Error::new(e).context("Failed to destroy the subject's key")
                })?;
            tx.commit()
                .await
                .map_err(|e| anyhow::Error::new(e).context("Failed to commit the erasure"))?;
            tracing::info!(records = entry.records.len(), "data subject forgotten");
            Ok(Outcome::Forgotten { entry, appended })
        }
        Err(ExecuteError::Rejected(Rejection::AlreadyForgotten { .. })) => {
            drop(tx);
            let record = erasure(pool, subject_id).await?;
            Ok(Outcome::AlreadyForgotten { record })
        }
        Err(ExecuteError::Rejected(rejection)) => Err(Error::Rejected(rejection)),
        Err(other) => Err(Error::Unexpected(
            anyhow::Error::new(other).context("Failed to record the erasure"),
        )),
    }
}

/// What the vault and the log know about `subject_id`, or `None` when the vault never held
/// anything about them.
///
/// # Errors
/// Database errors, and an undecodable erasure event.
pub async fn subject(pool: &Pool, subject_id: Uuid) -> anyhow::Result<Option<Subject>> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| anyhow::Error::new(e).context("Failed to connect"))?;
    let Some(entry) = vault::subject_entry(&mut conn, subject_id, false)
        .await
        .map_err(|e| anyhow::Error::new(e).context("Failed to read the vault"))?
    else {
        return Ok(None);
    };
    drop(conn);
    let erasure = erasure(pool, subject_id).await?;
    Ok(Some(Subject { entry, erasure }))
}

/// The recorded erasure of `subject_id`, if any.
async fn erasure(pool: &Pool, subject_id: Uuid) -> anyhow::Result<Option<Record>> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| anyhow::Error::new(e).context("Failed to connect"))?;
    let (state, _) = within::load::<DataSubject>(&mut conn, data_subject::stream_id(subject_id))
        .await
        .map_err(|e| anyhow::Error::new(e).context("Failed to read the subject's stream"))?;
    Ok(match state {
        DataSubject::Known => None,
        DataSubject::Forgotten {
            forgotten_at,
            ground,
            request_ref,
            requested_by_ref,
            records,
        } => Some(Record {
            forgotten_at,
            ground,
            request_ref,
            requested_by_ref,
            records,
        }),
    })
}
