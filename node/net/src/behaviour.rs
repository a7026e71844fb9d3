//! The composed libp2p behaviour, the swarm it runs in, and its settings ([`NetConfig`]:
//! listen addresses, limits, and the mDNS switch, off by default).
//!
//! | part | why |
//! |---|---|
//! | `gate` | dials only neighbours and members a request waits for; refuses non-members' inbound connections once established ([`super::gate`]) |
//! | `connection_limits` | total / per-peer / pending connection caps |
//! | `identify` | learn peers' listen addresses (fed to Kademlia for members only) |
//! | `kad` | Kademlia in server mode, routing table filled with region members only |
//! | `gossipsub` | per-region topic; signed messages, strict validation, app-level accept/reject; subscriptions filtered to the regions joined, peer scoring on region topics ([`super::scoring`]) |
//! | `query`, `chain` | request-response with CBOR, size-capped |
//! | `mdns` | `Toggle`d off unless [`NetConfig::mdns`] |
//!
//! Transports: TCP and QUIC, Noise + Yamux on TCP, DNS resolution of `/dns*` addresses.

use std::time::Duration;

use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub::{self, MessageAuthenticity, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::kad::{self, store::MemoryStore, BucketInserts};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, cbor, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, mdns, noise, tcp, yamux, Multiaddr, Swarm, SwarmBuilder};

use super::gate::Gate;
use super::protocol::{
    WireRequest, WireResponse, CHAIN_PROTOCOL, IDENTIFY_PROTOCOL, KAD_PROTOCOL, QUERY_PROTOCOL,
};
use super::scoring::{self, RegionTopics};
use super::NetError;

/// The request-response behaviour of one protocol.
pub(crate) type Rpc = cbor::Behaviour<WireRequest, WireResponse>;

/// Everything the swarm runs.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    // First: a non-member's inbound connection is refused before any other part (connection
    // limits included) counts it.
    pub(crate) gate: Gate,
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) kad: kad::Behaviour<MemoryStore>,
    pub(crate) gossipsub: gossipsub::Behaviour<gossipsub::IdentityTransform, RegionTopics>,
    pub(crate) query: Rpc,
    pub(crate) chain: Rpc,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Behaviour {
    fn new(key: &Keypair, config: &NetConfig, parts: Parts) -> Result<Self, BoxError> {
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
        // No periodic bootstrap: members' addresses come from the manifest and identify, and
        // a bootstrap would dial members that are not neighbours (see `mesh`) just to ask
        // them for peers we already know.
        kad_config.set_periodic_bootstrap_interval(None);
        let mut kad = kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), kad_config);
        kad.set_mode(Some(kad::Mode::Server));

        let gossip_config = gossipsub::ConfigBuilder::default()
            .validation_mode(ValidationMode::Strict)
            .validate_messages()
            .max_transmit_size(config.max_gossip_bytes)
            .heartbeat_interval(config.gossip_heartbeat)
            // A node's own messages go to its mesh peers only (gossipsub's default floods them
            // to every connected subscriber): every member is connected, so flooding made each
            // large document (a manifest with a signature per member) cross every connection,
            // and each connection's framing buffers grow to the largest message it carried.
            .flood_publish(false)
            .build()?;
        let mut gossipsub = gossipsub::Behaviour::new_with_subscription_filter(
            MessageAuthenticity::Signed(key.clone()),
            gossip_config,
            parts.topics,
        )?;
        gossipsub.with_peer_score(scoring::peer_score_params(), scoring::thresholds())?;

        let rpc_config =
            request_response::Config::default().with_request_timeout(config.max_request_timeout);
        let rpc = |protocol| -> Rpc {
            let codec = cbor::codec::Codec::default()
                .set_request_size_maximum(config.max_request_bytes)
                .set_response_size_maximum(config.max_response_bytes);
            request_response::Behaviour::with_codec(
                codec,
                [(protocol, ProtocolSupport::Full)],
                rpc_config.clone(),
            )
        };

        let mdns = if config.mdns {
            Some(mdns::tokio::Behaviour::new(
                mdns::Config::default(),
                peer_id,
            )?)
        } else {
            None
        };

        Ok(Behaviour {
            gate: Gate::new(parts.counters),
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

/// What the network task shares with parts of the behaviour.
pub(crate) struct Parts {
    /// The region topics gossipsub tracks (the task adds one per region it joins).
    pub(crate) topics: RegionTopics,
    /// The task's counters (the gate counts the connections it refuses).
    pub(crate) counters: std::sync::Arc<super::handle::Counters>,
}

/// Builds the swarm: TCP (Noise, Yamux) + QUIC + DNS, on tokio.
pub(crate) fn build_swarm(
    key: Keypair,
    config: &NetConfig,
    parts: Parts,
) -> Result<Swarm<Behaviour>, NetError> {
    let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        .with_quic()
        .with_dns()
        .map_err(|e| setup(&e))?
        .with_behaviour(|key| Behaviour::new(key, config, parts))
        .map_err(|e| setup(&e))?
        // One address at a time: dialling a member's TCP and QUIC addresses at once let the
        // loser of the race be established at the member before this side dropped it, and a
        // request the member sent on that connection was lost ("connection closed before a
        // response"; `tests/net.rs` failed about one run in five).
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(config.idle_timeout)
                .with_dial_concurrency_factor(std::num::NonZeroU8::MIN)
        })
        .build();
    Ok(swarm)
}

/// How the node's libp2p swarm is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetConfig {
    /// Addresses to listen on (TCP and/or QUIC `…/udp/N/quic-v1`).
    pub listen: Vec<Multiaddr>,
    /// Discover peers on the local network by mDNS. Off by default: region membership, not the
    /// LAN, decides whom a node talks to.
    pub mdns: bool,
    /// Most established connections in total.
    pub max_established: u32,
    /// Most established connections to one peer.
    pub max_established_per_peer: u32,
    /// Most connections being set up (in and out, each).
    pub max_pending: u32,
    /// Largest request (query or chain fetch) accepted or sent, in bytes.
    pub max_request_bytes: u64,
    /// Largest response accepted, in bytes.
    pub max_response_bytes: u64,
    /// Largest gossip message, in bytes.
    pub max_gossip_bytes: usize,
    /// A connection to a peer that is not a neighbour is closed after it carried no request
    /// for this long (and any connection with no open streams, by libp2p).
    pub idle_timeout: Duration,
    /// Regions of at most this many members are a full mesh (every member a neighbour);
    /// in larger ones a node keeps about `2·log2(n)` neighbours and dials other members on
    /// demand (see the `mesh` module).
    pub full_mesh_up_to: usize,
    /// Upper bound on any request; each request also carries its own (shorter) deadline.
    pub max_request_timeout: Duration,
    /// Gossipsub heartbeat.
    pub gossip_heartbeat: Duration,
    /// Capacity of the command channel from [`super::Handle`]s to the network task.
    pub command_buffer: usize,
    /// Most inbound requests being handled at once; further ones wait in libp2p's stream
    /// limits (and time out on the requester's side).
    pub max_inbound_concurrency: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            listen: vec![tcp_any(0), quic_any(0)],
            mdns: false,
            max_established: 256,
            max_established_per_peer: 8,
            max_pending: 64,
            max_request_bytes: 1024 * 1024,
            max_response_bytes: 16 * 1024 * 1024,
            max_gossip_bytes: 256 * 1024,
            idle_timeout: Duration::from_secs(60),
            full_mesh_up_to: 16,
            max_request_timeout: Duration::from_secs(60),
            gossip_heartbeat: Duration::from_millis(700),
            command_buffer: 256,
            max_inbound_concurrency: 64,
        }
    }
}

impl NetConfig {
    /// Loopback only, ephemeral TCP and QUIC ports: for tests and the in-process demo.
    pub fn loopback() -> Self {
        NetConfig {
            listen: vec![tcp_loopback(0), quic_loopback(0)],
            ..NetConfig::default()
        }
    }

    /// The same settings, listening on `listen` instead.
    pub fn with_listen(mut self, listen: Vec<Multiaddr>) -> Self {
        self.listen = listen;
        self
    }

    /// The same settings, with mDNS discovery switched on or off.
    pub fn with_mdns(mut self, on: bool) -> Self {
        self.mdns = on;
        self
    }

    /// The same settings, with regions of at most `members` members kept as a full mesh.
    pub fn with_full_mesh_up_to(mut self, members: usize) -> Self {
        self.full_mesh_up_to = members;
        self
    }

    /// The same settings, with another idle timeout for connections that are not kept.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// The same settings, with other request / response size caps.
    pub fn with_max_sizes(mut self, request_bytes: u64, response_bytes: u64) -> Self {
        self.max_request_bytes = request_bytes;
        self.max_response_bytes = response_bytes;
        self
    }
}

fn tcp_any(port: u16) -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::Ip4([0, 0, 0, 0].into()))
        .with(Protocol::Tcp(port))
}

fn quic_any(port: u16) -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::Ip4([0, 0, 0, 0].into()))
        .with(Protocol::Udp(port))
        .with(Protocol::QuicV1)
}

/// `/ip4/127.0.0.1/tcp/<port>`.
pub fn tcp_loopback(port: u16) -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::Ip4([127, 0, 0, 1].into()))
        .with(Protocol::Tcp(port))
}

/// `/ip4/127.0.0.1/udp/<port>/quic-v1`.
pub fn quic_loopback(port: u16) -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::Ip4([127, 0, 0, 1].into()))
        .with(Protocol::Udp(port))
        .with(Protocol::QuicV1)
}
