//! Reference benchmark (owner: bench): the reference query of `../shared/bench/README.md`
//! federated over five `regio node run` processes on loopback, one municipality each,
//! beside the PostgreSQL-FDW and DuckDB baselines of `../shared/bench` in the same run.
//!
//! ```sh
//! cargo run --release -p regio-integration-tests --bin reference-bench -- --runs 5 --baselines
//! ```
//!
//! Steps: generate the data with `gen_airquality.py` if `--data` is missing; build the release
//! `regio`; `regio init` + `regio node run` per municipality (API `127.0.0.1:0`, libp2p
//! `/ip4/127.0.0.1/tcp/0`); per node: `POST /v1/datasets`, `regio ingest` of its readings and
//! `regio consent import` of its consent (HTTP, durable); the region's documents signed
//! (`regio_demo::region`: charter and manifest signed by every member with their p2p
//! addresses, each node's policy with min group size `--k`, the app's certificate) and
//! posted; then one warm-up and `--runs` signed queries `POST /v1/query` at the first node,
//! each timed from request to parsed response. Prints the median and every run, writes the
//! result CSV and prints its checksum (`result_checksum.py`); with `--baselines` it then
//! stops the nodes and runs `pg_baseline.sh` (JIT on and off) and `duckdb_limit.py`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../node/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use chrono::Utc;
use clap::Parser;
use regio_demo::region::{self, Actors};
use regio_integration_tests::bench::{self, Http, Node};
use regio_policy::Signed;
use serde_json::{json, Value};

/// The checksum of the default query over the default data (seed 42, 5 × 200,000, k 10).
const EXPECTED: &str = "6b2659519e5a52ea0e2a714e0f41c01d";

/// Federated reference query over five node processes, with optional baselines.
#[derive(Debug, Parser)]
#[command(name = "reference-bench")]
struct Args {
    /// Data directory of `gen_airquality.py` (generated if it holds no municipalities.json).
    #[arg(long, default_value = "/tmp/bench-scratch/data-n5-r200000-s42")]
    data: PathBuf,
    /// Municipalities to generate when --data is missing.
    #[arg(long, default_value_t = 5)]
    municipalities: usize,
    /// Rows per municipality to generate when --data is missing.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Generator seed when --data is missing.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The query (Regio's SQL subset).
    #[arg(long, default_value = support::REFERENCE_SQL)]
    sql: String,
    /// The query's purpose (DPV).
    #[arg(long, default_value = "ResearchAndDevelopment")]
    purpose: String,
    /// Minimum group size in every node's policy (the charter's is 10; the larger applies).
    #[arg(long, default_value_t = 10)]
    k: u32,
    /// Timed runs (after one warm-up).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Where to write the result CSV.
    #[arg(long, default_value = "/tmp/bench-scratch/results_regio_federated.csv")]
    out: PathBuf,
    /// Also run pg_baseline.sh (JIT on and off) and duckdb_limit.py and print the ratios.
    #[arg(long)]
    baselines: bool,
    /// The `regio` binary (default: build the workspace's release binary).
    #[arg(long)]
    regio: Option<PathBuf>,
    /// The query deadline, milliseconds.
    #[arg(long, default_value_t = 30_000)]
    deadline_ms: u64,
}

fn main() -> Result<()> {
    let a = Args::parse();
    bench::stop_nodes_on_signal();
    if !a.data.join("municipalities.json").exists() {
        println!(
            "generating {} ({} x {}, seed {})",
            a.data.display(),
            a.municipalities,
            a.rows,
            a.seed
        );
        python(&[
            &bench::shared_bench()
                .join("gen_airquality.py")
                .to_string_lossy(),
            "--municipalities",
            &a.municipalities.to_string(),
            "--rows-per-municipality",
            &a.rows.to_string(),
            "--seed",
            &a.seed.to_string(),
            "--out",
            &a.data.to_string_lossy(),
        ])?;
    }
    let regio = bench::regio_binary(a.regio.clone())?;
    let (times, coverage) = federated(&a, &regio)?;
    let regio_ms = bench::median(&times);
    println!("regio federated timings ms: {}", bench::list(&times));
    println!(
        "regio federated median of {} runs: {regio_ms:.3} ms (coverage {coverage})",
        a.runs
    );
    let sum = python(&[
        &bench::shared_bench()
            .join("result_checksum.py")
            .to_string_lossy(),
        &a.out.to_string_lossy(),
    ])?;
    print!("{sum}");
    let default = a.sql == support::REFERENCE_SQL
        && a.k == 10
        && a.purpose == "ResearchAndDevelopment"
        && a.data.ends_with("data-n5-r200000-s42");
    if default {
        println!(
            "expected checksum {EXPECTED}: {}",
            if sum.contains(EXPECTED) {
                "MATCH"
            } else {
                "MISMATCH"
            }
        );
    }
    if a.baselines {
        baselines(&a, regio_ms)?;
    }
    if default && !sum.contains(EXPECTED) {
        bail!("the result checksum differs from {EXPECTED}");
    }
    Ok(())
}

/// Five nodes, data loaded, region formed; returns the timed runs and the last coverage.
fn federated(a: &Args, regio: &Path) -> Result<(Vec<f64>, String)> {
    let names = municipalities(&a.data)?;
    let scratch = Path::new("/tmp/bench-scratch");
    std::fs::create_dir_all(scratch).context("cannot create /tmp/bench-scratch")?;
    let tmp = tempfile::Builder::new()
        .prefix("reference-bench-")
        .tempdir_in(scratch)
        .context("cannot create a temporary directory")?;
    let http = Http::default();
    let mut nodes: Vec<Node> = Vec::new();
    for (nis, name) in &names {
        let dir = tmp.path().join(nis);
        bench::init(regio, &dir, nis, name, &[])?;
        nodes.push(bench::start(regio, &dir)?);
    }
    println!(
        "{} nodes running: {}",
        nodes.len(),
        nodes
            .iter()
            .map(|n| n.url.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );

    let schema = serde_json::to_value(support::readings_schema())?;
    let t = Instant::now();
    for (n, (nis, _)) in nodes.iter().zip(&names) {
        let (st, v) = http.post(&format!("{}/v1/datasets", n.url), Some(&n.token), &schema)?;
        if st != 201 {
            bail!("create dataset at {}: {st} {v}", n.url);
        }
        regio_cli(
            regio,
            n,
            &["ingest", "--dataset", "readings"],
            &a.data.join(format!("readings_{nis}.ndjson")),
        )?;
        regio_cli(
            regio,
            n,
            &["consent", "import"],
            &a.data.join(format!("consent_{nis}.ndjson")),
        )?;
    }
    println!(
        "loaded {} municipalities over HTTP (regio ingest + consent import, durable) in {:.1} s",
        names.len(),
        t.elapsed().as_secs_f64()
    );

    // The region: the demo's signed documents with these nodes' keys and addresses.
    let now = Utc::now();
    let mut actors = Actors::new(nodes.len());
    actors.nodes = nodes.iter().map(|n| n.key.clone()).collect();
    let addresses: Vec<Vec<String>> = nodes.iter().map(|n| n.p2p.clone()).collect();
    let docs = region::documents(&actors, &addresses, now)
        .map_err(|e| anyhow!("signing the region: {e}"))?;
    for (i, n) in nodes.iter().enumerate() {
        let mut policy = region::policy(i, &actors, now);
        policy.municipality.nis = names[i].0.clone();
        policy.municipality.name = names[i].1.clone();
        policy.disclosure.min_group_size = a.k;
        let policy = Signed::sign(policy, &actors.nodes[i], now)
            .map_err(|e| anyhow!("signing policy {i}: {e}"))?;
        http.post_doc(
            &format!("{}/v1/regions", n.url),
            &n.token,
            docs.manifest.raw(),
        )?;
        http.post_doc(
            &format!("{}/v1/charters", n.url),
            &n.token,
            docs.charter.raw(),
        )?;
        http.post_doc(&format!("{}/v1/policy", n.url), &n.token, policy.raw())?;
        http.post_doc(
            &format!("{}/v1/certificates", n.url),
            &n.token,
            docs.certificate.raw(),
        )?;
    }
    let origin = &nodes[0];
    bench::poll(
        Duration::from_secs(60),
        Duration::from_millis(200),
        "every member connected at the first node",
        || {
            let (_, v) = http
                .get(&format!("{}/v1/regions/{}", origin.url, region::REGION))
                .map_err(|e| e.to_string())?;
            let members = v["members"].as_array().cloned().unwrap_or_default();
            if members.len() == nodes.len() && members.iter().all(|m| m["connected"] == true) {
                Ok(())
            } else {
                Err(v.to_string())
            }
        },
    )?;

    let mut times = Vec::new();
    let mut last = Value::Null;
    for run in 0..=a.runs {
        let q = region::query(
            &actors.app,
            origin.key.did(),
            &a.purpose,
            &a.sql,
            Some(docs.certificate.hash()),
            Utc::now(),
        )?;
        let url = format!("{}/v1/query?deadline_ms={}", origin.url, a.deadline_ms);
        let t = Instant::now();
        let (st, v) = http.post(&url, None, &q)?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let full = json!([nodes.len(), nodes.len()]);
        if st != 200 || v["coverage"] != full {
            bail!(
                "run {run}: {st}, coverage {} (expected {full}): {}",
                v["coverage"],
                v["provenance"]
            );
        }
        if run > 0 {
            times.push(ms);
        }
        last = v;
    }
    let csv = last["csv"]
        .as_str()
        .ok_or_else(|| anyhow!("no csv in the answer"))?;
    std::fs::write(&a.out, csv).with_context(|| format!("cannot write {}", a.out.display()))?;
    let prov: Vec<String> = last["provenance"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|m| {
                    format!(
                        "{} {} scanned {} excluded {} suppressed {}",
                        m["name"].as_str().unwrap_or("?"),
                        m["status"].as_str().unwrap_or("?"),
                        m["rowsScanned"],
                        m["rowsExcludedByConsent"],
                        m["groupsSuppressed"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    println!("provenance: {}", prov.join("; "));
    println!(
        "result rows {} written to {}",
        last["result"]["rows"].as_array().map_or(0, Vec::len),
        a.out.display()
    );
    let coverage = last["coverage"].to_string();
    drop(nodes);
    println!("nodes stopped");
    Ok((times, coverage))
}

/// `regio ARGS --node URL --dir DIR FILE`.
fn regio_cli(regio: &Path, n: &Node, args: &[&str], file: &Path) -> Result<()> {
    let out = Command::new(regio)
        .args(args)
        .args(["--node", &n.url, "--dir"])
        .arg(&n.dir)
        .arg(file)
        .env_remove("REGIO_TOKEN")
        .env_remove("REGIO_NODE")
        .output()
        .with_context(|| format!("cannot run {}", regio.display()))?;
    if !out.status.success() {
        bail!(
            "regio {} {}: {}",
            args.join(" "),
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// (NIS, name) of every municipality in `municipalities.json`.
fn municipalities(dir: &Path) -> Result<Vec<(String, String)>> {
    let path = dir.join("municipalities.json");
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?,
    )?;
    let list = m["municipalities"]
        .as_array()
        .ok_or_else(|| anyhow!("{}: no `municipalities` list", path.display()))?;
    list.iter()
        .map(|x| match (x["nis"].as_str(), x["name"].as_str()) {
            (Some(n), Some(name)) => Ok((n.to_string(), name.to_string())),
            _ => Err(anyhow!(
                "{}: a municipality without `nis` and `name`: {x}",
                path.display()
            )),
        })
        .collect()
}

/// Runs `python3 ARGS`, streams nothing, returns stdout; an error carries stderr.
fn python(args: &[&str]) -> Result<String> {
    let out = Command::new("python3")
        .args(args)
        .output()
        .context("cannot run python3")?;
    if !out.status.success() {
        bail!(
            "python3 {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The last number in the first line starting with `prefix`.
fn figure(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|s| s.parse().ok())
}

/// pg_baseline.sh (JIT on and off) and duckdb_limit.py over the same data, then the ratios.
fn baselines(a: &Args, regio_ms: f64) -> Result<()> {
    let (n, r) = data_shape(&a.data)?;
    println!("=== pg_baseline.sh --municipalities {n} --rows-per-municipality {r} --seed {} --k {} --runs {} ===", a.seed, a.k, a.runs);
    let out = Command::new("bash")
        .arg(bench::shared_bench().join("pg_baseline.sh"))
        .args([
            "--municipalities",
            &n.to_string(),
            "--rows-per-municipality",
            &r.to_string(),
            "--seed",
            &a.seed.to_string(),
            "--k",
            &a.k.to_string(),
            "--runs",
            &a.runs.to_string(),
        ])
        .output()
        .context("cannot run pg_baseline.sh")?;
    let pg = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "pg_baseline.sh failed: {}\n{}",
            pg,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tail: Vec<&str> = pg
        .lines()
        .skip_while(|l| !l.starts_with("=== RESULT"))
        .collect();
    println!("{}", tail.join("\n"));
    let runs = a.runs.to_string();
    let pg_jit = figure(&pg, &format!("median of {runs} runs: "))
        .ok_or_else(|| anyhow!("no PG median in pg_baseline.sh's output"))?;
    let pg_nojit = pg
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("median of {runs} runs: ")))
        .find(|l| l.contains("jit=off"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| anyhow!("no PG jit=off median in pg_baseline.sh's output"))?;

    let duck_csv = Path::new("/tmp/bench-scratch/results_duckdb.csv");
    println!(
        "=== duckdb_limit.py --data {} --k {} --runs {} ===",
        a.data.display(),
        a.k,
        a.runs
    );
    let duck = python(&[
        &bench::shared_bench()
            .join("duckdb_limit.py")
            .to_string_lossy(),
        "--data",
        &a.data.to_string_lossy(),
        "--k",
        &a.k.to_string(),
        "--runs",
        &runs,
        "--out",
        &duck_csv.to_string_lossy(),
        "--compare",
        &a.out.to_string_lossy(),
    ])?;
    print!("{duck}");
    let duck_ms = figure(&duck, &format!("median of {runs} runs: "))
        .ok_or_else(|| anyhow!("no DuckDB median in duckdb_limit.py's output"))?;
    let pg_csv = Path::new("/tmp/bench-scratch/results_pg.csv");
    print!(
        "{}",
        python(&[
            &bench::shared_bench()
                .join("result_checksum.py")
                .to_string_lossy(),
            &a.out.to_string_lossy(),
            &pg_csv.to_string_lossy()
        ])?
    );
    println!("=== RATIOS (medians of {runs} runs) ===");
    println!("regio federated:              {regio_ms:.3} ms");
    println!(
        "PG federation, jit on:        {pg_jit:.3} ms   regio/PG(jit on)  = {:.2}",
        regio_ms / pg_jit
    );
    println!(
        "PG federation, jit off:       {pg_nojit:.3} ms   regio/PG(jit off) = {:.2} (goal <= 0.5)",
        regio_ms / pg_nojit
    );
    println!(
        "DuckDB in-memory:             {duck_ms:.3} ms   regio/DuckDB      = {:.2} (goal <= 1.5)",
        regio_ms / duck_ms
    );
    Ok(())
}

/// (municipalities, rows per municipality) of a data directory, from its readings files.
fn data_shape(dir: &Path) -> Result<(usize, usize)> {
    let names = municipalities(dir)?;
    let first = dir.join(format!(
        "readings_{}.ndjson",
        names.first().map(|m| m.0.as_str()).unwrap_or("")
    ));
    let text = std::fs::read_to_string(&first)
        .with_context(|| format!("cannot read {}", first.display()))?;
    Ok((
        names.len(),
        text.lines().filter(|l| !l.trim().is_empty()).count(),
    ))
}
