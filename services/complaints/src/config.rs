//! The complaints service's settings, filled once by the `redress` binary (or by tests).

use std::path::PathBuf;
use std::time::Duration;

use platform::grpc::ServerConfig;
use platform::nats::Namespace;
use platform::vault::KEY_LEN;
use secrecy::SecretBox;

/// Everything the service needs to run.
#[derive(Debug)]
pub struct Config {
    /// PostgreSQL connection string; the service owns the `schema` schema only.
    pub database_url: String,
    /// The schema holding the event store and read models, normally `complaints`.
    pub schema: String,
    /// NATS for the relay; `None` runs without publishing (events wait in the store).
    pub nats_url: Option<String>,
    pub namespace: Namespace,
    pub grpc: ServerConfig,
    /// Expected `iss` and `aud` of bearer tokens.
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// `(kid, Ed25519 public key PEM)` pairs that may sign tokens.
    pub jwt_public_keys: Vec<(String, String)>,
    /// Wraps every data subject's key in the personal-data vault.
    pub vault_master_key: SecretBox<[u8; KEY_LEN]>,
    /// An operator file adding policy versions to the embedded set.
    pub policy_file: Option<PathBuf>,
    /// An operator file extending the embedded bank-holiday table.
    pub calendar_file: Option<PathBuf>,
    /// The longest a query waits for its `ReadConsistency` position.
    pub max_read_wait: Duration,
    /// Connections in the service's pool.
    pub max_connections: u32,
}

impl Config {
    /// Settings with the defaults every deployment shares; the caller fills the rest.
    pub fn new(
        database_url: String,
        jwt_public_keys: Vec<(String, String)>,
        vault_master_key: SecretBox<[u8; KEY_LEN]>,
    ) -> Self {
        Config {
            database_url,
            schema: "complaints".to_owned(),
            nats_url: None,
            namespace: Namespace::root(),
            grpc: ServerConfig::default(),
            jwt_issuer: "https://identity.redress.local".to_owned(),
            jwt_audience: "redress".to_owned(),
            jwt_public_keys,
            vault_master_key,
            policy_file: None,
            calendar_file: None,
            max_read_wait: Duration::from_secs(5),
            max_connections: 10,
        }
    }
}
