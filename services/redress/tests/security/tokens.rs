//! Every token variant of reliability plan §6.3 on each service's main command: refused as
//! UNAUTHENTICATED; a valid token whose role the policy does not name is PERMISSION_DENIED.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
use platform::grpc::Role;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use tonic::Code;
use tonic::metadata::MetadataMap;

use crate::rpc::{self, Fill};
use crate::stack::{Case, Stack};

const KID: &str = "test";
const COMMANDS: [(&str, Role); 4] = [
    (
        "Complaints.SubmitFormalComplaint",
        Role::ComplaintsDecisionMaker,
    ),
    (
        "Inspections.RecordInspectionNotified",
        Role::InspectionSystem,
    ),
    (
        "Escalations.RequestEscalation",
        Role::ProviderRepresentative,
    ),
    ("LearningReviews.ReportIncident", Role::Hmci),
];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Claims of a valid token for `role`, with `overrides` merged in.
fn claims(role: Role, overrides: &Value) -> Value {
    let now = get_current_timestamp();
    let mut claims = json!({
        "iss": "https://identity.redress.local", "aud": "redress", "sub": "security:tokens",
        "role": role.as_str(), "iat": now, "nbf": now, "exp": now + 300,
    });
    if role.acts_for_provider() {
        claims["provider"] = json!(crate::stack::PROVIDER);
    }
    for (name, value) in overrides.as_object().unwrap() {
        claims[name] = value.clone();
    }
    claims
}

fn signed(stack: &Stack, kid: &str, claims: &Value) -> String {
    let key =
        EncodingKey::from_ed_pem(stack.served.private_pem.expose_secret().as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// Each variant's `authorization` value, or `None` for no header.
fn variants(stack: &Stack, role: Role) -> Vec<(&'static str, Option<String>)> {
    let now = get_current_timestamp();
    let valid = signed(stack, KID, &claims(role, &json!({})));
    let parts: Vec<&str> = valid.split('.').collect();
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(KID.to_owned());
        let key = EncodingKey::from_secret(stack.served.public_pem.as_bytes());
        jsonwebtoken::encode(&header, &claims(role, &json!({})), &key).unwrap()
    };
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims(role, &json!({})).to_string().as_bytes())
    );
    let tampered_payload = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims(Role::Auditor, &json!({"sub": "someone-else"}))
            .to_string()
            .as_bytes()),
        parts[2]
    );
    let mut signature = parts[2].as_bytes().to_vec();
    signature[5] = if signature[5] == b'A' { b'B' } else { b'A' };
    let tampered_signature = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(signature).unwrap()
    );
    let bearer = |token: String| Some(format!("Bearer {token}"));
    vec![
        ("missing", None),
        ("Basic", Some("Basic dXNlcjpwYXNzd29yZA==".to_owned())),
        ("empty Bearer", Some("Bearer ".to_owned())),
        (
            "9 KiB token",
            bearer(signed(
                stack,
                KID,
                &claims(role, &json!({"pad": "x".repeat(9 * 1024)})),
            )),
        ),
        ("alg none", bearer(unsigned)),
        ("HS256 signed with the public key", bearer(hs256)),
        (
            "expired",
            bearer(signed(
                stack,
                KID,
                &claims(role, &json!({"iat": now - 600, "exp": now - 120})),
            )),
        ),
        (
            "nbf in the future",
            bearer(signed(
                stack,
                KID,
                &claims(role, &json!({"nbf": now + 300})),
            )),
        ),
        (
            "wrong iss",
            bearer(signed(
                stack,
                KID,
                &claims(role, &json!({"iss": "https://evil.example"})),
            )),
        ),
        (
            "wrong aud",
            bearer(signed(
                stack,
                KID,
                &claims(role, &json!({"aud": "another-service"})),
            )),
        ),
        (
            "unknown kid",
            bearer(signed(stack, "retired-2024", &claims(role, &json!({})))),
        ),
        ("tampered payload", bearer(tampered_payload)),
        ("tampered signature", bearer(tampered_signature)),
    ]
}

#[tokio::test]
async fn every_token_variant_is_unauthenticated_on_each_services_main_command() {
    // Arrange
    let stack = Stack::start().await;
    let mut cases = Vec::new();
    for (command, role) in COMMANDS {
        let rpc = rpc::rpc(command);
        let body = rpc::encode(&rpc::well_formed(&rpc, &Fill::new()));
        for (name, authorization) in variants(&stack, role) {
            let metadata =
                authorization.map_or_else(MetadataMap::new, |value| Stack::authorization(&value));
            cases.push(Case {
                name: name.to_owned(),
                rpc: rpc.clone(),
                body: body.clone(),
                metadata,
                want: &[Code::Unauthenticated],
                field: None,
                not_named: None,
                before_the_server: false,
            });
        }
        cases.push(Case {
            name: "a valid operator token".to_owned(),
            rpc: rpc.clone(),
            body: body.clone(),
            metadata: stack.metadata(Some(Role::Operator)),
            want: &[Code::PermissionDenied],
            field: None,
            not_named: None,
            before_the_server: false,
        });
    }
    // Act / Assert
    stack.run(cases).await;
}
