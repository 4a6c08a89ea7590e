//! Bad inputs (reliability plan §6.3): each is INVALID_ARGUMENT naming the bad field, and writes
//! no event.

use complaints::domain::v1;
use jiff::civil::date;
use proto::common::v1::ReadConsistency;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::helpers::*;

const NIL: &str = "00000000-0000-0000-0000-000000000000";

/// Asserts INVALID_ARGUMENT naming `field`.
fn assert_invalid<T: std::fmt::Debug>(case: &str, result: Result<T, Status>, field: &str) {
    let status = result.expect_err(case);
    assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
    let fields = violated_fields(&status);
    assert!(
        fields.iter().any(|f| f == field),
        "{case}: {field} not in {fields:?}"
    );
    assert!(
        !status.message().contains("Alex"),
        "{case}: the message echoes input"
    );
}

#[tokio::test]
async fn bad_submissions_are_invalid_arguments_and_write_nothing() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
    api.now(london(date(2025, 7, 3), 10, 0));
    let token = api.provider();
    let before = api.event_count().await;
    let valid = || submit_request(inspection_id, "K1");
    let with = |change: &dyn Fn(&mut v1::ComplaintSubmission)| {
        let mut request = valid();
        change(request.submission.as_mut().expect("set"));
        request
    };
    let cases: Vec<(&str, v1::SubmitFormalComplaintRequest, &str)> = vec![
        (
            "missing request id",
            v1::SubmitFormalComplaintRequest {
                request_id: String::new(),
                ..valid()
            },
            "request_id",
        ),
        (
            "request id with a space",
            v1::SubmitFormalComplaintRequest {
                request_id: "a b".into(),
                ..valid()
            },
            "request_id",
        ),
        (
            "missing submission",
            v1::SubmitFormalComplaintRequest {
                submission: None,
                ..valid()
            },
            "submission",
        ),
        (
            "nil inspection",
            with(&|s| s.inspection_id = NIL.into()),
            "submission.inspection_id",
        ),
        (
            "malformed inspection",
            with(&|s| s.inspection_id = "INS-1".into()),
            "submission.inspection_id",
        ),
        (
            "no grounds",
            with(&|s| s.grounds.clear()),
            "submission.grounds",
        ),
        (
            "ground 0",
            with(&|s| s.grounds = vec![0]),
            "submission.grounds[0]",
        ),
        (
            "ground 9999",
            with(&|s| s.grounds = vec![1, 9999]),
            "submission.grounds[1]",
        ),
        (
            "repeated ground",
            with(&|s| s.grounds = vec![1, 1]),
            "submission.grounds[1]",
        ),
        (
            "too many grounds",
            with(&|s| s.grounds = vec![1, 2, 3, 4, 5, 1]),
            "submission.grounds",
        ),
        (
            "no complainant",
            with(&|s| s.complainant = None),
            "submission.complainant",
        ),
        (
            "empty name",
            with(&|s| s.complainant.as_mut().expect("set").name = "  ".into()),
            "submission.complainant.name",
        ),
        (
            "not an email",
            with(&|s| s.complainant.as_mut().expect("set").email = "nobody".into()),
            "submission.complainant.email",
        ),
        (
            "empty narrative",
            with(&|s| s.narrative = String::new()),
            "submission.narrative",
        ),
        (
            "NUL narrative",
            with(&|s| s.narrative = "a\0b".into()),
            "submission.narrative",
        ),
        (
            "bidi narrative",
            with(&|s| s.narrative = "abc\u{202E}def".into()),
            "submission.narrative",
        ),
        (
            "over-long narrative",
            with(&|s| s.narrative = "x".repeat(20_001)),
            "submission.narrative",
        ),
        (
            "too many documents",
            with(&|s| s.doc_refs = vec!["doc:x".into(); 21]),
            "submission.doc_refs",
        ),
        (
            "empty document ref",
            with(&|s| s.doc_refs = vec![String::new()]),
            "submission.doc_refs[0]",
        ),
        (
            "over-long provider id",
            with(&|s| s.provider_id = "p".repeat(101)),
            "submission.provider_id",
        ),
        (
            "NUL override reason",
            v1::SubmitFormalComplaintRequest {
                route_override_reason_ref: "\0".into(),
                ..valid()
            },
            "route_override_reason_ref",
        ),
    ];

    for (case, request, field) in cases {
        // Act
        let result = api
            .client
            .submit_formal_complaint(authed(request, &token))
            .await;

        // Assert
        assert_invalid(case, result, field);
    }
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn a_decision_maker_must_name_the_provider_and_a_justification() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_with_draft(date(2025, 6, 30)).await;
    let token = api.decision_maker();
    let before = api.event_count().await;

    // Act
    let no_provider = api
        .client
        .accept_out_of_time_complaint(authed(
            v1::AcceptOutOfTimeComplaintRequest {
                request_id: "late-1".into(),
                submission: Some(submission(inspection_id)),
                justification_ref: "doc:j".into(),
            },
            &token,
        ))
        .await;
    let mut named = submission(inspection_id);
    named.provider_id = PROVIDER.into();
    let no_justification = api
        .client
        .accept_out_of_time_complaint(authed(
            v1::AcceptOutOfTimeComplaintRequest {
                request_id: "late-2".into(),
                submission: Some(named),
                justification_ref: " ".into(),
            },
            &token,
        ))
        .await;

    // Assert
    assert_invalid("no provider", no_provider, "submission.provider_id");
    assert_invalid("no justification", no_justification, "justification_ref");
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn bad_commands_on_a_complaint_are_invalid_arguments_and_write_nothing() {
    // Arrange
    let mut api = api().await;
    let id = Uuid::now_v7().to_string();
    let (investigator, decision_maker, provider) =
        (api.investigator(), api.decision_maker(), api.provider());
    let before = api.event_count().await;
    let c = &mut api.client;

    // Act and assert
    let ack = |request_id: &str, complaint_id: &str| v1::AcknowledgeComplaintRequest {
        request_id: request_id.into(),
        complaint_id: complaint_id.into(),
    };
    assert_invalid(
        "ack without request id",
        c.acknowledge_complaint(authed(ack("", &id), &investigator))
            .await,
        "request_id",
    );
    assert_invalid(
        "ack nil id",
        c.acknowledge_complaint(authed(ack("r", NIL), &investigator))
            .await,
        "complaint_id",
    );
    assert_invalid(
        "ack malformed id",
        c.acknowledge_complaint(authed(ack("r", "not-a-uuid"), &investigator))
            .await,
        "complaint_id",
    );
    let add = |doc_ref: &str| v1::AddComplaintInformationRequest {
        request_id: "r".into(),
        complaint_id: id.clone(),
        doc_ref: doc_ref.into(),
    };
    assert_invalid(
        "empty doc ref",
        c.add_complaint_information(authed(add(""), &provider))
            .await,
        "doc_ref",
    );
    assert_invalid(
        "over-long doc ref",
        c.add_complaint_information(authed(add(&"d".repeat(201)), &provider))
            .await,
        "doc_ref",
    );
    assert_invalid(
        "assign malformed id",
        c.assign_investigator(authed(
            v1::AssignInvestigatorRequest {
                request_id: "r".into(),
                complaint_id: "{}".into(),
            },
            &investigator,
        ))
        .await,
        "complaint_id",
    );
    let call = |held_at: Option<prost_types::Timestamp>| v1::RecordInvestigationCallRequest {
        request_id: "r".into(),
        complaint_id: id.clone(),
        notes_ref: "doc:n".into(),
        accompanied: false,
        held_at,
    };
    assert_invalid(
        "call without time",
        c.record_investigation_call(authed(call(None), &investigator))
            .await,
        "held_at",
    );
    let future = complaints::domain::timestamp(
        jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 400),
    );
    assert_invalid(
        "call in the future",
        c.record_investigation_call(authed(call(Some(future)), &investigator))
            .await,
        "held_at",
    );
    let recent = jiff::Timestamp::now().as_second() - 3600;
    for (case, seconds, nanos) in [
        ("call in year 1", -62_135_596_800, 0),
        ("call with negative nanos", recent, -1),
        ("call with a whole second of nanos", recent, 1_000_000_000),
    ] {
        let held_at = prost_types::Timestamp { seconds, nanos };
        assert_invalid(
            case,
            c.record_investigation_call(authed(call(Some(held_at)), &investigator))
                .await,
            "held_at",
        );
    }
    let extend = |days: u32, reason: i32| v1::ExtendResponseDeadlineRequest {
        request_id: "r".into(),
        complaint_id: id.clone(),
        additional_working_days: days,
        reason,
        reason_ref: "doc:e".into(),
    };
    assert_invalid(
        "0 days",
        c.extend_response_deadline(authed(extend(0, 1), &decision_maker))
            .await,
        "additional_working_days",
    );
    assert_invalid(
        "61 days",
        c.extend_response_deadline(authed(extend(61, 1), &decision_maker))
            .await,
        "additional_working_days",
    );
    assert_invalid(
        "reason 0",
        c.extend_response_deadline(authed(extend(5, 0), &decision_maker))
            .await,
        "reason",
    );
    assert_invalid(
        "reason 9999",
        c.extend_response_deadline(authed(extend(5, 9999), &decision_maker))
            .await,
        "reason",
    );
    let respond = |outcome: i32, remedies: Vec<i32>, doc: &str| v1::IssueComplaintResponseRequest {
        request_id: "r".into(),
        complaint_id: id.clone(),
        outcome,
        remedies,
        response_doc_ref: doc.into(),
    };
    assert_invalid(
        "outcome 0",
        c.issue_complaint_response(authed(respond(0, vec![], "doc:r"), &decision_maker))
            .await,
        "outcome",
    );
    assert_invalid(
        "remedy 9999",
        c.issue_complaint_response(authed(respond(1, vec![9999], "doc:r"), &decision_maker))
            .await,
        "remedies[0]",
    );
    assert_invalid(
        "too many remedies",
        c.issue_complaint_response(authed(
            respond(1, vec![1, 2, 3, 4, 5, 6, 1], "doc:r"),
            &decision_maker,
        ))
        .await,
        "remedies",
    );
    assert_invalid(
        "bidi response ref",
        c.issue_complaint_response(authed(
            respond(1, vec![1], "doc:\u{2066}x"),
            &decision_maker,
        ))
        .await,
        "response_doc_ref",
    );
    assert_invalid(
        "withdrawal reason 0",
        c.withdraw_complaint(authed(
            v1::WithdrawComplaintRequest {
                request_id: "r".into(),
                complaint_id: id.clone(),
                reason: 0,
            },
            &provider,
        ))
        .await,
        "reason",
    );
    assert_invalid(
        "nil panel",
        c.select_for_periodic_review(authed(
            v1::SelectForPeriodicReviewRequest {
                request_id: "r".into(),
                complaint_id: id.clone(),
                panel_id: NIL.into(),
            },
            &decision_maker,
        ))
        .await,
        "panel_id",
    );
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn bad_queries_are_invalid_arguments() {
    // Arrange
    let mut api = api().await;
    let (reader, panel) = (
        api.investigator(),
        api.token(complaints::domain::Role::ClosedComplaintsPanelMember),
    );
    let c = &mut api.client;
    let list = |page_size: u32, page_token: &str, status: i32| v1::ListComplaintsRequest {
        provider_id: String::new(),
        status,
        page_size,
        page_token: page_token.into(),
        consistency: None,
    };

    // Act and assert
    assert_invalid(
        "malformed id",
        c.get_complaint(authed(
            v1::GetComplaintRequest {
                complaint_id: "x".into(),
                consistency: None,
            },
            &reader,
        ))
        .await,
        "complaint_id",
    );
    assert_invalid(
        "nil id",
        c.get_complaint_deadlines(authed(
            v1::GetComplaintDeadlinesRequest {
                complaint_id: NIL.into(),
                consistency: Some(ReadConsistency::default()),
            },
            &reader,
        ))
        .await,
        "complaint_id",
    );
    assert_invalid(
        "page too large",
        c.list_complaints(authed(list(101, "", 0), &reader)).await,
        "page_size",
    );
    assert_invalid(
        "forged page token",
        c.list_complaints(authed(list(10, "page-2", 0), &reader))
            .await,
        "page_token",
    );
    assert_invalid(
        "status 9999",
        c.list_complaints(authed(list(10, "", 9999), &reader)).await,
        "status",
    );
    assert_invalid(
        "forged sample token",
        c.list_closed_complaint_samples(authed(
            v1::ListClosedComplaintSamplesRequest {
                page_size: 0,
                page_token: "x".into(),
                consistency: None,
            },
            &panel,
        ))
        .await,
        "page_token",
    );
}
