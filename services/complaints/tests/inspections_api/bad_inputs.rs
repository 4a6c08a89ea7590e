//! Bad inputs: `INVALID_ARGUMENT` naming every bad field, and nothing written.

use platform::grpc::Role;
use proto::complaints::v1;
use tonic::Code;

use crate::helpers::{Api, ts, violated_fields};

const NIL: &str = "00000000-0000-0000-0000-000000000000";

fn sorted(mut fields: Vec<String>) -> Vec<String> {
    fields.sort();
    fields
}

#[tokio::test]
async fn a_notification_with_bad_fields_names_each_of_them_and_writes_nothing() {
    // Arrange
    let mut api = Api::spawn().await;
    api.set_now("2025-03-11T08:00:00Z");

    // Act
    let status = api
        .client
        .record_inspection_notified(api.system(v1::RecordInspectionNotifiedRequest {
            request_id: String::new(),
            inspection_id: "not-a-uuid".into(),
            provider_id: "provider\0one".into(),
            remit: 0,
            lead_inspector_ref: "x".repeat(129),
            team_inspector_refs: vec![String::new()],
            on_site_starts_on: "11/03/2025".into(),
            occurred_at: None,
        }))
        .await
        .expect_err("invalid");

    // Assert
    assert_eq!(
        sorted(violated_fields(&status)),
        vec![
            "inspection_id",
            "lead_inspector_ref",
            "occurred_at",
            "on_site_starts_on",
            "provider_id",
            "remit",
            "request_id",
            "team_inspector_refs[0]",
        ]
    );
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_fact_with_negative_nanos_is_invalid_and_writes_nothing() {
    // Arrange
    let mut api = Api::spawn().await;
    api.set_now("2025-03-11T08:00:00Z");
    let mut occurred_at = ts("2025-03-04T09:00:00Z").expect("a time");
    occurred_at.nanos = -1;

    // Act
    let status = api
        .client
        .record_inspection_notified(api.system(v1::RecordInspectionNotifiedRequest {
            request_id: "K1".into(),
            inspection_id: uuid::Uuid::now_v7().to_string(),
            provider_id: "URN-1".into(),
            remit: 1,
            lead_inspector_ref: "staff:lead".into(),
            team_inspector_refs: vec![],
            on_site_starts_on: "2025-03-11".into(),
            occurred_at: Some(occurred_at),
        }))
        .await
        .expect_err("invalid");

    // Assert
    assert_eq!(violated_fields(&status), vec!["occurred_at"]);
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_pause_with_unknown_categories_a_nil_id_and_a_future_time_is_invalid() {
    // Arrange
    let mut api = Api::spawn().await;
    api.set_now("2025-03-11T10:00:00Z");

    // Act
    let status = api
        .client
        .pause_inspection(api.as_role(
            Role::LeadInspector,
            v1::PauseInspectionRequest {
                request_id: "has space".into(),
                inspection_id: NIL.into(),
                initiated_by: 0,
                reason: 9999,
                duty_desk: 0,
                consultation_ref: " ".into(),
                consulted_at: ts("1999-12-31T23:00:00Z"),
                planned_resume_on: "2025-02-30".into(),
                occurred_at: ts("2025-03-12T10:00:00Z"),
            },
        ))
        .await
        .expect_err("invalid");

    // Assert
    assert_eq!(
        sorted(violated_fields(&status)),
        vec![
            "consultation_ref",
            "consulted_at",
            "duty_desk",
            "initiated_by",
            "inspection_id",
            "occurred_at",
            "planned_resume_on",
            "reason",
            "request_id",
        ]
    );
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_consultation_after_the_pause_and_an_end_after_the_report_time_are_invalid() {
    // Arrange
    let mut api = Api::spawn().await;
    api.set_now("2025-03-11T10:00:00Z");
    let id = uuid::Uuid::now_v7().to_string();

    // Act
    let pause = api
        .client
        .pause_inspection(api.as_role(
            Role::LeadInspector,
            v1::PauseInspectionRequest {
                consulted_at: ts("2025-03-11T09:59:00Z"),
                occurred_at: ts("2025-03-11T09:00:00Z"),
                ..crate::pauses::pause_request(uuid::Uuid::now_v7())
            },
        ))
        .await
        .expect_err("consulted after pausing");
    let end = api
        .client
        .record_on_site_ended(api.system(v1::RecordOnSiteEndedRequest {
            request_id: "end-1".into(),
            inspection_id: id,
            last_onsite_date: "2025-03-12".into(),
            occurred_at: ts("2025-03-11T09:00:00Z"),
        }))
        .await
        .expect_err("ends after it was reported");

    // Assert
    assert_eq!(violated_fields(&pause), vec!["consulted_at"]);
    assert_eq!(violated_fields(&end), vec!["last_onsite_date"]);
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn documents_and_explanations_need_references_and_known_reasons() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = uuid::Uuid::now_v7().to_string();

    // Act
    let draft = api
        .client
        .issue_draft_report(api.system(v1::IssueDraftReportRequest {
            request_id: "draft-1".into(),
            inspection_id: id.clone(),
            doc_ref: "doc\u{202E}fdp".into(),
            occurred_at: ts("2090-01-01T00:00:00Z"),
        }))
        .await
        .expect_err("invalid");
    let explanation = api
        .client
        .record_publication_delay_explanation(api.system(
            v1::RecordPublicationDelayExplanationRequest {
                request_id: "explain-1".into(),
                inspection_id: id.clone(),
                reason: 0,
                text_ref: String::new(),
                occurred_at: None,
            },
        ))
        .await
        .expect_err("invalid");
    let deferral = api
        .client
        .record_deferral(api.system(v1::RecordDeferralRequest {
            request_id: "defer-1".into(),
            inspection_id: id.clone(),
            reason: 42,
            on_site_starts_on: "1999-01-01".into(),
            occurred_at: ts("2025-01-06T09:00:00Z"),
        }))
        .await
        .expect_err("invalid");

    // Assert
    assert_eq!(
        sorted(violated_fields(&draft)),
        vec!["doc_ref", "occurred_at"]
    );
    assert_eq!(
        sorted(violated_fields(&explanation)),
        vec!["occurred_at", "reason", "text_ref"]
    );
    assert_eq!(
        sorted(violated_fields(&deferral)),
        vec!["on_site_starts_on", "reason"]
    );
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_wellbeing_contact_with_bad_details_is_invalid_and_nothing_reaches_the_vault() {
    // Arrange
    let mut api = Api::spawn().await;

    // Act
    let status = api
        .client
        .record_wellbeing_contact(api.system(v1::RecordWellbeingContactRequest {
            request_id: "contact-1".into(),
            inspection_id: uuid::Uuid::now_v7().to_string(),
            kind: 0,
            name: "Alex\0".into(),
            phone: String::new(),
            email: "e".repeat(255),
        }))
        .await
        .expect_err("invalid");

    // Assert
    assert_eq!(
        sorted(violated_fields(&status)),
        vec!["email", "kind", "name", "phone"]
    );
    assert_eq!(api.event_count().await, 0);
    let records: i64 = sqlx::query_scalar("SELECT count(*) FROM vault_records")
        .fetch_one(api.app.db_pool())
        .await
        .expect("the vault is readable");
    assert_eq!(records, 0);
}

#[tokio::test]
async fn tribunal_appeals_with_bad_fields_name_each_of_them_and_write_nothing() {
    // Arrange: a real inspection, so a request that slipped through would write to it.
    let mut api = Api::spawn().await;
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-07-01T10:00:00Z");
    let before = api.event_count().await;

    // Act
    let lodged = api
        .client
        .record_tribunal_appeal_lodged(api.system(v1::RecordTribunalAppealLodgedRequest {
            request_id: "has space".into(),
            inspection_id: NIL.into(),
            appeal_ref: " ".into(),
            occurred_at: ts("2025-07-02T10:00:00Z"),
        }))
        .await
        .expect_err("invalid");
    let lodged_without_time = api
        .client
        .record_tribunal_appeal_lodged(api.system(v1::RecordTribunalAppealLodgedRequest {
            request_id: "lodge-1".into(),
            inspection_id: id.to_string(),
            appeal_ref: "a".repeat(129),
            occurred_at: None,
        }))
        .await
        .expect_err("invalid");
    let concluded = api
        .client
        .record_tribunal_appeal_concluded(api.system(v1::RecordTribunalAppealConcludedRequest {
            request_id: String::new(),
            inspection_id: id.to_string(),
            appeal_ref: "tribunal:\u{202E}1".into(),
            outcome: 0,
            occurred_at: ts("1999-12-31T23:00:00Z"),
        }))
        .await
        .expect_err("invalid");
    let unknown_outcome = api
        .client
        .record_tribunal_appeal_concluded(api.system(v1::RecordTribunalAppealConcludedRequest {
            request_id: "conclude-1".into(),
            inspection_id: id.to_string(),
            appeal_ref: "tribunal:EA-1".into(),
            outcome: 99,
            occurred_at: ts("2025-07-01T09:00:00Z"),
        }))
        .await
        .expect_err("invalid");

    // Assert
    assert_eq!(
        sorted(violated_fields(&lodged)),
        vec!["appeal_ref", "inspection_id", "occurred_at", "request_id"]
    );
    assert_eq!(
        sorted(violated_fields(&lodged_without_time)),
        vec!["appeal_ref", "occurred_at"]
    );
    assert_eq!(
        sorted(violated_fields(&concluded)),
        vec!["appeal_ref", "occurred_at", "outcome", "request_id"]
    );
    assert_eq!(violated_fields(&unknown_outcome), vec!["outcome"]);
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn concern_requests_with_bad_fields_are_invalid_and_write_nothing() {
    // Arrange
    let mut api = Api::spawn().await;

    // Act
    let raise = api
        .client
        .raise_concern(api.provider(v1::RaiseConcernRequest {
            request_id: "r".repeat(129),
            inspection_id: "1234".into(),
            channel: 0,
            topic: 9999,
            detail: "\u{2066}hidden".into(),
            accompanied: false,
        }))
        .await
        .expect_err("invalid");
    let leave = api
        .client
        .leave_concern_unresolved(api.as_role(
            Role::SeniorInspector,
            v1::LeaveConcernUnresolvedRequest {
                request_id: "leave-1".into(),
                concern_id: NIL.into(),
                advice: 0,
                summary: "s".repeat(10_001),
            },
        ))
        .await
        .expect_err("invalid");
    let assign = api
        .client
        .assign_concern(api.as_role(
            Role::SeniorInspector,
            v1::AssignConcernRequest {
                request_id: String::new(),
                concern_id: "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz".into(),
            },
        ))
        .await
        .expect_err("invalid");

    // Assert
    assert_eq!(
        sorted(violated_fields(&raise)),
        vec!["channel", "detail", "inspection_id", "request_id", "topic"]
    );
    assert_eq!(
        sorted(violated_fields(&leave)),
        vec!["advice", "concern_id", "summary"]
    );
    assert_eq!(
        sorted(violated_fields(&assign)),
        vec!["concern_id", "request_id"]
    );
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn queries_with_malformed_ids_or_page_tokens_are_invalid() {
    // Arrange
    let mut api = Api::spawn().await;

    // Act
    let case = api
        .client
        .get_inspection_case(api.system(v1::GetInspectionCaseRequest {
            inspection_id: NIL.into(),
            consistency: None,
        }))
        .await
        .expect_err("invalid");
    let pauses = api
        .client
        .list_pauses(api.system(v1::ListPausesRequest {
            inspection_id: "nope".into(),
            page_size: 10,
            page_token: "garbage".into(),
            consistency: None,
        }))
        .await
        .expect_err("invalid");

    // Assert
    assert_eq!(case.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&case), vec!["inspection_id"]);
    assert_eq!(
        sorted(violated_fields(&pauses)),
        vec!["inspection_id", "page_token"]
    );
}
