//! The learning-reviews service's settings, filled once by the `redress` binary (or by tests).

use std::time::Duration;

use platform::grpc::ServerConfig;
use platform::nats::Namespace;

/// Everything the service needs to run.
#[derive(Debug)]
pub struct Config {
    /// PostgreSQL connection string; the service owns the `schema` schema only.
    pub database_url: String,
    /// The schema holding the event store and read models, normally `learning_reviews`.
    pub schema: String,
    /// NATS for the relay and the links to the complaints and escalation contexts; `None` runs
    /// without them (events wait in the store, no facts are copied from the other contexts).
    pub nats_url: Option<String>,
    pub namespace: Namespace,
    pub grpc: ServerConfig,
    /// Expected `iss` and `aud` of bearer tokens.
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// `(kid, Ed25519 public key PEM)` pairs that may sign tokens.
    pub jwt_public_keys: Vec<(String, String)>,
    /// The longest a query waits for its `ReadConsistency` position.
    pub max_read_wait: Duration,
    /// Connections in the service's pool.
    pub max_connections: u32,
}

impl Config {
    /// Settings with the defaults every deployment shares; the caller fills the rest.
    pub fn new(database_url: String, jwt_public_keys: Vec<(String, String)>) -> Self {
        Config {
            database_url,
            schema: "learning_reviews".to_owned(),
            nats_url: None,
            namespace: Namespace::root(),
            grpc: ServerConfig::default(),
            jwt_issuer: "https://identity.redress.local".to_owned(),
            jwt_audience: "redress".to_owned(),
            jwt_public_keys,
            max_read_wait: Duration::from_secs(5),
            max_connections: 10,
        }
    }
}
