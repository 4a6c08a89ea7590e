//! Signals to child processes, through `kill(1)`: the workspace forbids `unsafe`, and the
//! standard library can only send SIGKILL.

use anyhow::Context as _;

/// The signals the scenarios send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Kill,
    Stop,
    Cont,
    Term,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Kill => "KILL",
            Signal::Stop => "STOP",
            Signal::Cont => "CONT",
            Signal::Term => "TERM",
        }
    }
}

/// Sends `signal` to process `pid`.
///
/// # Errors
/// When `kill` cannot run or the process does not exist.
pub fn send(pid: u32, signal: Signal) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .arg(format!("-{}", signal.name()))
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status()
        .context("Failed to run kill")?;
    anyhow::ensure!(status.success(), "kill -{} {pid} failed", signal.name());
    Ok(())
}

/// The processes whose parent is `pid`, from `/proc`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let after = &stat[stat.rfind(')')? + 1..];
            let parent: u32 = after.split_whitespace().nth(1)?.parse().ok()?;
            (parent == pid).then_some(child)
        })
        .collect()
}
