//! Issue 14, "who may ask": three real nodes in one process (libp2p on loopback, sled
//! stores). The query's `origin` is the node it was sent to and the only peer that may fan
//! it out; the coordinator checks a query (signature, freshness, replay, region, origin, its
//! own access rules and certificate requirements) before any member works for it; nonces
//! are per signer; a proof's `expires` is enforced. Every refusal leaves every member's
//! audit log and every quota counter as it was.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod trust;

use std::time::Duration;

use chrono::Utc;
use regio_demo::cluster::LiveRegion;
use regio_demo::region::{self, REGION};
use regio_node::federation::{FederatedResult, FederationError, Status};
use regio_policy::Key;

use trust::{audit_lengths, live_region, nonce, query, quota_used};

const DEADLINE: Duration = Duration::from_secs(10);

/// The reason code of a refusal at the coordinator, or a panic naming what happened instead.
fn refused_at_coordinator(r: Result<FederatedResult, FederationError>) -> String {
    match r {
        Err(FederationError::Query(refusal)) => refusal.reason.code().to_owned(),
        Err(FederationError::NotMember(_)) => "region.unknown".into(),
        Err(e) => panic!("failed instead of refused: {e}"),
        Ok(r) => panic!("fanned out: {:#?}", r.provenance),
    }
}

/// Sends `q` from node `from` to node `to` over libp2p; the reason of its signed refusal.
async fn relay(r: &LiveRegion, from: usize, to: usize, q: &serde_json::Value) -> String {
    trust::relay(&r.nodes[from], r.nodes[to].engine.did(), q).await
}

fn dirs() -> Vec<tempfile::TempDir> {
    (0..3).map(|_| tempfile::tempdir().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_is_chosen_by_the_application() {
    let dirs = dirs();
    let r = live_region(&dirs).await;
    let cert = Some(r.docs.certificate.hash());
    let town = r.nodes[2].engine.did().clone();
    let (audit, quota) = (audit_lengths(&r), quota_used(&r, &town));
    assert_eq!(quota, [0, 0, 0]);

    // The application sends node 0 a query that names the small town as its origin.
    let q = query(
        &r.actors.app,
        &town,
        REGION,
        &nonce(),
        Utc::now(),
        cert,
        None,
    );
    let code = refused_at_coordinator(r.nodes[0].coordinate(q, DEADLINE).await);
    assert_eq!(code, "origin.not_coordinator");
    assert_eq!(quota_used(&r, &town), quota, "the town's quota was spent");
    assert_eq!(audit_lengths(&r), audit, "members worked for the query");

    // Node 0 relays a query naming the town as origin straight to node 1: refused there.
    let q = query(
        &r.actors.app,
        &town,
        REGION,
        &nonce(),
        Utc::now(),
        cert,
        None,
    );
    assert_eq!(relay(&r, 0, 1, &q).await, "origin.not_sender");
    assert_eq!(quota_used(&r, &town), quota, "the town's quota was spent");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_queries_fan_out() {
    let dirs = dirs();
    let r = live_region(&dirs).await;
    let cert = Some(r.docs.certificate.hash());
    let me = r.nodes[0].engine.did().clone();
    // Answered once, so that its replay can be tried below.
    let valid = query(&r.actors.app, &me, REGION, &nonce(), Utc::now(), cert, None);
    let ok = r.nodes[0]
        .coordinate(valid.clone(), DEADLINE)
        .await
        .unwrap();
    assert_eq!(ok.coverage, (3, 3), "{:#?}", ok.provenance);
    let audit = audit_lengths(&r);

    let stranger = Key::generate().unwrap();
    let stale = Utc::now() - chrono::Duration::hours(1);
    let cases = [
        (
            "a self-made did:key without a certificate",
            query(&stranger, &me, REGION, &nonce(), Utc::now(), None, None),
            "access.denied",
        ),
        (
            "an expired query",
            query(&r.actors.app, &me, REGION, &nonce(), stale, cert, None),
            "query.expired",
        ),
        ("a replay", valid, "query.replayed"),
        (
            "a region this node is not in",
            query(
                &r.actors.app,
                &me,
                "elsewhere",
                &nonce(),
                Utc::now(),
                cert,
                None,
            ),
            "region.unknown",
        ),
    ];
    for (what, q, expected) in cases {
        let code = refused_at_coordinator(r.nodes[0].coordinate(q, DEADLINE).await);
        assert_eq!(code, expected, "{what}");
        assert_eq!(audit_lengths(&r)[1..], audit[1..], "{what}: members worked");
    }
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_are_keyed_by_the_nonce_alone() {
    let dirs = dirs();
    let r = live_region(&dirs).await;
    // A second certified application, registered at every node.
    let curious = region::curious_certificate(&r.actors, 7, Utc::now()).unwrap();
    for n in &r.nodes {
        n.engine
            .put_certificate(curious.raw().clone(), Utc::now())
            .unwrap();
    }
    let me = r.nodes[0].engine.did().clone();
    let shared = nonce();
    let x = query(
        &r.actors.app,
        &me,
        REGION,
        &shared,
        Utc::now(),
        Some(r.docs.certificate.hash()),
        None,
    );
    let y = query(
        &r.actors.curious,
        &me,
        REGION,
        &shared,
        Utc::now(),
        Some(curious.hash()),
        None,
    );
    let a = r.nodes[0].coordinate(x, DEADLINE).await.unwrap();
    assert_eq!(a.coverage, (3, 3), "{:#?}", a.provenance);
    // Application Y happens to draw the same nonce: its query is not X's replay.
    let b = r.nodes[0].coordinate(y, DEADLINE).await.unwrap();
    assert!(
        b.provenance.iter().all(|p| p.status == Status::Answered),
        "{:#?}",
        b.provenance
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proofs_expires_is_not_enforced() {
    let dirs = dirs();
    let r = live_region(&dirs).await;
    let cert = Some(r.docs.certificate.hash());
    let me = r.nodes[0].engine.did().clone();
    let issued = Utc::now() - chrono::Duration::seconds(10);
    let expired = Some(Utc::now() - chrono::Duration::seconds(1));
    let audit = audit_lengths(&r);
    let q = query(&r.actors.app, &me, REGION, &nonce(), issued, cert, expired);
    let code = refused_at_coordinator(r.nodes[0].coordinate(q.clone(), DEADLINE).await);
    assert_eq!(code, "proof.expired");
    assert_eq!(
        audit_lengths(&r),
        audit,
        "the coordinator or a member worked"
    );
    // Relayed by its origin straight to a member: refused there too.
    assert_eq!(relay(&r, 0, 1, &q).await, "proof.expired");
    r.stop().await;
}
