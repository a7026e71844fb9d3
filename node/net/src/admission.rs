//! Admission (owner: net): a behaviour that refuses every inbound connection from a peer
//! that is not a member of one of this node's regions, the moment it is established (Noise
//! has proved the peer's identity), before any other behaviour — connection limits included
//! — counts it or gives it a handler. The members are the allow-list the federation sets
//! through [`super::Handle::set_members`] (the task copies it here on every change). A
//! connection of a peer that has since left every region is not cut: its requests are
//! refused (`peer.not_member`), do not keep it open, and it closes after the idle timeout.
//!
//! So an outsider never holds an established connection slot: `max_established` (256) is
//! reserved for members, and however many identities and connections an outsider makes, a
//! member can still connect. What an outsider can still take is a slot of
//! `max_pending` (64, incoming handshakes) for as long as its handshake lasts; members also
//! dial each other (the mesh), so a member is still reached while those are taken.
//! Outbound connections are not gated here: the dial gate ([`super::gate`]) decides whom
//! this node dials.

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

/// An inbound connection refused: the peer is in none of this node's regions.
#[derive(Debug, thiserror::Error)]
#[error("refused: {0} is not a member of any region of this node")]
pub(crate) struct NotMember(PeerId);

/// The members whose inbound connections are admitted.
#[derive(Debug)]
pub(crate) struct Admission {
    members: HashSet<PeerId>,
    counters: Arc<Counters>,
}

impl Admission {
    /// Admission counting refusals in `counters`.
    pub(crate) fn new(counters: Arc<Counters>) -> Admission {
        Admission {
            members: HashSet::new(),
            counters,
        }
    }

    /// Replaces the members.
    pub(crate) fn set(&mut self, members: &HashSet<PeerId>) {
        self.members.clone_from(members);
    }
}

impl NetworkBehaviour for Admission {
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
