//! The servers of the gRPC workloads run as child processes of the bench's own binary, so the
//! load generator and each server have a process and a tokio runtime of their own, as a
//! client and a deployed service would, and the child is always built from the same sources
//! as the bench.
//!
//! * `redress-bench redress <args>` is the `redress` binary: `redress::run` on the parsed
//!   command line, with its own telemetry (JSON logs on its stdout, Prometheus metrics).
//! * `redress-bench echo-server <port file>` is the bare tonic echo peer (see `echo`).
//!
//! Both run on a multi-threaded runtime with [`SERVER_WORKERS`] workers and exit when their
//! stdin closes, which happens when the bench drops the [`ChildProcess`] or dies.
//!
//! For profiling, `REDRESS_BENCH_SERVER_WRAPPER` puts a command in front of the `redress`
//! child, e.g. `valgrind --tool=callgrind --callgrind-out-file=/tmp/serve.%p.out`.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser as _;

use crate::report::log;

/// First argument that makes the binary act as `redress`.
pub(crate) const REDRESS: &str = "redress";
/// First argument that makes the binary the echo peer.
pub(crate) const ECHO: &str = "echo-server";
/// Tokio workers of every server process, as in the plan's echo server (§3.3).
pub(crate) const SERVER_WORKERS: usize = 2;
/// A command (words separated by spaces) that runs the `redress` child, e.g. a profiler.
const WRAPPER_ENV: &str = "REDRESS_BENCH_SERVER_WRAPPER";
/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on every Linux ABI).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time (user and system, all threads) process `pid` has used, in seconds; `None` where
/// `/proc` cannot tell.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_cpu_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime of a `/proc/<pid>/stat` line, in seconds.
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses; the fields after its last
    // `)` are plain numbers and letters.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    // utime and stime are fields 14 and 15: the 12th and 13th after the name.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// [`cpu_seconds`] of the bench process itself: the load generator.
pub(crate) fn own_cpu_seconds() -> Option<f64> {
    cpu_seconds(std::process::id())
}

/// The runtime every server child runs on.
pub(crate) fn server_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(SERVER_WORKERS)
        .enable_all()
        .build()
}

/// Exits the process once stdin reaches its end: the parent closed it or went away.
pub(crate) fn exit_with_parent() {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        std::process::exit(0);
    });
}

/// `redress-bench redress …`: the `redress` binary's `main` on the rest of the command line.
pub(crate) fn run_redress() -> ExitCode {
    exit_with_parent();
    let cli = redress::cli::Cli::parse_from(std::env::args_os().skip(1));
    let result = server_runtime()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(redress::run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redress: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A server started from the bench's own binary. Dropping it closes the child's stdin, so it
/// exits by itself (a profiler gets to write its output); a child still running after a grace
/// period is killed. Either way it is reaped.
#[derive(Debug)]
pub(crate) struct ChildProcess {
    what: &'static str,
    child: std::process::Child,
    /// How long the child may take to exit once its stdin is closed.
    grace: Duration,
}

impl ChildProcess {
    /// Starts `redress-bench <args>` with no environment but `PATH`, stdin piped (its end is
    /// the child's signal to exit), stdout to `stdout` and stderr to `stderr`. With `wrap`, the
    /// command in `REDRESS_BENCH_SERVER_WRAPPER` runs it.
    pub(crate) fn spawn(
        what: &'static str,
        args: Vec<OsString>,
        wrap: bool,
        stdout: &Path,
        stderr: &Path,
    ) -> anyhow::Result<ChildProcess> {
        let exe = std::env::current_exe()?;
        let wrapper: Vec<String> = std::env::var(WRAPPER_ENV)
            .ok()
            .filter(|_| wrap)
            .map(|w| w.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        // A profiled child may take long to write its output when it exits.
        let grace = Duration::from_secs(if wrapper.is_empty() { 5 } else { 300 });
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                log!("{what}: run by {}", wrapper.join(" "));
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        command.args(args).env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        let child = command
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(stdout)?)
            .stderr(std::fs::File::create(stderr)?)
            .spawn()?;
        log!("{what}: started as process {}", child.id());
        Ok(ChildProcess { what, child, grace })
    }

    /// The child's process id (the wrapper's, when there is one).
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// [`cpu_seconds`] of the child (of the wrapper, when there is one).
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.child.id())
    }

    /// Polls `ready` every 20 ms until it gives a value; fails when the child exits first or
    /// `timeout` passes.
    pub(crate) async fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut() -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = ready() {
                return Ok(value);
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("{} exited at start with {status}", self.what);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} was not ready within {timeout:?}",
                self.what
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                log!("{}: stopped", self.what);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        log!("{}: killed after {:?}", self.what, self.grace);
    }
}

#[cfg(test)]
mod tests {
    use super::stat_cpu_seconds;

    #[test]
    fn cpu_time_is_user_plus_system_ticks_after_the_command_name() {
        let stat = "4242 (tokio (worker) 1) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 75 0 0 20 0 \
                    3 0 100 1000000 500 18446744073709551615";
        assert_eq!(stat_cpu_seconds(stat), Some(3.25));
    }

    #[test]
    fn the_bench_reads_its_own_cpu_time() {
        assert!(super::own_cpu_seconds().is_some_and(|s| s >= 0.0));
    }
}
