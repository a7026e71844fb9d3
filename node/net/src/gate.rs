//! The gate (owner: net): a behaviour that lets this node dial only the peers it has a
//! reason to — its neighbours (see [`super::mesh`]) and the members it has a request for —
//! and admits inbound connections from members only.
//!
//! Without it, Kademlia's automatic bootstrap (which libp2p runs whenever a peer enters a
//! routing table of fewer than 20 entries, and which cannot be switched off) looks up peers
//! across the whole region and dials most of its members while a region forms. In a region of
//! 50 those connections are closed again after the idle timeout, but the memory they took
//! stays with the process (measured: 49 connections per node during formation, then 12 after
//! the timeout, and no less resident memory). With the gate, a Kademlia lookup simply skips
//! the members that are not neighbours. Dials by address (no peer id) are not gated.
//!
//! **Admission**: an inbound connection from a peer that is not a member of one of this
//! node's regions is refused the moment it is established (Noise has proved the peer's
//! identity), before any other behaviour — connection limits included — counts it or gives
//! it a handler (the gate is the behaviour's first part). The members are the allow-list the
//! federation sets through [`super::Handle::set_members`] (the task copies it here on every
//! change). So an outsider never holds an established connection slot: `max_established`
//! (256) is reserved for members, and however many identities and connections an outsider
//! makes, a member can still connect. What an outsider can still take is a slot of
//! `max_pending` (64 incoming handshakes) while its handshake lasts; members also dial each
//! other (the mesh), so a member is still reached while those are taken. A connection of a
//! peer that has since left every region is not cut: its requests are refused
//! (`peer.not_member`), do not keep it open, and it closes after the idle timeout.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

use super::handle::Counters;

/// The peers this node may dial, and the members whose inbound connections it admits.
#[derive(Debug)]
pub(crate) struct Gate {
    may_dial: HashSet<PeerId>,
    members: HashSet<PeerId>,
    counters: Arc<Counters>,
}

/// An inbound connection refused: the peer is in none of this node's regions.
#[derive(Debug, thiserror::Error)]
#[error("refused: {0} is not a member of any region of this node")]
pub(crate) struct NotMember(PeerId);

/// A dial the gate refused: the peer is neither a neighbour nor wanted by a request.
#[derive(Debug, thiserror::Error)]
#[error("not dialled: {0} is not a neighbour and no request is waiting for it")]
pub(crate) struct NotDialable(PeerId);

impl Gate {
    /// A gate that dials no one and admits no one yet, counting refusals in `counters`.
    pub(crate) fn new(counters: Arc<Counters>) -> Gate {
        Gate {
            may_dial: HashSet::new(),
            members: HashSet::new(),
            counters,
        }
    }

    /// Replaces the members whose inbound connections are admitted.
    pub(crate) fn admit(&mut self, members: &HashSet<PeerId>) {
        self.members.clone_from(members);
    }

    /// Replaces the set of peers that may be dialled.
    pub(crate) fn set(&mut self, peers: HashSet<PeerId>) {
        self.may_dial = peers;
    }

    /// Lets `peer` be dialled too (until the next [`Gate::set`]).
    pub(crate) fn open(&mut self, peer: PeerId) {
        self.may_dial.insert(peer);
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if self.members.contains(&peer) {
            return Ok(dummy::ConnectionHandler);
        }
        Counters::bump(&self.counters.connections_refused);
        tracing::debug!(%peer, %remote, "refused an inbound connection from a non-member");
        Err(ConnectionDenied::new(NotMember(peer)))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        match peer {
            Some(peer) if !self.may_dial.contains(&peer) => {
                Err(ConnectionDenied::new(NotDialable(peer)))
            }
            _ => Ok(Vec::new()),
        }
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
