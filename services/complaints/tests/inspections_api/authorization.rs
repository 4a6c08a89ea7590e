//! Authorization: no token, wrong roles and other providers. None of them writes an event.

use platform::grpc::Role;
use proto::complaints::v1;
use tonic::{Code, Request};
use uuid::Uuid;

use crate::helpers::{Api, ts};

/// A token for a provider other than the test inspections'.
fn other_provider(api: &Api) -> String {
    api.app
        .token(Role::ProviderRepresentative, Some("provider-2"))
}

#[tokio::test]
async fn a_call_without_a_token_is_unauthenticated_and_writes_nothing() {
    // Arrange
    let mut api = Api::spawn().await;

    // Act
    let command = api
        .client
        .record_on_site_started(Request::new(v1::RecordOnSiteStartedRequest {
            request_id: "start-1".into(),
            inspection_id: Uuid::now_v7().to_string(),
            occurred_at: ts("2025-01-06T09:00:00Z"),
        }))
        .await
        .expect_err("no token");
    let query = api
        .client
        .get_inspection_case(Request::new(v1::GetInspectionCaseRequest {
            inspection_id: Uuid::now_v7().to_string(),
            consistency: None,
        }))
        .await
        .expect_err("no token");

    // Assert
    assert_eq!(command.code(), Code::Unauthenticated);
    assert_eq!(query.code(), Code::Unauthenticated);
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn roles_the_method_does_not_allow_are_denied_and_write_nothing() {
    // Arrange
    let mut api = Api::spawn().await;
    let (id, concern_id) = api.raised_concern().await;
    let before = api.event_count().await;

    // Act
    let provider_publishes = api
        .client
        .publish_report(api.provider(v1::PublishReportRequest {
            request_id: "publish-1".into(),
            inspection_id: id.to_string(),
            occurred_at: ts("2025-06-12T08:00:00Z"),
        }))
        .await
        .expect_err("not the partner system");
    let team_inspector_assigns = api
        .client
        .assign_concern(api.as_role(
            Role::TeamInspector,
            v1::AssignConcernRequest {
                request_id: "assign-1".into(),
                concern_id: concern_id.clone(),
            },
        ))
        .await
        .expect_err("not a senior inspector");
    let operator_reads = api
        .client
        .get_concern(api.as_role(
            Role::Operator,
            v1::GetConcernRequest {
                concern_id,
                consistency: None,
            },
        ))
        .await
        .expect_err("no business data for operators");

    // Assert
    assert_eq!(provider_publishes.code(), Code::PermissionDenied);
    assert_eq!(team_inspector_assigns.code(), Code::PermissionDenied);
    assert_eq!(operator_reads.code(), Code::PermissionDenied);
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn another_providers_inspection_is_not_found_and_nothing_is_written() {
    // Arrange
    let mut api = Api::spawn().await;
    let (id, concern_id) = api.raised_concern().await;
    api.app.settle().await;
    let before = api.event_count().await;
    let token = other_provider(&api);

    // Act
    let mut raise = api.raise(
        Role::ProviderRepresentative,
        id,
        v1::ConcernChannel::DayAfterContact,
        "raise-2",
    );
    raise
        .metadata_mut()
        .insert("authorization", token.parse().expect("a header"));
    let raised = api
        .client
        .raise_concern(raise)
        .await
        .expect_err("not theirs");
    let withdrawn = api
        .client
        .withdraw_concern(api.with_token(
            &token,
            v1::WithdrawConcernRequest {
                request_id: "withdraw-1".into(),
                concern_id: concern_id.clone(),
            },
        ))
        .await
        .expect_err("not theirs");
    let case = api
        .client
        .get_inspection_case(api.with_token(
            &token,
            v1::GetInspectionCaseRequest {
                inspection_id: id.to_string(),
                consistency: None,
            },
        ))
        .await
        .expect_err("not theirs");
    let concern = api
        .client
        .get_concern(api.with_token(
            &token,
            v1::GetConcernRequest {
                concern_id,
                consistency: None,
            },
        ))
        .await
        .expect_err("not theirs");
    let gate = api
        .client
        .get_publication_gate(api.with_token(
            &token,
            v1::GetPublicationGateRequest {
                inspection_id: id.to_string(),
                consistency: None,
            },
        ))
        .await
        .expect_err("not theirs");
    let route = api
        .client
        .get_day_after_route(api.with_token(
            &token,
            v1::GetDayAfterRouteRequest {
                inspection_id: id.to_string(),
                consistency: None,
            },
        ))
        .await
        .expect_err("not theirs");

    // Assert
    for status in [&raised, &withdrawn, &case, &concern, &gate, &route] {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn a_provider_sees_only_its_own_pauses() {
    // Arrange
    let mut api = Api::spawn().await;
    api.set_now("2025-03-11T08:00:00Z");
    let id = api.notified("2025-03-11").await;
    api.on_site_started(id, "2025-03-11T08:00:00Z").await;
    api.set_now("2025-03-11T10:00:00Z");
    api.client
        .pause_inspection(api.as_role(Role::LeadInspector, crate::pauses::pause_request(id)))
        .await
        .expect("paused");
    api.app.settle().await;
    let list = || v1::ListPausesRequest {
        inspection_id: String::new(),
        page_size: 0,
        page_token: String::new(),
        consistency: None,
    };

    // Act
    let own = api
        .client
        .clone()
        .list_pauses(api.provider(list()))
        .await
        .expect("listed")
        .into_inner();
    let token = other_provider(&api);
    let other = api
        .client
        .clone()
        .list_pauses(api.with_token(&token, list()))
        .await
        .expect("listed")
        .into_inner();

    // Assert
    assert_eq!(own.pauses.len(), 1);
    assert!(other.pauses.is_empty());
}

#[tokio::test]
async fn an_unknown_inspection_or_concern_is_not_found() {
    // Arrange
    let mut api = Api::spawn().await;

    // Act
    let case = api
        .client
        .get_inspection_case(api.system(v1::GetInspectionCaseRequest {
            inspection_id: Uuid::now_v7().to_string(),
            consistency: None,
        }))
        .await
        .expect_err("unknown");
    let assign = api
        .client
        .assign_concern(api.as_role(
            Role::SeniorInspector,
            v1::AssignConcernRequest {
                request_id: "assign-1".into(),
                concern_id: Uuid::now_v7().to_string(),
            },
        ))
        .await
        .expect_err("unknown");

    // Assert
    assert_eq!(case.code(), Code::NotFound);
    assert_eq!(assign.code(), Code::NotFound);
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn only_the_inspection_system_records_tribunal_appeals() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-07-01T10:00:00Z");
    let before = api.event_count().await;
    let mut cells = 0;

    // Act / Assert: every role against both RPCs; the allowed role's calls are about an appeal
    // that was never lodged (for the conclusion) and an unknown inspection (for the lodging), so
    // no call writes anything.
    for role in Role::ALL {
        let lodged = api
            .client
            .record_tribunal_appeal_lodged(api.as_role(
                role,
                crate::appeals::lodge(Uuid::now_v7(), "lodge-1", "2025-07-01T09:00:00Z"),
            ))
            .await
            .map(drop);
        let concluded = api
            .client
            .record_tribunal_appeal_concluded(api.as_role(
                role,
                crate::appeals::conclude(id, "conclude-1", "2025-07-01T09:30:00Z"),
            ))
            .await
            .map(drop);
        for (rpc, result) in [("lodged", lodged), ("concluded", concluded)] {
            let code = result.as_ref().err().map(tonic::Status::code);
            if role == Role::InspectionSystem {
                assert_eq!(
                    code,
                    Some(Code::FailedPrecondition),
                    "{rpc} admits {role}: {result:?}"
                );
            } else {
                assert_eq!(code, Some(Code::PermissionDenied), "{rpc} denies {role}");
            }
            cells += 1;
        }
    }
    assert_eq!(cells, 2 * Role::ALL.len());
    assert_eq!(api.event_count().await, before);
}
