//! The complaints service as a whole: it starts, answers health checks, and its background work
//! runs on its own.

#![allow(clippy::unwrap_used, unreachable_pub)]

use complaints::testing::spawn_app;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

#[tokio::test]
async fn the_service_reports_serving_for_both_apis() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel().await);

    for service in [
        "",
        "redress.complaints.v1.Inspections",
        "redress.complaints.v1.Complaints",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;

        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
}

#[tokio::test]
async fn settling_an_empty_service_does_nothing_and_publishes_nothing() {
    let app = spawn_app().await;

    app.settle().await;

    assert_eq!(app.relay_once().await, 0);
}
