//! The allow-list: who shares a region with this node.
//!
//! Every region this node is in contributes its members (DID and addresses). A peer is
//! *allowed* when it is a member of at least one of them; only allowed peers get their
//! requests handed to the node, and a region's gossip is accepted only from that region's
//! members. The region-specific check for queries (is the sender a member of *the query's*
//! region?) belongs to the node, which reads the region from the signed Query.

use std::collections::{BTreeMap, HashMap, HashSet};

use libp2p::{Multiaddr, PeerId};
use regio_policy::doc::manifest::RegionManifest;
use regio_policy::Did;

use super::identity::peer_id_of;

/// One member as the network needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAddr {
    /// The member's DID.
    pub did: Did,
    /// Where it listens.
    pub addrs: Vec<Multiaddr>,
}

/// Members per region, and the union of all of them.
#[derive(Debug, Default)]
pub(crate) struct AllowList {
    regions: BTreeMap<String, HashMap<PeerId, MemberAddr>>,
    allowed: HashSet<PeerId>,
}

impl AllowList {
    /// Replaces the members of `region`; an empty list removes the region. Returns the peers
    /// that are new to the allow-list.
    pub(crate) fn set(&mut self, region: &str, members: Vec<(Did, Vec<Multiaddr>)>) -> Vec<PeerId> {
        let map: HashMap<PeerId, MemberAddr> = members
            .into_iter()
            .map(|(did, addrs)| (peer_id_of(&did), MemberAddr { did, addrs }))
            .collect();
        if map.is_empty() {
            self.regions.remove(region);
        } else {
            self.regions.insert(region.to_owned(), map);
        }
        let before = std::mem::take(&mut self.allowed);
        self.allowed = self.regions.values().flat_map(|m| m.keys().copied()).collect();
        self.allowed.difference(&before).copied().collect()
    }

    /// Whether `peer` is a member of any region of ours.
    pub(crate) fn is_allowed(&self, peer: &PeerId) -> bool {
        self.allowed.contains(peer)
    }

    /// Whether `peer` is a member of `region`.
    pub(crate) fn is_member(&self, region: &str, peer: &PeerId) -> bool {
        self.regions.get(region).is_some_and(|m| m.contains_key(peer))
    }

    /// Known addresses of `peer`, from every region that lists it.
    pub(crate) fn addrs(&self, peer: &PeerId) -> Vec<Multiaddr> {
        let mut out: Vec<Multiaddr> = Vec::new();
        for m in self.regions.values() {
            if let Some(member) = m.get(peer) {
                for a in &member.addrs {
                    if !out.contains(a) {
                        out.push(a.clone());
                    }
                }
            }
        }
        out
    }

    /// All members of all regions with their addresses.
    pub(crate) fn all(&self) -> impl Iterator<Item = (&PeerId, &MemberAddr)> {
        self.regions.values().flat_map(|m| m.iter())
    }
}

/// The members of a region manifest in the form [`super::Handle::set_members`] takes.
/// Addresses that do not parse as multiaddrs are skipped and returned separately, so the
/// caller can report them.
pub fn members_of(manifest: &RegionManifest) -> (Vec<(Did, Vec<Multiaddr>)>, Vec<String>) {
    let mut bad = Vec::new();
    let members = manifest
        .members
        .iter()
        .map(|m| {
            let addrs = m
                .addresses
                .iter()
                .filter_map(|a| match a.parse::<Multiaddr>() {
                    Ok(addr) => Some(addr),
                    Err(_) => {
                        bad.push(a.clone());
                        None
                    }
                })
                .collect();
            (m.did.clone(), addrs)
        })
        .collect();
    (members, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regio_policy::Key;

    #[test]
    fn union_of_regions_and_per_region_membership() {
        let (a, b, c) = (Key::generate().unwrap(), Key::generate().unwrap(), Key::generate().unwrap());
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let mut list = AllowList::default();
        let new = list.set("r1", vec![(a.did().clone(), vec![addr.clone()]), (b.did().clone(), vec![])]);
        assert_eq!(new.len(), 2);
        list.set("r2", vec![(c.did().clone(), vec![])]);
        let (pa, pc) = (peer_id_of(a.did()), peer_id_of(c.did()));
        assert!(list.is_allowed(&pa) && list.is_allowed(&pc));
        assert!(list.is_member("r1", &pa) && !list.is_member("r1", &pc));
        assert_eq!(list.addrs(&pa), vec![addr]);
        list.set("r2", vec![]);
        assert!(!list.is_allowed(&pc));
    }
}
