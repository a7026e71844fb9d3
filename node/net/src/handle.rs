//! The node's side of the network: a cheap-to-clone [`Handle`] that sends commands to the
//! network task, the [`InboundHandler`] the node implements to answer peers, and the
//! [`NetError`] of every operation.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use regio_policy::Did;
use tokio::sync::{mpsc, oneshot};

use regio_policy::decision::Reason;

use super::protocol::{Protocol, Refusal};

/// How the node answers what peers send. Called only for peers on the allow-list (members of
/// a region we share), after the network layer has checked that.
///
/// The network task never waits for these: `on_query` and `on_chain` run in their own tokio
/// tasks and their result is sent back as the response; `on_gossip` is called on the network
/// task itself and must return at once (hand the bytes to a channel).
pub trait InboundHandler: Send + Sync + 'static {
    /// A query request (`/regio/query/1`): the bytes of a signed Query; answer the bytes of a
    /// signed PartialAnswer or signed refusal, or, when no signed answer can be made (the
    /// node's engine or store failed), a [`Refusal`] naming the cause
    /// ([`Refusal::node_error`]), which the requester receives as [`NetError::Failed`].
    fn on_query(
        &self,
        from: Did,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, Refusal>> + Send;
    /// A chain-fetch request (`/regio/chain/1`); answer the documents found, or a
    /// [`Refusal`] as for [`InboundHandler::on_query`].
    fn on_chain(
        &self,
        from: Did,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, Refusal>> + Send;
    /// A gossip message on `region`'s topic, authored by `from` (a member of that region;
    /// gossipsub has verified the author's signature on the message envelope). `direct`:
    /// the author sent it to this node itself (it is connected), rather than a peer
    /// forwarding it.
    fn on_gossip(&self, region: &str, from: Did, bytes: Vec<u8>, direct: bool);
}

/// A command to the network task; every one carries its reply channel.
pub(crate) enum Command {
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, NetError>>,
    },
    SetMembers {
        region: String,
        members: Vec<(Did, Vec<Multiaddr>)>,
        reply: oneshot::Sender<()>,
    },
    Request {
        peer: Did,
        protocol: Protocol,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    Publish {
        region: String,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Subscribe {
        region: String,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    ConnectedPeers {
        reply: oneshot::Sender<Vec<Did>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerSeen>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    GossipScore {
        peer: Did,
        reply: oneshot::Sender<Option<f64>>,
    },
}

/// Counters of what the network layer did on its own (for metrics and tests).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests_refused: AtomicU64,
    pub(crate) requests_handled: AtomicU64,
    pub(crate) gossip_accepted: AtomicU64,
    pub(crate) gossip_rejected: AtomicU64,
    pub(crate) inbound_failures: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of [`Handle::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetStats {
    /// Inbound requests refused with `peer.not_member` (no handler call).
    pub requests_refused: u64,
    /// Inbound requests handed to the [`InboundHandler`].
    pub requests_handled: u64,
    /// Gossip messages accepted and handed to the handler.
    pub gossip_accepted: u64,
    /// Gossip messages rejected (author or forwarder not a member).
    pub gossip_rejected: u64,
    /// Inbound requests that failed on the wire (over-size, malformed, closed).
    pub inbound_failures: u64,
    /// Inbound connections refused once established: the peer is in none of our regions.
    pub connections_refused: u64,
}

/// What the network task knows of one member of this node's regions ([`Handle::peers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerSeen {
    /// The member.
    pub did: Did,
    /// A connection to it is up now.
    pub connected: bool,
    /// It is one of the neighbours whose connection this node keeps (every member, in a
    /// region of up to `full_mesh_up_to` members).
    pub neighbour: bool,
    /// How long ago it last authored a gossip message this node received (every member
    /// publishes a digest each anti-entropy interval); `None` if never.
    pub heard: Option<Duration>,
}

/// The node's handle on the network task. Clone it freely; the task stops on the shutdown
/// signal given to [`super::start`], not when handles are dropped.
#[derive(Clone)]
pub struct Handle {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) did: Did,
    pub(crate) peer_id: PeerId,
    pub(crate) counters: Arc<Counters>,
    pub(crate) max_request_bytes: u64,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "net::Handle({})", self.peer_id)
    }
}

impl Handle {
    /// This node's DID.
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// This node's libp2p peer id (the same key as its DID).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| NetError::Shutdown)?;
        rx.await.map_err(|_| NetError::Shutdown)
    }

    /// Dials an address; resolves when the connection is up, with the peer's id.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NetError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// Sets the members of `region` (replacing the previous list; empty removes the region).
    /// The allow-list becomes the union over all regions; members' addresses go to Kademlia
    /// and the node dials the members it is not connected to.
    pub async fn set_members(
        &self,
        region: &str,
        members: Vec<(Did, Vec<Multiaddr>)>,
    ) -> Result<(), NetError> {
        self.ask(|reply| Command::SetMembers {
            region: region.to_owned(),
            members,
            reply,
        })
        .await
    }

    /// Sends `bytes` to `peer` on `protocol` and waits for its answer, at most `deadline`
    /// (everything included: queueing, dialling, the peer's work). A request to this node
    /// itself goes straight to its own [`InboundHandler`].
    pub async fn request(
        &self,
        peer: &Did,
        protocol: Protocol,
        bytes: Vec<u8>,
        deadline: Duration,
    ) -> Result<Vec<u8>, NetError> {
        if bytes.len() as u64 > self.max_request_bytes {
            return Err(NetError::TooLarge {
                size: bytes.len(),
                max: self.max_request_bytes,
            });
        }
        let peer = peer.clone();
        let fut = self.ask(|reply| Command::Request {
            peer,
            protocol,
            bytes,
            reply,
        });
        match tokio::time::timeout(deadline, fut).await {
            Ok(result) => result?,
            Err(_) => Err(NetError::Timeout(deadline)),
        }
    }

    /// Publishes `bytes` on `region`'s gossip topic.
    pub async fn publish(&self, region: &str, bytes: Vec<u8>) -> Result<(), NetError> {
        self.ask(|reply| Command::Publish {
            region: region.to_owned(),
            bytes,
            reply,
        })
        .await?
    }

    /// Subscribes to `region`'s gossip topic; messages reach [`InboundHandler::on_gossip`].
    pub async fn subscribe(&self, region: &str) -> Result<(), NetError> {
        self.ask(|reply| Command::Subscribe {
            region: region.to_owned(),
            reply,
        })
        .await?
    }

    /// The DIDs of the peers this node has a connection to.
    pub async fn connected_peers(&self) -> Result<Vec<Did>, NetError> {
        self.ask(|reply| Command::ConnectedPeers { reply }).await
    }

    /// Every member of this node's regions but itself: connected or not, neighbour or not,
    /// when last heard from. Sorted by DID.
    pub async fn peers(&self) -> Result<Vec<PeerSeen>, NetError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// This node's gossipsub score of `peer` (see the `scoring` module: below −80 everything
    /// it gossips is ignored); `None` when the peer is not known to gossipsub.
    pub async fn gossip_score(&self, peer: &Did) -> Result<Option<f64>, NetError> {
        let peer = peer.clone();
        self.ask(|reply| Command::GossipScore { peer, reply }).await
    }

    /// The addresses this node listens on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(|reply| Command::ListenAddrs { reply }).await
    }

    /// What the network layer refused, rejected and handed on so far.
    pub fn stats(&self) -> NetStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NetStats {
            requests_refused: get(&c.requests_refused),
            requests_handled: get(&c.requests_handled),
            gossip_accepted: get(&c.gossip_accepted),
            gossip_rejected: get(&c.gossip_rejected),
            inbound_failures: get(&c.inbound_failures),
            connections_refused: get(&c.connections_refused),
        }
    }
}

/// A network operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The deadline passed before an answer arrived.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// No connection to the peer could be made, or it closed before answering.
    #[error("peer {peer} unreachable: {detail}")]
    Unreachable {
        /// The peer (its DID, or its address when dialled by address).
        peer: String,
        /// What failed.
        detail: String,
    },
    /// The peer refused at the network layer, before doing any work (e.g. `peer.not_member`).
    #[error("refused by peer: {reason}")]
    Refused {
        /// A reason code from [`Reason`] (kept as text: a newer peer may send a code we lack).
        reason: String,
    },
    /// The peer took the request but its node could not answer it (its engine or store
    /// failed): a [`Refusal`] with a message, e.g. [`super::protocol::NODE_ERROR`].
    #[error("peer failed to answer ({reason}): {message}")]
    Failed {
        /// The reason code (`node.error`).
        reason: String,
        /// The cause, as the peer stated it.
        message: String,
    },
    /// A stream or transport error (including a peer closing a stream on an over-size
    /// message).
    #[error("network i/o: {0}")]
    Io(String),
    /// The message exceeds the configured maximum; nothing was sent.
    #[error("message of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The message size.
        size: usize,
        /// The configured maximum.
        max: u64,
    },
    /// Gossip could not be published: no peer is subscribed to the region's topic yet.
    #[error("no peer subscribed to the topic of region {0}")]
    NoPeers(String),
    /// The network task has stopped (shutdown or crash); nothing more can be sent.
    #[error("the network task has stopped")]
    Shutdown,
    /// The swarm could not be built or could not listen.
    #[error("network setup: {0}")]
    Setup(String),
}

impl From<Refusal> for NetError {
    /// A refusal without a message is the peer's network layer refusing
    /// ([`NetError::Refused`]); one with a message is its node failing to answer
    /// ([`NetError::Failed`]).
    fn from(r: Refusal) -> NetError {
        match r.message {
            None => NetError::Refused { reason: r.reason },
            Some(message) => NetError::Failed {
                reason: r.reason,
                message,
            },
        }
    }
}

impl NetError {
    /// The typed reason of a [`NetError::Refused`], if its code is one this build knows.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            NetError::Refused { reason } => Reason::from_code(reason),
            _ => None,
        }
    }
}
