//! The dial gate (owner: net): a behaviour that lets this node dial only the peers it has a
//! reason to — its neighbours (see [`super::mesh`]) and the members it has a request for.
//!
//! Without it, Kademlia's automatic bootstrap (which libp2p runs whenever a peer enters a
//! routing table of fewer than 20 entries, and which cannot be switched off) looks up peers
//! across the whole region and dials most of its members while a region forms. In a region of
//! 50 those connections are closed again after the idle timeout, but the memory they took
//! stays with the process (measured: 49 connections per node during formation, then 12 after
//! the timeout, and no less resident memory). With the gate, a Kademlia lookup simply skips
//! the members that are not neighbours. Dials by address (no peer id) and inbound
//! connections are not gated: the allow-list ([`super::identity`]) decides what they may do.

use std::collections::HashSet;
use std::convert::Infallible;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

/// The peers this node may dial.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    may_dial: HashSet<PeerId>,
}

/// A dial the gate refused: the peer is neither a neighbour nor wanted by a request.
#[derive(Debug, thiserror::Error)]
#[error("not dialled: {0} is not a neighbour and no request is waiting for it")]
pub(crate) struct NotDialable(PeerId);

impl Gate {
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
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
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
