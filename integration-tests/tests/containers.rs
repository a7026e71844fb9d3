//! Regio in containers (issue 6), on the image `regio:dev` that `.ci/run` builds first
//! (`deploy/build-image.sh`). Without Docker or the image these tests fail in CI and are
//! skipped locally, saying why (`regio_integration_tests::containers::require_docker`).
//!
//! - **Kill and restart on the same volume:** a node container (`regio init` run once as a
//!   one-shot container on a named volume, then `regio node run`) on a user-defined
//!   network gets its dataset, signed policy (two versions), a one-member region, data and
//!   consent through the API; a writer keeps ingesting batches and importing consent while
//!   the container is killed with SIGKILL; restarted on the same volume, the node has every
//!   acknowledged batch (at most the one in flight more, never part of one), every
//!   acknowledged consent, the policy at version 2, an intact audit chain, and answers the
//!   signed query with exactly the count the stored rows and consents give.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use regio_demo::data;
use regio_demo::region::{self, Actors};
use regio_integration_tests::containers::{self, ok_json, require_docker, unique, NodeContainer};
use regio_policy::Signed;
use regio_query::schema::Value as Cell;
use serde_json::{json, Value};

const DAYS: usize = 3;
/// Enough citizens per node for the whole-dataset count (k counts distinct citizens).
const SENSORS: usize = data::SENSORS;
const BATCH: u64 = 100;
const SQL: &str = "SELECT count(*) AS n FROM readings";

fn ts(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The demo rows of municipality `i` as NDJSON (schema order: id, municipality, sensor_id,
/// subject, observed_at, no2, pm25).
fn rows_ndjson(i: usize) -> String {
    let schema = data::readings_schema();
    let mut out = String::new();
    for row in data::municipality(i, DAYS, SENSORS).rows {
        let mut obj = serde_json::Map::new();
        for (f, v) in schema.fields.iter().zip(row) {
            let v = match v {
                Cell::Null => Value::Null,
                Cell::Str(s) => Value::String(s),
                Cell::Float(x) => json!(x),
                Cell::Int(n) => json!(n),
                Cell::Ts(t) => Value::String(ts(t)),
                other => panic!("unexpected cell {other:?}"),
            };
            obj.insert(f.name.clone(), v);
        }
        out.push_str(&Value::Object(obj).to_string());
        out.push('\n');
    }
    out
}

/// The demo consent of municipality `i` as the NDJSON consent file.
fn consent_ndjson(i: usize) -> String {
    data::municipality(i, DAYS, SENSORS)
        .consent
        .iter()
        .map(|c| {
            json!({"subject": c.subject, "purpose": c.purposes[0], "granted": c.given, "given_at": ts(c.given_at), "withdrawn_at": c.withdrawn_at.map(ts)})
                .to_string()
                + "\n"
        })
        .collect()
}

/// Rows of municipality `i` that count for ResearchAndDevelopment now: city sensors, and
/// citizens whose consent is in force.
fn expected_count(i: usize) -> u64 {
    let d = data::municipality(i, DAYS, SENSORS);
    let now = Utc::now().timestamp_micros();
    let consenting: std::collections::HashSet<String> = d
        .consent
        .iter()
        .filter(|c| c.active_at(now))
        .map(|c| c.subject.clone())
        .collect();
    d.rows
        .iter()
        .filter(|r| match &r[3] {
            Cell::Str(s) => consenting.contains(s),
            _ => true,
        })
        .count() as u64
}

/// A batch of city-sensor rows (no subject: they count whatever the consent).
fn city_batch(batch_no: u64) -> String {
    (0..BATCH)
        .map(|k| {
            let n = batch_no * BATCH + k;
            json!({"id": format!("w{n}"), "municipality": "44021", "sensor_id": format!("w-s{}", n % 7), "subject": null,
                   "observed_at": ts(data::START_MICROS + n as i64 * 60_000_000), "no2": 20.5, "pm25": 9.0})
            .to_string()
                + "\n"
        })
        .collect()
}

#[derive(Default)]
struct Acked {
    batches: u64,
    consent_ids: Vec<String>,
}

/// Ingests batches and imports consent until a request fails (the container was killed).
fn writer(url: String, token: String, acked: Arc<Mutex<Acked>>, stop: Arc<AtomicBool>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let auth = format!("Bearer {token}");
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let ok = agent
            .post(&format!("{url}/v1/datasets/readings/records?format=ndjson"))
            .header("Authorization", &auth)
            .send(city_batch(n).as_bytes())
            .is_ok_and(|r| r.status() == 200);
        if !ok {
            return;
        }
        acked.lock().unwrap().batches += 1;
        let subject = format!("writer-{n}");
        let line = json!({"subject": subject, "purpose": "ResearchAndDevelopment", "granted": true, "given_at": "2024-01-01T00:00:00Z", "withdrawn_at": null});
        let ok = agent
            .post(&format!("{url}/v1/consent/import?format=ndjson"))
            .header("Authorization", &auth)
            .send(format!("{line}\n").as_bytes())
            .is_ok_and(|r| r.status() == 200);
        if !ok {
            return;
        }
        acked
            .lock()
            .unwrap()
            .consent_ids
            .push(format!("{subject}/ResearchAndDevelopment"));
        n += 1;
    }
}

async fn stored_consent_ids(url: &str, token: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut from = 1;
    loop {
        let v = ok_json(
            "GET",
            &format!("{url}/v1/audit?from={from}&limit=1000"),
            Some(token),
            Vec::new(),
        )
        .await;
        for e in v["entries"].as_array().unwrap() {
            if e["kind"] == "consent_changed" {
                ids.extend(
                    e["body"]["ids"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i.as_str().unwrap().to_owned()),
                );
            }
        }
        match v["next"].as_u64() {
            Some(n) => from = n,
            None => return ids,
        }
    }
}

/// The record count of `readings`, asked as the admin (exact; without the token a personal
/// dataset's count is rounded down to 1,000).
async fn records(url: &str, token: Option<&str>) -> u64 {
    let v = ok_json("GET", &format!("{url}/v1/datasets"), token, Vec::new()).await;
    let list = v
        .as_array()
        .or_else(|| v["datasets"].as_array())
        .unwrap_or_else(|| panic!("datasets: {v}"));
    let d = list
        .iter()
        .find(|d| {
            d["schema"]["dataset"] == "readings"
                || d["dataset"] == "readings"
                || d["name"] == "readings"
        })
        .unwrap_or_else(|| panic!("no readings in {v}"));
    d["records"]
        .as_u64()
        .unwrap_or_else(|| panic!("no record count in {d}"))
}

/// A signed count query of the certified application, coordinated by the node in its
/// one-member region; (count, rows excluded by consent). The signed answer withholds the
/// exclusion count (personal dataset); the node's own audit entry keeps it exact.
async fn count(url: &str, token: &str, actors: &Actors, docs: &region::Documents) -> (u64, u64) {
    let q = region::query(
        &actors.app,
        actors.nodes[0].did(),
        "ResearchAndDevelopment",
        SQL,
        Some(docs.certificate.hash()),
        Utc::now(),
    )
    .unwrap();
    let v = ok_json(
        "POST",
        &format!("{url}/v1/query"),
        None,
        serde_json::to_vec(&q).unwrap(),
    )
    .await;
    assert_eq!(v["coverage"], json!([1, 1]), "{v}");
    let log = ok_json(
        "GET",
        &format!("{url}/v1/audit?from=0&limit=10000"),
        Some(token),
        Vec::new(),
    )
    .await;
    let excluded = log["entries"]
        .as_array()
        .and_then(|e| e.iter().rev().find(|e| e["kind"] == "query_answered"))
        .and_then(|e| e["body"]["rowsExcludedByConsent"].as_u64())
        .unwrap_or_else(|| panic!("no answered query in the audit log: {log}"));
    let n = v["result"]["rows"][0][0].as_u64().unwrap_or_else(|| {
        let last = log["entries"].as_array().and_then(|e| e.last()).cloned();
        panic!(
            "no count in {}; the node's last audit entry: {last:?}",
            v["result"]
        )
    });
    (n, excluded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_container_restarts_with_every_acknowledged_write() {
    if require_docker("a_killed_container_restarts_with_every_acknowledged_write").is_none() {
        return;
    }
    let (network, volume) = (unique("net"), unique("gent-data"));
    let node = NodeContainer::start(&unique("gent"), &network, &volume, "44021", "Gent").await;
    let url = node.url().await;
    let token = node.files.token.clone();
    let t = Some(token.as_str());

    // A one-member region around the node's own key (made by `regio init` in the volume).
    let mut actors = Actors::new(1);
    actors.nodes[0] = node.files.key.clone();
    let now = Utc::now();
    let docs = region::documents(&actors, &[vec![]], now).unwrap();
    ok_json(
        "POST",
        &format!("{url}/v1/datasets"),
        t,
        serde_json::to_vec(&data::readings_schema()).unwrap(),
    )
    .await;
    ok_json(
        "POST",
        &format!("{url}/v1/policy"),
        t,
        serde_json::to_vec(docs.policies[0].raw()).unwrap(),
    )
    .await;
    for (route, doc) in [
        ("charters", docs.charter.raw()),
        ("regions", docs.manifest.raw()),
        ("certificates", docs.certificate.raw()),
    ] {
        ok_json(
            "POST",
            &format!("{url}/v1/{route}"),
            t,
            serde_json::to_vec(doc).unwrap(),
        )
        .await;
    }
    let initial = ok_json(
        "POST",
        &format!("{url}/v1/datasets/readings/records?format=ndjson"),
        t,
        rows_ndjson(0).into_bytes(),
    )
    .await;
    let initial_rows = data::municipality(0, DAYS, SENSORS).rows.len() as u64;
    assert_eq!(records(&url, t).await, initial_rows, "{initial}");
    ok_json(
        "POST",
        &format!("{url}/v1/consent/import?format=ndjson"),
        t,
        consent_ndjson(0).into_bytes(),
    )
    .await;
    // Policy version 2: the chain grows by one signed link.
    let mut v2 = region::policy(0, &actors, Utc::now());
    v2.version = 2;
    v2.previous = Some(docs.policies[0].hash());
    v2.disclosure.min_group_size = 11; // k counts distinct citizens: this node has 11 consenting
    let v2 = Signed::sign(v2, &actors.nodes[0], Utc::now()).unwrap();
    ok_json(
        "POST",
        &format!("{url}/v1/policy"),
        t,
        serde_json::to_vec(v2.raw()).unwrap(),
    )
    .await;
    let (before, excluded) = count(&url, &token, &actors, &docs).await;
    assert_eq!(before, expected_count(0));
    assert!(excluded > 0, "the demo data has citizens without consent");

    // Writes in flight when the container is killed.
    let acked = Arc::new(Mutex::new(Acked::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let (url, token, acked, stop) = (url.clone(), token.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || writer(url, token, acked, stop))
    };
    let started = std::time::Instant::now();
    while acked.lock().unwrap().batches < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the writer got no batch acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    node.kill().await;
    stop.store(true, Ordering::SeqCst);
    tokio::task::spawn_blocking(move || handle.join().unwrap())
        .await
        .unwrap();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    eprintln!(
        "killed with SIGKILL after {} acknowledged batches and {} consents",
        acked.batches,
        acked.consent_ids.len()
    );

    let url = node.restart().await;
    let stored = records(&url, t).await - initial_rows;
    assert_eq!(
        stored % BATCH,
        0,
        "{stored} rows written by the writer is not a whole number of batches"
    );
    let batches = stored / BATCH;
    assert!(
        batches == acked.batches || batches == acked.batches + 1,
        "{batches} batches stored, {} acknowledged (+ at most 1 in flight)",
        acked.batches
    );
    let consents = stored_consent_ids(&url, &token).await;
    for id in &acked.consent_ids {
        assert!(consents.contains(id), "acknowledged consent {id} lost");
    }
    let policy = ok_json("GET", &format!("{url}/v1/policy"), None, Vec::new()).await;
    let version = policy["version"]
        .as_u64()
        .or_else(|| policy["bundle"]["version"].as_u64())
        .or_else(|| policy["policy"]["version"].as_u64());
    assert_eq!(version, Some(2), "{policy}");
    let verify = ok_json("GET", &format!("{url}/v1/audit/verify"), t, Vec::new()).await;
    assert_eq!(verify["ok"], true, "{verify}");
    // The stored consent still filters: exactly the rows before, plus the writer's city rows.
    let (after, excluded_after) = count(&url, &token, &actors, &docs).await;
    assert_eq!(after, before + stored);
    assert_eq!(excluded_after, excluded);

    drop(node);
    containers::remove_volumes(&[volume]).await;
}
