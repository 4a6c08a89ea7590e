//! Handling a concern: leaving it unresolved with advice, flagging a wellbeing risk, closing it.

use platform::grpc::Role;
use proto::complaints::v1;

use crate::helpers::{Api, reason};

async fn assigned_concern(api: &mut Api) -> String {
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-06-12T09:30:00+01:00");
    let concern_id = api
        .client
        .raise_concern(api.raise(
            Role::ResponsibleBody,
            id,
            v1::ConcernChannel::DayAfterContact,
            "raise-1",
        ))
        .await
        .expect("raised")
        .into_inner()
        .concern_id;
    api.client
        .assign_concern(api.as_role(
            Role::SeniorInspector,
            v1::AssignConcernRequest {
                request_id: "assign-1".into(),
                concern_id: concern_id.clone(),
            },
        ))
        .await
        .expect("assigned");
    concern_id
}

#[tokio::test]
async fn an_unresolved_concern_records_the_advice_and_a_flagged_risk() {
    // Arrange
    let mut api = Api::spawn().await;
    let concern_id = assigned_concern(&mut api).await;

    // Act
    let flagged = api
        .client
        .flag_wellbeing_risk(api.as_role(
            Role::DutyDesk,
            v1::FlagWellbeingRiskRequest {
                request_id: "flag-1".into(),
                concern_id: concern_id.clone(),
            },
        ))
        .await;
    let left = api
        .client
        .leave_concern_unresolved(api.as_role(
            Role::SeniorInspector,
            v1::LeaveConcernUnresolvedRequest {
                request_id: "leave-1".into(),
                concern_id: concern_id.clone(),
                advice: v1::Redirect::FormalComplaintAtDraft as i32,
                summary: "The provider disagrees with the likely outcome.".into(),
            },
        ))
        .await;
    api.app.settle().await;

    // Assert
    assert!(flagged.is_ok(), "{flagged:?}");
    assert!(left.is_ok(), "{left:?}");
    let view = api
        .client
        .get_concern(api.as_role(
            Role::ResponsibleBody,
            v1::GetConcernRequest {
                concern_id,
                consistency: None,
            },
        ))
        .await
        .expect("readable")
        .into_inner();
    assert_eq!(view.status, v1::ConcernStatus::LeftUnresolved as i32);
    assert_eq!(view.advice, v1::Redirect::FormalComplaintAtDraft as i32);
    assert!(view.wellbeing_risk_flagged);
    assert!(view.closed_at.is_some());
}

#[tokio::test]
async fn an_unassigned_day_after_concern_cannot_be_resolved_and_nothing_reaches_the_vault() {
    // Arrange
    let mut api = Api::spawn().await;
    let (_, concern_id) = api.raised_concern().await;
    let before = api.event_count().await;
    let vault_before: i64 = sqlx::query_scalar("SELECT count(*) FROM vault_records")
        .fetch_one(api.app.db_pool())
        .await
        .expect("readable");

    // Act
    let refused = api
        .client
        .resolve_concern(api.as_role(
            Role::SeniorInspector,
            v1::ResolveConcernRequest {
                request_id: "resolve-1".into(),
                concern_id,
                summary: "Resolved on the phone.".into(),
            },
        ))
        .await
        .expect_err("needs a handler first");

    // Assert
    assert_eq!(reason(&refused), "NOT_ASSIGNED");
    assert_eq!(api.event_count().await, before);
    let vault_after: i64 = sqlx::query_scalar("SELECT count(*) FROM vault_records")
        .fetch_one(api.app.db_pool())
        .await
        .expect("readable");
    assert_eq!(vault_after, vault_before);
}

#[tokio::test]
async fn a_provider_withdraws_its_open_concern() {
    // Arrange
    let mut api = Api::spawn().await;
    let concern_id = assigned_concern(&mut api).await;

    // Act
    let withdrawn = api
        .client
        .withdraw_concern(api.as_role(
            Role::ResponsibleBody,
            v1::WithdrawConcernRequest {
                request_id: "withdraw-1".into(),
                concern_id: concern_id.clone(),
            },
        ))
        .await;
    api.app.settle().await;

    // Assert
    assert!(withdrawn.is_ok(), "{withdrawn:?}");
    let view = api
        .client
        .get_concern(api.as_role(
            Role::Auditor,
            v1::GetConcernRequest {
                concern_id,
                consistency: None,
            },
        ))
        .await
        .expect("readable")
        .into_inner();
    assert_eq!(view.status, v1::ConcernStatus::Withdrawn as i32);
}

#[tokio::test]
async fn only_the_senior_inspector_handling_a_concern_may_close_it() {
    // Arrange: SI `test:senior_inspector` took the concern; another senior inspector tries.
    let mut api = Api::spawn().await;
    let concern_id = assigned_concern(&mut api).await;
    let other = api.app.token_for("staff:SI-4", Role::SeniorInspector, None);
    let events_before: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(api.app.db_pool())
        .await
        .expect("count");

    // Act
    let resolved = api
        .client
        .resolve_concern(api.with_token(
            &other,
            v1::ResolveConcernRequest {
                request_id: "resolve-other".into(),
                concern_id: concern_id.clone(),
                summary: "Not mine to close.".into(),
            },
        ))
        .await;
    let left = api
        .client
        .leave_concern_unresolved(api.with_token(
            &other,
            v1::LeaveConcernUnresolvedRequest {
                request_id: "leave-other".into(),
                concern_id: concern_id.clone(),
                advice: v1::Redirect::FormalComplaintAtDraft as i32,
                summary: "Not mine to close.".into(),
            },
        ))
        .await;

    // Assert
    for result in [resolved.map(|_| ()), left.map(|_| ())] {
        let status = result.expect_err("another senior inspector was allowed to close it");
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert_eq!(reason(&status), "NOT_THE_HANDLER");
    }
    let events_after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(api.app.db_pool())
        .await
        .expect("count");
    assert_eq!(
        events_after, events_before,
        "a refused close writes no event"
    );
}
