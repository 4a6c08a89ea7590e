//! A PostgreSQL 15 server of the suite's own: `initdb` into the run directory, the settings of
//! the reliability plan (§7.2) on the command line, one fixed port for its whole life so that
//! a restart comes back where the proxies point, and the crash faults a scenario needs.
//!
//! The binaries are found as `redress up` finds them (`redress::local::postgres_bin_dir`). As
//! root (CI here), every tool runs as the `postgres` system user through `runuser`, because
//! PostgreSQL refuses to run as root; the data directory is given to that user.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};

use crate::signal::{self, Signal};

/// The server settings of the reliability plan §7.2, as `-c` options. `listen_addresses` and
/// the port are added by [`Postgres`]. `password_encryption` is set although the throwaway
/// cluster trusts loopback (the plan allows that for clusters that test no authentication).
pub const SETTINGS: &[(&str, &str)] = &[
    ("fsync", "on"),
    ("synchronous_commit", "on"),
    ("full_page_writes", "on"),
    ("wal_level", "replica"),
    ("default_transaction_isolation", "read committed"),
    ("idle_in_transaction_session_timeout", "60s"),
    ("lock_timeout", "2s"),
    ("statement_timeout", "10s"),
    ("password_encryption", "scram-sha-256"),
    ("log_min_duration_statement", "500ms"),
    ("log_lock_waits", "on"),
    ("max_connections", "100"),
];

/// How long the server may take to start or to stop.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The suite's PostgreSQL server. Stopped immediately when dropped.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    log: PathBuf,
    port: u16,
    as_postgres_user: bool,
}

impl Postgres {
    /// Initialises a cluster in `dir` (created; it must not exist yet) and starts it on `port`.
    ///
    /// # Errors
    /// When the binaries are missing, `initdb` fails or the server does not answer within 60 s.
    pub async fn start(dir: &Path, port: u16) -> anyhow::Result<Postgres> {
        let server = Postgres {
            bin: redress::local::postgres_bin_dir()?,
            dir: dir.to_owned(),
            log: dir.with_extension("log"),
            port,
            as_postgres_user: redress::local::running_as_root(),
        };
        std::fs::create_dir_all(&server.dir)
            .with_context(|| format!("Failed to create {}", server.dir.display()))?;
        if server.as_postgres_user {
            std::fs::write(&server.log, b"")?;
            for path in [&server.dir, &server.log] {
                let status = std::process::Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(path)
                    .status()?;
                anyhow::ensure!(status.success(), "Failed to chown {}", path.display());
            }
        }
        let data = server.dir.display().to_string();
        server
            .tool(
                "initdb",
                &[
                    "-D",
                    &data,
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ],
            )
            .await
            .context("initdb failed")?;
        server.start_again().await?;
        Ok(server)
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`, straight to the server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Starts the server on its port and data directory and waits until it answers. Crash
    /// recovery, after an immediate stop or a kill, happens here.
    ///
    /// # Errors
    /// When it does not answer within 60 s.
    pub async fn start_again(&self) -> anyhow::Result<()> {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        for (name, value) in SETTINGS {
            options.push_str(&format!(" -c {name}='{value}'"));
        }
        let data = self.dir.display().to_string();
        let log = self.log.display().to_string();
        let deadline = Instant::now() + TIMEOUT;
        // After a SIGKILL of the postmaster its backends take a moment to notice and exit;
        // until they have, a new postmaster refuses the data directory.
        loop {
            let started = self
                .tool(
                    "pg_ctl",
                    &["-D", &data, "-l", &log, "-o", &options, "-w", "start"],
                )
                .await;
            match started {
                Ok(()) => break,
                Err(e) if Instant::now() < deadline => {
                    // Expected while old backends exit; shown only for a failing test.
                    eprintln!("PostgreSQL start retried: {e:#}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.context(format!("PostgreSQL did not start; see {log}"))),
            }
        }
        while !self.answers().await {
            anyhow::ensure!(
                Instant::now() < deadline,
                "PostgreSQL did not answer; see {log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Whether the server accepts a connection to its `postgres` database.
    pub async fn answers(&self) -> bool {
        let Ok(options) = self.url("postgres").parse::<PgConnectOptions>() else {
            return false;
        };
        let attempt = async {
            let conn = options.connect().await?;
            conn.close().await
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), attempt).await,
            Ok(Ok(()))
        )
    }

    /// `pg_ctl stop -m immediate`: every process exits at once without a checkpoint, as in a
    /// crash; the next start replays the WAL.
    ///
    /// # Errors
    /// When `pg_ctl` fails.
    pub async fn stop_immediately(&self) -> anyhow::Result<()> {
        let data = self.dir.display().to_string();
        self.tool("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .await
    }

    /// SIGKILL to the postmaster (its backends exit when they notice).
    ///
    /// # Errors
    /// When the server is not running.
    pub fn kill9(&self) -> anyhow::Result<()> {
        signal::send(self.postmaster()?, Signal::Kill)
    }

    /// SIGSTOP to the postmaster and every process it started: the server stops answering
    /// but keeps its connections open.
    ///
    /// # Errors
    /// When the server is not running.
    pub fn pause(&self) -> anyhow::Result<()> {
        let postmaster = self.postmaster()?;
        signal::send(postmaster, Signal::Stop)?;
        for child in signal::children(postmaster) {
            let _ = signal::send(child, Signal::Stop);
        }
        Ok(())
    }

    /// SIGCONT to what [`Postgres::pause`] stopped.
    ///
    /// # Errors
    /// When the server is not running.
    pub fn resume(&self) -> anyhow::Result<()> {
        let postmaster = self.postmaster()?;
        for child in signal::children(postmaster) {
            let _ = signal::send(child, Signal::Cont);
        }
        signal::send(postmaster, Signal::Cont)
    }

    /// The postmaster's process id, from `postmaster.pid`.
    fn postmaster(&self) -> anyhow::Result<u32> {
        let text = std::fs::read_to_string(self.dir.join("postmaster.pid"))
            .context("PostgreSQL is not running")?;
        text.lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .context("postmaster.pid has no process id")
    }

    async fn tool(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        redress::local::run_postgres_tool(&self.bin, self.as_postgres_user, tool, args).await
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Best effort and blocking: a test runtime may be shutting down around us.
        let data = self.dir.display().to_string();
        let program = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres_user {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            std::process::Command::new(&program)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
