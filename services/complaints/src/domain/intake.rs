//! `IntakeLog`: the record of submissions the rules refused, so that a refusal is as traceable as
//! an acceptance (which window, which calendar) although no complaint or concern stream exists.
//!
//! The application builds the record from the refused command and its rejection with
//! `complaint::rejected_submission` or `concern::rejected_concern` and appends it here, then
//! answers the caller with `FAILED_PRECONDITION`. The stream id is the application's choice (one
//! intake stream per inspection keeps an inspection's refusals together); the log accepts every
//! record, because a refusal that happened is a fact.

use std::convert::Infallible;

use platform::aggregate::Aggregate;

use super::v1;

/// Record a refusal.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    RecordComplaintSubmissionRejected(v1::ComplaintSubmissionRejected),
    RecordConcernRejected(v1::ConcernRejected),
}

/// A recorded refusal.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    ComplaintSubmissionRejected(v1::ComplaintSubmissionRejected),
    ConcernRejected(v1::ConcernRejected),
}

platform::domain_event! { Event {
    ComplaintSubmissionRejected(v1::ComplaintSubmissionRejected),
    ConcernRejected(v1::ConcernRejected),
} }

/// How many refusals an intake stream holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntakeLog {
    pub recorded: u64,
}

impl Aggregate for IntakeLog {
    const STREAM_TYPE: &'static str = "intake_log";
    type Command = Command;
    type Event = Event;
    type Rejection = Infallible;

    fn decide(&self, command: Command) -> Result<Vec<Event>, Infallible> {
        Ok(vec![match command {
            Command::RecordComplaintSubmissionRejected(record) => {
                Event::ComplaintSubmissionRejected(record)
            }
            Command::RecordConcernRejected(record) => Event::ConcernRejected(record),
        }])
    }

    fn evolve(self, _event: &Event) -> Self {
        IntakeLog {
            recorded: self.recorded.saturating_add(1),
        }
    }
}
