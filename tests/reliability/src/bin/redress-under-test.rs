//! The `redress` binary for the reliability suite: the same `main` as
//! `services/redress/src/main.rs`, built in this package so that its tests can name it.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = redress::cli::Cli::parse();
    redress::run(cli).await
}
