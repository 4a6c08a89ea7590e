//! Pauses, the pause register and the pause-limit timer: scenario S12.

use platform::grpc::Role;
use proto::complaints::v1;
use uuid::Uuid;

use crate::helpers::{Api, ts};

/// A school inspection on site from Tue 11 March 2025, paused by the lead at 10:00 that day after
/// consulting the regional duty desk.
async fn paused_school_inspection(api: &mut Api) -> Uuid {
    api.set_now("2025-03-11T08:00:00Z");
    let id = api.notified("2025-03-11").await;
    api.on_site_started(id, "2025-03-11T08:00:00Z").await;
    api.set_now("2025-03-11T10:00:00Z");
    let pause = api.as_role(Role::LeadInspector, pause_request(id));
    api.client.pause_inspection(pause).await.expect("paused");
    id
}

pub(crate) fn pause_request(id: Uuid) -> v1::PauseInspectionRequest {
    v1::PauseInspectionRequest {
        request_id: format!("pause-{id}"),
        inspection_id: id.to_string(),
        initiated_by: v1::PauseInitiator::LeadInspector as i32,
        reason: v1::PauseReason::LeaderWellbeing as i32,
        duty_desk: v1::DutyDesk::Regional as i32,
        consultation_ref: "DD-2025-0311-7".into(),
        consulted_at: ts("2025-03-11T09:45:00Z"),
        planned_resume_on: String::new(),
        occurred_at: ts("2025-03-11T10:00:00Z"),
    }
}

async fn register(api: &mut Api, id: Uuid) -> Vec<v1::PauseRecord> {
    api.client
        .list_pauses(api.as_role(
            Role::DutyDesk,
            v1::ListPausesRequest {
                inspection_id: id.to_string(),
                page_size: 0,
                page_token: String::new(),
                consistency: None,
            },
        ))
        .await
        .expect("the register is readable")
        .into_inner()
        .pauses
}

#[tokio::test]
async fn a_pause_not_resumed_by_the_end_of_the_fifth_working_day_is_deemed_incomplete_by_the_timer()
{
    // Arrange
    let mut api = Api::spawn().await;
    let id = paused_school_inspection(&mut api).await;

    // Act: the last instant of Tue 18 March is still within the limit; the next one is not.
    api.set_now("2025-03-18T23:59:59Z");
    api.app.settle().await;
    let within_limit = api.event_types().await;
    api.set_now("2025-03-19T00:00:01Z");
    api.app.settle().await;

    // Assert
    assert!(!within_limit.contains(&"InspectionDeemedIncomplete".to_owned()));
    let types = api.event_types().await;
    assert!(types.contains(&"DutyDeskConsulted".to_owned()), "{types:?}");
    assert!(types.contains(&"InspectionPaused".to_owned()), "{types:?}");
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "InspectionDeemedIncomplete")
            .count(),
        1,
        "{types:?}"
    );
    let pauses = register(&mut api, id).await;
    assert_eq!(pauses.len(), 1);
    let pause = &pauses[0];
    assert_eq!(pause.initiated_by, v1::PauseInitiator::LeadInspector as i32);
    assert_eq!(pause.recorded_by_ref, "test:lead_inspector");
    assert_eq!(pause.reason, v1::PauseReason::LeaderWellbeing as i32);
    assert_eq!(pause.duty_desk, v1::DutyDesk::Regional as i32);
    assert_eq!(pause.consultation_ref, "DD-2025-0311-7");
    assert_eq!(pause.pause_limit_working_days, 5);
    assert_eq!(pause.duration_working_days, 5);
    assert_eq!(pause.outcome, v1::PauseOutcome::DeemedIncomplete as i32);
    let route = api
        .client
        .get_day_after_route(api.provider(v1::GetDayAfterRouteRequest {
            inspection_id: id.to_string(),
            consistency: None,
        }))
        .await
        .expect("readable")
        .into_inner();
    assert!(route.opens_at.is_none());
    assert!(!route.open_now);
    let case = api
        .client
        .get_inspection_case(api.provider(v1::GetInspectionCaseRequest {
            inspection_id: id.to_string(),
            consistency: None,
        }))
        .await
        .expect("readable")
        .into_inner();
    assert_eq!(case.stage, v1::InspectionCaseStage::Incomplete as i32);
}

#[tokio::test]
async fn a_resumed_pause_cancels_the_timer_and_the_register_shows_it_resumed() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = paused_school_inspection(&mut api).await;
    api.set_now("2025-03-12T09:00:00Z");
    let resume = api.as_role(
        Role::LeadInspector,
        v1::ResumeInspectionRequest {
            request_id: "resume-1".into(),
            inspection_id: id.to_string(),
            occurred_at: ts("2025-03-12T09:00:00Z"),
        },
    );
    api.client.resume_inspection(resume).await.expect("resumed");

    // Act
    api.set_now("2025-03-25T09:00:00Z");
    api.app.settle().await;

    // Assert
    let types = api.event_types().await;
    assert!(
        !types.contains(&"InspectionDeemedIncomplete".to_owned()),
        "{types:?}"
    );
    let pauses = register(&mut api, id).await;
    assert_eq!(pauses[0].outcome, v1::PauseOutcome::Resumed as i32);
    assert_eq!(pauses[0].duration_working_days, 1);
}

#[tokio::test]
async fn resuming_an_inspection_that_is_not_paused_is_refused() {
    // Arrange
    let mut api = Api::spawn().await;
    api.set_now("2025-03-11T08:00:00Z");
    let id = api.notified("2025-03-11").await;
    api.on_site_started(id, "2025-03-11T08:00:00Z").await;
    let before = api.event_count().await;

    // Act
    let refused = api
        .client
        .resume_inspection(api.as_role(
            Role::LeadInspector,
            v1::ResumeInspectionRequest {
                request_id: "resume-1".into(),
                inspection_id: id.to_string(),
                occurred_at: ts("2025-03-11T08:00:00Z"),
            },
        ))
        .await
        .expect_err("not paused");

    // Assert
    assert_eq!(crate::helpers::reason(&refused), "NOT_PAUSED");
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn the_pause_register_pages_newest_first() {
    // Arrange: two paused inspections.
    let mut api = Api::spawn().await;
    let first = paused_school_inspection(&mut api).await;
    let second = paused_school_inspection(&mut api).await;
    api.app.settle().await;

    // Act
    let page = |token: String| {
        api.as_role(
            Role::Auditor,
            v1::ListPausesRequest {
                inspection_id: String::new(),
                page_size: 1,
                page_token: token,
                consistency: None,
            },
        )
    };
    let one = api
        .client
        .clone()
        .list_pauses(page(String::new()))
        .await
        .expect("page 1")
        .into_inner();
    let two = api
        .client
        .clone()
        .list_pauses(page(one.next_page_token.clone()))
        .await
        .expect("page 2")
        .into_inner();

    // Assert: same paused_at, so ordered by inspection id descending (v7 ids grow).
    assert_eq!(one.pauses.len(), 1);
    assert_eq!(one.pauses[0].inspection_id, second.to_string());
    assert!(!one.next_page_token.is_empty());
    assert_eq!(two.pauses.len(), 1);
    assert_eq!(two.pauses[0].inspection_id, first.to_string());
    assert!(two.next_page_token.is_empty());
}
