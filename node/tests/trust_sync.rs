//! Issue 14, "what a peer can make a node hold": three or four real nodes in one process
//! (libp2p on loopback, sled stores). Only a region's members are served its documents;
//! certificates of anyone but the region's certifiers are not stored; anti-entropy pages its
//! replies, so a region whose documents outgrow one reply still converges.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod trust;

use std::time::{Duration, Instant};

use chrono::Utc;
use regio_demo::region::{self, REGION};
use regio_net::{NetError, Protocol};
use regio_node::federation::gossip::Gossip;
use regio_node::federation::p2p;
use regio_node::federation::sync::{SyncBody, SyncRequest};
use regio_policy::Key;
use regio_store::DocKind;

use trust::{live_region, live_region_tuned, two_regions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_serves_non_members() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (r, node3, _, _) = two_regions(&dirs).await;
    // Node 3 shares the border region with node 0, not the demo region: it asks for the
    // demo region's documents anyway.
    let body = SyncBody {
        sync: SyncRequest {
            region: REGION.into(),
            have: vec![],
            after: None,
        },
    };
    let reply = node3
        .net
        .request(
            r.nodes[0].engine.did(),
            Protocol::Chain,
            body.to_bytes(),
            Duration::from_secs(10),
        )
        .await;
    match reply {
        Err(NetError::Refused { reason }) => assert_eq!(reason, "peer.not_member"),
        Ok(bytes) => panic!(
            "served a non-member: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        ),
        Err(e) => panic!("failed instead of refused: {e}"),
    }
    node3.stop().await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_certificate_is_stored_forever() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let r = live_region(&dirs).await;
    // A member gossips certificates signed by a key nobody trusts (it could send millions).
    let junk = Key::generate().unwrap();
    let mut a = region::Actors::new(3);
    a.certifier = junk;
    let junk: Vec<_> = (10..15)
        .map(|i| region::certificate(&a, i, Utc::now()).unwrap())
        .collect();
    let control = trust::control_revocation(&r.actors, 2);
    let started = Instant::now();
    loop {
        for c in &junk {
            let msg = Gossip::Certificate {
                doc: c.raw().clone(),
            };
            let _ = p2p::publish(&r.nodes[0].net, REGION, &msg).await;
        }
        let msg = Gossip::Revocation {
            doc: control.raw().clone(),
        };
        let _ = p2p::publish(&r.nodes[0].net, REGION, &msg).await;
        let arrived = r.nodes[1..].iter().all(|n| {
            let s = n.engine.store();
            s.document(DocKind::Revocation, &control.hash().0)
                .unwrap()
                .is_some()
        });
        if arrived {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no control");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(4 * trust::GOSSIP_MS)).await;
    for (i, n) in r.nodes.iter().enumerate() {
        let stored = n.engine.store().documents(DocKind::Certificate).unwrap();
        let held: Vec<_> = junk
            .iter()
            .filter(|c| stored.iter().any(|s| s.hash == c.hash().0))
            .collect();
        assert!(
            held.is_empty(),
            "node {i} stored {} junk certificates",
            held.len()
        );
    }
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_replies_outgrow_their_cap() {
    const CERTS: u32 = 60;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // Replies of at most 32 KiB: the certificates below take about twice that.
    let r = live_region_tuned(&dirs, |s| s.net.max_response_bytes = 32 * 1024).await;
    let certs: Vec<_> = (100..100 + CERTS)
        .map(|i| region::certificate(&r.actors, i, Utc::now()).unwrap())
        .collect();
    let size: usize = certs
        .iter()
        .map(|c| serde_json::to_vec(c.raw()).unwrap().len())
        .sum();
    assert!(size > 48 * 1024, "only {size} bytes");
    for c in &certs {
        r.nodes[0]
            .engine
            .put_certificate(c.raw().clone(), Utc::now())
            .unwrap();
    }
    let started = Instant::now();
    loop {
        let held = |n: &regio_demo::cluster::LiveNode| {
            let stored = n.engine.store().documents(DocKind::Certificate).unwrap();
            certs
                .iter()
                .filter(|c| stored.iter().any(|s| s.hash == c.hash().0))
                .count()
        };
        let counts: Vec<usize> = r.nodes.iter().map(held).collect();
        if counts.iter().all(|&c| c == CERTS as usize) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "anti-entropy did not converge: {counts:?} of {CERTS} certificates"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certifier_fills_a_node_without_bound() {
    const CAP: usize = 5;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let r = live_region_tuned(&dirs, |s| {
        s.config.documents.certificates_per_certifier = CAP;
    })
    .await;
    // Node 0's admin registers ten more certificates of the region's certifier (the admin
    // API is not capped); the peers take in at most CAP of that certifier's in all.
    for i in 200..210 {
        let c = region::certificate(&r.actors, i, Utc::now()).unwrap();
        r.nodes[0]
            .engine
            .put_certificate(c.raw().clone(), Utc::now())
            .unwrap();
    }
    let count = |n: &regio_demo::cluster::LiveNode| {
        n.engine
            .store()
            .documents(DocKind::Certificate)
            .unwrap()
            .len()
    };
    let started = Instant::now();
    while r.nodes[1..].iter().any(|n| count(n) < CAP) {
        assert!(started.elapsed() < Duration::from_secs(20), "no sync");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(6 * trust::GOSSIP_MS)).await;
    assert_eq!(count(&r.nodes[0]), 11);
    for n in &r.nodes[1..] {
        assert_eq!(count(n), CAP);
        assert!(n
            .engine
            .dropped()
            .get("author.cap")
            .is_some_and(|&c| c >= 1));
    }
    r.stop().await;
}
