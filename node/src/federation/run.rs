//! A federating node's background work (owner: federation): the network task answering
//! peers with the engine, gossip applied to the engine (regions re-joined whenever a
//! manifest version takes effect), and **anti-entropy** — every `gossip_interval` the node
//! publishes a digest of what it holds on every region topic, and pulls from a peer whose
//! digest differs and reached it directly (a connected mesh peer; see [`super::sync`]), because gossipsub does not replay history: a node
//! that was partitioned, restarted or admitted late converges within about one interval.
//!
//! [`start`] brings it all up; [`Running::stop`] takes it down in order (anti-entropy, then
//! the network task, awaited, then the gossip queue drained).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::gossip::{Applied, Gossip, GossipError};
use super::p2p::{join_regions, EngineInbound, GossipIn};
use super::sync::{self, SyncBody, SyncPage, SyncRequest};
use crate::engine::Engine;
use regio_net::{Handle, NetConfig, NetError, Protocol};
use regio_policy::{Did, DocHash, Key};

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
        f.debug_struct("Running")
            .field("net", &self.net)
            .finish_non_exhaustive()
    }
}

/// Starts the network for `engine` (listening on `config.listen`), joins the regions the
/// engine is in, and spawns gossip application and anti-entropy every `gossip_interval`.
pub async fn start(
    engine: Arc<Engine>,
    key: &Key,
    config: NetConfig,
    gossip_interval: Duration,
) -> Result<Running, NetError> {
    // Sync pages stay well under the network's response cap (JSON framing, the refusal wire).
    let page = engine
        .caps()
        .sync_page_bytes
        .min(usize::try_from(config.max_response_bytes / 4 * 3).unwrap_or(usize::MAX));
    let (inbound, gossip) = EngineInbound::new(engine.clone(), page);
    let (stop, stopped) = oneshot::channel::<()>();
    let (net, net_task) = regio_net::start(config, key, inbound, async move {
        // Err when the sender is dropped without a send: stop then too.
        let _ = stopped.await;
    })
    .await?;
    join_regions(&engine, &net).await?;
    let gossip_task = tokio::spawn(apply_and_join(
        engine.clone(),
        net.clone(),
        gossip,
        gossip_interval,
    ));
    let sync_task = tokio::spawn(anti_entropy(engine, net.clone(), gossip_interval));
    Ok(Running {
        net,
        stop: Some(stop),
        net_task,
        gossip_task,
        sync_task,
    })
}

impl Running {
    /// Stops anti-entropy, then the network task (awaited: listeners and connections are
    /// closed), then lets the gossip queue drain (at most 2 s).
    pub async fn stop(mut self) {
        self.sync_task.abort();
        if let Err(e) = (&mut self.sync_task).await {
            // Cancelled is what was asked for; a panic is a failure.
            if e.is_panic() {
                tracing::error!(error = %e, "the anti-entropy task panicked");
            }
        }
        if let Some(stop) = self.stop.take() {
            // Err only when the network task already ended: awaited just below.
            let _ = stop.send(());
        }
        if let Err(e) = (&mut self.net_task).await {
            tracing::error!(error = %e, "the network task failed");
        }
        match tokio::time::timeout(Duration::from_secs(2), &mut self.gossip_task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the gossip task failed"),
            Err(_) => {
                tracing::warn!(
                    "gossip still being applied 2 s after the network stopped; abandoned"
                );
                self.gossip_task.abort();
            }
        }
    }
}

/// The current manifest hash of every region, to notice a change.
fn manifest_heads(engine: &Engine) -> BTreeMap<String, String> {
    engine
        .regions()
        .into_iter()
        .map(|m| (m.doc().region.clone(), m.hash().to_string()))
        .collect()
}

/// Longest wait for a peer's answer to a sync request.
const SYNC_DEADLINE: Duration = Duration::from_secs(10);
/// Hashes of documents refused during syncs are remembered up to this many (then forgotten
/// all at once: at worst they are fetched and refused once more).
const MAX_REFUSED: usize = 4096;

/// The sync state of one node: one pull at a time, at most one per peer per interval, and
/// the documents refused before (listed as held, so peers do not send them again).
struct SyncState {
    interval: Duration,
    busy: bool,
    last_pull: HashMap<Did, Instant>,
    refused: HashSet<DocHash>,
}

impl SyncState {
    /// Whether to pull from `peer` now (and if so, marks the pull as started).
    fn start_pull(&mut self, peer: &Did, now: Instant) -> bool {
        if self.busy
            || self
                .last_pull
                .get(peer)
                .is_some_and(|t| now.duration_since(*t) < self.interval)
        {
            return false;
        }
        self.busy = true;
        self.last_pull.insert(peer.clone(), now);
        true
    }
}

/// Applies queued gossip to the engine until the queue closes; when a manifest version
/// takes effect, the network is told the new members ([`join_regions`]). A digest that
/// differs from this node's own starts a pull from its author (see [`super::sync`]).
pub async fn apply_and_join(
    engine: Arc<Engine>,
    net: Handle,
    mut rx: mpsc::Receiver<GossipIn>,
    interval: Duration,
) {
    let state = Arc::new(Mutex::new(SyncState {
        interval,
        busy: false,
        last_pull: HashMap::new(),
        refused: HashSet::new(),
    }));
    while let Some(msg) = rx.recv().await {
        let gossip = match Gossip::from_bytes(&msg.bytes) {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(peer = %msg.from, region = %msg.region, error = %e, "undecodable gossip ignored");
                continue;
            }
        };
        if let Gossip::Digest {
            region,
            summary,
            count,
        } = &gossip
        {
            // Only digests from their author itself (a mesh peer, connected) start a pull, so
            // pulls stay on kept connections; a document crosses the region hop by hop, one
            // interval per hop at worst. Forwarded digests are ignored without computing ours.
            if region != &msg.region || !msg.direct {
                continue;
            }
            let ours = sync::digest(&engine, region);
            let differs = !matches!(&ours, Gossip::Digest { summary: s, count: c, .. } if s == summary && c == count);
            let start = differs
                && state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .start_pull(&msg.from, Instant::now());
            if start {
                tokio::spawn(pull(
                    engine.clone(),
                    net.clone(),
                    state.clone(),
                    msg.from.clone(),
                    msg.region.clone(),
                ));
            }
            continue;
        }
        let (e, r) = (engine.clone(), msg.region.clone());
        let applied = tokio::task::spawn_blocking(move || {
            let before = manifest_heads(&e);
            let applied = gossip.apply_to(&e, &r, Utc::now());
            (applied, before != manifest_heads(&e))
        })
        .await;
        let (peer, region) = (&msg.from, &msg.region);
        match applied {
            Ok((Ok(Applied::Manifest), true)) => {
                if let Err(e) = join_regions(&engine, &net).await {
                    tracing::error!(%peer, %region, error = %e, "a new manifest took effect but the network was not told its members");
                }
            }
            Ok((Ok(_), _)) => {}
            Ok((Err(GossipError::Dropped(d)), _)) => {
                tracing::warn!(%peer, %region, cause = d.cause(), error = %d, "gossip dropped");
            }
            Ok((Err(e), _)) => {
                tracing::warn!(%peer, %region, error = %e, "gossip not applied");
            }
            Err(e) => tracing::error!(%peer, %region, error = %e, "applying gossip failed"),
        }
    }
}

/// Most pages one pull asks for (the next digest starts another pull where this one
/// stopped short).
const MAX_PAGES: usize = 256;

/// Asks `peer` for the documents of `region` this node lacks, page after page, and applies
/// each page as it arrives.
async fn pull(
    engine: Arc<Engine>,
    net: Handle,
    state: Arc<Mutex<SyncState>>,
    peer: Did,
    region: String,
) {
    let lock = || {
        state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let mut have = sync::holdings(&engine, &region);
    have.extend(lock().refused.iter().copied());
    let mut after = None;
    for _ in 0..MAX_PAGES {
        let body = SyncBody {
            sync: SyncRequest {
                region: region.clone(),
                have: have.clone(),
                after,
            },
        }
        .to_bytes();
        let page: SyncPage = match net
            .request(&peer, Protocol::Chain, body, SYNC_DEADLINE)
            .await
        {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(%peer, %region, error = %e, "malformed sync reply ignored");
                    break;
                }
            },
            Err(e) => {
                tracing::warn!(%peer, %region, error = %e, "sync request failed");
                break;
            }
        };
        let next = page.next;
        apply_page(&engine, &net, &state, &peer, &region, page.docs).await;
        match next {
            Some(n) if after.is_none_or(|a| n > a) => after = Some(n),
            _ => break,
        }
    }
    lock().busy = false;
}

/// Applies one page of synced documents; remembers the refused ones; tells the network when
/// a manifest version took effect.
async fn apply_page(
    engine: &Arc<Engine>,
    net: &Handle,
    state: &Mutex<SyncState>,
    peer: &Did,
    region: &str,
    docs: Vec<Gossip>,
) {
    if docs.is_empty() {
        return;
    }
    let e = engine.clone();
    let (p, r) = (peer.clone(), region.to_owned());
    let applied = tokio::task::spawn_blocking(move || {
        let before = manifest_heads(&e);
        let mut refused = Vec::new();
        for doc in docs {
            let hash = doc.document().map(DocHash::of);
            match doc.apply_to(&e, &r, Utc::now()) {
                Ok(_) => {}
                Err(GossipError::Dropped(d)) => {
                    tracing::warn!(peer = %p, region = %r, cause = d.cause(), error = %d, "a synced document was dropped");
                    refused.extend(hash);
                }
                Err(err) => {
                    tracing::warn!(peer = %p, region = %r, error = %err, "a synced document was refused");
                    refused.extend(hash);
                }
            }
        }
        (refused, before != manifest_heads(&e))
    })
    .await;
    let (refused, manifest_changed) = applied.unwrap_or_else(|e| {
        tracing::error!(%peer, %region, error = %e, "applying synced documents failed");
        (Vec::new(), false)
    });
    if manifest_changed {
        if let Err(e) = join_regions(engine, net).await {
            tracing::error!(%peer, %region, error = %e, "a synced manifest took effect but the network was not told its members");
        }
    }
    let mut st = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if st.refused.len() + refused.len() > MAX_REFUSED {
        st.refused.clear();
    }
    st.refused.extend(refused);
}

/// Publishes `msg` on the topic of every region this node is in. Returns how many topics
/// took it (a topic nobody else subscribes to yet does not: `NoPeers` is not an error here,
/// the digests bring it to late members).
pub async fn broadcast(engine: &Engine, net: &Handle, msg: &Gossip) -> usize {
    let bytes = msg.to_bytes();
    let mut sent = 0;
    for region in engine.regions() {
        let region = &region.doc().region;
        match net.publish(region, bytes.clone()).await {
            Ok(()) => sent += 1,
            Err(NetError::NoPeers(_)) => {}
            Err(e) => tracing::warn!(%region, error = %e, "could not publish gossip"),
        }
    }
    sent
}

/// One anti-entropy round: this node's digest on every region topic.
pub async fn publish_digests(engine: &Engine, net: &Handle) {
    refresh_catalog(engine, net).await;
    for region in engine.regions() {
        let id = region.doc().region.clone();
        match net.publish(&id, sync::digest(engine, &id).to_bytes()).await {
            // No peer subscribed yet (alone, or the mesh is forming): the next round retries.
            Ok(()) | Err(NetError::NoPeers(_)) => {}
            Err(e) => tracing::warn!(region = %id, error = %e, "could not publish the digest"),
        }
    }
}

/// Publishes the digests every `interval` (each wait drawn uniformly from 0.5–1.5 ×
/// `interval`, so that the nodes of a region do not all publish at the same moment) until
/// aborted.
pub async fn anti_entropy(engine: Arc<Engine>, net: Handle, interval: Duration) {
    let interval = interval.max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(jittered(interval)).await;
        publish_digests(&engine, &net).await;
    }
}

/// A duration drawn uniformly from `[interval / 2, 3 * interval / 2)`.
fn jittered(interval: Duration) -> Duration {
    let mut b = [0u8; 8];
    let r = match getrandom::fill(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        Err(e) => {
            tracing::warn!(error = %e, "no randomness for the digest jitter; waiting half an interval");
            0
        }
    };
    let ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(ms / 2 + r % ms)
}

/// Re-signs this node's catalog when it is due (see
/// [`crate::engine::catalog::Catalogs::current`]) and gossips a new version; called at every
/// anti-entropy round. Members' catalogs arrive as [`Gossip::Catalog`] and by sync and are
/// taken in by [`crate::engine::catalog::Catalogs::receive`]; a refused one leaves a log event.
pub async fn refresh_catalog(engine: &Engine, net: &Handle) {
    let Some(catalogs) = engine.catalogs() else {
        return;
    };
    let before = catalogs.version();
    match catalogs.current(engine, Utc::now()) {
        Ok(signed) if Some(signed.doc().version) != before => {
            let msg = Gossip::Catalog {
                doc: signed.raw().clone(),
            };
            broadcast(engine, net, &msg).await;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "the catalog could not be re-signed"),
    }
}

#[cfg(test)]
mod jitter_tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_one_and_a_half_intervals() {
        let i = Duration::from_millis(1000);
        for _ in 0..1000 {
            let d = jittered(i);
            assert!(
                d >= Duration::from_millis(500) && d < Duration::from_millis(1500),
                "{d:?}"
            );
        }
    }
}
