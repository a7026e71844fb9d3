//! Gossip hygiene (owner: net): which topics gossipsub keeps track of, and how it scores the
//! peers that send on them.
//!
//! **Subscription filter** (`RegionTopics`): gossipsub records a peer's subscription only
//! for the topics of regions this node joined, so a peer announcing thousands of topics costs
//! nothing, and this node can subscribe to nothing else.
//!
//! **Peer scoring** on region topics (gossipsub v1.1): a message the node rejects (its author
//! is not a member of the topic's region, or the peer that forwarded it is no member of ours;
//! see `events`) counts as an invalid delivery of the peer that sent it (P4, weight
//! [`INVALID_MESSAGE_WEIGHT`] times the count squared). Three rejected messages take a peer
//! below [`GRAYLIST_THRESHOLD`]: from then on gossipsub ignores everything it sends, on every
//! topic, until the count decays (×[`INVALID_MESSAGE_DECAY`] per second: three rejected
//! messages are forgiven after about 6 s, five after about 1 minute, ten after about 2). Mesh-delivery penalties (P3, P3b) are off: in a region of a few members a
//! quiet member delivers little and must not be punished for it. The IP colocation penalty
//! (P6) is off: members are few and known by key, and several may share a NAT or a host.
//!
//! | threshold | value | below it |
//! |---|---|---|
//! | gossip | −10 | no gossip (IHAVE/IWANT) exchanged with the peer |
//! | publish | −50 | this node's own messages are not sent to the peer |
//! | graylist | −80 | everything the peer sends is ignored |

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use libp2p::gossipsub::{
    PeerScoreParams, PeerScoreThresholds, TopicHash, TopicScoreParams, TopicSubscriptionFilter,
};

/// Score below which gossipsub exchanges no gossip with a peer.
pub const GOSSIP_THRESHOLD: f64 = -10.0;
/// Score below which this node's own messages are not sent to a peer.
pub const PUBLISH_THRESHOLD: f64 = -50.0;
/// Score below which everything a peer sends is ignored.
pub const GRAYLIST_THRESHOLD: f64 = -80.0;
/// Weight of a peer's rejected messages on a region topic (times their count, squared).
pub const INVALID_MESSAGE_WEIGHT: f64 = -10.0;
/// Per-second decay of the count of rejected messages.
pub const INVALID_MESSAGE_DECAY: f64 = 0.99;

/// The region topics this node joined; gossipsub's subscription filter. Cheap to clone
/// (shared with the network task, which adds a region's topic before subscribing to it).
#[derive(Debug, Clone, Default)]
pub(crate) struct RegionTopics(Arc<Mutex<HashSet<TopicHash>>>);

impl RegionTopics {
    /// Lets gossipsub track `topic` (a region this node joins).
    pub(crate) fn add(&self, topic: TopicHash) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic);
    }
}

impl TopicSubscriptionFilter for RegionTopics {
    fn can_subscribe(&mut self, topic_hash: &TopicHash) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(topic_hash)
    }
}

/// The node-wide score parameters (topic parameters are added per region topic).
pub(crate) fn peer_score_params() -> PeerScoreParams {
    PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    }
}

/// The thresholds of the table in the module doc.
pub(crate) fn thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: GOSSIP_THRESHOLD,
        publish_threshold: PUBLISH_THRESHOLD,
        graylist_threshold: GRAYLIST_THRESHOLD,
        ..PeerScoreThresholds::default()
    }
}

/// The score parameters of one region topic.
pub(crate) fn topic_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        // P1, P2: small rewards for staying in the mesh and delivering first.
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 20.0,
        // P3, P3b: off (see the module doc).
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: rejected messages.
        invalid_message_deliveries_weight: INVALID_MESSAGE_WEIGHT,
        invalid_message_deliveries_decay: INVALID_MESSAGE_DECAY,
        ..TopicScoreParams::default()
    }
}
