//! Issue 14, "who may change a region": three real nodes in one process (libp2p on
//! loopback, sled stores). A member that gossips a region of its own making — a fresh
//! version-1 manifest whose co-founders are keys it just made, with a permissive charter —
//! installs nothing anywhere: no node stores it, joins it (allow-list, dials, topic) or
//! keeps it after a restart, and a query naming it is refused. A node in two regions keeps
//! their documents, charters, quotas and certificates apart.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod trust;

use std::time::{Duration, Instant};

use chrono::Utc;
use regio_demo::cluster::LiveNode;
use regio_demo::region::{self, REGION};
use regio_node::federation::gossip::Gossip;
use regio_node::federation::p2p;
use regio_policy::Key;
use regio_store::{DocKind, Store};

use trust::{
    control_revocation, fake_region, live_region, nonce, query, relay, two_regions, BORDER,
    GOSSIP_MS,
};

const FAKE: &str = "fake-region";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_installs_regions() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut r = live_region(&dirs).await;
    // Node 0 turns: it makes two keys and founds a region with them, in which anything goes.
    let fakes = [Key::generate().unwrap(), Key::generate().unwrap()];
    let attacker = &r.actors.nodes[0];
    let (charter, manifest) = fake_region(FAKE, attacker, &fakes);
    let fake_hash = manifest.hash();
    // A control document every node must take (a revocation by the region's certifier of a
    // second certificate): once it arrived, the fake documents published before it did too.
    let control = control_revocation(&r.actors, 2);
    let started = Instant::now();
    loop {
        for msg in [
            Gossip::Charter {
                doc: charter.raw().clone(),
            },
            Gossip::Manifest {
                doc: manifest.raw().clone(),
            },
            Gossip::Revocation {
                doc: control.raw().clone(),
            },
        ] {
            let _ = p2p::publish(&r.nodes[0].net, REGION, &msg).await;
        }
        let arrived = r.nodes[1..].iter().all(|n| {
            n.engine
                .store()
                .document(DocKind::Revocation, &control.hash().0)
                .unwrap()
                .is_some()
        });
        if arrived {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the control revocation did not reach the other nodes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A round of digests: a sync would bring the fake region too, if any node served it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (i, n) in r.nodes.iter().enumerate().skip(1) {
        // Dropped, for the cause, and counted.
        let dropped = n.engine.dropped();
        for cause in ["manifest.other_region", "charter.not_the_regions"] {
            assert!(
                dropped.get(cause).is_some_and(|&c| c >= 1),
                "node {i} dropped {dropped:?}"
            );
        }
        let stored = n
            .engine
            .store()
            .document(DocKind::Manifest, &fake_hash.0)
            .unwrap();
        assert!(stored.is_none(), "node {i} stored the gossiped fake region");
        let regions: Vec<String> = n
            .engine
            .regions()
            .iter()
            .map(|m| m.doc().region.clone())
            .collect();
        assert_eq!(regions, [REGION], "node {i}'s regions");
        let peers: Vec<_> = n.net.peers().await.unwrap();
        for k in &fakes {
            assert!(
                peers.iter().all(|p| &p.did != k.did()),
                "node {i} let a made-up co-founder in: {peers:?}"
            );
        }
    }
    // The attacker asks node 1 over libp2p for an answer in its region: refused.
    let q = region::query_in(
        FAKE,
        &r.actors.app,
        attacker.did(),
        "ResearchAndDevelopment",
        "SELECT count(*) AS n FROM readings",
        None,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(
        relay(&r.nodes[0], r.nodes[1].engine.did(), &q).await,
        "region.unknown"
    );
    // Restarted on its directory, node 1 still knows nothing of it.
    let node = r.nodes.remove(1);
    node.stop().await;
    drop(node);
    let store = Store::open_sled(dirs[1].path()).unwrap();
    let node = LiveNode::start(&r.actors.nodes[1], store, vec![])
        .await
        .unwrap();
    node.join_regions().await.unwrap();
    assert!(node
        .engine
        .store()
        .document(DocKind::Manifest, &fake_hash.0)
        .unwrap()
        .is_none());
    assert!(node.engine.regions().iter().all(|m| m.doc().region != FAKE));
    node.stop().await;
    for n in &r.nodes {
        n.stop().await;
    }
}

/// Waits until node `n` has seen `of`'s policy head at version `version`.
async fn wait_head(n: &LiveNode, of: &regio_policy::Did, version: u64) {
    let started = Instant::now();
    while n.engine.peer_heads().get(of).map(|h| h.0) != Some(version) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no policy head v{version} of {of} reached {}",
            n.engine.did()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn statuses(r: &regio_node::federation::FederatedResult) -> Vec<String> {
    r.provenance
        .iter()
        .map(|p| match &p.status {
            regio_node::federation::Status::Answered => "answered".into(),
            regio_node::federation::Status::Refused { reason, .. } => reason.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_in_two_regions_mixes_their_documents() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (r, node3, border, bdocs) = two_regions(&dirs).await;
    let (n0, d0) = (&r.nodes[0], r.nodes[0].engine.did().clone());
    // A revocation in the demo region, of a second certificate of its certifier.
    let other = region::certificate(&r.actors, 3, Utc::now()).unwrap();
    n0.engine
        .put_certificate(other.raw().clone(), Utc::now())
        .unwrap();
    // Anti-entropy has run in both regions once node 3 knows node 0's policy v2.
    wait_head(&node3, &d0, 2).await;
    wait_head(&r.nodes[1], &d0, 2).await;
    tokio::time::sleep(Duration::from_millis(4 * GOSSIP_MS)).await;
    // Nothing of the demo region reached node 3: not its manifest, charter, certificates,
    // nor the policies of its other members.
    let s3 = node3.engine.store();
    for (kind, hash, what) in [
        (DocKind::Manifest, r.docs.manifest.hash(), "manifest"),
        (DocKind::Charter, r.docs.charter.hash(), "charter"),
        (
            DocKind::Certificate,
            r.docs.certificate.hash(),
            "certificate",
        ),
        (DocKind::Certificate, other.hash(), "second certificate"),
    ] {
        assert!(
            s3.document(kind, &hash.0).unwrap().is_none(),
            "the demo region's {what} reached node 3"
        );
    }
    let heads: Vec<_> = node3.engine.peer_heads().into_keys().collect();
    assert_eq!(
        heads,
        std::slice::from_ref(&d0),
        "node 3 holds policies of non-members"
    );
    // Nor did the border region's documents reach nodes 1 and 2.
    for n in &r.nodes[1..] {
        let s = n.engine.store();
        assert!(s
            .document(DocKind::Manifest, &bdocs.manifest.hash().0)
            .unwrap()
            .is_none());
        assert!(s
            .document(DocKind::Certificate, &bdocs.certificate.hash().0)
            .unwrap()
            .is_none());
    }

    // Quotas apart: the border charter allows one query per member per hour; the demo
    // region's answers do not change when it is spent.
    let app = &border.app;
    let ask = |region: &str, cert| {
        n0.coordinate(
            query(app, &d0, region, &nonce(), Utc::now(), Some(cert), None),
            Duration::from_secs(10),
        )
    };
    let x = r.docs.certificate.hash();
    let y = bdocs.certificate.hash();
    assert_eq!(statuses(&ask(REGION, x).await.unwrap()), ["answered"; 3]);
    assert_eq!(statuses(&ask(BORDER, y).await.unwrap()), ["answered"; 2]);
    assert_eq!(
        statuses(&ask(BORDER, y).await.unwrap()),
        ["charter.quota_exceeded"; 2]
    );
    assert_eq!(statuses(&ask(REGION, x).await.unwrap()), ["answered"; 3]);
    // A certificate of the demo region's certifier does not let a query in the border
    // region through, at node 0 (which holds it) nor at node 3 (which never saw it).
    let q = query(app, &d0, BORDER, &nonce(), Utc::now(), Some(x), None);
    assert_eq!(
        relay(n0, node3.engine.did(), &q).await,
        "certificate.missing"
    );
    node3.stop().await;
    r.stop().await;
}
