//! Authorization through the server layer: deny by default, roles per method, public methods,
//! and the `Role` names the policy and tokens share.

use platform::grpc::{AccessPolicy, Role, ServerConfig};
use proto::testing::v1::EchoRequest;
use proto::testing::v1::echo_client::EchoClient;
use tonic::{Code, Request};

use crate::helpers::{self, ECHO, PUBLIC_ECHO, bearer, echo_code, spawn_server, spawn_server_with};

#[tokio::test]
async fn echo_returns_the_callers_subject_and_role_when_the_role_is_allowed() {
    // Arrange
    let server = spawn_server().await;
    let token = server.token(Role::Auditor);
    // Act
    let reply = server
        .echo_client()
        .await
        .echo(bearer(b"hello", &token))
        .await;
    // Assert
    let reply = reply.expect("An auditor may call Echo.").into_inner();
    assert_eq!(reply.payload, b"hello");
    assert_eq!(reply.subject, "user-42");
    assert_eq!(reply.role, "auditor");
}

#[tokio::test]
async fn echo_is_permission_denied_when_the_role_is_not_allowed() {
    let server = spawn_server().await;
    let token = server.token(Role::ComplaintsInvestigator);
    let code = echo_code(&server, bearer(b"hello", &token)).await;
    assert_eq!(code, Code::PermissionDenied);
}

#[tokio::test]
async fn a_method_missing_from_the_policy_is_permission_denied_for_an_authenticated_caller() {
    // Arrange: PublicEcho is registered but the policy names only Echo.
    let policy = AccessPolicy::new().allow(ECHO, [Role::Operator]);
    let server = spawn_server_with(ServerConfig::default(), policy).await;
    let token = server.token(Role::Operator);
    // Act
    let result = server
        .echo_client()
        .await
        .public_echo(bearer(b"hello", &token))
        .await;
    // Assert
    let status = result.expect_err("An unlisted method must be denied.");
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_method_missing_from_the_policy_is_unauthenticated_without_a_token() {
    let policy = AccessPolicy::new().allow(ECHO, [Role::Operator]);
    let server = spawn_server_with(ServerConfig::default(), policy).await;
    let request = Request::new(EchoRequest {
        payload: b"hello".to_vec(),
    });
    let result = server.echo_client().await.public_echo(request).await;
    assert_eq!(
        result.expect_err("No token, no access.").code(),
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn an_unknown_path_is_permission_denied_for_an_authenticated_caller() {
    // Arrange: an origin with a path prefix turns Echo into /nowhere/redress.testing.v1.Echo/Echo.
    let server = spawn_server().await;
    let origin = format!("http://{}/nowhere", server.addr)
        .parse()
        .expect("valid URI");
    let mut client = EchoClient::with_origin(server.channel().await, origin);
    let token = server.token(Role::Operator);
    // Act
    let status = client
        .echo(bearer(b"hello", &token))
        .await
        .expect_err("Unknown path.");
    // Assert
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_public_method_is_served_without_a_token_and_reports_no_caller() {
    let server = spawn_server().await;
    let request = Request::new(EchoRequest {
        payload: b"hello".to_vec(),
    });
    let reply = server.echo_client().await.public_echo(request).await;
    let reply = reply.expect("PublicEcho is public.").into_inner();
    assert_eq!(reply.payload, b"hello");
    assert_eq!((reply.subject.as_str(), reply.role.as_str()), ("", ""));
}

#[tokio::test]
async fn a_public_method_ignores_invalid_credentials() {
    let server = spawn_server().await;
    let result = server
        .echo_client()
        .await
        .public_echo(bearer(b"hi", "not-a-token"))
        .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_handler_asking_for_the_principal_on_a_public_method_gets_unauthenticated() {
    let policy = AccessPolicy::new().public(ECHO);
    let server = spawn_server_with(ServerConfig::default(), policy).await;
    let request = Request::new(EchoRequest {
        payload: b"hello".to_vec(),
    });
    assert_eq!(echo_code(&server, request).await, Code::Unauthenticated);
}

#[test]
fn every_role_round_trips_through_its_snake_case_name() {
    for role in Role::ALL {
        let json = serde_json::to_string(&role).expect("serialize");
        assert_eq!(json, format!("\"{}\"", role.as_str()));
        assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        assert_eq!(
            serde_json::from_str::<Role>(&json).expect("deserialize"),
            role
        );
    }
    assert_eq!(
        Role::ClosedComplaintsPanelMember.as_str(),
        "closed_complaints_panel_member"
    );
    assert!("Operator".parse::<Role>().is_err());
}

#[test]
fn only_provider_representatives_and_responsible_bodies_act_for_a_provider() {
    let acting: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|role| role.acts_for_provider())
        .collect();
    assert_eq!(
        acting,
        [Role::ProviderRepresentative, Role::ResponsibleBody]
    );
}

#[test]
fn the_policy_denies_by_default_and_allows_listed_roles() {
    let policy = helpers::echo_policy();
    assert!(policy.permits(ECHO, Role::Operator));
    assert!(!policy.permits(ECHO, Role::Hmci));
    assert!(policy.is_public(PUBLIC_ECHO) && !policy.is_public(ECHO));
    assert!(!policy.permits("/redress.testing.v1.Echo/Other", Role::Operator));
}
