//! Anti-entropy by digest (owner: lead). Gossipsub does not replay history, so a node that
//! was partitioned, restarted or admitted late must catch up some other way — without every
//! node re-sending every document every few seconds (that flooded a 50-node region).
//!
//! - What a converged member of a region holds is one set of signed documents, the same at
//!   every member: the region's current manifest and its charter, each member's policy head
//!   (its own, and the peers' heads it has seen; both bundles of an equivocation), every
//!   ethics certificate and every revocation. [`holdings`] lists their hashes.
//! - Every `gossip_interval` (jittered) a node publishes a [`Gossip::Digest`] on the region
//!   topic: the SHA-256 of that sorted hash list and its length — under 200 bytes.
//! - A node whose own digest differs from a peer's asks that peer for what it lacks: a
//!   [`SyncRequest`] over the `/regio/chain/1` request-response protocol carrying the hashes
//!   it holds (and those it already refused); the peer answers the documents outside that
//!   list ([`serve`]), as gossip messages, which are applied like gossip (verified, stored).
//!   Pulls are one at a time per node, at most one per peer per interval.
//!
//! A new document still travels at once: the node that receives it publishes it on the
//! topic (see [`super::run::broadcast`]).

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use serde_json::Value;

use super::gossip::Gossip;
use crate::engine::{Engine, Held};
use regio_policy::DocHash;

/// A request for the documents of `region` that the requester does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncRequest {
    /// The region.
    pub region: String,
    /// Hashes the requester holds, or refused before (not to be sent again).
    pub have: Vec<DocHash>,
}

/// The body of a `/regio/chain/1` request that asks for a sync (any other body asks for the
/// node's policy chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    /// The request.
    pub sync: SyncRequest,
}

impl SyncBody {
    /// Encodes for the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Cannot fail: a string and hashes (hex strings).
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes a request body; `None` when it is not a sync request.
    pub fn parse(bytes: &[u8]) -> Option<SyncBody> {
        serde_json::from_slice(bytes).ok()
    }
}

/// The digest of a set of hashes: SHA-256 over the sorted raw hashes, as hex, and the count.
pub fn summarize(hashes: &BTreeSet<DocHash>) -> (String, usize) {
    let mut h = Sha256::new();
    for d in hashes {
        h.update(d.0);
    }
    (hex::encode(h.finalize()), hashes.len())
}

/// This node's digest of `region`.
pub fn digest(engine: &Engine, region: &str) -> Gossip {
    let (summary, count) = summarize(&holdings(engine, region).into_iter().collect());
    Gossip::Digest {
        region: region.to_owned(),
        summary,
        count,
    }
}

/// The hashes of the documents a member of `region` should hold, sorted. Empty when this
/// node is not in the region.
pub fn holdings(engine: &Engine, region: &str) -> Vec<DocHash> {
    engine.with_region_documents(region, |docs| docs.into_iter().map(|(h, _, _)| h).collect())
}

/// The answer to a sync request: every document of the region this node holds and the
/// requester did not list, as gossip messages (manifest first, then charter, certificates,
/// revocations and policies, so that each finds what it depends on).
pub fn serve(engine: &Engine, request: &SyncRequest) -> Vec<Gossip> {
    let have: HashSet<DocHash> = request.have.iter().copied().collect();
    engine.with_region_documents(&request.region, |docs| {
        let mut wanted: Vec<(DocHash, Held, &Value)> = docs
            .into_iter()
            .filter(|(h, _, _)| !have.contains(h))
            .collect();
        wanted.sort_by_key(|(_, kind, _)| *kind);
        wanted
            .into_iter()
            .map(|(_, kind, doc)| gossip(kind, doc.clone()))
            .collect()
    })
}

/// The gossip message that carries a held document.
fn gossip(kind: Held, doc: Value) -> Gossip {
    match kind {
        Held::Manifest => Gossip::Manifest { doc },
        Held::Charter => Gossip::Charter { doc },
        Held::Certificate => Gossip::Certificate { doc },
        Held::Revocation => Gossip::Revocation { doc },
        Held::Policy => Gossip::Policy { doc },
        Held::Catalog => Gossip::Catalog { doc },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_depends_on_the_set_not_the_order() {
        let a = DocHash([1; 32]);
        let b = DocHash([2; 32]);
        let one: BTreeSet<DocHash> = [a, b].into_iter().collect();
        let two: BTreeSet<DocHash> = [b, a].into_iter().collect();
        assert_eq!(summarize(&one), summarize(&two));
        assert_eq!(summarize(&one).1, 2);
        let three: BTreeSet<DocHash> = [a].into_iter().collect();
        assert_ne!(summarize(&one).0, summarize(&three).0);
    }

    #[test]
    fn a_sync_body_round_trips_and_other_bodies_are_not_sync() {
        let body = SyncBody {
            sync: SyncRequest {
                region: "r".into(),
                have: vec![DocHash([7; 32])],
            },
        };
        assert_eq!(SyncBody::parse(&body.to_bytes()), Some(body));
        assert_eq!(SyncBody::parse(b""), None);
        assert_eq!(SyncBody::parse(b"head:did"), None);
        assert_eq!(
            SyncBody::parse(br#"{"sync":{"region":"r","have":[],"extra":1}}"#),
            None
        );
    }
}
