//! `regio node run`: runs a node until SIGINT or SIGTERM.

use std::path::Path;

use anyhow::{Context, Result};
use regio_node::server::{shutdown_signal, Node};

/// `regio node run --dir DIR [--api ADDR]`.
pub fn run(dir: &Path, api: Option<&str>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    // Traces over OTLP when configured (`regio_node::telemetry`); dropped on return, it flushes them.
    let _telemetry = regio_node::telemetry::Telemetry::for_node_dir(dir)?;
    runtime.block_on(async {
        let node = Node::open(dir)?;
        node.serve(api, shutdown_signal()).await?;
        eprintln!("node stopped cleanly");
        Ok(())
    })
}
