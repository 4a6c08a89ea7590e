//! What reaches the server before any handler: messages over 256 KiB and over 4 MiB, a gzip
//! bomb, and abusive metadata, on a command and a query of each gRPC service.

use std::io::Write as _;
use std::process::{Command, Stdio};

use platform::grpc::Role;
use prost_reflect::Value;
use tonic::Code;
use tonic::codegen::http::{HeaderMap, HeaderName, HeaderValue};
use tonic::metadata::MetadataMap;

use crate::bad_inputs::set;
use crate::rpc::{self, Fill};
use crate::stack::{Case, Stack, TOO_LARGE};

/// A command and a query of each gRPC service, the caller, and a string field to inflate.
const FAMILIES: [(&str, Role, &str); 8] = [
    (
        "Complaints.SubmitFormalComplaint",
        Role::ProviderRepresentative,
        "submission.narrative",
    ),
    ("Complaints.GetComplaint", Role::Auditor, "complaint_id"),
    (
        "Inspections.RecordInspectionNotified",
        Role::InspectionSystem,
        "lead_inspector_ref",
    ),
    (
        "Inspections.GetInspectionCase",
        Role::Auditor,
        "inspection_id",
    ),
    (
        "Escalations.RequestEscalation",
        Role::ProviderRepresentative,
        "request_id",
    ),
    ("Escalations.GetEscalation", Role::Auditor, "escalation_id"),
    ("LearningReviews.ReportIncident", Role::Hmci, "account_ref"),
    ("LearningReviews.GetIncident", Role::Auditor, "incident_id"),
];

#[tokio::test]
async fn messages_over_256_kib_and_over_4_mib_are_refused_before_any_handler() {
    // Arrange
    let stack = Stack::start().await;
    let mut cases = Vec::new();
    for (name, role, field) in FAMILIES {
        let rpc = rpc::rpc(name);
        for (what, size) in [("257 KiB", 257 * 1024), ("5 MiB", 5 * 1024 * 1024)] {
            let mut request = rpc::well_formed(&rpc, &Fill::new());
            set(&mut request, field, Value::String("a".repeat(size)));
            cases.push(Case {
                name: format!("a {what} message"),
                rpc: rpc.clone(),
                body: rpc::encode(&request),
                metadata: stack.metadata(Some(role)),
                want: TOO_LARGE,
                field: None,
                not_named: None,
                before_the_server: false,
            });
        }
    }
    // Act / Assert
    stack.run(cases).await;
}

/// `size` zero bytes, gzip-compressed by the system's `gzip`.
fn gzip_of_zeros(size: usize) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..size / chunk.len() {
            stdin.write_all(&chunk).unwrap();
        }
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success());
    output.stdout
}

#[tokio::test]
async fn a_gzip_bomb_is_unimplemented_and_the_process_stays_small() {
    // Arrange: 200 MiB of zeros in a compressed frame under the 256 KiB limit.
    let stack = Stack::start().await;
    let bomb = gzip_of_zeros(200 * 1024 * 1024);
    assert!(bomb.len() < 256 * 1024, "{} bytes", bomb.len());
    let rss_before = stack.rss_kib();
    let before = stack.events().await;
    let mut failures = Vec::new();
    // Act
    for (name, role, _) in FAMILIES {
        let rpc = rpc::rpc(name);
        let mut headers = HeaderMap::new();
        headers.insert("grpc-encoding", HeaderValue::from_static("gzip"));
        let token = stack.token(role);
        headers.insert("authorization", HeaderValue::from_str(&token).unwrap());
        let status = rpc::raw(
            &stack.channel,
            &rpc.path(),
            headers,
            rpc::frame(true, &bomb),
        )
        .await;
        if status.code() != Code::Unimplemented {
            failures.push(format!("{name}: {status:?}"));
        }
    }
    // Assert
    let grown = stack.rss_kib().saturating_sub(rss_before);
    assert!(
        failures.is_empty(),
        "not refused as UNIMPLEMENTED: {failures:?}"
    );
    assert!(grown < 50 * 1024, "the process grew by {grown} KiB");
    assert!(
        stack.rss_kib() < 100 * 1024,
        "resident set {} KiB",
        stack.rss_kib()
    );
    assert_eq!(stack.events().await, before);
    stack.assert_alive("gzip bomb").await;
}

#[tokio::test]
async fn oversized_numerous_and_non_ascii_metadata_leave_the_process_serving() {
    // Arrange: each query is well formed, so once past the transport it is NOT_FOUND.
    let stack = Stack::start().await;
    let mut cases = Vec::new();
    for (name, role, _) in FAMILIES
        .into_iter()
        .filter(|(name, ..)| name.contains(".Get"))
    {
        let rpc = rpc::rpc(name);
        let body = rpc::encode(&rpc::well_formed(&rpc, &Fill::new()));
        let with = |extra: HeaderMap| {
            let mut headers = stack.metadata(Some(role)).into_headers();
            headers.extend(extra);
            MetadataMap::from_headers(headers)
        };
        let mut big = HeaderMap::new();
        big.insert(
            "x-note",
            HeaderValue::from_str(&"a".repeat(64 * 1024)).unwrap(),
        );
        let mut many = HeaderMap::new();
        for i in 0..1_000 {
            let name = HeaderName::from_bytes(format!("x-note-{i}").as_bytes()).unwrap();
            many.insert(name, HeaderValue::from_static("value"));
        }
        let mut non_ascii = HeaderMap::new();
        non_ascii.insert(
            "x-note",
            HeaderValue::from_bytes("café ünïcödé".as_bytes()).unwrap(),
        );
        let mut bad_token = HeaderMap::new();
        bad_token.insert(
            "authorization",
            HeaderValue::from_bytes("Bearer tökén".as_bytes()).unwrap(),
        );
        for (what, extra, want, before_the_server) in [
            // The server ends the connection (GOAWAY `header_list_way_too_large`).
            ("a 64 KiB header", big, &[Code::ResourceExhausted][..], true),
            // HTTP 431 Request Header Fields Too Large, which has no gRPC status.
            ("1,000 headers", many, &[Code::Unknown][..], true),
            (
                "a non-ASCII header value",
                non_ascii,
                &[Code::NotFound][..],
                false,
            ),
            (
                "a non-ASCII token",
                bad_token,
                &[Code::Unauthenticated][..],
                false,
            ),
        ] {
            cases.push(Case {
                name: what.to_owned(),
                rpc: rpc.clone(),
                body: body.clone(),
                metadata: with(extra),
                want,
                field: None,
                not_named: None,
                before_the_server,
            });
        }
    }
    // Act / Assert
    stack.run(cases).await;
}
