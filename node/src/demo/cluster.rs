//! Live in-process nodes (owner: demo): an [`Engine`] on a store, libp2p on loopback answering
//! peers with the engine, gossip applied to the engine, and a way to stop the network. Used by
//! `regio demo` and by the multi-node tests, so that every multi-node setup is this one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::region::{self, Actors, BuildError, Documents};
use crate::engine::{Engine, OpenError};
use crate::federation::p2p::{self, EngineInbound, NetTransport};
use crate::federation::{coordinate, FederatedResult, FederationError};
use crate::net::{self, NetConfig, NetError};
use crate::policy::decision::Limits;
use crate::policy::{Did, Key};
use crate::store::Store;

/// Why a live node or region could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The engine did not open on its store.
    #[error("opening the engine: {0}")]
    Open(#[from] OpenError),
    /// The network did not start or did not answer.
    #[error("network: {0}")]
    Net(#[from] NetError),
    /// The region's documents could not be built or loaded.
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// One running node: its engine and its network.
pub struct LiveNode {
    /// The engine (policy, data, audit log).
    pub engine: Arc<Engine>,
    /// The network handle.
    pub net: net::Handle,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl LiveNode {
    /// Starts a node with `key` on `store`, listening on loopback (TCP and QUIC, any port).
    /// `clerks` may register consent on behalf of citizens.
    pub async fn start(
        key: &Key,
        store: Store,
        clerks: Vec<Did>,
    ) -> Result<LiveNode, ClusterError> {
        let engine = Arc::new(Engine::open(store, key.clone(), clerks, Limits::default())?);
        let (inbound, gossip) = EngineInbound::new(engine.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let (net, task) = net::start(NetConfig::loopback(), key, inbound, async move {
            // Err when the sender is dropped without a send: stop then too.
            let _ = stopped.await;
        })
        .await?;
        tokio::spawn(p2p::apply_gossip(engine.clone(), gossip));
        Ok(LiveNode {
            engine,
            net,
            stop: Mutex::new(Some(stop)),
            task: Mutex::new(Some(task)),
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

    /// Tells the network about the regions the engine is in (members, gossip topics).
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

    /// Stops the network (listeners and connections close) and waits until it is down. The
    /// engine and its store stay readable. Stopping twice does nothing.
    pub async fn stop(&self) {
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(s) = stop {
            // Err only when the network task already ended: awaited just below.
            let _ = s.send(());
        }
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = task {
            if let Err(e) = t.await {
                tracing::error!(node = %self.engine.did(), error = %e, "the network task failed");
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
    /// documents with their real addresses, loads each node with `days` days of `sensors`
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
        let mut nodes = Vec::with_capacity(stores.len());
        for (key, store) in actors.nodes.iter().zip(stores) {
            nodes.push(LiveNode::start(key, store, vec![actors.clerk.did().clone()]).await?);
        }
        let mut addresses = Vec::with_capacity(nodes.len());
        for n in &nodes {
            addresses.push(n.addresses().await?);
        }
        let docs = region::documents_in(region, &actors, &addresses, now)?;
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
