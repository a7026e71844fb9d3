//! The composed libp2p behaviour and the swarm it runs in.
//!
//! | part | why |
//! |---|---|
//! | `connection_limits` | total / per-peer / pending connection caps |
//! | `identify` | learn peers' listen addresses (fed to Kademlia for members only) |
//! | `kad` | Kademlia in server mode, routing table filled with region members only |
//! | `gossipsub` | per-region topic; signed messages, strict validation, app-level accept/reject |
//! | `query`, `chain` | request-response with CBOR, size-capped |
//! | `mdns` | `Toggle`d off unless [`NetConfig::mdns`] |
//!
//! Transports: TCP and QUIC, Noise + Yamux on TCP, DNS resolution of `/dns*` addresses.

use std::time::Duration;

use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub::{self, MessageAuthenticity, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::kad::{self, store::MemoryStore, BucketInserts};
use libp2p::request_response::{self, cbor, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, mdns, noise, tcp, yamux, Swarm, SwarmBuilder};

use super::config::NetConfig;
use super::protocol::{WireRequest, WireResponse, CHAIN_PROTOCOL, IDENTIFY_PROTOCOL, KAD_PROTOCOL, QUERY_PROTOCOL};
use super::NetError;

/// The request-response behaviour of one protocol.
pub(crate) type Rpc = cbor::Behaviour<WireRequest, WireResponse>;

/// Everything the swarm runs.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) kad: kad::Behaviour<MemoryStore>,
    pub(crate) gossipsub: gossipsub::Behaviour,
    pub(crate) query: Rpc,
    pub(crate) chain: Rpc,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Behaviour {
    fn new(key: &Keypair, config: &NetConfig) -> Result<Self, BoxError> {
        let peer_id = key.public().to_peer_id();

        let limits = connection_limits::Behaviour::new(
            ConnectionLimits::default()
                .with_max_established(Some(config.max_established))
                .with_max_established_per_peer(Some(config.max_established_per_peer))
                .with_max_pending_incoming(Some(config.max_pending))
                .with_max_pending_outgoing(Some(config.max_pending)),
        );

        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                .with_agent_version(format!("regio/{}", env!("CARGO_PKG_VERSION"))),
        );

        let mut kad_config = kad::Config::new(KAD_PROTOCOL);
        // Only region members enter the routing table (inserted by the network task).
        kad_config.set_kbucket_inserts(BucketInserts::Manual);
        kad_config.set_periodic_bootstrap_interval(Some(Duration::from_secs(300)));
        let mut kad = kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), kad_config);
        kad.set_mode(Some(kad::Mode::Server));

        let gossip_config = gossipsub::ConfigBuilder::default()
            .validation_mode(ValidationMode::Strict)
            .validate_messages()
            .max_transmit_size(config.max_gossip_bytes)
            .heartbeat_interval(config.gossip_heartbeat)
            .build()?;
        let gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), gossip_config)?;

        let rpc_config = request_response::Config::default().with_request_timeout(config.max_request_timeout);
        let rpc = |protocol| -> Rpc {
            let codec = cbor::codec::Codec::default()
                .set_request_size_maximum(config.max_request_bytes)
                .set_response_size_maximum(config.max_response_bytes);
            request_response::Behaviour::with_codec(codec, [(protocol, ProtocolSupport::Full)], rpc_config.clone())
        };

        let mdns = if config.mdns {
            Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)?)
        } else {
            None
        };

        Ok(Behaviour {
            limits,
            identify,
            kad,
            gossipsub,
            query: rpc(QUERY_PROTOCOL),
            chain: rpc(CHAIN_PROTOCOL),
            mdns: Toggle::from(mdns),
        })
    }
}

/// Builds the swarm: TCP (Noise, Yamux) + QUIC + DNS, on tokio.
pub(crate) fn build_swarm(key: Keypair, config: &NetConfig) -> Result<Swarm<Behaviour>, NetError> {
    let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| setup(&e))?
        .with_quic()
        .with_dns()
        .map_err(|e| setup(&e))?
        .with_behaviour(|key| Behaviour::new(key, config))
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
        .build();
    Ok(swarm)
}
