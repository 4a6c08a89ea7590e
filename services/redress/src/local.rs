//! Private PostgreSQL and NATS servers for `redress up` on a laptop: started from the locally
//! installed binaries in a data directory when nothing suitable answers at the configured
//! addresses, and stopped when `redress up` ends. Their data stays in the directory, so the next
//! `redress up` finds it again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::ConnectOptions as _;
use sqlx::postgres::PgConnectOptions;
use tokio::process::{Child, Command};

/// How long a private server may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a PostgreSQL server answers for `url` (connecting to its `postgres` database).
pub async fn postgres_answers(url: &str) -> bool {
    let Ok(options) = url.parse::<PgConnectOptions>() else {
        return false;
    };
    let options = options.database("postgres");
    let attempt = options.connect();
    matches!(
        tokio::time::timeout(Duration::from_secs(3), attempt).await,
        Ok(Ok(_))
    )
}

/// The version of the NATS server answering at `url`, if one does.
pub async fn nats_version(url: &str) -> Option<(u32, u32, u32)> {
    let connect = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(url);
    let client = tokio::time::timeout(Duration::from_secs(3), connect)
        .await
        .ok()?
        .ok()?;
    let version = platform::nats::parse_version(&client.server_info().version);
    client.drain().await.ok();
    version
}

/// A free TCP port on the loopback interface.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Whether this process runs as root (PostgreSQL refuses to).
pub fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The directory of `initdb`, `pg_ctl` and `postgres`: `REDRESS_POSTGRES_BIN_DIR`, the newest
/// `/usr/lib/postgresql/<version>/bin`, or the directory on `PATH` holding `initdb`.
///
/// # Errors
/// When none of them has the binaries.
pub fn postgres_bin_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("REDRESS_POSTGRES_BIN_DIR") {
        return Ok(dir.into());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file())
        })
        .context(
            "no PostgreSQL server binaries found (install PostgreSQL 15, or set REDRESS_POSTGRES_BIN_DIR)",
        )
}

/// A PostgreSQL server of our own in `<data dir>/postgres`.
#[derive(Debug)]
pub struct LocalPostgres {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres_user: bool,
    /// `postgres://postgres@127.0.0.1:<port>/redress`.
    pub url: String,
}

impl LocalPostgres {
    /// Initialises the cluster on first use and starts it on a free port (trust authentication
    /// on loopback only: a laptop's private server). As root, the server runs as the `postgres`
    /// system user, which must exist.
    ///
    /// # Errors
    /// When the binaries are missing or the server does not start within 30 s.
    pub async fn start(data_dir: &Path) -> anyhow::Result<LocalPostgres> {
        let bin = postgres_bin_dir()?;
        let dir = data_dir.join("postgres");
        let as_postgres_user = running_as_root();
        let server = LocalPostgres {
            bin,
            dir,
            as_postgres_user,
            url: String::new(),
        };
        if !server.dir.join("PG_VERSION").is_file() {
            std::fs::create_dir_all(&server.dir)
                .with_context(|| format!("Failed to create {}", server.dir.display()))?;
            if as_postgres_user {
                let status = Command::new("chown")
                    .arg("-R")
                    .arg("postgres:postgres")
                    .arg(&server.dir)
                    .status()
                    .await?;
                anyhow::ensure!(
                    status.success(),
                    "Failed to give {} to the postgres user",
                    server.dir.display()
                );
            }
            let dir = server.dir.display().to_string();
            server
                .run(
                    "initdb",
                    &["-D", &dir, "-A", "trust", "-U", "postgres", "-E", "UTF8"],
                )
                .await
                .context("initdb failed")?;
        }
        let port = free_port()?;
        let dir = server.dir.display().to_string();
        let log = server.dir.join("server.log").display().to_string();
        let options = format!(
            "-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on \
             -c idle_in_transaction_session_timeout=60s"
        );
        server
            .run(
                "pg_ctl",
                &["-D", &dir, "-l", &log, "-o", &options, "-w", "start"],
            )
            .await
            .with_context(|| format!("PostgreSQL did not start; see {log}"))?;
        let url = format!("postgres://postgres@127.0.0.1:{port}/redress");
        let deadline = Instant::now() + START_TIMEOUT;
        while !postgres_answers(&url).await {
            anyhow::ensure!(
                Instant::now() < deadline,
                "PostgreSQL did not answer; see {log}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(LocalPostgres { url, ..server })
    }

    async fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        run_postgres_tool(&self.bin, self.as_postgres_user, tool, args).await
    }

    /// Stops the server (fast shutdown: open sessions are ended, committed data is kept).
    ///
    /// # Errors
    /// When `pg_ctl stop` fails.
    pub async fn stop(&self) -> anyhow::Result<()> {
        let dir = self.dir.display().to_string();
        self.run("pg_ctl", &["-D", &dir, "-m", "fast", "-w", "stop"])
            .await
    }
}

/// A NATS server of our own with JetStream in `<data dir>/nats`, `sync_interval: always`.
#[derive(Debug)]
pub struct LocalNats {
    _child: Child,
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
}

impl LocalNats {
    /// Starts the newest installed `nats-server` (2.12 or later) on a free port; killed when
    /// dropped or when `redress up` exits.
    ///
    /// # Errors
    /// When no suitable binary is installed or the server does not answer within 30 s.
    pub async fn start(data_dir: &Path) -> anyhow::Result<LocalNats> {
        let binary = platform::nats::nats_server_binary()?;
        let dir = data_dir.join("nats");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("Failed to create {}", dir.display()))?;
        let port = free_port()?;
        let config = dir.join("nats.conf");
        std::fs::write(
            &config,
            format!(
                "# Written by `redress up`: a private server for a laptop.\n\
                 host: 127.0.0.1\nport: {port}\nmax_payload: 1MB\n\
                 jetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n  \
                 max_memory_store: 256MB\n  max_file_store: 10GB\n}}\n",
                dir.join("jetstream").display()
            ),
        )?;
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config)
            .arg("-l")
            .arg(dir.join("server.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("Failed to start {}", binary.display()))?;
        let url = format!("nats://127.0.0.1:{port}");
        let deadline = Instant::now() + START_TIMEOUT;
        while nats_version(&url).await.is_none() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "nats-server did not answer; see {}",
                dir.join("server.log").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(LocalNats { _child: child, url })
    }
}

/// Runs PostgreSQL's `tool` from `bin` with `args` — as the `postgres` system user through
/// `runuser` when `as_postgres_user` (PostgreSQL refuses to run as root) — and fails with its
/// stderr when it does not succeed.
///
/// # Errors
/// When the tool cannot be started or exits unsuccessfully.
pub async fn run_postgres_tool(
    bin: &Path,
    as_postgres_user: bool,
    tool: &str,
    args: &[&str],
) -> anyhow::Result<()> {
    let program = bin.join(tool);
    let mut command = if as_postgres_user {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(&program);
        command
    } else {
        Command::new(&program)
    };
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("Failed to run {}", program.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{tool} exited with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}
