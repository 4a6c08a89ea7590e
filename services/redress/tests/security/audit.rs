//! The audit entry itself: who was refused what, and nothing of what they sent. (That every
//! refusal of every other security test writes one, and nothing else does, is checked case by
//! case in [`crate::stack::Stack::run`].)

use platform::grpc::Role;
use tonic::Code;

use crate::rpc::{self, Fill};
use crate::stack::Stack;

#[tokio::test]
async fn a_refusal_is_audited_with_the_caller_and_the_code_and_none_of_the_request() {
    // Arrange
    let stack = Stack::start().await;
    let rpc = rpc::rpc("Complaints.SubmitFormalComplaint");
    let marker = "AUDIT-MARKER-7d1f";
    let request = rpc::well_formed(&rpc, &Fill::new().with("inspection_id", "not-a-uuid"));
    let mut with_marker = request.clone();
    for field in rpc.input().fields() {
        if field.name().ends_with("_ref") && !field.is_list() {
            with_marker.set_field(&field, prost_reflect::Value::String(marker.to_owned()));
        }
    }
    stack.audit_entries();

    // Act: a valid token of a role the policy does not name, then the right role with a
    // malformed id, then no token at all.
    let denied = stack.call(&rpc, &with_marker, Some(Role::Operator)).await;
    let denied_entries = entries_after(&stack, &rpc, Code::PermissionDenied).await;
    let invalid = stack
        .call(&rpc, &with_marker, Some(Role::ComplaintsDecisionMaker))
        .await;
    let invalid_entries = entries_after(&stack, &rpc, Code::InvalidArgument).await;
    let anonymous = stack.call(&rpc, &with_marker, None).await;
    let anonymous_entries = entries_after(&stack, &rpc, Code::Unauthenticated).await;

    // Assert
    assert_eq!(denied.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(invalid.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);
    let [denied_entry] = denied_entries.as_slice() else {
        panic!("one entry for the denial: {denied_entries:?}")
    };
    assert_eq!(
        denied_entry["subject"], "security:operator",
        "{denied_entry}"
    );
    assert_eq!(
        denied_entry["role"],
        Role::Operator.as_str(),
        "{denied_entry}"
    );
    assert_eq!(denied_entry["level"], "WARN", "{denied_entry}");
    let [invalid_entry] = invalid_entries.as_slice() else {
        panic!("one entry for the bad input: {invalid_entries:?}")
    };
    assert_eq!(
        invalid_entry["role"],
        Role::ComplaintsDecisionMaker.as_str(),
        "{invalid_entry}"
    );
    let [anonymous_entry] = anonymous_entries.as_slice() else {
        panic!("one entry for the anonymous call: {anonymous_entries:?}")
    };
    assert_eq!(anonymous_entry["subject"], "", "{anonymous_entry}");
    for entry in [denied_entry, invalid_entry, anonymous_entry] {
        let text = entry.to_string();
        assert!(
            !text.contains(marker) && !text.contains("not-a-uuid"),
            "an audit entry carries the request's content: {text}"
        );
    }
    stack.assert_alive("after the audited calls").await;
}

/// The audit entries for `rpc` with `code` logged since the last look, once there is one.
async fn entries_after(stack: &Stack, rpc: &rpc::Rpc, code: Code) -> Vec<serde_json::Value> {
    let mut seen = Vec::new();
    for _ in 0..40 {
        seen.extend(stack.audit_entries());
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        seen.iter()
            .all(|e| e["rpc"] == rpc.path().as_str() && e["code"] == crate::stack::audit_code(code)),
        "{seen:?}"
    );
    seen
}
