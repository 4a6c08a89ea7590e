//! The one place a failed request becomes a `Status` (house rule 4): broken rules are
//! `FAILED_PRECONDITION` with their reason code, internals are logged and never sent.

use platform::aggregate::Reason;
use platform::event_store::{AppendError, ExecuteError};
use platform::grpc::errors;
use tonic::Status;

use crate::domain::{incident, review};

/// Why a request failed after parsing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// No such thing, or the caller may not see it.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The read model did not reach the asked position in time.
    #[error("the read model has not caught up")]
    NotCaughtUp,
    #[error(transparent)]
    Incident(ExecuteError<incident::Rejection>),
    #[error(transparent)]
    Review(ExecuteError<review::Rejection>),
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl Error {
    /// A broken review rule.
    pub(crate) fn rule(rejection: review::Rejection) -> Error {
        Error::Review(ExecuteError::Rejected(rejection))
    }

    /// An append of a multi-stream command that wrote nothing.
    pub(crate) fn append(error: AppendError) -> Error {
        match error {
            AppendError::KeyReused => Error::Review(ExecuteError::KeyReused),
            AppendError::WrongExpectedVersion { expected, actual } => {
                Error::Review(ExecuteError::Conflict { expected, actual })
            }
            AppendError::Unexpected(e) => Error::Unexpected(e),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Unexpected(anyhow::Error::new(error).context("Failed to query a read model"))
    }
}

impl From<ExecuteError<incident::Rejection>> for Error {
    fn from(error: ExecuteError<incident::Rejection>) -> Self {
        Error::Incident(error)
    }
}

impl From<ExecuteError<review::Rejection>> for Error {
    fn from(error: ExecuteError<review::Rejection>) -> Self {
        Error::Review(error)
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::NotFound(what) => errors::not_found(what),
            Error::NotCaughtUp => Status::unavailable("the read model has not caught up; retry"),
            Error::Incident(e) => errors::execute_error(e, "incident", Reason::reason),
            Error::Review(e) => errors::execute_error(e, "learning review", Reason::reason),
            Error::Unexpected(e) => errors::internal(e),
        }
    }
}
