//! One key, two names: a node's libp2p identity is built from the same Ed25519 key as its
//! `did:key`, so a [`PeerId`] and a [`Did`] name the same node and either can be computed
//! from the other without a lookup.
//!
//! An Ed25519 [`PeerId`] is the identity multihash of the protobuf-encoded public key, so it
//! carries the key itself; [`did_of`] decodes it back. Peers with other key types (RSA,
//! secp256k1, hashed ids) have no `did:key` here and therefore can never be region members.

use ed25519_dalek::VerifyingKey;
use libp2p::identity::{self, Keypair, PublicKey};
use libp2p::PeerId;
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
