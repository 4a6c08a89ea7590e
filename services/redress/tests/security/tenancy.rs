//! Real cases of two providers, written through the APIs by the ops workload: a provider's
//! representative or responsible body never sees or touches the other provider's cases in any
//! service (NOT_FOUND, or PERMISSION_DENIED where the role has no access at all), and a command
//! repeated with its idempotency key answers the same bytes, or FAILED_PRECONDITION with
//! another payload, writing nothing either way.

use platform::grpc::Role;
use prost_reflect::Value;
use tonic::Code;
use uuid::Uuid;

use crate::bad_inputs::set;
use crate::matrix::allowed;
use crate::rpc::{self, Fill};
use crate::stack::{Case, Failures, Stack, code};
use crate::workload::{Case as Written, Workload};

/// The answer `bytes` of `rpc` with its receipt marked `replayed`, as a repeat answers it.
fn replay_of(rpc: &rpc::Rpc, bytes: &[u8]) -> Vec<u8> {
    use prost::Message as _;
    let mut answer = prost_reflect::DynamicMessage::decode(rpc.method.output(), bytes).unwrap();
    match answer.get_field_by_name_mut("receipt") {
        Some(Value::Message(receipt)) => receipt.set_field_by_name("replayed", Value::Bool(true)),
        other => panic!("{}: no receipt in the answer ({other:?})", rpc.name()),
    }
    answer.encode_to_vec()
}

/// A provider's case and every id of it.
struct Owned {
    provider: String,
    fill: Fill,
}

async fn two_providers(stack: &Stack) -> (Owned, Owned) {
    let workload = Workload::new(&stack.served).await;
    let cases = workload.cases(0..2, 1).await;
    stack.served.settle().await;
    let mut owned = Vec::new();
    for case in &cases {
        owned.push(owned_case(stack, case).await);
    }
    let b = owned.pop().unwrap();
    let a = owned.pop().unwrap();
    assert_ne!(a.provider, b.provider);
    (a, b)
}

async fn owned_case(stack: &Stack, case: &Written) -> Owned {
    let pool = stack.pool();
    let provider: String = sqlx::query_scalar(
        "SELECT provider_id FROM complaints.inspection_cases WHERE inspection_id = $1",
    )
    .bind(case.inspection_id)
    .fetch_one(pool)
    .await
    .unwrap();
    let concern: Uuid =
        sqlx::query_scalar("SELECT concern_id FROM complaints.concerns WHERE inspection_id = $1")
            .bind(case.inspection_id)
            .fetch_one(pool)
            .await
            .unwrap();
    let mut fill = Fill::new()
        .with("inspection_id", case.inspection_id)
        .with("concern_id", concern)
        .with("complaint_id", case.complaint_id.unwrap())
        .with("escalation_id", case.escalation_id.unwrap());
    fill.provider = provider.clone();
    Owned { provider, fill }
}

#[tokio::test]
async fn a_provider_never_sees_or_touches_another_providers_cases_in_any_service() {
    // Arrange
    let stack = Stack::start().await;
    let (a, b) = two_providers(&stack).await;
    let incident: Uuid = sqlx::query_scalar(
        "SELECT stream_id FROM learning_reviews.events
         WHERE event_type = 'redress.learning_reviews.v1.IncidentReported' LIMIT 1",
    )
    .fetch_one(stack.pool())
    .await
    .unwrap();
    let review: Uuid = sqlx::query_scalar(
        "SELECT stream_id FROM learning_reviews.events
         WHERE event_type = 'redress.learning_reviews.v1.LearningReviewProposed' LIMIT 1",
    )
    .fetch_one(stack.pool())
    .await
    .unwrap();
    let a_fill = a
        .fill
        .clone()
        .with("incident_id", incident)
        .with("review_id", review);
    let a_ids: Vec<String> = a_fill.ids.values().cloned().collect();
    let mut failures = Failures::default();
    let mut cells = 0;
    let mut cases = Vec::new();
    // Act / Assert: the other provider, with the ids of a's case.
    for rpc in rpc::rpcs() {
        let roles = allowed(&rpc.name()).unwrap_or_default();
        for role in [Role::ProviderRepresentative, Role::ResponsibleBody] {
            let mut fill = a_fill.clone();
            fill.provider = b.provider.clone();
            let request = rpc::well_formed(&rpc, &fill);
            let metadata = Stack::authorization(&stack.token_for(role, &b.provider));
            if rpc.method.name().starts_with("List") && roles.contains(&role) {
                cells += 1;
                let result = stack
                    .call_bytes(&rpc, rpc::encode(&request), metadata)
                    .await;
                let leaked = result.as_ref().ok().and_then(|bytes| {
                    let text = String::from_utf8_lossy(bytes).into_owned();
                    a_ids.iter().find(|id| text.contains(id.as_str())).cloned()
                });
                failures.check(code(&result) == Code::Ok && leaked.is_none(), || {
                    format!(
                        "{} as {role} of b: {:?}, a's {leaked:?}",
                        rpc.name(),
                        code(&result)
                    )
                });
                continue;
            }
            cases.push(Case {
                name: format!("as {role} of the other provider"),
                rpc: rpc.clone(),
                body: rpc::encode(&request),
                metadata,
                want: &[Code::NotFound, Code::PermissionDenied],
                field: None,
                not_named: None,
                before_the_server: false,
            });
        }
    }
    // The owner itself sees its case, so the refusals above are about the provider.
    for name in [
        "Inspections.GetInspectionCase",
        "Inspections.GetConcern",
        "Complaints.GetComplaint",
        "Escalations.GetEscalation",
    ] {
        cells += 1;
        let rpc = rpc::rpc(name);
        let request = rpc::well_formed(&rpc, &a.fill);
        let metadata =
            Stack::authorization(&stack.token_for(Role::ProviderRepresentative, &a.provider));
        let result = stack
            .call_bytes(&rpc, rpc::encode(&request), metadata)
            .await;
        failures.check(result.is_ok(), || {
            format!("{name} as a's representative: {result:?}")
        });
    }
    failures.assert_none(cells);
    stack.run(cases).await;
}

#[tokio::test]
async fn a_repeated_command_answers_the_same_bytes_and_another_payload_under_its_key_is_refused() {
    // Arrange
    let stack = Stack::start().await;
    let (a, _) = two_providers(&stack).await;
    let commands = [
        (
            "Inspections.RecordInspectionNotified",
            Role::InspectionSystem,
            "lead_inspector_ref",
            Fill::new(),
        ),
        (
            "Escalations.RecordImplementation",
            Role::RecommendationOwner,
            "evidence_ref",
            a.fill.clone(),
        ),
        (
            "LearningReviews.ReportIncident",
            Role::Hmci,
            "account_ref",
            Fill::new(),
        ),
    ];
    let mut failures = Failures::default();
    for (name, role, field, fill) in &commands {
        let rpc = rpc::rpc(name);
        let mut request = rpc::well_formed(&rpc, fill);
        let metadata = || Stack::authorization(&stack.token_for(*role, &a.provider));
        // Act
        let first = stack
            .call_bytes(&rpc, rpc::encode(&request), metadata())
            .await;
        let written = stack.caller_events().await;
        let again = stack
            .call_bytes(&rpc, rpc::encode(&request), metadata())
            .await;
        set(
            &mut request,
            field,
            Value::String("doc:a-different-payload".into()),
        );
        let other = stack
            .call_bytes(&rpc, rpc::encode(&request), metadata())
            .await;
        // Assert
        failures.check(first.is_ok(), || {
            format!("{name}: the first call {first:?}")
        });
        let replayed = first.as_ref().ok().map(|bytes| replay_of(&rpc, bytes));
        failures.check(again.as_ref().ok() == replayed.as_ref(), || {
            format!("{name}: the repeat answered {again:?}, not {first:?} marked replayed")
        });
        failures.check(code(&other) == Code::FailedPrecondition, || {
            format!("{name}: another payload under the key answered {other:?}")
        });
        let after = stack.caller_events().await;
        failures.check(after == written, || {
            format!("{name}: events {written:?} → {after:?}")
        });
    }
    stack.assert_alive("idempotency").await;
    failures.assert_none(commands.len());
}
