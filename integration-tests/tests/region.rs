//! A region's guarantees, with real nodes on loopback (sled in temporary directories, libp2p,
//! real signatures): membership is checked before any work, a query cannot be replayed, a
//! manifest signed below the threshold changes nothing, a query stays inside its region, and
//! a member signing two policies with one version is caught by its peers.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use regio_demo::region::{self, Actors};
use regio_integration_tests::fixture::{
    self, outsider, poll, query_entries, Region, COUNT_SQL, DEADLINE,
};
use regio_net::{NetError, Protocol};
use regio_node::federation::gossip::Gossip;
use regio_node::federation::{p2p, FederationError, Status};
use regio_policy::doc::cert::Revocation;
use regio_policy::doc::manifest::Member;
use regio_policy::{DocHash, Key, Signed};
use regio_store::audit::Kind;
use regio_store::DocKind;

const N: usize = 3;

fn first_addr(addrs: &[String]) -> regio_net::Multiaddr {
    addrs
        .iter()
        .find(|a| a.contains("/tcp/"))
        .expect("a TCP address")
        .parse()
        .expect("multiaddr")
}

/// (a) A peer outside the region is cut off by the network layer as soon as its connection
/// is established (issue 14: admission): its request finds no connection, the engine never
/// sees the query and the member's audit log does not mention it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_member_peer_is_refused_before_any_work() {
    let region = Region::start(N).await;
    let (stranger, _dir) = outsider(&Key::from_secret([77; 32])).await;
    let member = region.node(0);
    stranger
        .net
        .dial(first_addr(&member.addresses().await.unwrap()))
        .await
        .unwrap();
    let query = region.query(0, COUNT_SQL);
    let id = query["id"].as_str().unwrap().to_owned();
    let before = member.net.stats();

    let got = stranger
        .net
        .request(
            member.engine.did(),
            Protocol::Query,
            serde_json::to_vec(&query).unwrap(),
            DEADLINE,
        )
        .await;

    assert!(
        matches!(got, Err(NetError::Unreachable { .. })),
        "an outsider's connection must be closed at establishment: {got:?}"
    );
    let after = member.net.stats();
    assert!(
        after.connections_refused > before.connections_refused || before.connections_refused > 0,
        "the member refused no connection"
    );
    assert_eq!(
        after.requests_handled, before.requests_handled,
        "the engine was called"
    );
    assert!(
        query_entries(&member.engine)
            .iter()
            .all(|e| e.body["query"] != id.as_str()),
        "the refused query reached the audit log"
    );
    assert!(query_entries(&member.engine).is_empty());
    // The same query from a member is answered: only membership stopped it.
    let r = region.coordinate(0, query).await;
    assert_eq!(r.coverage, (N, N), "{:#?}", r.provenance);
}

/// (b) The same signed query sent twice: its coordinator refuses the second
/// `query.replayed` before any member works for it; relayed to the members anyway, every
/// member refuses it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_query_is_refused_by_every_member() {
    let region = Region::start(N).await;
    let query = region.query(1, COUNT_SQL);
    let first = region.coordinate(1, query.clone()).await;
    assert_eq!(first.coverage, (N, N), "{:#?}", first.provenance);
    let expected: u64 = (0..N)
        .map(|i| {
            regio_demo::expect::daily_counts(i, fixture::DAYS, fixture::SENSORS, &[], Utc::now())
                .values()
                .sum::<u64>()
        })
        .sum();
    assert_eq!(
        first.result.as_ref().unwrap()["rows"][0][0].as_u64(),
        Some(expected)
    );

    let audit = |r: &Region| -> Vec<usize> {
        (0..N)
            .map(|i| {
                let store = r.node(i).engine.store();
                store.audit_range(1, u64::MAX).unwrap().len()
            })
            .collect()
    };
    let before = audit(&region);
    match region.node(1).coordinate(query.clone(), DEADLINE).await {
        Err(FederationError::Query(r)) => assert_eq!(r.reason.code(), "query.replayed"),
        other => panic!("the replay was not refused by its coordinator: {other:?}"),
    }
    assert_eq!(audit(&region), before, "a member worked for the replay");
    for i in [0, 2] {
        let bytes = region
            .node(1)
            .net
            .request(
                region.node(i).engine.did(),
                Protocol::Query,
                serde_json::to_vec(&query).unwrap(),
                DEADLINE,
            )
            .await
            .unwrap();
        let answer = Signed::<regio_policy::doc::query::PartialAnswer>::from_json(&bytes).unwrap();
        assert!(
            matches!(&answer.doc().outcome, regio_policy::doc::query::Outcome::Refused { reason, .. } if reason == "query.replayed"),
            "member {i}: {:?}",
            answer.doc().outcome
        );
    }
}

/// (c) Version 2 of the manifest, adding a member but signed by fewer current members than
/// the threshold, is gossiped: every node keeps version 1 and the would-be member gets no query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_below_the_threshold_changes_nothing() {
    let region = Region::start(N).await;
    let live = &region.live;
    let newcomer_key = Key::from_secret([60; 32]);
    let (newcomer, _dir) = outsider(&newcomer_key).await;
    newcomer
        .net
        .dial(first_addr(&region.node(0).addresses().await.unwrap()))
        .await
        .unwrap();

    let v1 = &live.docs.manifest;
    assert_eq!(v1.doc().threshold, 2);
    let mut next = v1.doc().clone();
    next.version = 2;
    next.previous = Some(v1.hash());
    next.issued = Utc::now();
    next.members.push(Member {
        did: newcomer_key.did().clone(),
        nis: "12345".into(),
        name: "Nieuwdorp".into(),
        addresses: newcomer.addresses().await.unwrap(),
    });
    // One current member (below the threshold of 2) and the newcomer sign it.
    let v2 = Signed::sign(next, &live.actors.nodes[0], Utc::now())
        .unwrap()
        .cosign(&newcomer_key, Utc::now())
        .unwrap();
    assert!(
        region
            .node(1)
            .engine
            .put_manifest(v2.raw().clone(), Utc::now())
            .is_err(),
        "taken in directly"
    );

    // Once gossip from node 0 reaches every peer, publish the manifest, then a marker behind
    // it (a revocation of a made-up certificate): once the marker is stored at a peer, the
    // manifest before it was applied — or refused — there too.
    region.gossip_ready(0).await;
    let sender = &region.node(0).net;
    let manifest = Gossip::Manifest {
        doc: v2.raw().clone(),
    };
    poll(
        "manifest gossip published",
        Duration::from_secs(20),
        || async { p2p::publish(sender, region::REGION, &manifest).await.ok() },
    )
    .await;
    let rev = Revocation {
        certificate: DocHash([9; 32]),
        certificate_id: "urn:uuid:marker".into(),
        issuer: live.actors.certifier.did().clone(),
        reason: "marker".into(),
        revoked_at: Utc::now(),
    };
    let marker = Gossip::Revocation {
        doc: fixture::sign(rev, &live.actors.certifier),
    };
    poll(
        "marker applied at every peer",
        Duration::from_secs(20),
        || async {
            let _ = p2p::publish(sender, region::REGION, &marker).await;
            (1..N)
                .all(|i| {
                    !region
                        .node(i)
                        .engine
                        .store()
                        .documents(DocKind::Revocation)
                        .unwrap()
                        .is_empty()
                })
                .then_some(())
        },
    )
    .await;

    for i in 0..N {
        let regions = region.node(i).engine.regions();
        assert_eq!(regions.len(), 1);
        assert_eq!(regions[0].doc().version, 1, "node {i} took in version 2");
        assert_eq!(regions[0].hash(), v1.hash());
    }
    let r = region.coordinate(2, region.query(2, COUNT_SQL)).await;
    assert_eq!(r.coverage, (N, N));
    assert!(r.provenance.iter().all(|p| &p.member != newcomer_key.did()));
    assert_eq!(newcomer.net.stats().requests_handled, 0);
    assert!(query_entries(&newcomer.engine).is_empty());
}

/// (d) A node of another region on the same loopback, even connected to a member, never
/// receives the region's queries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_query_stays_inside_its_region() {
    let region = Region::start(N).await;
    let other = Actors {
        nodes: vec![Key::from_secret([50; 32])],
        ..Actors::new(0)
    };
    let kempen = Region::start_in("kempen-demo", other).await;
    let outside = kempen.node(0);
    outside
        .net
        .dial(first_addr(&region.node(0).addresses().await.unwrap()))
        .await
        .unwrap();
    assert_eq!(outside.engine.regions()[0].doc().region, "kempen-demo");

    for at in 0..N {
        let r = region.coordinate(at, region.query(at, COUNT_SQL)).await;
        assert_eq!(r.coverage, (N, N), "{:#?}", r.provenance);
        assert!(r
            .provenance
            .iter()
            .all(|p| &p.member != outside.engine.did()));
    }
    assert!(
        query_entries(&outside.engine).is_empty(),
        "{:?}",
        query_entries(&outside.engine)
    );
    let stats = outside.net.stats();
    assert_eq!(
        (stats.requests_handled, stats.requests_refused),
        (0, 0),
        "{stats:?}"
    );
    // Every member logged each of the N queries.
    for i in 0..N {
        assert_eq!(query_entries(&region.node(i).engine).len(), N);
    }
}

/// (e) A member signs two different policy bundles with one version and gossips both: its
/// peers keep the evidence and write it to their audit logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equivocation_is_caught_and_logged_by_peers() {
    let region = Region::start(N).await;
    let live = &region.live;
    let cheat = &live.actors.nodes[0];
    let v1 = &live.docs.policies[0];
    let fork = |min: u32| {
        let mut b = v1.doc().clone();
        b.version = 2;
        b.previous = Some(v1.hash());
        b.issued = Utc::now();
        b.disclosure.min_group_size = min;
        Signed::sign(b, cheat, Utc::now()).unwrap()
    };
    let (a, b) = (fork(10), fork(25));
    assert_ne!(a.hash(), b.hash());
    region.gossip_ready(0).await;
    let msgs = [
        Gossip::Policy {
            doc: a.raw().clone(),
        },
        Gossip::Policy {
            doc: b.raw().clone(),
        },
    ];
    let sender = &region.node(0).net;
    poll(
        "equivocation evidence at two peers",
        Duration::from_secs(20),
        || async {
            for m in &msgs {
                let _ = p2p::publish(sender, region::REGION, m).await;
            }
            (1..N)
                .all(|i| !region.node(i).engine.equivocations().is_empty())
                .then_some(())
        },
    )
    .await;

    for i in 1..N {
        let engine = &region.node(i).engine;
        let evidence = engine.equivocations();
        assert_eq!(evidence.len(), 1);
        assert_eq!((&evidence[0].issuer, evidence[0].version), (cheat.did(), 2));
        let mut pair = [evidence[0].a.hash(), evidence[0].b.hash()];
        pair.sort();
        let mut want = [a.hash(), b.hash()];
        want.sort();
        assert_eq!(pair, want);
        let logged = fixture::audit_entries(engine, Kind::EquivocationDetected);
        assert_eq!(logged.len(), 1, "node {i}");
        assert_eq!(logged[0].body["issuer"], cheat.did().as_str());
        assert_eq!(logged[0].body["version"], 2);
    }
    // The cheat itself does not judge its own bundles.
    assert!(region.node(0).engine.equivocations().is_empty());
    assert!(matches!(
        region
            .coordinate(1, region.query(1, COUNT_SQL))
            .await
            .provenance[0]
            .status,
        Status::Answered
    ));
}
