//! `IntakeLog`: every refusal is recorded.

use complaints::domain::intake::{Command, Event, IntakeLog};
use complaints::domain::v1;
use platform::aggregate::given;

#[test]
fn a_refused_complaint_submission_is_recorded() {
    let record = v1::ComplaintSubmissionRejected {
        complaint_id: "c".into(),
        ..Default::default()
    };
    let state = given::<IntakeLog>([])
        .when(Command::RecordComplaintSubmissionRejected(record.clone()))
        .then([Event::ComplaintSubmissionRejected(record)]);
    assert_eq!(state.recorded, 1);
}

#[test]
fn a_refused_concern_is_recorded_after_earlier_refusals() {
    let earlier = v1::ConcernRejected::default();
    let record = v1::ConcernRejected {
        concern_id: "k".into(),
        ..Default::default()
    };
    let state = given::<IntakeLog>([Event::ConcernRejected(earlier)])
        .when(Command::RecordConcernRejected(record.clone()))
        .then([Event::ConcernRejected(record)]);
    assert_eq!(state.recorded, 2);
}
