use std::sync::Arc;

use platform::event_store::{
    AppendError, CommandContext, CommandKey, ExecuteError, ExpectedVersion,
};
use platform::pg::Pool;
use platform::testing::ledger::{self, Command, Event, Ledger, Rejection};
use uuid::Uuid;

use crate::helpers::{credited, metadata, opened, store};

fn key(name: &str, request: &[u8]) -> CommandKey {
    CommandKey::new("partner-a", name, "/test/Append", request).unwrap()
}

async fn event_count(pool: &Pool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn appending_to_a_new_stream_with_no_stream_expected_stores_version_one() {
    let s = store().await;
    let id = Uuid::now_v7();

    let appended = s
        .store
        .append(
            "ledger",
            id,
            ExpectedVersion::NoStream,
            &[opened("a")],
            &metadata(),
            None,
        )
        .await
        .unwrap();

    assert_eq!(appended.version, 1);
    assert_eq!(appended.events.len(), 1);
    assert!(!appended.replayed);
    let events = s.store.read_stream(id, 0).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "redress.testing.ledger.Opened");
    assert_eq!(events[0].position, appended.events[0].position);
}

#[tokio::test]
async fn appending_with_no_stream_expected_to_an_existing_stream_is_refused() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::NoStream,
            &[opened("a")],
            &metadata(),
            None,
        )
        .await
        .unwrap();

    let result = s
        .store
        .append(
            "ledger",
            id,
            ExpectedVersion::NoStream,
            &[opened("b")],
            &metadata(),
            None,
        )
        .await;

    assert!(
        matches!(
            result,
            Err(AppendError::WrongExpectedVersion { actual: 1, .. })
        ),
        "{result:?}"
    );
    assert_eq!(event_count(s.store.pool()).await, 1);
}

#[tokio::test]
async fn appending_with_the_exact_current_version_appends_after_it() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::NoStream,
            &[opened("a")],
            &metadata(),
            None,
        )
        .await
        .unwrap();

    let appended = s
        .store
        .append(
            "ledger",
            id,
            ExpectedVersion::Exact(1),
            &[credited(5), credited(6)],
            &metadata(),
            None,
        )
        .await
        .unwrap();

    assert_eq!(appended.version, 3);
    assert_eq!(
        appended
            .events
            .iter()
            .map(|e| e.version)
            .collect::<Vec<_>>(),
        vec![2, 3]
    );
}

#[tokio::test]
async fn appending_with_a_stale_exact_version_is_refused_and_writes_nothing() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::NoStream,
            &[opened("a")],
            &metadata(),
            None,
        )
        .await
        .unwrap();
    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::Exact(1),
            &[credited(1)],
            &metadata(),
            None,
        )
        .await
        .unwrap();

    let result = s
        .store
        .append(
            "ledger",
            id,
            ExpectedVersion::Exact(1),
            &[credited(2)],
            &metadata(),
            None,
        )
        .await;

    assert!(
        matches!(
            result,
            Err(AppendError::WrongExpectedVersion { actual: 2, .. })
        ),
        "{result:?}"
    );
    assert_eq!(event_count(s.store.pool()).await, 2);
}

#[tokio::test]
async fn appending_with_an_exact_version_beyond_the_stream_is_refused_instead_of_leaving_a_gap() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::NoStream,
            &[opened("a")],
            &metadata(),
            None,
        )
        .await
        .unwrap();

    let result = s
        .store
        .append(
            "ledger",
            id,
            ExpectedVersion::Exact(5),
            &[credited(2)],
            &metadata(),
            None,
        )
        .await;

    assert!(
        matches!(
            result,
            Err(AppendError::WrongExpectedVersion { actual: 1, .. })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn appending_with_any_version_appends_after_whatever_is_there() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::Any,
            &[opened("a")],
            &metadata(),
            None,
        )
        .await
        .unwrap();

    let appended = s
        .store
        .append(
            "ledger",
            id,
            ExpectedVersion::Any,
            &[credited(1)],
            &metadata(),
            None,
        )
        .await
        .unwrap();

    assert_eq!(appended.version, 2);
}

#[tokio::test]
async fn an_empty_append_is_refused() {
    let s = store().await;

    let result = s
        .store
        .append(
            "ledger",
            Uuid::now_v7(),
            ExpectedVersion::Any,
            &[],
            &metadata(),
            None,
        )
        .await;

    assert!(matches!(result, Err(AppendError::Unexpected(_))));
}

#[tokio::test]
async fn concurrent_writers_expecting_the_same_version_produce_exactly_one_winner() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::NoStream,
            &[opened("a")],
            &metadata(),
            None,
        )
        .await
        .unwrap();
    let store = Arc::new(s.store.clone());

    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append(
                        "ledger",
                        id,
                        ExpectedVersion::Exact(1),
                        &[credited(i)],
                        &metadata(),
                        None,
                    )
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(AppendError::WrongExpectedVersion { .. }) => conflicts += 1,
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }

    assert_eq!((wins, conflicts), (1, 15));
    let versions: Vec<i32> =
        sqlx::query_scalar("SELECT version FROM events WHERE stream_id = $1 ORDER BY version")
            .bind(id)
            .fetch_all(s.store.pool())
            .await
            .unwrap();
    assert_eq!(versions, vec![1, 2]);
}

#[tokio::test]
async fn the_stream_version_constraint_refuses_a_duplicate_version_written_directly() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::NoStream,
            &[opened("a")],
            &metadata(),
            None,
        )
        .await
        .unwrap();

    let result = sqlx::query(
        "INSERT INTO events (event_id, stream_type, stream_id, version, event_type, payload, correlation_id, actor)
         VALUES ($1, 'ledger', $2, 1, 'x', '', $1, 'test')",
    )
    .bind(Uuid::now_v7())
    .bind(id)
    .execute(s.store.pool())
    .await;

    let error = result.unwrap_err();
    assert!(
        error
            .as_database_error()
            .is_some_and(|e| e.is_unique_violation()),
        "{error}"
    );
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_request_returns_the_original_answer_and_writes_nothing() {
    let s = store().await;
    let id = Uuid::now_v7();
    let key = key("k-1", b"open a");

    // `Any`, so only the key can stop the retry from appending again.
    let first = s
        .store
        .append(
            "ledger",
            id,
            ExpectedVersion::Any,
            &[opened("a")],
            &metadata(),
            Some(&key),
        )
        .await
        .unwrap();
    let retry = s
        .store
        .append(
            "ledger",
            id,
            ExpectedVersion::Any,
            &[opened("a")],
            &metadata(),
            Some(&key),
        )
        .await
        .unwrap();

    assert!(!first.replayed);
    assert!(retry.replayed);
    assert_eq!(retry.events, first.events);
    assert_eq!(retry.version, first.version);
    assert_eq!(event_count(s.store.pool()).await, 1);
}

#[tokio::test]
async fn the_same_key_with_another_request_is_refused_and_writes_nothing() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::NoStream,
            &[opened("a")],
            &metadata(),
            Some(&key("k-1", b"open a")),
        )
        .await
        .unwrap();

    let result = s
        .store
        .append(
            "ledger",
            Uuid::now_v7(),
            ExpectedVersion::NoStream,
            &[opened("b")],
            &metadata(),
            Some(&key("k-1", b"open b")),
        )
        .await;

    assert!(matches!(result, Err(AppendError::KeyReused)), "{result:?}");
    assert_eq!(event_count(s.store.pool()).await, 1);
}

#[tokio::test]
async fn the_same_key_from_another_caller_is_a_different_command() {
    let s = store().await;
    let mine = CommandKey::new("partner-a", "k-1", "/test/Append", b"x").unwrap();
    let theirs = CommandKey::new("partner-b", "k-1", "/test/Append", b"x").unwrap();
    s.store
        .append(
            "ledger",
            Uuid::now_v7(),
            ExpectedVersion::NoStream,
            &[opened("a")],
            &metadata(),
            Some(&mine),
        )
        .await
        .unwrap();

    let result = s
        .store
        .append(
            "ledger",
            Uuid::now_v7(),
            ExpectedVersion::NoStream,
            &[opened("b")],
            &metadata(),
            Some(&theirs),
        )
        .await
        .unwrap();

    assert!(!result.replayed);
    assert_eq!(event_count(s.store.pool()).await, 2);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_record_the_command_once() {
    let s = store().await;
    let id = Uuid::now_v7();
    let store = Arc::new(s.store.clone());
    let key = key("k-concurrent", b"open");

    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                store
                    .append(
                        "ledger",
                        id,
                        ExpectedVersion::Any,
                        &[opened("a")],
                        &metadata(),
                        Some(&key),
                    )
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }

    assert_eq!(event_count(s.store.pool()).await, 1);
    let originals: Vec<_> = answers
        .iter()
        .filter(|a| matches!(a, Ok(a) if !a.replayed))
        .collect();
    assert_eq!(originals.len(), 1);
    for answer in &answers {
        match answer {
            Ok(a) => assert_eq!(a.events.len(), 1),
            // A retry that lost the version race before the key row was visible is a conflict,
            // and retrying it again returns the original.
            Err(AppendError::WrongExpectedVersion { .. }) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
}

#[tokio::test]
async fn idempotency_keys_that_are_empty_too_long_or_not_printable_are_refused() {
    assert!(CommandKey::new("s", "", "/rpc", b"").is_err());
    assert!(CommandKey::new("s", &"k".repeat(129), "/rpc", b"").is_err());
    assert!(CommandKey::new("s", "has space", "/rpc", b"").is_err());
    assert!(CommandKey::new("s", "nul\0", "/rpc", b"").is_err());
    assert!(CommandKey::new("s", &"k".repeat(128), "/rpc", b"").is_ok());
}

#[tokio::test]
async fn events_are_append_only_even_for_the_table_owner() {
    let s = store().await;
    s.store
        .append(
            "ledger",
            Uuid::now_v7(),
            ExpectedVersion::Any,
            &[opened("a")],
            &metadata(),
            None,
        )
        .await
        .unwrap();

    for sql in [
        "UPDATE events SET actor = 'x'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let error = sqlx::raw_sql(sql)
            .execute(s.store.pool())
            .await
            .unwrap_err();

        assert_eq!(
            error.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42501"),
            "{sql}: {error}"
        );
    }
    assert_eq!(event_count(s.store.pool()).await, 1);
}

#[tokio::test]
async fn metadata_is_stored_with_every_event() {
    let s = store().await;
    let id = Uuid::now_v7();
    let meta = platform::tail::Metadata {
        correlation_id: Uuid::now_v7(),
        causation_id: Some(Uuid::now_v7()),
        actor: "inspector:42".into(),
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        tracestate: Some("vendor=1".into()),
        policy_version: Some("complaints-2024-04".into()),
        calendar_version: Some("ew-2026-11".into()),
    };

    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::Any,
            &[opened("a"), credited(1)],
            &meta,
            None,
        )
        .await
        .unwrap();

    let events = s.store.read_stream(id, 0).await.unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.metadata == meta));
}

fn context(key: Option<CommandKey>) -> CommandContext {
    CommandContext {
        metadata: metadata(),
        key,
        expected: ExpectedVersion::Any,
    }
}

#[tokio::test]
async fn executing_a_command_folds_the_stream_decides_and_appends() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .execute::<Ledger>(id, Command::Open { owner: "a".into() }, &context(None))
        .await
        .unwrap();

    let appended = s
        .store
        .execute::<Ledger>(
            id,
            Command::Credit {
                amount: 7,
                note: String::new(),
            },
            &context(None),
        )
        .await
        .unwrap();

    assert_eq!(appended.version, 2);
    let (state, version) = s.store.load::<Ledger>(id).await.unwrap();
    assert_eq!((state, version), (Ledger::Open { balance: 7 }, 2));
}

#[tokio::test]
async fn a_rejected_command_writes_nothing_and_names_the_rule() {
    let s = store().await;
    let id = Uuid::now_v7();

    let result = s
        .store
        .execute::<Ledger>(id, Command::Close, &context(None))
        .await;

    assert!(
        matches!(result, Err(ExecuteError::Rejected(Rejection::NotOpen))),
        "{result:?}"
    );
    assert_eq!(event_count(s.store.pool()).await, 0);
}

#[tokio::test]
async fn a_retried_command_returns_its_recorded_answer_even_though_it_would_now_be_rejected() {
    let s = store().await;
    let id = Uuid::now_v7();
    let key = key("open-once", b"open a");

    let first = s
        .store
        .execute::<Ledger>(
            id,
            Command::Open { owner: "a".into() },
            &context(Some(key.clone())),
        )
        .await
        .unwrap();
    let retry = s
        .store
        .execute::<Ledger>(id, Command::Open { owner: "a".into() }, &context(Some(key)))
        .await
        .unwrap();

    assert!(retry.replayed);
    assert_eq!(retry.events, first.events);
    assert_eq!(event_count(s.store.pool()).await, 1);
}

#[tokio::test]
async fn a_command_that_changes_nothing_records_nothing() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .execute::<Ledger>(id, Command::Open { owner: "a".into() }, &context(None))
        .await
        .unwrap();
    s.store
        .execute::<Ledger>(id, Command::Close, &context(None))
        .await
        .unwrap();

    let again = s
        .store
        .execute::<Ledger>(id, Command::Close, &context(None))
        .await
        .unwrap();

    assert!(again.events.is_empty());
    assert_eq!(again.version, 2);
    assert_eq!(event_count(s.store.pool()).await, 2);
}

#[tokio::test]
async fn a_command_with_a_stale_expected_version_is_a_conflict() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .execute::<Ledger>(id, Command::Open { owner: "a".into() }, &context(None))
        .await
        .unwrap();
    let stale = CommandContext {
        expected: ExpectedVersion::Exact(3),
        ..context(None)
    };

    let result = s.store.execute::<Ledger>(id, Command::Close, &stale).await;

    assert!(
        matches!(result, Err(ExecuteError::Conflict { actual: 1, .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn commands_racing_on_one_aggregate_without_expectations_all_take_effect() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .execute::<Ledger>(id, Command::Open { owner: "a".into() }, &context(None))
        .await
        .unwrap();
    let store = Arc::new(s.store.clone());

    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .execute::<Ledger>(
                        id,
                        Command::Credit {
                            amount: 1,
                            note: String::new(),
                        },
                        &context(None),
                    )
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    let (state, version) = s.store.load::<Ledger>(id).await.unwrap();
    assert_eq!((state, version), (Ledger::Open { balance: 4 }, 5));
}

#[tokio::test]
async fn a_command_addressed_to_another_aggregate_type_is_refused() {
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .append(
            "complaint",
            id,
            ExpectedVersion::Any,
            &[opened("a")],
            &metadata(),
            None,
        )
        .await
        .unwrap();

    let result = s
        .store
        .execute::<Ledger>(id, Command::Close, &context(None))
        .await;
    // A command that begins a stream finds it taken and loads it.
    let opening = s
        .store
        .execute::<Ledger>(id, Command::Open { owner: "a".into() }, &context(None))
        .await;

    assert!(
        matches!(result, Err(ExecuteError::WrongStreamType(found)) if found == id),
        "{result:?}"
    );
    assert!(
        matches!(opening, Err(ExecuteError::WrongStreamType(found)) if found == id),
        "{opening:?}"
    );
    assert_eq!(event_count(s.store.pool()).await, 1);
}

#[tokio::test]
async fn an_event_this_code_cannot_decode_fails_the_load_loudly() {
    let s = store().await;
    let id = Uuid::now_v7();
    let unknown = platform::event_store::NewEvent {
        event_type: "redress.testing.ledger.Future".into(),
        payload: vec![],
    };
    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::Any,
            &[unknown],
            &metadata(),
            None,
        )
        .await
        .unwrap();

    let result = s.store.load::<Ledger>(id).await;

    assert!(
        matches!(result, Err(ExecuteError::Unexpected(_))),
        "{result:?}"
    );
}

#[test]
fn the_ledger_given_when_then_support_checks_events_and_rejections() {
    use platform::aggregate::given;
    given::<Ledger>([])
        .when(Command::Open { owner: "a".into() })
        .then([Event::Opened(ledger::Opened { owner: "a".into() })]);
    given::<Ledger>([Event::Opened(ledger::Opened { owner: "a".into() })])
        .when(Command::Open { owner: "b".into() })
        .then_rejects(Rejection::AlreadyOpen);
    given::<Ledger>([Event::Opened(ledger::Opened { owner: "a".into() })])
        .when(Command::Credit {
            amount: 0,
            note: String::new(),
        })
        .then_rejects(Rejection::NotPositive);
    given::<Ledger>([
        Event::Opened(ledger::Opened::default()),
        Event::Closed(ledger::Closed {}),
    ])
    .when(Command::Close)
    .then_nothing();
}

#[test]
#[should_panic(expected = "the command produced other events")]
fn then_fails_when_the_events_differ() {
    use platform::aggregate::given;
    given::<Ledger>([])
        .when(Command::Open { owner: "a".into() })
        .then([Event::Opened(ledger::Opened { owner: "b".into() })]);
}

mod unit_of_work {
    use super::*;
    use crate::helpers::opened;

    async fn versions(pool: &Pool, id: Uuid) -> Vec<i32> {
        sqlx::query_scalar("SELECT version FROM events WHERE stream_id = $1 ORDER BY version")
            .bind(id)
            .fetch_all(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_unit_of_work_commits_every_stream_in_one_transaction() {
        let s = store().await;
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut work = s.store.unit_of_work();
        work.stage("ledger", a, ExpectedVersion::NoStream, vec![opened("a")]);
        work.stage(
            "ledger",
            b,
            ExpectedVersion::NoStream,
            vec![opened("b"), credited(1)],
        );

        let answers = work.commit(&metadata(), None).await.unwrap();

        assert_eq!(answers.len(), 2);
        assert_eq!(answers[1].stream_id, b);
        assert_eq!(answers[1].version, 2);
        assert_eq!(
            answers[0].events[0].position.transaction,
            answers[1].events[0].position.transaction
        );
        assert_eq!(versions(s.store.pool(), a).await, vec![1]);
        assert_eq!(versions(s.store.pool(), b).await, vec![1, 2]);
    }

    #[tokio::test]
    async fn when_one_stream_of_a_unit_of_work_conflicts_nothing_is_written() {
        let s = store().await;
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        s.store
            .append(
                "ledger",
                b,
                ExpectedVersion::NoStream,
                &[opened("b")],
                &metadata(),
                None,
            )
            .await
            .unwrap();
        let mut work = s.store.unit_of_work();
        work.stage("ledger", a, ExpectedVersion::NoStream, vec![opened("a")]);
        work.stage(
            "ledger",
            b,
            ExpectedVersion::NoStream,
            vec![opened("b again")],
        );

        let result = work.commit(&metadata(), None).await;

        assert!(
            matches!(
                result,
                Err(AppendError::WrongExpectedVersion { actual: 1, .. })
            ),
            "{result:?}"
        );
        assert!(
            versions(s.store.pool(), a).await.is_empty(),
            "the first stream must be rolled back"
        );
    }

    #[tokio::test]
    async fn a_retried_unit_of_work_returns_the_recorded_answer_and_writes_nothing() {
        let s = store().await;
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let key = key("uow-1", b"both");
        fn stage(
            store: &platform::event_store::EventStore,
            a: Uuid,
            b: Uuid,
        ) -> platform::event_store::UnitOfWork<'_> {
            let mut work = store.unit_of_work();
            work.stage("ledger", a, ExpectedVersion::Any, vec![opened("a")]);
            work.stage("ledger", b, ExpectedVersion::Any, vec![opened("b")]);
            work
        }
        let first = stage(&s.store, a, b)
            .commit(&metadata(), Some(&key))
            .await
            .unwrap();

        let retry = stage(&s.store, a, b)
            .commit(&metadata(), Some(&key))
            .await
            .unwrap();

        assert_eq!(retry.len(), 1);
        assert!(retry[0].replayed);
        assert_eq!(retry[0].events, first[1].events);
        assert_eq!(event_count(s.store.pool()).await, 2);
    }

    #[tokio::test]
    async fn a_unit_of_work_reusing_a_key_for_another_request_is_refused() {
        let s = store().await;
        let mut work = s.store.unit_of_work();
        work.stage(
            "ledger",
            Uuid::now_v7(),
            ExpectedVersion::Any,
            vec![opened("a")],
        );
        work.commit(&metadata(), Some(&key("uow-2", b"one")))
            .await
            .unwrap();
        let mut other = s.store.unit_of_work();
        other.stage(
            "ledger",
            Uuid::now_v7(),
            ExpectedVersion::Any,
            vec![opened("b")],
        );

        let result = other.commit(&metadata(), Some(&key("uow-2", b"two"))).await;

        assert!(matches!(result, Err(AppendError::KeyReused)), "{result:?}");
        assert_eq!(event_count(s.store.pool()).await, 1);
    }
}

#[tokio::test]
async fn a_command_inside_a_callers_transaction_commits_with_it_or_not_at_all() {
    use platform::event_store::within;
    let s = store().await;
    let id = Uuid::now_v7();

    let mut tx = s.store.pool().begin().await.unwrap();
    within::execute::<Ledger>(
        &mut tx,
        id,
        Command::Open { owner: "a".into() },
        &metadata(),
    )
    .await
    .unwrap();
    let (seen, version) = within::load::<Ledger>(&mut tx, id).await.unwrap();
    assert_eq!(
        (seen, version),
        (Ledger::Open { balance: 0 }, 1),
        "the transaction sees its own write"
    );
    tx.rollback().await.unwrap();
    assert_eq!(
        s.store.load::<Ledger>(id).await.unwrap().1,
        0,
        "rolled back with it"
    );

    let mut tx = s.store.pool().begin().await.unwrap();
    within::execute::<Ledger>(
        &mut tx,
        id,
        Command::Open { owner: "a".into() },
        &metadata(),
    )
    .await
    .unwrap();
    let credit = Command::Credit {
        amount: 5,
        note: String::new(),
    };
    within::execute::<Ledger>(&mut tx, id, credit, &metadata())
        .await
        .unwrap();
    let rejected = within::execute::<Ledger>(
        &mut tx,
        id,
        Command::Open { owner: "b".into() },
        &metadata(),
    )
    .await;
    assert!(matches!(
        rejected,
        Err(ExecuteError::Rejected(Rejection::AlreadyOpen))
    ));
    tx.commit().await.unwrap();
    assert_eq!(
        s.store.load::<Ledger>(id).await.unwrap(),
        (Ledger::Open { balance: 5 }, 2)
    );
}

#[tokio::test]
async fn a_command_inside_a_transaction_conflicts_when_another_writer_got_there_first() {
    use platform::event_store::within;
    let s = store().await;
    let id = Uuid::now_v7();
    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::NoStream,
            &[opened("a")],
            &metadata(),
            None,
        )
        .await
        .unwrap();
    let mut tx = s.store.pool().begin().await.unwrap();
    let (_, version) = within::load::<Ledger>(&mut tx, id).await.unwrap();
    // Another writer appends after this transaction read the stream.
    s.store
        .append(
            "ledger",
            id,
            ExpectedVersion::Exact(1),
            &[credited(1)],
            &metadata(),
            None,
        )
        .await
        .unwrap();
    let appended = within::append(
        &mut tx,
        "ledger",
        id,
        ExpectedVersion::Exact(version),
        &[credited(2)],
        &metadata(),
    )
    .await;
    assert!(
        matches!(appended, Err(AppendError::WrongExpectedVersion { .. })),
        "{appended:?}"
    );
    tx.rollback().await.unwrap();
    assert_eq!(
        s.store.load::<Ledger>(id).await.unwrap(),
        (Ledger::Open { balance: 1 }, 2)
    );
}
