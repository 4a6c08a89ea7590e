//! The rich error helpers, decoded by a real client as a caller would.

use proto::testing::v1::EchoRequest;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;

use crate::helpers::{TestServer, payload, spawn_server};

async fn public_echo_error(server: &TestServer, payload: &[u8]) -> Status {
    let request = Request::new(EchoRequest {
        payload: payload.to_vec(),
    });
    server
        .echo_client()
        .await
        .public_echo(request)
        .await
        .expect_err("The handler returns an error for this payload.")
}

#[tokio::test]
async fn field_violations_reach_the_client_as_a_bad_request() {
    // Arrange
    let server = spawn_server().await;
    // Act
    let status = public_echo_error(&server, payload::INVALID).await;
    // Assert
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "invalid request");
    let bad_request = status
        .get_details_bad_request()
        .expect("A google.rpc.BadRequest.");
    let fields: Vec<(&str, &str)> = bad_request
        .field_violations
        .iter()
        .map(|violation| (violation.field.as_str(), violation.description.as_str()))
        .collect();
    assert_eq!(fields.len(), 2, "{fields:?}");
    assert_eq!(fields[0], ("summary", "must not be empty"));
    assert_eq!(fields[1].0, "complaint_id");
}

#[tokio::test]
async fn a_broken_rule_reaches_the_client_as_failed_precondition_with_its_reason() {
    let server = spawn_server().await;
    let status = public_echo_error(&server, payload::PRECONDITION).await;
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "the deadline has passed");
    let info = status
        .get_details_error_info()
        .expect("A google.rpc.ErrorInfo.");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("OUT_OF_TIME", "redress")
    );
}

#[tokio::test]
async fn a_lost_race_reaches_the_client_as_aborted() {
    let server = spawn_server().await;
    let status = public_echo_error(&server, payload::CONFLICT).await;
    assert_eq!(status.code(), Code::Aborted);
    let info = status
        .get_details_error_info()
        .expect("A google.rpc.ErrorInfo.");
    assert_eq!(info.reason, "CONCURRENT_UPDATE");
}

#[tokio::test]
async fn a_missing_object_reaches_the_client_as_not_found() {
    let server = spawn_server().await;
    let status = public_echo_error(&server, payload::MISSING).await;
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "complaint not found");
}

#[tokio::test]
async fn an_internal_error_reaches_the_client_without_its_details() {
    let server = spawn_server().await;
    let status = public_echo_error(&server, payload::INTERNAL).await;
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "internal error");
    assert!(status.details().is_empty());
    let everything = format!("{status:?}");
    assert!(!everything.contains("hunter2"), "{everything}");
}

mod execute_errors {
    use platform::event_store::{ExecuteError, ExpectedVersion};
    use platform::grpc::errors::execute_error;
    use platform::testing::ledger::Rejection;
    use tonic::Code;
    use tonic_types::StatusExt as _;

    fn reason(_: &Rejection) -> &'static str {
        "NOT_OPEN"
    }

    #[test]
    fn a_rejected_command_is_a_failed_precondition_with_its_reason() {
        let status = execute_error(ExecuteError::Rejected(Rejection::NotOpen), "ledger", reason);

        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "the ledger is not open");
        assert_eq!(
            status.get_details_error_info().expect("error info").reason,
            "NOT_OPEN"
        );
    }

    #[test]
    fn a_lost_race_is_aborted() {
        let status = execute_error::<Rejection>(
            ExecuteError::Conflict {
                expected: ExpectedVersion::Exact(1),
                actual: 2,
            },
            "ledger",
            reason,
        );

        assert_eq!(status.code(), Code::Aborted);
    }

    #[test]
    fn a_reused_key_is_a_failed_precondition_with_its_own_reason() {
        let status = execute_error::<Rejection>(ExecuteError::KeyReused, "ledger", reason);

        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.get_details_error_info().expect("error info").reason,
            "IDEMPOTENCY_KEY_REUSED"
        );
    }

    #[test]
    fn an_id_of_another_aggregate_type_is_not_found() {
        let status = execute_error::<Rejection>(
            ExecuteError::WrongStreamType(uuid::Uuid::nil()),
            "ledger",
            reason,
        );

        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "ledger not found");
    }

    #[test]
    fn an_unexpected_failure_is_internal_and_says_nothing_of_its_cause() {
        let status = execute_error::<Rejection>(
            ExecuteError::Unexpected(anyhow::anyhow!("password=hunter2")),
            "ledger",
            reason,
        );

        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
    }
}
