//! Federation over libp2p (owner: lead): the engine answers peers' queries and takes in
//! their gossip; the coordinator's [`Transport`] is the network [`Handle`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tokio::sync::mpsc;

use super::gossip::{Gossip, GossipError};
use super::sync::{self, SyncBody};
use super::{Transport, TransportError};
use crate::engine::Engine;
use regio_net::{members_of, Handle, InboundHandler, NetError, Protocol, Refusal, NODE_ERROR};
use regio_policy::decision::Reason;
use regio_policy::Did;

/// The coordinator's transport over libp2p request-response (`/regio/query/1`).
pub struct NetTransport(pub Handle);

impl Transport for NetTransport {
    fn request(
        &self,
        member: &Did,
        query: Vec<u8>,
        deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, TransportError>> + Send + '_>> {
        let member = member.clone();
        Box::pin(async move {
            self.0
                .request(&member, Protocol::Query, query, deadline)
                .await
                .map_err(|e| match e {
                    NetError::Timeout(_) => TransportError::Timeout,
                    NetError::Refused { reason } => TransportError::Refused(reason),
                    NetError::Failed { reason, message } => {
                        TransportError::Failed { reason, message }
                    }
                    other => TransportError::Unreachable(other.to_string()),
                })
        })
    }
}

/// A gossip message received on a region's topic.
#[derive(Debug, Clone)]
pub struct GossipIn {
    /// The region of the topic.
    pub region: String,
    /// Its author (a member of the region).
    pub from: Did,
    /// The message.
    pub bytes: Vec<u8>,
    /// The author sent it to this node itself (rather than a peer forwarding it).
    pub direct: bool,
}

/// Answers peers with the engine. Gossip is queued to [`apply_gossip`] (or, in a running
/// node, to [`super::run::apply_and_join`]).
pub struct EngineInbound {
    engine: Arc<Engine>,
    gossip: mpsc::Sender<GossipIn>,
    sync_page: usize,
}

impl EngineInbound {
    /// The handler and the receiving end of its gossip queue (bounded: when it is full,
    /// gossip is dropped — the digests of [`super::sync`] bring the documents back). Sync
    /// replies are pages of at most `sync_page` bytes.
    pub fn new(engine: Arc<Engine>, sync_page: usize) -> (EngineInbound, mpsc::Receiver<GossipIn>) {
        let (tx, rx) = mpsc::channel(1024);
        let inbound = EngineInbound {
            engine,
            gossip: tx,
            sync_page,
        };
        (inbound, rx)
    }
}

impl InboundHandler for EngineInbound {
    async fn on_query(&self, from: Did, bytes: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        let engine = self.engine.clone();
        // Not JSON at all: the engine answers a signed `signature.invalid` refusal.
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let query = value
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let region = value
            .get("region")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let requester = from.clone();
        let answered =
            tokio::task::spawn_blocking(move || engine.answer(value, Some(&requester), Utc::now()))
                .await;
        let failure = match answered {
            Ok(Ok(answer)) => match serde_json::to_vec(answer.signed.raw()) {
                Ok(bytes) => return Ok(bytes),
                Err(e) => format!("encoding the signed answer: {e}"),
            },
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("the answering task failed: {e}"),
        };
        tracing::error!(
            peer = %from,
            query = %query,
            region = %region,
            error = %failure,
            "could not answer a peer's query; refusing it with {NODE_ERROR}"
        );
        Err(Refusal::node_error(failure))
    }

    async fn on_chain(&self, from: Did, bytes: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            tracing::error!(peer = %from, error = %e, "could not serve a peer's {what}; refusing it with {NODE_ERROR}");
            Refusal::node_error(format!("{what}: {e}"))
        };
        // A sync request: a page of the region's documents the requester lacks, served to a
        // member of the region only.
        if let Some(body) = SyncBody::parse(&bytes) {
            let region = body.sync.region.clone();
            if !self.engine.shares_region(&region, &from) {
                tracing::info!(peer = %from, %region, "refused a sync of a region the peer (or this node) is not a member of");
                return Err(Refusal {
                    reason: Reason::PeerNotMember.code().to_owned(),
                    message: None,
                });
            }
            let (engine, page) = (self.engine.clone(), self.sync_page);
            let docs = tokio::task::spawn_blocking(move || sync::serve(&engine, &body.sync, page))
                .await
                .map_err(|e| fail(&format!("sync of region {region}"), &e))?;
            return serde_json::to_vec(&docs).map_err(|e| fail("sync", &e));
        }
        // Anything else: this node's whole policy chain, oldest first.
        let policies = self
            .engine
            .store()
            .policies()
            .map_err(|e| fail("policy chain request", &e))?;
        let mut docs: Vec<Value> = Vec::with_capacity(policies.len());
        for p in &policies {
            let doc = serde_json::from_slice(&p.raw).map_err(|e| {
                fail(
                    &format!("policy chain request (stored version {})", p.version),
                    &e,
                )
            })?;
            docs.push(doc);
        }
        serde_json::to_vec(&docs).map_err(|e| fail("policy chain request", &e))
    }

    fn on_gossip(&self, region: &str, from: Did, bytes: Vec<u8>, direct: bool) {
        let msg = GossipIn {
            region: region.to_owned(),
            from,
            bytes,
            direct,
        };
        match self.gossip.try_send(msg) {
            Ok(()) => {}
            // The digests of `super::sync` bring a dropped document back.
            Err(mpsc::error::TrySendError::Full(msg)) => tracing::warn!(
                peer = %msg.from,
                region = %msg.region,
                "gossip queue full; dropped a message (anti-entropy will fetch it again)"
            ),
            Err(mpsc::error::TrySendError::Closed(msg)) => tracing::debug!(
                peer = %msg.from,
                region = %msg.region,
                "gossip queue closed (shutting down); dropped a message"
            ),
        }
    }
}

/// Applies queued gossip to the engine until the queue closes (documents only; digests are
/// ignored: see [`super::run::apply_and_join`] for a node that also syncs).
pub async fn apply_gossip(engine: Arc<Engine>, mut rx: mpsc::Receiver<GossipIn>) {
    while let Some(msg) = rx.recv().await {
        let engine = engine.clone();
        let (from, region) = (msg.from.clone(), msg.region.clone());
        let r = region.clone();
        match tokio::task::spawn_blocking(move || {
            Gossip::apply(&engine, &r, &msg.bytes, Utc::now())
        })
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(GossipError::Dropped(d))) => {
                tracing::warn!(peer = %from, region = %region, cause = d.cause(), error = %d, "gossip dropped")
            }
            Ok(Err(e)) => {
                tracing::warn!(peer = %from, region = %region, error = %e, "gossip not applied")
            }
            Err(e) => {
                tracing::error!(peer = %from, region = %region, error = %e, "applying gossip failed")
            }
        }
    }
}

/// Tells the network about every region the engine is a member of: members (the allow-list
/// and whom to dial) and the region's gossip topic; a region this node was removed from is
/// left (its members no longer count for the allow-list; its gossip is dropped).
pub async fn join_regions(engine: &Engine, net: &Handle) -> Result<(), NetError> {
    for region in engine.left_regions() {
        net.set_members(&region, Vec::new()).await?;
    }
    for region in engine.regions() {
        let (members, unparsed) = members_of(region.doc());
        for address in unparsed {
            tracing::warn!(region = %region.doc().region, %address, "a member address in the manifest is not a multiaddr; not dialled");
        }
        net.set_members(&region.doc().region, members).await?;
        net.subscribe(&region.doc().region).await?;
    }
    Ok(())
}

/// Publishes a gossip message on `region`'s topic.
pub async fn publish(net: &Handle, region: &str, msg: &Gossip) -> Result<(), NetError> {
    net.publish(region, msg.to_bytes()).await
}
