//! `redress events show <stream id>` against a running `redress serve`: a stream's events in
//! version order as JSON lines, with their place in the log, their metadata and the payload
//! decoded through the descriptor set.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use platform::grpc::Role;
use proto::complaints::v1 as complaints;
use proto::complaints::v1::inspections_client::InspectionsClient;
use serde_json::Value;
use tonic::metadata::MetadataValue;
use uuid::Uuid;

use crate::helpers::{output, redress};
use crate::workload::{Served, Workload, migrated};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn show(served: &Served, args: &[&str]) -> (bool, Vec<Value>, String) {
    let mut command = served.redress();
    command.args(["events", "show"]).args(args);
    let shown = output(command).await;
    let lines = String::from_utf8_lossy(&shown.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (
        shown.status.success(),
        lines,
        String::from_utf8_lossy(&shown.stderr).into_owned(),
    )
}

#[tokio::test]
async fn events_show_prints_a_streams_events_in_order_with_metadata_and_decoded_payloads() {
    // Arrange: an inspection notified with a trace context, and a whole case.
    let served = Served::start(false).await;
    let inspection_id = Uuid::new_v4();
    let mut inspections = InspectionsClient::new(served.channel().await);
    let mut notify = tonic::Request::new(complaints::RecordInspectionNotifiedRequest {
        request_id: "events-show-notify".into(),
        inspection_id: inspection_id.to_string(),
        provider_id: "URN-EVENTS-1".into(),
        remit: complaints::Remit::Schools as i32,
        lead_inspector_ref: "staff:lead-1".into(),
        team_inspector_refs: vec![],
        on_site_starts_on: platform::calendar::local_date(Timestamp::now()).to_string(),
        occurred_at: Some(platform::aggregate::timestamp(
            Timestamp::now() - SignedDuration::from_hours(24),
        )),
    });
    let token = served.token("partner:inspection-system", Role::InspectionSystem, None);
    notify
        .metadata_mut()
        .insert("authorization", MetadataValue::try_from(&token).unwrap());
    notify
        .metadata_mut()
        .insert("traceparent", MetadataValue::from_static(TRACEPARENT));
    notify.set_timeout(Duration::from_secs(10));
    inspections
        .record_inspection_notified(notify)
        .await
        .unwrap();
    let case = Workload::new(&served).await.case(0).await;
    let complaint_id = case.complaint_id.unwrap();
    served.settle().await;

    // Act
    let (ok, lines, stderr) = show(
        &served,
        &[&inspection_id.to_string(), "--service", "complaints"],
    )
    .await;

    // Assert
    assert!(ok, "{stderr}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["service"], "complaints");
    assert_eq!(line["stream_type"], "inspection_case");
    assert_eq!(line["stream_id"], inspection_id.to_string());
    assert_eq!(line["version"], 1);
    assert_eq!(
        line["event_type"],
        "redress.complaints.v1.InspectionNotified"
    );
    assert_eq!(line["payload"]["providerId"], "URN-EVENTS-1");
    assert_eq!(line["payload"]["inspectionId"], inspection_id.to_string());
    assert_eq!(line["metadata"]["actor"], "partner:inspection-system");
    assert_eq!(line["metadata"]["traceparent"], TRACEPARENT);
    assert!(line["metadata"]["correlation_id"].is_string());
    assert!(line.get("payload_base64").is_none());
    let pool = served.db.pool("complaints").await.unwrap();
    let (event_id, transaction_id, position): (Uuid, i64, i64) = sqlx::query_as(
        "SELECT event_id, transaction_id::text::bigint, position FROM events WHERE stream_id = $1",
    )
    .bind(inspection_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(line["event_id"], event_id.to_string());
    assert_eq!(line["transaction_id"], transaction_id);
    assert_eq!(line["position"], position);
    assert!(line["recorded_at"].as_str().unwrap().ends_with('Z'));

    // A complaint's id names its stream in complaints and its record in escalation.
    let (ok, everywhere, stderr) = show(&served, &[&complaint_id.to_string()]).await;
    assert!(ok, "{stderr}");
    let services: Vec<&str> = everywhere
        .iter()
        .map(|l| l["service"].as_str().unwrap())
        .collect();
    assert!(
        services.contains(&"complaints") && services.contains(&"escalation"),
        "{services:?}"
    );
    let complaint_lines: Vec<&Value> = everywhere
        .iter()
        .filter(|l| l["service"] == "complaints")
        .collect();
    let versions: Vec<i64> = complaint_lines
        .iter()
        .map(|l| l["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
    assert_eq!(
        complaint_lines[0]["event_type"],
        "redress.complaints.v1.ComplaintSubmitted"
    );
    assert!(everywhere.iter().all(|l| !l["payload"].is_null()));

    let (ok, escalation_only, _) = show(
        &served,
        &[&complaint_id.to_string(), "--service", "escalation"],
    )
    .await;
    assert!(ok);
    assert!(!escalation_only.is_empty());
    assert_eq!(
        escalation_only,
        everywhere
            .into_iter()
            .filter(|l| l["service"] == "escalation")
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn events_show_fails_for_a_stream_no_service_has() {
    let db = migrated().await;
    let unknown = Uuid::new_v4().to_string();

    let mut command = redress();
    command
        .args(["events", "show", &unknown])
        .env("DATABASE_URL", db.url());
    let shown = output(command).await;

    let (ok, lines, stderr) = (
        shown.status.success(),
        shown.stdout,
        String::from_utf8_lossy(&shown.stderr),
    );

    assert!(!ok);
    assert!(lines.is_empty());
    assert!(
        stderr.contains(&format!(
            "no stream {unknown} in the log of complaints, escalation, learning-reviews"
        )),
        "{stderr}"
    );
}
