//! How the network task reacts to swarm events: membership gating of inbound requests and
//! gossip, completion of outbound requests and dials, and feeding Kademlia with members'
//! addresses only.

use std::sync::Arc;
use std::time::Instant;

use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::request_response::{self, InboundRequestId, Message, OutboundFailure};
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, kad, mdns, PeerId};
use regio_policy::decision::Reason;

use super::behaviour::BehaviourEvent;
use super::handle::Counters;
use super::identity::did_of;
use super::protocol::{Payload, Protocol, Refusal, WireRequest, WireResponse};
use super::task::{Reply, Task};
use super::{InboundHandler, NetError};

type RpcEvent = request_response::Event<WireRequest, WireResponse>;

impl<H: InboundHandler> Task<H> {
    pub(crate) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Query(ev)) => self.on_rpc(Protocol::Query, ev),
            SwarmEvent::Behaviour(BehaviourEvent::Chain(ev)) => self.on_rpc(Protocol::Chain, ev),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(ev)) => self.on_gossip(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if self.allow.is_allowed(&peer_id) => {
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(
                kad::Event::RoutablePeer { peer, address }
                | kad::Event::PendingRoutablePeer { peer, address },
            )) if self.allow.is_allowed(&peer) => {
                // Manual bucket inserts: only region members enter the routing table.
                self.swarm.behaviour_mut().kad.add_address(&peer, address);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    if self.allow.is_allowed(&peer) {
                        self.swarm.behaviour_mut().kad.add_address(&peer, addr);
                    }
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                ..
            } => {
                self.mesh.connected(&peer_id);
                if !self.mesh.is_neighbour(&peer_id) && self.allow.is_allowed(&peer_id) {
                    self.mesh.used(peer_id, Instant::now());
                }
                if let Some(reply) = self.pending_dials.remove(&connection_id) {
                    if reply.send(Ok(peer_id)).is_err() {
                        tracing::debug!(peer = %peer_id, "connected after the dialler stopped waiting");
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                let peer = peer_id
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "(address)".into());
                // Dials fail often and harmlessly (the loser of two racing dials, a member
                // that is down: the mesh's backoff redials it), hence debug; a dial someone
                // waits for gets the error itself.
                tracing::debug!(peer = %peer, error = %error, "outgoing connection failed");
                if let Some(reply) = self.pending_dials.remove(&connection_id) {
                    let failed = NetError::Unreachable {
                        peer,
                        detail: error.to_string(),
                    };
                    if let Err(Err(e)) = reply.send(Err(failed)) {
                        tracing::debug!(error = %e, "dial failed after the dialler stopped waiting");
                    }
                }
            }
            SwarmEvent::ListenerClosed {
                addresses,
                reason: Err(error),
                ..
            } => {
                tracing::error!(?addresses, error = %error, "a listener closed: peers can no longer reach these addresses");
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(error = %error, "a listener failed");
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                tracing::debug!(from = %send_back_addr, error = %error, "incoming connection failed");
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                cause: Some(error),
                ..
            } => {
                tracing::debug!(peer = %peer_id, error = %error, "connection closed on an error");
            }
            _ => {}
        }
    }

    fn on_rpc(&mut self, protocol: Protocol, event: RpcEvent) {
        match event {
            RpcEvent::Message {
                peer,
                message:
                    Message::Request {
                        request,
                        channel,
                        request_id,
                    },
                ..
            } => {
                // Only a member's request keeps a connection open (a non-member's is refused
                // below and must not hold its connection past the idle timeout).
                if self.allow.is_allowed(&peer) {
                    self.mesh.used(peer, Instant::now());
                }
                self.on_inbound_request(protocol, peer, request_id, request, channel);
            }
            RpcEvent::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                self.mesh.used(peer, Instant::now());
                if let Some(pending) = self.pending_requests.remove(&(protocol, request_id)) {
                    let reply = match response {
                        WireResponse::Answer(body) => Ok(body.0),
                        WireResponse::Refused(refusal) => Err(NetError::from(refusal)),
                    };
                    if pending.reply.send(reply).is_err() {
                        // The requester's deadline passed: it reports the member as timed out.
                        tracing::debug!(%peer, protocol = %protocol.name(), "a reply arrived after the requester stopped waiting");
                    }
                }
            }
            RpcEvent::OutboundFailure {
                request_id, error, ..
            } => {
                let Some(mut pending) = self.pending_requests.remove(&(protocol, request_id))
                else {
                    return;
                };
                // Retry once only when the request never left this node (the dial failed,
                // e.g. the loser of two racing dials): a request lost with its connection may
                // have been delivered, and sending it again would make the member see a
                // replay (`query.replayed`) instead of the query.
                if matches!(error, OutboundFailure::DialFailure) && !pending.reply.is_closed() {
                    if let Some(bytes) = pending.bytes.take() {
                        return self.send_request(protocol, pending, bytes);
                    }
                }
                let lost = connection_lost(&error);
                let peer = pending.peer.to_string();
                let failed = match error {
                    _ if lost => NetError::Unreachable {
                        peer,
                        detail: format!("connection lost: {error}"),
                    },
                    OutboundFailure::DialFailure => NetError::Unreachable {
                        peer,
                        detail: "dial failed".into(),
                    },
                    OutboundFailure::Timeout => NetError::Timeout(self.max_request_timeout),
                    OutboundFailure::UnsupportedProtocols => {
                        NetError::Io(format!("{peer} does not speak {}", protocol.name()))
                    }
                    other => NetError::Io(other.to_string()),
                };
                // The requester gets the error and reports it; if it stopped waiting, its
                // deadline passed and it reports a timeout.
                if let Err(Err(e)) = pending.reply.send(Err(failed)) {
                    tracing::debug!(peer = %pending.peer, protocol = %protocol.name(), error = %e, "a request failed after the requester stopped waiting");
                }
            }
            RpcEvent::InboundFailure { peer, error, .. } => {
                Counters::bump(&self.counters.inbound_failures);
                tracing::warn!(%peer, protocol = %protocol.name(), error = %error, "could not answer a peer's request");
            }
            RpcEvent::ResponseSent { .. } => {}
        }
    }

    /// The gate: a peer that shares no region with us gets `peer.not_member` at once and the
    /// handler never sees its request.
    fn on_inbound_request(
        &mut self,
        protocol: Protocol,
        peer: PeerId,
        _id: InboundRequestId,
        request: WireRequest,
        channel: request_response::ResponseChannel<WireResponse>,
    ) {
        let from = match did_of(&peer) {
            Some(did) if self.allow.is_allowed(&peer) => did,
            _ => {
                Counters::bump(&self.counters.requests_refused);
                tracing::debug!(%peer, protocol = %protocol.name(), "refused a request from a non-member");
                let refusal = WireResponse::Refused(Refusal {
                    reason: Reason::PeerNotMember.code().to_owned(),
                    message: None,
                });
                self.send_reply(Reply {
                    protocol,
                    channel,
                    response: refusal,
                });
                return;
            }
        };
        Counters::bump(&self.counters.requests_handled);
        let handler = Arc::clone(&self.handler);
        let limit = Arc::clone(&self.inbound_limit);
        let replies = self.replies_tx.clone();
        tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            let bytes = request.body.0;
            let out = match protocol {
                Protocol::Query => handler.on_query(from, bytes).await,
                Protocol::Chain => handler.on_chain(from, bytes).await,
            };
            let response = match out {
                Ok(bytes) => WireResponse::Answer(Payload(bytes)),
                Err(refusal) => WireResponse::Refused(refusal),
            };
            let reply = Reply {
                protocol,
                channel,
                response,
            };
            if replies.send(reply).is_err() {
                tracing::debug!(%peer, protocol = %protocol.name(), "the network task stopped before the answer could be sent");
            }
        });
    }

    /// Gossip is accepted only when its author is a member of the topic's region and the peer
    /// that forwarded it is a member of some region of ours; everything else is rejected
    /// (a rejected message is neither delivered nor forwarded, and counts against the
    /// forwarder's gossipsub score: see [`super::scoring`]).
    fn on_gossip(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        let region = self.topics.get(&message.topic).cloned();
        let author = message.source.and_then(|p| did_of(&p).map(|d| (p, d)));
        let accepted = match (&region, &author) {
            (Some(region), Some((author_peer, author_did))) => {
                (self.allow.is_member(region, author_peer)
                    && self.allow.is_allowed(&propagation_source))
                .then(|| (region.clone(), author_did.clone()))
            }
            _ => None,
        };
        let acceptance = if accepted.is_some() {
            MessageAcceptance::Accept
        } else {
            MessageAcceptance::Reject
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&message_id, &propagation_source, acceptance);
        match accepted {
            Some((region, from)) => {
                Counters::bump(&self.counters.gossip_accepted);
                let direct = message.source == Some(propagation_source);
                if let Some((author, _)) = author {
                    self.mesh.heard(author, Instant::now());
                }
                self.handler.on_gossip(&region, from, message.data, direct);
            }
            None => Counters::bump(&self.counters.gossip_rejected),
        }
    }
}

/// Whether an outbound failure means the connection went away under the request (as opposed
/// to the peer being undialable, slow, or resetting this one stream).
fn connection_lost(error: &OutboundFailure) -> bool {
    use std::io::ErrorKind;
    match error {
        OutboundFailure::ConnectionClosed => true,
        OutboundFailure::Io(e) => {
            matches!(
                e.kind(),
                ErrorKind::NotConnected | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
            )
        }
        _ => false,
    }
}
