//! Typed signed documents. A [`Signed<T>`] can only be obtained by verifying every proof of
//! the raw JSON first and then decoding it (like libp2p's `SignedEnvelope`): the typed
//! payload is never readable from an unverified document.
//!
//! The envelope fields — `@context`, `type`, `schemaVersion` and `proof` — belong to this
//! module; a document type `T` holds only its body.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::did::Did;
use crate::key::Key;
use crate::proof::{self, ProofInfo, SignError, VerifyError};

/// A document type Regio signs.
pub trait Document: Serialize + DeserializeOwned + Clone {
    /// The `type` this document carries (for a credential, the last entry of its `type` array).
    const TYPE: &'static str;
    /// The schema version this code writes and reads.
    const SCHEMA_VERSION: u32;
    /// What to do with a document of an older schema version (shown when one is refused).
    const MIGRATION: &'static str = "re-create the document with this version of Regio";
    /// The full `type` value (a string, or an array for verifiable credentials).
    fn type_value() -> Value {
        Value::from(Self::TYPE)
    }
    /// The `@context`, for documents that are JSON-LD (verifiable credentials).
    fn context() -> Option<Value> {
        None
    }
    /// Checks the invariants serde cannot express. Named field, plain reason.
    fn validate(&self) -> Result<(), Invalid>;
}

/// A document whose fields decode but break a rule of its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    /// The field, as a JSON path (`datasets[2].name`).
    pub field: String,
    /// What rule it breaks.
    pub reason: String,
}

impl Invalid {
    /// A rule broken at `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Why a signed document was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// Not JSON at all.
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A proof does not verify.
    #[error("signature: {0}")]
    Proof(#[from] VerifyError),
    /// Another document type.
    #[error("`type` is {found}, expected {expected}")]
    Type {
        /// Expected type.
        expected: &'static str,
        /// What the document says.
        found: String,
    },
    /// A schema version this code cannot read.
    #[error(
        "`schemaVersion` {found} is not supported (this Regio reads {supported}): {migration}"
    )]
    SchemaVersion {
        /// What the document says.
        found: String,
        /// What this code reads.
        supported: u32,
        /// What to do.
        migration: &'static str,
    },
    /// A field does not decode.
    #[error("field `{path}`: {message}")]
    Field {
        /// JSON path of the field.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The fields decode but break a rule of the type.
    #[error("invalid {0}")]
    Invalid(#[from] Invalid),
}

/// SHA-256 over the canonical JSON of a complete signed document (proofs included):
/// how documents point at each other (`previous`, `charter`, `certificate`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocHash(pub [u8; 32]);

impl DocHash {
    /// The hash of a JSON value's canonical form.
    pub fn of(value: &Value) -> Self {
        DocHash(proof::canonical_hash(value))
    }
}
impl fmt::Display for DocHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}
impl fmt::Debug for DocHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl std::str::FromStr for DocHash {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hexpart = s
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("`{s}` is not `sha256:<64 hex digits>`"))?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(hexpart, &mut out)
            .map_err(|_| format!("`{s}` is not `sha256:<64 hex digits>`"))?;
        Ok(DocHash(out))
    }
}
impl Serialize for DocHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for DocHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A verified, decoded document.
#[derive(Clone)]
pub struct Signed<T> {
    doc: T,
    raw: Value,
    signers: Vec<ProofInfo>,
    hash: std::sync::OnceLock<DocHash>,
}

impl<T: fmt::Debug> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("hash", &DocHash::of(&self.raw))
            .field("doc", &self.doc)
            .finish()
    }
}

/// Parses JSON text, naming line and column on error.
pub fn parse_json(text: &[u8]) -> Result<Value, DocumentError> {
    serde_json::from_slice(text).map_err(|e| {
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = e.to_string();
        let message = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
        DocumentError::Json {
            line: e.line(),
            column: e.column(),
            message,
        }
    })
}

/// The unsigned JSON of a document body: envelope fields added.
pub fn envelope<T: Document>(doc: &T) -> Result<Value, DocumentError> {
    let body = serde_json::to_value(doc).map_err(|e| DocumentError::Field {
        path: String::new(),
        message: e.to_string(),
    })?;
    let Value::Object(body) = body else {
        return Err(DocumentError::Field {
            path: String::new(),
            message: "a document body must be a JSON object".into(),
        });
    };
    let mut out = Map::new();
    if let Some(ctx) = T::context() {
        out.insert("@context".into(), ctx);
    }
    out.insert("type".into(), T::type_value());
    out.insert("schemaVersion".into(), T::SCHEMA_VERSION.into());
    out.extend(body);
    Ok(Value::Object(out))
}

/// Decodes a body after its envelope was checked (no signature involved).
pub fn decode_body<T: Document>(value: &Value) -> Result<T, DocumentError> {
    let obj = value.as_object().ok_or(VerifyError::NotAnObject)?;
    let found = obj.get("type").cloned().unwrap_or(Value::Null);
    let type_ok = match &found {
        Value::String(s) => s == T::TYPE,
        Value::Array(items) => items.iter().any(|t| t.as_str() == Some(T::TYPE)),
        _ => false,
    };
    if !type_ok {
        return Err(DocumentError::Type {
            expected: T::TYPE,
            found: found.to_string(),
        });
    }
    match obj.get("schemaVersion") {
        Some(v) if v.as_u64() == Some(u64::from(T::SCHEMA_VERSION)) => {}
        other => {
            return Err(DocumentError::SchemaVersion {
                found: other
                    .map(Value::to_string)
                    .unwrap_or_else(|| "missing".into()),
                supported: T::SCHEMA_VERSION,
                migration: T::MIGRATION,
            })
        }
    }
    let mut body = obj.clone();
    for key in ["@context", "type", "schemaVersion", "proof"] {
        body.remove(key);
    }
    let doc: T = serde_path_to_error::deserialize(Value::Object(body)).map_err(|e| {
        DocumentError::Field {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        }
    })?;
    doc.validate()?;
    Ok(doc)
}

impl<T: Document> Signed<T> {
    /// Verifies every proof of `value`, then decodes and validates it.
    pub fn verify(value: Value) -> Result<Self, DocumentError> {
        let signers = proof::verify(&value)?;
        let doc = decode_body::<T>(&value)?;
        Ok(Signed {
            doc,
            raw: value,
            signers,
            hash: std::sync::OnceLock::new(),
        })
    }

    /// Parses JSON text, then [`Signed::verify`].
    pub fn from_json(text: &[u8]) -> Result<Self, DocumentError> {
        Self::verify(parse_json(text)?)
    }

    /// Validates `doc` and signs it with `key`.
    pub fn sign(doc: T, key: &Key, created: DateTime<Utc>) -> Result<Self, SignDocError> {
        doc.validate()?;
        let mut value = envelope(&doc).map_err(SignDocError::Encode)?;
        proof::add_proof(&mut value, key, created)?;
        Self::verify(value).map_err(SignDocError::Encode)
    }

    /// Adds `key`'s proof to the proof set.
    pub fn cosign(&self, key: &Key, created: DateTime<Utc>) -> Result<Self, SignDocError> {
        let mut value = self.raw.clone();
        proof::add_proof(&mut value, key, created)?;
        Self::verify(value).map_err(SignDocError::Encode)
    }

    /// The decoded document.
    pub fn doc(&self) -> &T {
        &self.doc
    }
    /// The signed JSON exactly as verified.
    pub fn raw(&self) -> &Value {
        &self.raw
    }
    /// Every proof, in order.
    pub fn proofs(&self) -> &[ProofInfo] {
        &self.signers
    }
    /// The distinct signers.
    pub fn signers(&self) -> Vec<&Did> {
        let mut out: Vec<&Did> = Vec::new();
        for p in &self.signers {
            if !out.contains(&&p.signer) {
                out.push(&p.signer);
            }
        }
        out
    }
    /// Checks that `did` signed this document; names `field` (who should have) otherwise.
    pub fn require_signer(&self, did: &Did, field: &str) -> Result<(), Invalid> {
        if self.signed_by(did) {
            Ok(())
        } else {
            Err(Invalid::new(
                "proof",
                format!("signed by {}, not by `{field}` {did}", self.signer()),
            ))
        }
    }
    /// Whether `did` signed this document.
    pub fn signed_by(&self, did: &Did) -> bool {
        self.signers.iter().any(|p| &p.signer == did)
    }
    /// The first signer (the only one for single-signer documents).
    pub fn signer(&self) -> &Did {
        // `proof::verify` never returns an empty list.
        &self.signers[0].signer
    }
    /// SHA-256 of the canonical signed document (computed on first use).
    pub fn hash(&self) -> DocHash {
        *self.hash.get_or_init(|| DocHash::of(&self.raw))
    }
    /// Pretty JSON for files.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.raw).unwrap_or_default()
    }
}

/// Why a document could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignDocError {
    /// The document breaks a rule of its type.
    #[error("invalid {0}")]
    Invalid(#[from] Invalid),
    /// The proof could not be added.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The document could not be encoded or re-read.
    #[error("encoding: {0}")]
    Encode(DocumentError),
}
