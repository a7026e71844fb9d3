//! Who is who, and who may talk to us.
//!
//! One key, two names: a node's libp2p identity is built from the same Ed25519 key as its
//! `did:key`, so a [`PeerId`] and a [`Did`] name the same node and either can be computed
//! from the other without a lookup.
//!
//! An Ed25519 [`PeerId`] is the identity multihash of the protobuf-encoded public key, so it
//! carries the key itself; [`did_of`] decodes it back. Peers with other key types (RSA,
//! secp256k1, hashed ids) have no `did:key` here and therefore can never be region members.
//!
//! **The allow-list** (who shares a region with this node): every region this node is in
//! contributes its members (DID and addresses). A peer is *allowed* when it is a member of at
//! least one of them; only allowed peers get their requests handed to the node, and a
//! region's gossip is accepted only from that region's members. The region-specific check for
//! queries (is the sender a member of *the query's* region?) belongs to the node, which reads
//! the region from the signed Query.

use std::collections::{BTreeMap, HashMap, HashSet};

use ed25519_dalek::VerifyingKey;
use libp2p::identity::{self, Keypair, PublicKey};
use libp2p::{Multiaddr, PeerId};
use regio_policy::doc::manifest::RegionManifest;
use regio_policy::{Did, Key};

use super::NetError;

/// The libp2p keypair of a node whose document-signing key is `key`.
pub fn keypair_of(key: &Key) -> Result<Keypair, NetError> {
    Keypair::ed25519_from_bytes(key.secret_bytes())
        .map_err(|e| NetError::Setup(format!("Ed25519 secret not usable as a libp2p key: {e}")))
}

/// The libp2p public key of a `did:key`.
pub fn public_key_of(did: &Did) -> Result<PublicKey, NetError> {
    let ed = identity::ed25519::PublicKey::try_from_bytes(did.verifying_key().as_bytes())
        .map_err(|e| NetError::Setup(format!("{did}: not a libp2p Ed25519 key: {e}")))?;
    Ok(PublicKey::from(ed))
}

/// The [`PeerId`] of the node whose `did:key` is `did`.
///
/// Infallible in practice: a [`Did`] always holds a point that ed25519-dalek validated, and
/// libp2p applies the same validation (it uses ed25519-dalek too).
pub fn peer_id_of(did: &Did) -> PeerId {
    match public_key_of(did) {
        Ok(pk) => pk.to_peer_id(),
        Err(e) => unreachable!("a did:key's validated Ed25519 point is a libp2p key: {e}"),
    }
}

/// The `did:key` of an Ed25519 [`PeerId`]; `None` for peer ids of other key types or hashed
/// (non-inlined) ids.
pub fn did_of(peer: &PeerId) -> Option<Did> {
    let multihash = peer.as_ref();
    if multihash.code() != 0x00 {
        return None;
    }
    let public = PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    let ed = public.try_into_ed25519().ok()?;
    let verifying = VerifyingKey::from_bytes(&ed.to_bytes()).ok()?;
    Some(Did::from_key(&verifying))
}

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
        self.allowed = self
            .regions
            .values()
            .flat_map(|m| m.keys().copied())
            .collect();
        self.allowed.difference(&before).copied().collect()
    }

    /// The members of all regions of ours.
    pub(crate) fn allowed(&self) -> &HashSet<PeerId> {
        &self.allowed
    }

    /// Whether `peer` is a member of any region of ours.
    pub(crate) fn is_allowed(&self, peer: &PeerId) -> bool {
        self.allowed.contains(peer)
    }

    /// Whether `peer` is a member of `region`.
    pub(crate) fn is_member(&self, region: &str, peer: &PeerId) -> bool {
        self.regions
            .get(region)
            .is_some_and(|m| m.contains_key(peer))
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

    /// The members of each region.
    pub(crate) fn regions(&self) -> impl Iterator<Item = Vec<PeerId>> + '_ {
        self.regions.values().map(|m| m.keys().copied().collect())
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

    #[test]
    fn peer_id_and_did_agree_both_ways() {
        for _ in 0..16 {
            let key = Key::generate().unwrap();
            let keypair = keypair_of(&key).unwrap();
            let peer = keypair.public().to_peer_id();
            assert_eq!(peer_id_of(key.did()), peer);
            assert_eq!(did_of(&peer).as_ref(), Some(key.did()));
            // By hand: identity multihash of protobuf {Type: Ed25519, Data: key}.
            let mut bytes = vec![0x00, 36, 0x08, 0x01, 0x12, 0x20];
            bytes.extend_from_slice(key.did().verifying_key().as_bytes());
            assert_eq!(PeerId::from_bytes(&bytes).unwrap(), peer);
        }
    }

    #[test]
    fn other_key_types_have_no_did() {
        // A hashed (sha2-256) peer id, as RSA keys get: no key inside, no did.
        let hashed = PeerId::from_bytes(&[[0x12, 0x20].as_slice(), &[7u8; 32]].concat()).unwrap();
        assert_eq!(did_of(&hashed), None);
    }
}

#[cfg(test)]
mod allow_list_tests {
    use super::*;
    use regio_policy::Key;

    #[test]
    fn union_of_regions_and_per_region_membership() {
        let (a, b, c) = (
            Key::generate().unwrap(),
            Key::generate().unwrap(),
            Key::generate().unwrap(),
        );
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let mut list = AllowList::default();
        let new = list.set(
            "r1",
            vec![
                (a.did().clone(), vec![addr.clone()]),
                (b.did().clone(), vec![]),
            ],
        );
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
