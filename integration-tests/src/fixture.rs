//! The region every multi-node test starts from: real nodes in this process, each an engine on
//! sled in its own temporary directory and libp2p on loopback, loaded with the demo's signed
//! documents and synthetic data (`regio_demo`). Tests add what they need on top.
// Test support: a failed unwrap fails the test that called it, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::Utc;
use regio_demo::cluster::{LiveNode, LiveRegion};
use regio_demo::region::{self, Actors};
use regio_node::engine::Engine;
use regio_node::federation::gossip::Gossip;
use regio_node::federation::{p2p, FederatedResult};
use regio_policy::{Key, Signed};
use regio_store::audit::{Entry, Kind};
use regio_store::Store;
use serde_json::Value;
use tempfile::TempDir;

/// Days of readings per node.
pub const DAYS: usize = 3;
/// Sensors per node: enough consenting citizens that groups are released (the minimum group
/// size counts distinct citizens).
pub const SENSORS: usize = regio_demo::data::SENSORS;
/// Readings per node, for research.
pub const COUNT_SQL: &str = "SELECT count(*) AS n FROM readings";
/// The purpose the demo's application declares.
pub const PURPOSE: &str = "ResearchAndDevelopment";
/// Deadline of the tests' queries.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A running region and the directories of its databases (removed when dropped).
pub struct Region {
    /// Actors, documents and nodes.
    pub live: LiveRegion,
    _dirs: Vec<TempDir>,
}

/// A sled store in a fresh temporary directory.
pub fn sled_store() -> (Store, TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open_sled(dir.path()).expect("sled store");
    (store, dir)
}

impl Region {
    /// Starts `n` nodes with the demo's fixed keys in the demo region.
    pub async fn start(n: usize) -> Region {
        Region::start_in(region::REGION, Actors::new(n)).await
    }

    /// Starts one node per key of `actors.nodes` in the region `id`.
    pub async fn start_in(id: &str, actors: Actors) -> Region {
        let (stores, dirs): (Vec<Store>, Vec<TempDir>) =
            actors.nodes.iter().map(|_| sled_store()).unzip();
        let live = LiveRegion::start_in(id, actors, stores, DAYS, SENSORS, Utc::now())
            .await
            .expect("region starts");
        Region { live, _dirs: dirs }
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &LiveNode {
        &self.live.nodes[i]
    }

    /// A signed query of the certified application (with its certificate) addressed to node `at`.
    pub fn query(&self, at: usize, sql: &str) -> Value {
        let cert = Some(self.live.docs.certificate.hash());
        region::query(
            &self.live.actors.app,
            self.node(at).engine.did(),
            PURPOSE,
            sql,
            cert,
            Utc::now(),
        )
        .expect("query signs")
    }

    /// Coordinates `query` from node `at`.
    pub async fn coordinate(&self, at: usize, query: Value) -> FederatedResult {
        self.node(at)
            .coordinate(query, DEADLINE)
            .await
            .expect("federated result")
    }

    /// Waits until gossip from node `from` reaches every other node (the mesh has formed and
    /// `from` knows every subscriber): publishes `from`'s policy until each peer has noted it.
    pub async fn gossip_ready(&self, from: usize) {
        let msg = Gossip::Policy {
            doc: self.live.docs.policies[from].raw().clone(),
        };
        let did = self.node(from).engine.did();
        let net = &self.node(from).net;
        poll(
            "gossip from every member reaching every other",
            Duration::from_secs(20),
            || async {
                let _ = p2p::publish(net, region::REGION, &msg).await;
                (0..self.live.nodes.len())
                    .filter(|i| *i != from)
                    .all(|i| self.node(i).engine.peer_heads().contains_key(did))
                    .then_some(())
            },
        )
        .await;
    }
}

/// A node outside every region: its own key, its own sled directory, libp2p on loopback.
pub async fn outsider(key: &Key) -> (LiveNode, TempDir) {
    let (store, dir) = sled_store();
    (
        LiveNode::start(key, store, Vec::new())
            .await
            .expect("node starts"),
        dir,
    )
}

/// The query entries (answered or refused) of a node's audit log.
pub fn query_entries(engine: &Engine) -> Vec<Entry> {
    let log = engine.store().audit_range(1, u64::MAX).expect("audit log");
    log.into_iter()
        .filter(|e| matches!(e.kind, Kind::QueryAnswered | Kind::QueryRefused))
        .collect()
}

/// The audit entries of one kind.
pub fn audit_entries(engine: &Engine, kind: Kind) -> Vec<Entry> {
    engine
        .store()
        .audit_range(1, u64::MAX)
        .expect("audit log")
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

/// Runs `attempt` until it returns `Some`, at most `limit`; panics naming `what` otherwise.
pub async fn poll<T, F: Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut attempt: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = attempt().await {
            return v;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `doc` signed by `key` (test documents).
pub fn sign<T: regio_policy::Document>(doc: T, key: &Key) -> Value {
    Signed::sign(doc, key, Utc::now())
        .expect("signs")
        .raw()
        .clone()
}
