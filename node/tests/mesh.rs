//! A region larger than the full mesh, in one process over libp2p on loopback: each node keeps
//! connections to its neighbours only, still hears every member, gossip still reaches every
//! member, a query still gets every member's answer (dialling the others on demand), and the
//! on-demand connections close again once idle.
//!
//! Six nodes with `full_mesh_up_to = 2`: on the ring of six, each node's neighbours are at
//! distance ±1, ±2, ±4, so exactly one member (the one opposite) is not a neighbour.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use regio_demo::cluster::LiveRegion;
use regio_demo::region::{self, Actors};
use regio_net::{Handle, PeerSeen};
use regio_node::federation::Status;
use regio_policy::doc::query::Outcome;
use regio_policy::Did;
use regio_store::Store;

const N: usize = 6;
const SQL: &str = "SELECT count(*) AS n FROM readings";
const IDLE: Duration = Duration::from_millis(1500);

async fn peers(net: &Handle) -> Vec<PeerSeen> {
    net.peers().await.unwrap()
}

/// Polls `check` every 100 ms until it returns `Ok`, failing with its last `Err` after 20 s.
async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match check().await {
            Ok(v) => return v,
            Err(e) if started.elapsed() > Duration::from_secs(20) => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn dids(seen: &[PeerSeen], pick: impl Fn(&PeerSeen) -> bool) -> BTreeSet<Did> {
    seen.iter()
        .filter(|p| pick(p))
        .map(|p| p.did.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_region_keeps_neighbours_only_and_still_answers_and_gossips_to_everyone() {
    let actors = Actors::new(N);
    let stores = (0..N).map(|_| Store::memory()).collect();
    let live = LiveRegion::start_with(region::REGION, actors, stores, 1, 5, Utc::now(), |_, s| {
        s.config.full_mesh_up_to = 2;
        s.config.gossip_interval_ms = 200;
        s.net.idle_timeout = IDLE;
    })
    .await
    .unwrap();
    let (actors, docs) = (&live.actors, &live.docs);
    let running = &live.nodes;

    // 1. Each node: four neighbours, connected to exactly those, and hears all five others
    //    (the opposite member's digests arrive forwarded).
    let everyone: Vec<Did> = actors.nodes.iter().map(|k| k.did().clone()).collect();
    for (i, r) in running.iter().enumerate() {
        let others: BTreeSet<Did> = everyone
            .iter()
            .filter(|d| *d != &everyone[i])
            .cloned()
            .collect();
        until(
            &format!("node {i}: neighbours connected, every member heard"),
            async || {
                let seen = peers(&r.net).await;
                let neighbours = dids(&seen, |p| p.neighbour);
                let connected = dids(&seen, |p| p.connected);
                let heard = dids(&seen, |p| p.heard.is_some());
                if neighbours.len() == N - 2 && connected == neighbours && heard == others {
                    Ok(())
                } else {
                    Err(format!(
                        "{} neighbours, connected {connected:?}, heard {heard:?}",
                        neighbours.len()
                    ))
                }
            },
        )
        .await;
    }
    let far: Did = {
        let seen = peers(&running[0].net).await;
        let far = dids(&seen, |p| !p.neighbour);
        assert_eq!(
            far.len(),
            1,
            "exactly one member is not a neighbour of node 0: {seen:?}"
        );
        far.into_iter().next().unwrap()
    };

    // 2. A revocation filed at node 0 reaches every member, the one it has no connection to
    //    included.
    let rev = region::revocation(
        actors,
        docs,
        "the algorithm changed without review",
        Utc::now(),
    )
    .unwrap();
    running[0]
        .engine
        .put_revocation(rev.raw().clone(), Utc::now())
        .unwrap();
    // Gossip crosses two or three hops: wait until every member (the opposite one
    // included) refuses the certificate on its own.
    for engine in running.iter().map(|n| &n.engine) {
        until(&format!("the revocation at {}", engine.did()), async || {
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
                Outcome::Refused { reason, .. } if reason == "certificate.revoked" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }

    // 3. A query at node 0 reaches all six (the opposite one over a connection dialled for
    //    it); every member refuses the revoked certificate, for that reason.
    let q = region::query(
        &actors.app,
        running[0].engine.did(),
        "ResearchAndDevelopment",
        SQL,
        Some(docs.certificate.hash()),
        Utc::now(),
    )
    .unwrap();
    let r = running[0]
        .coordinate(q, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(r.coverage, (0, N), "{:#?}", r.provenance);
    for p in &r.provenance {
        assert!(
            matches!(&p.status, Status::Refused { reason, .. } if reason == "certificate.revoked"),
            "{p:?}"
        );
    }
    let seen = peers(&running[0].net).await;
    assert!(
        dids(&seen, |p| p.connected).contains(&far),
        "the query's connection to the opposite member: {seen:?}"
    );

    // 4. Idle for longer than the idle timeout, the on-demand connection is closed again; the
    //    neighbours stay.
    until(
        "the on-demand connection closed after the idle timeout",
        async || {
            let seen = peers(&running[0].net).await;
            let connected = dids(&seen, |p| p.connected);
            if !connected.contains(&far) && connected == dids(&seen, |p| p.neighbour) {
                Ok(())
            } else {
                Err(format!("{connected:?}"))
            }
        },
    )
    .await;

    for r in running {
        r.stop().await;
    }
}
