//! `redress-bench`: measures Redress's append, relay and projection paths, a real command and a
//! read query over gRPC, and the command path in process next to cqrs-es, each next to bare
//! peers on the same PostgreSQL and NATS in one run, and the memory `redress up` holds; prints
//! perf.v1 JSON lines on stdout.
//!
//! Logs go to stderr; stdout carries nothing but JSON lines. See README.md.
//!
//! The same binary is also the servers of the gRPC workloads, started as its own children:
//! `redress-bench redress …` is the `redress` binary and `redress-bench echo-server <file>` the
//! bare echo peer (see `child`).

mod append;
mod cases;
mod child;
mod cli;
mod command;
mod db;
mod echo;
mod execute;
mod feed;
mod feed_nats;
mod lag;
mod load;
mod memory;
mod overhead;
mod projection;
mod query;
mod relay;
mod report;
mod run;
mod sentinel;
mod served;
mod workload;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match std::env::args_os()
        .nth(1)
        .as_deref()
        .and_then(|a| a.to_str())
    {
        Some(child::REDRESS) => return child::run_redress(),
        Some(child::ECHO) => return echo::run_child(),
        _ => {}
    }
    let args = cli::Args::parse();
    // Platform warnings (relay or runner retries) go to stderr; sqlx's slow-statement warnings
    // are expected for the bulk seeding and stay quiet unless RUST_LOG asks for them.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx::query=error")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("redress-bench: cannot start the tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run::run(cli::Settings::from_args(args))) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("redress-bench: failed: {e:#}");
            ExitCode::from(2)
        }
    }
}
