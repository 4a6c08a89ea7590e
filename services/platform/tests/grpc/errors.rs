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
