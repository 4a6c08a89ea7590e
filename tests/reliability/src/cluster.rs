//! The system under test, all real and all child processes: PostgreSQL and NATS of the suite's
//! own, `redress migrate` and `redress streams`, and one `redress serve <service>` per service,
//! each connected to PostgreSQL and to NATS through a [`FaultProxy`] of its own. The faults a
//! scenario injects are methods here, and each is written to the fault log the report shows.
//!
//! Everything lives in one run directory under the directory the caller gives (the scenarios
//! pass `CARGO_TARGET_TMPDIR`, inside `target/`: never /tmp, so S13 can hold NATS to it).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use platform::grpc::{Role, TokenIssuer};
use serde::Serialize;
use tokio::process::{Child, Command};

use crate::history::History;
use crate::nats::Nats;
use crate::postgres::Postgres;
use crate::proxy::{FaultProxy, Mode};
use crate::signal::{self, Signal};

/// The vault key every service process gets (a test value).
const VAULT_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// The database `redress migrate` creates.
pub const DATABASE: &str = "redress";

/// One of the services `redress serve` runs: the binary's own.
pub use redress::services::Service;

/// Which of a service's two connections a proxy carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    Postgres,
    Nats,
}

/// A fault injected or healed, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// Milliseconds since the run began (the history's clock).
    pub at_ms: u64,
    /// `kill9`, `start`, `pause`, `resume`, `stop_immediate`, `proxy_blackhole`, …
    pub action: String,
    /// `complaints`, `nats`, `postgres`, `complaints->postgres`, …
    pub target: String,
}

/// Where the suite finds the binary and keeps its files.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `redress` binary (`CARGO_BIN_EXE_redress-under-test`).
    pub binary: PathBuf,
    /// The run directory is created inside; it must not be under /tmp.
    pub work_dir: PathBuf,
    /// Keep the run directory after the run (`REDRESS_RELIABILITY_KEEP=1`), for a post-mortem.
    pub keep: bool,
    /// Where NATS runs and what JetStream may store.
    pub nats: crate::nats::Settings,
}

impl Options {
    /// The scenarios' options: the binary under test and `CARGO_TARGET_TMPDIR/reliability`.
    pub fn new(binary: &str, target_tmpdir: &str) -> Options {
        Options {
            binary: binary.into(),
            work_dir: work_dir(target_tmpdir),
            keep: std::env::var_os("REDRESS_RELIABILITY_KEEP").is_some_and(|v| v == "1"),
            nats: crate::nats::Settings::default(),
        }
    }
}

/// `REDRESS_RELIABILITY_DIR` when set; otherwise `<target tmpdir>/reliability`, unless the
/// target directory itself is under /tmp (a `CARGO_TARGET_DIR` there), when /var/tmp is used:
/// NATS must never keep its store under /tmp (S13).
fn work_dir(target_tmpdir: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("REDRESS_RELIABILITY_DIR") {
        return PathBuf::from(dir);
    }
    let beside_target = Path::new(target_tmpdir).join("reliability");
    if beside_target.starts_with("/tmp") {
        Path::new("/var/tmp/redress-reliability").to_path_buf()
    } else {
        beside_target
    }
}

/// A running `redress serve <service>`.
#[derive(Debug)]
struct Served {
    child: Option<Child>,
    grpc: SocketAddr,
    /// Its Prometheus endpoint (`REDRESS_METRICS_ADDR`), the same across restarts.
    metrics: SocketAddr,
}

/// The whole system under test. Dropping it kills everything it started.
#[derive(Debug)]
///
/// Fields drop in order: the services first, then the proxies and servers, the run directory
/// last.
pub struct Cluster {
    served: tokio::sync::Mutex<BTreeMap<Service, Served>>,
    /// Second instances (`<service>-2`), started by [`Cluster::start_second`].
    seconds: tokio::sync::Mutex<BTreeMap<Service, Served>>,
    /// Messages published by [`Cluster::inject`]: in a stream, never in a log.
    injected: Mutex<Vec<String>>,
    /// The `FAILPOINTS` each service's next start gets (see [`Cluster::arm_failpoints`]).
    failpoints: Mutex<BTreeMap<Service, String>>,
    proxies: BTreeMap<(Service, Link), FaultProxy>,
    nats: tokio::sync::Mutex<Nats>,
    postgres: Postgres,
    issuer: TokenIssuer,
    key_file: PathBuf,
    history: Arc<History>,
    faults: Mutex<Vec<Fault>>,
    options: Options,
    dir: tempfile::TempDir,
}

/// The process id of `service` in `instances`, when it runs.
fn running_pid(instances: &BTreeMap<Service, Served>, service: Service) -> Option<u32> {
    instances
        .get(&service)
        .and_then(|s| s.child.as_ref())
        .and_then(Child::id)
}

/// A free loopback port. Another process could take it before it is bound; the suite's
/// servers are started right after, and a clash fails the start loudly.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Cluster {
    /// Starts PostgreSQL and NATS, migrates, creates the streams, and starts every service
    /// behind its proxies; returns once each answers its health check.
    ///
    /// # Errors
    /// When any of it fails; the message names the log to read.
    pub async fn start(options: Options) -> anyhow::Result<Cluster> {
        std::fs::create_dir_all(&options.work_dir)
            .with_context(|| format!("Failed to create {}", options.work_dir.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(&options.work_dir)?;
        // The postgres user must reach its data directory inside.
        set_mode(dir.path(), 0o755)?;
        let postgres = Postgres::start(&dir.path().join("pg"), free_port()?).await?;
        let nats = Nats::start(
            &dir.path().join("nats"),
            free_port()?,
            free_port()?,
            &options.nats,
        )
        .await?;

        let (private, public) = platform::grpc::generate_dev_keypair()?;
        let key_file = dir.path().join("reliability.pem");
        std::fs::write(&key_file, public)?;
        let issuer = TokenIssuer::new(
            &private,
            "reliability",
            "https://identity.redress.local",
            "redress",
        )?;

        let mut proxies = BTreeMap::new();
        for service in Service::ALL {
            let pg = SocketAddr::from(([127, 0, 0, 1], postgres.port()));
            let to_pg = FaultProxy::start(&format!("{service}->postgres"), pg).await?;
            let to_nats = FaultProxy::start(&format!("{service}->nats"), nats.addr()).await?;
            proxies.insert((service, Link::Postgres), to_pg);
            proxies.insert((service, Link::Nats), to_nats);
        }
        let history = Arc::new(History::create(&dir.path().join("history.jsonl"))?);
        let cluster = Cluster {
            options,
            dir,
            postgres,
            nats: tokio::sync::Mutex::new(nats),
            proxies,
            served: tokio::sync::Mutex::new(BTreeMap::new()),
            seconds: tokio::sync::Mutex::new(BTreeMap::new()),
            injected: Mutex::new(Vec::new()),
            failpoints: Mutex::new(BTreeMap::new()),
            issuer,
            key_file,
            history,
            faults: Mutex::new(Vec::new()),
        };

        let migrated = cluster
            .redress(&["migrate"])
            .env("DATABASE_URL", cluster.postgres.url(DATABASE))
            .output()
            .await?;
        anyhow::ensure!(
            migrated.status.success(),
            "redress migrate failed: {}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        let nats_addr = cluster.nats.lock().await.addr();
        let streams = cluster
            .redress(&["streams"])
            .env("NATS_URL", Nats::url_as(nats_addr, "ops"))
            .output()
            .await?;
        anyhow::ensure!(
            streams.status.success(),
            "redress streams failed: {}",
            String::from_utf8_lossy(&streams.stderr)
        );
        for service in Service::ALL {
            let grpc = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            cluster.served.lock().await.insert(
                service,
                Served {
                    child: None,
                    grpc,
                    metrics: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
                },
            );
            cluster.start_service(service).await?;
        }
        cluster.faults.lock().map_err(poisoned)?.clear();
        Ok(cluster)
    }

    /// The binary with a clean environment for the settings the suite sets.
    fn redress(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.options.binary);
        command
            .args(args)
            .env("REDRESS_LOG_FORMAT", "json")
            .env_remove("REDRESS_METRICS_ADDR")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("REDRESS_GRPC_ADDR")
            .env_remove("REDRESS_NATS_PREFIX")
            .env_remove("DATABASE_URL")
            .env_remove("NATS_URL")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// A `redress` command line against the database, straight to PostgreSQL (operator
    /// commands such as `projections rebuild`).
    pub fn operator(&self, args: &[&str]) -> Command {
        let mut command = self.redress(args);
        command.env("DATABASE_URL", self.postgres.url(DATABASE));
        command
    }

    /// The run directory (history, logs, data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn history(&self) -> &Arc<History> {
        &self.history
    }

    pub fn postgres(&self) -> &Postgres {
        &self.postgres
    }

    /// `postgres://postgres@127.0.0.1:<port>/redress`, straight to the server.
    pub fn database_url(&self) -> String {
        self.postgres.url(DATABASE)
    }

    /// The NATS server, to read its monitoring endpoint or connect as a user.
    pub async fn nats(&self) -> tokio::sync::MutexGuard<'_, Nats> {
        self.nats.lock().await
    }

    /// A client logged in as `ops`, straight to the server.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub async fn nats_as_ops(&self) -> anyhow::Result<async_nats::Client> {
        let addr = self.nats.lock().await.addr();
        platform::nats::connect(&Nats::url_as(addr, "ops"), "redress-reliability-checker").await
    }

    /// Where a service's gRPC endpoint listens (the same across restarts).
    pub async fn grpc_addr(&self, service: Service) -> anyhow::Result<SocketAddr> {
        Ok(self
            .served
            .lock()
            .await
            .get(&service)
            .context("unknown service")?
            .grpc)
    }

    /// A proxy of a service's connection.
    ///
    /// # Panics
    /// Never: every service has both proxies from the start.
    pub fn proxy(&self, service: Service, link: Link) -> &FaultProxy {
        #[allow(clippy::unwrap_used)] // `start` inserts both links of every service.
        self.proxies.get(&(service, link)).unwrap()
    }

    /// A bearer token for `subject` in `role`, valid for the run.
    ///
    /// # Errors
    /// When signing fails.
    pub fn token(
        &self,
        subject: &str,
        role: Role,
        provider: Option<&str>,
    ) -> anyhow::Result<String> {
        let token = self
            .issuer
            .issue(subject, role, provider, Duration::from_secs(3600))?;
        Ok(format!("Bearer {token}"))
    }

    /// Every fault so far.
    pub fn faults(&self) -> Vec<Fault> {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Logs a fault that a scenario brought about itself (a full store, say), for the report
    /// and the liveness check: `action` begins one unless it is a heal (see
    /// [`crate::checker::liveness`]).
    pub fn note_fault(&self, action: &str, target: &str) {
        self.note(action, target);
    }

    fn note(&self, action: &str, target: &str) {
        if let Ok(mut faults) = self.faults.lock() {
            faults.push(Fault {
                at_ms: self.history.now_ms(),
                action: action.to_owned(),
                target: target.to_owned(),
            });
        }
    }

    /// Starts `redress serve <service>` and waits until it reports SERVING. Its stdout and
    /// stderr are appended to `<run dir>/<service>.log`.
    ///
    /// # Errors
    /// When it is running already, or does not become healthy within 60 s.
    pub async fn start_service(&self, service: Service) -> anyhow::Result<()> {
        let (grpc, metrics) = {
            let served = self.served.lock().await;
            let entry = served.get(&service).context("unknown service")?;
            (entry.grpc, entry.metrics)
        };
        let log = self.dir.path().join(format!("{service}.log"));
        let child = self.serve(service, grpc, metrics, &log)?;
        {
            let mut served = self.served.lock().await;
            let entry = served.get_mut(&service).context("unknown service")?;
            anyhow::ensure!(entry.child.is_none(), "{service} is running already");
            entry.child = Some(child);
        }
        self.note("start", service.name());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.healthy(grpc).await? {
                return Ok(());
            }
            let mut served = self.served.lock().await;
            if let Some(child) = served.get_mut(&service).and_then(|s| s.child.as_mut())
                && let Some(status) = child.try_wait()?
            {
                served.get_mut(&service).map(|s| s.child.take());
                anyhow::bail!(
                    "redress serve {service} exited with {status}; see {}",
                    log.display()
                );
            }
            drop(served);
            anyhow::ensure!(
                Instant::now() < deadline,
                "redress serve {service} was not healthy within 60 s; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `redress serve <service>` through the service's proxies, its output appended to `log`.
    fn serve(
        &self,
        service: Service,
        grpc: SocketAddr,
        metrics: SocketAddr,
        log: &Path,
    ) -> anyhow::Result<Child> {
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
        };
        let pg = self.proxy(service, Link::Postgres).addr();
        let nats = self.proxy(service, Link::Nats).addr();
        self.redress(&["serve", service.name()])
            .env(
                "DATABASE_URL",
                format!("postgres://postgres@{pg}/{DATABASE}"),
            )
            .env("NATS_URL", Nats::url_as(nats, service.name()))
            .env("REDRESS_GRPC_ADDR", grpc.to_string())
            .env("REDRESS_METRICS_ADDR", metrics.to_string())
            .env("REDRESS_VAULT_KEY", VAULT_KEY)
            .env("REDRESS_JWT_PUBLIC_KEYS", &self.key_file)
            .env("REDRESS_DB_MAX_CONNECTIONS", "4")
            .env("OTEL_SERVICE_NAME", service.name())
            .env("FAILPOINTS", self.failpoints_of(service))
            .stdout(open()?)
            .stderr(open()?)
            .spawn()
            .with_context(|| format!("Failed to start redress serve {service}"))
    }

    /// Starts a second `redress serve <service>` beside the first, on ports of its own and the
    /// same proxies, NATS user and database (relays elect a leader by advisory lock, projections
    /// serialise on their checkpoint rows, durable consumers share their messages); its output
    /// goes to `<run dir>/<service>-2.log`. Returns its gRPC address once it is healthy.
    ///
    /// # Errors
    /// When one runs already, or it is not healthy within 60 s.
    pub async fn start_second(&self, service: Service) -> anyhow::Result<SocketAddr> {
        let grpc = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let log = self.dir.path().join(format!("{service}-2.log"));
        let mut seconds = self.seconds.lock().await;
        anyhow::ensure!(
            !seconds.contains_key(&service),
            "a second {service} is running already"
        );
        let child = self.serve(service, grpc, metrics, &log)?;
        seconds.insert(
            service,
            Served {
                child: Some(child),
                grpc,
                metrics,
            },
        );
        drop(seconds);
        self.note("start_second", service.name());
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.healthy(grpc).await? {
            anyhow::ensure!(
                Instant::now() < deadline,
                "a second {service} was not healthy within 60 s; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(grpc)
    }

    async fn healthy(&self, grpc: SocketAddr) -> anyhow::Result<bool> {
        let health = self
            .redress(&[
                "healthcheck",
                "--grpc-addr",
                &grpc.to_string(),
                "--timeout",
                "1s",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await?;
        Ok(health.success())
    }

    /// Every running service process's metrics endpoint, by name (`escalation`,
    /// `escalation-2`, …).
    pub async fn metrics_addrs(&self) -> Vec<(String, SocketAddr)> {
        let mut addrs: Vec<(String, SocketAddr)> = self
            .served
            .lock()
            .await
            .iter()
            .filter(|(_, s)| s.child.is_some())
            .map(|(service, s)| (service.name().to_owned(), s.metrics))
            .collect();
        addrs.extend(
            self.seconds
                .lock()
                .await
                .iter()
                .filter(|(_, s)| s.child.is_some())
                .map(|(service, s)| (format!("{service}-2"), s.metrics)),
        );
        addrs
    }

    /// Publishes a message as `ops` straight to NATS, as an operator (or an attacker with
    /// ops' credentials) could, and waits for the stream's acknowledgement. Its `Nats-Msg-Id`,
    /// if any, is remembered: the checker leaves it out of feed completeness (I5), since it is
    /// in a stream and in no log. Logged as the fault `inject`.
    ///
    /// # Errors
    /// When NATS refuses it.
    pub async fn inject(
        &self,
        subject: &str,
        headers: async_nats::HeaderMap,
        payload: Vec<u8>,
    ) -> anyhow::Result<()> {
        if let Some(id) = headers.get(async_nats::header::NATS_MESSAGE_ID) {
            self.injected
                .lock()
                .map_err(poisoned)?
                .push(id.as_str().to_owned());
        }
        let js = async_nats::jetstream::new(self.nats_as_ops().await?);
        js.publish_with_headers(subject.to_owned(), headers, payload.into())
            .await?
            .await
            .with_context(|| format!("Failed to publish to {subject}"))?;
        self.note("inject", subject);
        Ok(())
    }

    /// The `Nats-Msg-Id`s of every message [`Cluster::inject`] published.
    pub fn injected(&self) -> Vec<String> {
        self.injected.lock().map(|i| i.clone()).unwrap_or_default()
    }

    /// SIGKILL to a service, and waits for it to end.
    ///
    /// # Errors
    /// When it is not running.
    pub async fn kill9(&self, service: Service) -> anyhow::Result<()> {
        let child = self
            .served
            .lock()
            .await
            .get_mut(&service)
            .and_then(|s| s.child.take());
        let mut child = child.with_context(|| format!("{service} is not running"))?;
        child.kill().await?;
        self.note("kill9", service.name());
        Ok(())
    }

    /// SIGKILL, then a new process on the same port.
    ///
    /// # Errors
    /// As [`Cluster::kill9`] and [`Cluster::start_service`].
    pub async fn restart(&self, service: Service) -> anyhow::Result<()> {
        self.kill9(service).await?;
        self.start_service(service).await
    }

    /// SIGSTOP to a service (a zombie: its sockets stay open, it answers nothing).
    ///
    /// # Errors
    /// When it is not running.
    pub async fn pause(&self, service: Service) -> anyhow::Result<()> {
        signal::send(self.pid(service).await?, Signal::Stop)?;
        self.note("pause", service.name());
        Ok(())
    }

    /// SIGCONT after [`Cluster::pause`].
    ///
    /// # Errors
    /// When it is not running.
    pub async fn resume(&self, service: Service) -> anyhow::Result<()> {
        signal::send(self.pid(service).await?, Signal::Cont)?;
        self.note("resume", service.name());
        Ok(())
    }

    /// SIGSTOP to the second instance of a service (see [`Cluster::start_second`]); logged
    /// against `<service>-2`.
    ///
    /// # Errors
    /// When no second instance runs.
    pub async fn pause_second(&self, service: Service) -> anyhow::Result<()> {
        signal::send(self.pid_of_second(service).await?, Signal::Stop)?;
        self.note("pause", &format!("{service}-2"));
        Ok(())
    }

    /// SIGCONT after [`Cluster::pause_second`].
    ///
    /// # Errors
    /// When no second instance runs.
    pub async fn resume_second(&self, service: Service) -> anyhow::Result<()> {
        signal::send(self.pid_of_second(service).await?, Signal::Cont)?;
        self.note("resume", &format!("{service}-2"));
        Ok(())
    }

    async fn pid_of_second(&self, service: Service) -> anyhow::Result<u32> {
        running_pid(&*self.seconds.lock().await, service)
            .with_context(|| format!("no second {service} is running"))
    }

    async fn pid(&self, service: Service) -> anyhow::Result<u32> {
        running_pid(&*self.served.lock().await, service)
            .with_context(|| format!("{service} is not running"))
    }

    /// SIGKILL to nats-server.
    ///
    /// # Errors
    /// When it is not running.
    pub async fn kill9_nats(&self) -> anyhow::Result<()> {
        self.nats.lock().await.kill9().await?;
        self.note("kill9", "nats");
        Ok(())
    }

    /// Starts nats-server again on the same ports and store directory.
    ///
    /// # Errors
    /// When it does not come up.
    pub async fn start_nats(&self) -> anyhow::Result<()> {
        self.nats.lock().await.start_again().await?;
        self.note("start", "nats");
        Ok(())
    }

    /// Partitions NATS from everything: every packet to or from its client port is dropped
    /// inside its namespace (see [`crate::netns`]). Needs [`crate::nats::Settings::netns`].
    ///
    /// # Errors
    /// When NATS runs in no namespace of its own, or nftables fails.
    pub async fn partition_nats(&self) -> anyhow::Result<()> {
        self.nats.lock().await.partition()?;
        self.note("partition", "nats");
        Ok(())
    }

    /// Ends [`Cluster::partition_nats`].
    ///
    /// # Errors
    /// When there is no partition to heal.
    pub async fn heal_nats(&self) -> anyhow::Result<()> {
        self.nats.lock().await.heal()?;
        self.note("heal", "nats");
        Ok(())
    }

    /// SIGSTOP to nats-server.
    ///
    /// # Errors
    /// When it is not running.
    pub async fn pause_nats(&self) -> anyhow::Result<()> {
        self.nats.lock().await.pause()?;
        self.note("pause", "nats");
        Ok(())
    }

    /// SIGCONT to nats-server.
    ///
    /// # Errors
    /// When it is not running.
    pub async fn resume_nats(&self) -> anyhow::Result<()> {
        self.nats.lock().await.resume()?;
        self.note("resume", "nats");
        Ok(())
    }

    /// `pg_ctl stop -m immediate`: PostgreSQL as after a crash.
    ///
    /// # Errors
    /// When it is not running.
    pub async fn stop_postgres_immediately(&self) -> anyhow::Result<()> {
        self.postgres.stop_immediately().await?;
        self.note("stop_immediate", "postgres");
        Ok(())
    }

    /// SIGKILL to the postmaster.
    ///
    /// # Errors
    /// When it is not running.
    pub fn kill9_postgres(&self) -> anyhow::Result<()> {
        self.postgres.kill9()?;
        self.note("kill9", "postgres");
        Ok(())
    }

    /// Starts PostgreSQL again on the same port and data directory (crash recovery included).
    ///
    /// # Errors
    /// When it does not come up.
    pub async fn start_postgres(&self) -> anyhow::Result<()> {
        self.postgres.start_again().await?;
        self.note("start", "postgres");
        Ok(())
    }

    /// SIGSTOP to PostgreSQL and its backends.
    ///
    /// # Errors
    /// When it is not running.
    pub fn pause_postgres(&self) -> anyhow::Result<()> {
        self.postgres.pause()?;
        self.note("pause", "postgres");
        Ok(())
    }

    /// SIGCONT to PostgreSQL and its backends.
    ///
    /// # Errors
    /// When it is not running.
    pub fn resume_postgres(&self) -> anyhow::Result<()> {
        self.postgres.resume()?;
        self.note("resume", "postgres");
        Ok(())
    }

    /// Switches a proxy, and logs it as `proxy_<mode>`.
    pub fn set_proxy(&self, service: Service, link: Link, mode: Mode) {
        let proxy = self.proxy(service, link);
        proxy.set(mode);
        self.note(&format!("proxy_{}", mode.label()), proxy.name());
    }

    /// Resets every connection through a proxy.
    pub fn reset_proxy(&self, service: Service, link: Link) {
        let proxy = self.proxy(service, link);
        proxy.reset_all();
        self.note("proxy_reset", proxy.name());
    }

    /// Stops every service with SIGTERM (draining) and waits for them, so the run directory
    /// can be read at rest.
    pub async fn stop_services(&self) {
        let mut served = self.served.lock().await;
        let mut seconds = self.seconds.lock().await;
        for entry in served.values_mut().chain(seconds.values_mut()) {
            if let Some(mut child) = entry.child.take() {
                if let Some(pid) = child.id() {
                    let _ = signal::send(pid, Signal::Term);
                }
                if tokio::time::timeout(Duration::from_secs(15), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            }
        }
    }
}

/// Failpoints: a service started with some armed crashes at one of them, and the harness
/// notices and starts it again.
impl Cluster {
    /// The failpoints the next start of `service` configures, in the `fail` crate's `FAILPOINTS`
    /// syntax (`name=actions;…`); `""` for none. A `panic` action aborts the process (see
    /// `src/bin/redress-under-test.rs`).
    pub fn arm_failpoints(&self, service: Service, failpoints: &str) {
        if let Ok(mut armed) = self.failpoints.lock() {
            armed.insert(service, failpoints.to_owned());
        }
        self.note(&format!("arm {failpoints}"), service.name());
    }

    fn failpoints_of(&self, service: Service) -> String {
        self.failpoints
            .lock()
            .ok()
            .and_then(|armed| armed.get(&service).cloned())
            .unwrap_or_default()
    }

    /// Waits up to `timeout` for `service` to end by itself; logs `crash` when it did.
    ///
    /// # Errors
    /// When it is not running, or still running after `timeout`.
    pub async fn wait_crash(
        &self,
        service: Service,
        timeout: Duration,
    ) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut served = self.served.lock().await;
                let entry = served.get_mut(&service).context("unknown service")?;
                let child = entry
                    .child
                    .as_mut()
                    .with_context(|| format!("{service} is not running"))?;
                if let Some(status) = child.try_wait()? {
                    entry.child = None;
                    drop(served);
                    self.note("crash", service.name());
                    return Ok(status);
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{service} was still running after {} s",
                timeout.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A stopped postmaster would not act on `pg_ctl stop` (SIGQUIT) until woken.
        let _ = self.postgres.resume();
        if self.options.keep {
            let kept = self.dir.path().to_owned();
            eprintln!("run directory kept: {}", kept.display());
            self.dir.disable_cleanup(true);
        }
    }
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("Failed to open up {}", path.display()))
}

fn poisoned<T>(_: T) -> anyhow::Error {
    anyhow::anyhow!("a lock holder panicked")
}
