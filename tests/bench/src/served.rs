//! The real service for the gRPC workloads: `redress serve complaints`, as the compose stack
//! runs it (one process per service), in a child process of the bench's binary (see `child`).
//!
//! It gets the bench database (its `complaints` schema dropped and migrated afresh by
//! `redress migrate`), the bench's NATS server under a prefix of its own, a key pair made for
//! the run, JSON logs at the default level (to a file), Prometheus metrics on a port of its
//! own (picked free by the bench, so it can scrape them), the default pool size, and listens on 127.0.0.1 port 0; the bench learns the port
//! from the `serving` log line. No OTLP collector runs, so no spans are exported.
//!
//! W8 runs `redress serve escalation` the same way beside it, each under its own NATS user.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use platform::grpc::{Role, TokenIssuer, generate_dev_keypair};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::child::{self, ChildProcess};
use crate::db::BenchDb;
use crate::report::log;

/// The service the bench runs, and its PostgreSQL schema.
pub(crate) const SERVICE: &str = "complaints";
/// `redress serve`'s default `iss` and `aud`.
const ISSUER: &str = "https://identity.redress.local";
const AUDIENCE: &str = "redress";
/// The key id: the public key file's stem.
const KID: &str = "bench";

/// A running `redress serve complaints`.
#[derive(Debug)]
pub(crate) struct Served {
    addr: SocketAddr,
    /// Where the service serves its Prometheus metrics.
    metrics_addr: SocketAddr,
    issuer: TokenIssuer,
    log_file: PathBuf,
    process: ChildProcess,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Drops the `complaints` schema of the bench database and migrates it afresh, then starts
    /// the service on it with `nats_url` and `nats_prefix`, and waits until it listens.
    pub(crate) async fn start(
        db: &BenchDb,
        nats_url: &str,
        nats_prefix: &str,
    ) -> anyhow::Result<Served> {
        Served::start_service(db, SERVICE, nats_url, nats_prefix).await
    }

    /// [`Served::start`] for `service` (`complaints` or `escalation`, also its schema's name):
    /// `redress serve <service>` on a freshly migrated schema. `nats_url` may carry the
    /// service's NATS user and password.
    pub(crate) async fn start_service(
        db: &BenchDb,
        service: &'static str,
        nats_url: &str,
        nats_prefix: &str,
    ) -> anyhow::Result<Served> {
        db.drop_schema(service).await;
        let database_url = db.url();
        migrate(database_url, service).await?;
        let dir = tempfile::Builder::new()
            .prefix("redress-bench-serve-")
            .tempdir()?;
        let (private, public) = generate_dev_keypair()?;
        let key_file = dir.path().join(format!("{KID}.pem"));
        std::fs::write(&key_file, public)?;
        let issuer = TokenIssuer::new(&private, KID, ISSUER, AUDIENCE)?;
        // 64 hex digits, fresh for the run.
        let vault_key = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let log_file = dir.path().join("serve.log");
        let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let metrics = metrics_addr.to_string();
        let args: Vec<OsString> = [
            child::REDRESS,
            "serve",
            service,
            "--database-url",
            database_url,
            "--nats-url",
            nats_url,
            "--nats-prefix",
            nats_prefix,
            "--grpc-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            &metrics,
            "--log-format",
            "json",
            "--vault-key",
            &vault_key,
        ]
        .into_iter()
        .map(OsString::from)
        .chain([OsString::from("--jwt-public-key"), key_file.into()])
        .collect();
        let what = match service {
            "escalation" => "redress serve escalation",
            _ => "redress serve complaints",
        };
        let mut process = ChildProcess::spawn(
            what,
            args,
            true,
            &log_file,
            &dir.path().join("serve.stderr"),
        )?;
        let addr = process
            .wait_for(Duration::from_secs(300), || serving_addr(&log_file))
            .await?;
        log!("{what}: listening on {addr}");
        Ok(Served {
            addr,
            metrics_addr,
            issuer,
            log_file,
            process,
            _dir: dir,
        })
    }

    /// A new HTTP/2 connection to the service.
    pub(crate) async fn channel(&self) -> anyhow::Result<Channel> {
        crate::echo::connect(self.addr).await
    }

    /// The `authorization` value of a bearer token for `role`, valid for a day.
    pub(crate) fn bearer(
        &self,
        subject: &str,
        role: Role,
    ) -> anyhow::Result<MetadataValue<tonic::metadata::Ascii>> {
        self.bearer_for(subject, role, None)
    }

    /// [`Served::bearer`] scoped to `provider` (a provider representative's token).
    pub(crate) fn bearer_for(
        &self,
        subject: &str,
        role: Role,
        provider: Option<&str>,
    ) -> anyhow::Result<MetadataValue<tonic::metadata::Ascii>> {
        let token = self
            .issuer
            .issue(subject, role, provider, Duration::from_secs(24 * 3600))?;
        Ok(MetadataValue::try_from(format!("Bearer {token}"))?)
    }

    /// The `authorization` value of a bearer token for a provider's representative acting for
    /// `provider`, valid for a day.
    pub(crate) fn provider_bearer(
        &self,
        subject: &str,
        provider: &str,
    ) -> anyhow::Result<MetadataValue<tonic::metadata::Ascii>> {
        let token = self.issuer.issue(
            subject,
            Role::ProviderRepresentative,
            Some(provider),
            Duration::from_secs(24 * 3600),
        )?;
        Ok(MetadataValue::try_from(format!("Bearer {token}"))?)
    }

    /// CPU seconds the service process has used.
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        self.process.cpu_seconds()
    }

    /// Bytes the service has logged so far.
    pub(crate) fn log_bytes(&self) -> u64 {
        std::fs::metadata(&self.log_file).map_or(0, |m| m.len())
    }

    /// The service's Prometheus exposition (`GET /metrics`), as text.
    pub(crate) async fn metrics(&self) -> anyhow::Result<String> {
        let addr = self.metrics_addr;
        tokio::task::spawn_blocking(move || scrape(addr)).await?
    }

    /// Stops the process.
    pub(crate) fn stop(self) {
        drop(self.process);
    }
}

/// One plain HTTP/1.0 `GET /metrics` to `addr`; the body of a 200 answer.
fn scrape(addr: SocketAddr) -> anyhow::Result<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("the metrics response from {addr} has no body"))?;
    let status = head.lines().next().unwrap_or_default();
    anyhow::ensure!(
        status.split_whitespace().nth(1) == Some("200"),
        "the metrics endpoint {addr} answered {status:?}"
    );
    Ok(body.to_owned())
}

/// A port on 127.0.0.1 that nothing listens on at the moment, for the metrics listener: given
/// port 0, the service would not say which port it bound.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `redress migrate <service>` on `database_url`.
async fn migrate(database_url: &str, service: &str) -> anyhow::Result<()> {
    let cli = redress::cli::Cli::try_parse_from([
        "redress",
        "migrate",
        service,
        "--database-url",
        database_url,
    ])?;
    let redress::cli::Command::Migrate(args) = cli.command else {
        anyhow::bail!("`redress migrate` parsed as another command");
    };
    redress::migrate::run(&args)
        .await
        .with_context(|| format!("Failed to migrate the {service} schema"))
}

/// The `addr` of the `serving` line in a `redress serve` or `redress up` JSON log, once it is
/// there.
pub(crate) fn serving_addr(log_file: &std::path::Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(log_file).ok()?;
    text.lines().find_map(|line| {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        if value.get("message")?.as_str()? != "serving" {
            return None;
        }
        value.get("addr")?.as_str()?.parse().ok()
    })
}
