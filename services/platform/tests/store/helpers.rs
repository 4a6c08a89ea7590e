use platform::event_store::{EventStore, ExpectedVersion, NewEvent};
use platform::tail::Metadata;
use platform::testing::ledger::{self, Event};
use platform::testing::{TestDb, unique_prefix};
use uuid::Uuid;

pub const SCHEMA: &str = "ledgers";

pub struct Store {
    pub store: EventStore,
    /// Dropped last: the database goes when the test ends.
    pub _db: TestDb,
}

pub async fn store() -> Store {
    platform::telemetry::init_for_tests();
    let db = TestDb::create()
        .await
        .expect("Failed to create a test database.");
    let store = db
        .event_store(SCHEMA)
        .await
        .expect("Failed to migrate the event store.");
    Store { store, _db: db }
}

pub fn metadata() -> Metadata {
    Metadata {
        correlation_id: Uuid::now_v7(),
        actor: "test:user".into(),
        ..Metadata::default()
    }
}

pub fn opened(owner: &str) -> NewEvent {
    ledger::new_event(&Event::Opened(ledger::Opened {
        owner: owner.into(),
    }))
}

pub fn credited(amount: i64) -> NewEvent {
    ledger::new_event(&Event::Credited(ledger::Credited {
        amount,
        note: String::new(),
    }))
}

/// Appends `n` one-event streams and returns their event ids in append order.
pub async fn append_streams(store: &EventStore, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let appended = store
            .append(
                "ledger",
                Uuid::now_v7(),
                ExpectedVersion::NoStream,
                &[opened(&format!("owner {i}"))],
                &metadata(),
                None,
            )
            .await
            .expect("Failed to append.");
        ids.push(appended.events[0].event_id);
    }
    ids
}

pub fn prefix() -> String {
    unique_prefix()
}

/// Waits until `n` events are readable below the horizon (other tests' transactions anywhere
/// in the cluster can hold it back for a moment).
pub async fn wait_until_readable(store: &EventStore, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let page =
            platform::tail::read_after(store.pool(), platform::tail::Position::START, n as i64)
                .await
                .unwrap();
        if page.len() >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "events did not become readable"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}
