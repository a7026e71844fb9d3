//! The malicious member: a region member's key on the real libp2p stack (`regio-net`: TCP,
//! Noise, Yamux, gossipsub, request-response with the node's protocols and CBOR codec), with
//! no engine behind it. It publishes whatever gossip a test hands it, sends queries and sync
//! requests straight to a node's `/regio/query/1` and `/regio/chain/1`, and answers the
//! queries it receives as the test chooses ([`Lie`]): honestly refusing, silent, garbage, or
//! a signed answer built to lie.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{anyhow, Result};
use chrono::Utc;
use regio_net::{Handle, InboundHandler, Multiaddr, NetConfig, NetError, Protocol, Refusal};
use regio_node::federation::gossip::Gossip;
use regio_policy::doc::query::{Outcome, PartialAnswer};
use regio_policy::{Did, DocHash, Key, Signed};
use serde_json::Value;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// How the malicious member answers a query it receives: the answer's bytes, or `None` to
/// stay silent (it never answers).
pub type Lie = Arc<dyn Fn(&Key, &Value) -> Option<Vec<u8>> + Send + Sync>;

/// What the malicious member received.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Queries received on `/regio/query/1`, with their sender.
    pub queries: Vec<(Did, Value)>,
    /// Gossip received: (region, author, kind).
    pub gossip: Vec<(String, Did, String)>,
    /// Chain and sync requests received, with their sender.
    pub chain: Vec<(Did, Value)>,
}

struct Inbound {
    key: Key,
    lie: Arc<Mutex<Lie>>,
    chain: Arc<Mutex<Vec<u8>>>,
    seen: Arc<Mutex<Seen>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl InboundHandler for Inbound {
    async fn on_query(&self, from: Did, bytes: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        let query: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        locked(&self.seen).queries.push((from, query.clone()));
        let lie = locked(&self.lie).clone();
        match lie(&self.key, &query) {
            Some(answer) => Ok(answer),
            None => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Err(Refusal::node_error("silent"))
            }
        }
    }

    async fn on_chain(&self, from: Did, bytes: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        let request: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        locked(&self.seen).chain.push((from, request));
        Ok(locked(&self.chain).clone())
    }

    fn on_gossip(&self, region: &str, from: Did, bytes: Vec<u8>, _direct: bool) {
        let kind = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["kind"].as_str().map(str::to_owned))
            .unwrap_or_default();
        locked(&self.seen)
            .gossip
            .push((region.to_owned(), from, kind));
    }
}

/// The malicious member, running on its own tokio runtime.
pub struct Evil {
    /// Its key (a member of the region, in the signed manifest).
    pub key: Key,
    /// Its network.
    pub net: Handle,
    /// Its listen addresses.
    pub addrs: Vec<String>,
    lie: Arc<Mutex<Lie>>,
    chain: Arc<Mutex<Vec<u8>>>,
    seen: Arc<Mutex<Seen>>,
    stop: Option<oneshot::Sender<()>>,
    rt: Runtime,
}

/// A signed PartialAnswer of `key` to `query` (its id, hash and region) with `outcome`.
pub fn answer_of(key: &Key, query: &Value, outcome: Outcome) -> Value {
    answer_as(key, key.did(), query, DocHash::of(query), outcome)
}

/// A PartialAnswer naming `node` and `query_hash`, signed by `key` (a lie when either is
/// not the truth).
pub fn answer_as(
    key: &Key,
    node: &Did,
    query: &Value,
    query_hash: DocHash,
    outcome: Outcome,
) -> Value {
    let a = PartialAnswer {
        query: query["id"].as_str().unwrap_or("?").to_owned(),
        query_hash,
        region: query["region"].as_str().unwrap_or("?").to_owned(),
        node: node.clone(),
        policy_version: 1,
        policy_hash: None,
        answered_at: Utc::now(),
        outcome,
    };
    match Signed::sign(a, key, Utc::now()) {
        Ok(s) => s.raw().clone(),
        Err(e) => panic!("signing a partial answer: {e}"),
    }
}

/// The honest answer of a member without a policy: a signed refusal `policy.missing`.
pub fn refuse() -> Lie {
    Arc::new(|key, query| {
        let outcome = Outcome::Refused {
            reason: "policy.missing".into(),
            message: "this member has published no policy".into(),
        };
        Some(answer_of(key, query, outcome).to_string().into_bytes())
    })
}

impl Evil {
    /// Starts the malicious member's network with `key` on loopback TCP. `max_request_bytes`
    /// is raised so that it can send what an honest node would refuse to send.
    pub fn start(key: Key) -> Result<Evil> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let lie = Arc::new(Mutex::new(refuse()));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let chain = Arc::new(Mutex::new(b"[]".to_vec()));
        let inbound = Inbound {
            key: key.clone(),
            lie: lie.clone(),
            chain: chain.clone(),
            seen: seen.clone(),
        };
        let mut config = NetConfig::default();
        config.listen = vec![regio_net::tcp_loopback(0)];
        config.max_request_bytes = 64 << 20;
        config.max_response_bytes = 64 << 20;
        config.max_gossip_bytes = 16 << 20;
        let (stop, stopped) = oneshot::channel::<()>();
        let (net, _task) = rt.block_on(regio_net::start(config, &key, inbound, async move {
            let _ = stopped.await;
        }))?;
        let addrs = rt
            .block_on(net.listen_addrs())?
            .iter()
            .map(|a| format!("{a}/p2p/{}", net.peer_id()))
            .collect();
        Ok(Evil {
            key,
            net,
            addrs,
            lie,
            chain,
            seen,
            stop: Some(stop),
            rt,
        })
    }

    /// Joins `region` as the signed manifest says: its members on the allow-list (and
    /// dialled), its gossip topic subscribed.
    pub fn join(&self, manifest: &regio_policy::doc::manifest::RegionManifest) -> Result<()> {
        let (members, _) = regio_net::members_of(manifest);
        self.rt
            .block_on(self.net.set_members(&manifest.region, members))?;
        self.rt.block_on(self.net.subscribe(&manifest.region))?;
        Ok(())
    }

    /// Answers every query from now on with `lie`.
    pub fn lie(&self, lie: Lie) {
        *locked(&self.lie) = lie;
    }

    /// Answers every chain or sync request from now on with `bytes`.
    pub fn serve_chain(&self, bytes: Vec<u8>) {
        *locked(&self.chain) = bytes;
    }

    /// What it received so far.
    pub fn seen(&self) -> Seen {
        locked(&self.seen).clone()
    }

    /// Runs `f` on its runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Publishes raw bytes on `region`'s topic, retrying while no peer is subscribed yet
    /// (the mesh forming), at most 20 s.
    pub fn publish_bytes(&self, region: &str, bytes: Vec<u8>) -> Result<()> {
        let until = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match self.rt.block_on(self.net.publish(region, bytes.clone())) {
                Ok(()) => return Ok(()),
                Err(NetError::NoPeers(_)) if std::time::Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                Err(e) => return Err(anyhow!("publishing on {region}: {e}")),
            }
        }
    }

    /// Publishes a gossip message on `region`'s topic.
    pub fn publish(&self, region: &str, msg: &Gossip) -> Result<()> {
        self.publish_bytes(region, msg.to_bytes())
    }

    /// Sends `bytes` to `peer` on `protocol` and waits for its answer (at most 20 s).
    pub fn request(
        &self,
        peer: &Did,
        protocol: Protocol,
        bytes: Vec<u8>,
    ) -> Result<Vec<u8>, NetError> {
        self.rt.block_on(
            self.net
                .request(peer, protocol, bytes, Duration::from_secs(20)),
        )
    }

    /// Sends a query to `peer` and decodes the signed answer it returns.
    pub fn ask(&self, peer: &Did, query: &Value) -> Result<Signed<PartialAnswer>> {
        let bytes = self.request(peer, Protocol::Query, query.to_string().into_bytes())?;
        Signed::<PartialAnswer>::from_json(&bytes).map_err(|e| anyhow!("the answer: {e}"))
    }

    /// Dials `addr`.
    pub fn dial(&self, addr: &str) -> Result<()> {
        let addr: Multiaddr = addr.parse()?;
        self.rt.block_on(self.net.dial(addr))?;
        Ok(())
    }
}

impl Drop for Evil {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The reason code of a signed answer (`None` when it answered).
pub fn reason_of(answer: &Signed<PartialAnswer>) -> Option<String> {
    match &answer.doc().outcome {
        Outcome::Refused { reason, .. } => Some(reason.clone()),
        Outcome::Answered { .. } => None,
    }
}
