//! `regio node run`: runs a node (API and federation) until SIGINT or SIGTERM.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use regio_node::server::{shutdown_signal, Node};

/// `regio node run --dir DIR [--api ADDR] [--listen MULTIADDR…]`.
pub fn run(dir: &Path, api: Option<&str>, listen: &[String]) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut node = Node::open(dir)?;
        if !listen.is_empty() {
            Arc::make_mut(&mut node.state.config).listen = listen.to_vec();
        }
        node.serve(api, shutdown_signal()).await?;
        eprintln!("node stopped cleanly");
        Ok(())
    })
}
