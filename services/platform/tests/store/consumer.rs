use std::time::Duration;

use async_nats::HeaderMap;
use platform::consumer::{Consumer, ConsumerSpec, Delivery, HandleError, Handler, Outcome};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::helpers::append_streams;
use crate::relay::{Setup, setup};

/// Records each event it handles; fails as the event's owner name asks.
#[derive(Clone, Copy, Debug)]
struct Recorder;

impl Handler for Recorder {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        delivery: &Delivery,
    ) -> Result<(), HandleError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS handled (event_id uuid NOT NULL, times integer NOT NULL, PRIMARY KEY (event_id))")
            .execute(&mut *conn)
            .await
            .map_err(|e| HandleError::Transient(e.into()))?;
        let body = String::from_utf8_lossy(&delivery.payload);
        if body.contains("permanent") {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "cannot ever handle this"
            )));
        }
        if body.contains("transient") {
            return Err(HandleError::Transient(anyhow::anyhow!("try again later")));
        }
        sqlx::query("INSERT INTO handled VALUES ($1, 1) ON CONFLICT (event_id) DO UPDATE SET times = handled.times + 1")
            .bind(delivery.event_id)
            .execute(&mut *conn)
            .await
            .map_err(|e| HandleError::Transient(e.into()))?;
        Ok(())
    }
}

fn spec(t: &Setup, durable: &str) -> ConsumerSpec {
    let mut spec = ConsumerSpec::new(
        &t.stream,
        durable,
        vec![format!("{}.>", t.namespace.subject_root("ledgers"))],
    );
    spec.max_deliver = 2;
    spec.backoff = vec![Duration::from_secs(2)];
    spec
}

async fn consumer(t: &Setup, spec: ConsumerSpec) -> Consumer<Recorder> {
    Consumer::create(t.s.store.pool().clone(), &t.js, spec, Recorder)
        .await
        .unwrap()
}

async fn handled(t: &Setup) -> Vec<(Uuid, i32)> {
    sqlx::query_as("SELECT event_id, times FROM handled ORDER BY event_id")
        .fetch_all(t.s.store.pool())
        .await
        .unwrap_or_default()
}

/// Publishes a raw message on the test stream.
async fn publish(t: &Setup, id: Option<Uuid>, body: &str) {
    let mut headers = HeaderMap::new();
    if let Some(id) = id {
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.to_string().as_str());
    }
    let subject = format!(
        "{}.raw.{}",
        t.namespace.subject_root("ledgers"),
        Uuid::now_v7()
    );
    t.js.publish_with_headers(subject, headers, body.to_owned().into())
        .await
        .unwrap()
        .await
        .unwrap();
}

async fn parked(t: &Setup) -> Vec<(Option<Uuid>, String)> {
    sqlx::query_as("SELECT event_id, reason FROM parked_events ORDER BY id")
        .fetch_all(t.s.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_consumer_handles_each_published_event_once_and_a_redelivery_takes_no_effect() {
    let t = setup().await;
    let ids = append_streams(&t.s.store, 6).await;
    t.relay().run_once().await.unwrap();
    let first = consumer(&t, spec(&t, "policy")).await;
    let outcomes = first.run_once().await.unwrap();
    assert_eq!(outcomes, vec![Outcome::Handled; 6]);

    // Act: the durable consumer is recreated from the start of the stream: every event comes again.
    t.js.get_stream(&t.stream)
        .await
        .unwrap()
        .delete_consumer("policy")
        .await
        .unwrap();
    let again = consumer(&t, spec(&t, "policy"))
        .await
        .run_once()
        .await
        .unwrap();

    // Assert
    assert_eq!(again, vec![Outcome::Duplicate; 6]);
    let mut expected: Vec<(Uuid, i32)> = ids.iter().map(|id| (*id, 1)).collect();
    expected.sort();
    assert_eq!(handled(&t).await, expected);
}

#[tokio::test]
async fn a_transient_failure_is_retried_and_parked_after_the_last_delivery() {
    let t = setup().await;
    let id = Uuid::now_v7();
    publish(&t, Some(id), "transient").await;
    let c = consumer(&t, spec(&t, "policy")).await;

    let first = c.run_once().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let second = c.run_once().await.unwrap();

    assert_eq!(first, vec![Outcome::Retrying]);
    assert_eq!(second, vec![Outcome::Parked]);
    assert_eq!(
        parked(&t).await,
        vec![(Some(id), "transient: try again later".to_owned())]
    );
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(t.s.store.pool())
        .await
        .unwrap();
    assert_eq!(inbox, 0, "a failed handling leaves no inbox record");
}

#[tokio::test]
async fn a_message_that_can_never_be_handled_is_parked_and_the_consumer_moves_on() {
    let t = setup().await;
    let poison = Uuid::now_v7();
    let good = Uuid::now_v7();
    publish(&t, Some(poison), "permanent").await;
    publish(&t, None, "no id at all").await;
    publish(&t, Some(good), "fine").await;
    let c = consumer(&t, spec(&t, "policy")).await;

    let outcomes = c.run_once().await.unwrap();

    assert_eq!(
        outcomes,
        vec![Outcome::Parked, Outcome::Parked, Outcome::Handled]
    );
    let parked = parked(&t).await;
    assert_eq!(
        parked[0],
        (
            Some(poison),
            "permanent: cannot ever handle this".to_owned()
        )
    );
    assert_eq!(parked[1], (None, "no event id in Nats-Msg-Id".to_owned()));
    assert_eq!(handled(&t).await, vec![(good, 1)]);
    let (payload, headers): (Vec<u8>, serde_json::Value) =
        sqlx::query_as("SELECT payload, headers FROM parked_events WHERE event_id = $1")
            .bind(poison)
            .fetch_one(t.s.store.pool())
            .await
            .unwrap();
    assert_eq!(payload, b"permanent");
    assert_eq!(headers["Nats-Msg-Id"][0], poison.to_string());
}
