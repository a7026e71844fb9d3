//! The privacy budget survives SIGKILL, with a real `regio node run` process: a one-member
//! region (set up through the node's HTTP API) whose charter allows `ALLOWED` queries per
//! window is asked queries one after the other; after some are acknowledged the process is
//! killed with SIGKILL in the middle of the next. Restarted on its directory, its exported
//! ledger holds at least the epsilon of every acknowledged answer, and it answers no more
//! than what is left: the acknowledged answers and the answers after the restart never
//! exceed the budget, and the next query is refused `disclosure.budget_exhausted`.
//!
//! The binary: `REGIO_BIN` if set, else the workspace's debug build
//! ([`bench::regio_debug`]).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use regio_demo::data::{self, MUNICIPALITIES};
use regio_demo::region::{self, Actors, CHARTER_JSON};
use regio_integration_tests::adversary::{admin, admin_raw};
use regio_integration_tests::bench::{self, Http, Node};
use regio_integration_tests::containers::{demo_consent_ndjson, demo_rows_ndjson};
use regio_policy::{Did, DocHash, Key};
use serde_json::Value;

/// Queries the budget allows (each costs the charter's `epsilonPerQuery`, 1.0).
const ALLOWED: usize = 12;
const SQL: &str = "SELECT count(*) AS n FROM readings";
const EXHAUSTED: &str = "disclosure.budget_exhausted";

/// One signed query of the certified application, through the node's API: `Ok(())` when
/// answered, `Err(reason)` when refused, a description when the node did not answer with a result.
fn ask(http: &Http, node_url: &str, app: &Key, origin: &Did, cert: DocHash) -> Result<(), String> {
    let q = region::query(
        app,
        origin,
        "ResearchAndDevelopment",
        SQL,
        Some(cert),
        Utc::now(),
    )
    .unwrap();
    // Refused by every member: 403 with the same provenance.
    let v = match http.post(&format!("{node_url}/v1/query?deadline_ms=5000"), None, &q) {
        Ok((200 | 403, v)) => v,
        Ok((status, v)) => return Err(format!("status {status}: {v}")),
        Err(e) => return Err(format!("no answer: {e}")),
    };
    let line = &v["provenance"][0];
    match line["status"].as_str() {
        Some("answered") => Ok(()),
        _ => Err(line["reason"].as_str().unwrap_or("?").to_owned()),
    }
}

/// The budget counter of the exported ledger, in micro-epsilon (0 when absent).
fn exported_spent(http: &Http, node: &Node) -> u64 {
    let (st, export) = http
        .get_admin(&format!("{}/v1/audit/export", node.url), &node.token)
        .unwrap();
    assert_eq!(st, 200, "{export}");
    export["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["key"]["kind"] == "budget")
        .map(|c| c["spent"].as_u64().unwrap())
        .sum()
}

#[test]
fn a_node_killed_while_answering_keeps_every_acknowledged_budget_charge() {
    let regio = bench::regio_debug().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let (nis, name) = MUNICIPALITIES[0];
    bench::init(&regio, &dir, nis, name, &[]).unwrap();
    let node = bench::start(&regio, &dir).unwrap();
    let http = Http::new(Duration::from_secs(30));

    // A one-member region whose charter allows ALLOWED queries per window.
    let mut actors = Actors::new(1);
    actors.nodes = vec![node.key.clone()];
    let mut charter: Value = serde_json::from_str(CHARTER_JSON).unwrap();
    let per_query = charter["clauses"]["disclosure"]["epsilonPerQuery"]
        .as_f64()
        .unwrap();
    charter["clauses"]["disclosure"]["budget"]["epsilon"] = (per_query * ALLOWED as f64).into();
    let docs = region::documents_with(
        region::REGION,
        &charter,
        &actors,
        std::slice::from_ref(&node.p2p),
        Utc::now(),
    )
    .unwrap();
    let schema = serde_json::to_value(data::readings_schema()).unwrap();
    admin(&http, &node, "/v1/datasets", &schema).unwrap();
    let rows = demo_rows_ndjson(0, 2, 10);
    let route = "/v1/datasets/readings/records?format=ndjson";
    admin_raw(&http, &node, route, rows.as_bytes()).unwrap();
    let consent = demo_consent_ndjson(0, 2, 10);
    admin_raw(
        &http,
        &node,
        "/v1/consent/import?format=ndjson",
        consent.as_bytes(),
    )
    .unwrap();
    for (route, doc) in [
        ("/v1/policy", docs.policies[0].raw()),
        ("/v1/charters", docs.charter.raw()),
        ("/v1/regions", docs.manifest.raw()),
        ("/v1/certificates", docs.certificate.raw()),
    ] {
        admin(&http, &node, route, doc).unwrap();
    }
    let (origin, cert) = (node.key.did().clone(), docs.certificate.hash());
    assert_eq!(
        ask(&http, &node.url, &actors.app, &origin, cert),
        Ok(()),
        "the region answers"
    );

    // Queries one after the other from a second thread; SIGKILL once 4 more are acknowledged.
    let acked = Arc::new(AtomicUsize::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (acked, stop, url) = (acked.clone(), stop.clone(), node.url.clone());
        let (app, origin, http) = (actors.app.clone(), origin.clone(), http.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match ask(&http, &url, &app, &origin, cert) {
                    Ok(()) => {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => return,
                }
            }
        })
    };
    let start = Instant::now();
    while acked.load(Ordering::SeqCst) < 5 {
        assert!(start.elapsed() < Duration::from_secs(60), "no answers");
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = Command::new("kill")
        .args(["-KILL", &node.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    stop.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    let acknowledged = acked.load(Ordering::SeqCst);
    drop(node);

    // Restarted on its directory: every acknowledged charge is there.
    let node = bench::start(&regio, &dir).unwrap();
    let spent = exported_spent(&http, &node);
    eprintln!("acknowledged {acknowledged} answers before SIGKILL; ledger after restart: {spent} micro-epsilon");
    assert!(
        spent >= acknowledged as u64 * 1_000_000,
        "{acknowledged} answers acknowledged, {spent} micro-epsilon kept"
    );
    let mut after = 0;
    let reason = loop {
        match ask(&http, &node.url, &actors.app, &origin, cert) {
            Ok(()) => after += 1,
            Err(reason) => break reason,
        }
        assert!(after <= ALLOWED, "answers past the budget");
    };
    assert_eq!(reason, EXHAUSTED);
    assert!(
        acknowledged + after <= ALLOWED,
        "{acknowledged} before the kill + {after} after > {ALLOWED}"
    );
    assert_eq!(exported_spent(&http, &node), ALLOWED as u64 * 1_000_000);
}
