//! Concerns and the day-after route: scenarios S1, S2 (the concern part) and S3.

use platform::grpc::Role;
use prost::Message as _;
use proto::complaints::v1;
use tonic::Code;

use crate::helpers::{Api, metadata, reason};

#[tokio::test]
async fn a_day_after_concern_the_morning_after_the_visit_is_raised_assigned_and_holds_nothing() {
    // Arrange: on site Tue 10 and Wed 11 June 2025.
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-06-12T09:30:00+01:00");

    // Act
    let raised = api
        .client
        .raise_concern(api.raise(
            Role::ProviderRepresentative,
            id,
            v1::ConcernChannel::DayAfterContact,
            "raise-1",
        ))
        .await
        .expect("the concern is accepted")
        .into_inner();
    let assign = api.as_role(
        Role::SeniorInspector,
        v1::AssignConcernRequest {
            request_id: "assign-1".into(),
            concern_id: raised.concern_id.clone(),
        },
    );
    api.client
        .assign_concern(assign)
        .await
        .expect("the senior inspector takes it");
    api.app.settle().await;

    // Assert
    let types = api.event_types().await;
    assert!(types.contains(&"ConcernRaised".to_owned()), "{types:?}");
    assert!(types.contains(&"ConcernAssigned".to_owned()), "{types:?}");
    assert!(
        !types.contains(&"PublicationHoldPlaced".to_owned()),
        "{types:?}"
    );
    let route = api
        .client
        .get_day_after_route(api.as_role(
            Role::SeniorInspector,
            v1::GetDayAfterRouteRequest {
                inspection_id: id.to_string(),
                consistency: None,
            },
        ))
        .await
        .expect("the route is readable")
        .into_inner();
    assert!(route.open_now);
    assert_eq!(route.last_onsite_date, "2025-06-11");
    assert_eq!(route.open_concern_ids, vec![raised.concern_id.clone()]);
    assert_eq!(route.handler_ref, "test:senior_inspector");
    let gate = api
        .client
        .get_publication_gate(api.provider(v1::GetPublicationGateRequest {
            inspection_id: id.to_string(),
            consistency: None,
        }))
        .await
        .expect("the gate is readable")
        .into_inner();
    assert!(gate.holds.is_empty());
}

#[tokio::test]
async fn a_day_after_concern_on_the_last_on_site_day_is_too_early_and_points_to_the_helpline() {
    // Arrange: on site, Wed 11 June 2025 is the last on-site day.
    let mut api = Api::spawn().await;
    api.set_now("2025-06-10T08:00:00Z");
    let id = api.notified("2025-06-10").await;
    api.on_site_started(id, "2025-06-10T08:00:00Z").await;
    api.set_now("2025-06-11T16:00:00+01:00");

    // Act
    let refused = api
        .client
        .raise_concern(api.raise(
            Role::ProviderRepresentative,
            id,
            v1::ConcernChannel::DayAfterContact,
            "raise-1",
        ))
        .await
        .expect_err("too early");
    let helpline = api
        .client
        .raise_concern(api.raise(
            Role::ProviderRepresentative,
            id,
            v1::ConcernChannel::DuringInspectionHelpline,
            "raise-2",
        ))
        .await;

    // Assert
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "TOO_EARLY");
    assert_eq!(
        metadata(&refused, "redirect").as_deref(),
        Some("REDIRECT_DURING_INSPECTION_HELPLINE")
    );
    assert!(
        refused
            .message()
            .contains("REDIRECT_DURING_INSPECTION_HELPLINE")
    );
    assert!(helpline.is_ok(), "{helpline:?}");
    let types = api.event_types().await;
    assert_eq!(
        types.iter().filter(|t| *t == "ConcernRejected").count(),
        1,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "ConcernRaised").count(),
        1,
        "{types:?}"
    );
}

#[tokio::test]
async fn the_day_after_window_skips_the_may_bank_holiday_and_the_refusal_records_the_calendar() {
    // Arrange: last on-site day Fri 2 May 2025; Mon 5 May is a bank holiday.
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-05-01", "2025-05-02").await;

    // Act
    api.set_now("2025-05-05T10:00:00+01:00");
    let monday = api
        .client
        .raise_concern(api.raise(
            Role::ProviderRepresentative,
            id,
            v1::ConcernChannel::DayAfterContact,
            "mon",
        ))
        .await
        .expect_err("the window has not opened");
    api.set_now("2025-05-06T09:00:00+01:00");
    let tuesday = api
        .client
        .raise_concern(api.raise(
            Role::ProviderRepresentative,
            id,
            v1::ConcernChannel::DayAfterContact,
            "tue",
        ))
        .await;

    // Assert
    assert_eq!(reason(&monday), "TOO_EARLY");
    assert_eq!(
        metadata(&monday, "opens_at").as_deref(),
        Some("2025-05-05T23:00:00Z"),
        "the window opens at 00:00 on Tue 6 May, London time"
    );
    assert!(tuesday.is_ok(), "{tuesday:?}");
    let payload: Vec<u8> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE event_type = 'redress.complaints.v1.ConcernRejected'",
    )
    .fetch_one(api.app.context.store.pool())
    .await
    .expect("the refusal is in the intake log");
    let record = v1::ConcernRejected::decode(payload.as_slice()).expect("a ConcernRejected");
    assert_eq!(record.calendar_version, api.app.context.calendar.version());
    assert_eq!(record.reason, v1::RejectionReason::TooEarly as i32);
}

#[tokio::test]
async fn a_senior_inspector_on_the_inspection_team_cannot_take_its_concern() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-06-12T09:30:00+01:00");
    let raised = api
        .client
        .raise_concern(api.raise(
            Role::ProviderRepresentative,
            id,
            v1::ConcernChannel::DayAfterContact,
            "raise-1",
        ))
        .await
        .expect("accepted")
        .into_inner();
    let before = api.event_count().await;

    // Act
    let token = api
        .app
        .token_for(crate::helpers::TEAM, Role::SeniorInspector, None);
    let refused = api
        .client
        .assign_concern(api.with_token(
            &token,
            v1::AssignConcernRequest {
                request_id: "assign-1".into(),
                concern_id: raised.concern_id,
            },
        ))
        .await
        .expect_err("connected to the inspection");

    // Assert
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "HANDLER_ON_INSPECTION_TEAM");
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn a_retried_refused_concern_gets_the_same_refusal_and_is_logged_once() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-05-01", "2025-05-02").await;
    api.set_now("2025-05-05T10:00:00+01:00");
    let first = api
        .client
        .raise_concern(api.raise(
            Role::ProviderRepresentative,
            id,
            v1::ConcernChannel::DayAfterContact,
            "same",
        ))
        .await
        .expect_err("too early");
    let before = api.event_count().await;

    // Act: the retry comes when the window is open, but it is the same request.
    api.set_now("2025-05-06T09:00:00+01:00");
    let retry = api
        .client
        .raise_concern(api.raise(
            Role::ProviderRepresentative,
            id,
            v1::ConcernChannel::DayAfterContact,
            "same",
        ))
        .await
        .expect_err("the recorded answer");

    // Assert
    assert_eq!(reason(&retry), reason(&first));
    assert_eq!(metadata(&retry, "redirect"), metadata(&first, "redirect"));
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn a_concern_is_resolved_by_its_handler_and_withdrawing_it_afterwards_is_refused() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-06-12T09:30:00+01:00");
    let concern_id = api
        .client
        .raise_concern(api.raise(
            Role::ProviderRepresentative,
            id,
            v1::ConcernChannel::DayAfterContact,
            "raise-1",
        ))
        .await
        .expect("accepted")
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

    // Act
    let resolved = api
        .client
        .resolve_concern(api.as_role(
            Role::SeniorInspector,
            v1::ResolveConcernRequest {
                request_id: "resolve-1".into(),
                concern_id: concern_id.clone(),
                summary: "Talked it through; the evidence was considered.".into(),
            },
        ))
        .await;
    let withdrawn = api
        .client
        .withdraw_concern(api.provider(v1::WithdrawConcernRequest {
            request_id: "withdraw-1".into(),
            concern_id: concern_id.clone(),
        }))
        .await
        .expect_err("already resolved");
    api.app.settle().await;

    // Assert
    assert!(resolved.is_ok(), "{resolved:?}");
    assert_eq!(reason(&withdrawn), "CONCERN_CLOSED");
    let view = api
        .client
        .get_concern(api.provider(v1::GetConcernRequest {
            concern_id,
            consistency: None,
        }))
        .await
        .expect("readable")
        .into_inner();
    assert_eq!(view.status, v1::ConcernStatus::Resolved as i32);
    assert_eq!(view.handler_ref, "test:senior_inspector");
}

#[tokio::test]
async fn a_lead_inspector_records_only_concerns_raised_to_them_on_site() {
    // Arrange
    let mut api = Api::spawn().await;
    api.set_now("2025-06-10T08:00:00Z");
    let id = api.notified("2025-06-10").await;
    api.on_site_started(id, "2025-06-10T08:00:00Z").await;
    api.set_now("2025-06-10T12:00:00Z");
    let before = api.event_count().await;

    // Act
    let helpline = api
        .client
        .raise_concern(api.raise(
            Role::LeadInspector,
            id,
            v1::ConcernChannel::DuringInspectionHelpline,
            "r-1",
        ))
        .await
        .expect_err("not the lead's channel");
    let on_site = api
        .client
        .raise_concern(api.raise(
            Role::LeadInspector,
            id,
            v1::ConcernChannel::OnSiteLeadInspector,
            "r-2",
        ))
        .await;

    // Assert
    assert_eq!(helpline.code(), Code::PermissionDenied);
    assert!(on_site.is_ok(), "{on_site:?}");
    assert_eq!(api.event_count().await, before + 1);
}

#[tokio::test]
async fn a_day_after_concern_after_the_window_closed_is_pointed_to_a_formal_complaint() {
    // Arrange: the window was Thu 12 June 2025.
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-06-13T09:00:00+01:00");

    // Act
    let refused = api
        .client
        .raise_concern(api.raise(
            Role::ProviderRepresentative,
            id,
            v1::ConcernChannel::DayAfterContact,
            "late",
        ))
        .await
        .expect_err("the window closed");

    // Assert
    assert_eq!(reason(&refused), "WINDOW_CLOSED");
    assert_eq!(
        metadata(&refused, "redirect").as_deref(),
        Some("REDIRECT_FORMAL_COMPLAINT_AT_DRAFT")
    );
    assert_eq!(
        metadata(&refused, "closed_at").as_deref(),
        Some("2025-06-12T22:59:59.999999999Z")
    );
}

#[tokio::test]
async fn a_helpline_concern_after_on_site_work_ended_is_pointed_to_the_day_after_contact() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-06-11T18:00:00+01:00");
    let before = api.event_count().await;

    // Act
    let refused = api
        .client
        .raise_concern(api.raise(
            Role::ProviderRepresentative,
            id,
            v1::ConcernChannel::DuringInspectionHelpline,
            "helpline",
        ))
        .await
        .expect_err("the inspection has ended");

    // Assert
    assert_eq!(reason(&refused), "NOT_DURING_INSPECTION");
    assert_eq!(
        metadata(&refused, "redirect").as_deref(),
        Some("REDIRECT_DAY_AFTER_CONTACT")
    );
    assert_eq!(
        api.event_count().await,
        before + 1,
        "only the intake record"
    );
}
