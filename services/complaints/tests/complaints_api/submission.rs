//! Submitting a formal complaint: the window, duplicates, the fast-track route, out-of-time
//! discretion, personal data and read-your-writes.

use complaints::domain::inspection;
use complaints::domain::v1;
use complaints::formal_complaints::intake_stream_id;
use jiff::civil::date;
use platform::grpc::errors::IDEMPOTENCY_KEY_REUSED;
use proto::common::v1::ReadConsistency;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn a_submission_before_any_draft_report_is_refused_and_only_logged() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_on_site(date(2025, 6, 18)).await;
    let before = api.event_count().await;

    // Act
    let result = api
        .submit(inspection_id, "K1", london(date(2025, 6, 11), 16, 0))
        .await;

    // Assert
    assert_rule(result, "NO_DRAFT_REPORT");
    let events = api.events().await;
    assert_eq!(
        events.len() as i64,
        before + 1,
        "only the intake record is written"
    );
    assert_eq!(events.last().map(|(_, t)| t.as_str()), Some(REJECTED));
    assert_eq!(
        events.last().map(|(id, _)| *id),
        Some(intake_stream_id(inspection_id))
    );
    assert!(
        !events.iter().any(|(_, t)| t == SUBMITTED),
        "no complaint stream is created"
    );
}

#[tokio::test]
async fn a_complaint_inside_the_window_holds_publication_in_the_same_transaction() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;

    // Act
    let submitted = api
        .submit(inspection_id, "K1", london(date(2025, 7, 3), 10, 0))
        .await
        .expect("accepted");

    // Assert
    let complaint_id: Uuid = submitted.complaint_id.parse().expect("a UUID");
    let receipt = submitted.receipt.expect("a receipt");
    assert_eq!(receipt.stream_id, submitted.complaint_id);
    assert_eq!(api.stream(complaint_id).await, [SUBMITTED]);
    let transactions: Vec<(String, i64)> = sqlx::query_as(
        "SELECT event_type, transaction_id::text::bigint FROM events
         WHERE event_type IN ($1, $2) ORDER BY position",
    )
    .bind(SUBMITTED)
    .bind(HOLD_PLACED)
    .fetch_all(api.app.db_pool())
    .await
    .expect("events");
    assert_eq!(transactions.len(), 2);
    assert_eq!(transactions[0].0, HOLD_PLACED);
    assert_eq!(
        transactions[0].1, transactions[1].1,
        "one transaction writes both"
    );
    assert_eq!(
        api.publish(inspection_id, london(date(2025, 7, 4), 9, 0))
            .await,
        Err("PUBLICATION_HELD")
    );
}

#[tokio::test]
async fn acknowledging_the_complaint_sets_the_response_due_thirty_working_days_later() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.submitted_complaint().await;
    api.now(london(date(2025, 7, 4), 9, 0));
    let token = api.investigator();

    // Act
    let acknowledged = api
        .client
        .acknowledge_complaint(authed(
            v1::AcknowledgeComplaintRequest {
                request_id: "ack-1".into(),
                complaint_id: complaint_id.to_string(),
            },
            &token,
        ))
        .await
        .expect("acknowledged")
        .into_inner();

    // Assert
    assert_eq!(
        instant(acknowledged.response_due_at),
        end_of(date(2025, 8, 14))
    );
    api.app.settle().await;
    let deadlines = api
        .client
        .get_complaint_deadlines(authed(
            v1::GetComplaintDeadlinesRequest {
                complaint_id: complaint_id.to_string(),
                consistency: Some(ReadConsistency {
                    at_least: acknowledged.receipt.and_then(|r| r.position),
                    max_wait_ms: 5_000,
                }),
            },
            &api.provider(),
        ))
        .await
        .expect("read")
        .into_inner()
        .deadlines
        .expect("deadlines");
    let due = instant(deadlines.response_due_at);
    assert_eq!(due.as_second(), end_of(date(2025, 8, 14)).as_second());
    assert_eq!(
        instant(deadlines.window_closes_at).as_second(),
        end_of(date(2025, 7, 7)).as_second()
    );
    assert_eq!(
        instant(deadlines.draft_issued_at),
        london(date(2025, 6, 30), 9, 0)
    );
    assert_eq!(deadlines.route, v1::ComplaintRoute::DraftStage as i32);
    assert!(!deadlines.overdue);
}

#[tokio::test]
async fn a_complaint_after_the_window_is_refused_out_of_time_without_a_hold() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;

    // Act
    let result = api
        .submit(inspection_id, "K1", london(date(2025, 7, 8), 0, 5))
        .await;

    // Assert
    assert_rule(result, "OUT_OF_TIME");
    assert_eq!(
        api.stream(intake_stream_id(inspection_id)).await,
        [REJECTED]
    );
    assert!(
        !api.stream(inspection_id)
            .await
            .iter()
            .any(|t| t == HOLD_PLACED)
    );
}

#[tokio::test]
async fn a_decision_maker_can_accept_a_late_complaint_with_a_justification() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
    assert_rule(
        api.submit(inspection_id, "K1", london(date(2025, 7, 8), 0, 5))
            .await,
        "OUT_OF_TIME",
    );
    api.now(london(date(2025, 7, 9), 11, 0));
    let mut late = submission(inspection_id);
    late.provider_id = PROVIDER.into();
    let token = api.decision_maker();

    // Act
    let accepted = api
        .client
        .accept_out_of_time_complaint(authed(
            v1::AcceptOutOfTimeComplaintRequest {
                request_id: "late-1".into(),
                submission: Some(late),
                justification_ref: "doc:justification-1".into(),
            },
            &token,
        ))
        .await
        .expect("accepted")
        .into_inner();

    // Assert
    let complaint_id: Uuid = accepted.complaint_id.parse().expect("a UUID");
    assert_eq!(
        api.stream(complaint_id).await,
        [SUBMITTED, OUT_OF_TIME_ACCEPTED]
    );
    assert!(
        api.stream(inspection_id)
            .await
            .iter()
            .any(|t| t == HOLD_PLACED)
    );
    api.app.settle().await;
    let complaint = api
        .client
        .get_complaint(authed(
            v1::GetComplaintRequest {
                complaint_id: accepted.complaint_id.clone(),
                consistency: None,
            },
            &api.provider(),
        ))
        .await
        .expect("the provider sees its complaint")
        .into_inner()
        .complaint
        .expect("a complaint");
    assert_eq!(complaint.route, v1::ComplaintRoute::OutOfTime as i32);
    assert_eq!(complaint.provider_id, PROVIDER);
}

#[tokio::test]
async fn a_late_acceptance_needs_a_decision_maker_and_a_late_complaint() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
    api.now(london(date(2025, 7, 3), 11, 0));
    let mut in_time = submission(inspection_id);
    in_time.provider_id = PROVIDER.into();
    let token = api.decision_maker();

    // Act
    let result = api
        .client
        .accept_out_of_time_complaint(authed(
            v1::AcceptOutOfTimeComplaintRequest {
                request_id: "late-1".into(),
                submission: Some(in_time),
                justification_ref: "doc:justification-1".into(),
            },
            &token,
        ))
        .await;

    // Assert
    assert_rule(result, "WITHIN_WINDOW");
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_returns_the_same_complaint_and_writes_nothing() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id) = api.submitted_complaint().await;
    let before = api.event_count().await;

    // Act
    let retried = api
        .submit(inspection_id, "K1", london(date(2025, 7, 3), 10, 5))
        .await
        .expect("the recorded answer");

    // Assert
    assert_eq!(retried.complaint_id, complaint_id.to_string());
    assert!(retried.receipt.expect("a receipt").replayed);
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn the_same_request_id_with_a_different_request_is_refused() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, _) = api.submitted_complaint().await;
    let before = api.event_count().await;
    let mut different = submit_request(inspection_id, "K1");
    different.submission.as_mut().expect("set").narrative = "Something else entirely.".into();

    // Act
    let result = api
        .client
        .submit_formal_complaint(authed(different, &api.provider()))
        .await;

    // Assert
    assert_rule(result, IDEMPOTENCY_KEY_REUSED);
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn a_second_complaint_while_one_is_open_points_to_adding_information() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id) = api.submitted_complaint().await;

    // Act
    let result = api
        .submit(inspection_id, "K2", london(date(2025, 7, 4), 10, 0))
        .await;

    // Assert
    let status = assert_rule(result, "DUPLICATE_OPEN");
    assert_eq!(
        info(&status, "existing_complaint_id"),
        Some(complaint_id.to_string())
    );
    assert_eq!(
        info(&status, "redirect").as_deref(),
        Some("AddComplaintInformation")
    );
    assert_eq!(
        api.stream(intake_stream_id(inspection_id)).await,
        [REJECTED]
    );
}

#[tokio::test]
async fn adding_information_to_the_open_complaint_records_it() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.submitted_complaint().await;
    let token = api.provider();

    // Act
    api.client
        .add_complaint_information(authed(
            v1::AddComplaintInformationRequest {
                request_id: "add-1".into(),
                complaint_id: complaint_id.to_string(),
                doc_ref: "doc:more-evidence".into(),
            },
            &token,
        ))
        .await
        .expect("added");

    // Assert
    assert_eq!(
        api.stream(complaint_id).await,
        [SUBMITTED, INFORMATION_ADDED]
    );
}

#[tokio::test]
async fn a_complaint_after_fast_track_points_is_refused_unless_a_decision_maker_overrides() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
    api.inspection(
        inspection_id,
        inspection::Command::RecordFactualAccuracyPoints {
            doc_ref: "doc:points-1".into(),
            submitted_at: london(date(2025, 7, 1), 10, 0),
        },
    )
    .await;

    // Act
    let refused = api
        .submit(inspection_id, "K1", london(date(2025, 7, 3), 10, 0))
        .await;
    let mut request = submit_request(inspection_id, "override-1");
    request.submission.as_mut().expect("set").provider_id = PROVIDER.into();
    request.route_override_reason_ref = "doc:override-reason".into();
    let overridden = api
        .client
        .submit_formal_complaint(authed(request, &api.decision_maker()))
        .await
        .expect("accepted with the override")
        .into_inner();

    // Assert
    assert_rule(refused, "ROUTE_ALREADY_CHOSEN");
    let complaint_id: Uuid = overridden.complaint_id.parse().expect("a UUID");
    assert_eq!(api.stream(complaint_id).await, [SUBMITTED]);
    assert!(
        api.stream(inspection_id)
            .await
            .iter()
            .any(|t| t == HOLD_PLACED)
    );
}

#[tokio::test]
async fn a_route_override_from_a_provider_is_refused() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
    api.inspection(
        inspection_id,
        inspection::Command::RecordFactualAccuracyPoints {
            doc_ref: "doc:points-1".into(),
            submitted_at: london(date(2025, 7, 1), 10, 0),
        },
    )
    .await;
    api.now(london(date(2025, 7, 3), 10, 0));
    let mut request = submit_request(inspection_id, "K1");
    request.route_override_reason_ref = "doc:override-reason".into();

    // Act
    let result = api
        .client
        .submit_formal_complaint(authed(request, &api.provider()))
        .await;

    // Assert
    assert_rule(result, "NOT_DECISION_MAKER");
}

#[tokio::test]
async fn the_christmas_window_accepts_the_thirtieth_and_refuses_the_thirty_first() {
    // Arrange
    let mut api = api().await;
    let first = api.inspection_with_draft(date(2025, 12, 19)).await;
    let second = api.inspection_with_draft(date(2025, 12, 19)).await;

    // Act
    let on_the_30th = api
        .submit(first, "K1", london(date(2025, 12, 30), 16, 0))
        .await;
    let on_the_31st = api
        .submit(second, "K2", london(date(2025, 12, 31), 0, 1))
        .await;

    // Assert
    on_the_30th.expect("accepted on 30 December");
    assert_rule(on_the_31st, "OUT_OF_TIME");
}

#[tokio::test]
async fn a_complaint_about_an_unknown_inspection_is_not_found() {
    // Arrange
    let mut api = api().await;
    let before = api.event_count().await;

    // Act
    let result = api
        .submit(Uuid::now_v7(), "K1", london(date(2025, 7, 3), 10, 0))
        .await;

    // Assert
    assert_eq!(result.expect_err("refused").code(), tonic::Code::NotFound);
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn personal_data_stays_in_the_vault_and_out_of_every_event() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.submitted_complaint().await;
    api.app.settle().await;

    // Act
    let payloads: Vec<Vec<u8>> = sqlx::query_scalar("SELECT payload FROM events")
        .fetch_all(api.app.db_pool())
        .await
        .expect("payloads");
    let complaint = api
        .client
        .get_complaint(authed(
            v1::GetComplaintRequest {
                complaint_id: complaint_id.to_string(),
                consistency: None,
            },
            &api.investigator(),
        ))
        .await
        .expect("read")
        .into_inner()
        .complaint
        .expect("a complaint");

    // Assert
    for secret in [NARRATIVE, CONTACT_NAME, CONTACT_EMAIL] {
        let needle = secret.as_bytes();
        assert!(
            !payloads
                .iter()
                .any(|p| p.windows(needle.len()).any(|w| w == needle)),
            "an event payload holds personal data"
        );
    }
    let vault = &api.app.context.vault;
    let narrative = vault
        .get(complaint.narrative_ref.parse().expect("a UUID"))
        .await
        .expect("sealed");
    assert_eq!(narrative.plaintext, NARRATIVE.as_bytes());
    let contact = vault
        .get(complaint.contact_ref.parse().expect("a UUID"))
        .await
        .expect("sealed");
    let contact = String::from_utf8(contact.plaintext).expect("UTF-8");
    assert!(contact.contains(CONTACT_NAME) && contact.contains(CONTACT_EMAIL));
}

#[tokio::test]
async fn a_query_with_the_receipt_position_reads_its_own_write() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
    let submitted = api
        .submit(inspection_id, "K1", london(date(2025, 7, 3), 10, 0))
        .await
        .expect("accepted");
    let position = submitted.receipt.and_then(|r| r.position);
    let reader = api.app.complaints.clone();
    let settle = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        reader.run_once().await
    });

    // Act
    let complaint = api
        .client
        .get_complaint(authed(
            v1::GetComplaintRequest {
                complaint_id: submitted.complaint_id.clone(),
                consistency: Some(ReadConsistency {
                    at_least: position,
                    max_wait_ms: 5_000,
                }),
            },
            &api.provider(),
        ))
        .await
        .expect("read")
        .into_inner()
        .complaint
        .expect("a complaint");

    // Assert
    settle.await.expect("joined").expect("applied");
    assert_eq!(complaint.complaint_id, submitted.complaint_id);
    assert_eq!(complaint.status, v1::ComplaintStatus::Submitted as i32);
    assert_eq!(complaint.inspection_id, inspection_id.to_string());
}

#[tokio::test]
async fn under_the_2020_rules_a_complaint_before_the_final_report_is_too_early() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2023, 6, 5)).await;

    // Act
    let result = api
        .submit(inspection_id, "K1", london(date(2023, 6, 7), 10, 0))
        .await;

    // Assert
    assert_rule(result, "TOO_EARLY");
    assert_eq!(
        api.stream(intake_stream_id(inspection_id)).await,
        [REJECTED]
    );
}

#[tokio::test]
async fn a_query_waiting_for_a_position_never_reached_is_unavailable() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.submitted_complaint().await;
    let far = proto::common::v1::Position {
        transaction: u64::MAX / 2,
        sequence: i64::MAX / 2,
    };

    // Act
    let result = api
        .client
        .get_complaint(authed(
            v1::GetComplaintRequest {
                complaint_id: complaint_id.to_string(),
                consistency: Some(ReadConsistency {
                    at_least: Some(far),
                    max_wait_ms: 50,
                }),
            },
            &api.provider(),
        ))
        .await;

    // Assert
    assert_eq!(
        result.expect_err("not caught up").code(),
        tonic::Code::Unavailable
    );
}

#[tokio::test]
async fn of_two_racing_submissions_about_one_inspection_exactly_one_is_accepted() {
    // Arrange
    let api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
    api.now(london(date(2025, 7, 3), 10, 0));
    let token = api.provider();
    let (mut first, mut second) = (api.client.clone(), api.client.clone());

    // Act
    let (a, b) = tokio::join!(
        first.submit_formal_complaint(authed(submit_request(inspection_id, "race-a"), &token)),
        second.submit_formal_complaint(authed(submit_request(inspection_id, "race-b"), &token)),
    );

    // Assert
    let (accepted, refused) = match (a, b) {
        (Ok(accepted), Err(refused)) | (Err(refused), Ok(accepted)) => {
            (accepted.into_inner(), refused)
        }
        other => panic!("expected one acceptance and one refusal: {other:?}"),
    };
    assert_eq!(reason(&refused), "DUPLICATE_OPEN");
    assert_eq!(
        info(&refused, "existing_complaint_id"),
        Some(accepted.complaint_id)
    );
    let holds = api
        .stream(inspection_id)
        .await
        .iter()
        .filter(|t| *t == HOLD_PLACED)
        .count();
    assert_eq!(holds, 1);
}
