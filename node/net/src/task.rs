//! The network task: the one owner of the swarm. It serves commands from [`super::Handle`]s,
//! polls the swarm, and sends back responses that handler tasks finished — all in one
//! `select!` loop that never waits on the node's handler.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::core::transport::ListenerId;
use libp2p::futures::StreamExt;
use libp2p::gossipsub::{PublishError, SubscriptionError, TopicHash};
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::ConnectionId;
use libp2p::{PeerId, Swarm};
use regio_policy::Did;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::behaviour::{Behaviour, Rpc};
use super::handle::{Command, Counters, PeerSeen};
use super::identity::AllowList;
use super::identity::{did_of, peer_id_of};
use super::mesh::Mesh;
use super::protocol::{region_topic, Payload, Protocol, WireRequest, WireResponse};
use super::scoring::{self, RegionTopics};
use super::{InboundHandler, NetError};

/// A finished inbound request, on its way back to the swarm.
pub(crate) struct Reply {
    pub(crate) protocol: Protocol,
    pub(crate) channel: ResponseChannel<WireResponse>,
    pub(crate) response: WireResponse,
}

/// Pending outbound requests are pruned of abandoned ones when there are this many.
const PRUNE_AT: usize = 256;

type RequestReply = oneshot::Sender<Result<Vec<u8>, NetError>>;

/// An outbound request awaiting its answer. The bytes are kept for one retry, used only
/// when the request was never sent (the dial failed): it is sent once more, on whatever
/// connection is alive by then or a new one. A request whose connection dropped after it was
/// sent is not retried (the member may have received it; a second delivery is a replay).
pub(crate) struct Pending {
    pub(crate) peer: Did,
    pub(crate) bytes: Option<Vec<u8>>,
    pub(crate) reply: RequestReply,
}

/// State of the network task.
pub(crate) struct Task<H> {
    pub(crate) swarm: Swarm<Behaviour>,
    pub(crate) handler: Arc<H>,
    pub(crate) local_did: Did,
    pub(crate) allow: AllowList,
    pub(crate) topics: HashMap<TopicHash, String>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) inbound_limit: Arc<Semaphore>,
    pub(crate) replies_tx: mpsc::UnboundedSender<Reply>,
    pub(crate) pending_dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId, NetError>>>,
    pub(crate) pending_requests: HashMap<(Protocol, OutboundRequestId), Pending>,
    pub(crate) max_request_timeout: Duration,
    pub(crate) listeners: Vec<ListenerId>,
    pub(crate) mesh: Mesh,
    pub(crate) region_topics: RegionTopics,
}

/// How often the task dials missing neighbours and closes idle connections ([`Mesh::tick`]).
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

impl<H: InboundHandler> Task<H> {
    /// Runs until `shutdown` resolves, then tears down in order: stop taking commands, fail
    /// what is pending, close listeners, close connections (bounded wait), drop the swarm.
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut replies: mpsc::UnboundedReceiver<Reply>,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut commands_open = true;
        let mut upkeep = tokio::time::interval(UPKEEP_EVERY);
        upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = upkeep.tick() => self.upkeep(),
                Some(reply) = replies.recv() => self.send_reply(reply),
                cmd = commands.recv(), if commands_open => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    // Every handle is gone; keep serving peers until shutdown.
                    None => commands_open = false,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
            }
        }
        commands.close();
        while let Ok(cmd) = commands.try_recv() {
            drop(cmd); // dropping the reply sender answers the caller with `Shutdown`
        }
        self.teardown().await;
    }

    async fn teardown(mut self) {
        self.pending_dials.clear();
        self.pending_requests.clear();
        for id in std::mem::take(&mut self.listeners) {
            self.swarm.remove_listener(id);
        }
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            // Err only when the peer is no longer connected: nothing left to close.
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        // Let the close frames go out so peers see the connection end at once rather than
        // after their idle timeout (matters for QUIC).
        let drain = async {
            while self.swarm.connected_peers().next().is_some() {
                // Events during teardown need no handling: everything pending has failed.
                let _event = self.swarm.select_next_some().await;
            }
        };
        if tokio::time::timeout(Duration::from_millis(500), drain)
            .await
            .is_err()
        {
            tracing::debug!("connections still open after 500 ms at shutdown; dropping them");
        }
    }

    fn rpc(&mut self, protocol: Protocol) -> &mut Rpc {
        match protocol {
            Protocol::Query => &mut self.swarm.behaviour_mut().query,
            Protocol::Chain => &mut self.swarm.behaviour_mut().chain,
        }
    }

    pub(crate) fn send_reply(&mut self, reply: Reply) {
        // Fails only when the requester went away or the connection closed: nothing to do
        // but say so (the requester sees a timeout or a lost connection).
        if self
            .rpc(reply.protocol)
            .send_response(reply.channel, reply.response)
            .is_err()
        {
            tracing::debug!(protocol = %reply.protocol.name(), "the requester went away before the answer was sent");
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Dial { addr, reply } => {
                let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.pending_dials.insert(id, reply);
                    }
                    Err(e) => {
                        // The caller gets the error; if it is gone, so is its interest.
                        let _ = reply.send(Err(NetError::Unreachable {
                            peer: addr.to_string(),
                            detail: e.to_string(),
                        }));
                    }
                }
            }
            Command::SetMembers {
                region,
                members,
                reply,
            } => {
                self.set_members(&region, members);
                // Err only when the caller stopped waiting: the members are set regardless.
                let _ = reply.send(());
            }
            Command::Request {
                peer,
                protocol,
                bytes,
                reply,
            } => self.request(peer, protocol, bytes, reply),
            Command::Publish {
                region,
                bytes,
                reply,
            } => {
                let size = bytes.len();
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(region_topic(&region), bytes);
                // Err only when the caller stopped waiting for the outcome: nothing to do.
                let _ = reply.send(result.map(|_| ()).map_err(|e| match e {
                    PublishError::NoPeersSubscribedToTopic | PublishError::AllQueuesFull(_) => {
                        NetError::NoPeers(region)
                    }
                    PublishError::MessageTooLarge => NetError::TooLarge { size, max: 0 },
                    other => NetError::Io(other.to_string()),
                }));
            }
            Command::Subscribe { region, reply } => {
                let topic = region_topic(&region);
                // The filter first, or gossipsub refuses the subscription.
                self.region_topics.add(topic.hash());
                let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
                if let Err(e) = gossipsub.set_topic_params(topic.clone(), scoring::topic_params()) {
                    tracing::error!(%region, error = e, "no peer scoring on the region's topic");
                }
                let result = gossipsub.subscribe(&topic);
                self.topics.insert(topic.hash(), region);
                // Err only when the caller stopped waiting: nothing to do.
                let _ = reply.send(result.map(|_| ()).map_err(|e| match e {
                    SubscriptionError::PublishError(p) => NetError::Io(p.to_string()),
                    other => NetError::Io(format!("{other:?}")),
                }));
            }
            Command::ConnectedPeers { reply } => {
                // Err only when the caller stopped waiting: nothing to do.
                let _ = reply.send(self.swarm.connected_peers().filter_map(did_of).collect());
            }
            Command::Peers { reply } => {
                let now = Instant::now();
                let local = *self.swarm.local_peer_id();
                let mut seen: Vec<PeerSeen> = self
                    .allow
                    .all()
                    .filter(|(peer, _)| **peer != local)
                    .map(|(peer, member)| PeerSeen {
                        did: member.did.clone(),
                        connected: self.swarm.is_connected(peer),
                        neighbour: self.mesh.is_neighbour(peer),
                        heard: self.mesh.heard_ago(peer, now),
                    })
                    .collect();
                seen.sort_by(|a, b| a.did.cmp(&b.did));
                seen.dedup_by(|a, b| a.did == b.did);
                // Err only when the caller stopped waiting: nothing to do.
                let _ = reply.send(seen);
            }
            Command::GossipScore { peer, reply } => {
                let score = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .peer_score(&peer_id_of(&peer));
                // Err only when the caller stopped waiting: nothing to do.
                let _ = reply.send(score);
            }
            Command::ListenAddrs { reply } => {
                // Err only when the caller stopped waiting: nothing to do.
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
        }
    }

    /// New members for `region`: the allow-list, Kademlia's address book (members only) and
    /// the neighbours change; missing neighbours are dialled at once. Other members are not
    /// dialled: a query or a sync reaches them on demand.
    fn set_members(&mut self, region: &str, members: Vec<(Did, Vec<libp2p::Multiaddr>)>) {
        self.allow.set(region, members);
        // Admission: from now on only these peers' inbound connections are accepted.
        let allowed = self.allow.allowed().clone();
        self.swarm.behaviour_mut().gate.admit(&allowed);
        let local = *self.swarm.local_peer_id();
        let mut known = Vec::new();
        for (peer, member) in self.allow.all() {
            if *peer != local {
                known.extend(member.addrs.iter().map(|a| (*peer, a.clone())));
            }
        }
        for (peer, addr) in known {
            self.swarm.behaviour_mut().kad.add_address(&peer, addr);
        }
        self.mesh
            .set_regions(&local, self.allow.regions(), self.allow.allowed());
        self.upkeep();
    }

    /// Dials the neighbours that are not connected (with backoff) and closes connections to
    /// other peers that carried no request for the idle timeout (see [`Mesh`]).
    pub(crate) fn upkeep(&mut self) {
        let connected: HashSet<PeerId> = self.swarm.connected_peers().copied().collect();
        let busy: HashSet<PeerId> = self
            .pending_requests
            .values()
            .map(|p| peer_id_of(&p.peer))
            .collect();
        let (dial, close) = self.mesh.tick(Instant::now(), &connected, &busy);
        let may_dial: HashSet<PeerId> = self.mesh.neighbour_set().union(&busy).copied().collect();
        self.swarm.behaviour_mut().gate.set(may_dial);
        for peer in dial {
            let opts = DialOpts::peer_id(peer)
                .addresses(self.allow.addrs(&peer))
                .extend_addresses_through_behaviour()
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                // The backoff redials; connection failures also surface as events.
                tracing::debug!(%peer, error = %e, "could not dial a neighbour");
            }
        }
        for peer in close {
            // Err only when it is no longer connected: nothing left to close.
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn request(&mut self, peer: Did, protocol: Protocol, bytes: Vec<u8>, reply: RequestReply) {
        if peer == self.local_did {
            // Loopback: the coordinator asks itself like any member, without the network.
            Counters::bump(&self.counters.requests_handled);
            let handler = Arc::clone(&self.handler);
            let limit = Arc::clone(&self.inbound_limit);
            tokio::spawn(async move {
                let _permit = limit.acquire_owned().await;
                let out = match protocol {
                    Protocol::Query => handler.on_query(peer, bytes).await,
                    Protocol::Chain => handler.on_chain(peer, bytes).await,
                };
                // Err only when the requester's deadline passed: it reports a timeout.
                let _ = reply.send(out.map_err(NetError::from));
            });
            return;
        }
        if self.pending_requests.len() >= PRUNE_AT {
            // Callers whose deadline passed have dropped their receiver; libp2p would only
            // tell us at `max_request_timeout`.
            self.pending_requests.retain(|_, p| !p.reply.is_closed());
        }
        self.send_request(
            protocol,
            Pending {
                peer,
                bytes: Some(bytes.clone()),
                reply,
            },
            bytes,
        );
    }

    /// Sends (or re-sends) a request and records it as pending.
    pub(crate) fn send_request(&mut self, protocol: Protocol, pending: Pending, bytes: Vec<u8>) {
        let peer_id = peer_id_of(&pending.peer);
        self.mesh.used(peer_id, Instant::now());
        self.swarm.behaviour_mut().gate.open(peer_id);
        let addrs = self.allow.addrs(&peer_id);
        let request = WireRequest {
            body: Payload(bytes),
        };
        let id = self
            .rpc(protocol)
            .send_request_with_addresses(&peer_id, request, addrs);
        self.pending_requests.insert((protocol, id), pending);
    }
}
