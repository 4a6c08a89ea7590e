//! `redress streams` as `ops`: every stream and consumer Redress owns, with the reliability
//! plan's settings; a second run changes nothing; a setting changed by hand is put back.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use platform::nats::Namespace;
use platform::testing::unique_prefix;

use crate::helpers::{nats_url_as, output, redress, secured_nats};

async fn streams(nats_url: &str, prefix: &str) -> Vec<String> {
    let mut command = redress();
    command
        .arg("streams")
        .env("NATS_URL", nats_url)
        .env("REDRESS_NATS_PREFIX", prefix);
    let output = output(command).await;
    assert!(
        output.status.success(),
        "redress streams failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn streams_run_twice_creates_every_stream_and_consumer_then_changes_nothing() {
    // Arrange: NATS with the deployment's accounts; the job logs in as ops.
    let nats = secured_nats().await;
    let prefix = unique_prefix();
    let url = nats_url_as(nats.url(), "ops");
    let ns = Namespace::prefixed(&prefix).unwrap();
    let names = ["complaints", "escalation", "learning-reviews", "feed"].map(|s| ns.stream_name(s));
    let consumers = [
        (ns.stream_name("feed"), "ib_feed"),
        (ns.stream_name("complaints"), "escalation-complaints-policy"),
        (ns.stream_name("escalation"), "complaints-escalation-policy"),
        (
            ns.stream_name("learning-reviews"),
            "complaints-learning-reviews-policy",
        ),
        (
            ns.stream_name("complaints"),
            "learning-reviews-complaints-policy",
        ),
        (
            ns.stream_name("escalation"),
            "learning-reviews-escalation-policy",
        ),
    ];

    // Act
    let first = streams(&url, &prefix).await;
    let js = jetstream::new(platform::nats::connect(&url, "test").await.unwrap());
    let configs_after_first = configs(&js, &names, &consumers).await;
    let second = streams(&url, &prefix).await;
    let configs_after_second = configs(&js, &names, &consumers).await;

    // Assert: the report, then what the server holds.
    let expected = |change: &str| -> Vec<String> {
        names
            .iter()
            .map(|name| format!("stream {name} {change}"))
            .chain(
                consumers
                    .iter()
                    .map(|(stream, durable)| format!("consumer {stream}/{durable} {change}")),
            )
            .collect()
    };
    assert_eq!(first, expected("created"));
    assert_eq!(second, expected("unchanged"));
    assert_eq!(configs_after_first, configs_after_second);
    for name in &names {
        let config = js
            .get_stream(name)
            .await
            .unwrap()
            .cached_info()
            .config
            .clone();
        assert_eq!(config.storage, stream::StorageType::File, "{name}");
        assert_eq!(config.retention, stream::RetentionPolicy::Limits, "{name}");
        assert_eq!(config.discard, stream::DiscardPolicy::Old, "{name}");
        assert!(config.deny_delete && config.deny_purge, "{name}");
        assert!(!config.allow_rollup, "{name}");
        assert_eq!(config.duplicate_window, Duration::from_secs(600), "{name}");
        assert_eq!(config.max_message_size, 256 * 1024, "{name}");
        assert_eq!(config.num_replicas, 1, "{name}");
    }
    let feed = js.get_stream(&names[3]).await.unwrap();
    let ib = feed.consumer_info("ib_feed").await.unwrap().config;
    assert_eq!(ib.ack_policy, consumer::AckPolicy::Explicit);
    assert_eq!(ib.deliver_policy, consumer::DeliverPolicy::All);
    assert_eq!(ib.max_ack_pending, 1);
    assert_eq!(ib.max_deliver, -1, "the feed is never given up on");
    let feed_subjects = format!("{prefix}.feed.>");
    assert!(
        ib.filter_subject == feed_subjects || ib.filter_subjects == [feed_subjects.clone()],
        "{ib:?}"
    );
    let policy = js
        .get_stream(&names[0])
        .await
        .unwrap()
        .consumer_info("escalation-complaints-policy")
        .await
        .unwrap()
        .config;
    assert_eq!(policy.max_deliver, 8);
    assert_eq!(policy.ack_wait, Duration::from_secs(30));
    assert_eq!(policy.max_ack_pending, 1, "in order");
}

#[tokio::test]
async fn streams_puts_back_a_setting_changed_by_hand_and_names_it() {
    // Arrange: the streams exist; an operator shortened the feed's duplicate window.
    let nats = secured_nats().await;
    let prefix = unique_prefix();
    let url = nats_url_as(nats.url(), "ops");
    streams(&url, &prefix).await;
    let js = jetstream::new(platform::nats::connect(&url, "test").await.unwrap());
    let feed = Namespace::prefixed(&prefix).unwrap().stream_name("feed");
    let mut config = js
        .get_stream(&feed)
        .await
        .unwrap()
        .cached_info()
        .config
        .clone();
    config.duplicate_window = Duration::from_secs(60);
    js.update_stream(config).await.unwrap();

    // Act
    let report = streams(&url, &prefix).await;

    // Assert
    assert!(
        report.contains(&format!("stream {feed} updated: duplicate_window")),
        "{report:?}"
    );
    assert_eq!(
        report
            .iter()
            .filter(|line| line.ends_with(" unchanged"))
            .count(),
        report.len() - 1
    );
    let config = js
        .get_stream(&feed)
        .await
        .unwrap()
        .cached_info()
        .config
        .clone();
    assert_eq!(config.duplicate_window, Duration::from_secs(600));
}

#[tokio::test]
async fn streams_fails_when_the_user_may_not_create_the_streams() {
    // Arrange: a service user, which may create only its own stream and those it reads.
    let nats = secured_nats().await;
    let url = nats_url_as(nats.url(), "complaints");
    let mut command = redress();
    command
        .arg("streams")
        .env("NATS_URL", &url)
        .env("REDRESS_NATS_PREFIX", "");

    // Act
    let output = output(command).await;

    // Assert: the job fails, naming what it could not do, without the password.
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Failed to"), "{stderr}");
    assert!(
        !stderr.contains(&crate::helpers::nats_password("complaints")),
        "the password must not be printed: {stderr}"
    );
}

/// Every stream's and consumer's configuration as the server reports it.
async fn configs(
    js: &jetstream::Context,
    streams: &[String],
    consumers: &[(String, &str)],
) -> Vec<serde_json::Value> {
    let mut configs = Vec::new();
    for name in streams {
        let config = js
            .get_stream(name)
            .await
            .unwrap()
            .cached_info()
            .config
            .clone();
        configs.push(serde_json::to_value(config).unwrap());
    }
    for (stream, durable) in consumers {
        let info = js
            .get_stream(stream)
            .await
            .unwrap()
            .consumer_info(durable)
            .await
            .unwrap();
        configs.push(serde_json::to_value(info.config).unwrap());
    }
    configs
}
