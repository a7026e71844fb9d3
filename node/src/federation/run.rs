//! A federating node's background work (owner: federation): the network task answering
//! peers with the engine, gossip applied to the engine (regions re-joined whenever a
//! manifest version takes effect), and **anti-entropy** — every `gossip_interval` the node
//! republishes its policy head, the current manifests, and the certificates and revocations
//! it knows on every region topic, because gossipsub does not replay history: a node that was
//! partitioned, restarted or admitted late converges within one interval.
//!
//! [`start`] brings it all up; [`Running::stop`] takes it down in order (anti-entropy, then
//! the network task, awaited, then the gossip queue drained).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::gossip::{Applied, Gossip};
use super::p2p::{join_regions, EngineInbound};
use crate::engine::Engine;
use crate::net::{self, Handle, NetConfig, NetError};
use crate::policy::Key;

/// The running network of a node. Dropping it without [`Running::stop`] leaves the tasks
/// running until the runtime ends.
pub struct Running {
    /// The handle on the network task.
    pub net: Handle,
    stop: Option<oneshot::Sender<()>>,
    net_task: JoinHandle<()>,
    gossip_task: JoinHandle<()>,
    sync_task: JoinHandle<()>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("net", &self.net).finish_non_exhaustive()
    }
}

/// Starts the network for `engine` (listening on `config.listen`), joins the regions the
/// engine is in, and spawns gossip application and anti-entropy every `gossip_interval`.
pub async fn start(engine: Arc<Engine>, key: &Key, config: NetConfig, gossip_interval: Duration) -> Result<Running, NetError> {
    let (inbound, gossip) = EngineInbound::new(engine.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let (net, net_task) = net::start(config, key, inbound, async move {
        let _ = stopped.await;
    })
    .await?;
    join_regions(&engine, &net).await?;
    let gossip_task = tokio::spawn(apply_and_join(engine.clone(), net.clone(), gossip));
    let sync_task = tokio::spawn(anti_entropy(engine, net.clone(), gossip_interval));
    Ok(Running { net, stop: Some(stop), net_task, gossip_task, sync_task })
}

impl Running {
    /// Stops anti-entropy, then the network task (awaited: listeners and connections are
    /// closed), then lets the gossip queue drain (at most 2 s).
    pub async fn stop(mut self) {
        self.sync_task.abort();
        let _ = (&mut self.sync_task).await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.net_task).await;
        if tokio::time::timeout(Duration::from_secs(2), &mut self.gossip_task).await.is_err() {
            self.gossip_task.abort();
        }
    }
}

/// The current manifest hash of every region, to notice a change.
fn manifest_heads(engine: &Engine) -> BTreeMap<String, String> {
    engine.regions().into_iter().map(|m| (m.doc().region.clone(), m.hash().to_string())).collect()
}

/// Applies queued gossip to the engine until the queue closes; when a manifest version
/// takes effect, the network is told the new members ([`join_regions`]).
pub async fn apply_and_join(engine: Arc<Engine>, net: Handle, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = rx.recv().await {
        let e = engine.clone();
        let applied = tokio::task::spawn_blocking(move || {
            let before = manifest_heads(&e);
            let applied = Gossip::apply(&e, &bytes, Utc::now());
            (applied, before != manifest_heads(&e))
        })
        .await;
        if let Ok((Ok(Applied::Manifest), true)) = applied {
            let _ = join_regions(&engine, &net).await;
        }
    }
}

/// What this node knows that the region should know: its policy head, the current manifest
/// of each region, every certificate and every revocation (signed documents, as gossip).
pub fn snapshot(engine: &Engine) -> Vec<Gossip> {
    let state = engine.read();
    let mut out = Vec::new();
    if let Some((p, _)) = &state.policy {
        out.push(Gossip::Policy { doc: p.raw().clone() });
    }
    out.extend(state.regions.values().map(|m| Gossip::Manifest { doc: m.raw().clone() }));
    out.extend(state.certificates.values().map(|c| Gossip::Certificate { doc: c.raw().clone() }));
    out.extend(state.revocations.values().flatten().map(|r| Gossip::Revocation { doc: r.raw().clone() }));
    out
}

/// Publishes `msg` on the topic of every region this node is in. Returns how many topics
/// took it (a topic nobody else subscribes to yet does not: `NoPeers` is not an error here,
/// anti-entropy publishes again later).
pub async fn broadcast(engine: &Engine, net: &Handle, msg: &Gossip) -> usize {
    let bytes = msg.to_bytes();
    let mut sent = 0;
    for region in engine.regions() {
        if net.publish(&region.doc().region, bytes.clone()).await.is_ok() {
            sent += 1;
        }
    }
    sent
}

/// One anti-entropy round: every document of [`snapshot`] on every region topic.
pub async fn republish(engine: &Engine, net: &Handle) {
    for msg in snapshot(engine) {
        broadcast(engine, net, &msg).await;
    }
}

/// Republishes every `interval` (each wait drawn uniformly from 0.5–1.5 × `interval`, so
/// that the nodes of a region do not all republish at the same moment) until aborted.
pub async fn anti_entropy(engine: Arc<Engine>, net: Handle, interval: Duration) {
    let interval = interval.max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(jittered(interval)).await;
        republish(&engine, &net).await;
    }
}

/// A duration drawn uniformly from `[interval / 2, 3 * interval / 2)`.
fn jittered(interval: Duration) -> Duration {
    let mut b = [0u8; 8];
    let r = match getrandom::fill(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => 0,
    };
    let ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(ms / 2 + r % ms)
}

#[cfg(test)]
mod jitter_tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_one_and_a_half_intervals() {
        let i = Duration::from_millis(1000);
        for _ in 0..1000 {
            let d = jittered(i);
            assert!(d >= Duration::from_millis(500) && d < Duration::from_millis(1500), "{d:?}");
        }
    }
}
