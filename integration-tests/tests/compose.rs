//! The compose region (`deploy/compose.yaml`, issue 6): three municipalities from the image
//! `regio:dev` alone, set up by one-shot `regio` containers.
//!
//! - **The demo files** (no Docker needed): everything `deploy/compose/` holds — the demo
//!   keys, admin tokens and configs of the three nodes, the application's and the ethics
//!   board's keys, the board's certificate, each municipality's unsigned policy bundle, the
//!   dataset schema, records and consent — is exactly what the generators below make from
//!   `regio_demo` (fixed seeds, fixed dates), and `compose.yaml` names the right DIDs.
//!   `REGIO_BLESS=1` rewrites the files instead of comparing.
//! - **The region up** (needs Docker, `docker-compose` and the image; skipped locally and a
//!   failure in CI without them, like the other container tests): `docker-compose up -d`
//!   on a project and subnet of its own with any free host ports; the certified
//!   application's signed query at Gent's published API answers [3,3] with exactly the
//!   count the data and consent give; the README's query service (`run --rm query`) prints
//!   it too; `down -v` always runs (a guard's `Drop`), also when the test fails.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use regio_demo::data::{self, MUNICIPALITIES};
use regio_demo::region::{self, Actors};
use regio_integration_tests::containers::{
    self, demo_consent_ndjson, demo_expected_count, demo_rows_ndjson, http, require_compose, unique,
};
use regio_node::config::Config;
use regio_policy::doc::cert::EthicsCertificate;
use regio_policy::Signed;
use serde_json::{json, Value};

/// The demo data's size: `DAYS` days of `SENSORS` sensors per municipality.
const DAYS: usize = 2;
const SENSORS: usize = regio_demo::data::SENSORS;
/// The exact count of the documented query (deploy/README.md).
const DOCUMENTED_COUNT: u64 = 432;
const SQL: &str = "SELECT count(*) AS n FROM readings";

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// The fixed time the demo documents are dated (their signatures are then reproducible).
fn dated() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

/// Every file of `deploy/compose/`: (path under it, content).
fn demo_files() -> Vec<(String, String)> {
    let actors = Actors::new(3);
    let mut files = Vec::new();
    for (i, (nis, name)) in MUNICIPALITIES[..3].iter().enumerate() {
        let dir = format!("nodes/{}", name.to_lowercase());
        let mut config = Config::new(nis, name);
        config.api = "0.0.0.0:7480".into();
        config.listen = vec!["/ip4/0.0.0.0/tcp/7481".into()];
        config.data_dir = "/data".into();
        config.gossip_interval_ms = 2000;
        files.push((format!("{dir}/config.toml"), config.render()));
        files.push((format!("{dir}/node.key"), actors.nodes[i].to_file_json()));
        // Demo admin tokens: 64 hex digits anyone can read here.
        files.push((
            format!("{dir}/admin.token"),
            format!("de{:02x}", i + 1).repeat(16) + "\n",
        ));
        // The policy bundle, unsigned (`regio sign` in the setup signs it with node.key):
        // the demo's, without its grants to the uncertified and the curious application.
        let mut bundle = region::policy(i, &actors, dated());
        let others = [
            actors.uncertified.did().as_str(),
            actors.curious.did().as_str(),
        ];
        bundle
            .access
            .policy
            .retain(|line| !line.iter().any(|f| others.contains(&f.as_str())));
        let mut unsigned = Signed::sign(bundle, &actors.nodes[i], dated())
            .unwrap()
            .raw()
            .clone();
        unsigned.as_object_mut().unwrap().remove("proof");
        files.push((
            format!("policy/{}.json", name.to_lowercase()),
            pretty(&unsigned),
        ));
        files.push((
            format!("data/readings-{nis}.ndjson"),
            demo_rows_ndjson(i, DAYS, SENSORS),
        ));
        files.push((
            format!("data/consent-{nis}.ndjson"),
            demo_consent_ndjson(i, DAYS, SENSORS),
        ));
    }
    files.push((
        "data/readings.schema.json".into(),
        pretty(&serde_json::to_value(data::readings_schema()).unwrap()),
    ));
    files.push(("keys/app.key".into(), actors.app.to_file_json()));
    files.push(("keys/board.key".into(), actors.certifier.to_file_json()));
    // The board's certificate for the application, valid for ten years from `dated()`.
    let mut cert: EthicsCertificate = region::certificate(&actors, 1, dated())
        .unwrap()
        .doc()
        .clone();
    cert.valid_from = dated();
    cert.valid_until = Utc.with_ymd_and_hms(2036, 11, 1, 0, 0, 0).unwrap();
    files.push((
        "cert.json".into(),
        pretty(
            Signed::sign(cert, &actors.certifier, dated())
                .unwrap()
                .raw(),
        ),
    ));
    files
}

#[test]
fn the_documented_count_is_the_datas() {
    let expected: u64 = (0..3).map(|i| demo_expected_count(i, DAYS, SENSORS)).sum();
    assert_eq!(
        expected, DOCUMENTED_COUNT,
        "deploy/README.md states the exact count"
    );
}

#[test]
fn the_compose_demo_files_are_the_generated_demo_region() {
    let root = deploy().join("compose");
    let bless = std::env::var("REGIO_BLESS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, content) in demo_files() {
        let file = root.join(&path);
        if bless {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &content).unwrap();
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(content.as_str()) {
            stale.push(path);
        }
    }
    assert!(stale.is_empty(), "deploy/compose/ differs from the generators for {stale:?}: rerun with REGIO_BLESS=1 and commit");
    // compose.yaml names the members and the certifier by these DIDs.
    let compose = std::fs::read_to_string(deploy().join("compose.yaml")).unwrap();
    let actors = Actors::new(3);
    for (i, (nis, name)) in MUNICIPALITIES[..3].iter().enumerate() {
        let member = format!(
            "{},{nis},{name},/ip4/${{REGIO_NET:-10.89.7}}.{}/tcp/7481",
            actors.nodes[i].did(),
            11 + i
        );
        assert!(
            compose.contains(&member),
            "compose.yaml lacks the member {member}"
        );
    }
    assert!(
        compose.contains(&format!("\"--certifier\", \"{}\"", actors.certifier.did())),
        "compose.yaml does not trust the board"
    );
}

/// One `docker-compose -f deploy/compose.yaml -p NAME` project; `down -v` on drop.
struct Project {
    name: String,
    env: Vec<(&'static str, String)>,
}

impl Project {
    fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new("docker-compose");
        c.arg("-f")
            .arg(deploy().join("compose.yaml"))
            .arg("-p")
            .arg(&self.name)
            .args(args);
        match containers::compose_engine_host() {
            Some(h) => c.env("DOCKER_HOST", h),
            None => c.env_remove("DOCKER_HOST"),
        };
        c.envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        c.output()
            .unwrap_or_else(|e| panic!("docker-compose {args:?}: {e}"))
    }

    fn logs(&self) -> String {
        String::from_utf8_lossy(&self.run(&["logs", "--no-color", "--tail", "20"]).stdout)
            .into_owned()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let out = self.run(&["down", "-v", "--remove-orphans", "-t", "5"]);
        if !out.status.success() {
            eprintln!(
                "docker-compose -p {} down -v: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// `up -d` on a /24 of its own (another one when Docker says the pool overlaps).
fn up() -> (Project, Duration) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    for k in 0..8u32 {
        let n = seed.wrapping_add(k.wrapping_mul(2_654_435_761)) % (64 * 256);
        let net = format!("10.{}.{}", 64 + n / 256, n % 256);
        let ports = [
            "REGIO_GENT_PORT",
            "REGIO_ANTWERPEN_PORT",
            "REGIO_BRUGGE_PORT",
        ]
        .map(|p| (p, "0".to_owned()));
        let project = Project {
            name: unique("compose"),
            env: [("REGIO_NET", net)].into_iter().chain(ports).collect(),
        };
        let started = Instant::now();
        let out = project.run(&["up", "-d"]);
        if out.status.success() {
            return (project, started.elapsed());
        }
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if !err.contains("overlaps") {
            panic!(
                "docker-compose up -d failed:\n{err}\nlogs:\n{}",
                project.logs()
            );
        }
    }
    panic!("docker-compose up -d: no free subnet in 10.64.0.0/10 after 8 tries")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_region_answers_the_documented_query_with_full_coverage() {
    if require_compose("the_compose_region_answers_the_documented_query_with_full_coverage")
        .is_none()
    {
        return;
    }
    let t0 = Instant::now();
    let (project, took_up) = up();
    eprintln!("docker-compose -p {} up -d: {took_up:?}", project.name);

    // Gent's API as published on the host.
    let port = project.run(&["port", "gent", "7480"]);
    let port = String::from_utf8_lossy(&port.stdout)
        .trim()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        port.parse::<u16>().is_ok_and(|p| p > 0),
        "no published port for gent: {port:?}"
    );
    let url = format!("http://127.0.0.1:{port}");

    // The application's signed query, with the board's certificate of deploy/compose/.
    let actors = Actors::new(3);
    let cert_json: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy().join("compose/cert.json")).unwrap())
            .unwrap();
    let cert = Signed::<EthicsCertificate>::verify(cert_json)
        .unwrap()
        .hash();
    let expected: u64 = (0..3).map(|i| demo_expected_count(i, DAYS, SENSORS)).sum();
    assert_eq!(
        expected, DOCUMENTED_COUNT,
        "deploy/README.md states the exact count"
    );
    let ask = |sql: &'static str| {
        let url = url.clone();
        let q = region::query(
            &actors.app,
            actors.nodes[0].did(),
            "ResearchAndDevelopment",
            sql,
            Some(cert),
            Utc::now(),
        )
        .unwrap();
        async move {
            let reply = http(
                "POST",
                &format!("{url}/v1/query?deadline_ms=5000"),
                None,
                serde_json::to_vec(&q).unwrap(),
            )
            .await;
            let v: Value = match &reply {
                Ok((_, text)) => serde_json::from_str(text).unwrap_or(Value::Null),
                _ => Value::Null,
            };
            (reply, v)
        }
    };
    // The region's charter answers personal data under differential privacy, and every
    // answered query spends privacy budget: wait with a query every member refuses after
    // checking region, charter, policy and certificate (min of personal values), which
    // spends nothing, until all three hold everything.
    let started = Instant::now();
    loop {
        let (reply, v) = ask("SELECT min(no2) AS m FROM readings").await;
        let refused = v["provenance"].as_array().is_some_and(|p| {
            p.len() == 3 && p.iter().all(|l| l["reason"] == "disclosure.extreme_value")
        });
        if refused {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the region was not ready at Gent within 90 s; last: {reply:?}\nlogs:\n{}",
            project.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (reply, v) = ask(SQL).await;
    assert_eq!(v["coverage"], json!([3, 3]), "{reply:?}");
    eprintln!("[3,3] at Gent {:?} after up -d returned", started.elapsed());
    // A noisy count with its 95 % interval: the exact count lies well within three widths.
    let n = v["result"]["rows"][0][0].as_f64().unwrap_or(-1.0);
    let iv = &v["result"]["intervals"][0][0];
    let (lo, hi) = (iv[0].as_f64().unwrap(), iv[1].as_f64().unwrap());
    assert_eq!(v["result"]["columns"][0]["mechanism"], "laplace", "{v}");
    assert!(lo <= n && n <= hi.max(lo), "{v}");
    assert!(
        (n - expected as f64).abs() <= 3.0 * (hi - lo).max(1.0),
        "{n} [{lo}, {hi}] is not an estimate of {expected}: {v}"
    );
    let lines: Vec<(&str, &str, u64)> = v["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("?"),
                p["status"].as_str().unwrap_or("?"),
                p["policyVersion"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("Gent", "answered", 1),
            ("Antwerpen", "answered", 1),
            ("Brugge", "answered", 1)
        ],
        "{v}"
    );

    // The README's query, as the compose file's `query` service runs it.
    let out = project.run(&["run", "--rm", "query"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "run --rm query: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("differentialPrivacy") && stdout.contains("laplace"),
        "the query's output does not say how it was released:\n{stdout}"
    );
    assert!(
        stdout.contains("3/3") || stdout.contains("3 of 3"),
        "the query's output states no 3/3 coverage:\n{stdout}"
    );
    eprintln!(
        "documented query: {n} (exact {expected}) readings, coverage 3/3; total {:?}",
        t0.elapsed()
    );
    drop(project);
}
