//! `ComplaintRecord`: what the escalation context knows about one formal complaint, copied from
//! the complaints context's integration events into escalation's own events (design rule 7), and
//! the per-complaint guard of "one active escalation per complaint".
//!
//! The stream id is the `complaint_id`. A policy consumer of the complaints stream records each
//! fact once (its inbox keeps redeliveries out; the commands are idempotent besides, so a fact
//! recorded twice changes nothing). Every escalation that goes ahead appends `EscalationOpened`
//! here in the same transaction as its `EscalationRequested`, with this stream's expected
//! version: of two racing requests for the same complaint, one commits and the other conflicts
//! and is decided again against the new state.
//!
//! The record answers [`ComplaintRecord::facts`] for the `Escalation` aggregate's request rules,
//! [`ComplaintRecord::provider_id`] for scoping, and [`ComplaintRecord::documents`] for the case
//! file.

use jiff::Timestamp;
use uuid::Uuid;

use super::escalation::ComplaintFacts;
use super::{Reason, instant, stamp, v1};

platform::domain_event! {
    Event {
        SubmissionRecorded(v1::ComplaintSubmissionRecorded),
        InformationRecorded(v1::ComplaintInformationRecorded),
        ResponseOverdueRecorded(v1::ComplaintResponseOverdueRecorded),
        ResponseRecorded(v1::ComplaintResponseRecorded),
        WithdrawalRecorded(v1::ComplaintWithdrawalRecorded),
        EscalationOpened(v1::EscalationOpened),
    }
}

/// One event of a complaint record's stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    SubmissionRecorded(v1::ComplaintSubmissionRecorded),
    InformationRecorded(v1::ComplaintInformationRecorded),
    ResponseOverdueRecorded(v1::ComplaintResponseOverdueRecorded),
    ResponseRecorded(v1::ComplaintResponseRecorded),
    WithdrawalRecorded(v1::ComplaintWithdrawalRecorded),
    EscalationOpened(v1::EscalationOpened),
}

/// The facts the policy consumer records, and the escalation guard.
#[derive(Clone, Debug)]
pub enum Command {
    RecordSubmission(v1::ComplaintSubmissionRecorded),
    RecordInformation(v1::ComplaintInformationRecorded),
    RecordResponseOverdue(v1::ComplaintResponseOverdueRecorded),
    /// A response and the escalation rights that follow it; a later one (after a
    /// reconsideration) replaces the earlier. An empty `inspection_id` is filled from the record.
    RecordResponse(v1::ComplaintResponseRecorded),
    /// An empty `inspection_id` is filled from the record.
    RecordWithdrawal(v1::ComplaintWithdrawalRecorded),
    /// An escalation of this complaint went ahead.
    OpenEscalation {
        escalation_id: Uuid,
        now: Timestamp,
    },
}

/// Why a fact could not be recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Facts about a complaint arrive after its submission; one that comes first is out of
    /// order and is not recorded.
    #[error("no submission has been recorded for this complaint")]
    NotRecorded,
    #[error("the fact is about another complaint")]
    ComplaintMismatch,
}

impl Reason for Rejection {
    fn reason(&self) -> &'static str {
        match self {
            Rejection::NotRecorded => "COMPLAINT_NOT_RECORDED",
            Rejection::ComplaintMismatch => "COMPLAINT_MISMATCH",
        }
    }
}

/// A document of the complaint, for the case file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub kind: super::DocumentKind,
    pub doc_ref: String,
}

/// What is known of the complaint once its submission is recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    pub complaint_id: Uuid,
    pub inspection_id: Uuid,
    pub provider_id: String,
    pub remit: Option<super::Remit>,
    pub submitted_at: Timestamp,
    pub draft_issued_at: Timestamp,
    /// `YYYY-MM-DD`, empty when not reported.
    pub last_onsite_on: String,
}

/// The complaint record's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComplaintRecord {
    submission: Option<Submission>,
    facts: Option<ComplaintFacts>,
    documents: Vec<Document>,
    response_doc_ref: Option<String>,
    escalations: Vec<Uuid>,
}

impl ComplaintRecord {
    /// The submission, once recorded.
    pub fn submission(&self) -> Option<&Submission> {
        self.submission.as_ref()
    }

    /// The provider the complaint is from, once recorded.
    pub fn provider_id(&self) -> Option<&str> {
        self.submission.as_ref().map(|s| s.provider_id.as_str())
    }

    /// The facts an escalation request is decided on, once the submission is recorded.
    pub fn facts(&self) -> Option<&ComplaintFacts> {
        self.facts.as_ref()
    }

    /// Every document of the complaint in the order recorded: the submission's, the added
    /// information, then the latest response letter.
    pub fn documents(&self) -> Vec<Document> {
        let mut documents = self.documents.clone();
        if let Some(doc_ref) = &self.response_doc_ref {
            documents.push(Document {
                kind: super::DocumentKind::Response,
                doc_ref: doc_ref.clone(),
            });
        }
        documents
    }

    /// The escalations that went ahead, oldest first; the last one is the one that can be
    /// active.
    pub fn escalations(&self) -> &[Uuid] {
        &self.escalations
    }

    fn recorded(&self, complaint_id: &str) -> Result<&Submission, Rejection> {
        let submission = self.submission.as_ref().ok_or(Rejection::NotRecorded)?;
        if submission.complaint_id.to_string() == complaint_id {
            Ok(submission)
        } else {
            Err(Rejection::ComplaintMismatch)
        }
    }
}

impl platform::aggregate::Aggregate for ComplaintRecord {
    const STREAM_TYPE: &'static str = "complaint_record";
    type Command = Command;
    type Event = Event;
    type Rejection = Rejection;

    fn decide(&self, command: Command) -> Result<Vec<Event>, Rejection> {
        match command {
            Command::RecordSubmission(fact) => match &self.submission {
                Some(_) => {
                    self.recorded(&fact.complaint_id)?;
                    Ok(vec![])
                }
                None => Ok(vec![Event::SubmissionRecorded(fact)]),
            },
            Command::RecordInformation(fact) => {
                self.recorded(&fact.complaint_id)?;
                let known = self.documents.iter().any(|d| d.doc_ref == fact.doc_ref);
                Ok(if known {
                    vec![]
                } else {
                    vec![Event::InformationRecorded(fact)]
                })
            }
            Command::RecordResponseOverdue(fact) => {
                self.recorded(&fact.complaint_id)?;
                let facts = self.facts.as_ref().ok_or(Rejection::NotRecorded)?;
                let due_at = instant(fact.response_due_at.as_ref());
                Ok(
                    if facts.response.is_some() || facts.response_overdue_since == Some(due_at) {
                        vec![]
                    } else {
                        vec![Event::ResponseOverdueRecorded(fact)]
                    },
                )
            }
            Command::RecordResponse(mut fact) => {
                let submission = self.recorded(&fact.complaint_id)?;
                if fact.inspection_id.is_empty() {
                    fact.inspection_id = submission.inspection_id.to_string();
                }
                let facts = self.facts.as_ref().ok_or(Rejection::NotRecorded)?;
                let issued_at = instant(fact.response_issued_at.as_ref());
                let same = facts
                    .response
                    .as_ref()
                    .is_some_and(|r| r.issued_at == issued_at);
                Ok(if same {
                    vec![]
                } else {
                    vec![Event::ResponseRecorded(fact)]
                })
            }
            Command::RecordWithdrawal(mut fact) => {
                let submission = self.recorded(&fact.complaint_id)?;
                if fact.inspection_id.is_empty() {
                    fact.inspection_id = submission.inspection_id.to_string();
                }
                let withdrawn = self.facts.as_ref().is_some_and(|f| f.withdrawn);
                Ok(if withdrawn {
                    vec![]
                } else {
                    vec![Event::WithdrawalRecorded(fact)]
                })
            }
            Command::OpenEscalation { escalation_id, now } => {
                let submission = self.submission.as_ref().ok_or(Rejection::NotRecorded)?;
                if self.escalations.contains(&escalation_id) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::EscalationOpened(v1::EscalationOpened {
                    complaint_id: submission.complaint_id.to_string(),
                    escalation_id: escalation_id.to_string(),
                    opened_at: stamp(now),
                })])
            }
        }
    }

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::SubmissionRecorded(e) => {
                let complaint_id = parse_id(&e.complaint_id);
                let inspection_id = parse_id(&e.inspection_id);
                self.submission = Some(Submission {
                    complaint_id,
                    inspection_id,
                    provider_id: e.provider_id.clone(),
                    remit: super::Remit::from_proto(e.remit),
                    submitted_at: instant(e.submitted_at.as_ref()),
                    draft_issued_at: instant(e.draft_issued_at.as_ref()),
                    last_onsite_on: e.last_onsite_on.clone(),
                });
                self.facts = Some(ComplaintFacts::new(complaint_id, inspection_id));
                self.documents = e
                    .doc_refs
                    .iter()
                    .map(|doc_ref| Document {
                        kind: super::DocumentKind::Complaint,
                        doc_ref: doc_ref.clone(),
                    })
                    .collect();
            }
            Event::InformationRecorded(e) => self.documents.push(Document {
                kind: super::DocumentKind::AdditionalInformation,
                doc_ref: e.doc_ref.clone(),
            }),
            Event::ResponseOverdueRecorded(e) => {
                if let Some(facts) = &mut self.facts {
                    facts.response_overdue_since = Some(instant(e.response_due_at.as_ref()));
                }
            }
            Event::ResponseRecorded(e) => {
                if let Some(facts) = &mut self.facts {
                    facts.record_response(e);
                }
                if !e.response_doc_ref.is_empty() {
                    self.response_doc_ref = Some(e.response_doc_ref.clone());
                }
            }
            Event::WithdrawalRecorded(e) => {
                if let Some(facts) = &mut self.facts {
                    facts.record_withdrawal(e);
                }
            }
            Event::EscalationOpened(e) => self.escalations.push(parse_id(&e.escalation_id)),
        }
        self
    }
}

fn parse_id(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap_or(Uuid::nil())
}
