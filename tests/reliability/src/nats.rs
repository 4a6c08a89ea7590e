//! The pinned `nats-server` (found by `platform::nats::nats_server_binary`) as a child process
//! of the suite: the settings of the reliability plan §7.1 (`sync_interval: always`, file
//! storage, `store_dir` in the run directory, which is never under /tmp), the real accounts of
//! `deploy/nats/accounts.conf`, and one client port and one monitoring port for its whole life,
//! so that a restart comes back where the proxies point, with its streams on disk.
//!
//! [`Settings`] place it in a network namespace of its own (S7, a partition) or give JetStream
//! a small `max_file_store` (S12, a full disk).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, Command};

use crate::netns::Netns;
use crate::signal::{self, Signal};

/// `deploy/nats/accounts.conf`, which every deployment includes.
pub const ACCOUNTS_CONF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/nats/accounts.conf"
);

/// Each user of the accounts file and the variable its password comes from.
pub const USERS: [(&str, &str); 5] = [
    ("complaints", "REDRESS_NATS_COMPLAINTS_PASSWORD"),
    ("escalation", "REDRESS_NATS_ESCALATION_PASSWORD"),
    ("learning-reviews", "REDRESS_NATS_LEARNING_REVIEWS_PASSWORD"),
    ("ops", "REDRESS_NATS_OPS_PASSWORD"),
    ("ib", "REDRESS_NATS_IB_PASSWORD"),
];

/// The password the suite's server gives `user`.
pub fn password(user: &str) -> String {
    format!("reliability-{user}-secret")
}

/// How long the server may take to start.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The client port inside a namespace of the server's own, the standard one.
pub const NETNS_PORT: u16 = 4222;
/// The monitoring port inside a namespace of the server's own.
const NETNS_MONITORING_PORT: u16 = 8222;

/// Where the server runs and what JetStream may store.
#[derive(Clone, Debug)]
pub struct Settings {
    /// In a network namespace of its own, on [`NETNS_PORT`], reached over a veth pair, so that
    /// nftables can partition it (S7); otherwise on loopback.
    pub netns: bool,
    /// `jetstream.max_file_store`, e.g. `"2GB"`.
    pub max_file_store: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            netns: false,
            max_file_store: "2GB".into(),
        }
    }
}

/// The suite's NATS server. Killed when dropped.
#[derive(Debug)]
pub struct Nats {
    binary: PathBuf,
    config: PathBuf,
    log: PathBuf,
    /// The store directory (`jetstream.store_dir`).
    pub store_dir: PathBuf,
    host: IpAddr,
    port: u16,
    monitoring_port: u16,
    child: Option<Child>,
    /// Dropped after the child (fields drop in order).
    netns: Option<Netns>,
}

impl Nats {
    /// Writes the configuration into `dir` and starts the server on `port` (clients) and
    /// `monitoring_port` (`/varz`, `/jsz`) of loopback, or, with [`Settings::netns`], on the
    /// standard ports of a namespace of its own.
    ///
    /// # Errors
    /// When no suitable binary is installed, the namespace cannot be made or the server does
    /// not answer within 30 s.
    pub async fn start(
        dir: &Path,
        port: u16,
        monitoring_port: u16,
        settings: &Settings,
    ) -> anyhow::Result<Nats> {
        let binary = platform::nats::nats_server_binary()?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Failed to create {}", dir.display()))?;
        let store_dir = dir.join("jetstream");
        let (netns, host, port, monitoring_port) = if settings.netns {
            let netns = Netns::create()?;
            let host = netns.address();
            (Some(netns), host, NETNS_PORT, NETNS_MONITORING_PORT)
        } else {
            (None, IpAddr::V4(Ipv4Addr::LOCALHOST), port, monitoring_port)
        };
        let mut config = format!(
            "# Written by the reliability suite: the settings of reliability-plan §7.1.\n\
             server_name: redress-reliability\n\
             listen: {host}:{port}\n\
             http: {host}:{monitoring_port}\n\
             max_payload: 1MB\n\
             max_connections: 1000\n\
             write_deadline: \"10s\"\n\
             jetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n  \
             max_file_store: {}\n  max_memory_store: 64MB\n}}\n",
            store_dir.display(),
            settings.max_file_store,
        );
        // Variables ahead of the accounts, where its `$REDRESS_NATS_*_PASSWORD` find them.
        for (user, variable) in USERS {
            config.push_str(&format!("{variable}: \"{}\"\n", password(user)));
        }
        config.push_str(
            &std::fs::read_to_string(ACCOUNTS_CONF).context("Failed to read accounts.conf")?,
        );
        let config_file = dir.join("nats.conf");
        std::fs::write(&config_file, config)?;
        let mut server = Nats {
            binary,
            config: config_file,
            log: dir.join("server.log"),
            store_dir,
            host,
            port,
            monitoring_port,
            child: None,
            netns,
        };
        server.start_again().await?;
        Ok(server)
    }

    /// `nats://<addr>`, straight to the server, without credentials.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr())
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// Drops every packet of the client port inside the server's namespace (S7), until
    /// [`Nats::heal`].
    ///
    /// # Errors
    /// When the server has no namespace of its own, or nftables fails.
    pub fn partition(&self) -> anyhow::Result<()> {
        self.netns
            .as_ref()
            .context("nats-server runs in no namespace of its own")?
            .partition(self.port)
    }

    /// Ends [`Nats::partition`].
    ///
    /// # Errors
    /// When there is no partition to heal.
    pub fn heal(&self) -> anyhow::Result<()> {
        self.netns
            .as_ref()
            .context("nats-server runs in no namespace of its own")?
            .heal()
    }

    /// `nats://user:password@<addr>` for a user of the accounts file.
    pub fn url_as(addr: SocketAddr, user: &str) -> String {
        format!("nats://{user}:{}@{addr}", password(user))
    }

    /// The server's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The running server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Starts the server (again) with the same configuration and waits until `/varz` answers.
    ///
    /// # Errors
    /// When it does not answer within 30 s.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut command = match &self.netns {
            Some(netns) => netns.command(&self.binary),
            None => Command::new(&self.binary),
        };
        let child = command
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("Failed to start {}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if self.varz().await.is_ok()
                && tokio::net::TcpStream::connect(self.addr()).await.is_ok()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                anyhow::bail!(
                    "nats-server exited at start with {status}; see {}",
                    self.log.display()
                );
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "nats-server did not answer; see {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, and waits for the process to end.
    ///
    /// # Errors
    /// When the server is not running.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("nats-server is not running")?;
        child.kill().await.context("Failed to kill nats-server")?;
        Ok(())
    }

    /// SIGSTOP: the server keeps its sockets but answers nothing.
    ///
    /// # Errors
    /// When the server is not running.
    pub fn pause(&self) -> anyhow::Result<()> {
        signal::send(
            self.pid().context("nats-server is not running")?,
            Signal::Stop,
        )
    }

    /// SIGCONT after [`Nats::pause`].
    ///
    /// # Errors
    /// When the server is not running.
    pub fn resume(&self) -> anyhow::Result<()> {
        signal::send(
            self.pid().context("nats-server is not running")?,
            Signal::Cont,
        )
    }

    /// `GET /varz` of the monitoring endpoint, as JSON.
    ///
    /// # Errors
    /// When the endpoint does not answer with JSON.
    pub async fn varz(&self) -> anyhow::Result<serde_json::Value> {
        let body = http_get(SocketAddr::new(self.host, self.monitoring_port), "/varz").await?;
        serde_json::from_str(&body).context("/varz is not JSON")
    }
}

/// A plain HTTP/1.0 GET on loopback; the body of a 200 answer. Enough for the monitoring
/// endpoints (NATS's, the services' `/metrics`), which need no client library.
///
/// # Errors
/// When nothing answers within 5 s or the answer is not a 200.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        anyhow::Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .context("the monitoring endpoint did not answer")??;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .context("not an HTTP answer")?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "GET {path}: {}",
        head.lines().next().unwrap_or_default()
    );
    Ok(body.to_owned())
}
