//! `DataSubject`: the record that a person whose personal data the vault holds was forgotten.
//!
//! The vault keeps each subject's records under a key of their own; forgetting a subject destroys
//! that key, which the application does in the same transaction as it appends
//! `DataSubjectForgotten` here, so the erasure is a matter of record and the read models can drop
//! their references to the records. The event names every record made unreadable, so a replay
//! drops the same references without asking the vault.
//!
//! The stream id is [`stream_id`] of the subject, not the subject id itself: the records of an
//! inspection (its wellbeing contact, the narratives of its concerns) are kept under the
//! inspection's id, which is already the id of its `InspectionCase` stream.

use jiff::Timestamp;
use platform::aggregate::{Aggregate, Reason};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{ErasureGround, instant, stamp, v1};

/// Longest request or requester reference.
pub const REF_MAX: usize = 200;

/// The stream that records what happened to `subject_id`: a UUID (version 8) derived from it, the
/// same on every call, and never an id the store hands out (those are version 4 or 7).
#[must_use]
pub fn stream_id(subject_id: Uuid) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"redress.complaints.data_subject\0")
        .chain_update(subject_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Forget a subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `records` are the subject's records in the vault, read in the transaction that destroys
    /// their key; the application refuses a subject the vault does not know before this.
    Forget {
        subject_id: Uuid,
        records: Vec<Uuid>,
        ground: ErasureGround,
        request_ref: String,
        requested_by_ref: String,
        at: Timestamp,
    },
}

/// A fact about a subject.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    DataSubjectForgotten(v1::DataSubjectForgotten),
}

platform::domain_event! { Event {
    DataSubjectForgotten(v1::DataSubjectForgotten),
} }

/// The rule a command broke.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Forgetting happens once; a second request changes nothing.
    #[error("the data subject was already forgotten at {forgotten_at}")]
    AlreadyForgotten { forgotten_at: Timestamp },
    #[error("the vault holds no records about this data subject")]
    NoRecords,
    #[error("an erasure needs the reference of the request it answers")]
    RequestRefRequired,
    #[error("an erasure needs the reference of who asked for it")]
    RequesterRequired,
    #[error("a reference is longer than {REF_MAX} characters")]
    RefTooLong,
}

impl Reason for Rejection {
    fn reason(&self) -> &'static str {
        match self {
            Rejection::AlreadyForgotten { .. } => "ALREADY_FORGOTTEN",
            Rejection::NoRecords => "NO_RECORDS",
            Rejection::RequestRefRequired => "REQUEST_REF_REQUIRED",
            Rejection::RequesterRequired => "REQUESTER_REQUIRED",
            Rejection::RefTooLong => "REF_TOO_LONG",
        }
    }
}

/// What is on record about a subject.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DataSubject {
    /// Nothing: their records, if the vault holds any, can be read.
    #[default]
    Known,
    Forgotten {
        forgotten_at: Timestamp,
        /// `None` for a ground this build does not know (a newer writer's).
        ground: Option<ErasureGround>,
        request_ref: String,
        requested_by_ref: String,
        /// How many records were made unreadable.
        records: usize,
    },
}

impl Aggregate for DataSubject {
    const STREAM_TYPE: &'static str = "data_subject";
    type Command = Command;
    type Event = Event;
    type Rejection = Rejection;

    fn decide(&self, command: Command) -> Result<Vec<Event>, Rejection> {
        let Command::Forget {
            subject_id,
            records,
            ground,
            request_ref,
            requested_by_ref,
            at,
        } = command;
        if let DataSubject::Forgotten { forgotten_at, .. } = self {
            return Err(Rejection::AlreadyForgotten {
                forgotten_at: *forgotten_at,
            });
        }
        let request_ref = request_ref.trim();
        let requested_by_ref = requested_by_ref.trim();
        if request_ref.is_empty() {
            return Err(Rejection::RequestRefRequired);
        }
        if requested_by_ref.is_empty() {
            return Err(Rejection::RequesterRequired);
        }
        if request_ref.chars().count() > REF_MAX || requested_by_ref.chars().count() > REF_MAX {
            return Err(Rejection::RefTooLong);
        }
        if records.is_empty() {
            return Err(Rejection::NoRecords);
        }
        Ok(vec![Event::DataSubjectForgotten(
            v1::DataSubjectForgotten {
                subject_id: subject_id.to_string(),
                record_refs: records.iter().map(Uuid::to_string).collect(),
                ground: ground.to_proto(),
                request_ref: request_ref.to_owned(),
                requested_by_ref: requested_by_ref.to_owned(),
                forgotten_at: stamp(at),
            },
        )])
    }

    fn evolve(self, event: &Event) -> Self {
        match event {
            Event::DataSubjectForgotten(e) => DataSubject::Forgotten {
                forgotten_at: instant(e.forgotten_at.as_ref()),
                ground: ErasureGround::from_proto(e.ground),
                request_ref: e.request_ref.clone(),
                requested_by_ref: e.requested_by_ref.clone(),
                records: e.record_refs.len(),
            },
        }
    }
}
