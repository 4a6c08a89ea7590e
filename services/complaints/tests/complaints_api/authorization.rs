//! Authorization (reliability plan §6.4): no token is UNAUTHENTICATED, a role without the RPC
//! PERMISSION_DENIED, another provider's complaint NOT_FOUND; none of them writes an event.

use complaints::domain::{Role, v1};
use tonic::{Code, Request};

use crate::helpers::*;

#[tokio::test]
async fn a_request_without_a_token_is_unauthenticated_and_writes_nothing() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api
        .inspection_with_draft(jiff::civil::date(2025, 6, 30))
        .await;
    let before = api.event_count().await;

    // Act
    let result = api
        .client
        .submit_formal_complaint(Request::new(submit_request(inspection_id, "K1")))
        .await;
    let query = api
        .client
        .list_complaints(Request::new(v1::ListComplaintsRequest::default()))
        .await;

    // Assert
    assert_eq!(result.expect_err("refused").code(), Code::Unauthenticated);
    assert_eq!(query.expect_err("refused").code(), Code::Unauthenticated);
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn roles_without_the_rpc_are_denied_and_write_nothing() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id) = api.submitted_complaint().await;
    let before = api.event_count().await;
    let id = complaint_id.to_string();
    let operator = api.token(Role::Operator);
    let inspector = api.token(Role::LeadInspector);
    let provider = api.provider();
    let investigator = api.investigator();
    let panel = api.token(Role::ClosedComplaintsPanelMember);
    let auditor = api.token(Role::Auditor);
    let c = &mut api.client;

    // Act
    let denied = [
        (
            "operator submits",
            c.submit_formal_complaint(authed(submit_request(inspection_id, "K9"), &operator))
                .await
                .err(),
        ),
        (
            "investigator submits",
            c.submit_formal_complaint(authed(submit_request(inspection_id, "K9"), &investigator))
                .await
                .err(),
        ),
        (
            "provider acknowledges",
            c.acknowledge_complaint(authed(
                v1::AcknowledgeComplaintRequest {
                    request_id: "a".into(),
                    complaint_id: id.clone(),
                },
                &provider,
            ))
            .await
            .err(),
        ),
        (
            "provider responds",
            c.issue_complaint_response(authed(
                v1::IssueComplaintResponseRequest {
                    request_id: "r".into(),
                    complaint_id: id.clone(),
                    outcome: 3,
                    remedies: vec![],
                    response_doc_ref: "doc:r".into(),
                },
                &provider,
            ))
            .await
            .err(),
        ),
        (
            "inspector assigns",
            c.assign_investigator(authed(
                v1::AssignInvestigatorRequest {
                    request_id: "a".into(),
                    complaint_id: id.clone(),
                },
                &inspector,
            ))
            .await
            .err(),
        ),
        (
            "investigator withdraws",
            c.withdraw_complaint(authed(
                v1::WithdrawComplaintRequest {
                    request_id: "w".into(),
                    complaint_id: id.clone(),
                    reason: 1,
                },
                &investigator,
            ))
            .await
            .err(),
        ),
        (
            "operator reads",
            c.get_complaint(authed(
                v1::GetComplaintRequest {
                    complaint_id: id.clone(),
                    consistency: None,
                },
                &operator,
            ))
            .await
            .err(),
        ),
        (
            "panel member reads a complaint",
            c.get_complaint(authed(
                v1::GetComplaintRequest {
                    complaint_id: id.clone(),
                    consistency: None,
                },
                &panel,
            ))
            .await
            .err(),
        ),
        (
            "provider reads the samples",
            c.list_closed_complaint_samples(authed(
                v1::ListClosedComplaintSamplesRequest::default(),
                &provider,
            ))
            .await
            .err(),
        ),
        (
            "auditor withdraws",
            c.withdraw_complaint(authed(
                v1::WithdrawComplaintRequest {
                    request_id: "w".into(),
                    complaint_id: id.clone(),
                    reason: 1,
                },
                &auditor,
            ))
            .await
            .err(),
        ),
    ];

    // Assert
    for (case, status) in denied {
        let status = status.unwrap_or_else(|| panic!("{case}: allowed"));
        assert_eq!(status.code(), Code::PermissionDenied, "{case}: {status:?}");
    }
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn the_auditor_and_the_complaints_team_read_any_complaint() {
    // Arrange
    let mut api = api().await;
    let (_, complaint_id) = api.submitted_complaint().await;
    api.app.settle().await;

    for role in [
        Role::Auditor,
        Role::ComplaintsInvestigator,
        Role::ComplaintsDecisionMaker,
    ] {
        // Act
        let token = api.token(role);
        let read = api
            .client
            .get_complaint(authed(
                v1::GetComplaintRequest {
                    complaint_id: complaint_id.to_string(),
                    consistency: None,
                },
                &token,
            ))
            .await;

        // Assert
        assert!(read.is_ok(), "{role} reads: {read:?}");
    }
}

#[tokio::test]
async fn another_providers_complaint_is_not_found_and_untouched() {
    // Arrange
    let mut api = api().await;
    let (inspection_id, complaint_id) = api.submitted_complaint().await;
    api.app.settle().await;
    let before = api.event_count().await;
    let other = api.token_for_other_provider();
    let id = complaint_id.to_string();
    let c = &mut api.client;

    // Act
    let results = [
        (
            "read",
            c.get_complaint(authed(
                v1::GetComplaintRequest {
                    complaint_id: id.clone(),
                    consistency: None,
                },
                &other,
            ))
            .await
            .err(),
        ),
        (
            "deadlines",
            c.get_complaint_deadlines(authed(
                v1::GetComplaintDeadlinesRequest {
                    complaint_id: id.clone(),
                    consistency: None,
                },
                &other,
            ))
            .await
            .err(),
        ),
        (
            "withdraw",
            c.withdraw_complaint(authed(
                v1::WithdrawComplaintRequest {
                    request_id: "w".into(),
                    complaint_id: id.clone(),
                    reason: 1,
                },
                &other,
            ))
            .await
            .err(),
        ),
        (
            "add information",
            c.add_complaint_information(authed(
                v1::AddComplaintInformationRequest {
                    request_id: "a".into(),
                    complaint_id: id.clone(),
                    doc_ref: "doc:x".into(),
                },
                &other,
            ))
            .await
            .err(),
        ),
        ("submit naming another provider", {
            let mut request = submit_request(inspection_id, "K5");
            request.submission.as_mut().expect("set").provider_id = PROVIDER.into();
            c.submit_formal_complaint(authed(request, &other))
                .await
                .err()
        }),
    ];

    // Assert
    for (case, status) in results {
        let status = status.unwrap_or_else(|| panic!("{case}: allowed"));
        assert_eq!(status.code(), Code::NotFound, "{case}: {status:?}");
    }
    assert_eq!(api.event_count().await, before);
}

#[tokio::test]
async fn an_unknown_complaint_is_not_found() {
    // Arrange
    let mut api = api().await;
    let token = api.investigator();

    // Act
    let result = api
        .client
        .acknowledge_complaint(authed(
            v1::AcknowledgeComplaintRequest {
                request_id: "a".into(),
                complaint_id: uuid::Uuid::now_v7().to_string(),
            },
            &token,
        ))
        .await;

    // Assert
    assert_eq!(result.expect_err("refused").code(), Code::NotFound);
}

#[tokio::test]
async fn a_complaint_about_another_providers_inspection_is_not_found() {
    // Arrange
    let mut api = api().await;
    let inspection_id = api.inspection_on_site(jiff::civil::date(2025, 6, 30)).await;
    let theirs = uuid::Uuid::now_v7();
    api.notify(theirs, jiff::civil::date(2025, 6, 23), OTHER_PROVIDER)
        .await;
    api.inspection(inspection_id, api.draft(jiff::civil::date(2025, 6, 30)))
        .await;
    let before = api.event_count().await;

    // Act
    let result = api
        .submit(theirs, "K1", london(jiff::civil::date(2025, 7, 3), 10, 0))
        .await;
    let mut wrong = submit_request(inspection_id, "K2");
    wrong.submission.as_mut().expect("set").provider_id = OTHER_PROVIDER.into();
    let on_behalf = api
        .client
        .submit_formal_complaint(authed(wrong, &api.decision_maker()))
        .await;

    // Assert
    assert_eq!(result.expect_err("refused").code(), Code::NotFound);
    assert_eq!(on_behalf.expect_err("refused").code(), Code::NotFound);
    assert_eq!(api.event_count().await, before);
}
