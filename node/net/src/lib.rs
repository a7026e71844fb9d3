//! # regio-net — libp2p for the region
//!
//! One tokio task owns the libp2p [`Swarm`](libp2p::Swarm) (the pattern of rust-libp2p's
//! file-sharing example); the rest of the node talks to it through a [`Handle`] over a bounded
//! command channel with oneshot replies, and answers peers through an [`InboundHandler`].
//!
//! - **Identity**: the libp2p key *is* the node's document-signing key ([`identity`]), so a
//!   [`PeerId`] and a `did:key` convert both ways without a lookup.
//! - **Transports**: TCP (Noise, Yamux) and QUIC, DNS; connection limits; idle timeout.
//! - **Protocols**: identify; Kademlia (server mode, private protocol name, routing table
//!   restricted to region members); gossipsub with signed messages, strict validation and a
//!   topic per region (`regio/region/<id>/1`); request-response with CBOR on `/regio/query/1`
//!   and `/regio/chain/1`, carrying the signed JSON documents as opaque bytes, size-capped
//!   (1 MiB requests, 16 MiB responses by default).
//! - **Membership gating before any work**: the allow-list is the union of the members of
//!   every region this node is in ([`Handle::set_members`]). An inbound connection from any
//!   other peer is refused the moment it is established (`gate`), before the connection
//!   limits count it: the established slots (256 total, 8 per peer by default) are reserved
//!   for members, and no number of outsider identities can keep a member out. A request that
//!   still arrives from a non-member (a member removed since it connected) is answered with a
//!   [`Refusal`] `peer.not_member`, never reaches the handler and does not keep the
//!   connection open; gossip whose author is not a member of the topic's region (or whose
//!   forwarder is a member of none) is rejected before the handler sees it and lowers the
//!   sender's gossipsub score ([`scoring`]: subscription filter, peer scoring thresholds).
//!
//! - **Which connections exist** (`mesh`, `gate`): a node keeps connections to its
//!   neighbours — every member in a region of up to [`NetConfig::full_mesh_up_to`] (16), else
//!   about `2·log2(n)` members on a ring — and dials no one else except a member a request
//!   (query, sync) is for. Any other connection is closed once it carried no request from a
//!   member for [`NetConfig::idle_timeout`] (60 s).
//!
//! mDNS is compiled in but `Toggle`d off unless [`NetConfig::mdns`] is set.

//!
//! ## Modules
//!
//! | module | owns |
//! |---|---|
//! | this root | [`start`]: builds the Swarm and spawns its task |
//! | `behaviour` | the composed `NetworkBehaviour`, transports, [`NetConfig`] |
//! | `task` | the one task that owns the Swarm: commands in, events out |
//! | `events` | what the task does with each Swarm event (gating, gossip, requests) |
//! | [`scoring`] | gossipsub's subscription filter and peer-score parameters |
//! | `handle` | [`Handle`]: the bounded command channel the node talks through; [`InboundHandler`] |
//! | [`identity`] | did:key ↔ PeerId, the members' allow-list |
//! | `mesh`, `gate` | which connections exist: neighbours, redial backoff, the dial gate, admission of members only |
//! | `protocol` | protocol names, wire request/response types, [`Refusal`] |

mod behaviour;
mod events;
#[doc(hidden)]
pub mod fuzzing;
mod gate;
mod handle;
pub mod identity;
mod mesh;
mod protocol;
pub mod scoring;
mod task;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use regio_policy::Key;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

pub use behaviour::{quic_loopback, tcp_loopback, NetConfig};
pub use handle::{Handle, InboundHandler, NetError, NetStats, PeerSeen};
pub use identity::{did_of, keypair_of, members_of, peer_id_of, MemberAddr};
pub use libp2p::{Multiaddr, PeerId};
pub use protocol::{region_topic, Protocol, Refusal, CHAIN_PROTOCOL, NODE_ERROR, QUERY_PROTOCOL};

use handle::Counters;
use task::Task;

/// Starts the network: builds the swarm from `key`, listens on `config.listen` (waiting up to
/// 2 s until every listener has its address, so [`Handle::listen_addrs`] is complete), and
/// spawns the network task on the current tokio runtime.
///
/// The task runs until `shutdown` resolves (e.g. `token.cancelled_owned()` of a
/// `CancellationToken`, or a oneshot receiver); then it stops taking commands, fails what is
/// pending with [`NetError::Shutdown`], closes its listeners and connections and exits. Await
/// the returned [`JoinHandle`] to know it is done.
pub async fn start<H: InboundHandler>(
    config: NetConfig,
    key: &Key,
    inbound: H,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(Handle, JoinHandle<()>), NetError> {
    let keypair = keypair_of(key)?;
    let counters = Arc::new(Counters::default());
    let region_topics = scoring::RegionTopics::default();
    let parts = behaviour::Parts {
        topics: region_topics.clone(),
        counters: Arc::clone(&counters),
    };
    let mut swarm = behaviour::build_swarm(keypair, &config, parts)?;
    let mut listeners = Vec::new();
    for addr in &config.listen {
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Setup(format!("listen on {addr}: {e}")))?;
        listeners.push(id);
    }
    let mut waiting: HashSet<_> = listeners.iter().copied().collect();
    let wait = async {
        while !waiting.is_empty() {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { listener_id, .. } => {
                    waiting.remove(&listener_id);
                }
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                } => {
                    return Err(NetError::Setup(format!(
                        "listener {listener_id:?} closed: {reason:?}"
                    )));
                }
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(NetError::Setup(format!("listener: {error}")))
                }
                _ => {}
            }
        }
        Ok(())
    };
    match tokio::time::timeout(Duration::from_secs(2), wait).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(NetError::Setup(
                "listen addresses not reported within 2 s".into(),
            ))
        }
    }

    let (tx, commands) = mpsc::channel(config.command_buffer.max(1));
    let (replies_tx, replies) = mpsc::unbounded_channel();
    let handle = Handle {
        tx,
        did: key.did().clone(),
        peer_id: *swarm.local_peer_id(),
        counters: Arc::clone(&counters),
        max_request_bytes: config.max_request_bytes,
    };
    let task = Task {
        swarm,
        handler: Arc::new(inbound),
        local_did: key.did().clone(),
        allow: identity::AllowList::default(),
        topics: HashMap::new(),
        counters,
        inbound_limit: Arc::new(Semaphore::new(config.max_inbound_concurrency.max(1))),
        replies_tx,
        pending_dials: HashMap::new(),
        pending_requests: HashMap::new(),
        max_request_timeout: config.max_request_timeout,
        listeners,
        mesh: mesh::Mesh::new(config.full_mesh_up_to, config.idle_timeout),
        region_topics,
    };
    let join = tokio::spawn(task.run(commands, replies, shutdown));
    Ok((handle, join))
}
