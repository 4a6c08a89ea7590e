//! From acknowledgement to the response or the withdrawal, the overdue timer, the integration
//! events on NATS and the panel's samples.

use complaints::domain::inspection;
use complaints::domain::{Role, v1};
use jiff::civil::date;
use uuid::Uuid;

use crate::helpers::*;

fn response(complaint_id: Uuid) -> v1::IssueComplaintResponseRequest {
    v1::IssueComplaintResponseRequest {
        request_id: "respond-1".into(),
        complaint_id: complaint_id.to_string(),
        outcome: v1::ComplaintOutcome::NotUpheld as i32,
        remedies: vec![],
        response_doc_ref: "doc:response-1".into(),
    }
}

#[tokio::test]
async fn withdrawing_releases_the_hold_and_the_report_can_be_published() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id) = api.investigated_complaint().await;
    api.now(london(date(2025, 7, 20), 12, 0));

    // Act
    api.client
        .withdraw_complaint(authed(
            v1::WithdrawComplaintRequest {
                request_id: "withdraw-1".into(),
                complaint_id: complaint_id.to_string(),
                reason: v1::WithdrawalReason::ConcernsResolved as i32,
            },
            &api.provider(),
        ))
        .await
        .expect("withdrawn");

    // Assert
    assert_eq!(
        api.stream(complaint_id).await.last().map(String::as_str),
        Some(WITHDRAWN)
    );
    let inspection_events = api.stream(inspection_id).await;
    assert_eq!(
        inspection_events.last().map(String::as_str),
        Some(HOLD_RELEASED)
    );
    let released: Vec<u8> =
        sqlx::query_scalar("SELECT payload FROM events WHERE stream_id = $1 AND event_type = $2")
            .bind(inspection_id)
            .bind(HOLD_RELEASED)
            .fetch_one(api.app.db_pool())
            .await
            .expect("released");
    let released = <v1::PublicationHoldReleased as prost::Message>::decode(released.as_slice())
        .expect("decodes");
    assert_eq!(released.reason, v1::HoldReleaseReason::Withdrawn as i32);
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT transaction_id) FROM events WHERE event_type IN ($1, $2)",
    )
    .bind(WITHDRAWN)
    .bind(HOLD_RELEASED)
    .fetch_one(api.app.db_pool())
    .await
    .expect("count");
    assert_eq!(
        transactions, 1,
        "the withdrawal and the release commit together"
    );
    api.inspection(
        inspection_id,
        inspection::Command::IssueFinalReport {
            doc_ref: "doc:final-1".into(),
            issued_at: london(date(2025, 7, 21), 9, 0),
            policy: api.policy(date(2025, 6, 23)),
            calendar: api.app.context.calendar,
        },
    )
    .await;
    assert_eq!(
        api.publish(inspection_id, london(date(2025, 7, 22), 9, 0))
            .await,
        Ok(())
    );
}

#[tokio::test]
async fn withdrawing_twice_is_refused_as_already_withdrawn() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.submitted_complaint().await;
    let withdraw = |request_id: &str| v1::WithdrawComplaintRequest {
        request_id: request_id.into(),
        complaint_id: complaint_id.to_string(),
        reason: v1::WithdrawalReason::SubmittedInError as i32,
    };
    api.client
        .withdraw_complaint(authed(withdraw("w-1"), &api.provider()))
        .await
        .expect("withdrawn");
    let before = api.event_count().await;

    // Act
    let result = api
        .client
        .withdraw_complaint(authed(withdraw("w-2"), &api.provider()))
        .await;

    // Assert
    assert_rule(result, "ALREADY_WITHDRAWN");
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn the_response_releases_the_hold_and_its_integration_events_reach_nats() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id) = api.investigated_complaint().await;
    api.now(london(date(2025, 8, 1), 12, 0));

    // Act
    let answered = api
        .client
        .issue_complaint_response(authed(response(complaint_id), &api.decision_maker()))
        .await
        .expect("issued")
        .into_inner();
    api.app.relay_once().await;

    // Assert
    assert!(answered.escalation_window_closes_at.is_some());
    let stream = api.stream(complaint_id).await;
    assert_eq!(
        &stream[stream.len() - 2..],
        [RESPONSE_ISSUED, RIGHTS_NOTIFIED]
    );
    assert_eq!(
        api.stream(inspection_id).await.last().map(String::as_str),
        Some(HOLD_RELEASED)
    );
    let client = api.app.nats.client().await.expect("NATS");
    let js = async_nats::jetstream::new(client);
    let nats_stream = js
        .get_stream(api.app.namespace.stream_name("complaints"))
        .await
        .expect("the complaints stream");
    for event_type in [RESPONSE_ISSUED, RIGHTS_NOTIFIED] {
        let subject = api
            .app
            .namespace
            .event_subject("complaints", event_type, &complaint_id);
        let message = nats_stream
            .get_last_raw_message_by_subject(&subject)
            .await
            .expect("the event is on the stream");
        let headers = &message.headers;
        assert_eq!(headers.get("ce-type").map(|v| v.as_str()), Some(event_type));
        for header in [
            "ce-id",
            "ce-source",
            "ce-time",
            "ce-specversion",
            "Nats-Msg-Id",
        ] {
            assert!(headers.get(header).is_some(), "{header} is set");
        }
    }
}

#[tokio::test]
async fn a_response_before_an_investigator_is_assigned_is_refused() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.submitted_complaint().await;

    // Act
    let result = api
        .client
        .issue_complaint_response(authed(response(complaint_id), &api.decision_maker()))
        .await;

    // Assert
    assert_rule(result, "NOT_UNDER_INVESTIGATION");
}

#[tokio::test]
async fn remedies_that_do_not_fit_the_outcome_are_refused() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.investigated_complaint().await;
    let mut request = response(complaint_id);
    request.remedies = vec![v1::Remedy::ReportAmended as i32];

    // Act
    let result = api
        .client
        .issue_complaint_response(authed(request, &api.decision_maker()))
        .await;

    // Assert
    assert_rule(result, "REMEDIES_INCONSISTENT_WITH_OUTCOME");
}

#[tokio::test]
async fn an_investigator_on_the_inspection_team_cannot_take_the_complaint() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.submitted_complaint().await;
    let investigator = api.investigator();
    api.client
        .acknowledge_complaint(authed(
            v1::AcknowledgeComplaintRequest {
                request_id: "ack-1".into(),
                complaint_id: complaint_id.to_string(),
            },
            &investigator,
        ))
        .await
        .expect("acknowledged");
    let connected = api.app.token_for(TEAM, Role::ComplaintsInvestigator, None);

    // Act
    let result = api
        .client
        .assign_investigator(authed(
            v1::AssignInvestigatorRequest {
                request_id: "assign-1".into(),
                complaint_id: complaint_id.to_string(),
            },
            &connected,
        ))
        .await;

    // Assert
    assert_rule(result, "INVESTIGATOR_ON_INSPECTION_TEAM");
}

#[tokio::test]
async fn assigning_before_acknowledgement_is_refused() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.submitted_complaint().await;

    // Act
    let result = api
        .client
        .assign_investigator(authed(
            v1::AssignInvestigatorRequest {
                request_id: "assign-1".into(),
                complaint_id: complaint_id.to_string(),
            },
            &api.investigator(),
        ))
        .await;

    // Assert
    assert_rule(result, "NOT_ACKNOWLEDGED");
}

#[tokio::test]
async fn the_investigator_records_a_call() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.investigated_complaint().await;
    api.now(london(date(2025, 7, 10), 15, 0));

    // Act
    api.client
        .record_investigation_call(authed(
            v1::RecordInvestigationCallRequest {
                request_id: "call-1".into(),
                complaint_id: complaint_id.to_string(),
                notes_ref: "doc:call-notes".into(),
                accompanied: true,
                held_at: Some(complaints::domain::timestamp(london(
                    date(2025, 7, 10),
                    14,
                    0,
                ))),
            },
            &api.investigator(),
        ))
        .await
        .expect("recorded");

    // Assert
    assert_eq!(
        api.stream(complaint_id).await.last().map(String::as_str),
        Some("redress.complaints.v1.InvestigationCallHeld")
    );
}

#[tokio::test]
async fn the_response_is_marked_overdue_once_after_its_deadline_passes() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.investigated_complaint().await;
    api.app.settle().await;

    // Act
    api.now(london(date(2025, 8, 14), 23, 59));
    api.app.settle().await;
    let on_the_last_day = api.stream(complaint_id).await;
    api.now(london(date(2025, 8, 15), 0, 1));
    api.app.settle().await;
    api.app.settle().await;

    // Assert
    assert!(!on_the_last_day.iter().any(|t| t == OVERDUE));
    let overdue = api
        .stream(complaint_id)
        .await
        .iter()
        .filter(|t| *t == OVERDUE)
        .count();
    assert_eq!(overdue, 1);
    let deadlines = api
        .client
        .get_complaint_deadlines(authed(
            v1::GetComplaintDeadlinesRequest {
                complaint_id: complaint_id.to_string(),
                consistency: None,
            },
            &api.provider(),
        ))
        .await
        .expect("read")
        .into_inner()
        .deadlines
        .expect("deadlines");
    assert!(deadlines.overdue);
}

#[tokio::test]
async fn an_extension_moves_the_overdue_timer_to_the_new_deadline() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.investigated_complaint().await;
    api.now(london(date(2025, 8, 1), 10, 0));

    // Act
    let extended = api
        .client
        .extend_response_deadline(authed(
            v1::ExtendResponseDeadlineRequest {
                request_id: "extend-1".into(),
                complaint_id: complaint_id.to_string(),
                additional_working_days: 5,
                reason: v1::ExtensionReason::ComplexComplaint as i32,
                reason_ref: "doc:extension".into(),
            },
            &api.decision_maker(),
        ))
        .await
        .expect("extended")
        .into_inner();
    api.app.settle().await;
    api.now(london(date(2025, 8, 15), 0, 1));
    api.app.settle().await;
    let after_old_deadline = api.stream(complaint_id).await;

    // Assert
    assert_eq!(instant(extended.response_due_at), end_of(date(2025, 8, 21)));
    assert!(!after_old_deadline.iter().any(|t| t == OVERDUE));
    api.now(london(date(2025, 8, 22), 0, 1));
    api.app.settle().await;
    assert!(api.stream(complaint_id).await.iter().any(|t| t == OVERDUE));
}

#[tokio::test]
async fn an_extension_by_an_investigator_is_denied() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.investigated_complaint().await;

    // Act
    let result = api
        .client
        .extend_response_deadline(authed(
            v1::ExtendResponseDeadlineRequest {
                request_id: "extend-1".into(),
                complaint_id: complaint_id.to_string(),
                additional_working_days: 5,
                reason: v1::ExtensionReason::ComplexComplaint as i32,
                reason_ref: "doc:extension".into(),
            },
            &api.investigator(),
        ))
        .await;

    // Assert
    assert_eq!(
        result.expect_err("denied").code(),
        tonic::Code::PermissionDenied
    );
}

#[tokio::test]
async fn a_closed_complaint_drawn_for_review_shows_the_panel_no_identifiers() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.investigated_complaint().await;
    api.now(london(date(2025, 8, 1), 12, 0));
    api.client
        .issue_complaint_response(authed(response(complaint_id), &api.decision_maker()))
        .await
        .expect("issued");
    // The escalation window (to 1 November 2025) passes with no escalation: its timer closes it.
    api.now(london(date(2026, 1, 10), 0, 0));
    api.app.settle().await;
    let review = |request_id: &str| v1::SelectForPeriodicReviewRequest {
        request_id: request_id.into(),
        complaint_id: complaint_id.to_string(),
        panel_id: Uuid::now_v7().to_string(),
    };

    // Act
    let selected = api
        .client
        .select_for_periodic_review(authed(review("review-1"), &api.decision_maker()))
        .await;
    api.app.settle().await;
    let samples = api
        .client
        .list_closed_complaint_samples(authed(
            v1::ListClosedComplaintSamplesRequest {
                page_size: 10,
                page_token: String::new(),
                consistency: None,
            },
            &api.token(Role::ClosedComplaintsPanelMember),
        ))
        .await
        .expect("listed")
        .into_inner();

    // Assert
    selected.expect("selected");
    assert_eq!(samples.samples.len(), 1);
    let sample = &samples.samples[0];
    assert_ne!(sample.sample_id, complaint_id.to_string());
    assert_eq!(sample.outcome, v1::ComplaintOutcome::NotUpheld as i32);
    let shown = format!("{samples:?}");
    for identifier in [
        complaint_id.to_string(),
        PROVIDER.to_owned(),
        "test:".to_owned(),
        "doc:".to_owned(),
    ] {
        assert!(
            !shown.contains(&identifier),
            "the sample shows an identifier"
        );
    }
}

#[tokio::test]
async fn an_open_complaint_cannot_be_drawn_for_review() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.submitted_complaint().await;

    // Act
    let result = api
        .client
        .select_for_periodic_review(authed(
            v1::SelectForPeriodicReviewRequest {
                request_id: "review-1".into(),
                complaint_id: complaint_id.to_string(),
                panel_id: Uuid::now_v7().to_string(),
            },
            &api.decision_maker(),
        ))
        .await;

    // Assert
    assert_rule(result, "NOT_CLOSED");
}

#[tokio::test]
async fn acknowledging_twice_is_refused() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.investigated_complaint().await;

    // Act
    let result = api
        .client
        .acknowledge_complaint(authed(
            v1::AcknowledgeComplaintRequest {
                request_id: "ack-2".into(),
                complaint_id: complaint_id.to_string(),
            },
            &api.investigator(),
        ))
        .await;

    // Assert
    assert_rule(result, "ALREADY_ACKNOWLEDGED");
}

#[tokio::test]
async fn complaints_are_listed_by_provider_and_status_in_pages() {
    // Arrange
    let mut api = api().await;
    let mut ids = Vec::new();
    for i in 0..3i8 {
        let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
        let submitted = api
            .submit(
                inspection_id,
                &format!("K{i}"),
                london(date(2025, 7, 3), 10, i),
            )
            .await
            .expect("accepted");
        ids.push(submitted.complaint_id);
    }
    api.app.settle().await;
    let list = |page_token: String| v1::ListComplaintsRequest {
        provider_id: String::new(),
        status: v1::ComplaintStatus::Submitted as i32,
        page_size: 2,
        page_token,
        consistency: None,
    };

    // Act
    let first = api
        .client
        .list_complaints(authed(list(String::new()), &api.provider()))
        .await
        .expect("page 1")
        .into_inner();
    let second = api
        .client
        .list_complaints(authed(list(first.next_page_token.clone()), &api.provider()))
        .await
        .expect("page 2")
        .into_inner();
    let others = api
        .client
        .list_complaints(authed(list(String::new()), &api.token_for_other_provider()))
        .await
        .expect("other provider")
        .into_inner();

    // Assert
    let listed: Vec<String> = first
        .complaints
        .iter()
        .chain(&second.complaints)
        .map(|c| c.complaint_id.clone())
        .collect();
    assert_eq!(listed, ids);
    assert!(second.next_page_token.is_empty());
    assert!(others.complaints.is_empty());
}

#[tokio::test]
async fn nothing_can_be_added_or_withdrawn_after_the_response() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.investigated_complaint().await;
    api.now(london(date(2025, 8, 1), 12, 0));
    api.client
        .issue_complaint_response(authed(response(complaint_id), &api.decision_maker()))
        .await
        .expect("issued");
    let before = api.event_count().await;

    // Act
    let added = api
        .client
        .add_complaint_information(authed(
            v1::AddComplaintInformationRequest {
                request_id: "add-late".into(),
                complaint_id: complaint_id.to_string(),
                doc_ref: "doc:late".into(),
            },
            &api.provider(),
        ))
        .await;
    let withdrawn = api
        .client
        .withdraw_complaint(authed(
            v1::WithdrawComplaintRequest {
                request_id: "withdraw-late".into(),
                complaint_id: complaint_id.to_string(),
                reason: v1::WithdrawalReason::Other as i32,
            },
            &api.provider(),
        ))
        .await;

    // Assert
    assert_rule(added, "RESPONSE_ALREADY_ISSUED");
    assert_rule(withdrawn, "RESPONSE_ALREADY_ISSUED");
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn a_deadline_cannot_be_extended_before_acknowledgement() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.submitted_complaint().await;

    // Act
    let result = api
        .client
        .extend_response_deadline(authed(
            v1::ExtendResponseDeadlineRequest {
                request_id: "extend-1".into(),
                complaint_id: complaint_id.to_string(),
                additional_working_days: 5,
                reason: v1::ExtensionReason::AwaitingInformation as i32,
                reason_ref: "doc:extension".into(),
            },
            &api.decision_maker(),
        ))
        .await;

    // Assert
    assert_rule(result, "NOT_ACKNOWLEDGED");
}

#[tokio::test]
async fn a_replayed_response_returns_the_recorded_receipt() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.investigated_complaint().await;
    api.now(london(date(2025, 8, 1), 12, 0));
    let first = api
        .client
        .issue_complaint_response(authed(response(complaint_id), &api.decision_maker()))
        .await
        .expect("issued")
        .into_inner();
    let before = api.event_count().await;

    // Act
    let again = api
        .client
        .issue_complaint_response(authed(response(complaint_id), &api.decision_maker()))
        .await
        .expect("the recorded answer")
        .into_inner();

    // Assert
    let (first_receipt, again_receipt) = (
        first.receipt.expect("receipt"),
        again.receipt.expect("receipt"),
    );
    assert_eq!(first_receipt.event_ids, again_receipt.event_ids);
    assert!(again_receipt.replayed);
    assert_eq!(
        first.escalation_window_closes_at,
        again.escalation_window_closes_at
    );
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn the_read_models_follow_the_complaint_to_its_response() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.investigated_complaint().await;
    let read = |api: &mut Api| {
        let request = v1::GetComplaintRequest {
            complaint_id: complaint_id.to_string(),
            consistency: None,
        };
        let token = api.investigator();
        let mut client = api.client.clone();
        async move {
            client
                .get_complaint(authed(request, &token))
                .await
                .expect("read")
                .into_inner()
                .complaint
                .expect("a complaint")
        }
    };
    api.app.settle().await;
    let investigated = read(&mut api).await;
    api.now(london(date(2025, 8, 1), 12, 0));

    // Act
    api.client
        .issue_complaint_response(authed(response(complaint_id), &api.decision_maker()))
        .await
        .expect("issued");
    api.app.settle().await;

    // Assert
    assert_eq!(
        investigated.status,
        v1::ComplaintStatus::UnderInvestigation as i32
    );
    assert_eq!(
        investigated.investigator_ref,
        "test:complaints_investigator"
    );
    let answered = read(&mut api).await;
    assert_eq!(answered.status, v1::ComplaintStatus::ResponseIssued as i32);
    assert_eq!(answered.outcome, v1::ComplaintOutcome::NotUpheld as i32);
    let deadlines = api
        .client
        .get_complaint_deadlines(authed(
            v1::GetComplaintDeadlinesRequest {
                complaint_id: complaint_id.to_string(),
                consistency: None,
            },
            &api.provider(),
        ))
        .await
        .expect("read")
        .into_inner()
        .deadlines
        .expect("deadlines");
    assert!(deadlines.escalation_window_closes_at.is_some());
    assert!(!deadlines.overdue);
}
