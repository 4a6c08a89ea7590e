//! The complaints facts the reviewer's independence check reads, copied from the complaints
//! context's integration events into learning-reviews' own events (design rule 7):
//!
//! * `InspectionConnections` (stream id = inspection id): the people connected with an
//!   inspection and how — its team (`InspectionNotified`), the handlers of its concerns
//!   (`ConcernAssigned`), the investigators of its complaints (`InvestigatorAssigned`) and who
//!   decided their responses (`ComplaintResponseIssued`).
//! * `CaseLink` (stream id = the concern, complaint or escalation id): which inspection a case is
//!   about, so a handler assigned to it later is joined to that inspection; for an escalation,
//!   also its public case reference, for the recommendation register.
//!
//! A policy consumer records each fact once (its inbox keeps redeliveries out; the commands are
//! idempotent besides, so a fact recorded twice changes nothing).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use uuid::Uuid;

use super::{Connection, Reason, parse_id, stamp, v1};

platform::domain_event! {
    ConnectionsEvent {
        Recorded(v1::InspectionConnectionsRecorded),
    }
}

/// One event of an inspection's connections stream.
#[derive(Clone, Debug, PartialEq)]
pub enum ConnectionsEvent {
    Recorded(v1::InspectionConnectionsRecorded),
}

/// Records people connected with an inspection.
#[derive(Clone, Debug)]
pub struct RecordConnections {
    pub inspection_id: Uuid,
    pub people_refs: Vec<String>,
    pub connection: Connection,
    pub now: Timestamp,
}

/// Why a connection or a link could not be recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the fact is about another inspection than this stream's")]
    InspectionMismatch,
    #[error("the case is already linked to another inspection")]
    LinkConflict,
}

impl Reason for Rejection {
    fn reason(&self) -> &'static str {
        match self {
            Rejection::InspectionMismatch => "INSPECTION_MISMATCH",
            Rejection::LinkConflict => "LINK_CONFLICT",
        }
    }
}

/// The people connected with one inspection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InspectionConnections {
    inspection_id: Option<Uuid>,
    people: BTreeMap<String, BTreeSet<Connection>>,
}

impl InspectionConnections {
    /// The inspection, once anything was recorded.
    pub fn inspection_id(&self) -> Option<Uuid> {
        self.inspection_id
    }

    /// How `person_ref` is connected with the inspection (empty when not at all).
    pub fn connections_of(&self, person_ref: &str) -> BTreeSet<Connection> {
        self.people.get(person_ref).cloned().unwrap_or_default()
    }

    /// Every connected person with their connections.
    pub fn people(&self) -> &BTreeMap<String, BTreeSet<Connection>> {
        &self.people
    }
}

impl platform::aggregate::Aggregate for InspectionConnections {
    const STREAM_TYPE: &'static str = "inspection_connections";
    type Command = RecordConnections;
    type Event = ConnectionsEvent;
    type Rejection = Rejection;

    fn decide(&self, command: RecordConnections) -> Result<Vec<ConnectionsEvent>, Rejection> {
        if self
            .inspection_id
            .is_some_and(|id| id != command.inspection_id)
        {
            return Err(Rejection::InspectionMismatch);
        }
        let mut new: Vec<String> = Vec::new();
        for person in command.people_refs {
            let known = self
                .people
                .get(&person)
                .is_some_and(|c| c.contains(&command.connection));
            if !person.trim().is_empty() && !known && !new.contains(&person) {
                new.push(person);
            }
        }
        if new.is_empty() {
            return Ok(vec![]);
        }
        Ok(vec![ConnectionsEvent::Recorded(
            v1::InspectionConnectionsRecorded {
                inspection_id: command.inspection_id.to_string(),
                people_refs: new,
                connection: command.connection.as_str().to_owned(),
                recorded_at: stamp(command.now),
            },
        )])
    }

    fn evolve(mut self, event: &ConnectionsEvent) -> Self {
        let ConnectionsEvent::Recorded(e) = event;
        self.inspection_id = Some(parse_id(&e.inspection_id));
        // A connection this build does not know is dropped, never guessed.
        if let Some(connection) = Connection::from_name(&e.connection) {
            for person in &e.people_refs {
                self.people
                    .entry(person.clone())
                    .or_default()
                    .insert(connection);
            }
        }
        self
    }
}

platform::domain_event! {
    LinkEvent {
        Recorded(v1::CaseLinkRecorded),
    }
}

/// One event of a case link's stream.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkEvent {
    Recorded(v1::CaseLinkRecorded),
}

/// Records which inspection a case is about.
#[derive(Clone, Debug)]
pub struct RecordLink {
    pub case_id: Uuid,
    pub inspection_id: Uuid,
    /// An escalation's public case reference; empty for a complaint or a concern.
    pub case_ref: String,
    pub now: Timestamp,
}

/// Which inspection a concern, complaint or escalation is about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseLink {
    link: Option<(Uuid, String)>,
}

impl CaseLink {
    /// The inspection, once recorded.
    pub fn inspection_id(&self) -> Option<Uuid> {
        self.link.as_ref().map(|(id, _)| *id)
    }

    /// The escalation's case reference; empty for other cases and before the link.
    pub fn case_ref(&self) -> &str {
        self.link.as_ref().map_or("", |(_, r)| r.as_str())
    }
}

impl platform::aggregate::Aggregate for CaseLink {
    const STREAM_TYPE: &'static str = "case_link";
    type Command = RecordLink;
    type Event = LinkEvent;
    type Rejection = Rejection;

    fn decide(&self, command: RecordLink) -> Result<Vec<LinkEvent>, Rejection> {
        match &self.link {
            Some((inspection, _)) if *inspection == command.inspection_id => Ok(vec![]),
            Some(_) => Err(Rejection::LinkConflict),
            None => Ok(vec![LinkEvent::Recorded(v1::CaseLinkRecorded {
                case_id: command.case_id.to_string(),
                inspection_id: command.inspection_id.to_string(),
                recorded_at: stamp(command.now),
                case_ref: command.case_ref,
            })]),
        }
    }

    fn evolve(mut self, event: &LinkEvent) -> Self {
        let LinkEvent::Recorded(e) = event;
        self.link = Some((parse_id(&e.inspection_id), e.case_ref.clone()));
        self
    }
}
