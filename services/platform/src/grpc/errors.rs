//! Statuses a service's one `impl From<Error> for Status` builds (house rule 4).
//!
//! Clients get a stable code, a short generic message and, where a program can act on it,
//! a standard `google.rpc` detail: `BadRequest` field violations for bad input, `ErrorInfo`
//! with a machine-readable reason for broken rules. Internals are logged, never sent.

use std::collections::HashMap;
use std::fmt::Debug;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt as _};

/// The `ErrorInfo.domain` of every Redress error.
pub const DOMAIN: &str = "redress";

/// The `ErrorInfo.reason` of [`aborted_conflict`].
pub const CONCURRENT_UPDATE: &str = "CONCURRENT_UPDATE";

/// `INVALID_ARGUMENT`, message "invalid request", with a `google.rpc.BadRequest` listing each
/// `(field, description)`. Descriptions must not echo the submitted value.
pub fn invalid_argument<F, D>(violations: impl IntoIterator<Item = (F, D)>) -> Status
where
    F: Into<String>,
    D: Into<String>,
{
    let violations: Vec<FieldViolation> = violations
        .into_iter()
        .map(|(field, description)| FieldViolation::new(field, description))
        .collect();
    Status::with_error_details(
        Code::InvalidArgument,
        "invalid request",
        ErrorDetails::with_bad_request(violations),
    )
}

/// `FAILED_PRECONDITION` with a `google.rpc.ErrorInfo` whose `reason` is the machine-readable
/// rule that was broken (`OUT_OF_TIME`, `ALREADY_WITHDRAWN`) and whose domain is [`DOMAIN`].
pub fn failed_precondition(reason: &str, message: impl Into<String>) -> Status {
    Status::with_error_details(
        Code::FailedPrecondition,
        message,
        ErrorDetails::with_error_info(reason, DOMAIN, HashMap::new()),
    )
}

/// `ABORTED` for a lost optimistic-concurrency race; the client should re-read and retry.
/// Carries `ErrorInfo` reason [`CONCURRENT_UPDATE`].
#[must_use]
pub fn aborted_conflict() -> Status {
    Status::with_error_details(
        Code::Aborted,
        "concurrent update, retry",
        ErrorDetails::with_error_info(CONCURRENT_UPDATE, DOMAIN, HashMap::new()),
    )
}

/// `NOT_FOUND` with the message "`what` not found", e.g. `not_found("complaint")`.
#[must_use]
pub fn not_found(what: &str) -> Status {
    Status::not_found(format!("{what} not found"))
}

/// `INTERNAL` with the message "internal error"; `error` is logged at error level with its
/// `Debug` form (for `anyhow::Error`, the whole cause chain) and never sent.
pub fn internal(error: impl Debug) -> Status {
    tracing::error!(error = ?error, "request failed");
    Status::internal("internal error")
}

/// The `ErrorInfo.reason` when an idempotency key comes back with a different request.
pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";

/// Maps a command's failure to its status, in one place for every service: a broken rule is
/// `FAILED_PRECONDITION` with the rejection's machine-readable `reason` and its message, a lost
/// race `ABORTED`, a reused key `FAILED_PRECONDITION` ([`IDEMPOTENCY_KEY_REUSED`]), an id of
/// another aggregate type `NOT_FOUND` (as `what`), anything else `INTERNAL` (logged).
pub fn execute_error<R>(
    error: crate::event_store::ExecuteError<R>,
    what: &str,
    reason: impl FnOnce(&R) -> &'static str,
) -> Status
where
    R: std::error::Error + 'static,
{
    use crate::event_store::ExecuteError;
    match error {
        ExecuteError::Rejected(rejection) => {
            failed_precondition(reason(&rejection), rejection.to_string())
        }
        ExecuteError::Conflict { .. } => aborted_conflict(),
        ExecuteError::KeyReused => failed_precondition(
            IDEMPOTENCY_KEY_REUSED,
            "the idempotency key was already used for a different request",
        ),
        ExecuteError::WrongStreamType(_) => not_found(what),
        ExecuteError::Unexpected(error) => internal(error),
    }
}
