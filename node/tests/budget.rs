//! The privacy budget over three real nodes in one process (libp2p on loopback, sled
//! stores): a charter whose budget allows `ALLOWED` queries answers that many at every member
//! and refuses the next with `disclosure.budget_exhausted` everywhere; the auditor re-runs
//! that refusal from the export; a member restarted on its directory still refuses; and
//! parallel queries never overspend.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use regio_demo::cluster::{LiveNode, LiveRegion};
use regio_demo::data::MUNICIPALITIES;
use regio_demo::region::{self, Actors, CHARTER_JSON};
use regio_node::audit::decide;
use regio_node::audit::export::Export;
use regio_node::audit::files::Loaded;
use regio_node::federation::{FederatedResult, Status};
use regio_policy::doc::query::Outcome;
use regio_store::audit::Kind;
use regio_store::ledger::{self, Key};
use regio_store::Store;
use tempfile::TempDir;

const N: usize = 3;
const SQL: &str = "SELECT count(*) AS n FROM readings";
/// Queries the budget allows (each costs the charter's `epsilonPerQuery`, 1.0).
const ALLOWED: usize = 3;
const EXHAUSTED: &str = "disclosure.budget_exhausted";

/// A region on sled stores in `dirs` whose charter allows `ALLOWED` queries per window.
async fn region(dirs: &[TempDir]) -> LiveRegion {
    let mut charter: serde_json::Value = serde_json::from_str(CHARTER_JSON).unwrap();
    let d = &mut charter["clauses"]["disclosure"];
    let per_query = d["epsilonPerQuery"].as_f64().unwrap();
    d["budget"]["epsilon"] = (per_query * ALLOWED as f64).into();
    let stores = dirs
        .iter()
        .map(|d| Store::open_sled(d.path()).unwrap())
        .collect();
    LiveRegion::start_chartered(&charter, Actors::new(N), stores, 2, 10, Utc::now())
        .await
        .unwrap()
}

fn dirs() -> Vec<TempDir> {
    (0..N).map(|_| tempfile::tempdir().unwrap()).collect()
}

async fn ask(r: &LiveRegion, at: usize) -> FederatedResult {
    let q = region::query(
        &r.actors.app,
        r.nodes[at].engine.did(),
        "ResearchAndDevelopment",
        SQL,
        Some(r.docs.certificate.hash()),
        Utc::now(),
    )
    .unwrap();
    r.nodes[at]
        .coordinate(q, Duration::from_secs(10))
        .await
        .unwrap()
}

fn reasons(r: &FederatedResult) -> Vec<String> {
    r.provenance
        .iter()
        .map(|p| match &p.status {
            Status::Answered => "answered".into(),
            Status::Refused { reason, .. } => reason.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// The application's budget counter at a node, in micro-epsilon.
fn spent(r: &LiveRegion, node: &LiveNode) -> u64 {
    let window = Utc::now().timestamp() / 86_400;
    let key = Key {
        kind: ledger::Kind::Budget,
        region: region::REGION.into(),
        party: r.actors.app.did().to_string(),
        window,
    };
    node.engine.store().spent(&key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_runs_out_at_every_member_is_audited_and_survives_a_restart() {
    let dirs = dirs();
    let mut r = region(&dirs).await;
    for i in 0..ALLOWED {
        let res = ask(&r, i % N).await;
        assert_eq!(reasons(&res), vec!["answered"; N], "query {i}");
    }
    let res = ask(&r, 1).await;
    assert_eq!(reasons(&res), vec![EXHAUSTED; N]);
    for n in &r.nodes {
        assert_eq!(spent(&r, n), ledger::micro(ALLOWED as f64));
    }

    // Node 2's log: each answered entry carries its charge; the refusal re-runs as logged.
    let (nis, name) = MUNICIPALITIES[2];
    let export = Export::build(&r.nodes[2].engine, nis, name, Utc::now()).unwrap();
    let charges: Vec<f64> = export
        .entries
        .iter()
        .filter(|e| e.kind == Kind::QueryAnswered)
        .map(|e| e.body["budget"]["spentAfter"].as_f64().unwrap())
        .collect();
    assert_eq!(charges, vec![1.0, 2.0, 3.0]);
    let counter = export
        .ledger
        .iter()
        .find(|c| c.key.kind == ledger::Kind::Budget)
        .unwrap();
    assert_eq!((counter.spent, counter.limit), (3_000_000, 3_000_000));
    let refusal = export
        .entries
        .iter()
        .rfind(|e| e.kind == Kind::QueryRefused)
        .unwrap();
    assert_eq!(refusal.body["reason"], EXHAUSTED);
    assert_eq!(refusal.body["decision"]["budgetSpent"], 3.0);
    let loaded = Loaded::from_export("node2", export.clone());
    let checks = decide::decide(&loaded, Some(refusal.seq));
    assert!(checks.iter().all(|c| c.ok), "{checks:#?}");
    let checks = decide::decide(&loaded, None);
    assert!(checks.iter().all(|c| c.ok), "{checks:#?}");

    // Restarted on its directory, node 2 still refuses: the budget was kept.
    let node = r.nodes.remove(2);
    node.stop().await;
    let key = r.actors.nodes[2].clone();
    drop(node);
    let store = Store::open_sled(dirs[2].path()).unwrap();
    let node = LiveNode::start(&key, store, vec![r.actors.clerk.did().clone()])
        .await
        .unwrap();
    assert_eq!(spent(&r, &node), ledger::micro(ALLOWED as f64));
    let q = region::query(
        &r.actors.app,
        node.engine.did(),
        "ResearchAndDevelopment",
        SQL,
        Some(r.docs.certificate.hash()),
        Utc::now(),
    )
    .unwrap();
    let answer = node.engine.answer(q, None, Utc::now()).unwrap();
    match &answer.signed.doc().outcome {
        Outcome::Refused { reason, .. } => assert_eq!(reason, EXHAUSTED),
        other => panic!("a restarted node answered past its budget: {other:?}"),
    }
    node.stop().await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_queries_never_overspend() {
    let dirs = dirs();
    let r = region(&dirs).await;
    let asks = (0..2 * ALLOWED).map(|i| ask(&r, i % N));
    let results = futures::future::join_all(asks).await;
    for (i, n) in r.nodes.iter().enumerate() {
        let answered = results
            .iter()
            .filter(|res| matches!(res.provenance[i].status, Status::Answered))
            .count();
        let refused = results
            .iter()
            .filter(|res| matches!(&res.provenance[i].status, Status::Refused { reason, .. } if reason == EXHAUSTED))
            .count();
        assert!(answered <= ALLOWED, "node {i} answered {answered}");
        assert_eq!(answered + refused, 2 * ALLOWED, "node {i}: {results:#?}");
        assert_eq!(spent(&r, n), ledger::micro(answered as f64), "node {i}");
    }
    r.stop().await;
}
