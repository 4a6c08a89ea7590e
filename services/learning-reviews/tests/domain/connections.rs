//! The complaints facts the independence check reads: connections and case links, each
//! recorded once.

use learning_reviews::domain::Connection;
use learning_reviews::domain::connections::{
    CaseLink, ConnectionsEvent, InspectionConnections, LinkEvent, RecordConnections, RecordLink,
    Rejection,
};
use learning_reviews::domain::{Reason, v1};
use platform::aggregate::{Aggregate, given};
use uuid::Uuid;

use crate::helpers::*;

const CONCERN: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_00c1);

fn team(people: &[&str]) -> RecordConnections {
    RecordConnections {
        inspection_id: INS5,
        people_refs: people.iter().map(|p| (*p).to_owned()).collect(),
        connection: Connection::InspectionTeam,
        now: london(2025, 3, 3, 9, 0),
    }
}

#[test]
fn an_inspections_team_is_recorded_as_connected() {
    let state = given::<InspectionConnections>([])
        .when(team(&[INS5_LEAD, INS5_INSPECTOR]))
        .then([ConnectionsEvent::Recorded(
            v1::InspectionConnectionsRecorded {
                inspection_id: INS5.to_string(),
                people_refs: vec![INS5_LEAD.into(), INS5_INSPECTOR.into()],
                connection: "inspection_team".into(),
                recorded_at: ts(london(2025, 3, 3, 9, 0)),
            },
        )]);
    assert_eq!(state.inspection_id(), Some(INS5));
    assert!(
        state
            .connections_of(INS5_INSPECTOR)
            .contains(&Connection::InspectionTeam)
    );
    assert!(state.connections_of(REVIEWER).is_empty());
}

#[test]
fn people_already_recorded_with_the_connection_are_not_recorded_again() {
    let recorded = history::<InspectionConnections>([team(&[INS5_LEAD])]);
    given::<InspectionConnections>(recorded.clone())
        .when(team(&[INS5_LEAD, INS5_LEAD, ""]))
        .then_nothing();
    given::<InspectionConnections>(recorded.clone())
        .when(team(&[INS5_LEAD, INS5_INSPECTOR]))
        .then([ConnectionsEvent::Recorded(
            v1::InspectionConnectionsRecorded {
                inspection_id: INS5.to_string(),
                people_refs: vec![INS5_INSPECTOR.into()],
                connection: "inspection_team".into(),
                recorded_at: ts(london(2025, 3, 3, 9, 0)),
            },
        )]);
    // Another connection of the same person is a new fact.
    let state = given::<InspectionConnections>(recorded)
        .when(RecordConnections {
            connection: Connection::ConcernHandler,
            ..team(&[INS5_LEAD])
        })
        .then([ConnectionsEvent::Recorded(
            v1::InspectionConnectionsRecorded {
                inspection_id: INS5.to_string(),
                people_refs: vec![INS5_LEAD.into()],
                connection: "concern_handler".into(),
                recorded_at: ts(london(2025, 3, 3, 9, 0)),
            },
        )]);
    assert_eq!(state.connections_of(INS5_LEAD).len(), 2);
}

#[test]
fn a_fact_about_another_inspection_is_refused() {
    given::<InspectionConnections>(history::<InspectionConnections>([team(&[INS5_LEAD])]))
        .when(RecordConnections {
            inspection_id: INS6,
            ..team(&[INS5_LEAD])
        })
        .then_rejects(Rejection::InspectionMismatch);
}

#[test]
fn an_unknown_connection_name_is_dropped_not_guessed() {
    let state = InspectionConnections::replay(&[ConnectionsEvent::Recorded(
        v1::InspectionConnectionsRecorded {
            inspection_id: INS5.to_string(),
            people_refs: vec![INS5_LEAD.into()],
            connection: "future_connection".into(),
            recorded_at: None,
        },
    )]);
    assert!(state.connections_of(INS5_LEAD).is_empty());
    for connection in Connection::ALL {
        assert_eq!(
            Connection::from_name(connection.as_str()),
            Some(*connection)
        );
    }
}

fn link(inspection_id: Uuid) -> RecordLink {
    RecordLink {
        case_id: CONCERN,
        inspection_id,
        case_ref: String::new(),
        now: london(2025, 3, 5, 9, 0),
    }
}

#[test]
fn a_case_is_linked_to_its_inspection_once() {
    let state = given::<CaseLink>([])
        .when(link(INS5))
        .then([LinkEvent::Recorded(v1::CaseLinkRecorded {
            case_id: CONCERN.to_string(),
            inspection_id: INS5.to_string(),
            recorded_at: ts(london(2025, 3, 5, 9, 0)),
            case_ref: String::new(),
        })]);
    assert_eq!(state.inspection_id(), Some(INS5));
    assert_eq!(state.case_ref(), "");
    given::<CaseLink>(history::<CaseLink>([link(INS5)]))
        .when(link(INS5))
        .then_nothing();
    given::<CaseLink>(history::<CaseLink>([link(INS5)]))
        .when(link(INS6))
        .then_rejects(Rejection::LinkConflict);
}

#[test]
fn an_escalations_link_keeps_its_case_reference() {
    let state = CaseLink::replay(&history::<CaseLink>([RecordLink {
        case_ref: "ESC-2025-01G00001".into(),
        ..link(INS5)
    }]));
    assert_eq!(state.case_ref(), "ESC-2025-01G00001");
}

#[test]
fn every_rejection_has_a_stable_code() {
    assert_eq!(
        Rejection::InspectionMismatch.reason(),
        "INSPECTION_MISMATCH"
    );
    assert_eq!(Rejection::LinkConflict.reason(), "LINK_CONFLICT");
}
