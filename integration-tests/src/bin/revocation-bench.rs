//! Revocation benchmark (owner: bench): a region of `--nodes` (default 50) `regio node run`
//! processes on loopback; per run a fresh certificate registered at one node reaches every
//! node by gossip, then its revocation is POSTed at another node and the time until every
//! node holds it (and so refuses the certificate) is measured. Prints p50/p99 over the runs
//! and every node's idle RSS (VmRSS) once the mesh has settled.
//!
//! ```sh
//! cargo run --release -p regio-integration-tests --bin revocation-bench -- --nodes 50 --runs 20
//! ```
//!
//! Each node is polled with `GET /v1/revocations/{hash}` (200 once stored, 404 before), one
//! sweep over the nodes still missing it after another; a node's time is the moment of the
//! sweep that first saw it, measured from just before the `POST /v1/revocations`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use chrono::Utc;
use clap::Parser;
use regio_demo::data::MUNICIPALITIES;
use regio_demo::region::{self, Actors};
use regio_integration_tests::bench::{self, Http, Node};
use regio_policy::doc::cert::Revocation;
use regio_policy::Signed;

/// Revocation spread over a many-node region, and the nodes' idle memory.
#[derive(Debug, Parser)]
#[command(name = "revocation-bench")]
struct Args {
    /// Nodes in the region.
    #[arg(long, default_value_t = 50)]
    nodes: usize,
    /// Timed runs (after one warm-up).
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Seconds of quiet after the warm-up before the idle RSS is read.
    #[arg(long, default_value_t = 5)]
    settle_secs: u64,
    /// Give up on a run after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// The `regio` binary (default: build the workspace's release binary).
    #[arg(long)]
    regio: Option<PathBuf>,
    /// Extra `key = value` lines for every node's config.toml (repeatable), e.g.
    /// `--config 'gossip_interval_ms = 5000'`.
    #[arg(long)]
    config: Vec<String>,
}

fn main() -> Result<()> {
    let a = Args::parse();
    bench::stop_nodes_on_signal();
    let regio = bench::regio_binary(a.regio.clone())?;
    let scratch = Path::new("/tmp/bench-scratch");
    std::fs::create_dir_all(scratch).context("cannot create /tmp/bench-scratch")?;
    let tmp = tempfile::Builder::new()
        .prefix("revocation-bench-")
        .tempdir_in(scratch)
        .context("cannot create a temporary directory")?;
    let config: Vec<(&str, &str)> = a
        .config
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| anyhow!("--config `{l}` is not `key = value`"))
        })
        .collect::<Result<_>>()?;
    let t = Instant::now();
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..a.nodes {
        let (nis, name) = MUNICIPALITIES[i % MUNICIPALITIES.len()];
        let dir = tmp.path().join(format!("node{i:03}"));
        bench::init(&regio, &dir, nis, &format!("{name} {i}"), &config)?;
        nodes.push(bench::start(&regio, &dir)?);
    }
    println!(
        "{} nodes started in {:.1} s",
        nodes.len(),
        t.elapsed().as_secs_f64()
    );

    let http = Http::new(Duration::from_secs(30));
    let now = Utc::now();
    let mut actors = Actors::new(nodes.len());
    actors.nodes = nodes.iter().map(|n| n.key.clone()).collect();
    let addresses: Vec<Vec<String>> = nodes.iter().map(|n| n.p2p.clone()).collect();
    let docs = region::documents(&actors, &addresses, now)
        .map_err(|e| anyhow!("signing the region: {e}"))?;
    let t = Instant::now();
    for n in &nodes {
        http.post_doc(
            &format!("{}/v1/regions", n.url),
            &n.token,
            docs.manifest.raw(),
        )?;
    }
    bench::poll(
        Duration::from_secs(180),
        Duration::from_millis(500),
        "every node reaching every member",
        || {
            let unreached: Vec<usize> = nodes
                .iter()
                .map(|n| unreached(&http, n))
                .collect::<Result<_>>()
                .map_err(|e| e.to_string())?;
            if unreached.iter().all(|c| *c == 0) {
                Ok(())
            } else {
                Err(format!("members not reached per node: {unreached:?}"))
            }
        },
    )?;
    println!(
        "region formed ({} members, manifest posted at each node): every node reaches every member after {:.1} s; {}",
        nodes.len(),
        t.elapsed().as_secs_f64(),
        connections(&http, &nodes)?
    );

    let mut spread = Vec::new();
    let mut revoked = Vec::new();
    for run in 0..=a.runs {
        let (c_ms, r_ms) = one_run(&a, &http, &nodes, &actors, &docs.certificate, run)?;
        if run == 0 {
            println!("warm-up: certificate at every node after {c_ms:.1} ms, revocation after {r_ms:.1} ms");
            std::thread::sleep(Duration::from_secs(a.settle_secs));
            rss("idle RSS after the warm-up", &nodes)?;
            println!("  {}", connections(&http, &nodes)?);
        } else {
            spread.push(c_ms);
            revoked.push(r_ms);
        }
    }
    println!(
        "certificate spread ms (registered at one node, stored at all): {}",
        bench::list(&spread)
    );
    println!(
        "certificate spread p50 {:.1} ms, p99 {:.1} ms",
        bench::percentile(&spread, 50.0),
        bench::percentile(&spread, 99.0)
    );
    println!(
        "revocation ms (POSTed at one node, stored = refused at all {}): {}",
        nodes.len(),
        bench::list(&revoked)
    );
    let p99 = bench::percentile(&revoked, 99.0);
    println!(
        "revocation at every node: p50 {:.1} ms, p99 {p99:.1} ms, max {:.1} ms over {} runs (goal p99 < 2000 ms: {})",
        bench::percentile(&revoked, 50.0),
        bench::percentile(&revoked, 100.0),
        revoked.len(),
        if p99 < 2000.0 { "met" } else { "MISSED" }
    );
    std::thread::sleep(Duration::from_secs(a.settle_secs));
    rss("idle RSS after the runs", &nodes)?;
    println!("  {}", connections(&http, &nodes)?);
    drop(nodes);
    println!("nodes stopped");
    Ok(())
}

/// How many members of its region a node does not reach (`reachable` false in
/// `GET /v1/regions`).
fn unreached(http: &Http, n: &Node) -> Result<usize> {
    let regions: serde_json::Value =
        serde_json::from_str(&http.text(&format!("{}/v1/regions", n.url))?)?;
    let members = regions
        .as_array()
        .and_then(|r| r.first())
        .map(|r| r["members"].clone())
        .unwrap_or_default();
    let members = members
        .as_array()
        .ok_or_else(|| anyhow!("{}: not in a region yet", n.url))?;
    Ok(members.iter().filter(|m| m["reachable"] != true).count())
}

/// `connected peers per node: min A, median B, max C`.
fn connections(http: &Http, nodes: &[Node]) -> Result<String> {
    let counts: Vec<f64> = nodes
        .iter()
        .map(|n| connected_peers(http, n).map(|c| c as f64))
        .collect::<Result<_>>()?;
    Ok(format!(
        "connected peers per node: min {}, median {}, max {}",
        counts.iter().cloned().fold(f64::INFINITY, f64::min),
        bench::median(&counts),
        counts.iter().cloned().fold(0.0, f64::max)
    ))
}

/// `regio_p2p_connected_peers` of one node.
fn connected_peers(http: &Http, n: &Node) -> Result<usize> {
    let text = http.text(&format!("{}/metrics", n.url))?;
    text.lines()
        .find_map(|l| l.strip_prefix("regio_p2p_connected_peers "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as usize)
        .ok_or_else(|| anyhow!("{}: no regio_p2p_connected_peers in /metrics", n.url))
}

/// A fresh certificate at node `run % n`, then its revocation at another node: the ms until
/// every node stored each.
fn one_run(
    a: &Args,
    http: &Http,
    nodes: &[Node],
    actors: &Actors,
    template: &Signed<regio_policy::doc::cert::EthicsCertificate>,
    run: usize,
) -> Result<(f64, f64)> {
    let n = nodes.len();
    let mut cert = template.doc().clone();
    cert.id = format!("urn:uuid:0b9c1d3e-7a52-4d1e-9f00-{:012}", 1000 + run);
    let cert = Signed::sign(cert, &actors.certifier, Utc::now())?;
    let at = &nodes[run % n];
    let t = Instant::now();
    http.post_doc(
        &format!("{}/v1/certificates", at.url),
        &at.token,
        cert.raw(),
    )?;
    let c_ms = until_everywhere(a, http, nodes, "certificates", &cert.hash().to_string(), t)?;

    let rev = Revocation {
        certificate: cert.hash(),
        certificate_id: cert.doc().id.clone(),
        issuer: actors.certifier.did().clone(),
        reason: format!("benchmark run {run}"),
        revoked_at: Utc::now(),
    };
    let rev = Signed::sign(rev, &actors.certifier, Utc::now())?;
    let at = &nodes[(run * 7 + n / 2) % n];
    let t = Instant::now();
    http.post_doc(&format!("{}/v1/revocations", at.url), &at.token, rev.raw())?;
    let r_ms = until_everywhere(a, http, nodes, "revocations", &rev.hash().to_string(), t)?;
    Ok((c_ms, r_ms))
}

/// Sweeps `GET /v1/{kind}/{hash}` over the nodes still missing it until none is; ms since `t`.
fn until_everywhere(
    a: &Args,
    http: &Http,
    nodes: &[Node],
    kind: &str,
    hash: &str,
    t: Instant,
) -> Result<f64> {
    let mut missing: Vec<&Node> = nodes.iter().collect();
    while !missing.is_empty() {
        let mut still = Vec::new();
        for n in missing {
            match http.status(&format!("{}/v1/{kind}/{hash}", n.url))? {
                200 => {}
                404 => still.push(n),
                st => return Err(anyhow!("GET {}/v1/{kind}/{hash}: {st}", n.url)),
            }
        }
        missing = still;
        if t.elapsed() > Duration::from_secs(a.timeout_secs) {
            return Err(anyhow!(
                "{kind} {hash}: {} node(s) still without it after {} s",
                missing.len(),
                a.timeout_secs
            ));
        }
    }
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

/// Prints min / median / max VmRSS of the nodes, MB, and what it is made of: anonymous
/// memory (heap, stacks), file-backed pages (the `regio` binary's code, shared by every node
/// on the host) and the proportional set size (shared pages divided among their sharers).
fn rss(what: &str, nodes: &[Node]) -> Result<()> {
    let mb: Vec<f64> = nodes
        .iter()
        .map(|n| n.rss_kib().map(|k| k as f64 / 1024.0))
        .collect::<Result<_>>()?;
    let over = mb.iter().filter(|m| **m > 30.0).count();
    println!(
        "{what} (VmRSS, MB, {} nodes): min {:.1}, median {:.1}, max {:.1}; over 30 MB: {over} (goal: none)",
        mb.len(),
        mb.iter().cloned().fold(f64::INFINITY, f64::min),
        bench::median(&mb),
        mb.iter().cloned().fold(0.0, f64::max)
    );
    let field = |file: &str, key: &str| -> Result<Vec<f64>> {
        nodes
            .iter()
            .map(|n| n.proc_kib(file, key).map(|k| k as f64 / 1024.0))
            .collect()
    };
    println!(
        "  of which (median MB): anonymous {:.1}, file-backed {:.1} (the binary, shared by all nodes on the host); PSS {:.1}",
        bench::median(&field("status", "RssAnon:")?),
        bench::median(&field("status", "RssFile:")?),
        bench::median(&field("smaps_rollup", "Pss:")?)
    );
    Ok(())
}
