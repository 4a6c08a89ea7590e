//! `DataSubject`: a subject is forgotten once, with every record named, a ground, the request's
//! reference and who asked; a second request changes nothing.

use complaints::domain::ErasureGround;
use complaints::domain::data_subject::{
    Command, DataSubject, Event, REF_MAX, Rejection, stream_id,
};
use complaints::domain::{timestamp, v1};
use jiff::Timestamp;
use platform::aggregate::given;
use uuid::Uuid;

const SUBJECT: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
const CONTACT: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_00c0);
const NARRATIVE: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_00a0);

fn at() -> Timestamp {
    "2026-03-02T09:30:00Z".parse().unwrap()
}

fn forget() -> Command {
    Command::Forget {
        subject_id: SUBJECT,
        records: vec![CONTACT, NARRATIVE],
        ground: ErasureGround::SubjectRequest,
        request_ref: "dsar:2026-0042".into(),
        requested_by_ref: "dpo:officer-2".into(),
        at: at(),
    }
}

fn forgotten() -> Event {
    Event::DataSubjectForgotten(v1::DataSubjectForgotten {
        subject_id: SUBJECT.to_string(),
        record_refs: vec![CONTACT.to_string(), NARRATIVE.to_string()],
        ground: v1::ErasureGround::SubjectRequest as i32,
        request_ref: "dsar:2026-0042".into(),
        requested_by_ref: "dpo:officer-2".into(),
        forgotten_at: Some(timestamp(at())),
    })
}

fn with(change: impl FnOnce(&mut Command)) -> Command {
    let mut command = forget();
    change(&mut command);
    command
}

#[test]
fn forgetting_a_subject_records_every_record_the_ground_the_request_and_who_asked() {
    let state = given::<DataSubject>([]).when(forget()).then([forgotten()]);
    assert_eq!(
        state,
        DataSubject::Forgotten {
            forgotten_at: at(),
            ground: Some(ErasureGround::SubjectRequest),
            request_ref: "dsar:2026-0042".into(),
            requested_by_ref: "dpo:officer-2".into(),
            records: 2,
        }
    );
}

#[test]
fn forgetting_a_forgotten_subject_is_rejected_with_when_it_happened() {
    given::<DataSubject>([forgotten()])
        .when(with(|Command::Forget { at, .. }| {
            *at = "2026-04-01T10:00:00Z".parse().unwrap();
        }))
        .then_rejects(Rejection::AlreadyForgotten { forgotten_at: at() });
}

#[test]
fn forgetting_a_subject_without_records_is_rejected() {
    given::<DataSubject>([])
        .when(with(|Command::Forget { records, .. }| records.clear()))
        .then_rejects(Rejection::NoRecords);
}

#[test]
fn forgetting_without_the_request_reference_is_rejected() {
    given::<DataSubject>([])
        .when(with(|Command::Forget { request_ref, .. }| {
            *request_ref = "  ".into();
        }))
        .then_rejects(Rejection::RequestRefRequired);
}

#[test]
fn forgetting_without_who_asked_is_rejected() {
    given::<DataSubject>([])
        .when(with(
            |Command::Forget {
                 requested_by_ref, ..
             }| {
                requested_by_ref.clear();
            },
        ))
        .then_rejects(Rejection::RequesterRequired);
}

#[test]
fn a_reference_longer_than_the_limit_is_rejected() {
    given::<DataSubject>([])
        .when(with(|Command::Forget { request_ref, .. }| {
            *request_ref = "x".repeat(REF_MAX + 1);
        }))
        .then_rejects(Rejection::RefTooLong);
}

#[test]
fn references_are_recorded_without_surrounding_space() {
    given::<DataSubject>([])
        .when(with(|Command::Forget { request_ref, .. }| {
            *request_ref = " dsar:2026-0042\n".into();
        }))
        .then([forgotten()]);
}

#[test]
fn a_subjects_stream_is_derived_from_its_id_and_never_is_the_id_itself() {
    assert_eq!(stream_id(SUBJECT), stream_id(SUBJECT));
    assert_ne!(stream_id(SUBJECT), SUBJECT);
    assert_ne!(stream_id(SUBJECT), stream_id(CONTACT));
    // An inspection's records are kept under its id, which is its case's stream id.
    let inspection = Uuid::now_v7();
    assert_ne!(stream_id(inspection), inspection);
    assert_eq!(stream_id(inspection).get_version_num(), 8);
}
