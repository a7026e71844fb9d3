//! A rolling restart, in containers (issue 6), on the image `regio:dev` that `.ci/run` builds
//! first (`deploy/build-image.sh`). Without Docker or the image this test fails in CI and is
//! skipped locally, saying why (`regio_integration_tests::containers::require_docker`).
//!
//! Three node containers (Gent, Antwerpen, Brugge) on a user-defined network, in one region
//! whose manifest names each member by its DID and container IP; data, consent, policy,
//! charter (its query quota raised, so that the loop cannot use it up), manifest and
//! certificate go to every node through its API. A query loop signs count queries
//! (deadline 2 s) and sends them, one after the other with 50 ms between, to the nodes that
//! are up in turn, while each node in turn is drained (the loop stops choosing it and its query
//! in flight ends), stopped with SIGTERM (`docker stop`: it must exit 0 by itself), restarted
//! on its volume with its address, and waited for until it is healthy and answers with the
//! whole region again (at itself, then twice in the loop). Every answer of the loop must:
//!
//! - come back within the deadline + 3 s, with status 200 (a query never fails outright);
//! - state its coverage and one provenance line per member, each `answered`, `timed_out` or
//!   `unreachable` (never a refusal);
//! - carry exactly the count of the members that answered (the full figure at [3,3]);
//! - name a member that was stopped for the whole query as `timed_out` or `unreachable`.
//!
//! A transport error at the client (a request to a node that went away) would be counted
//! apart, not as a failure of the system; the loop is built never to aim at a stopped node.
//! After the roll every node answers [3,3] with the exact count and its audit chain verifies.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use regio_demo::data::{self, MUNICIPALITIES};
use regio_demo::region::{self, Actors};
use regio_integration_tests::containers::{
    self, demo_consent_ndjson, demo_expected_count, demo_rows_ndjson, http, ok_json, require_docker,
};
use regio_policy::{Did, DocHash, Signed};
use serde_json::{json, Value};

const DAYS: usize = 2;
/// Enough citizens per node for the whole-dataset count (k counts distinct citizens).
const SENSORS: usize = regio_demo::data::SENSORS;
const SQL: &str = "SELECT count(*) AS n FROM readings";
const DEADLINE_MS: u64 = 2000;
/// Pause between two queries of the loop.
const PAUSE: Duration = Duration::from_millis(50);
/// How much later than its deadline an answer may arrive (HTTP, signing, scheduling).
const MARGIN: Duration = Duration::from_secs(3);

/// What the query loop and the roll share.
struct Shared {
    /// Each node's API URL (its published port can change on restart).
    urls: Vec<String>,
    /// Whether the loop may send to the node.
    up: Vec<bool>,
    /// The node the loop's current query went to.
    in_flight: Option<usize>,
    /// Every query the loop made.
    records: Vec<Record>,
    /// Set to end the loop.
    done: bool,
}

/// One query of the loop.
struct Record {
    target: usize,
    started: Instant,
    ended: Instant,
    /// `None`: no answer within the deadline + margin.
    reply: Option<Result<(u16, String), String>>,
}

/// A signed count query of the certified application for coordinator `did`.
fn signed_query(actors: &Actors, did: &Did, cert: &DocHash) -> Vec<u8> {
    let q = region::query(
        &actors.app,
        did,
        "ResearchAndDevelopment",
        SQL,
        Some(*cert),
        Utc::now(),
    )
    .unwrap();
    serde_json::to_vec(&q).unwrap()
}

/// Sends queries to the nodes that are up, one at a time, round robin, until `done`.
async fn query_loop(
    shared: Arc<Mutex<Shared>>,
    actors: Arc<Actors>,
    dids: Vec<Did>,
    cert: DocHash,
) {
    let mut next = 0;
    loop {
        let picked = {
            let mut s = shared.lock().unwrap();
            if s.done {
                return;
            }
            let n = s.up.len();
            let t = (0..n).map(|k| (next + k) % n).find(|&t| s.up[t]);
            s.in_flight = t;
            t.map(|t| (t, s.urls[t].clone()))
        };
        let Some((target, url)) = picked else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        next = target + 1;
        let body = signed_query(&actors, &dids[target], &cert);
        let started = Instant::now();
        let url = format!("{url}/v1/query?deadline_ms={DEADLINE_MS}");
        let reply = tokio::time::timeout(
            Duration::from_millis(DEADLINE_MS) + MARGIN,
            http("POST", &url, None, body),
        )
        .await
        .ok();
        let ended = Instant::now();
        {
            let mut s = shared.lock().unwrap();
            s.in_flight = None;
            s.records.push(Record {
                target,
                started,
                ended,
                reply,
            });
        }
        // A steady load, not a flood: the machine runs other work too.
        tokio::time::sleep(PAUSE).await;
    }
}

/// Checks one answer of the loop; `down` are the members stopped for the whole query.
/// `Ok(answered)` or what is wrong.
fn judge(status: u16, text: &str, expected: &[u64], down: &[usize]) -> Result<usize, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {text}"))?;
    if status != 200 {
        return Err(format!("status {status}: {v}"));
    }
    let lines = v["provenance"]
        .as_array()
        .filter(|l| l.len() == expected.len())
        .ok_or_else(|| format!("not one provenance line per member: {v}"))?;
    let mut answered = Vec::new();
    for (m, line) in lines.iter().enumerate() {
        if line["name"] != MUNICIPALITIES[m].1 {
            return Err(format!(
                "provenance line {m} is not {}: {v}",
                MUNICIPALITIES[m].1
            ));
        }
        match (line["status"].as_str(), line["reason"].as_str()) {
            (Some("answered"), None) => answered.push(m),
            (Some("timed_out" | "unreachable"), None) => {}
            _ => {
                return Err(format!(
                    "{} neither answered nor was out of reach: {line}",
                    MUNICIPALITIES[m].1
                ))
            }
        }
    }
    if v["coverage"] != json!([answered.len(), expected.len()]) {
        return Err(format!(
            "coverage does not match the provenance ({answered:?} answered): {v}"
        ));
    }
    if let Some(m) = down.iter().find(|m| answered.contains(m)) {
        return Err(format!(
            "{} was stopped for the whole query but is named as answering: {v}",
            MUNICIPALITIES[*m].1
        ));
    }
    let want: u64 = answered.iter().map(|&m| expected[m]).sum();
    if v["result"]["rows"][0][0].as_u64() != Some(want) {
        return Err(format!(
            "result is not {want}, the count of {answered:?}: {v}"
        ));
    }
    Ok(answered.len())
}

/// The region's documents with a charter whose query quota the loop cannot use up (the
/// default charter allows 120 queries per origin member per hour), co-signed by every node,
/// and the manifest naming it.
fn with_large_quota(mut docs: region::Documents, actors: &Actors) -> region::Documents {
    let now = Utc::now();
    let mut charter = docs.charter.doc().clone();
    charter.clauses.quota.queries_per_member = 1_000_000;
    let mut signed = Signed::sign(charter, &actors.nodes[0], now).unwrap();
    for k in &actors.nodes[1..] {
        signed = signed.cosign(k, now).unwrap();
    }
    let mut manifest = docs.manifest.doc().clone();
    manifest.charter = signed.hash();
    let mut m = Signed::sign(manifest, &actors.nodes[0], now).unwrap();
    for k in &actors.nodes[1..] {
        m = m.cosign(k, now).unwrap();
    }
    docs.charter = signed;
    docs.manifest = m;
    docs
}

/// Polls a query at `url` (coordinator `did`) until it answers [3,3] with the exact count.
async fn until_whole(
    url: &str,
    did: &Did,
    actors: &Actors,
    cert: &DocHash,
    expected: &[u64],
    within: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let (status, text) = http(
            "POST",
            &format!("{url}/v1/query?deadline_ms={DEADLINE_MS}"),
            None,
            signed_query(actors, did, cert),
        )
        .await
        .unwrap_or((0, String::new()));
        match judge(status, &text, expected, &[]) {
            Ok(3) => return start.elapsed(),
            outcome if start.elapsed() > within => {
                panic!("{url}: no [3,3] answer within {within:?}; last: {outcome:?} {text}")
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_never_fails_a_query_and_states_who_was_down() {
    if require_docker("a_rolling_restart_never_fails_a_query_and_states_who_was_down").is_none() {
        return;
    }
    let t0 = Instant::now();
    let trio = containers::Trio::start("rolling").await;
    // The region: members named by DID and container IP; every document at every node.
    let (ips, actors, addresses) = trio.members().await;
    let containers::Trio {
        network,
        volumes,
        nodes,
        ..
    } = trio;
    let docs = with_large_quota(
        region::documents(&actors, &addresses, Utc::now()).unwrap(),
        &actors,
    );
    let mut urls = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let (url, t) = (n.url().await, Some(n.files.token.as_str()));
        ok_json(
            "POST",
            &format!("{url}/v1/datasets"),
            t,
            serde_json::to_vec(&data::readings_schema()).unwrap(),
        )
        .await;
        ok_json(
            "POST",
            &format!("{url}/v1/datasets/readings/records?format=ndjson"),
            t,
            demo_rows_ndjson(i, DAYS, SENSORS).into_bytes(),
        )
        .await;
        ok_json(
            "POST",
            &format!("{url}/v1/consent/import?format=ndjson"),
            t,
            demo_consent_ndjson(i, DAYS, SENSORS).into_bytes(),
        )
        .await;
        for (route, doc) in [
            ("policy", docs.policies[i].raw()),
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
        urls.push(url);
    }
    let expected: Vec<u64> = (0..3)
        .map(|i| demo_expected_count(i, DAYS, SENSORS))
        .collect();
    let dids: Vec<Did> = nodes.iter().map(|n| n.files.key.did().clone()).collect();
    // `/v1/audit/verify` is an admin route.
    let tokens: Vec<String> = nodes.iter().map(|n| n.files.token.to_string()).collect();
    let cert = docs.certificate.hash();
    for (url, did) in urls.iter().zip(&dids) {
        until_whole(url, did, &actors, &cert, &expected, Duration::from_secs(60)).await;
    }
    eprintln!(
        "region of 3 whole after {:?}; rolling restart begins",
        t0.elapsed()
    );

    // The loop runs while each node in turn is drained, stopped, restarted and waited for.
    let shared = Arc::new(Mutex::new(Shared {
        urls,
        up: vec![true; 3],
        in_flight: None,
        records: Vec::new(),
        done: false,
    }));
    let actors = Arc::new(actors);
    let looping = tokio::spawn(query_loop(
        shared.clone(),
        actors.clone(),
        dids.clone(),
        cert,
    ));
    let roll = Instant::now();
    let mut down: Vec<(usize, Instant, Instant)> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let name = MUNICIPALITIES[i].1;
        shared.lock().unwrap().up[i] = false;
        let drain = Instant::now();
        while shared.lock().unwrap().in_flight == Some(i) {
            assert!(
                drain.elapsed() < Duration::from_millis(DEADLINE_MS) + MARGIN,
                "the loop's query to {name} did not end"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (code, took) = node.stop_gracefully(Duration::from_secs(20)).await;
        assert_eq!(
            code, 0,
            "{name} did not exit cleanly on SIGTERM (exit code {code} after {took:?})"
        );
        let stopped = Instant::now();
        // Two of the loop's queries run wholly while the member is down.
        let waiting = Instant::now();
        while shared
            .lock()
            .unwrap()
            .records
            .iter()
            .filter(|r| r.started >= stopped)
            .count()
            < 2
        {
            assert!(
                waiting.elapsed() < Duration::from_secs(30),
                "the loop made no queries while {name} was down"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        node.pin_ip(&network, &ips[i]).await;
        down.push((i, stopped, Instant::now()));
        let url = node.restart().await;
        let back = until_whole(
            &url,
            &dids[i],
            &actors,
            &cert,
            &expected,
            Duration::from_secs(60),
        )
        .await;
        let rejoined = {
            let mut s = shared.lock().unwrap();
            s.urls[i] = url;
            s.up[i] = true;
            Instant::now()
        };
        // The loop, too, gets two whole answers before the next node goes.
        while shared.lock().unwrap().records.iter().filter(|r| r.started >= rejoined && matches!(&r.reply, Some(Ok((st, text))) if judge(*st, text, &expected, &[]) == Ok(3))).count() < 2 {
            assert!(rejoined.elapsed() < Duration::from_secs(30), "the loop got no [3,3] answer after {name} came back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("{name}: SIGTERM exit 0 in {took:?}; down {:?}; whole region again {back:?} after restart", down[i].2 - stopped);
    }
    shared.lock().unwrap().done = true;
    looping.await.unwrap();
    let roll = roll.elapsed();

    // Every answer of the loop, judged.
    let records = std::mem::take(&mut shared.lock().unwrap().records);
    let (mut full, mut partial, mut unreachable, mut slowest) = (0, 0, 0, Duration::ZERO);
    let mut named_down = [0usize; 3];
    let mut failures = Vec::new();
    for (k, r) in records.iter().enumerate() {
        let took = r.ended - r.started;
        slowest = slowest.max(took);
        let whole_down: Vec<usize> = down
            .iter()
            .filter(|(_, from, to)| *from <= r.started && r.ended <= *to)
            .map(|(m, _, _)| *m)
            .collect();
        let what = format!(
            "query {k} to {} ({took:?}, stopped meanwhile: {whole_down:?})",
            MUNICIPALITIES[r.target].1
        );
        match &r.reply {
            None => failures.push(format!(
                "{what}: no answer within {DEADLINE_MS} ms + {MARGIN:?}"
            )),
            Some(Err(e)) => {
                unreachable += 1;
                eprintln!("{what}: unreachable at the client: {e}");
            }
            Some(Ok((status, text))) => match judge(*status, text, &expected, &whole_down) {
                Ok(3) => full += 1,
                Ok(_) => {
                    partial += 1;
                    for m in &whole_down {
                        named_down[*m] += 1;
                    }
                }
                Err(e) => failures.push(format!("{what}: {e}")),
            },
        }
        if took > Duration::from_millis(DEADLINE_MS) + MARGIN {
            failures.push(format!(
                "{what}: took longer than the deadline + {MARGIN:?}"
            ));
        }
    }
    eprintln!(
        "rolling restart: {} queries in {roll:?} — {full} at [3,3], {partial} partial, {unreachable} unreachable at the client; slowest {slowest:?}; answers naming the stopped member {named_down:?}",
        records.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} queries failed:\n{}",
        failures.len(),
        records.len(),
        failures.join("\n")
    );
    assert_eq!(unreachable, 0, "the loop only aims at nodes that are up");
    assert!(
        named_down.iter().all(|&n| n >= 2),
        "each stopped member is named in at least 2 answers: {named_down:?}"
    );
    assert!(full > 0, "no [3,3] answer during the roll");

    // After the roll: the whole region everywhere, exact count, intact audit chains.
    let urls = shared.lock().unwrap().urls.clone();
    for ((url, did), token) in urls.iter().zip(&dids).zip(&tokens) {
        until_whole(url, did, &actors, &cert, &expected, Duration::from_secs(10)).await;
        let verify = ok_json(
            "GET",
            &format!("{url}/v1/audit/verify"),
            Some(token),
            Vec::new(),
        )
        .await;
        assert_eq!(verify["ok"], true, "{verify}");
    }
    eprintln!("total {:?}", t0.elapsed());

    drop(nodes);
    containers::remove_network(&network).await;
    containers::remove_volumes(&volumes).await;
}
