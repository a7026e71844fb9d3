//! `regio demo`: the demo region in one process (the logic lives in `regio_demo::run`).
//! Prints the narration; exits 0 only if every step behaved as expected, 1 otherwise.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use regio_demo::run::{run as run_demo, Options};

/// Options of `regio demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Days of readings per municipality (at least 3).
    #[arg(long, default_value_t = 3)]
    days: usize,
    /// Sensors per municipality (at least 10; two in five belong to citizens; with fewer than
    /// 50 a municipality has fewer consenting citizens than the charter's minimum group size).
    #[arg(long, default_value_t = 50)]
    sensors: usize,
    /// How long the region waits for the member stopped in step 8, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    deadline_ms: u64,
    /// Fresh random keys for every actor instead of the demo's fixed keys.
    #[arg(long)]
    seedless: bool,
    /// Print the checked steps as one JSON document instead of the narration.
    #[arg(long)]
    json: bool,
}

/// `regio demo [--days N] [--sensors N] [--deadline-ms MS] [--seedless] [--json]`.
pub(crate) fn run(a: &DemoArgs) -> Result<()> {
    let opts = Options {
        days: a.days,
        sensors: a.sensors,
        deadline: Duration::from_millis(a.deadline_ms),
        seedless: a.seedless,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = if a.json {
        runtime.block_on(run_demo(&opts, &mut std::io::sink()))?
    } else {
        runtime.block_on(run_demo(&opts, &mut std::io::stdout()))?
    };
    if a.json {
        let steps: Vec<serde_json::Value> = report
            .steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "number": s.number, "title": s.title, "ok": s.ok, "expected": s.expected, "seen": s.seen,
                    "coverage": s.coverage.map(|(a, n)| [a, n]), "reasons": s.reasons, "tookMs": s.took.as_secs_f64() * 1000.0,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"ok": report.ok(), "steps": steps, "seconds": report.elapsed.as_secs_f64()})
        );
    }
    if report.ok() {
        Ok(())
    } else {
        Err(crate::Reported.into())
    }
}
