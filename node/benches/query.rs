//! Benchmark (not a test): the reference query of ../shared/bench/README.md over municipality
//! 44021's 200,000 rows from in-memory chunks, median of 5 runs after a warm-up, beside
//! DuckDB's median on the same file in the same run; the same query through a whole node
//! (real ingest into sled, signed query, decision, consent view, scan, signed answer, audit
//! append) beside the same DuckDB median; then the full 5-municipality result merged from 5
//! per-municipality partial answers, with its checksum.
//!
//! ```sh
//! cargo bench -p regio-node --bench query            # data dir: $REGIO_BENCH_DATA or
//!                                                    # /tmp/bench-scratch/data-n5-r200000-s42
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use regio_query::chunk::Chunk;
use regio_query::{execute, finalize, plan, ExecOptions, PartialResult, ResultSet};
use support::*;

const SCRATCH: &str = "/tmp/bench-scratch";

fn shared_bench() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench")
}

fn run(
    chunks: &[Chunk],
    consenting: &std::collections::HashSet<String>,
) -> (ResultSet, PartialResult) {
    let schema = readings_schema();
    let (plan, _) = plan(REFERENCE_SQL, |d| (d == "readings").then(|| schema.clone())).unwrap();
    let consent = |s: &str| consenting.contains(s);
    let opts = ExecOptions {
        consent: Some(&consent),
        masked: &[],
        min_group_size: 10,
        subject: None,
        dp: None,
    };
    let part = execute(&plan, chunks.iter().map(Ok::<_, std::io::Error>), &opts).unwrap();
    (finalize(&plan, &part).unwrap(), part)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn python(args: &[&str]) -> Option<String> {
    let out = Command::new("python3").args(args).output().ok()?;
    if !out.status.success() {
        eprintln!(
            "python3 {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn main() {
    let data = std::env::var("REGIO_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(SCRATCH).join("data-n5-r200000-s42"));
    if !data.join("municipalities.json").exists() {
        println!("generating {}", data.display());
        python(&[
            shared_bench().join("gen_airquality.py").to_str().unwrap(),
            "--municipalities",
            "5",
            "--rows-per-municipality",
            "200000",
            "--seed",
            "42",
            "--out",
            data.to_str().unwrap(),
        ])
        .expect("gen_airquality.py");
    }
    let now = chrono::Utc::now().timestamp_micros();
    let nis = "44021";
    let t = Instant::now();
    let chunks = load_readings(&data.join(format!("readings_{nis}.ndjson")));
    let consenting = load_consent(
        &data.join(format!("consent_{nis}.ndjson")),
        "ResearchAndDevelopment",
        now,
    );
    println!(
        "loaded {} chunks of municipality {nis} in {:.2} s (NDJSON parse, not timed)",
        chunks.len(),
        t.elapsed().as_secs_f64()
    );

    let mut times = Vec::new();
    let mut last = None;
    for i in 0..6 {
        let t = Instant::now();
        let r = run(&chunks, &consenting);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if i > 0 {
            times.push(ms);
        }
        last = Some(r);
    }
    let (result, part) = last.unwrap();
    let ours = Path::new(SCRATCH).join(format!("results_regio_{nis}.csv"));
    std::fs::write(&ours, result.to_csv()).unwrap();
    let regio_ms = median(times.clone());
    println!(
        "regio: rows scanned {}, excluded by consent {}, groups suppressed {}, result rows {}",
        part.rows_scanned,
        part.rows_excluded_by_consent,
        part.groups_suppressed,
        result.rows.len()
    );
    println!(
        "regio timings ms: {}",
        times
            .iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("regio median of 5 runs: {regio_ms:.3} ms");

    // DuckDB on the same municipality's file, in the same run.
    let only = Path::new(SCRATCH).join(format!("data-only-{nis}"));
    std::fs::create_dir_all(&only).unwrap();
    for f in [format!("readings_{nis}.csv"), format!("consent_{nis}.csv")] {
        std::fs::copy(data.join(&f), only.join(&f)).unwrap();
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("municipalities.json")).unwrap())
            .unwrap();
    let mut m = manifest.clone();
    m["municipalities"] = serde_json::Value::Array(
        manifest["municipalities"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["nis"] == nis)
            .cloned()
            .collect(),
    );
    std::fs::write(only.join("municipalities.json"), m.to_string()).unwrap();
    let duck_csv = Path::new(SCRATCH).join(format!("results_duckdb_{nis}.csv"));
    let duck = python(&[
        shared_bench().join("duckdb_limit.py").to_str().unwrap(),
        "--data",
        only.to_str().unwrap(),
        "--k",
        "10",
        "--runs",
        "5",
        "--out",
        duck_csv.to_str().unwrap(),
    ]);
    let mut duck_median = None;
    match duck {
        None => println!("duckdb: unavailable (pip install duckdb); no ratio"),
        Some(out) => {
            print!("{out}");
            let duck_ms: Option<f64> = out
                .lines()
                .find_map(|l| l.strip_prefix("median of 5 runs: "))
                .and_then(|s| s.trim_end_matches(" ms").parse().ok());
            duck_median = duck_ms;
            if let Some(d) = duck_ms {
                println!(
                    "RATIO regio/duckdb = {regio_ms:.3} / {d:.3} = {:.2} (goal <= 1.5)",
                    regio_ms / d
                );
            }
            if let Some(c) = python(&[
                shared_bench().join("result_checksum.py").to_str().unwrap(),
                ours.to_str().unwrap(),
                duck_csv.to_str().unwrap(),
            ]) {
                print!("{c}");
            }
        }
    }

    node_path(&data, nis, duck_median, &ours);

    // All municipalities: one partial answer each, merged at a coordinator.
    let schema = readings_schema();
    let (plan, _) = plan(REFERENCE_SQL, |d| (d == "readings").then(|| schema.clone())).unwrap();
    let mut merged: Option<PartialResult> = None;
    for n in municipalities(&data) {
        let chunks = load_readings(&data.join(format!("readings_{n}.ndjson")));
        let consenting = load_consent(
            &data.join(format!("consent_{n}.ndjson")),
            "ResearchAndDevelopment",
            now,
        );
        let (_, part) = run(&chunks, &consenting);
        let shipped: PartialResult =
            serde_json::from_str(&serde_json::to_string(&part).unwrap()).unwrap();
        match &mut merged {
            None => merged = Some(shipped),
            Some(m) => m.merge(shipped).unwrap(),
        }
    }
    let merged = merged.unwrap();
    let all = finalize(&plan, &merged).unwrap();
    let all_csv = Path::new(SCRATCH).join("results_regio_all.csv");
    std::fs::write(&all_csv, all.to_csv()).unwrap();
    println!(
        "merged: rows scanned {}, excluded by consent {}, groups suppressed {}, result rows {}",
        merged.rows_scanned,
        merged.rows_excluded_by_consent,
        merged.groups_suppressed,
        all.rows.len()
    );
    if let Some(c) = python(&[
        shared_bench().join("result_checksum.py").to_str().unwrap(),
        all_csv.to_str().unwrap(),
    ]) {
        print!("{c}");
        println!(
            "expected checksum 6b2659519e5a52ea0e2a714e0f41c01d: {}",
            if c.contains("6b2659519e5a52ea0e2a714e0f41c01d") {
                "MATCH"
            } else {
                "MISMATCH"
            }
        );
    }
}

/// The reference query through a whole node (started by the production assembly,
/// `regio_node::server::start`, through the demo's `LiveNode`): real ingest into sled, then
/// per run a freshly signed query answered by the node's engine (signature, decision, consent view, scan from sled,
/// execution, signed PartialAnswer, durable audit append).
fn node_path(data: &Path, nis: &str, duck_ms: Option<f64>, engine_only_csv: &Path) {
    use regio_demo::cluster::LiveNode;
    use regio_demo::region::{self, Actors};
    use regio_policy::doc::query::Outcome;
    use regio_store::ingest::{self, Mode};
    use regio_store::Store;

    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let actors = Actors::new(1);
    let docs = region::documents(&actors, &[vec![]], now).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = Store::open_sled(dir.path()).unwrap();
    let node = rt
        .block_on(LiveNode::start(&actors.nodes[0], store, Vec::new()))
        .unwrap();
    let engine = node.engine.clone();
    let schema = readings_schema();
    let t = Instant::now();
    engine.store().create_dataset(&schema).unwrap();
    let bytes = std::fs::read(data.join(format!("readings_{nis}.ndjson"))).unwrap();
    let rows = ingest::parse_ndjson(&schema, &bytes, Mode::AllOrNothing)
        .unwrap()
        .rows;
    let n = rows.len();
    engine.store().append_rows("readings", rows).unwrap();
    let consent = std::fs::read(data.join(format!("consent_{nis}.ndjson"))).unwrap();
    engine
        .store()
        .put_consents(
            ingest::parse_consent_ndjson(&consent, Mode::AllOrNothing)
                .unwrap()
                .rows,
            now.timestamp_micros(),
        )
        .unwrap();
    println!(
        "node: ingested {n} rows durably into sled in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    engine
        .publish_policy(docs.policies[0].raw().clone(), now)
        .unwrap();
    engine.put_charter(docs.charter.raw().clone(), now).unwrap();
    engine
        .put_manifest(docs.manifest.raw().clone(), now)
        .unwrap();
    engine
        .put_certificate(docs.certificate.raw().clone(), now)
        .unwrap();

    let mut times = Vec::new();
    let mut csv = String::new();
    for i in 0..6 {
        let q = region::query(
            &actors.app,
            actors.nodes[0].did(),
            "ResearchAndDevelopment",
            REFERENCE_SQL,
            Some(docs.certificate.hash()),
            chrono::Utc::now(),
        )
        .unwrap();
        let t = Instant::now();
        let answer = engine.answer(q, None, chrono::Utc::now()).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let Outcome::Answered { result, .. } = &answer.signed.doc().outcome else {
            panic!("refused: {:?}", answer.signed.doc().outcome)
        };
        let partial: PartialResult = serde_json::from_value(result["partial"].clone()).unwrap();
        csv = finalize(answer.plan.as_ref().unwrap(), &partial)
            .unwrap()
            .to_csv();
        if i > 0 {
            times.push(ms);
        }
    }
    let node_ms = median(times.clone());
    println!(
        "node timings ms: {}",
        times
            .iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("node median of 5 runs (whole engine path): {node_ms:.3} ms");
    if let Some(d) = duck_ms {
        println!(
            "RATIO node/duckdb = {node_ms:.3} / {d:.3} = {:.2} (goal <= 1.5)",
            node_ms / d
        );
    }
    let node_csv = Path::new(SCRATCH).join(format!("results_regio_node_{nis}.csv"));
    std::fs::write(&node_csv, csv).unwrap();
    if let Some(c) = python(&[
        shared_bench().join("result_checksum.py").to_str().unwrap(),
        node_csv.to_str().unwrap(),
        engine_only_csv.to_str().unwrap(),
    ]) {
        print!("node vs engine-only: {c}");
    }
    rt.block_on(node.stop());
}
