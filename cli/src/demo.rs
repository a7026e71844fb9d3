//! `regio demo`: the demo region in one process (the logic lives in `regio_node::demo::run`).
//! Prints the narration; exits 0 only if every step behaved as expected, 1 otherwise.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use regio_node::demo::run::{run as run_demo, Options};

/// Options of `regio demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Days of readings per municipality (at least 3).
    #[arg(long, default_value_t = 3)]
    days: usize,
    /// Sensors per municipality (at least 10; two in five belong to citizens).
    #[arg(long, default_value_t = 20)]
    sensors: usize,
    /// How long the region waits for the member stopped in step 7, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    deadline_ms: u64,
    /// Fresh random keys for every actor instead of the demo's fixed keys.
    #[arg(long)]
    seedless: bool,
}

/// `regio demo [--days N] [--sensors N] [--deadline-ms MS] [--seedless]`.
pub fn run(a: &DemoArgs) -> Result<()> {
    let opts = Options { days: a.days, sensors: a.sensors, deadline: Duration::from_millis(a.deadline_ms), seedless: a.seedless };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let mut out = std::io::stdout();
    let report = runtime.block_on(run_demo(&opts, &mut out))?;
    if report.ok() {
        Ok(())
    } else {
        Err(crate::Reported.into())
    }
}
