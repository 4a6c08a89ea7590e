//! Inspection facts the partner system and the team report, and the refusals of their rules.

use prost::Message as _;
use proto::complaints::v1;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{Api, notification, reason, ts};

async fn vault_records(api: &Api) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM vault_records")
        .fetch_one(api.app.db_pool())
        .await
        .expect("the vault is readable")
}

fn contact(id: Uuid) -> v1::RecordWellbeingContactRequest {
    v1::RecordWellbeingContactRequest {
        request_id: format!("contact-{id}"),
        inspection_id: id.to_string(),
        kind: v1::WellbeingContactKind::ResponsibleForLeadersWellbeing as i32,
        name: "Sam Example".into(),
        phone: "+44 20 7946 0000".into(),
        email: "sam@example.org".into(),
    }
}

#[tokio::test]
async fn a_wellbeing_contact_goes_to_the_vault_and_the_event_carries_only_its_reference() {
    // Arrange
    let mut api = Api::spawn().await;
    api.set_now("2025-03-04T09:00:00Z");
    let id = api.notified("2025-03-11").await;

    // Act
    let recorded = api
        .client
        .record_wellbeing_contact(api.system(contact(id)))
        .await;

    // Assert
    assert!(recorded.is_ok(), "{recorded:?}");
    let payload: Vec<u8> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE event_type = 'redress.complaints.v1.WellbeingContactRecorded'",
    )
    .fetch_one(api.app.db_pool())
    .await
    .expect("the event is stored");
    let event = v1::WellbeingContactRecorded::decode(payload.as_slice()).expect("decodes");
    let vault_ref: Uuid = event.vault_ref.parse().expect("a UUID reference");
    let record = api
        .app
        .context
        .vault
        .get(vault_ref)
        .await
        .expect("in the vault");
    assert!(String::from_utf8_lossy(&record.plaintext).contains("Sam Example"));
    assert!(!String::from_utf8_lossy(&payload).contains("Sam"));
    assert_eq!(vault_records(&api).await, 1);
}

#[tokio::test]
async fn a_wellbeing_contact_for_an_unknown_inspection_is_refused_and_nothing_reaches_the_vault() {
    // Arrange
    let mut api = Api::spawn().await;

    // Act
    let refused = api
        .client
        .record_wellbeing_contact(api.system(contact(Uuid::now_v7())))
        .await
        .expect_err("not notified");

    // Assert
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "NOT_NOTIFIED");
    assert_eq!(vault_records(&api).await, 0);
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn an_inspection_is_deferred_before_on_site_work_but_not_after() {
    // Arrange
    let mut api = Api::spawn().await;
    api.set_now("2025-03-04T09:00:00Z");
    let id = api.notified("2025-03-11").await;
    let defer = |request_id: &str| v1::RecordDeferralRequest {
        request_id: request_id.into(),
        inspection_id: id.to_string(),
        reason: v1::DeferralReason::RecentMajorIncident as i32,
        on_site_starts_on: "2025-03-18".into(),
        occurred_at: ts("2025-03-04T09:00:00Z"),
    };

    // Act
    let deferred = api
        .client
        .clone()
        .record_deferral(api.system(defer("defer-1")))
        .await;
    api.set_now("2025-03-18T08:00:00Z");
    api.on_site_started(id, "2025-03-18T08:00:00Z").await;
    let late = api
        .client
        .clone()
        .record_deferral(api.system(defer("defer-2")))
        .await
        .expect_err("on site already");

    // Assert
    assert!(deferred.is_ok(), "{deferred:?}");
    assert_eq!(reason(&late), "ON_SITE_ALREADY_STARTED");
}

#[tokio::test]
async fn notifying_an_inspection_twice_is_refused_and_writes_nothing() {
    // Arrange
    let mut api = Api::spawn().await;
    api.set_now("2025-03-04T09:00:00Z");
    let id = api.notified("2025-03-11").await;
    let before = api.event_count().await;

    // Act
    let again = api
        .client
        .record_inspection_notified(api.system(notification(
            "notify-again",
            &id.to_string(),
            "2025-03-11",
            "2025-03-04T09:00:00Z",
        )))
        .await
        .expect_err("already notified");

    // Assert
    assert_eq!(reason(&again), "ALREADY_NOTIFIED");
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn notifying_an_inspection_under_a_concern_id_is_refused_and_writes_nothing() {
    // Arrange
    let mut api = Api::spawn().await;
    let (_, concern_id) = api.raised_concern().await;
    let before = api.event_count().await;

    // Act
    let notified = api
        .client
        .record_inspection_notified(api.system(notification(
            "notify-concern",
            &concern_id,
            "2025-06-19",
            "2025-06-12T08:00:00Z",
        )))
        .await
        .expect_err("not an inspection");

    // Assert
    assert_eq!(notified.code(), Code::NotFound);
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn starting_an_unknown_inspection_is_refused_and_a_concern_id_is_not_an_inspection() {
    // Arrange
    let mut api = Api::spawn().await;
    let (_, concern_id) = api.raised_concern().await;
    let before = api.event_count().await;

    // Act
    let unknown = api
        .client
        .record_on_site_started(api.system(v1::RecordOnSiteStartedRequest {
            request_id: "start-unknown".into(),
            inspection_id: Uuid::now_v7().to_string(),
            occurred_at: ts("2025-06-12T08:00:00Z"),
        }))
        .await
        .expect_err("not notified");
    let concern = api
        .client
        .record_on_site_started(api.system(v1::RecordOnSiteStartedRequest {
            request_id: "start-concern".into(),
            inspection_id: concern_id,
            occurred_at: ts("2025-06-12T08:00:00Z"),
        }))
        .await
        .expect_err("not an inspection");

    // Assert
    assert_eq!(reason(&unknown), "NOT_NOTIFIED");
    assert_eq!(concern.code(), Code::NotFound);
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn factual_accuracy_points_need_a_draft_report() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    let points = |request_id: &str| v1::RecordFactualAccuracyPointsRequest {
        request_id: request_id.into(),
        inspection_id: id.to_string(),
        doc_ref: "doc:points-1".into(),
        occurred_at: ts("2025-06-11T17:00:00Z"),
    };

    // Act
    let early = api
        .client
        .clone()
        .record_factual_accuracy_points(api.system(points("points-1")))
        .await
        .expect_err("no draft yet");
    api.client
        .issue_draft_report(api.system(v1::IssueDraftReportRequest {
            request_id: "draft-1".into(),
            inspection_id: id.to_string(),
            doc_ref: "doc:draft-1".into(),
            occurred_at: ts("2025-06-11T17:00:00Z"),
        }))
        .await
        .expect("draft issued");
    let recorded = api
        .client
        .clone()
        .record_factual_accuracy_points(api.system(points("points-2")))
        .await;

    // Assert
    assert_eq!(reason(&early), "NO_DRAFT_REPORT");
    assert!(recorded.is_ok(), "{recorded:?}");
}

#[tokio::test]
async fn a_late_report_needs_an_explanation_which_the_gate_then_shows_given() {
    // Arrange: on site 10–11 June 2025; publication is expected within 30 working days.
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    let explain = |api: &Api, request_id: &str| {
        api.system(v1::RecordPublicationDelayExplanationRequest {
            request_id: request_id.into(),
            inspection_id: id.to_string(),
            reason: v1::PublicationDelayReason::QualityAssurance as i32,
            text_ref: "doc:explanation-1".into(),
            occurred_at: ts("2025-08-01T09:00:00Z"),
        })
    };

    // Act
    api.set_now("2025-08-01T09:00:00Z");
    api.app.settle().await;
    let explained = api
        .client
        .clone()
        .record_publication_delay_explanation(explain(&api, "explain-1"))
        .await;
    api.app.settle().await;

    // Assert
    assert!(
        api.event_types()
            .await
            .contains(&"PublicationDelayExplanationDue".to_owned())
    );
    assert!(explained.is_ok(), "{explained:?}");
    let gate = api
        .client
        .get_publication_gate(api.provider(v1::GetPublicationGateRequest {
            inspection_id: id.to_string(),
            consistency: None,
        }))
        .await
        .expect("readable")
        .into_inner();
    assert!(gate.publication_expected_by.is_some());
    assert!(gate.explanation_due_since.is_some());
    assert!(gate.explained_at.is_some());
}

#[tokio::test]
async fn a_delay_explanation_before_on_site_work_ends_is_refused() {
    // Arrange
    let mut api = Api::spawn().await;
    api.set_now("2025-06-10T08:00:00Z");
    let id = api.notified("2025-06-10").await;
    api.on_site_started(id, "2025-06-10T08:00:00Z").await;
    let before = api.event_count().await;

    // Act
    let refused = api
        .client
        .record_publication_delay_explanation(api.system(
            v1::RecordPublicationDelayExplanationRequest {
                request_id: "explain-1".into(),
                inspection_id: id.to_string(),
                reason: v1::PublicationDelayReason::Other as i32,
                text_ref: "doc:explanation-1".into(),
                occurred_at: ts("2025-06-10T08:00:00Z"),
            },
        ))
        .await
        .expect_err("nothing to explain yet");

    // Assert
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(!reason(&refused).is_empty());
    assert_eq!(api.event_count().await, before);
}
