//! The platform's metric names, their descriptions and the Prometheus exporter settings.
//!
//! Metrics are recorded through the `metrics` facade; [`init`](super::init) installs the
//! Prometheus recorder when `metrics_addr` is set. Without a recorder, recording is a no-op.

use std::net::SocketAddr;

use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};

/// Every metric name the platform emits. The strings are part of the operators' contract
/// (dashboards and alerts use them): never rename one without a migration note.
pub mod names {
    /// Counter of finished gRPC requests. Labels: `rpc` (the full method path, e.g.
    /// `/redress.complaints.v1.Complaints/SubmitFormalComplaint`, so it names the gRPC service;
    /// `unknown` for a path no service declares), `code` (`OK`, `FAILED_PRECONDITION`, …).
    pub const GRPC_REQUESTS_TOTAL: &str = "redress_grpc_requests_total";
    /// Histogram of gRPC request durations in seconds. Labels: `rpc`, `code`.
    pub const GRPC_REQUEST_DURATION_SECONDS: &str = "redress_grpc_request_duration_seconds";
    /// Histogram of command execution durations in seconds. Labels: `stream_type` (the
    /// aggregate's, e.g. `formal_complaint`; each belongs to one service), `outcome` (`ok`,
    /// `replayed`, `rejected`, `conflict`, `key_reused`, `not_found`, `error`).
    pub const COMMAND_DURATION_SECONDS: &str = "redress_command_duration_seconds";
    /// Counter of optimistic-concurrency conflicts on append. Labels: `stream_type`.
    pub const APPEND_CONFLICTS_TOTAL: &str = "redress_append_conflicts_total";
    /// Counter of events appended to the event store. Labels: `stream_type`.
    pub const EVENTS_APPENDED_TOTAL: &str = "redress_events_appended_total";
    /// Counter of events the relay published to NATS. Labels: `service` (`complaints`,
    /// `escalation`, `learning-reviews`), `relay` (`relay`, `relay.feed`).
    pub const RELAY_PUBLISHED_TOTAL: &str = "redress_relay_published_total";
    /// Gauge of events not yet published by the relay. Labels: `service`, `relay`.
    pub const RELAY_BACKLOG_EVENTS: &str = "redress_relay_backlog_events";
    /// Gauge of the age in seconds of the oldest unpublished event. Labels: `service`, `relay`.
    pub const RELAY_LAG_SECONDS: &str = "redress_relay_lag_seconds";
    /// Gauge of how far a projection is behind the event store, in seconds.
    /// Labels: `service` (the service's schema: `complaints`, `escalation`,
    /// `learning_reviews`), `projection`.
    pub const PROJECTION_LAG_SECONDS: &str = "redress_projection_lag_seconds";
    /// Counter of events applied by a projection. Labels: `service`, `projection`.
    pub const PROJECTION_EVENTS_APPLIED_TOTAL: &str = "redress_projection_events_applied_total";
    /// Gauge of the age in seconds of the oldest transaction holding the read horizon, as the
    /// service's relay sees it. Labels: `service`, `relay`.
    pub const HORIZON_AGE_SECONDS: &str = "redress_horizon_age_seconds";
    /// Counter of messages a consumer finished handling. Labels: `consumer`, `outcome`.
    pub const CONSUMER_HANDLED_TOTAL: &str = "redress_consumer_handled_total";
    /// Counter of messages redelivered to a consumer. Labels: `consumer`.
    pub const CONSUMER_REDELIVERIES_TOTAL: &str = "redress_consumer_redeliveries_total";
    /// Counter of messages a consumer parked as unprocessable. Labels: `consumer`.
    pub const CONSUMER_PARKED_TOTAL: &str = "redress_consumer_parked_total";
    /// Gauge of messages currently parked by a consumer. Labels: `consumer`.
    pub const CONSUMER_PARKED_EVENTS: &str = "redress_consumer_parked_events";
    /// Gauge of the last position translated onto a service's numbered feed (the independent
    /// body's feed). Labels: `service`.
    pub const FEED_POSITION: &str = "redress_feed_position";
    /// Gauge of the last feed position its relay has had acknowledged by JetStream.
    /// Labels: `service`.
    pub const FEED_PUBLISHED_POSITION: &str = "redress_feed_published_position";

    /// All of the above, in declaration order.
    pub const ALL: [&str; 17] = [
        GRPC_REQUESTS_TOTAL,
        GRPC_REQUEST_DURATION_SECONDS,
        COMMAND_DURATION_SECONDS,
        APPEND_CONFLICTS_TOTAL,
        EVENTS_APPENDED_TOTAL,
        RELAY_PUBLISHED_TOTAL,
        RELAY_BACKLOG_EVENTS,
        RELAY_LAG_SECONDS,
        PROJECTION_LAG_SECONDS,
        PROJECTION_EVENTS_APPLIED_TOTAL,
        HORIZON_AGE_SECONDS,
        CONSUMER_HANDLED_TOTAL,
        CONSUMER_REDELIVERIES_TOTAL,
        CONSUMER_PARKED_TOTAL,
        CONSUMER_PARKED_EVENTS,
        FEED_POSITION,
        FEED_PUBLISHED_POSITION,
    ];
}

/// Registers a description and unit for every name in [`names`] with the current recorder.
///
/// [`init`](super::init) calls it after installing the Prometheus recorder. It is idempotent, and
/// a no-op when no recorder is installed. Descriptions appear in the Prometheus output as
/// `# HELP` lines once the metric has a value.
pub fn describe_metrics() {
    use names::*;

    describe_counter!(
        GRPC_REQUESTS_TOTAL,
        Unit::Count,
        "Finished gRPC requests, by rpc and status code."
    );
    describe_histogram!(
        GRPC_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "gRPC request duration, by rpc and status code."
    );
    describe_histogram!(
        COMMAND_DURATION_SECONDS,
        Unit::Seconds,
        "Command execution time (load, decide, append), by stream type and outcome."
    );
    describe_counter!(
        APPEND_CONFLICTS_TOTAL,
        Unit::Count,
        "Appends rejected because the stream moved on (optimistic concurrency), by stream type."
    );
    describe_counter!(
        EVENTS_APPENDED_TOTAL,
        Unit::Count,
        "Events appended to the event store, by stream type."
    );
    describe_counter!(
        RELAY_PUBLISHED_TOTAL,
        Unit::Count,
        "Events the relay published to NATS and saw acknowledged."
    );
    describe_gauge!(
        RELAY_BACKLOG_EVENTS,
        Unit::Count,
        "Events recorded but not yet published by the relay."
    );
    describe_gauge!(
        RELAY_LAG_SECONDS,
        Unit::Seconds,
        "Age of the oldest event not yet published by the relay."
    );
    describe_gauge!(
        PROJECTION_LAG_SECONDS,
        Unit::Seconds,
        "Age of the oldest event a projection has not yet applied (0 when caught up)."
    );
    describe_counter!(
        PROJECTION_EVENTS_APPLIED_TOTAL,
        Unit::Count,
        "Events applied by a projection."
    );
    describe_gauge!(
        HORIZON_AGE_SECONDS,
        Unit::Seconds,
        "Age of the oldest open transaction; readers cannot see events past it (the read horizon)."
    );
    describe_counter!(
        CONSUMER_HANDLED_TOTAL,
        Unit::Count,
        "NATS messages a consumer finished handling, by outcome."
    );
    describe_counter!(
        CONSUMER_REDELIVERIES_TOTAL,
        Unit::Count,
        "NATS messages delivered to a consumer more than once."
    );
    describe_counter!(
        CONSUMER_PARKED_TOTAL,
        Unit::Count,
        "NATS messages a consumer gave up on and parked for an operator."
    );
    describe_gauge!(
        CONSUMER_PARKED_EVENTS,
        Unit::Count,
        "NATS messages currently parked by a consumer."
    );
    describe_gauge!(
        FEED_POSITION,
        Unit::Count,
        "The last position translated onto the feed (gap-free, from 1)."
    );
    describe_gauge!(
        FEED_PUBLISHED_POSITION,
        Unit::Count,
        "The last feed position JetStream has acknowledged; the feed position minus this is what awaits publishing."
    );
}

/// Upper bounds, in seconds, of the duration histogram buckets: 1 ms to 10 s.
const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The exporter `init` installs: `/metrics` on `addr`, with duration histograms rendered as
/// Prometheus histograms (aggregatable across replicas) rather than the default summaries.
pub(super) fn prometheus_builder(addr: SocketAddr) -> Result<PrometheusBuilder, BuildError> {
    let mut builder = PrometheusBuilder::new().with_http_listener(addr);
    for name in [
        names::GRPC_REQUEST_DURATION_SECONDS,
        names::COMMAND_DURATION_SECONDS,
    ] {
        builder =
            builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), &DURATION_BUCKETS)?;
    }
    Ok(builder)
}
