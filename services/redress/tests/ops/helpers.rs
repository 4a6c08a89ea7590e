//! The binary, child processes, a NATS server with the real accounts, and a database set up
//! the way the compose stack sets up PostgreSQL.

use std::process::{Child, Command, Output};

use platform::testing::{NatsServer, TestDb, admin_database_url, unique_prefix};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

pub const BIN: &str = env!("CARGO_BIN_EXE_redress");

/// `redress` with a clean environment for the settings the tests care about.
pub fn redress() -> Command {
    let mut command = Command::new(BIN);
    command
        .env("REDRESS_LOG_FORMAT", "json")
        .env_remove("REDRESS_METRICS_ADDR")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("REDRESS_GRPC_ADDR")
        .env_remove("REDRESS_HEALTHCHECK_SERVICE")
        .env_remove("REDRESS_HEALTHCHECK_TIMEOUT")
        .env_remove("REDRESS_NATS_PREFIX");
    command
}

/// Runs a command to its end, stdin closed.
pub async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `deploy/nats/accounts.conf`, which the compose stack's NATS includes.
pub const ACCOUNTS_CONF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/nats/accounts.conf"
);

/// The password the test server gives `user`.
pub fn nats_password(user: &str) -> String {
    format!("test-{user}-secret")
}

/// A private NATS server with the real accounts; the passwords are configuration variables
/// ahead of the file, where its `$REDRESS_NATS_*_PASSWORD` references find them.
pub async fn secured_nats() -> NatsServer {
    let mut config = String::new();
    for (user, variable) in [
        ("complaints", "REDRESS_NATS_COMPLAINTS_PASSWORD"),
        ("escalation", "REDRESS_NATS_ESCALATION_PASSWORD"),
        ("learning-reviews", "REDRESS_NATS_LEARNING_REVIEWS_PASSWORD"),
        ("ops", "REDRESS_NATS_OPS_PASSWORD"),
        ("ib", "REDRESS_NATS_IB_PASSWORD"),
    ] {
        config.push_str(&format!("{variable}: \"{}\"\n", nats_password(user)));
    }
    config.push_str(&std::fs::read_to_string(ACCOUNTS_CONF).unwrap());
    NatsServer::start_with_config(&config).await.unwrap()
}

/// `nats://user:password@host:port` for a server URL `nats://host:port`.
pub fn nats_url_as(server: &str, user: &str) -> String {
    server.replacen("://", &format!("://{user}:{}@", nats_password(user)), 1)
}

/// The deploy files the PostgreSQL container applies: roles, schemas and database rights once,
/// table rights after every migration.
pub const ROLES_SQL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/postgres/init/10-roles.sql"
);
pub const GRANTS_SQL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/postgres/grants.sql"
);

/// The roles the deploy files name.
pub const MIGRATOR: &str = "redress_migrator";
pub const SERVICE_ROLES: [(&str, &str); 3] = [
    ("complaints", "complaints_svc"),
    ("escalation", "escalation_svc"),
    ("learning_reviews", "learning_reviews_svc"),
];

/// A fresh database set up as the compose stack sets up PostgreSQL: `10-roles.sql` as the
/// superuser, `redress migrate` as the migrator, `grants.sql` as the migrator.
///
/// Roles belong to the whole cluster, so the files' role names get a suffix unique to the
/// test (`complaints_svc` becomes `complaints_svc_t1a2…`); nothing else in them is changed.
/// Dropped with the value: the database first (with what the roles own in it), then the roles.
pub struct StackDb {
    db: Option<TestDb>,
    suffix: String,
}

impl StackDb {
    pub async fn create() -> StackDb {
        let stack = StackDb {
            db: Some(TestDb::create().await.unwrap()),
            suffix: unique_prefix(),
        };
        stack.apply_as_admin(ROLES_SQL).await;
        stack.migrate().await;
        stack.apply_as(MIGRATOR, GRANTS_SQL).await;
        stack
    }

    pub fn db(&self) -> &TestDb {
        self.db.as_ref().unwrap()
    }

    /// The test's name for a role of the deploy files.
    pub fn role(&self, name: &str) -> String {
        format!("{name}_{}", self.suffix)
    }

    /// A deploy file with the test's role names.
    pub fn script(&self, path: &str) -> String {
        let mut text = std::fs::read_to_string(path).unwrap();
        for name in [MIGRATOR]
            .into_iter()
            .chain(SERVICE_ROLES.iter().map(|(_, role)| *role))
        {
            assert!(text.contains(name), "{path} no longer names {name}");
            text = text.replace(name, &self.role(name));
        }
        text
    }

    /// The database's URL, logged in as the test's `role` (a name of the deploy files). The
    /// local server trusts 127.0.0.1, so no password is needed.
    pub fn url_as(&self, role: &str) -> String {
        with_user(self.db().url(), &self.role(role))
    }

    pub async fn apply_as_admin(&self, path: &str) {
        let mut conn = PgConnection::connect(self.db().url()).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(self.script(path)))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("Failed to apply {path}: {e}"));
        conn.close().await.unwrap();
    }

    pub async fn apply_as(&self, role: &str, path: &str) {
        let mut conn = self.connect_as(role).await;
        sqlx::raw_sql(AssertSqlSafe(self.script(path)))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("Failed to apply {path} as {role}: {e}"));
        conn.close().await.unwrap();
    }

    /// `redress migrate` as the migrator.
    pub async fn migrate(&self) {
        let mut command = redress();
        command
            .arg("migrate")
            .env("DATABASE_URL", self.url_as(MIGRATOR));
        let output = output(command).await;
        assert!(
            output.status.success(),
            "redress migrate as the migrator failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// One connection as `role` (a name of the deploy files), search path its default.
    pub async fn connect_as(&self, role: &str) -> PgConnection {
        PgConnection::connect(&self.url_as(role))
            .await
            .unwrap_or_else(|e| panic!("Failed to log in as {role}: {e}"))
    }
}

impl Drop for StackDb {
    fn drop(&mut self) {
        drop(self.db.take());
        let roles: Vec<String> = [MIGRATOR]
            .into_iter()
            .chain(SERVICE_ROLES.iter().map(|(_, role)| *role))
            .map(|name| self.role(name))
            .collect();
        // Drop runs outside any async context guarantee: a private runtime on a thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_database_url()).await.ok()?;
                for role in &roles {
                    sqlx::query(AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
                        .execute(&mut admin)
                        .await
                        .ok()?;
                }
                Some(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop the test roles *_{}", self.suffix);
        }
    }
}

/// `postgres://other@host/db` for `postgres://[user[:password]@]host/db`.
fn with_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let host_start = rest[..authority_end].rfind('@').map_or(0, |at| at + 1);
    format!("{scheme}://{user}@{}", &rest[host_start..])
}
