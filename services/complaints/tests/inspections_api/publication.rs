//! The publication gate: a report held by a formal complaint is not published.

use complaints::domain::inspection::{Command, InspectionCase};
use platform::event_store::CommandContext;
use platform::grpc::Role;
use proto::complaints::v1;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{Api, instant, reason, ts};

/// An inspection on site 10–11 June 2025 whose draft (16 June) and final (30 June) reports were
/// issued; the clock is at 1 July 2025.
async fn final_issued(api: &mut Api) -> Uuid {
    let id = api.inspected("2025-06-10", "2025-06-11").await;
    api.set_now("2025-06-16T10:00:00Z");
    api.client
        .issue_draft_report(api.system(v1::IssueDraftReportRequest {
            request_id: "draft-1".into(),
            inspection_id: id.to_string(),
            doc_ref: "doc:draft-1".into(),
            occurred_at: ts("2025-06-16T10:00:00Z"),
        }))
        .await
        .expect("draft issued");
    api.set_now("2025-06-30T10:00:00Z");
    api.client
        .issue_final_report(api.system(v1::IssueFinalReportRequest {
            request_id: "final-1".into(),
            inspection_id: id.to_string(),
            doc_ref: "doc:final-1".into(),
            occurred_at: ts("2025-06-30T10:00:00Z"),
        }))
        .await
        .expect("final issued");
    api.set_now("2025-07-01T10:00:00Z");
    id
}

fn publish(api: &Api, id: Uuid) -> tonic::Request<v1::PublishReportRequest> {
    api.system(v1::PublishReportRequest {
        request_id: "publish-1".into(),
        inspection_id: id.to_string(),
        occurred_at: ts("2025-07-01T10:00:00Z"),
    })
}

#[tokio::test]
async fn publishing_is_refused_while_a_formal_complaint_holds_the_report() {
    // Arrange: the complaints unit of work placed a hold.
    let mut api = Api::spawn().await;
    let id = final_issued(&mut api).await;
    let complaint_id = Uuid::now_v7();
    api.app
        .context
        .store
        .execute::<InspectionCase>(
            id,
            Command::PlacePublicationHold {
                complaint_id,
                placed_at: instant("2025-06-20T10:00:00Z"),
            },
            &CommandContext::default(),
        )
        .await
        .expect("hold placed");
    let before = api.event_count().await;

    // Act
    let refused = api
        .client
        .publish_report(publish(&api, id))
        .await
        .expect_err("held");
    api.app.settle().await;

    // Assert
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "PUBLICATION_HELD");
    assert_eq!(api.event_count().await, before);
    let gate = api
        .client
        .get_publication_gate(api.as_role(
            Role::ComplaintsInvestigator,
            v1::GetPublicationGateRequest {
                inspection_id: id.to_string(),
                consistency: None,
            },
        ))
        .await
        .expect("readable")
        .into_inner();
    assert_eq!(gate.holds.len(), 1);
    assert_eq!(gate.holds[0].complaint_id, complaint_id.to_string());
    assert!(!gate.publishable);
}

#[tokio::test]
async fn an_unheld_final_report_is_published_and_the_gate_shows_it() {
    // Arrange
    let mut api = Api::spawn().await;
    let id = final_issued(&mut api).await;
    api.app.settle().await;
    let gate_before = api
        .client
        .get_publication_gate(api.system(v1::GetPublicationGateRequest {
            inspection_id: id.to_string(),
            consistency: None,
        }))
        .await
        .expect("readable")
        .into_inner();

    // Act
    let published = api.client.publish_report(publish(&api, id)).await;
    api.app.settle().await;

    // Assert
    assert!(gate_before.publishable);
    assert!(published.is_ok(), "{published:?}");
    let gate = api
        .client
        .get_publication_gate(api.system(v1::GetPublicationGateRequest {
            inspection_id: id.to_string(),
            consistency: None,
        }))
        .await
        .expect("readable")
        .into_inner();
    assert!(gate.published_at.is_some());
    assert!(!gate.publishable);
}
