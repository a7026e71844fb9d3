//! What can go wrong between this node and a peer, as the rest of the node sees it.

use std::time::Duration;

use regio_policy::decision::Reason;

/// A network operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The deadline passed before an answer arrived.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// No connection to the peer could be made, or it closed before answering.
    #[error("peer {peer} unreachable: {detail}")]
    Unreachable {
        /// The peer (its DID, or its address when dialled by address).
        peer: String,
        /// What failed.
        detail: String,
    },
    /// The peer refused at the network layer, before doing any work (e.g. `peer.not_member`).
    #[error("refused by peer: {reason}")]
    Refused {
        /// A reason code from [`Reason`] (kept as text: a newer peer may send a code we lack).
        reason: String,
    },
    /// A stream or transport error (including a peer closing a stream on an over-size
    /// message).
    #[error("network i/o: {0}")]
    Io(String),
    /// The message exceeds the configured maximum; nothing was sent.
    #[error("message of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The message size.
        size: usize,
        /// The configured maximum.
        max: u64,
    },
    /// Gossip could not be published: no peer is subscribed to the region's topic yet.
    #[error("no peer subscribed to the topic of region {0}")]
    NoPeers(String),
    /// The network task has stopped (shutdown or crash); nothing more can be sent.
    #[error("the network task has stopped")]
    Shutdown,
    /// The swarm could not be built or could not listen.
    #[error("network setup: {0}")]
    Setup(String),
}

impl NetError {
    /// The typed reason of a [`NetError::Refused`], if its code is one this build knows.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            NetError::Refused { reason } => Reason::from_code(reason),
            _ => None,
        }
    }
}
