//! Authentication through the server layer: every token variant of reliability plan §6.3 is
//! refused as UNAUTHENTICATED (and the logged reason is the intended one), key rotation, and
//! the configuration errors of the authenticator and the issuer.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
use platform::grpc::{
    AuthError, Authenticator, KeyError, Principal, Role, ServerConfig, TokenError,
};
use proto::testing::v1::EchoRequest;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use tonic::metadata::MetadataValue;
use tonic::{Code, Request};

use crate::helpers::{
    self, AUDIENCE, ISSUER, KID, TestServer, b64url, bearer, echo_code, spawn_server,
    with_authorization,
};

/// Claims of a valid operator token, with `overrides` merged in (`null` removes a claim).
fn claims(overrides: Value) -> Value {
    let now = get_current_timestamp();
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-42", "role": "operator",
        "iat": now, "exp": now + 300,
    });
    if let (Some(claims), Some(overrides)) = (claims.as_object_mut(), overrides.as_object()) {
        for (name, value) in overrides {
            if value.is_null() {
                claims.remove(name);
            } else {
                claims.insert(name.clone(), value.clone());
            }
        }
    }
    claims
}

fn signing_key(server: &TestServer) -> EncodingKey {
    EncodingKey::from_ed_pem(server.keys.private_pem.expose_secret().as_bytes())
        .expect("Failed to read the private key.")
}

/// An EdDSA token over `claims`, signed with the server's key under `kid`.
fn signed(server: &TestServer, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &signing_key(server)).expect("Failed to sign.")
}

/// Asserts that `Echo` with this `authorization` value is refused as UNAUTHENTICATED with the
/// generic message only, and returns the reason the server logged.
async fn refused(server: &TestServer, authorization: &str) -> AuthError {
    let mut client = server.echo_client().await;
    let status = client
        .echo(with_authorization(b"hello", authorization))
        .await
        .expect_err("The request should have been refused.");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "invalid or missing credentials");
    let mut headers = http::HeaderMap::new();
    let value = authorization.parse().expect("A valid header value.");
    headers.insert(http::header::AUTHORIZATION, value);
    server
        .authenticator
        .authenticate(&headers)
        .expect_err("The authenticator accepts what the server refused.")
}

async fn refused_token(server: &TestServer, token: &str) -> AuthError {
    refused(server, &format!("Bearer {token}")).await
}

/// The `kind` of a `jsonwebtoken` validation failure.
fn invalid(error: &AuthError) -> &ErrorKind {
    match error {
        AuthError::Invalid(error) => error.kind(),
        other => panic!("Expected a validation failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_request_without_a_token_is_unauthenticated() {
    let server = spawn_server().await;
    let request = Request::new(EchoRequest {
        payload: b"hello".to_vec(),
    });
    let status = server
        .echo_client()
        .await
        .echo(request)
        .await
        .expect_err("No token.");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "invalid or missing credentials");
    let reason = server.authenticator.authenticate(&http::HeaderMap::new());
    assert!(matches!(reason, Err(AuthError::Missing)), "{reason:?}");
}

#[tokio::test]
async fn basic_credentials_are_unauthenticated() {
    let server = spawn_server().await;
    let reason = refused(&server, "Basic dXNlcjpwYXNzd29yZA==").await;
    assert!(matches!(reason, AuthError::NotBearer), "{reason:?}");
}

#[tokio::test]
async fn a_bearer_scheme_with_an_empty_token_is_unauthenticated() {
    let server = spawn_server().await;
    let reason = refused(&server, "Bearer ").await;
    assert!(matches!(reason, AuthError::NotBearer), "{reason:?}");
}

#[tokio::test]
async fn a_lowercase_bearer_scheme_is_unauthenticated() {
    let server = spawn_server().await;
    let token = server.token(Role::Operator);
    let reason = refused(&server, &format!("bearer {token}")).await;
    assert!(matches!(reason, AuthError::NotBearer), "{reason:?}");
}

#[tokio::test]
async fn two_authorization_headers_are_unauthenticated() {
    // Arrange: both values are valid tokens, so only the repetition is wrong.
    let server = spawn_server().await;
    let mut request = bearer(b"hello", &server.token(Role::Operator));
    let second =
        MetadataValue::try_from(format!("Bearer {}", server.token(Role::Auditor))).expect("ASCII");
    request.metadata_mut().append("authorization", second);
    let headers = request.metadata().clone().into_headers();
    // Act / Assert
    assert_eq!(echo_code(&server, request).await, Code::Unauthenticated);
    let reason = server.authenticator.authenticate(&headers);
    assert!(matches!(reason, Err(AuthError::Repeated)), "{reason:?}");
}

#[tokio::test]
async fn a_validly_signed_9_kib_token_is_unauthenticated() {
    let server = spawn_server().await;
    let token = signed(
        &server,
        Some(KID),
        &claims(json!({ "padding": "x".repeat(9 * 1024) })),
    );
    assert!(token.len() > 9 * 1024);
    let reason = refused_token(&server, &token).await;
    assert!(matches!(reason, AuthError::TooLarge(_)), "{reason:?}");
}

#[tokio::test]
async fn a_token_with_alg_none_is_unauthenticated() {
    // Arrange: valid claims, an unsigned header, an empty signature.
    let server = spawn_server().await;
    let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64url(claims(json!({})).to_string().as_bytes());
    // Act / Assert
    let reason = refused_token(&server, &format!("{header}.{payload}.")).await;
    assert!(matches!(invalid(&reason), ErrorKind::Json(_)), "{reason:?}");
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_public_key_is_unauthenticated() {
    let server = spawn_server().await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KID.to_owned());
    let key = EncodingKey::from_secret(server.keys.public_pem.as_bytes());
    let token = jsonwebtoken::encode(&header, &claims(json!({})), &key).expect("Failed to sign.");
    let reason = refused_token(&server, &token).await;
    assert!(
        matches!(reason, AuthError::Algorithm(Algorithm::HS256)),
        "{reason:?}"
    );
}

#[tokio::test]
async fn a_token_claiming_rs256_is_unauthenticated() {
    // Arrange: a genuine EdDSA signature under a header that claims RS256.
    let server = spawn_server().await;
    let token = server.token(Role::Operator);
    let (_, rest) = token.split_once('.').expect("three segments");
    let header = b64url(format!(r#"{{"alg":"RS256","kid":"{KID}","typ":"JWT"}}"#).as_bytes());
    // Act / Assert
    let reason = refused_token(&server, &format!("{header}.{rest}")).await;
    assert!(
        matches!(reason, AuthError::Algorithm(Algorithm::RS256)),
        "{reason:?}"
    );
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated() {
    let server = spawn_server().await;
    let now = get_current_timestamp();
    let token = signed(
        &server,
        Some(KID),
        &claims(json!({ "iat": now - 600, "exp": now - 120 })),
    );
    let reason = refused_token(&server, &token).await;
    assert_eq!(invalid(&reason), &ErrorKind::ExpiredSignature);
}

#[tokio::test]
async fn a_token_without_exp_is_unauthenticated() {
    let server = spawn_server().await;
    let token = signed(&server, Some(KID), &claims(json!({ "exp": null })));
    let reason = refused_token(&server, &token).await;
    assert!(matches!(invalid(&reason), ErrorKind::MissingRequiredClaim(claim) if claim == "exp"));
}

#[tokio::test]
async fn a_token_not_yet_valid_is_unauthenticated() {
    let server = spawn_server().await;
    let token = signed(
        &server,
        Some(KID),
        &claims(json!({ "nbf": get_current_timestamp() + 300 })),
    );
    let reason = refused_token(&server, &token).await;
    assert_eq!(invalid(&reason), &ErrorKind::ImmatureSignature);
}

#[tokio::test]
async fn a_token_with_nbf_inside_the_leeway_is_accepted() {
    let server = spawn_server().await;
    let token = signed(
        &server,
        Some(KID),
        &claims(json!({ "nbf": get_current_timestamp() + 5 })),
    );
    assert_eq!(echo_code(&server, bearer(b"hello", &token)).await, Code::Ok);
}

#[tokio::test]
async fn a_token_from_another_issuer_is_unauthenticated() {
    let server = spawn_server().await;
    let token = signed(
        &server,
        Some(KID),
        &claims(json!({ "iss": "https://evil.example" })),
    );
    let reason = refused_token(&server, &token).await;
    assert_eq!(invalid(&reason), &ErrorKind::InvalidIssuer);
}

#[tokio::test]
async fn a_token_without_an_issuer_is_unauthenticated() {
    let server = spawn_server().await;
    let token = signed(&server, Some(KID), &claims(json!({ "iss": null })));
    let reason = refused_token(&server, &token).await;
    assert!(matches!(invalid(&reason), ErrorKind::MissingRequiredClaim(claim) if claim == "iss"));
}

#[tokio::test]
async fn a_token_for_another_audience_is_unauthenticated() {
    let server = spawn_server().await;
    let token = signed(
        &server,
        Some(KID),
        &claims(json!({ "aud": "another-service" })),
    );
    let reason = refused_token(&server, &token).await;
    assert_eq!(invalid(&reason), &ErrorKind::InvalidAudience);
}

#[tokio::test]
async fn a_token_with_an_unknown_kid_is_unauthenticated() {
    let server = spawn_server().await;
    let token = signed(&server, Some("retired-2024"), &claims(json!({})));
    let reason = refused_token(&server, &token).await;
    assert!(
        matches!(&reason, AuthError::UnknownKid(kid) if kid == "retired-2024"),
        "{reason:?}"
    );
}

#[tokio::test]
async fn a_token_with_a_tampered_payload_is_unauthenticated() {
    // Arrange: an auditor's payload rewritten to claim the operator role, keeping the signature.
    let server = spawn_server().await;
    let original = signed(&server, Some(KID), &claims(json!({ "role": "auditor" })));
    let [header, _, signature] = segments(&original);
    let escalated = b64url(claims(json!({ "role": "operator" })).to_string().as_bytes());
    // Act / Assert
    let reason = refused_token(&server, &format!("{header}.{escalated}.{signature}")).await;
    assert_eq!(invalid(&reason), &ErrorKind::InvalidSignature);
}

#[tokio::test]
async fn a_token_with_a_tampered_signature_is_unauthenticated() {
    let server = spawn_server().await;
    let token = server.token(Role::Operator);
    let [header, payload, signature] = segments(&token);
    let mut signature = signature.as_bytes().to_vec();
    signature[10] = if signature[10] == b'A' { b'B' } else { b'A' };
    let signature = String::from_utf8(signature).expect("ASCII");
    let reason = refused_token(&server, &format!("{header}.{payload}.{signature}")).await;
    assert!(
        matches!(
            invalid(&reason),
            ErrorKind::InvalidSignature | ErrorKind::Base64(_)
        ),
        "{reason:?}"
    );
}

#[tokio::test]
async fn a_provider_role_without_a_provider_is_unauthenticated() {
    let server = spawn_server().await;
    let token = signed(
        &server,
        Some(KID),
        &claims(json!({ "role": "provider_representative" })),
    );
    let reason = refused_token(&server, &token).await;
    assert!(
        matches!(
            reason,
            AuthError::MissingProvider(Role::ProviderRepresentative)
        ),
        "{reason:?}"
    );
}

#[tokio::test]
async fn an_unknown_role_is_unauthenticated() {
    let server = spawn_server().await;
    let token = signed(&server, Some(KID), &claims(json!({ "role": "superuser" })));
    let reason = refused_token(&server, &token).await;
    assert!(
        matches!(&reason, AuthError::UnknownRole(role) if role.0 == "superuser"),
        "{reason:?}"
    );
}

#[tokio::test]
async fn a_token_without_kid_is_accepted_when_one_key_is_configured() {
    let server = spawn_server().await;
    let token = signed(&server, None, &claims(json!({})));
    assert_eq!(echo_code(&server, bearer(b"hello", &token)).await, Code::Ok);
}

#[tokio::test]
async fn a_token_without_kid_is_unauthenticated_when_several_keys_are_configured() {
    // Arrange: the server's key plus a second, as during a rotation.
    let (current, next) = (helpers::keys(), helpers::keys());
    let authenticator = helpers::authenticator_for(&[(KID, &current), ("next", &next)]);
    let server = helpers::spawn_server_with_auth(
        ServerConfig::default(),
        helpers::echo_policy(),
        authenticator,
        current,
    )
    .await;
    let token = signed(&server, None, &claims(json!({})));
    // Act / Assert
    let reason = refused_token(&server, &token).await;
    assert!(matches!(reason, AuthError::MissingKid), "{reason:?}");
}

#[tokio::test]
async fn tokens_from_both_keys_are_accepted_during_a_rotation() {
    // Arrange
    let (current, next) = (helpers::keys(), helpers::keys());
    let next_issuer = helpers::issuer_for(&next, "next");
    let authenticator = helpers::authenticator_for(&[(KID, &current), ("next", &next)]);
    let server = helpers::spawn_server_with_auth(
        ServerConfig::default(),
        helpers::echo_policy(),
        authenticator,
        current,
    )
    .await;
    let ttl = Duration::from_secs(60);
    let old = server.token(Role::Operator);
    let new = next_issuer
        .issue("user-7", Role::Operator, None, ttl)
        .expect("issue");
    // Act
    let old_code = echo_code(&server, bearer(b"hello", &old)).await;
    let new_code = echo_code(&server, bearer(b"hello", &new)).await;
    // Assert
    assert_eq!((old_code, new_code), (Code::Ok, Code::Ok));
}

fn segments(token: &str) -> [&str; 3] {
    let mut parts = token.split('.');
    let segments = [parts.next(), parts.next(), parts.next()];
    match segments {
        [Some(header), Some(payload), Some(signature)] => [header, payload, signature],
        _ => panic!("A JWT has three segments."),
    }
}

#[test]
fn a_provider_representative_is_authenticated_with_their_provider() {
    // Arrange
    let keys = helpers::keys();
    let authenticator = helpers::authenticator_for(&[(KID, &keys)]);
    let issuer = helpers::issuer_for(&keys, KID);
    let token = issuer
        .issue(
            "head-1",
            Role::ProviderRepresentative,
            Some("urn:urn:100001"),
            Duration::from_secs(60),
        )
        .expect("issue");
    // Act
    let principal = authenticator
        .verify(token.as_bytes())
        .expect("A valid token.");
    // Assert
    let expected = Principal {
        subject: "head-1".to_owned(),
        role: Role::ProviderRepresentative,
        provider: Some("urn:urn:100001".to_owned()),
    };
    assert_eq!(principal, expected);
}

#[test]
fn a_remembered_token_is_refused_once_it_expires() {
    // Arrange: verified once, so the authenticator remembers it.
    let keys = helpers::keys();
    let authenticator = helpers::authenticator_for(&[(KID, &keys)]).with_leeway(Duration::ZERO);
    let issuer = helpers::issuer_for(&keys, KID);
    let token = issuer
        .issue("user-7", Role::Operator, None, Duration::from_secs(1))
        .expect("issue");
    authenticator
        .verify(token.as_bytes())
        .expect("A token inside its lifetime.");
    // Act: past its exp (whole seconds, so up to two later).
    std::thread::sleep(Duration::from_millis(2_100));
    let result = authenticator.verify(token.as_bytes());
    // Assert
    assert!(
        matches!(&result, Err(reason) if invalid(reason) == &ErrorKind::ExpiredSignature),
        "{result:?}"
    );
}

#[test]
fn a_token_differing_from_a_remembered_one_in_its_signature_is_refused() {
    // Arrange
    let keys = helpers::keys();
    let authenticator = helpers::authenticator_for(&[(KID, &keys)]);
    let issuer = helpers::issuer_for(&keys, KID);
    let token = issuer
        .issue("user-7", Role::Operator, None, Duration::from_secs(60))
        .expect("issue");
    authenticator
        .verify(token.as_bytes())
        .expect("A valid token.");
    let [header, payload, signature] = segments(&token);
    let mut bytes = signature.as_bytes().to_vec();
    bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "{header}.{payload}.{}",
        String::from_utf8(bytes).expect("ascii")
    );
    // Act
    let result = authenticator.verify(tampered.as_bytes());
    // Assert
    assert!(matches!(result, Err(AuthError::Invalid(_))), "{result:?}");
    assert!(authenticator.verify(token.as_bytes()).is_ok());
}

#[test]
fn an_authenticator_without_keys_is_refused() {
    let result = Authenticator::new(ISSUER, AUDIENCE, Vec::<(String, String)>::new());
    assert!(matches!(result, Err(KeyError::NoKeys)), "{result:?}");
}

#[test]
fn an_authenticator_given_a_private_key_as_a_public_key_is_refused() {
    let keys = helpers::keys();
    let result = Authenticator::new(ISSUER, AUDIENCE, [(KID, keys.private_pem.expose_secret())]);
    assert!(
        matches!(result, Err(KeyError::InvalidKey { .. })),
        "{result:?}"
    );
}

#[test]
fn an_authenticator_given_the_same_kid_twice_is_refused() {
    let (a, b) = (helpers::keys(), helpers::keys());
    let result = Authenticator::new(
        ISSUER,
        AUDIENCE,
        [(KID, &a.public_pem), (KID, &b.public_pem)],
    );
    assert!(
        matches!(result, Err(KeyError::DuplicateKid(_))),
        "{result:?}"
    );
}

#[test]
fn the_issuer_refuses_a_provider_role_without_a_provider() {
    let issuer = helpers::issuer_for(&helpers::keys(), KID);
    let result = issuer.issue(
        "head-1",
        Role::ResponsibleBody,
        None,
        Duration::from_secs(60),
    );
    assert!(
        matches!(result, Err(TokenError::MissingProvider(_))),
        "{result:?}"
    );
}

#[test]
fn the_issuer_refuses_a_provider_for_a_role_that_does_not_act_for_one() {
    let issuer = helpers::issuer_for(&helpers::keys(), KID);
    let result = issuer.issue(
        "ops-1",
        Role::Operator,
        Some("urn:1"),
        Duration::from_secs(60),
    );
    assert!(
        matches!(result, Err(TokenError::UnexpectedProvider(_))),
        "{result:?}"
    );
}

#[test]
fn the_issuer_refuses_an_empty_subject() {
    let issuer = helpers::issuer_for(&helpers::keys(), KID);
    let result = issuer.issue(" ", Role::Operator, None, Duration::from_secs(60));
    assert!(
        matches!(result, Err(TokenError::EmptySubject)),
        "{result:?}"
    );
}
