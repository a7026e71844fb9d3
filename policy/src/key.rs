//! Ed25519 signing keys: one key type serves as a node's libp2p identity and as the signer of
//! its documents. Key files are W3C Multikey JSON (`publicKeyMultibase` +
//! `secretKeyMultibase`, multicodec `ed25519-pub` / `ed25519-priv`, base58btc); the older
//! spelling `privateKeyMultibase` of the W3C test vectors is read too.

use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::did::{decode_public_multibase, Did};

/// Multicodec prefix of an Ed25519 private key (`0x1300`, unsigned varint).
const ED25519_PRIV: [u8; 2] = [0x80, 0x26];

/// Why a key could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The operating system's random source failed.
    #[error("no randomness available from the operating system: {0}")]
    Random(String),
    /// The key file is not the expected JSON.
    #[error("key file is not Multikey JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The key file has no secret key.
    #[error("key file has no `secretKeyMultibase` (it holds a public key only)")]
    NoSecret,
    /// The secret key is not multibase `ed25519-priv`.
    #[error(
        "`secretKeyMultibase` is not a base58btc ed25519-priv key (multicodec 0x1300 + 32 bytes)"
    )]
    BadSecret,
    /// The public key in the file does not belong to the secret key.
    #[error("`publicKeyMultibase` {found} does not match the secret key (expected {expected})")]
    PublicMismatch {
        /// What the file says.
        found: String,
        /// What the secret key gives.
        expected: String,
    },
    /// The public key in the file is malformed.
    #[error("`publicKeyMultibase`: {0}")]
    BadPublic(#[from] crate::did::DidError),
}

/// An Ed25519 signing key.
#[derive(Clone)]
pub struct Key {
    signing: SigningKey,
    did: Did,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.did)
    }
}

/// The key file as stored on disk.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyFile {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    controller: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key_multibase: Option<String>,
    #[serde(
        default,
        alias = "privateKeyMultibase",
        skip_serializing_if = "Option::is_none"
    )]
    secret_key_multibase: Option<String>,
}

impl Key {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self::from_secret(secret))
    }

    /// The key with this 32-byte secret (seed).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&secret);
        let did = Did::from_key(&signing.verifying_key());
        Key { signing, did }
    }

    /// The 32-byte secret, e.g. to build the libp2p identity from the same key.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// This key's `did:key`.
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// Signs raw bytes (Ed25519, RFC 8032).
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The secret as multibase `ed25519-priv` (`z3u2…`).
    pub fn secret_multibase(&self) -> String {
        let mut bytes = Vec::with_capacity(34);
        bytes.extend_from_slice(&ED25519_PRIV);
        bytes.extend_from_slice(&self.secret_bytes());
        multibase::encode(multibase::Base::Base58Btc, bytes)
    }

    /// The key file (W3C Multikey JSON, pretty-printed). Holds the secret: store it 0600.
    pub fn to_file_json(&self) -> String {
        let file = KeyFile {
            kind: Some("Multikey".into()),
            id: Some(self.did.verification_method()),
            controller: Some(self.did.to_string()),
            public_key_multibase: Some(self.did.multibase().to_owned()),
            secret_key_multibase: Some(self.secret_multibase()),
        };
        // Serialising a struct of strings cannot fail.
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// Reads a key file; checks that the public key, if given, matches the secret.
    pub fn from_file_json(text: &str) -> Result<Self, KeyError> {
        let file: KeyFile = serde_json::from_str(text)?;
        let secret_mb = file.secret_key_multibase.ok_or(KeyError::NoSecret)?;
        let (base, bytes) = multibase::decode(&secret_mb).map_err(|_| KeyError::BadSecret)?;
        if base != multibase::Base::Base58Btc {
            return Err(KeyError::BadSecret);
        }
        let secret = bytes
            .strip_prefix(&ED25519_PRIV[..])
            .and_then(|s| <[u8; 32]>::try_from(s).ok())
            .ok_or(KeyError::BadSecret)?;
        let key = Key::from_secret(secret);
        if let Some(public) = file.public_key_multibase {
            decode_public_multibase(&public)?;
            if public != key.did.multibase() {
                return Err(KeyError::PublicMismatch {
                    found: public,
                    expected: key.did.multibase().to_owned(),
                });
            }
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_w3c_vector_key_pair() {
        let text = r#"{"publicKeyMultibase": "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
                       "privateKeyMultibase": "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"}"#;
        let key = Key::from_file_json(text).unwrap();
        assert_eq!(
            key.did().as_str(),
            "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
        );
        assert_eq!(
            key.secret_multibase(),
            "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
        );
    }

    #[test]
    fn key_file_round_trips_and_mismatch_is_named() {
        let key = Key::generate().unwrap();
        let back = Key::from_file_json(&key.to_file_json()).unwrap();
        assert_eq!(back.did(), key.did());
        let other = Key::generate().unwrap();
        let forged = key
            .to_file_json()
            .replace(key.did().multibase(), other.did().multibase());
        assert!(matches!(
            Key::from_file_json(&forged),
            Err(KeyError::PublicMismatch { .. })
        ));
        assert!(matches!(Key::from_file_json("{}"), Err(KeyError::NoSecret)));
        assert!(matches!(
            Key::from_file_json(
                r#"{"secretKeyMultibase":"z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"}"#
            ),
            Err(KeyError::BadSecret)
        ));
    }
}
