//! Reference benchmark (owner: bench): the reference query of `../shared/bench/README.md`
//! federated over five `regio node run` processes on loopback, one municipality each,
//! beside the PostgreSQL-FDW and DuckDB baselines of `../shared/bench` in the same run.
//!
//! ```sh
//! cargo run --release -p regio-integration-tests --bin reference-bench -- --runs 5 --baselines
//! cargo run --release -p regio-integration-tests --bin reference-bench -- --disclosure dp
//! ```
//!
//! Steps: generate the data with `gen_airquality.py` if `--data` is missing; build the release
//! `regio`; `regio init` + `regio node run` per municipality (API `127.0.0.1:0`, libp2p
//! `/ip4/127.0.0.1/tcp/0`); per node: `POST /v1/datasets`, `regio ingest` of its readings and
//! `regio consent import` of its consent (HTTP, durable); the regions' documents signed
//! (`regio_demo::region`: charter and manifest signed by every member with their p2p
//! addresses, each node's policy with min group size `--k` granting the app every region, the
//! app's certificate) and posted; then the timed, signed queries `POST /v1/query` at the first
//! node, each timed from request to parsed response.
//!
//! `--disclosure exact` (the default): one region under the default charter in explicit exact
//! mode (`region::exact_charter`: k counts distinct subjects, values exact); one warm-up and
//! `--runs` reference queries; prints the median and every run, writes the result CSV and
//! prints its checksum (`result_checksum.py`); with `--baselines` it then stops the nodes and
//! runs `pg_baseline.sh` (JIT on and off) and `duckdb_limit.py`, both with `--k-rule subjects`,
//! and says whether the three checksums agree.
//!
//! `--disclosure dp`: the nodes are members of two regions at once over the same data, one
//! under the default charter (differential privacy; its daily budget raised to `--dp-budget`
//! so the runs fit) and one under the exact charter. The same query (`count(*)` and
//! `avg(no2)` per municipality per day: min/max of personal values are refused under DP) runs
//! in both, interleaved, one warm-up and `--runs` each; prints both medians, the time ratio
//! dp/exact (goal <= 1.2), and the per-group relative error of the DP counts and averages
//! against the exact answer (groups released by both, pooled over the timed runs; p50, p95).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../node/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, ValueEnum};
use regio_demo::region::{self, Actors};
use regio_integration_tests::bench::{self, Http, Node};
use regio_policy::doc::bundle::PolicyBundle;
use regio_policy::{DocHash, Signed};
use serde_json::{json, Value};

/// The checksum of the default query over the default data (seed 42, 5 × 200,000, k 10) in
/// exact mode: k counts distinct subjects (`--k-rule subjects` of the baselines).
const EXPECTED: &str = "c222103fe065a41edc5a8a87218f2273";

/// The query of `--disclosure dp`: the reference query without min/max (refused under DP).
const DP_SQL: &str = "SELECT municipality, date_trunc('day', observed_at) AS day, count(*) AS n, \
     avg(no2) AS avg_no2 FROM readings \
     GROUP BY municipality, date_trunc('day', observed_at) ORDER BY 1, 2";

/// The second region of `--disclosure dp`: the same members and data, exact charter.
const EXACT_REGION: &str = "vlaanderen-demo-exact";

/// How personal data is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Disclosure {
    /// Differential privacy (the default charter) beside an exact region over the same data.
    Dp,
    /// The default charter in explicit exact mode.
    Exact,
}

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
    /// Disclosure control: `exact` (explicit exact charter, the reference query) or `dp`
    /// (a DP region and an exact region side by side, count and avg per municipality-day).
    #[arg(long, value_enum, default_value_t = Disclosure::Exact)]
    disclosure: Disclosure,
    /// The query (Regio's SQL subset); default: the reference query (exact) or the reference
    /// query without min/max (dp).
    #[arg(long)]
    sql: Option<String>,
    /// The query's purpose (DPV).
    #[arg(long, default_value = "ResearchAndDevelopment")]
    purpose: String,
    /// Minimum group size in every node's policy (the charter's is 10; the larger applies).
    #[arg(long, default_value_t = 10)]
    k: u32,
    /// Timed runs (after one warm-up); with `dp`, per region.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The DP region's privacy budget per application and window (the default charter's is
    /// 10 per day, at epsilon 1 per query: raised so that the runs fit).
    #[arg(long, default_value_t = 100_000.0)]
    dp_budget: f64,
    /// Where to write the result CSV (with `dp`: the exact answer; the DP answer of the last
    /// run goes next to it, `_dp` before the extension).
    #[arg(long, default_value = "/tmp/bench-scratch/results_regio_federated.csv")]
    out: PathBuf,
    /// Also run pg_baseline.sh (JIT on and off) and duckdb_limit.py and print the ratios
    /// (exact mode only).
    #[arg(long)]
    baselines: bool,
    /// The `regio` binary (default: build the workspace's release binary).
    #[arg(long)]
    regio: Option<PathBuf>,
    /// The query deadline, milliseconds.
    #[arg(long, default_value_t = 30_000)]
    deadline_ms: u64,
}

impl Args {
    fn sql(&self) -> &str {
        match (&self.sql, self.disclosure) {
            (Some(s), _) => s,
            (None, Disclosure::Exact) => support::REFERENCE_SQL,
            (None, Disclosure::Dp) => DP_SQL,
        }
    }

    /// The default query, data and k: the expected checksum applies.
    fn is_default(&self) -> bool {
        self.sql
            .as_deref()
            .is_none_or(|s| s == support::REFERENCE_SQL)
            && self.k == 10
            && self.purpose == "ResearchAndDevelopment"
            && self.data.ends_with("data-n5-r200000-s42")
    }
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
    match a.disclosure {
        Disclosure::Exact => exact(&a, &regio),
        Disclosure::Dp => {
            if a.baselines {
                println!("--baselines applies to --disclosure exact only; skipped");
            }
            dp(&a, &regio)
        }
    }
}

/// `--disclosure exact`: one region under the exact charter, the reference query.
fn exact(a: &Args, regio: &Path) -> Result<()> {
    let charter = region::exact_charter();
    println!(
        "disclosure exact: region {} under charter {} (clauses.disclosure.personal = {})",
        region::REGION,
        charter["id"],
        charter["clauses"]["disclosure"]["personal"]
    );
    let cluster = Cluster::start(a, regio, &[(region::REGION, charter)])?;
    let mut times = Vec::new();
    let mut last = Value::Null;
    for run in 0..=a.runs {
        let (ms, v) = cluster.query(a, region::REGION, a.sql())?;
        if run > 0 {
            times.push(ms);
        }
        last = v;
    }
    let csv = answer_csv(&last)?;
    std::fs::write(&a.out, csv).with_context(|| format!("cannot write {}", a.out.display()))?;
    println!("provenance: {}", provenance(&last));
    println!(
        "result rows {} written to {}",
        last["result"]["rows"].as_array().map_or(0, Vec::len),
        a.out.display()
    );
    let coverage = last["coverage"].to_string();
    drop(cluster);
    println!("nodes stopped");

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
    let default = a.is_default();
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
        baselines(a, regio_ms, checksum_in(&sum))?;
    }
    if default && !sum.contains(EXPECTED) {
        bail!("the result checksum differs from {EXPECTED}");
    }
    Ok(())
}

/// The default charter with the DP budget raised to `budget` (epsilon per window).
fn dp_charter(budget: f64) -> Value {
    let mut c = region::default_charter();
    c["clauses"]["disclosure"]["budget"]["epsilon"] = json!(budget);
    c
}

/// `--disclosure dp`: the DP region and the exact region over the same nodes and data.
fn dp(a: &Args, regio: &Path) -> Result<()> {
    let dpc = dp_charter(a.dp_budget);
    let d = &dpc["clauses"]["disclosure"];
    println!(
        "disclosure dp: region {} under charter {} (personal = {}, epsilon {} per query, delta {}, \
         L {} rows per subject per group, G {} groups per subject; budget raised from {} to {} \
         per {} s for the bench) beside region {EXACT_REGION} under charter {} (exact)",
        region::REGION,
        dpc["id"],
        d["personal"],
        d["epsilonPerQuery"],
        d["delta"],
        d["rowsPerSubjectPerGroup"],
        d["groupsPerSubject"],
        region::default_charter()["clauses"]["disclosure"]["budget"]["epsilon"],
        d["budget"]["epsilon"],
        d["budget"]["windowSeconds"],
        region::exact_charter()["id"],
    );
    let cluster = Cluster::start(
        a,
        regio,
        &[
            (region::REGION, dpc.clone()),
            (EXACT_REGION, region::exact_charter()),
        ],
    )?;
    let sql = a.sql();
    println!("query (both regions): {sql}");
    let (mut t_dp, mut t_ex) = (Vec::new(), Vec::new());
    let (mut dp_answers, mut ex_answers) = (Vec::new(), Vec::new());
    for run in 0..=a.runs {
        // Interleaved, the order alternating, so neither region always runs on a warmer cache.
        let order = if run % 2 == 0 {
            [region::REGION, EXACT_REGION]
        } else {
            [EXACT_REGION, region::REGION]
        };
        for r in order {
            let (ms, v) = cluster.query(a, r, sql)?;
            if run > 0 {
                if r == region::REGION {
                    t_dp.push(ms);
                    dp_answers.push(v);
                } else {
                    t_ex.push(ms);
                    ex_answers.push(v);
                }
            }
        }
    }
    let (Some(last_dp), Some(last_ex)) = (dp_answers.last(), ex_answers.last()) else {
        bail!("--runs 0: nothing timed");
    };
    println!("provenance (dp, last run): {}", provenance(last_dp));
    println!("provenance (exact, last run): {}", provenance(last_ex));
    let mechanisms: Vec<String> = last_dp["result"]["columns"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| {
                    format!(
                        "{}={}",
                        c["name"].as_str().unwrap_or("?"),
                        c["mechanism"].as_str().unwrap_or("-")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    println!(
        "dp columns' mechanism: {}; result.intervals: {}",
        mechanisms.join(" "),
        if last_dp["result"]["intervals"].is_array() {
            "present"
        } else {
            "absent from the HTTP answer"
        }
    );
    drop(cluster);
    println!("nodes stopped");

    // Both answers as CSV: the exact one at --out, the last DP one beside it.
    let ex_csv = answer_csv(last_ex)?;
    std::fs::write(&a.out, ex_csv).with_context(|| format!("cannot write {}", a.out.display()))?;
    let dp_out = a.out.with_file_name(format!(
        "{}_dp.{}",
        a.out
            .file_stem()
            .map_or("results".into(), |s| s.to_string_lossy()),
        a.out
            .extension()
            .map_or("csv".into(), |s| s.to_string_lossy())
    ));
    std::fs::write(&dp_out, answer_csv(last_dp)?)
        .with_context(|| format!("cannot write {}", dp_out.display()))?;
    println!(
        "exact answer written to {}, last DP answer to {}",
        a.out.display(),
        dp_out.display()
    );
    print!(
        "{}",
        python(&[
            &bench::shared_bench()
                .join("result_checksum.py")
                .to_string_lossy(),
            &a.out.to_string_lossy(),
        ])?
    );

    // The exact answer is the same every run; the reference for every DP run.
    let exact_groups = groups(last_ex)?;
    let stable = ex_answers
        .iter()
        .map(groups)
        .collect::<Result<Vec<_>>>()?
        .iter()
        .all(|g| *g == exact_groups);
    let mut err_n = Vec::new();
    let mut err_avg = Vec::new();
    let mut signed_n = Vec::new();
    let (mut released, mut both, mut dp_only) = (Vec::new(), Vec::new(), Vec::new());
    for v in &dp_answers {
        let g = groups(v)?;
        released.push(g.len());
        both.push(g.keys().filter(|k| exact_groups.contains_key(*k)).count());
        dp_only.push(g.keys().filter(|k| !exact_groups.contains_key(*k)).count());
        for (key, (n, avg)) in &g {
            let Some((en, eavg)) = exact_groups.get(key) else {
                continue;
            };
            if *en > 0.0 {
                err_n.push((n - en).abs() / en);
                signed_n.push((n - en) / en);
            }
            if let (Some(x), Some(e)) = (avg, eavg) {
                if *e != 0.0 {
                    err_avg.push((x - e).abs() / e.abs());
                }
            }
        }
    }
    let dp_ms = bench::median(&t_dp);
    let ex_ms = bench::median(&t_ex);
    println!(
        "=== DP vs EXACT (same nodes, same data, same query; {} timed runs each) ===",
        a.runs
    );
    println!("dp    timings ms: {}", bench::list(&t_dp));
    println!("exact timings ms: {}", bench::list(&t_ex));
    println!("dp    median of {} runs: {dp_ms:.3} ms", a.runs);
    println!("exact median of {} runs: {ex_ms:.3} ms", a.runs);
    let ratio = dp_ms / ex_ms;
    println!(
        "time ratio dp/exact = {ratio:.2} (goal <= 1.2: {})",
        if ratio <= 1.2 { "met" } else { "MISSED" }
    );
    println!(
        "groups released: exact {} (the same in every run: {stable}); dp per run {} \
         (of them also released by exact: {}; dp only: {})",
        exact_groups.len(),
        join(&released),
        join(&both),
        join(&dp_only)
    );
    println!(
        "relative error of the dp counts vs exact (groups released by both, {} values over {} runs): \
         p50 {:.4} p95 {:.4} (mean signed {:+.4})",
        err_n.len(),
        a.runs,
        bench::percentile(&err_n, 50.0),
        bench::percentile(&err_n, 95.0),
        mean(&signed_n)
    );
    println!(
        "relative error of the dp averages vs exact ({} values over {} runs): p50 {:.4} p95 {:.4}",
        err_avg.len(),
        a.runs,
        bench::percentile(&err_avg, 50.0),
        bench::percentile(&err_avg, 95.0)
    );
    if !stable {
        bail!("the exact region's answer changed between runs");
    }
    Ok(())
}

fn join(v: &[usize]) -> String {
    v.iter().map(usize::to_string).collect::<Vec<_>>().join(" ")
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// (municipality, day) → (n, avg): the groups of an answer.
type Groups = BTreeMap<(String, String), (f64, Option<f64>)>;

/// The [`Groups`] of an answer whose columns include `municipality`, `day`, `n` and
/// `avg_no2` (a null average is `None`).
fn groups(v: &Value) -> Result<Groups> {
    let cols: Vec<&str> = v["result"]["columns"]
        .as_array()
        .ok_or_else(|| anyhow!("no result columns in the answer"))?
        .iter()
        .map(|c| c["name"].as_str().unwrap_or(""))
        .collect();
    let at = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .ok_or_else(|| anyhow!("no column `{name}` in the answer ({cols:?})"))
    };
    let (m, d, n, avg) = (at("municipality")?, at("day")?, at("n")?, at("avg_no2")?);
    let rows = v["result"]["rows"]
        .as_array()
        .ok_or_else(|| anyhow!("no result rows in the answer"))?;
    let mut out = BTreeMap::new();
    for r in rows {
        let text = |i: usize| match &r[i] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let count = r[n]
            .as_f64()
            .ok_or_else(|| anyhow!("a row without a numeric `n`: {r}"))?;
        out.insert((text(m), text(d)), (count, r[avg].as_f64()));
    }
    Ok(out)
}

/// The answer's CSV.
fn answer_csv(v: &Value) -> Result<&str> {
    v["csv"]
        .as_str()
        .ok_or_else(|| anyhow!("no csv in the answer"))
}

/// One line per member of an answer's provenance.
fn provenance(v: &Value) -> String {
    v["provenance"]
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
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// Five nodes with their data, members of the given regions; dropped, the nodes stop (before
/// their directories are removed).
struct Cluster {
    nodes: Vec<Node>,
    actors: Actors,
    certificate: DocHash,
    http: Http,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    /// Starts the nodes, loads the data and forms every region `(id, charter body)`.
    fn start(a: &Args, regio: &Path, regions: &[(&str, Value)]) -> Result<Cluster> {
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

        // The regions: the demo's signed documents with these nodes' keys and addresses.
        let now = Utc::now();
        let mut actors = Actors::new(nodes.len());
        actors.nodes = nodes.iter().map(|n| n.key.clone()).collect();
        let addresses: Vec<Vec<String>> = nodes.iter().map(|n| n.p2p.clone()).collect();
        let mut docs = Vec::new();
        for (id, charter) in regions {
            docs.push(
                region::documents_with(id, charter, &actors, &addresses, now)
                    .map_err(|e| anyhow!("signing region {id}: {e}"))?,
            );
        }
        let ids: Vec<&str> = regions.iter().map(|(id, _)| *id).collect();
        let first = docs.first().ok_or_else(|| anyhow!("no region"))?;
        let certificate = first.certificate.hash();
        for (i, n) in nodes.iter().enumerate() {
            let mut policy = policy(i, &actors, &ids, now);
            policy.municipality.nis = names[i].0.clone();
            policy.municipality.name = names[i].1.clone();
            policy.disclosure.min_group_size = a.k;
            let policy = Signed::sign(policy, &actors.nodes[i], now)
                .map_err(|e| anyhow!("signing policy {i}: {e}"))?;
            for d in &docs {
                http.post_doc(&format!("{}/v1/regions", n.url), &n.token, d.manifest.raw())?;
                http.post_doc(&format!("{}/v1/charters", n.url), &n.token, d.charter.raw())?;
            }
            http.post_doc(&format!("{}/v1/policy", n.url), &n.token, policy.raw())?;
            // Every region's certificate is the same document (same signer, same `now`).
            let mut posted = Vec::new();
            for d in &docs {
                let h = d.certificate.hash();
                if !posted.contains(&h) {
                    http.post_doc(
                        &format!("{}/v1/certificates", n.url),
                        &n.token,
                        d.certificate.raw(),
                    )?;
                    posted.push(h);
                }
            }
        }
        let cluster = Cluster {
            nodes,
            actors,
            certificate,
            http,
            _tmp: tmp,
        };
        for id in ids {
            cluster.connected(id)?;
        }
        Ok(cluster)
    }

    /// Waits until the first node sees every member of `region` connected.
    fn connected(&self, region: &str) -> Result<()> {
        let origin = &self.nodes[0];
        let n = self.nodes.len();
        bench::poll(
            Duration::from_secs(60),
            Duration::from_millis(200),
            &format!("every member of {region} connected at the first node"),
            || {
                let (_, v) = self
                    .http
                    .get(&format!("{}/v1/regions/{region}", origin.url))
                    .map_err(|e| e.to_string())?;
                let members = v["members"].as_array().cloned().unwrap_or_default();
                if members.len() == n && members.iter().all(|m| m["connected"] == true) {
                    Ok(())
                } else {
                    Err(v.to_string())
                }
            },
        )
    }

    /// One signed query in `region` at the first node, timed from request to parsed
    /// response; anything but 200 with every member answering is an error.
    fn query(&self, a: &Args, id: &str, sql: &str) -> Result<(f64, Value)> {
        let origin = &self.nodes[0];
        let q = region::query_in(
            id,
            &self.actors.app,
            origin.key.did(),
            &a.purpose,
            sql,
            Some(self.certificate),
            Utc::now(),
        )?;
        let url = format!("{}/v1/query?deadline_ms={}", origin.url, a.deadline_ms);
        let t = Instant::now();
        let (st, v) = self.http.post(&url, None, &q)?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let full = json!([self.nodes.len(), self.nodes.len()]);
        if st != 200 || v["coverage"] != full {
            bail!(
                "{id}: {st}, coverage {} (expected {full}): {} {}",
                v["coverage"],
                v["error"],
                v["provenance"]
            );
        }
        Ok((ms, v))
    }
}

/// Node `i`'s policy: the demo's, granting the application `readings` in every region of
/// `regions` (one policy per node, whatever regions it is in).
fn policy(i: usize, actors: &Actors, regions: &[&str], now: DateTime<Utc>) -> PolicyBundle {
    let mut p = region::policy_in(
        regions.first().copied().unwrap_or(region::REGION),
        i,
        actors,
        now,
    );
    for r in regions.iter().skip(1) {
        let more = region::policy_in(r, i, actors, now);
        p.access.policy.extend(more.access.policy);
    }
    p
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

/// The first `checksum=<32 hex>` of a `result_checksum.py`-style output.
fn checksum_in(text: &str) -> Option<String> {
    text.split("checksum=").nth(1).and_then(|r| {
        let h: String = r.chars().take_while(char::is_ascii_hexdigit).collect();
        (h.len() == 32).then_some(h)
    })
}

/// `python3 ARGS` whatever its exit status: stdout and stderr.
fn python_any(args: &[&str]) -> Result<String> {
    let out = Command::new("python3")
        .args(args)
        .output()
        .context("cannot run python3")?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// pg_baseline.sh (JIT on and off) and duckdb_limit.py over the same data, both with
/// `--k-rule subjects` (what Regio's exact mode applies), then the checksums and the ratios.
fn baselines(a: &Args, regio_ms: f64, regio_sum: Option<String>) -> Result<()> {
    let (n, r) = data_shape(&a.data)?;
    println!("=== pg_baseline.sh --municipalities {n} --rows-per-municipality {r} --seed {} --k {} --k-rule subjects --runs {} ===", a.seed, a.k, a.runs);
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
            "--k-rule",
            "subjects",
            "--runs",
            &a.runs.to_string(),
            "--data",
            &a.data.to_string_lossy(),
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
    let pg_sum = checksum_in(&tail.join("\n"));

    let duck_csv = Path::new("/tmp/bench-scratch/results_duckdb.csv");
    println!(
        "=== duckdb_limit.py --data {} --k {} --k-rule subjects --runs {} ===",
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
        "--k-rule",
        "subjects",
        "--runs",
        &runs,
        "--out",
        &duck_csv.to_string_lossy(),
    ])?;
    print!("{duck}");
    let duck_ms = figure(&duck, &format!("median of {runs} runs: "))
        .ok_or_else(|| anyhow!("no DuckDB median in duckdb_limit.py's output"))?;
    let duck_sum = checksum_in(&duck);

    // Value by value, Regio against each baseline (a mismatch is printed, not fatal).
    let pg_csv = Path::new("/tmp/bench-scratch/results_pg.csv");
    let checker = bench::shared_bench().join("result_checksum.py");
    for other in [pg_csv, duck_csv] {
        println!("--- result_checksum.py regio {} ---", other.display());
        print!(
            "{}",
            python_any(&[
                &checker.to_string_lossy(),
                &a.out.to_string_lossy(),
                &other.to_string_lossy(),
            ])?
        );
    }
    println!("=== CHECKSUMS (k counts distinct subjects) ===");
    let show = |s: &Option<String>| s.clone().unwrap_or_else(|| "none".into());
    println!("regio federated (exact):      {}", show(&regio_sum));
    println!("PG federation (--k-rule subjects): {}", show(&pg_sum));
    println!("DuckDB (--k-rule subjects):   {}", show(&duck_sum));
    let agree = regio_sum.is_some() && regio_sum == pg_sum && regio_sum == duck_sum;
    println!(
        "the three checksums {}",
        if agree { "AGREE" } else { "DO NOT AGREE" }
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
    if !agree {
        bail!("the checksums of Regio, PostgreSQL and DuckDB do not agree");
    }
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
