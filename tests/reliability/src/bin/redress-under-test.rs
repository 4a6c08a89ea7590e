//! The `redress` binary for the reliability suite: the same `main` as
//! `services/redress/src/main.rs`, built in this package so that its tests can name it, with the
//! platform's failpoints compiled in (this package's dev-dependency enables them; the production
//! binary never has them).
//!
//! `FAILPOINTS` configures them at start, as the `fail` crate reads it, e.g.
//! `FAILPOINTS='relay::after_ack_before_checkpoint=20*off->panic'`. A failpoint's `panic` ends
//! the whole process at once (a crash, as SIGKILL would leave it), also from a spawned task,
//! which a panic alone would not.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    crash_on_failpoint_panic();
    let _failpoints = fail::FailScenario::setup();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let cli = redress::cli::Cli::parse();
            redress::run(cli).await
        })
}

/// A panic raised by a failpoint's `panic` action aborts the process; any other panic is left
/// to the default hook.
fn crash_on_failpoint_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failpoint ") {
            eprintln!("{message}: crashing here");
            std::process::abort();
        }
        default(info);
    }));
}
