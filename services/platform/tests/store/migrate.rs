use platform::migrate::{self, Migration, Migrations};
use platform::testing::TestDb;

#[tokio::test]
async fn applying_migrations_twice_applies_nothing_the_second_time() {
    let db = TestDb::create().await.unwrap();
    let pool = db.pool("svc").await.unwrap();

    let first = migrate::apply(&pool, "svc", &[migrate::EVENT_STORE])
        .await
        .unwrap();
    let second = migrate::apply(&pool, "svc", &[migrate::EVENT_STORE])
        .await
        .unwrap();

    assert_eq!(first, platform::migrate::EVENT_STORE.migrations.len());
    assert_eq!(second, 0);
}

#[tokio::test]
async fn a_migration_changed_after_it_was_applied_stops_the_start() {
    let db = TestDb::create().await.unwrap();
    let pool = db.pool("svc").await.unwrap();
    const V1: &[Migration] = &[Migration {
        version: 1,
        name: "t",
        sql: "CREATE TABLE t (a int);",
    }];
    const CHANGED: &[Migration] = &[Migration {
        version: 1,
        name: "t",
        sql: "CREATE TABLE t (a bigint);",
    }];
    migrate::apply(
        &pool,
        "svc",
        &[Migrations {
            component: "svc",
            migrations: V1,
        }],
    )
    .await
    .unwrap();

    let error = migrate::apply(
        &pool,
        "svc",
        &[Migrations {
            component: "svc",
            migrations: CHANGED,
        }],
    )
    .await
    .unwrap_err();

    assert!(
        error
            .to_string()
            .contains("was changed after it was applied"),
        "{error}"
    );
}

#[tokio::test]
async fn a_failing_migration_applies_nothing() {
    let db = TestDb::create().await.unwrap();
    let pool = db.pool("svc").await.unwrap();
    const BROKEN: &[Migration] = &[
        Migration {
            version: 1,
            name: "ok",
            sql: "CREATE TABLE good (a int);",
        },
        Migration {
            version: 2,
            name: "broken",
            sql: "CREATE TABLE bad (a nosuchtype);",
        },
    ];

    let result = migrate::apply(
        &pool,
        "svc",
        &[Migrations {
            component: "svc",
            migrations: BROKEN,
        }],
    )
    .await;

    assert!(result.is_err());
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('svc.good') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        !exists,
        "the first script must be rolled back with the second"
    );
}

#[tokio::test]
async fn a_schema_name_that_is_not_a_plain_identifier_is_refused() {
    let db = TestDb::create().await.unwrap();
    let pool = db.pool("svc").await.unwrap();

    let result = migrate::apply(&pool, "svc; DROP TABLE x", &[migrate::EVENT_STORE]).await;

    assert!(result.is_err());
}

#[tokio::test]
async fn a_fully_migrated_schema_passes_the_start_check() {
    let db = TestDb::create().await.unwrap();
    let pool = db.pool("svc").await.unwrap();
    migrate::apply(&pool, "svc", &[migrate::EVENT_STORE])
        .await
        .unwrap();

    migrate::ensure_applied(&pool, "svc", &[migrate::EVENT_STORE])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_schema_never_migrated_fails_the_start_check_with_what_to_do() {
    let db = TestDb::create().await.unwrap();
    let pool = db.pool("svc").await.unwrap();

    let error = migrate::ensure_applied(&pool, "svc", &[migrate::EVENT_STORE])
        .await
        .unwrap_err();

    assert!(
        error.to_string().contains("run `redress migrate` first"),
        "{error}"
    );
}

#[tokio::test]
async fn a_schema_with_pending_migrations_fails_the_start_check_naming_them() {
    let db = TestDb::create().await.unwrap();
    let pool = db.pool("svc").await.unwrap();
    const FIRST: &[Migration] = &[Migration {
        version: 1,
        name: "one",
        sql: "CREATE TABLE one (a int);",
    }];
    const BOTH: &[Migration] = &[
        Migration {
            version: 1,
            name: "one",
            sql: "CREATE TABLE one (a int);",
        },
        Migration {
            version: 2,
            name: "two",
            sql: "CREATE TABLE two (a int);",
        },
    ];
    migrate::apply(
        &pool,
        "svc",
        &[Migrations {
            component: "svc",
            migrations: FIRST,
        }],
    )
    .await
    .unwrap();

    let error = migrate::ensure_applied(
        &pool,
        "svc",
        &[Migrations {
            component: "svc",
            migrations: BOTH,
        }],
    )
    .await
    .unwrap_err();

    assert!(error.to_string().contains("\"two\""), "{error}");
}
