//! Network settings: listen addresses, limits, and the mDNS switch (off by default).

use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;

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
    /// A connection with no open streams is closed after this long.
    pub idle_timeout: Duration,
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
        NetConfig { listen: vec![tcp_loopback(0), quic_loopback(0)], ..NetConfig::default() }
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

    /// The same settings, with other request / response size caps.
    pub fn with_max_sizes(mut self, request_bytes: u64, response_bytes: u64) -> Self {
        self.max_request_bytes = request_bytes;
        self.max_response_bytes = response_bytes;
        self
    }
}

fn tcp_any(port: u16) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Ip4([0, 0, 0, 0].into())).with(Protocol::Tcp(port))
}

fn quic_any(port: u16) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Ip4([0, 0, 0, 0].into())).with(Protocol::Udp(port)).with(Protocol::QuicV1)
}

/// `/ip4/127.0.0.1/tcp/<port>`.
pub fn tcp_loopback(port: u16) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Ip4([127, 0, 0, 1].into())).with(Protocol::Tcp(port))
}

/// `/ip4/127.0.0.1/udp/<port>/quic-v1`.
pub fn quic_loopback(port: u16) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Ip4([127, 0, 0, 1].into())).with(Protocol::Udp(port)).with(Protocol::QuicV1)
}
