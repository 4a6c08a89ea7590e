//! `redress`: see `redress --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = redress::cli::Cli::parse();
    redress::run(cli).await
}
