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
use crate::engine::{Engine, State};
use crate::policy::{Did, DocHash};

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
    documents(&engine.read(), engine.did(), region)
        .into_iter()
        .map(|(h, _, _)| h)
        .collect()
}

/// The answer to a sync request: every document of the region this node holds and the
/// requester did not list, as gossip messages (manifest first, then charter, certificates,
/// revocations and policies, so that each finds what it depends on).
pub fn serve(engine: &Engine, request: &SyncRequest) -> Vec<Gossip> {
    let have: HashSet<DocHash> = request.have.iter().copied().collect();
    let state = engine.read();
    let mut wanted: Vec<(DocHash, Kind, &Value)> = documents(&state, engine.did(), &request.region)
        .into_iter()
        .filter(|(h, _, _)| !have.contains(h))
        .collect();
    wanted.sort_by_key(|(_, kind, _)| *kind);
    wanted
        .into_iter()
        .map(|(_, kind, doc)| kind.gossip(doc.clone()))
        .collect()
}

/// What a held document is, in the order a sync sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Manifest,
    Charter,
    Certificate,
    Revocation,
    Policy,
}

impl Kind {
    fn gossip(self, doc: Value) -> Gossip {
        match self {
            Kind::Manifest => Gossip::Manifest { doc },
            Kind::Charter => Gossip::Charter { doc },
            Kind::Certificate => Gossip::Certificate { doc },
            Kind::Revocation => Gossip::Revocation { doc },
            Kind::Policy => Gossip::Policy { doc },
        }
    }
}

/// The documents of `region` in `state` (for the node `me`), by hash, sorted and without
/// duplicates: the current manifest, its charter, each member's policy head (this node's own,
/// the peers' heads seen, both bundles of an equivocation), every certificate and revocation.
fn documents<'s>(state: &'s State, me: &Did, region: &str) -> Vec<(DocHash, Kind, &'s Value)> {
    let Some(manifest) = state.regions.get(region) else {
        return Vec::new();
    };
    let members = &manifest.doc().members;
    let mut out = vec![(manifest.hash(), Kind::Manifest, manifest.raw())];
    out.extend(
        state
            .charters
            .get(&manifest.doc().charter)
            .map(|c| (c.hash(), Kind::Charter, c.raw())),
    );
    for m in members {
        let head = if &m.did == me {
            state.policy.as_ref().map(|(p, _)| p)
        } else {
            state
                .peer_heads
                .get(&m.did)
                .and_then(|(version, _)| state.peer_policies.get(&(m.did.clone(), *version)))
        };
        out.extend(head.map(|p| (p.hash(), Kind::Policy, p.raw())));
    }
    for e in state
        .equivocations
        .iter()
        .filter(|e| members.iter().any(|m| m.did == e.issuer))
    {
        out.extend([&e.a, &e.b].map(|b| (b.hash(), Kind::Policy, b.raw())));
    }
    out.extend(
        state
            .certificates
            .values()
            .map(|c| (c.hash(), Kind::Certificate, c.raw())),
    );
    out.extend(
        state
            .revocations
            .values()
            .flatten()
            .map(|r| (r.hash(), Kind::Revocation, r.raw())),
    );
    out.sort_by_key(|(h, _, _)| *h);
    out.dedup_by_key(|(h, _, _)| *h);
    out
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
