//! What a running `redress serve` tells an operator without being asked: every metric family of
//! the platform on `/metrics` (REDRESS_METRICS_ADDR) with the labels dashboards group by, and
//! JSON logs that carry the caller's trace id.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use proto::complaints::v1 as complaints;
use proto::complaints::v1::inspections_client::InspectionsClient;
use tonic::metadata::MetadataValue;

use crate::workload::{Served, Workload};

/// One sample line of the Prometheus text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(body: &str) -> Vec<Sample> {
    body.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (key, value) = pair.split_once("=\"")?;
                    Some((key.to_owned(), value.trim_end_matches('"').to_owned()))
                })
                .collect();
            Some(Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

fn scrape(port: u16) -> String {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap_or_default();
    response
}

/// A family, and the labels one of its samples must have (`None`: any value).
struct Expected {
    name: &'static str,
    labels: &'static [(&'static str, Option<&'static str>)],
}

const EXPECTED: &[Expected] = &[
    Expected {
        name: "redress_grpc_requests_total",
        labels: &[
            (
                "rpc",
                Some("/redress.complaints.v1.Inspections/RecordInspectionNotified"),
            ),
            ("code", Some("OK")),
        ],
    },
    Expected {
        name: "redress_grpc_requests_total",
        labels: &[
            (
                "rpc",
                Some("/redress.escalation.v1.Escalations/RequestEscalation"),
            ),
            ("code", Some("OK")),
        ],
    },
    Expected {
        name: "redress_grpc_requests_total",
        labels: &[
            (
                "rpc",
                Some("/redress.complaints.v1.Inspections/RecordOnSiteStarted"),
            ),
            ("code", Some("UNAUTHENTICATED")),
        ],
    },
    Expected {
        name: "redress_grpc_request_duration_seconds_bucket",
        labels: &[
            (
                "rpc",
                Some("/redress.learning_reviews.v1.LearningReviews/ReportIncident"),
            ),
            ("code", Some("OK")),
            ("le", None),
        ],
    },
    Expected {
        name: "redress_command_duration_seconds_bucket",
        labels: &[
            ("stream_type", Some("formal_complaint")),
            ("outcome", Some("ok")),
        ],
    },
    Expected {
        name: "redress_append_conflicts_total",
        labels: &[("stream_type", Some("escalation"))],
    },
    Expected {
        name: "redress_events_appended_total",
        labels: &[("stream_type", Some("incident_notification"))],
    },
    Expected {
        name: "redress_relay_published_total",
        labels: &[("service", Some("complaints")), ("relay", Some("relay"))],
    },
    Expected {
        name: "redress_relay_published_total",
        labels: &[
            ("service", Some("escalation")),
            ("relay", Some("relay.feed")),
        ],
    },
    Expected {
        name: "redress_relay_backlog_events",
        labels: &[
            ("service", Some("learning-reviews")),
            ("relay", Some("relay")),
        ],
    },
    Expected {
        name: "redress_relay_lag_seconds",
        labels: &[("service", Some("escalation")), ("relay", Some("relay"))],
    },
    Expected {
        name: "redress_horizon_age_seconds",
        labels: &[("service", Some("complaints")), ("relay", Some("relay"))],
    },
    Expected {
        name: "redress_projection_lag_seconds",
        labels: &[
            ("service", Some("escalation")),
            ("projection", Some("escalations")),
        ],
    },
    Expected {
        name: "redress_projection_events_applied_total",
        labels: &[
            ("service", Some("complaints")),
            ("projection", Some("complaints")),
        ],
    },
    Expected {
        name: "redress_consumer_handled_total",
        labels: &[
            ("consumer", Some("escalation-complaints-policy")),
            ("outcome", Some("handled")),
        ],
    },
    Expected {
        name: "redress_consumer_redeliveries_total",
        labels: &[("consumer", Some("complaints-escalation-policy"))],
    },
    Expected {
        name: "redress_consumer_parked_total",
        labels: &[("consumer", Some("learning-reviews-complaints-policy"))],
    },
    Expected {
        name: "redress_consumer_parked_events",
        labels: &[("consumer", Some("complaints-learning-reviews-policy"))],
    },
    Expected {
        name: "redress_feed_position",
        labels: &[("service", Some("escalation"))],
    },
    Expected {
        name: "redress_feed_published_position",
        labels: &[("service", Some("escalation"))],
    },
];

fn missing(samples: &[Sample]) -> Vec<String> {
    EXPECTED
        .iter()
        .filter(|expected| {
            !samples.iter().any(|sample| {
                sample.name == expected.name
                    && expected.labels.iter().all(|(key, value)| {
                        sample
                            .labels
                            .get(*key)
                            .is_some_and(|actual| value.is_none_or(|v| v == actual))
                    })
            })
        })
        .map(|expected| format!("{} {:?}", expected.name, expected.labels))
        .collect()
}

fn value(samples: &[Sample], name: &str) -> Option<f64> {
    samples.iter().find(|s| s.name == name).map(|s| s.value)
}

#[tokio::test]
async fn metrics_show_every_family_labelled_by_service_rpc_and_outcome() {
    // Arrange: one whole case across the three services, and one refused call.
    let served = Served::start(true).await;
    let case = Workload::new(&served).await.case(0).await;
    let mut unauthenticated = InspectionsClient::new(served.channel().await);
    let refused = unauthenticated
        .record_on_site_started(complaints::RecordOnSiteStartedRequest {
            request_id: "metrics-refused".into(),
            inspection_id: case.inspection_id.to_string(),
            occurred_at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    served.settle().await;
    let port = served.metrics_port.unwrap();

    // Act: the gauges are set by loops that report when idle; wait for their next round.
    let deadline = Instant::now() + Duration::from_secs(30);
    let samples = loop {
        let samples = parse(&scrape(port));
        let (feed, published) = (
            value(&samples, "redress_feed_position").unwrap_or_default(),
            value(&samples, "redress_feed_published_position"),
        );
        let missing = missing(&samples);
        // The escalation reached the feed, and the feed relay has published all of it.
        if missing.is_empty() && feed >= 1.0 && published == Some(feed) {
            break samples;
        }
        assert!(
            Instant::now() < deadline,
            "after 30 s, /metrics lacks {missing:?} (feed at {feed}, published {published:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Assert
    let parked = samples
        .iter()
        .filter(|s| s.name == "redress_consumer_parked_events")
        .map(|s| s.value)
        .sum::<f64>();
    assert_eq!(parked, 0.0);
}

#[tokio::test]
async fn json_logs_of_a_request_carry_the_callers_trace_id() {
    let served = Served::start(false).await;
    let mut client = InspectionsClient::new(served.channel().await);
    let mut request = tonic::Request::new(complaints::RecordOnSiteStartedRequest {
        request_id: "traced".into(),
        inspection_id: uuid::Uuid::new_v4().to_string(),
        occurred_at: None,
    });
    request.metadata_mut().insert(
        "traceparent",
        MetadataValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    );

    let refused = client.record_on_site_started(request).await.unwrap_err();

    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = std::fs::read_to_string(&served.log_file).unwrap();
        let line = logs
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|line| line["message"] == "request not authenticated");
        if let Some(line) = line {
            assert_eq!(
                line["trace_id"], "0af7651916cd43dd8448eb211c80319c",
                "{line}"
            );
            assert_eq!(line["span_id"], "b7ad6b7169203331", "{line}");
            assert_eq!(line["span"]["name"], "grpc.request");
            break;
        }
        assert!(Instant::now() < deadline, "no such log line in {logs}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
