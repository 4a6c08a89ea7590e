//! Commands that begin a stream: decided on the default state and appended expecting no
//! stream, without a load. Every way the stream can turn out not to be new must give the
//! answer a load would have given.

use std::sync::Arc;

use platform::aggregate::{Aggregate, DecodeError, DomainEvent};
use platform::event_store::{Appended, CommandContext, CommandKey, ExecuteError, ExpectedVersion};
use platform::pg::Pool;
use platform::testing::ledger::{Command, Ledger, Rejection};
use uuid::Uuid;

use crate::helpers::{metadata, store};

fn context(key: Option<CommandKey>, expected: ExpectedVersion) -> CommandContext {
    CommandContext {
        metadata: metadata(),
        key,
        expected,
    }
}

fn open(owner: &str) -> Command {
    Command::Open {
        owner: owner.into(),
    }
}

fn key(name: &str, request: &[u8]) -> CommandKey {
    CommandKey::new("partner-a", name, "/test/Open", request).unwrap()
}

async fn versions(pool: &Pool, id: Uuid) -> Vec<i32> {
    sqlx::query_scalar("SELECT version FROM events WHERE stream_id = $1 ORDER BY version")
        .bind(id)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// A store with one open ledger: its id.
async fn opened_ledger() -> (crate::helpers::Store, Uuid) {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .execute::<Ledger>(id, open("a"), &context(None, ExpectedVersion::Any))
        .await
        .unwrap();
    (s, id)
}

#[test]
fn only_opening_a_ledger_begins_its_stream() {
    assert!(Ledger::starts_stream(&open("a")));
    assert!(!Ledger::starts_stream(&Command::Close));
    assert!(!Ledger::starts_stream(&Command::Credit {
        amount: 1,
        note: String::new(),
    }));
}

#[tokio::test]
async fn a_command_that_begins_a_new_stream_appends_its_first_version() {
    let s = store().await;
    let id = Uuid::now_v7();

    let appended = s
        .store
        .execute::<Ledger>(id, open("a"), &context(None, ExpectedVersion::NoStream))
        .await
        .unwrap();

    assert_eq!((appended.stream_id, appended.version), (id, 1));
    assert!(!appended.replayed);
    assert_eq!(versions(s.store.pool(), id).await, [1]);
}

#[tokio::test]
async fn beginning_a_stream_that_exists_is_decided_on_its_stored_state() {
    let (s, id) = opened_ledger().await;

    let again = s
        .store
        .execute::<Ledger>(id, open("b"), &context(None, ExpectedVersion::Any))
        .await;

    assert!(
        matches!(again, Err(ExecuteError::Rejected(Rejection::AlreadyOpen))),
        "{again:?}"
    );
    assert_eq!(versions(s.store.pool(), id).await, [1]);
}

#[tokio::test]
async fn beginning_a_stream_expected_absent_that_exists_is_a_conflict() {
    let (s, id) = opened_ledger().await;

    let again = s
        .store
        .execute::<Ledger>(id, open("b"), &context(None, ExpectedVersion::NoStream))
        .await;

    assert!(
        matches!(again, Err(ExecuteError::Conflict { actual: 1, .. })),
        "{again:?}"
    );
    assert_eq!(versions(s.store.pool(), id).await, [1]);
}

#[tokio::test]
async fn a_command_that_begins_a_stream_under_an_exact_version_is_checked_against_the_stream() {
    let s = store().await;
    let id = Uuid::now_v7();

    let result = s
        .store
        .execute::<Ledger>(id, open("a"), &context(None, ExpectedVersion::Exact(1)))
        .await;

    assert!(
        matches!(result, Err(ExecuteError::Conflict { actual: 0, .. })),
        "{result:?}"
    );
    assert!(versions(s.store.pool(), id).await.is_empty());
}

/// Opens ledger `id` for `owner` under one request id, `open-1`, whose request is the owner.
async fn keyed_open(
    s: &crate::helpers::Store,
    id: Uuid,
    owner: &str,
) -> Result<Appended, ExecuteError<Rejection>> {
    let key = key("open-1", owner.as_bytes());
    s.store
        .execute::<Ledger>(id, open(owner), &context(Some(key), ExpectedVersion::Any))
        .await
}

#[tokio::test]
async fn a_key_that_began_one_stream_answers_its_retry_addressed_to_another() {
    let s = store().await;
    let (first_id, second_id) = (Uuid::now_v7(), Uuid::now_v7());
    let first = keyed_open(&s, first_id, "a").await.unwrap();

    let retry = keyed_open(&s, second_id, "a").await.unwrap();

    assert!(retry.replayed);
    assert_eq!(retry.stream_id, first_id);
    assert_eq!(retry.events, first.events);
    assert!(versions(s.store.pool(), second_id).await.is_empty());
}

#[tokio::test]
async fn a_key_that_began_a_stream_is_refused_for_another_request() {
    let s = store().await;
    let (first_id, second_id) = (Uuid::now_v7(), Uuid::now_v7());
    keyed_open(&s, first_id, "a").await.unwrap();

    let on_new = keyed_open(&s, second_id, "b").await;
    let on_existing = keyed_open(&s, first_id, "b").await;

    assert!(matches!(on_new, Err(ExecuteError::KeyReused)), "{on_new:?}");
    assert!(
        matches!(on_existing, Err(ExecuteError::KeyReused)),
        "{on_existing:?}"
    );
    assert_eq!(versions(s.store.pool(), first_id).await, [1]);
    assert!(versions(s.store.pool(), second_id).await.is_empty());
}

#[tokio::test]
async fn commands_racing_to_begin_one_stream_have_one_winner_and_the_rest_see_its_state() {
    let s = store().await;
    let id = Uuid::now_v7();
    let store = Arc::new(s.store.clone());

    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .execute::<Ledger>(
                        id,
                        open(&format!("owner {i}")),
                        &context(None, ExpectedVersion::Any),
                    )
                    .await
            })
        })
        .collect();
    let mut opened = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(appended) => {
                assert_eq!(appended.version, 1);
                opened += 1;
            }
            Err(ExecuteError::Rejected(Rejection::AlreadyOpen)) => {}
            Err(other) => panic!("{other:?}"),
        }
    }

    assert_eq!(opened, 1);
    assert_eq!(versions(s.store.pool(), id).await, [1]);
}

/// A counter whose every command claims to begin its stream, rightly only for `Start`: the
/// store must still answer every other command from the stored state.
mod counter {
    use super::{Aggregate, DecodeError, DomainEvent};

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Event {
        Started,
        Bumped,
    }

    impl DomainEvent for Event {
        fn event_type(&self) -> &'static str {
            match self {
                Event::Started => "test.counter.Started",
                Event::Bumped => "test.counter.Bumped",
            }
        }

        fn encode_payload(&self) -> Vec<u8> {
            Vec::new()
        }

        fn decode(event_type: &str, _payload: &[u8]) -> Result<Self, DecodeError> {
            match event_type {
                "test.counter.Started" => Ok(Event::Started),
                "test.counter.Bumped" => Ok(Event::Bumped),
                other => Err(DecodeError::UnknownType(other.to_owned())),
            }
        }
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Command {
        Start,
        Bump,
        /// Changes nothing before the start; bumps after it.
        BumpIfStarted,
    }

    #[derive(Debug, PartialEq, Eq, thiserror::Error)]
    pub enum Rejection {
        #[error("not started")]
        NotStarted,
        #[error("already started")]
        AlreadyStarted,
    }

    #[derive(Debug, Default, PartialEq, Eq)]
    pub struct Counter {
        pub started: bool,
        pub count: u32,
    }

    impl Aggregate for Counter {
        const STREAM_TYPE: &'static str = "counter";
        type Command = Command;
        type Event = Event;
        type Rejection = Rejection;

        fn starts_stream(_command: &Command) -> bool {
            true
        }

        fn decide(&self, command: Command) -> Result<Vec<Event>, Rejection> {
            match (self.started, command) {
                (false, Command::Start) => Ok(vec![Event::Started]),
                (true, Command::Start) => Err(Rejection::AlreadyStarted),
                (false, Command::Bump) => Err(Rejection::NotStarted),
                (false, Command::BumpIfStarted) => Ok(vec![]),
                (true, Command::Bump | Command::BumpIfStarted) => Ok(vec![Event::Bumped]),
            }
        }

        fn evolve(self, event: &Event) -> Self {
            match event {
                Event::Started => Counter {
                    started: true,
                    ..self
                },
                Event::Bumped => Counter {
                    count: self.count + 1,
                    ..self
                },
            }
        }
    }
}

/// A store with one started counter, and an id with no stream.
async fn started_counter() -> (crate::helpers::Store, Uuid, Uuid) {
    let s = store().await;
    let (started, fresh) = (Uuid::now_v7(), Uuid::now_v7());
    s.store
        .execute::<counter::Counter>(
            started,
            counter::Command::Start,
            &context(None, ExpectedVersion::Any),
        )
        .await
        .unwrap();
    (s, started, fresh)
}

#[tokio::test]
async fn a_command_the_default_state_rejects_is_decided_on_the_stored_state() {
    use counter::{Command, Counter, Rejection};
    let (s, started, fresh) = started_counter().await;
    let any = || context(None, ExpectedVersion::Any);

    let bumped = s
        .store
        .execute::<Counter>(started, Command::Bump, &any())
        .await
        .unwrap();
    let refused = s
        .store
        .execute::<Counter>(fresh, Command::Bump, &any())
        .await;

    assert_eq!(bumped.version, 2);
    assert!(
        matches!(refused, Err(ExecuteError::Rejected(Rejection::NotStarted))),
        "{refused:?}"
    );
    let (state, version) = s.store.load::<Counter>(started).await.unwrap();
    assert_eq!((state.count, version), (1, 2));
    assert!(versions(s.store.pool(), fresh).await.is_empty());
}

#[tokio::test]
async fn a_command_that_changes_nothing_on_the_default_state_is_decided_on_the_stored_state() {
    use counter::{Command, Counter};
    let (s, started, fresh) = started_counter().await;
    let any = || context(None, ExpectedVersion::Any);

    let bumped = s
        .store
        .execute::<Counter>(started, Command::BumpIfStarted, &any())
        .await
        .unwrap();
    let unchanged = s
        .store
        .execute::<Counter>(fresh, Command::BumpIfStarted, &any())
        .await
        .unwrap();

    assert_eq!((bumped.version, bumped.events.len()), (2, 1));
    assert_eq!((unchanged.version, unchanged.events.len()), (0, 0));
    assert!(versions(s.store.pool(), fresh).await.is_empty());
}
