//! Crash test (issue 3, "Done when"): the real binary ingests batches over HTTP and
//! imports consent files, and is killed with SIGKILL at random moments, 12 times. After
//! each restart on the same directory, every acknowledged batch and consent import is
//! there, at most the one in-flight batch more, and never part of a batch; the audit
//! chain verifies. The seed is printed (set REGIO_CRASH_SEED to replay).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{init, regio, RunningNode, READINGS_SCHEMA};

const CYCLES: usize = 12;
const BATCH: u64 = 200;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What the writer thread saw acknowledged.
#[derive(Default)]
struct Acked {
    batches: u64,
    consent_ids: Vec<String>,
}

fn batch_body(batch_no: u64) -> String {
    let mut s = String::new();
    for i in 0..BATCH {
        let n = batch_no * BATCH + i;
        let subject = if n.is_multiple_of(3) {
            format!("\"subj-{}\"", n % 50)
        } else {
            "null".into()
        };
        s.push_str(&format!(
            "{{\"id\":\"r{n}\",\"municipality\":\"44021\",\"sensor_id\":\"s{}\",\"subject\":{subject},\"observed_at\":\"2024-01-{:02}T{:02}:{:02}:00Z\",\"no2\":{}.5,\"pm25\":1.0,\"pm10\":2.0,\"lat\":51.0,\"lon\":3.7}}\n",
            n % 7,
            1 + n % 28,
            n % 24,
            n % 60,
            n % 90
        ));
    }
    s
}

fn consent_body(import_no: u64) -> (String, Vec<String>) {
    let mut s = String::new();
    let mut ids = Vec::new();
    for i in 0..4 {
        let subject = format!("subj-c{import_no}-{i}");
        s.push_str(&format!(
            "{{\"subject\":\"{subject}\",\"purpose\":\"PublicBenefit\",\"granted\":true,\"given_at\":\"2024-01-01T00:00:00Z\",\"withdrawn_at\":null}}\n"
        ));
        ids.push(format!("{subject}/PublicBenefit"));
    }
    (s, ids)
}

/// Sends batches and consent imports until a request fails (the node was killed).
fn writer(
    url: String,
    token: String,
    first_batch: u64,
    acked: Arc<Mutex<Acked>>,
    stop: Arc<AtomicBool>,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut batch_no = first_batch;
    while !stop.load(Ordering::SeqCst) {
        let url_records = format!("{url}/v1/datasets/readings/records?format=ndjson");
        let ok = agent
            .post(&url_records)
            .header("Authorization", &format!("Bearer {token}"))
            .send(batch_body(batch_no).as_bytes())
            .is_ok_and(|r| r.status() == 200);
        if !ok {
            return;
        }
        acked.lock().unwrap().batches += 1;
        if batch_no.is_multiple_of(3) {
            let (body, ids) = consent_body(batch_no);
            let ok = agent
                .post(&format!("{url}/v1/consent/import?format=ndjson"))
                .header("Authorization", &format!("Bearer {token}"))
                .send(body.as_bytes())
                .is_ok_and(|r| r.status() == 200);
            if !ok {
                return;
            }
            acked.lock().unwrap().consent_ids.extend(ids);
        }
        batch_no += 1;
    }
}

fn get_json(url: &str, token: &str) -> serde_json::Value {
    let mut r = ureq::get(url)
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    serde_json::from_str(
        &r.body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .unwrap(),
    )
    .unwrap()
}

fn stored_consent_ids(url: &str, token: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut from = 1;
    loop {
        let v = get_json(&format!("{url}/v1/audit?from={from}&limit=1000"), token);
        for e in v["entries"].as_array().unwrap() {
            if e["kind"] == "consent_changed" {
                ids.extend(
                    e["body"]["ids"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i.as_str().unwrap().to_string()),
                );
            }
        }
        match v["next"].as_u64() {
            Some(n) => from = n,
            None => return ids,
        }
    }
}

#[test]
fn sigkill_keeps_every_acknowledged_batch_and_consent() {
    let started = Instant::now();
    let seed = std::env::var("REGIO_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test seed {seed} (REGIO_CRASH_SEED={seed} to replay)");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    init(&dir);
    let token = std::fs::read_to_string(dir.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let schema = tmp.path().join("readings.json");
    std::fs::write(&schema, READINGS_SCHEMA).unwrap();

    let node = RunningNode::start(&dir);
    let out = regio(&[
        "dataset",
        "create",
        "--node",
        &node.url,
        "--dir",
        dir.to_str().unwrap(),
        schema.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut node = Some(node);
    let (mut stored_batches, mut all_consents): (u64, Vec<String>) = (0, Vec::new());
    for cycle in 0..CYCLES {
        let running = node.take().unwrap_or_else(|| RunningNode::start(&dir));
        let acked = Arc::new(Mutex::new(Acked::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (url, token, acked, stop) = (
                running.url.clone(),
                token.clone(),
                acked.clone(),
                stop.clone(),
            );
            let first = stored_batches + 1_000 * cycle as u64;
            std::thread::spawn(move || writer(url, token, first, acked, stop))
        };
        std::thread::sleep(Duration::from_millis(50 + rng.next() % 400));
        running.kill();
        stop.store(true, Ordering::SeqCst);
        handle.join().unwrap();
        let acked = std::mem::take(&mut *acked.lock().unwrap());

        let restarted = RunningNode::start(&dir);
        let records = common::count(&restarted.url, &dir, "readings");
        assert_eq!(
            records % BATCH,
            0,
            "cycle {cycle}: {records} records is not a whole number of batches (seed {seed})"
        );
        let batches = records / BATCH;
        let expected = stored_batches + acked.batches;
        assert!(
            batches == expected || batches == expected + 1,
            "cycle {cycle}: {batches} batches stored, {expected} acknowledged (+ at most 1 in flight) (seed {seed})"
        );
        stored_batches = batches;
        all_consents.extend(acked.consent_ids);
        let stored = stored_consent_ids(&restarted.url, &token);
        for id in &all_consents {
            assert!(
                stored.contains(id),
                "cycle {cycle}: acknowledged consent {id} lost (seed {seed})"
            );
        }
        let verify = get_json(&format!("{}/v1/audit/verify", restarted.url), &token);
        assert_eq!(verify["ok"], true, "cycle {cycle}: {verify}");
        eprintln!(
            "cycle {cycle}: {} acked batches, {batches} stored in total, {} consents",
            expected,
            all_consents.len()
        );
        node = Some(restarted);
    }
    let last = node.take().unwrap();
    assert_eq!(last.terminate(), Some(0));
    assert!(
        stored_batches >= 1,
        "no batch was ever acknowledged: the kills came too early"
    );
    eprintln!(
        "{CYCLES} cycles in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
