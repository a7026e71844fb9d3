//! Live in-process nodes (owner: demo), each started by the production assembly
//! ([`regio_node::server::start`]): engine on its store, libp2p and the HTTP API on loopback
//! (free ports), federation with gossip, re-join and anti-entropy. Used by `regio demo` and
//! by the multi-node tests, so that every multi-node setup runs the production wiring; they
//! choose the [`Spec`] (intervals, limits, network tunables), never the wiring.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::region::{self, Actors, BuildError, Documents};
use regio_net::NetError;
use regio_node::api::AdminToken;
use regio_node::config::Config;
use regio_node::engine::Engine;
use regio_node::federation::p2p::{self, NetTransport};
use regio_node::federation::{coordinate, FederatedResult, FederationError};
use regio_node::server::{self, Running, ServerError, Spec};
use regio_policy::{Did, Key};
use regio_store::Store;

/// Why a live node or region could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The node did not start.
    #[error("starting a node: {0}")]
    Start(#[from] ServerError),
    /// No random admin token could be drawn.
    #[error("drawing an admin token: {0}")]
    Token(String),
    /// The network did not answer.
    #[error("network: {0}")]
    Net(#[from] NetError),
    /// The region's documents could not be built or loaded.
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// The configuration of an in-process node: API and libp2p (TCP and QUIC) on loopback, on
/// free ports; `clerks` may register consent on behalf of citizens.
pub fn loopback_config(clerks: Vec<Did>) -> Config {
    let mut c = Config::new("00000", "in-process node");
    c.api = "127.0.0.1:0".into();
    c.listen = vec![
        regio_net::tcp_loopback(0).to_string(),
        regio_net::quic_loopback(0).to_string(),
    ];
    c.clerks = clerks;
    c
}

/// One running node: its engine and its network.
pub struct LiveNode {
    /// The engine (policy, data, audit log); readable after [`LiveNode::stop`].
    pub engine: Arc<Engine>,
    /// The network handle.
    pub net: regio_net::Handle,
    /// The HTTP API's base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// The admin token of its API.
    pub token: AdminToken,
    running: Mutex<Option<Running>>,
}

impl LiveNode {
    /// Starts a node with `key` on `store` ([`loopback_config`]).
    pub async fn start(
        key: &Key,
        store: Store,
        clerks: Vec<Did>,
    ) -> Result<LiveNode, ClusterError> {
        LiveNode::start_with(key, store, clerks, |_| {}).await
    }

    /// [`LiveNode::start`], with `tune` choosing the spec's configuration first (gossip
    /// interval, decision limits, the network's idle timeout, …).
    pub async fn start_with(
        key: &Key,
        store: Store,
        clerks: Vec<Did>,
        tune: impl FnOnce(&mut Spec),
    ) -> Result<LiveNode, ClusterError> {
        let token = AdminToken::random().map_err(|e| ClusterError::Token(e.to_string()))?;
        let mut spec = Spec::new(loopback_config(clerks), key.clone(), token.clone(), store);
        tune(&mut spec);
        let running = server::start(spec).await?;
        Ok(LiveNode {
            engine: running.engine().clone(),
            net: running.net().clone(),
            url: running.url(),
            token,
            running: Mutex::new(Some(running)),
        })
    }

    /// The multiaddresses it listens on, as text.
    pub async fn addresses(&self) -> Result<Vec<String>, NetError> {
        Ok(self
            .net
            .listen_addrs()
            .await?
            .iter()
            .map(|a| a.to_string())
            .collect())
    }

    /// Tells the network about the regions the engine is in (members, gossip topics), as
    /// the admin API does after it stored a manifest.
    pub async fn join_regions(&self) -> Result<(), NetError> {
        p2p::join_regions(&self.engine, &self.net).await
    }

    /// Coordinates a federated query from this node over libp2p.
    pub async fn coordinate(
        &self,
        query: serde_json::Value,
        deadline: Duration,
    ) -> Result<FederatedResult, FederationError> {
        coordinate(
            self.engine.clone(),
            &NetTransport(self.net.clone()),
            query,
            deadline,
            Utc::now(),
        )
        .await
    }

    /// Stops the node in the production order (API, federation and network, audit
    /// checkpoint) and waits until it is down. The engine and its store stay readable.
    /// Stopping twice does nothing.
    pub async fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(r) = running {
            if let Err(e) = r.stop().await {
                tracing::warn!(error = %e, "an in-process node stopped with an error");
            }
        }
    }
}

/// A running demo region: its actors, signed documents and nodes (in manifest order).
pub struct LiveRegion {
    /// Everyone's keys.
    pub actors: Actors,
    /// The signed documents every node holds.
    pub docs: Documents,
    /// The nodes.
    pub nodes: Vec<LiveNode>,
}

impl LiveRegion {
    /// Starts one node per key of `actors.nodes` on `stores` (same order), signs the region's
    /// documents (under [`region::exact_charter`]; [`LiveRegion::start_full`] takes another
    /// charter) with their real addresses, loads each node with `days` days of `sensors`
    /// sensors of synthetic data, and joins them to the region.
    pub async fn start(
        actors: Actors,
        stores: Vec<Store>,
        days: usize,
        sensors: usize,
        now: DateTime<Utc>,
    ) -> Result<LiveRegion, ClusterError> {
        LiveRegion::start_in(region::REGION, actors, stores, days, sensors, now).await
    }

    /// [`LiveRegion::start`] for a region with id `region`.
    pub async fn start_in(
        region: &str,
        actors: Actors,
        stores: Vec<Store>,
        days: usize,
        sensors: usize,
        now: DateTime<Utc>,
    ) -> Result<LiveRegion, ClusterError> {
        LiveRegion::start_with(region, actors, stores, days, sensors, now, |_, _| {}).await
    }

    /// [`LiveRegion::start_in`], with `tune` choosing each node's configuration (called with
    /// the node's index and its spec).
    pub async fn start_with(
        region: &str,
        actors: Actors,
        stores: Vec<Store>,
        days: usize,
        sensors: usize,
        now: DateTime<Utc>,
        tune: impl Fn(usize, &mut Spec),
    ) -> Result<LiveRegion, ClusterError> {
        let charter = region::exact_charter();
        LiveRegion::start_full(region, &charter, actors, stores, (days, sensors), now, tune).await
    }

    /// [`LiveRegion::start`] under `charter` (the body of an inclusion charter, e.g.
    /// [`region::CHARTER_JSON`] with a clause changed) instead of the default charter.
    pub async fn start_chartered(
        charter: &serde_json::Value,
        actors: Actors,
        stores: Vec<Store>,
        days: usize,
        sensors: usize,
        now: DateTime<Utc>,
    ) -> Result<LiveRegion, ClusterError> {
        let data = (days, sensors);
        LiveRegion::start_full(
            region::REGION,
            charter,
            actors,
            stores,
            data,
            now,
            |_, _| {},
        )
        .await
    }

    /// Starts a region `region` under `charter` (e.g. [`region::default_charter`]).
    pub async fn start_full(
        region: &str,
        charter: &serde_json::Value,
        actors: Actors,
        stores: Vec<Store>,
        (days, sensors): (usize, usize),
        now: DateTime<Utc>,
        tune: impl Fn(usize, &mut Spec),
    ) -> Result<LiveRegion, ClusterError> {
        let mut nodes = Vec::with_capacity(stores.len());
        for (i, (key, store)) in actors.nodes.iter().zip(stores).enumerate() {
            let clerks = vec![actors.clerk.did().clone()];
            nodes.push(LiveNode::start_with(key, store, clerks, |s| tune(i, s)).await?);
        }
        let mut addresses = Vec::with_capacity(nodes.len());
        for n in &nodes {
            addresses.push(n.addresses().await?);
        }
        let docs = region::documents_with(region, charter, &actors, &addresses, now)?;
        for (i, n) in nodes.iter().enumerate() {
            region::load(&n.engine, i, &docs, days, sensors, now)?;
            n.join_regions().await?;
        }
        Ok(LiveRegion {
            actors,
            docs,
            nodes,
        })
    }

    /// Stops every node's network.
    pub async fn stop(&self) {
        for n in &self.nodes {
            n.stop().await;
        }
    }
}
