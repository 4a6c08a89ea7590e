//! The one place a failed request becomes a `Status` (house rule 4): broken rules are
//! `FAILED_PRECONDITION` with their reason code, internals are logged and never sent.

use std::collections::HashMap;

use platform::event_store::ExecuteError;
use platform::grpc::errors;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};
use uuid::Uuid;

use crate::domain::RefusalReason;
use crate::domain::escalation;

/// Why a request failed after parsing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// No such thing, or the caller may not see it.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The read model did not reach the asked position in time.
    #[error("the read model has not caught up")]
    NotCaughtUp,
    /// The request was refused and the refusal recorded as escalation `escalation_id`.
    #[error("escalation refused: {reason:?}")]
    Refused {
        reason: RefusalReason,
        escalation_id: Uuid,
    },
    #[error(transparent)]
    Escalation(ExecuteError<escalation::Rejection>),
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Unexpected(anyhow::Error::new(error).context("Failed to query a read model"))
    }
}

impl From<ExecuteError<escalation::Rejection>> for Error {
    fn from(error: ExecuteError<escalation::Rejection>) -> Self {
        Error::Escalation(error)
    }
}

/// What a complainant can do about a refusal.
fn refusal_message(reason: RefusalReason) -> &'static str {
    match reason {
        RefusalReason::NotExhausted => {
            "the complaints process is not exhausted: escalation becomes available once Ofsted's response to the complaint is issued"
        }
        RefusalReason::ComplaintWithdrawn => {
            "the complaint was withdrawn; there is nothing to escalate"
        }
        RefusalReason::OutOfTime => "the window for escalating this complaint has closed",
        RefusalReason::AlreadyActive => {
            "another escalation of this complaint is in progress; withdraw it or wait for it to conclude"
        }
        RefusalReason::NoGroundInRemit => {
            "every ask is outside the independent body's remit (it cannot overturn a judgement, award compensation or change policy)"
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::NotFound(what) => errors::not_found(what),
            Error::NotCaughtUp => Status::unavailable("the read model has not caught up; retry"),
            Error::Refused {
                reason,
                escalation_id,
            } => Status::with_error_details(
                Code::FailedPrecondition,
                refusal_message(reason),
                ErrorDetails::with_error_info(
                    reason.code(),
                    errors::DOMAIN,
                    HashMap::from([("escalation_id".to_owned(), escalation_id.to_string())]),
                ),
            ),
            Error::Escalation(e) => {
                errors::execute_error(e, "escalation", platform::aggregate::Reason::reason)
            }
            Error::Unexpected(e) => errors::internal(e),
        }
    }
}
