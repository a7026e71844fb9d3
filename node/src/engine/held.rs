//! The documents this node holds for a region: what anti-entropy digests, compares and
//! serves (`federation::sync`), listed under one read of the engine's state.

use serde_json::Value;

use super::{Engine, State};
use regio_policy::{Did, DocHash};

/// What a document held for a region is, in the order a sync sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Held {
    /// The region's manifest.
    Manifest,
    /// Its charter.
    Charter,
    /// An ethics certificate.
    Certificate,
    /// A revocation.
    Revocation,
    /// A member's policy bundle (its head, or equivocation evidence).
    Policy,
    /// A member's catalog (this node's own included), the latest version held.
    Catalog,
}

impl Engine {
    /// Calls `f` with the documents of `region` this node holds (for itself: its own policy
    /// head; for each other member: the head it last saw), by hash, sorted and without
    /// duplicates; empty when this node is not in the region. The engine's state stays
    /// read-locked while `f` runs: keep `f` short.
    pub fn with_region_documents<R>(
        &self,
        region: &str,
        f: impl FnOnce(Vec<(DocHash, Held, &Value)>) -> R,
    ) -> R {
        // Catalogs live under their own lock: copied out first, never both locks at once.
        let catalogs = self
            .catalogs()
            .map(|c| c.of_region(self, region))
            .unwrap_or_default();
        let state = self.read();
        let mut docs = documents(&state, self.did(), region);
        if !docs.is_empty() {
            docs.extend(catalogs.iter().map(|c| (c.hash(), Held::Catalog, c.raw())));
            docs.sort_by_key(|(h, _, _)| *h);
            docs.dedup_by_key(|(h, _, _)| *h);
        }
        f(docs)
    }
}

/// The documents of `region` in `state` (for the node `me`), by hash, sorted and without
/// duplicates: the current manifest, its charter, each member's policy head (this node's own,
/// the peers' heads seen, both bundles of an equivocation), every certificate and revocation.
fn documents<'s>(state: &'s State, me: &Did, region: &str) -> Vec<(DocHash, Held, &'s Value)> {
    let Some(manifest) = state.regions.get(region) else {
        return Vec::new();
    };
    let members = &manifest.doc().members;
    let mut out = vec![(manifest.hash(), Held::Manifest, manifest.raw())];
    out.extend(
        state
            .charters
            .get(&manifest.doc().charter)
            .map(|c| (c.hash(), Held::Charter, c.raw())),
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
        out.extend(head.map(|p| (p.hash(), Held::Policy, p.raw())));
    }
    for e in state
        .equivocations
        .iter()
        .filter(|e| members.iter().any(|m| m.did == e.issuer))
    {
        out.extend([&e.a, &e.b].map(|b| (b.hash(), Held::Policy, b.raw())));
    }
    out.extend(
        state
            .certificates
            .values()
            .map(|c| (c.hash(), Held::Certificate, c.raw())),
    );
    out.extend(
        state
            .revocations
            .values()
            .flatten()
            .map(|r| (r.hash(), Held::Revocation, r.raw())),
    );
    out.sort_by_key(|(h, _, _)| *h);
    out.dedup_by_key(|(h, _, _)| *h);
    out
}
