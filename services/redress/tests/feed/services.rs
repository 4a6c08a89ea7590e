//! The services themselves under the production accounts: each logs in with the credentials in
//! its NATS URL and sets up its streams, consumers and relays with nothing more than its user
//! may do.

use platform::testing::{TestDb, TestTokens};
use platform::vault::Vault;

use crate::helpers::{SecuredNats, password};

/// `nats://user:password@host:port` for a user of the test server.
fn url_for(nats: &SecuredNats, user: &str) -> String {
    nats.url()
        .replacen("nats://", &format!("nats://{user}:{}@", password(user)), 1)
}

async fn migrated() -> TestDb {
    let db = TestDb::create().await.unwrap();
    for schema in ["complaints", "escalation", "learning_reviews"] {
        let pool = db.pool(schema).await.unwrap();
        platform::migrate::apply(&pool, schema, &[platform::migrate::EVENT_STORE])
            .await
            .unwrap();
        pool.close().await;
    }
    db
}

#[tokio::test]
async fn the_escalation_service_starts_under_its_own_user() {
    let nats = SecuredNats::start().await;
    let db = migrated().await;
    let mut config =
        escalation::config::Config::new(db.url().to_owned(), vec![TestTokens::new().public_key()]);
    config.nats_url = Some(url_for(&nats, "escalation"));
    let app = escalation::app::App::build(config, platform::clock::Clock::system())
        .await
        .expect("the escalation user may set up everything the service needs");
    assert_eq!(app.relay_once().await.unwrap(), 0);
    assert_eq!(app.consume_complaints_once().await.unwrap(), 0);
}

#[tokio::test]
async fn the_complaints_service_starts_under_its_own_user() {
    let nats = SecuredNats::start().await;
    let db = migrated().await;
    let mut config = complaints::config::Config::new(
        db.url().to_owned(),
        vec![TestTokens::new().public_key()],
        Vault::generate_master_key(),
    );
    config.nats_url = Some(url_for(&nats, "complaints"));
    let app = complaints::app::App::build(config, platform::clock::Clock::system())
        .await
        .expect("the complaints user may set up everything the service needs");
    assert_eq!(app.relay_once().await.unwrap(), 0);
}

#[tokio::test]
async fn the_learning_reviews_service_starts_under_its_own_user() {
    let nats = SecuredNats::start().await;
    let db = migrated().await;
    let mut config = learning_reviews::config::Config::new(
        db.url().to_owned(),
        vec![TestTokens::new().public_key()],
    );
    config.nats_url = Some(url_for(&nats, "learning-reviews"));
    let app = learning_reviews::app::App::build(config, platform::clock::Clock::system())
        .await
        .expect("the learning-reviews user may set up everything the service needs");
    assert_eq!(app.relay_once().await.unwrap(), 0);
    assert_eq!(app.consume_complaints_once().await.unwrap(), 0);
    assert_eq!(app.consume_escalation_once().await.unwrap(), 0);
}

#[tokio::test]
async fn a_service_with_another_services_credentials_cannot_start() {
    let nats = SecuredNats::start().await;
    let db = migrated().await;
    let mut config =
        escalation::config::Config::new(db.url().to_owned(), vec![TestTokens::new().public_key()]);
    config.nats_url = Some(url_for(&nats, "learning-reviews"));
    let refused = escalation::app::App::build(config, platform::clock::Clock::system()).await;
    assert!(
        refused.is_err(),
        "the learning-reviews user may not create the feed"
    );
}
