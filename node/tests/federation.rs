//! Federated queries across three real nodes in one process, over libp2p on loopback:
//! merged result with provenance, refusal everywhere of an uncertified application, a
//! revocation gossiped from one node and honoured by all, and a stopped member that leaves
//! the answer on time with its coverage stated.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::Utc;
use regio_demo::cluster::{LiveNode, LiveRegion};
use regio_demo::data::MUNICIPALITIES;
use regio_demo::expect;
use regio_demo::region::{self, Actors};
use regio_node::engine::Engine;
use regio_node::federation::gossip::Gossip;
use regio_node::federation::p2p;
use regio_node::federation::{FederatedResult, Status};
use regio_node::server::Spec;
use regio_policy::decision::Limits;
use regio_policy::doc::cert::Revocation;
use regio_policy::Signed;
use regio_store::Store;

const N: usize = 3;
const DAYS: usize = 3;
const SENSORS: usize = regio_demo::data::SENSORS;
const SQL: &str = "SELECT count(*) AS n FROM readings";

/// Rows that count for ResearchAndDevelopment: city sensors, and citizens who consent now.
fn expected_count(i: usize) -> i64 {
    expect::daily_counts(i, DAYS, SENSORS, &[], Utc::now())
        .values()
        .sum::<u64>() as i64
}

async fn region() -> (Actors, Vec<LiveNode>, region::Documents) {
    let stores = (0..N).map(|_| Store::memory()).collect();
    let live = LiveRegion::start(Actors::new(N), stores, DAYS, SENSORS, Utc::now())
        .await
        .unwrap();
    (live.actors, live.nodes, live.docs)
}

async fn ask(
    nodes: &[LiveNode],
    at: usize,
    app: &regio_policy::Key,
    cert: bool,
    docs: &region::Documents,
    deadline: Duration,
) -> FederatedResult {
    let q = region::query(
        app,
        nodes[at].engine.did(),
        "ResearchAndDevelopment",
        SQL,
        cert.then(|| docs.certificate.hash()),
        Utc::now(),
    )
    .unwrap();
    nodes[at].coordinate(q, deadline).await.unwrap()
}

fn count(r: &FederatedResult) -> i64 {
    r.result.as_ref().unwrap()["rows"][0][0].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_answers_together_and_refuses_together() {
    let (actors, nodes, docs) = region().await;

    // 1. A certified query from any member: every member answers; counts add up exactly.
    let r = ask(&nodes, 1, &actors.app, true, &docs, Duration::from_secs(5)).await;
    assert_eq!(r.coverage, (N, N), "{:#?}", r.provenance);
    let expected: i64 = (0..N).map(expected_count).sum();
    assert_eq!(count(&r), expected);
    for (i, p) in r.provenance.iter().enumerate() {
        assert_eq!(p.status, Status::Answered);
        assert_eq!(p.name, MUNICIPALITIES[i].1);
        assert_eq!(p.policy_version, Some(1));
        // Withheld from the application (personal data); exact in the member's audit log.
        assert_eq!(p.rows_excluded_by_consent, 0);
        let answer = p.answer.unwrap().to_string();
        let log = nodes[i].engine.store().audit_range(1, u64::MAX).unwrap();
        let entry = log
            .iter()
            .find(|e| e.body["answer"].as_str() == Some(answer.as_str()))
            .expect("the answer is in the member's audit log");
        assert!(entry.body["rowsExcludedByConsent"].as_u64().unwrap() > 0);
    }
    assert_eq!(r.answers.len(), N);

    // 2. An application without a certificate is refused by every member, for the same reason.
    let r = ask(
        &nodes,
        0,
        &actors.uncertified,
        false,
        &docs,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(r.coverage, (0, N));
    assert!(r.result.is_none());
    for p in &r.provenance {
        assert!(
            matches!(&p.status, Status::Refused { reason, .. } if reason == "certificate.missing"),
            "{p:?}"
        );
    }

    // 3. The certifier revokes at one node; gossip carries it; every node refuses.
    let rev = revocation(&actors, &docs);
    nodes[2]
        .engine
        .put_revocation(rev.raw().clone(), Utc::now())
        .unwrap();
    let msg = Gossip::Revocation {
        doc: rev.raw().clone(),
    };
    let started = Instant::now();
    loop {
        // The mesh may still be forming: publish again until every node has it.
        let _ = p2p::publish(&nodes[2].net, region::REGION, &msg).await;
        let r = ask(&nodes, 0, &actors.app, true, &docs, Duration::from_secs(5)).await;
        let revoked = r.provenance.iter().filter(|p| matches!(&p.status, Status::Refused { reason, .. } if reason == "certificate.revoked")).count();
        if revoked == N {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "revocation did not reach every node: {:#?}",
            r.provenance
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 4. A stopped member: the answer comes by the deadline, its coverage says so.
    nodes[2].stop().await;
    let t = Instant::now();
    let r = ask(
        &nodes,
        0,
        &actors.uncertified,
        false,
        &docs,
        Duration::from_millis(1500),
    )
    .await;
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        matches!(
            r.provenance[2].status,
            Status::TimedOut | Status::Unreachable { .. }
        ),
        "{:?}",
        r.provenance[2]
    );
    assert!(r.provenance[..2]
        .iter()
        .all(|p| matches!(p.status, Status::Refused { .. })));
    for n in &nodes {
        n.stop().await;
    }
}

/// The certifier's signed revocation of the region's certificate.
fn revocation(actors: &Actors, docs: &region::Documents) -> Signed<Revocation> {
    region::revocation(
        actors,
        docs,
        "the algorithm changed without review",
        Utc::now(),
    )
    .unwrap()
}

fn outcome(engine: &Engine, actors: &Actors, docs: &region::Documents) -> String {
    let q = region::query(
        &actors.app,
        engine.did(),
        "ResearchAndDevelopment",
        SQL,
        Some(docs.certificate.hash()),
        Utc::now(),
    )
    .unwrap();
    match &engine
        .answer(q, None, Utc::now())
        .unwrap()
        .signed
        .doc()
        .outcome
    {
        regio_policy::doc::query::Outcome::Answered { .. } => "answered".into(),
        regio_policy::doc::query::Outcome::Refused { reason, .. } => reason.clone(),
    }
}

/// Gossipsub does not replay history: a node that starts after a revocation was gossiped
/// learns it from the others' anti-entropy republishing, and refuses the certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_entropy_brings_a_late_node_up_to_date() {
    let actors = Actors::new(N);
    let clerks = || vec![actors.clerk.did().clone()];
    let fast = |s: &mut Spec| s.config.gossip_interval_ms = 200;
    let mut running = Vec::new();
    for key in actors.nodes.iter().take(2) {
        running.push(
            LiveNode::start_with(key, Store::memory(), clerks(), fast)
                .await
                .unwrap(),
        );
    }
    let mut addresses = Vec::new();
    for r in &running {
        addresses.push(r.addresses().await.unwrap());
    }
    addresses.push(Vec::new()); // the late node dials the others
    let docs = region::documents(&actors, &addresses, Utc::now()).unwrap();
    for (i, r) in running.iter().enumerate() {
        region::load(&r.engine, i, &docs, 1, 5, Utc::now()).unwrap();
        r.join_regions().await.unwrap();
    }
    // The late node's store holds its documents and data, as after a restart; it is not
    // running yet.
    let late_store = Store::memory();
    {
        let offline = Engine::open(
            late_store.clone(),
            actors.nodes[2].clone(),
            clerks(),
            Limits::default(),
        )
        .unwrap();
        region::load(&offline, 2, &docs, 1, 5, Utc::now()).unwrap();
        assert_eq!(
            outcome(&offline, &actors, &docs),
            "answered",
            "the late node has not heard of it yet"
        );
    }

    let rev = revocation(&actors, &docs);
    running[0]
        .engine
        .put_revocation(rev.raw().clone(), Utc::now())
        .unwrap();
    let started = Instant::now();
    while outcome(&running[1].engine, &actors, &docs) != "certificate.revoked" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "node 1 never learnt the revocation"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.push(
        LiveNode::start_with(&actors.nodes[2], late_store, clerks(), fast)
            .await
            .unwrap(),
    );
    let started = Instant::now();
    while outcome(&running[2].engine, &actors, &docs) != "certificate.revoked" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "anti-entropy did not bring the late node up to date"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It also learns the others' policy heads.
    let want: std::collections::BTreeMap<_, _> = (0..2)
        .map(|i| (actors.nodes[i].did().clone(), (1, docs.policies[i].hash())))
        .collect();
    while running[2].engine.peer_heads() != want {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "policy heads: {:?}",
            running[2].engine.peer_heads()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for r in running {
        r.stop().await;
    }
}
