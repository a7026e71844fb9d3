//! `did:key` identifiers for Ed25519 keys (W3C did:key method, multicodec `ed25519-pub`,
//! multibase base58btc). A [`Did`] is always a valid, decoded public key: it can only be
//! built from a key or by parsing, never from an unchecked string.

use std::fmt;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Multicodec prefix of an Ed25519 public key (`0xed`, unsigned varint).
pub(crate) const ED25519_PUB: [u8; 2] = [0xed, 0x01];

/// Why a string is not an Ed25519 `did:key`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DidError {
    /// It does not start with `did:key:z`.
    #[error("`{0}` is not a did:key (expected `did:key:z6Mk…`)")]
    NotDidKey(String),
    /// The multibase part does not decode as base58btc.
    #[error("`{0}`: the key part is not valid multibase base58btc")]
    Multibase(String),
    /// The decoded bytes are not an Ed25519 public key with its multicodec prefix.
    #[error("`{0}`: not an Ed25519 public key (multicodec 0xed01 + 32 bytes)")]
    NotEd25519(String),
    /// A verification method does not name the key's own fragment.
    #[error("verification method `{0}` must be `did:key:z…#z…` with the same key in both parts")]
    BadFragment(String),
}

/// An Ed25519 `did:key`, e.g. `did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2`.
#[derive(Clone)]
pub struct Did {
    key: VerifyingKey,
    text: String,
}

impl Did {
    /// The did:key of a public key.
    pub fn from_key(key: &VerifyingKey) -> Self {
        Did {
            key: *key,
            text: format!("did:key:{}", public_multibase(key)),
        }
    }

    /// Parses `did:key:z…` and decodes its public key.
    pub fn parse(s: &str) -> Result<Self, DidError> {
        let mb = s
            .strip_prefix("did:key:")
            .ok_or_else(|| DidError::NotDidKey(s.to_owned()))?;
        if !mb.starts_with('z') {
            return Err(DidError::NotDidKey(s.to_owned()));
        }
        let key = decode_public_multibase(mb).map_err(|e| match e {
            DidError::Multibase(_) => DidError::Multibase(s.to_owned()),
            _ => DidError::NotEd25519(s.to_owned()),
        })?;
        Ok(Did {
            key,
            text: s.to_owned(),
        })
    }

    /// Parses a verification method `did:key:z…#z…` (fragment = the same multibase key).
    pub fn from_verification_method(vm: &str) -> Result<Self, DidError> {
        let (did, fragment) = vm
            .split_once('#')
            .ok_or_else(|| DidError::BadFragment(vm.to_owned()))?;
        let parsed = Did::parse(did)?;
        if fragment != parsed.multibase() {
            return Err(DidError::BadFragment(vm.to_owned()));
        }
        Ok(parsed)
    }

    /// The verification method URL used in proofs: `did:key:z…#z…`.
    pub fn verification_method(&self) -> String {
        format!("{}#{}", self.text, self.multibase())
    }

    /// The multibase public key (`z6Mk…`).
    pub fn multibase(&self) -> &str {
        &self.text["did:key:".len()..]
    }

    /// The DID as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// A short form for tables: `did:key:z6Mk…last6`.
    pub fn short(&self) -> String {
        let mb = self.multibase();
        format!(
            "did:key:{}…{}",
            &mb[..6.min(mb.len())],
            &mb[mb.len().saturating_sub(6)..]
        )
    }
}

/// Encodes a public key as multibase base58btc with the `ed25519-pub` multicodec prefix.
pub fn public_multibase(key: &VerifyingKey) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&ED25519_PUB);
    bytes.extend_from_slice(key.as_bytes());
    multibase::encode(multibase::Base::Base58Btc, bytes)
}

/// Decodes a multibase `ed25519-pub` key (`z6Mk…`).
pub fn decode_public_multibase(mb: &str) -> Result<VerifyingKey, DidError> {
    let (base, bytes) = multibase::decode(mb).map_err(|_| DidError::Multibase(mb.to_owned()))?;
    if base != multibase::Base::Base58Btc {
        return Err(DidError::Multibase(mb.to_owned()));
    }
    let raw = bytes
        .strip_prefix(&ED25519_PUB[..])
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| DidError::NotEd25519(mb.to_owned()))?;
    VerifyingKey::from_bytes(&raw).map_err(|_| DidError::NotEd25519(mb.to_owned()))
}

impl PartialEq for Did {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for Did {}
impl std::hash::Hash for Did {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state)
    }
}
impl PartialOrd for Did {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Did {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}
impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
impl fmt::Debug for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Did({})", self.text)
    }
}
impl std::str::FromStr for Did {
    type Err = DidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Did::parse(s)
    }
}
impl Serialize for Did {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}
impl<'de> Deserialize<'de> for Did {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Did::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W3C_DID: &str = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2";

    #[test]
    fn parses_and_prints_the_w3c_vector_key() {
        let did = Did::parse(W3C_DID).unwrap();
        assert_eq!(did.to_string(), W3C_DID);
        assert_eq!(Did::from_key(did.verifying_key()), did);
        assert_eq!(
            did.verification_method(),
            format!("{W3C_DID}#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2")
        );
        assert_eq!(
            Did::from_verification_method(&did.verification_method()).unwrap(),
            did
        );
    }

    #[test]
    fn rejects_what_is_not_an_ed25519_did_key() {
        assert!(matches!(
            Did::parse("did:web:example.org"),
            Err(DidError::NotDidKey(_))
        ));
        assert!(matches!(
            Did::parse("did:key:u6Mk"),
            Err(DidError::NotDidKey(_))
        ));
        assert!(matches!(
            Did::parse("did:key:z0OIl"),
            Err(DidError::Multibase(_))
        ));
        // A P-256 did:key (multicodec 0x1200) is not ours.
        assert!(matches!(
            Did::parse("did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169"),
            Err(DidError::NotEd25519(_))
        ));
        assert!(matches!(
            Did::from_verification_method(&format!("{W3C_DID}#other")),
            Err(DidError::BadFragment(_))
        ));
    }
}
