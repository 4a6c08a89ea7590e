//! Test support shared by every crate's tests: a fresh PostgreSQL database per test, a private
//! NATS server with JetStream per test, unique name prefixes, and a small aggregate.
//!
//! Nothing here is used by production code paths.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tempfile::TempDir;

use crate::event_store::EventStore;
use crate::migrate;
use crate::pg::Pool;

/// Where tests find PostgreSQL: `DATABASE_URL`, or the local server.
pub fn admin_database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A short random lower-case prefix, unique per test.
pub fn unique_prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// Bearer tokens for any role, signed by a key pair made for one test. The service under test
/// trusts [`TestTokens::public_key`] with `iss` [`TestTokens::ISSUER`] and `aud`
/// [`TestTokens::AUDIENCE`].
#[derive(Debug)]
pub struct TestTokens {
    issuer: crate::grpc::TokenIssuer,
    public: String,
}

impl TestTokens {
    pub const ISSUER: &'static str = "https://identity.redress.test";
    pub const AUDIENCE: &'static str = "redress-test";
    pub const KID: &'static str = "test";

    /// A fresh key pair.
    ///
    /// # Panics
    /// When no key pair can be generated.
    pub fn new() -> TestTokens {
        let (private, public) =
            crate::grpc::generate_dev_keypair().expect("Failed to generate a key pair.");
        let issuer =
            crate::grpc::TokenIssuer::new(&private, Self::KID, Self::ISSUER, Self::AUDIENCE)
                .expect("Failed to build the token issuer.");
        TestTokens { issuer, public }
    }

    /// `(kid, public key PEM)`, for the service's configuration.
    pub fn public_key(&self) -> (String, String) {
        (Self::KID.to_owned(), self.public.clone())
    }

    /// A valid bearer token (with the `Bearer ` prefix) for subject `test:<role>`.
    pub fn token(&self, role: crate::grpc::Role, provider: Option<&str>) -> String {
        self.token_for(&format!("test:{role}"), role, provider)
    }

    /// A valid bearer token (with the `Bearer ` prefix) for `subject`, valid for an hour.
    ///
    /// # Panics
    /// When the token cannot be signed.
    pub fn token_for(
        &self,
        subject: &str,
        role: crate::grpc::Role,
        provider: Option<&str>,
    ) -> String {
        let token = self
            .issuer
            .issue(subject, role, provider, Duration::from_secs(3600))
            .expect("Failed to issue a token.");
        format!("Bearer {token}")
    }
}

impl Default for TestTokens {
    fn default() -> Self {
        Self::new()
    }
}

/// A database created for one test and dropped when the value is dropped.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    admin_url: String,
    url: String,
}

impl TestDb {
    /// Creates an empty database.
    ///
    /// # Errors
    /// When PostgreSQL is not reachable at [`admin_database_url`].
    pub async fn create() -> anyhow::Result<TestDb> {
        let admin_url = admin_database_url();
        let name = format!("redress_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await?;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let mut url: url_lite::Url = url_lite::Url::parse(&admin_url)?;
        url.set_database(&name);
        Ok(TestDb {
            name,
            admin_url,
            url: url.to_string(),
        })
    }

    /// The connection string of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A pool whose `search_path` is `schema`.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn pool(&self, schema: &str) -> anyhow::Result<Pool> {
        crate::pg::connect(&self.url, schema, 10).await
    }

    /// A migrated event store in `schema`.
    ///
    /// # Errors
    /// When the database cannot be reached or migrations fail.
    pub async fn event_store(&self, schema: &str) -> anyhow::Result<EventStore> {
        let pool = self.pool(schema).await?;
        migrate::apply(&pool, schema, &[migrate::EVENT_STORE]).await?;
        Ok(EventStore::new(pool))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs outside any async context guarantee, so use a private runtime on a thread.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// Minimal URL editing for `postgres://` strings, so tests need no URL crate.
mod url_lite {
    #[derive(Debug)]
    pub(super) struct Url {
        base: String,
        database: String,
        query: String,
    }

    impl Url {
        pub(super) fn parse(url: &str) -> anyhow::Result<Url> {
            let (without_query, query) = match url.split_once('?') {
                Some((u, q)) => (u, format!("?{q}")),
                None => (url, String::new()),
            };
            let scheme_end = without_query
                .find("://")
                .ok_or_else(|| anyhow::anyhow!("not a URL: {url}"))?
                + 3;
            let (base, database) = match without_query[scheme_end..].find('/') {
                Some(slash) => {
                    let at = scheme_end + slash;
                    (
                        without_query[..at].to_owned(),
                        without_query[at + 1..].to_owned(),
                    )
                }
                None => (without_query.to_owned(), String::new()),
            };
            Ok(Url {
                base,
                database,
                query,
            })
        }

        pub(super) fn set_database(&mut self, database: &str) {
            database.clone_into(&mut self.database);
        }
    }

    impl std::fmt::Display for Url {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}/{}{}", self.base, self.database, self.query)
        }
    }
}

pub use crate::nats::{MIN_NATS_SERVER, nats_server_binary};

/// A private NATS server with JetStream (`sync_interval: always`) on random ports, in a
/// temporary directory, killed when dropped.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    url: String,
    monitoring_url: String,
    _dir: TempDir,
}

impl NatsServer {
    /// Starts the server and waits until it accepts connections.
    ///
    /// # Errors
    /// When no suitable binary exists or the server does not come up within 10 s.
    pub async fn start() -> anyhow::Result<NatsServer> {
        Self::start_with_config("").await
    }

    /// Starts the server with `extra` appended to its configuration file (accounts, limits).
    ///
    /// # Errors
    /// As [`NatsServer::start`].
    pub async fn start_with_config(extra: &str) -> anyhow::Result<NatsServer> {
        let binary = nats_server_binary()?;
        let dir = tempfile::Builder::new().prefix("redress-nats-").tempdir()?;
        let config = dir.path().join("nats.conf");
        std::fs::write(
            &config,
            format!(
                "host: 127.0.0.1\nport: -1\nhttp: \"127.0.0.1:-1\"\nports_file_dir: \"{dir}\"\n\
                 jetstream {{\n  store_dir: \"{dir}/jetstream\"\n  sync_interval: always\n  \
                 max_memory_store: 64MB\n  max_file_store: 2GB\n}}\n{extra}\n",
                dir = dir.path().display()
            ),
        )?;
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let ports_file = dir.path().join(format!(
            "{}_{}.ports",
            binary
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("nats-server"),
            child.id()
        ));
        let mut server = NatsServer {
            child,
            url: String::new(),
            monitoring_url: String::new(),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ports_file)
                && let Ok(ports) = serde_json::from_str::<serde_json::Value>(&text)
            {
                let first = |key: &str| ports[key][0].as_str().map(str::to_owned);
                if let (Some(url), Some(monitoring)) = (first("nats"), first("monitoring")) {
                    server.url = url;
                    server.monitoring_url = monitoring;
                    return Ok(server);
                }
            }
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("nats-server exited at start with {status}");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "nats-server did not start within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `http://127.0.0.1:<port>` of the monitoring endpoints (`/varz`, `/jsz`).
    pub fn monitoring_url(&self) -> &str {
        &self.monitoring_url
    }

    /// A connected client.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        crate::nats::connect(&self.url, "redress-test").await
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small aggregate for platform tests and benchmarks: a ledger that can be opened once,
/// credited while open, and closed.
pub mod ledger {
    use crate::aggregate::{Aggregate, DomainEvent};

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Opened {
        #[prost(string, tag = "1")]
        pub owner: String,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Credited {
        #[prost(int64, tag = "1")]
        pub amount: i64,
        /// Padding to give benchmark events a realistic size.
        #[prost(string, tag = "2")]
        pub note: String,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Closed {}

    impl ::prost::Name for Opened {
        const NAME: &'static str = "Opened";
        const PACKAGE: &'static str = "redress.testing.ledger";
    }
    impl ::prost::Name for Credited {
        const NAME: &'static str = "Credited";
        const PACKAGE: &'static str = "redress.testing.ledger";
    }
    impl ::prost::Name for Closed {
        const NAME: &'static str = "Closed";
        const PACKAGE: &'static str = "redress.testing.ledger";
    }

    #[derive(Clone, Debug, PartialEq)]
    pub enum Event {
        Opened(Opened),
        Credited(Credited),
        Closed(Closed),
    }

    crate::domain_event! { Event { Opened(Opened), Credited(Credited), Closed(Closed) } }

    #[derive(Clone, Debug, PartialEq)]
    pub enum Command {
        Open { owner: String },
        Credit { amount: i64, note: String },
        Close,
    }

    #[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
    pub enum Rejection {
        #[error("the ledger is already open")]
        AlreadyOpen,
        #[error("the ledger is not open")]
        NotOpen,
        #[error("the amount must be positive")]
        NotPositive,
    }

    #[derive(Clone, Debug, Default, PartialEq)]
    pub enum Ledger {
        #[default]
        Unopened,
        Open {
            balance: i64,
        },
        Closed {
            balance: i64,
        },
    }

    impl Aggregate for Ledger {
        const STREAM_TYPE: &'static str = "ledger";
        type Command = Command;
        type Event = Event;
        type Rejection = Rejection;

        fn starts_stream(command: &Command) -> bool {
            matches!(command, Command::Open { .. })
        }

        fn decide(&self, command: Command) -> Result<Vec<Event>, Rejection> {
            match (self, command) {
                (Ledger::Unopened, Command::Open { owner }) => {
                    Ok(vec![Event::Opened(Opened { owner })])
                }
                (_, Command::Open { .. }) => Err(Rejection::AlreadyOpen),
                (Ledger::Open { .. }, Command::Credit { amount, .. }) if amount <= 0 => {
                    Err(Rejection::NotPositive)
                }
                (Ledger::Open { .. }, Command::Credit { amount, note }) => {
                    Ok(vec![Event::Credited(Credited { amount, note })])
                }
                (Ledger::Open { .. }, Command::Close) => Ok(vec![Event::Closed(Closed {})]),
                (Ledger::Closed { .. }, Command::Close) => Ok(vec![]),
                (_, Command::Credit { .. } | Command::Close) => Err(Rejection::NotOpen),
            }
        }

        fn evolve(self, event: &Event) -> Self {
            match (self, event) {
                (Ledger::Unopened, Event::Opened(_)) => Ledger::Open { balance: 0 },
                (Ledger::Open { balance }, Event::Credited(c)) => Ledger::Open {
                    balance: balance + c.amount,
                },
                (Ledger::Open { balance }, Event::Closed(_)) => Ledger::Closed { balance },
                (state, _) => state,
            }
        }
    }

    /// The stored form of an event, for appending raw events in tests.
    pub fn new_event(event: &Event) -> crate::event_store::NewEvent {
        crate::event_store::NewEvent {
            event_type: event.event_type().to_owned(),
            payload: event.encode_payload(),
        }
    }
}
