//! Escalation end to end through the binary: complaints answered through the complaints API,
//! escalated, referred, adjudicated and closed through the escalation API, the independent
//! body's feed read from NATS and by the reference consumer; one flow kills the process mid-way.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use proto::complaints::v1 as complaints;

use crate::stack::*;

#[tokio::test]
async fn an_answered_complaint_escalates_through_the_independent_body_to_closure_and_the_complaint_closes()
 {
    // Arrange
    let stack = Stack::new().await;
    let process = stack.start();
    let mut c = clients(process.port).await;
    let start = Timestamp::now() - SignedDuration::from_hours(24 * 4);
    let journey = Journey::new(&stack, 1, start);

    // Act
    let complaint_id = journey.answered(&mut c).await.unwrap();
    copied(&stack, complaint_id).await;
    let escalation_id = journey
        .escalated(&mut c, complaint_id, false)
        .await
        .unwrap();

    // Assert: the feed tells the body the whole case, in order, numbered 1..n.
    let feed = stack.feed_of(FULL_CASE.len()).await;
    assert_eq!(types_of(&feed, &escalation_id), FULL_CASE);
    let positions: Vec<&str> = feed
        .iter()
        .map(|m| header(m, "Redress-Feed-Position"))
        .collect();
    let expected: Vec<String> = (1..=feed.len()).map(|p| p.to_string()).collect();
    assert_eq!(positions, expected);
    // Nothing the complainant told the complaints context reaches the feed.
    for message in &feed {
        let payload = String::from_utf8_lossy(&message.payload).into_owned();
        for secret in [
            NAME,
            EMAIL,
            NARRATIVE,
            journey.provider.as_str(),
            "doc:complaint-1",
        ] {
            assert!(!payload.contains(secret), "the feed carries {secret:?}");
        }
        let outside = ::escalation::testing::fields_outside_feed_allow_list(
            header(message, "ce-type"),
            &message.payload,
        );
        assert!(outside.is_empty(), "{outside:?}");
    }
    // The complaints context closes the complaint once the escalation concluded.
    let token = journey.token("decision").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let complaint = c
            .complaints
            .get_complaint(with_token(
                complaints::GetComplaintRequest {
                    complaint_id: complaint_id.to_string(),
                    consistency: None,
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
            .complaint
            .unwrap();
        if complaint.status == complaints::ComplaintStatus::Closed as i32 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the complaint stays {}",
            complaint.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_accepted_reconsideration_reopens_the_complaint_in_the_complaints_context() {
    let stack = Stack::new().await;
    let process = stack.start();
    let mut c = clients(process.port).await;
    let journey = Journey::new(&stack, 2, Timestamp::now() - SignedDuration::from_hours(96));
    let complaint_id = journey.answered(&mut c).await.unwrap();
    copied(&stack, complaint_id).await;
    journey.escalated(&mut c, complaint_id, true).await.unwrap();
    let token = journey.token("decision").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let complaint = c
            .complaints
            .get_complaint(with_token(
                complaints::GetComplaintRequest {
                    complaint_id: complaint_id.to_string(),
                    consistency: None,
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
            .complaint
            .unwrap();
        if complaint.status == complaints::ComplaintStatus::UnderReconsideration as i32 {
            break;
        }
        if Instant::now() >= deadline {
            let pool = stack.db.pool("complaints").await.unwrap();
            let parked: Vec<(String, String)> =
                sqlx::query_as("SELECT subject, reason FROM parked_events")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            panic!(
                "the complaint stays {}; parked: {parked:?}",
                complaint.status
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_feed_stays_complete_and_in_order_when_the_service_is_killed_mid_flow() {
    // Arrange: six complaints answered, then escalated concurrently.
    const JOURNEYS: usize = 6;
    let stack = Arc::new(Stack::new().await);
    let first = stack.start();
    let mut c = clients(first.port).await;
    let start = Timestamp::now() - SignedDuration::from_hours(96);
    let journeys: Vec<Arc<Journey>> = (0..JOURNEYS)
        .map(|n| Arc::new(Journey::new(&stack, 10 + n, start)))
        .collect();
    let mut complaint_ids = Vec::new();
    for journey in &journeys {
        let id = journey.answered(&mut c).await.unwrap();
        copied(&stack, id).await;
        complaint_ids.push(id);
    }

    // Act: escalate all six at once; SIGKILL the process once the feed has a few messages, then
    // restart it and send every step again with the same request ids, as partners would.
    let lanes: Vec<_> = journeys
        .iter()
        .zip(&complaint_ids)
        .map(|(journey, id)| {
            let (journey, id, mut c) = (Arc::clone(journey), *id, c.clone());
            tokio::spawn(async move { journey.escalated(&mut c, id, false).await })
        })
        .collect();
    // Kill once a fraction of the escalation work is committed: every lane is then mid-flow.
    let pool = stack.db.pool("escalation").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let written: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_type = 'escalation'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if written >= 16 {
            break;
        }
        assert!(Instant::now() < deadline, "the flow did not start");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    pool.close().await;
    let mut first = first;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let interrupted = futures_util::future::join_all(lanes)
        .await
        .into_iter()
        .filter(|r| r.as_ref().map_or(true, Result::is_err))
        .count();
    assert!(interrupted > 0, "the kill must interrupt the flow");
    drop(first);
    let second = stack.start();
    let c = clients(second.port).await;
    let mut ids = Vec::new();
    for (journey, complaint_id) in journeys.iter().zip(&complaint_ids) {
        let id = until_done(|| {
            let (journey, mut c) = (Arc::clone(journey), c.clone());
            let complaint_id = *complaint_id;
            async move { journey.escalated(&mut c, complaint_id, false).await }
        })
        .await;
        ids.push(id);
    }

    // Assert: every case complete, each message once, positions 1..n without a gap.
    let feed = stack.feed_of(JOURNEYS * FULL_CASE.len()).await;
    assert_eq!(
        feed.len(),
        JOURNEYS * FULL_CASE.len(),
        "nothing announced twice"
    );
    for id in &ids {
        assert_eq!(types_of(&feed, id), FULL_CASE, "escalation {id}");
    }
    let positions: Vec<usize> = feed
        .iter()
        .map(|m| header(m, "Redress-Feed-Position").parse().unwrap())
        .collect();
    assert_eq!(positions, (1..=feed.len()).collect::<Vec<_>>());
    let message_ids: BTreeSet<&str> = feed.iter().map(|m| header(m, "Nats-Msg-Id")).collect();
    assert_eq!(message_ids.len(), feed.len());
    drop(second);

    // The reference consumer reads the whole feed as the body would, in two runs (stopping after
    // 25 lines, then resuming from its state file): every position once, in order, no gap.
    let state = tempfile::tempdir().unwrap();
    let mut config =
        redress::feed_tail::TailConfig::new(stack.nats.url(), state.path().join("feed"));
    config.domain = None;
    config.stream = platform::nats::Namespace::prefixed(&stack.prefix)
        .unwrap()
        .stream_name("feed");
    config.once = true;
    let mut lines = Vec::new();
    for limit in [Some(25), None] {
        config.limit = limit;
        let mut out = Vec::new();
        let summary = redress::feed_tail::run(
            &config,
            &mut out,
            &mut std::io::sink(),
            std::future::pending(),
        )
        .await
        .unwrap();
        assert!(summary.gaps.is_empty(), "{:?}", summary.gaps);
        lines.extend(String::from_utf8(out).unwrap().lines().map(str::to_owned));
    }
    let read: Vec<u64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["feed_position"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(read, (1..=feed.len() as u64).collect::<Vec<_>>());
}
