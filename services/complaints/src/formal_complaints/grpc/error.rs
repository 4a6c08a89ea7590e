//! The one place a failed request becomes a `Status` (house rule 4): broken rules are
//! `FAILED_PRECONDITION` with their reason code, internals are logged and never sent.

use std::collections::HashMap;

use platform::event_store::ExecuteError;
use platform::grpc::errors;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::domain::complaint;
use crate::domain::inspection;

/// Why a request failed after parsing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// No such thing, or the caller's provider may not see it.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The read model did not reach the asked position in time.
    #[error("the read model has not caught up")]
    NotCaughtUp,
    #[error(transparent)]
    Complaint(ExecuteError<complaint::Rejection>),
    #[error(transparent)]
    Inspection(ExecuteError<inspection::Rejection>),
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Unexpected(anyhow::Error::new(error).context("Failed to query a read model"))
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::NotFound(what) => errors::not_found(what),
            Error::NotCaughtUp => Status::unavailable("the read model has not caught up; retry"),
            Error::Complaint(ExecuteError::Rejected(complaint::Rejection::DuplicateOpen {
                existing,
            })) => {
                let rejection = complaint::Rejection::DuplicateOpen { existing };
                let metadata = HashMap::from([
                    ("existing_complaint_id".to_owned(), existing.to_string()),
                    ("redirect".to_owned(), "AddComplaintInformation".to_owned()),
                ]);
                Status::with_error_details(
                    Code::FailedPrecondition,
                    format!("{rejection}; send further information with AddComplaintInformation"),
                    ErrorDetails::with_error_info(rejection.reason(), errors::DOMAIN, metadata),
                )
            }
            Error::Complaint(e) => errors::execute_error(e, "complaint", |r| r.reason()),
            Error::Inspection(e) => errors::execute_error(e, "inspection", |r| r.reason()),
            Error::Unexpected(e) => errors::internal(e),
        }
    }
}
