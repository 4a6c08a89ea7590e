//! `RegisterEntry`: one recommendation of the accountability register that came from another
//! context — the adjudicator's, copied from the escalation context's events (design rule 7) —
//! with the inspectorate's decision on it and its implementation.
//!
//! The stream id is [`entry_id`] of the source, the case and the recommendation id, so the
//! escalation policy finds an entry again from any later event about the recommendation without
//! a lookup. The learning reviews' own recommendations join the register from the reviews'
//! events; they need no copy.

use jiff::Timestamp;
use uuid::Uuid;

use super::{Reason, RecommendationSource, RegisterDecision, instant, v1};

platform::domain_event! {
    Event {
        RecommendationRecorded(v1::RegisterRecommendationRecorded),
        DecisionRecorded(v1::RegisterDecisionRecorded),
        ImplementationRecorded(v1::RegisterImplementationRecorded),
    }
}

/// One event of a register entry's stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    RecommendationRecorded(v1::RegisterRecommendationRecorded),
    DecisionRecorded(v1::RegisterDecisionRecorded),
    ImplementationRecorded(v1::RegisterImplementationRecorded),
}

/// The facts the escalation policy records.
#[derive(Clone, Debug)]
pub enum Command {
    RecordRecommendation(v1::RegisterRecommendationRecorded),
    RecordDecision(v1::RegisterDecisionRecorded),
    RecordImplementation(v1::RegisterImplementationRecorded),
}

/// Why a fact could not be recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A decision or implementation arrives after its recommendation; one that comes first is
    /// out of order and is not recorded.
    #[error("no recommendation has been recorded for this register entry")]
    NotRecorded,
    #[error("the fact is about another recommendation than this entry's")]
    EntryMismatch,
}

impl Reason for Rejection {
    fn reason(&self) -> &'static str {
        match self {
            Rejection::NotRecorded => "REGISTER_ENTRY_NOT_RECORDED",
            Rejection::EntryMismatch => "REGISTER_ENTRY_MISMATCH",
        }
    }
}

/// The stream id of a register entry: a UUID (version 8) from SHA-256 over the source, the case
/// id and the recommendation id. Stable, so any later fact about the recommendation finds it.
#[must_use]
pub fn entry_id(source: RecommendationSource, case_id: Uuid, recommendation_id: &str) -> Uuid {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"redress.learning_reviews.register_entry\0");
    hash.update(source.to_proto().to_be_bytes());
    hash.update(case_id.as_bytes());
    hash.update(recommendation_id.as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // RFC 9562: version 8 (custom), variant 10.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

/// What the entry is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub source: Option<RecommendationSource>,
    pub case_id: String,
    pub case_ref: String,
    pub recommendation_id: String,
    pub kind: String,
    pub issued_at: Timestamp,
}

/// A register entry's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterEntry {
    entry: Option<Entry>,
    decision: Option<RegisterDecision>,
    implemented: bool,
}

impl RegisterEntry {
    /// The recommendation, once recorded.
    pub fn entry(&self) -> Option<&Entry> {
        self.entry.as_ref()
    }

    /// The latest decision recorded; `None` while pending.
    pub fn decision(&self) -> Option<RegisterDecision> {
        self.decision
    }

    pub fn implemented(&self) -> bool {
        self.implemented
    }

    fn recorded(&self, case_id: &str, recommendation_id: &str) -> Result<&Entry, Rejection> {
        let entry = self.entry.as_ref().ok_or(Rejection::NotRecorded)?;
        if entry.case_id == case_id && entry.recommendation_id == recommendation_id {
            Ok(entry)
        } else {
            Err(Rejection::EntryMismatch)
        }
    }
}

impl platform::aggregate::Aggregate for RegisterEntry {
    const STREAM_TYPE: &'static str = "register_entry";
    type Command = Command;
    type Event = Event;
    type Rejection = Rejection;

    fn decide(&self, command: Command) -> Result<Vec<Event>, Rejection> {
        match command {
            Command::RecordRecommendation(fact) => match &self.entry {
                Some(_) => {
                    self.recorded(&fact.case_id, &fact.recommendation_id)?;
                    Ok(vec![])
                }
                None => Ok(vec![Event::RecommendationRecorded(fact)]),
            },
            Command::RecordDecision(fact) => {
                self.recorded(&fact.case_id, &fact.recommendation_id)?;
                let decision = RegisterDecision::from_proto(fact.decision);
                Ok(if decision.is_some() && decision == self.decision {
                    vec![]
                } else {
                    vec![Event::DecisionRecorded(fact)]
                })
            }
            Command::RecordImplementation(fact) => {
                self.recorded(&fact.case_id, &fact.recommendation_id)?;
                Ok(if self.implemented {
                    vec![]
                } else {
                    vec![Event::ImplementationRecorded(fact)]
                })
            }
        }
    }

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::RecommendationRecorded(e) => {
                self.entry = Some(Entry {
                    source: RecommendationSource::from_proto(e.source),
                    case_id: e.case_id.clone(),
                    case_ref: e.case_ref.clone(),
                    recommendation_id: e.recommendation_id.clone(),
                    kind: e.kind.clone(),
                    issued_at: instant(e.issued_at.as_ref()),
                });
            }
            Event::DecisionRecorded(e) => self.decision = RegisterDecision::from_proto(e.decision),
            Event::ImplementationRecorded(_) => self.implemented = true,
        }
        self
    }
}
