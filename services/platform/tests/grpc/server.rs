//! Health, reflection, limits, compression, timeouts, metrics and graceful shutdown.

use std::time::Duration;

use futures_util::FutureExt as _;
use platform::grpc::{self, Role, ServerConfig};
use proto::testing::v1::EchoRequest;
use proto::testing::v1::echo_client::EchoClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Streaming};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_reflection::pb::{v1, v1alpha};

use crate::helpers::{
    DEADLINE, ECHO, ECHO_SERVICE, TestServer, bearer, echo_policy, payload, spawn_server,
    spawn_server_with,
};

async fn check(server: &TestServer, service: &str) -> ServingStatus {
    let mut client = HealthClient::new(server.channel().await);
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    let response = client
        .check(request)
        .await
        .expect("Health check failed.")
        .into_inner();
    ServingStatus::try_from(response.status).expect("A known serving status.")
}

async fn next_status(watch: &mut Streaming<HealthCheckResponse>) -> ServingStatus {
    let message = tokio::time::timeout(DEADLINE, watch.message())
        .await
        .expect("No health update before the deadline.")
        .expect("The watch failed.")
        .expect("The watch ended.");
    ServingStatus::try_from(message.status).expect("A known serving status.")
}

fn public_request(payload: &[u8]) -> Request<EchoRequest> {
    Request::new(EchoRequest {
        payload: payload.to_vec(),
    })
}

#[tokio::test]
async fn health_reports_serving_for_the_server_and_for_each_service() {
    let server = spawn_server().await;
    assert_eq!(check(&server, "").await, ServingStatus::Serving);
    assert_eq!(check(&server, ECHO_SERVICE).await, ServingStatus::Serving);
}

#[tokio::test]
async fn health_reports_not_serving_while_a_dependency_is_lost_and_serving_once_it_is_back() {
    // Arrange
    let server = spawn_server().await;
    assert_eq!(check(&server, ECHO_SERVICE).await, ServingStatus::Serving);
    // Act
    server.health.set_not_serving().await;
    let lost = (check(&server, "").await, check(&server, ECHO_SERVICE).await);
    server.health.set_serving().await;
    let back = (check(&server, "").await, check(&server, ECHO_SERVICE).await);
    // Assert
    assert_eq!(lost, (ServingStatus::NotServing, ServingStatus::NotServing));
    assert_eq!(back, (ServingStatus::Serving, ServingStatus::Serving));
}

#[tokio::test]
async fn reflection_v1_lists_the_application_health_and_reflection_services() {
    // Arrange
    let server = spawn_server().await;
    let mut client =
        v1::server_reflection_client::ServerReflectionClient::new(server.channel().await);
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    // Act
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("Reflection v1 is served without a token.")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("stream")
        .expect("one response");
    // Assert
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("Expected a service list, got {response:?}");
    };
    let names: Vec<String> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    for expected in [
        ECHO_SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn reflection_v1alpha_lists_services_and_resolves_health_and_rich_error_types() {
    // Arrange: grpcurl 1.8 speaks only v1alpha and needs these symbols (G1).
    let server = spawn_server().await;
    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(server.channel().await);
    use v1alpha::server_reflection_request::MessageRequest;
    let requests = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol("grpc.health.v1.Health".to_owned()),
        MessageRequest::FileContainingSymbol("google.rpc.BadRequest".to_owned()),
        MessageRequest::FileContainingSymbol("redress.testing.v1.EchoRequest".to_owned()),
    ]
    .map(|message| v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(message),
    });
    // Act
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("Reflection v1alpha is served without a token.")
        .into_inner();
    // Assert
    use v1alpha::server_reflection_response::MessageResponse;
    let first = responses
        .message()
        .await
        .expect("stream")
        .expect("a response");
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("Expected a service list, got {first:?}");
    };
    assert!(
        list.service
            .iter()
            .any(|service| service.name == ECHO_SERVICE),
        "{list:?}"
    );
    for _ in 0..3 {
        let response = responses
            .message()
            .await
            .expect("stream")
            .expect("a response");
        assert!(
            matches!(
                response.message_response,
                Some(MessageResponse::FileDescriptorResponse(_))
            ),
            "{response:?}"
        );
    }
}

#[tokio::test]
async fn a_300_kib_request_is_rejected_as_out_of_range() {
    let server = spawn_server().await;
    let result = server
        .echo_client()
        .await
        .public_echo(public_request(&[1; 300 * 1024]))
        .await;
    assert_eq!(
        result.expect_err("Over the 256 KiB limit.").code(),
        Code::OutOfRange
    );
}

#[tokio::test]
async fn a_250_kib_request_is_accepted() {
    let server = spawn_server().await;
    let result = server
        .echo_client()
        .await
        .public_echo(public_request(&[1; 250 * 1024]))
        .await;
    assert_eq!(
        result.expect("Under the limit.").into_inner().payload.len(),
        250 * 1024
    );
}

#[tokio::test]
async fn a_reply_over_1_mib_is_refused_as_out_of_range() {
    let server = spawn_server().await;
    let result = server
        .echo_client()
        .await
        .public_echo(public_request(payload::AMPLIFY))
        .await;
    assert_eq!(
        result.expect_err("Over the 1 MiB limit.").code(),
        Code::OutOfRange
    );
}

#[tokio::test]
async fn a_gzip_compressed_request_is_rejected_as_unimplemented() {
    // Arrange: compression is compiled out, so claim it in the header.
    let server = spawn_server().await;
    let mut client =
        EchoClient::with_interceptor(server.channel().await, |mut request: Request<()>| {
            request
                .metadata_mut()
                .insert("grpc-encoding", MetadataValue::from_static("gzip"));
            Ok(request)
        });
    // Act
    let result = client.public_echo(public_request(b"hello")).await;
    // Assert
    assert_eq!(
        result.expect_err("Compressed requests are refused.").code(),
        Code::Unimplemented
    );
}

#[tokio::test]
async fn a_request_over_the_server_timeout_is_cancelled() {
    // Arrange: tonic maps its server timeout to CANCELLED, not DEADLINE_EXCEEDED (G2).
    let config = ServerConfig {
        request_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let server = spawn_server_with(config, echo_policy()).await;
    // Act
    let result = server
        .echo_client()
        .await
        .public_echo(public_request(payload::WAIT))
        .await;
    // Assert
    assert_eq!(
        result.expect_err("The handler never finishes.").code(),
        Code::Cancelled
    );
}

#[tokio::test]
async fn thousands_of_requests_sent_at_once_on_one_connection_wait_their_turn() {
    // Arrange: every request is held in the handler, so all but the 32 being served wait. A
    // server that let them all open streams would buffer each one's small DATA frame, and
    // h2 closes a connection holding too many of those (GOAWAY ENHANCE_YOUR_CALM) at about
    // 2,000 of them.
    const REQUESTS: usize = 3_000;
    let server = spawn_server().await;
    let client = server.echo_client().await;
    let calls: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move { client.public_echo(public_request(payload::WAIT)).await })
        })
        .collect();
    tokio::time::timeout(DEADLINE, server.gate.started.notified())
        .await
        .expect("No request reached the handler.");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Act: let the held requests go, a few at a time, until every call has its answer.
    let gate = std::sync::Arc::clone(&server.gate);
    let releaser = tokio::spawn(async move {
        loop {
            gate.release.notify_waiters();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let mut failed = Vec::new();
    for call in calls {
        let result = tokio::time::timeout(DEADLINE, call)
            .await
            .expect("A call did not finish.")
            .expect("The call's task panicked.");
        if let Err(status) = result {
            failed.push(status);
        }
    }
    releaser.abort();

    // Assert
    assert!(
        failed.is_empty(),
        "{} of {REQUESTS} calls failed; the first: {:?}",
        failed.len(),
        failed.first()
    );
}

#[tokio::test]
async fn shutdown_reports_not_serving_then_lets_the_in_flight_request_finish() {
    // Arrange: a health watch and a request held inside the handler.
    let mut server = spawn_server().await;
    let channel = server.channel().await;
    let mut watch = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("Watch is public.")
        .into_inner();
    assert_eq!(next_status(&mut watch).await, ServingStatus::Serving);
    let token = server.token(Role::Operator);
    let mut echo = EchoClient::new(channel.clone());
    let in_flight = tokio::spawn(async move { echo.echo(bearer(payload::WAIT, &token)).await });
    tokio::time::timeout(DEADLINE, server.gate.started.notified())
        .await
        .expect("The handler did not start.");

    // Act
    server.shutdown();

    // Assert: NOT_SERVING is published while the request is still held...
    assert_eq!(next_status(&mut watch).await, ServingStatus::NotServing);
    drop(watch);
    assert!(
        !server.is_stopped(),
        "The server stopped with a request in flight."
    );
    // ...which then completes, after which the server stops and refuses connections.
    server.gate.release.notify_one();
    let reply = tokio::time::timeout(DEADLINE, in_flight)
        .await
        .expect("The in-flight request did not finish.")
        .expect("The request task panicked.")
        .expect("The in-flight request failed.");
    assert_eq!(reply.into_inner().payload, payload::WAIT);
    let addr = server.addr;
    server
        .stopped()
        .await
        .expect("The server stopped with an error.");
    let reconnect = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await;
    assert!(
        reconnect.is_err(),
        "The listener is still accepting connections."
    );
}

#[tokio::test]
async fn shutdown_gives_up_on_requests_still_running_after_the_drain_timeout() {
    // Arrange
    let config = ServerConfig {
        drain_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let mut server = spawn_server_with(config, echo_policy()).await;
    let mut echo = server.echo_client().await;
    let _stuck = tokio::spawn(async move { echo.public_echo(public_request(payload::WAIT)).await });
    tokio::time::timeout(DEADLINE, server.gate.started.notified())
        .await
        .expect("The handler did not start.");
    // Act
    server.shutdown();
    // Assert
    server
        .stopped()
        .await
        .expect("The server stopped with an error.");
}

#[tokio::test]
async fn requests_are_counted_and_timed_by_method_and_code() {
    // Arrange: the recorder is process-global; nextest gives each test its own process.
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("Failed to install the metrics recorder.");
    let server = spawn_server().await;
    let mut client = server.echo_client().await;
    let token = server.token(Role::Operator);
    // Act
    client
        .echo(bearer(b"hello", &token))
        .await
        .expect("An allowed call.");
    let _ = client.echo(public_request(b"hello")).await;
    // Assert
    let rendered = handle.render();
    for code in ["OK", "UNAUTHENTICATED"] {
        let series = format!(r#"redress_grpc_requests_total{{rpc="{ECHO}",code="{code}"}} "#);
        let found = rendered.lines().any(|line| line.starts_with(&series));
        assert!(found, "{series}missing from:\n{rendered}");
    }
    assert!(
        rendered.contains("redress_grpc_request_duration_seconds"),
        "{rendered}"
    );
}

#[tokio::test]
async fn the_request_span_continues_the_callers_trace() {
    // Arrange
    platform::telemetry::init_for_tests();
    let server = spawn_server().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = public_request(payload::TRACE);
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let value = MetadataValue::try_from(traceparent).expect("ASCII");
    request.metadata_mut().insert("traceparent", value);
    // Act
    let reply = server
        .echo_client()
        .await
        .public_echo(request)
        .await
        .expect("Public call.");
    // Assert
    let seen = String::from_utf8(reply.into_inner().payload).expect("A traceparent is ASCII.");
    assert!(
        seen.starts_with(&format!("00-{trace_id}-")),
        "handler saw {seen:?}"
    );
}

#[tokio::test]
async fn shutdown_signal_resolves_on_sigterm() {
    // Arrange: the first poll installs the handlers, so the signal cannot kill the process.
    let mut signal = Box::pin(grpc::shutdown_signal());
    assert!((&mut signal).now_or_never().is_none());
    // Act
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("Failed to run kill.");
    // Assert
    assert!(sent.success());
    tokio::time::timeout(DEADLINE, signal)
        .await
        .expect("SIGTERM was not observed.");
}
