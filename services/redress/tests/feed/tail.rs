//! `redress feed tail` against a server with the real accounts, logged in as the independent
//! body, on feed messages with the headers the escalation service sets.

use std::process::Command;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use proto::feed::v1 as feed;
use redress::feed_tail::{self, Error, Gap, Summary, TailConfig};
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;
use uuid::Uuid;

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_redress");

/// The feed with its consumer, the escalation user to publish, and a state directory.
struct Feed {
    nats: SecuredNats,
    escalation: Connection,
    dir: TempDir,
}

impl Feed {
    async fn start() -> Feed {
        let nats = SecuredNats::start().await;
        let escalation = nats.connect("escalation").await;
        // A message left unacknowledged comes back after 1 s rather than Redress's 30 s, so a
        // test can wait for its redelivery.
        let mut config = ib_feed_config();
        config.ack_wait = Duration::from_secs(1);
        create_feed_with(&escalation, config).await;
        Feed {
            nats,
            escalation,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The body's settings: its user, drain and exit.
    fn config(&self) -> TailConfig {
        let mut config = TailConfig::new(self.nats.url(), self.dir.path().join("feed.state"));
        config.user = Some("ib".into());
        config.password = Some(SecretString::from(password("ib")));
        config.once = true;
        config
    }

    /// One run; its stdout lines as JSON and its stderr notes.
    async fn tail(&self, config: &TailConfig) -> (Result<Summary, Error>, Vec<Value>, String) {
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        let result = feed_tail::run(config, &mut out, &mut notes, std::future::pending()).await;
        let lines = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).expect("each stdout line is JSON"))
            .collect();
        (result, lines, String::from_utf8(notes).unwrap())
    }

    async fn ib_feed(&self) -> jetstream::consumer::Info {
        let mut consumer: jetstream::consumer::Consumer<pull::Config> = self
            .escalation
            .js
            .get_consumer_from_stream("ib_feed", "FEED")
            .await
            .unwrap();
        consumer.info().await.unwrap().clone()
    }
}

fn positions(lines: &[Value]) -> Vec<u64> {
    lines
        .iter()
        .map(|line| line["feed_position"].as_u64().expect("a feed_position"))
        .collect()
}

#[tokio::test]
async fn feed_tail_prints_each_message_as_one_json_line_with_every_field_decoded() {
    // Arrange
    let feed = Feed::start().await;
    let escalation_id = Uuid::now_v7();
    let referred_id = publish_feed(
        &feed.escalation.js,
        1,
        escalation_id,
        &referred(escalation_id),
    )
    .await;
    publish_feed(
        &feed.escalation.js,
        2,
        escalation_id,
        &accepted(escalation_id),
    )
    .await;

    // Act
    let (result, lines, notes) = feed.tail(&feed.config()).await;

    // Assert
    let summary = result.unwrap();
    assert_eq!((summary.printed, summary.last_feed_position), (2, 2));
    assert_eq!(positions(&lines), [1, 2]);
    let first = &lines[0];
    assert_eq!(first["id"], referred_id.to_string());
    assert_eq!(first["type"], "redress.feed.v1.EscalationReferred");
    assert_eq!(first["escalation_id"], escalation_id.to_string());
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        first["message"],
        json!({
            "escalationId": escalation_id.to_string(),
            "caseRef": "ESC-2025-7K3QMX2D",
            "referredAt": "2026-01-05T08:00:00Z",
            "grounds": ["GROUND_DISCOURTESY", "GROUND_FAILURE_TO_INVESTIGATE_PROPERLY"],
            "remit": "REMIT_SCHOOLS",
            "keyDates": {
                "lastOnsiteOn": "2025-11-12",
                "draftReportIssuedAt": "2025-11-17T17:20:00Z",
                "complaintSubmittedAt": "2025-11-23T12:13:20Z",
                "responseIssuedAt": "2025-12-17T19:33:20Z",
                "escalationRequestedAt": "2025-12-29T09:20:00Z",
                "applicationWindowClosedAt": "2026-02-25T06:13:20Z",
            },
            "complaintOutcome": "COMPLAINT_OUTCOME_NOT_UPHELD",
            "responseOverdue": false,
            "documents": [{ "documentId": "doc-1", "kind": "DOCUMENT_KIND_COMPLAINT" }],
        })
    );
    assert_eq!(lines[1]["type"], type_name::<feed::ReferralAccepted>());
    assert_eq!(lines[1]["message"]["acceptedAt"], "2026-01-06T11:46:40Z");
    assert!(first.get("payload_base64").is_none());
    assert_eq!(notes, "", "nothing but gaps goes to the notes");
    assert_eq!(feed_tail::load_state(&feed.config().state_file).unwrap(), 2);
    let info = feed.ib_feed().await;
    assert_eq!(info.ack_floor.stream_sequence, 2);
    assert_eq!(info.num_ack_pending, 0);
}

#[tokio::test]
async fn feed_tail_resumes_after_a_restart_without_repeating_a_message() {
    // Arrange
    let feed = Feed::start().await;
    publish_case(&feed.escalation.js, 1, 3).await;
    let mut first_run = feed.config();
    first_run.limit = Some(2);
    let (first, first_lines, _) = feed.tail(&first_run).await;
    publish_case(&feed.escalation.js, 4, 1).await;

    // Act
    let (second, second_lines, _) = feed.tail(&feed.config()).await;

    // Assert
    assert_eq!(first.unwrap().printed, 2);
    assert_eq!(positions(&first_lines), [1, 2]);
    assert_eq!(positions(&second_lines), [3, 4]);
    assert_eq!(second.unwrap().duplicates, 0);
}

#[tokio::test]
async fn feed_tail_acknowledges_a_redelivered_message_without_printing_it_again() {
    // Arrange: the first run saves position 1 and stops before acknowledging it.
    let feed = Feed::start().await;
    publish_case(&feed.escalation.js, 1, 3).await;
    let scenario = fail::FailScenario::setup();
    fail::cfg("feed_tail::after_save_before_ack", "1*return").unwrap();
    let (crashed, first_lines, _) = feed.tail(&feed.config()).await;
    scenario.teardown();

    // Act: the server redelivers message 1 to the next run.
    let (second, second_lines, _) = feed.tail(&feed.config()).await;

    // Assert
    assert!(crashed.is_err());
    assert_eq!(positions(&first_lines), [1]);
    assert_eq!(positions(&second_lines), [2, 3]);
    let summary = second.unwrap();
    assert_eq!(summary.duplicates, 1);
    let info = feed.ib_feed().await;
    assert_eq!(
        info.num_redelivered, 0,
        "nothing is left waiting for redelivery"
    );
    assert_eq!(info.ack_floor.stream_sequence, 3);
}

#[tokio::test]
async fn feed_tail_reports_a_gap_on_stderr_and_carries_on() {
    // Arrange
    let feed = Feed::start().await;
    publish_case(&feed.escalation.js, 1, 2).await;
    publish_case(&feed.escalation.js, 5, 1).await;

    // Act
    let (result, lines, notes) = feed.tail(&feed.config()).await;

    // Assert
    let summary = result.unwrap();
    assert_eq!(positions(&lines), [1, 2, 5]);
    assert_eq!(
        summary.gaps,
        [Gap {
            expected: 3,
            received: 5
        }]
    );
    let notes: Vec<Value> = notes
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(notes, [json!({ "gap": { "expected": 3, "received": 5 } })]);
}

#[tokio::test]
async fn feed_tail_with_fail_on_gap_stops_and_leaves_the_message_after_the_gap_for_the_next_run() {
    // Arrange
    let feed = Feed::start().await;
    publish_case(&feed.escalation.js, 1, 1).await;
    publish_case(&feed.escalation.js, 3, 1).await;
    let mut strict = feed.config();
    strict.fail_on_gap = true;

    // Act
    let (result, lines, notes) = feed.tail(&strict).await;

    // Assert
    let gap = Gap {
        expected: 2,
        received: 3,
    };
    assert!(matches!(result, Err(Error::Gap(g)) if g == gap));
    assert_eq!(positions(&lines), [1]);
    assert_eq!(notes.trim(), r#"{"gap":{"expected":2,"received":3}}"#);
    assert_eq!(feed_tail::load_state(&strict.state_file).unwrap(), 1);
    assert_eq!(feed.ib_feed().await.ack_floor.stream_sequence, 1);
    let (tolerant, lines, _) = feed.tail(&feed.config()).await;
    assert_eq!(positions(&lines), [3]);
    assert_eq!(tolerant.unwrap().gaps, [gap]);
}

#[tokio::test]
async fn feed_tail_prints_a_message_of_an_unknown_type_with_its_raw_payload() {
    // Arrange: a type added to the feed after this build.
    let feed = Feed::start().await;
    let escalation_id = Uuid::now_v7();
    publish_raw(
        &feed.escalation.js,
        1,
        "redress.feed.v1.HearingScheduled",
        escalation_id,
        vec![0x0a, 0x02, b'h', b'i'],
    )
    .await;

    // Act
    let (result, lines, _) = feed.tail(&feed.config()).await;

    // Assert
    assert_eq!(result.unwrap().printed, 1);
    assert_eq!(lines[0]["type"], "redress.feed.v1.HearingScheduled");
    assert_eq!(lines[0]["message"], Value::Null);
    assert_eq!(lines[0]["payload_base64"], "CgJoaQ==");
    assert_eq!(feed.ib_feed().await.ack_floor.stream_sequence, 1);
}

#[tokio::test]
async fn the_redress_binary_prints_only_feed_lines_on_stdout_and_json_logs_on_stderr() {
    // Arrange
    let feed = Feed::start().await;
    publish_case(&feed.escalation.js, 1, 2).await;
    let state = feed.dir.path().join("binary.state");

    // Act
    let output = Command::new(BIN)
        .args(["feed", "tail", "--once"])
        .env("NATS_URL", feed.nats.url())
        .env("REDRESS_FEED_NATS_USER", "ib")
        .env("REDRESS_FEED_NATS_PASSWORD", password("ib"))
        .env("REDRESS_FEED_STATE_FILE", &state)
        .env("REDRESS_LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();

    // Assert
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("stdout holds only feed lines"))
        .collect();
    assert_eq!(positions(&stdout), [1, 2]);
    let logs: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).expect("stderr holds JSON log lines"))
        .collect();
    assert!(logs.iter().any(|l| l["message"] == "tailing the feed"));
    assert_eq!(feed_tail::load_state(&state).unwrap(), 2);
}

#[tokio::test]
async fn the_redress_binary_exits_non_zero_at_a_gap_with_fail_on_gap() {
    // Arrange
    let feed = Feed::start().await;
    publish_case(&feed.escalation.js, 2, 1).await;

    // Act
    let output = Command::new(BIN)
        .args([
            "feed",
            "tail",
            "--once",
            "--fail-on-gap",
            "--nats-user",
            "ib",
        ])
        .arg("--nats-url")
        .arg(feed.nats.url())
        .arg("--state-file")
        .arg(feed.dir.path().join("strict.state"))
        .env("REDRESS_FEED_NATS_PASSWORD", password("ib"))
        .output()
        .unwrap();

    // Assert
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l == r#"{"gap":{"expected":1,"received":2}}"#),
        "{stderr}"
    );
}

#[test]
fn feed_tail_help_names_every_setting_and_its_environment_variable() {
    let output = Command::new(BIN)
        .args(["feed", "tail", "--help"])
        .output()
        .unwrap();

    let help = String::from_utf8(output.stdout).unwrap();
    for variable in [
        "NATS_URL",
        "REDRESS_FEED_NATS_USER",
        "REDRESS_FEED_NATS_PASSWORD",
        "REDRESS_FEED_NATS_PASSWORD_FILE",
        "REDRESS_FEED_JETSTREAM_DOMAIN",
        "REDRESS_FEED_STREAM",
        "REDRESS_FEED_DURABLE",
        "REDRESS_FEED_STATE_FILE",
        "REDRESS_FEED_ONCE",
        "REDRESS_FEED_LIMIT",
        "REDRESS_FEED_FAIL_ON_GAP",
        "REDRESS_LOG_FORMAT",
    ] {
        assert!(
            help.contains(&format!("[env: {variable}")),
            "{variable} missing from:\n{help}"
        );
    }
}
