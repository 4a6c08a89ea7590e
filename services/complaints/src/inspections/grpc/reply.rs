//! The one place a failure of this service becomes a `Status`. Internals are logged, never sent.
//!
//! | Failure | Status |
//! |---|---|
//! | a rule of the inspection case or concern | `FAILED_PRECONDITION`, `ErrorInfo.reason` = the rule's code; a concern refusal adds `redirect`, `opens_at`, `closed_at` metadata |
//! | idempotency key used with another request | `FAILED_PRECONDITION` `IDEMPOTENCY_KEY_REUSED` |
//! | lost a race with another writer | `ABORTED` `CONCURRENT_UPDATE` |
//! | unknown id, or another provider's case | `NOT_FOUND` |
//! | a role the rule does not allow for this case | `PERMISSION_DENIED` |
//! | a read model behind the requested position | `UNAVAILABLE` |
//! | personal data about a forgotten data subject (the inspection's) | `FAILED_PRECONDITION` `SUBJECT_FORGOTTEN` |
//! | anything else | `INTERNAL` "internal error" |

use std::collections::HashMap;

use jiff::Timestamp;
use platform::event_store::{AppendError, ExecuteError};
use platform::grpc::errors;
use platform::vault::VaultError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::domain::concern::Rejection as ConcernRejection;
use crate::domain::inspection::Rejection as CaseRejection;
use crate::domain::{Redirect, RejectionReason, instant, v1};

/// A failed inspection-case command.
pub(super) fn case(error: ExecuteError<CaseRejection>) -> Status {
    errors::execute_error(error, "inspection case", |r| r.reason())
}

/// A failed unit of work writing an inspection case.
pub(super) fn case_append(error: AppendError) -> Status {
    case(error.into())
}

/// A refusal by the inspection case's rules.
pub(super) fn case_rejected(rejection: CaseRejection) -> Status {
    case(ExecuteError::Rejected(rejection))
}

/// A failed concern command; a refusal names where the provider should go instead.
pub(super) fn concern(error: ExecuteError<ConcernRejection>) -> Status {
    match error {
        ExecuteError::Rejected(rejection) => concern_rejected(&rejection),
        other => errors::execute_error(other, "concern", |r| r.reason()),
    }
}

/// A failed append to the intake log (whose rules refuse nothing).
pub(super) fn intake(error: ExecuteError<std::convert::Infallible>) -> Status {
    errors::execute_error(error, "intake log", |never| match *never {})
}

/// A refusal by the concern's rules.
pub(super) fn concern_rejected(rejection: &ConcernRejection) -> Status {
    let (redirect, opens_at, closed_at) = match rejection {
        ConcernRejection::TooEarly { redirect, opens_at } => (*redirect, *opens_at, None),
        ConcernRejection::WindowClosed {
            redirect,
            closed_at,
        } => (Some(*redirect), None, Some(*closed_at)),
        ConcernRejection::NotDuringInspection { redirect } => (*redirect, None, None),
        _ => (None, None, None),
    };
    refusal(
        rejection.reason(),
        &rejection.to_string(),
        redirect,
        opens_at,
        closed_at,
    )
}

/// The answer to a retried raise whose refusal the intake log recorded.
pub(super) fn recorded_refusal(record: &v1::ConcernRejected) -> Status {
    let (code, message) = match RejectionReason::from_proto(record.reason) {
        Some(RejectionReason::TooEarly) => ("TOO_EARLY", "the channel is not open yet"),
        Some(RejectionReason::WindowClosed) => ("WINDOW_CLOSED", "the day-after window closed"),
        Some(RejectionReason::NotDuringInspection) => {
            ("NOT_DURING_INSPECTION", "the inspection is not in progress")
        }
        _ => ("REJECTED", "the concern was refused"),
    };
    let opens_at = (code == "TOO_EARLY")
        .then(|| record.window_opens_at.as_ref().map(|t| instant(Some(t))))
        .flatten();
    let closed_at = (code == "WINDOW_CLOSED")
        .then(|| record.window_closes_at.as_ref().map(|t| instant(Some(t))))
        .flatten();
    refusal(
        code,
        message,
        Redirect::from_proto(record.redirect),
        opens_at,
        closed_at,
    )
}

fn refusal(
    code: &str,
    message: &str,
    redirect: Option<Redirect>,
    opens_at: Option<Timestamp>,
    closed_at: Option<Timestamp>,
) -> Status {
    let mut metadata = HashMap::new();
    let mut message = message.to_owned();
    if let Some(redirect) = redirect {
        let name = v1::Redirect::try_from(redirect.to_proto())
            .map(|r| r.as_str_name())
            .unwrap_or("REDIRECT_UNSPECIFIED");
        metadata.insert("redirect".to_owned(), name.to_owned());
        message.push_str(&format!("; use {name}"));
    }
    if let Some(at) = opens_at {
        metadata.insert("opens_at".to_owned(), at.to_string());
        message.push_str(&format!("; opens at {at}"));
    }
    if let Some(at) = closed_at {
        metadata.insert("closed_at".to_owned(), at.to_string());
    }
    Status::with_error_details(
        Code::FailedPrecondition,
        message,
        ErrorDetails::with_error_info(code, errors::DOMAIN, metadata),
    )
}

/// A field whose value only the loaded facts show to be unusable.
pub(super) fn invalid(field: &str, description: &str) -> Status {
    errors::invalid_argument([(field, description)])
}

/// An id the caller may not know about: unknown, or another provider's.
pub(super) fn not_found(what: &str) -> Status {
    errors::not_found(what)
}

/// A role allowed to call the method but not to do this with it.
pub(super) fn permission_denied(what: &str) -> Status {
    Status::permission_denied(what.to_owned())
}

/// A read model that did not reach the requested position in time.
pub(super) fn not_caught_up() -> Status {
    Status::unavailable("the read model has not caught up with the requested position; retry")
}

/// A failed vault write. The records of an inspection are kept under its id as their data
/// subject; once that subject is forgotten the vault keeps nothing new about it.
pub(super) fn vault(error: VaultError) -> Status {
    match error {
        VaultError::Erased => errors::failed_precondition(
            "SUBJECT_FORGOTTEN",
            "the inspection's personal data was erased; no new personal data is kept about it",
        ),
        other => internal(other),
    }
}

/// Anything unexpected: logged here, sent as a generic `INTERNAL`.
pub(super) fn internal(error: impl std::fmt::Debug) -> Status {
    errors::internal(error)
}
