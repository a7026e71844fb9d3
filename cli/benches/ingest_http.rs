//! Benchmark (not a test): durable ingest of municipality 44021's 200,000 generated rows
//! through the real binary's HTTP API with `regio ingest`, printing records/s (goal
//! ≥ 100,000/s). Generate the data first:
//!
//! ```sh
//! python3 ../shared/bench/gen_airquality.py --municipalities 5 --rows-per-municipality 200000 \
//!     --seed 42 --out /tmp/bench-scratch/data-n5-r200000-s42
//! cargo bench -p regio-cli --bench ingest_http      # REGIO_BENCH_DATA=DIR to point elsewhere
//! ```
//!
//! Runs both modes: all-or-nothing (the file is validated locally first) and
//! `--skip-invalid` (no local pass), each into a fresh node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const REGIO: &str = env!("CARGO_BIN_EXE_regio");
const SCHEMA: &str = r#"{"dataset":"readings","fields":[{"name":"id","type":"string"},{"name":"municipality","type":"string"},
{"name":"sensor_id","type":"string"},{"name":"subject","type":"string","nullable":true},{"name":"observed_at","type":"timestamp"},
{"name":"no2","type":"float","nullable":true},{"name":"pm25","type":"float","nullable":true},{"name":"pm10","type":"float","nullable":true},
{"name":"lat","type":"float","nullable":true},{"name":"lon","type":"float","nullable":true}],"subject":"subject","time":"observed_at"}"#;

fn run(args: &[&str]) -> String {
    let out = Command::new(REGIO).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "regio {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn once(file: &Path, extra: &[&str]) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let d = dir.to_str().unwrap();
    run(&["init", "--dir", d, "--nis", "44021", "--name", "Gent"]);
    let mut child = Command::new(REGIO)
        .args(["node", "run", "--dir", d, "--api", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .strip_prefix("listening on ")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let schema = tmp.path().join("schema.json");
    std::fs::write(&schema, SCHEMA).unwrap();
    run(&[
        "dataset",
        "create",
        "--node",
        &url,
        "--dir",
        d,
        schema.to_str().unwrap(),
    ]);
    let t = Instant::now();
    let mut args = vec![
        "ingest",
        "--node",
        &url,
        "--dir",
        d,
        "--dataset",
        "readings",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    let secs = t.elapsed().as_secs_f64();
    print!("  regio ingest {}: {}", extra.join(" "), out);
    let listed = run(&["dataset", "list", "--node", &url, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let records = v[0]["records"].as_f64().unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    records / secs
}

fn main() {
    let data = std::env::var("REGIO_BENCH_DATA")
        .unwrap_or_else(|_| "/tmp/bench-scratch/data-n5-r200000-s42".into());
    let file = Path::new(&data).join("readings_44021.ndjson");
    if !file.exists() {
        eprintln!(
            "{} not found: generate it (see this file's doc) or set REGIO_BENCH_DATA",
            file.display()
        );
        return;
    }
    println!(
        "durable ingest over HTTP, {} (process wall time incl. CLI start):",
        file.display()
    );
    for extra in [&[][..], &["--skip-invalid"][..]] {
        let mut rates: Vec<f64> = (0..3).map(|_| once(&file, extra)).collect();
        rates.sort_by(f64::total_cmp);
        println!(
            "median {:.0} records/s ({}), goal >= 100000",
            rates[1],
            if extra.is_empty() {
                "all-or-nothing"
            } else {
                "skip-invalid"
            }
        );
    }
}
