//! W3C Data Integrity proofs, cryptosuite `eddsa-jcs-2022` (W3C vc-di-eddsa §3.3): the one
//! code path that signs and verifies every Regio document.
//!
//! Signing input = `SHA-256(JCS(proof options)) ‖ SHA-256(JCS(document without proof))`, proof
//! options first; the proof options carry the document's `@context` when it has one. A
//! document with several signers carries a *proof set*: `proof` is an array, and every proof
//! in it signs the document without any proof. Proof chains (`previousProof`) are refused.

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::Signature;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::did::{Did, DidError};
use crate::key::Key;

/// `type` of every proof Regio makes.
pub const PROOF_TYPE: &str = "DataIntegrityProof";
/// The one cryptosuite Regio makes and accepts.
pub const CRYPTOSUITE: &str = "eddsa-jcs-2022";
/// The proof purpose Regio makes and accepts.
pub const ASSERTION_METHOD: &str = "assertionMethod";

/// Why a document's proofs do not verify. Every variant names the proof (index in the proof
/// set, 0 for a single proof) and what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The document is not a JSON object.
    #[error("the document is not a JSON object")]
    NotAnObject,
    /// The document carries no `proof`.
    #[error("the document has no `proof`")]
    MissingProof,
    /// A proof is not shaped as a Data Integrity proof.
    #[error("proof {index}: {what}")]
    Malformed {
        /// Index in the proof set.
        index: usize,
        /// What is wrong, naming the field.
        what: String,
    },
    /// `type` is not `DataIntegrityProof` or `cryptosuite` is not `eddsa-jcs-2022`.
    #[error("proof {index}: unsupported {field} `{found}` (expected `{expected}`)")]
    Unsupported {
        /// Index in the proof set.
        index: usize,
        /// `type`, `cryptosuite` or `proofPurpose`.
        field: &'static str,
        /// What the proof says.
        found: String,
        /// What Regio accepts.
        expected: &'static str,
    },
    /// The proof's `@context` is not a prefix of the document's.
    #[error("proof {index}: the proof's @context is not a prefix of the document's @context")]
    ContextMismatch {
        /// Index in the proof set.
        index: usize,
    },
    /// `verificationMethod` is not an Ed25519 did:key.
    #[error("proof {index}: verificationMethod: {source}")]
    VerificationMethod {
        /// Index in the proof set.
        index: usize,
        /// Why.
        source: DidError,
    },
    /// `proofValue` does not decode to a 64-byte signature.
    #[error("proof {index}: proofValue is not a base58btc multibase Ed25519 signature")]
    ProofValue {
        /// Index in the proof set.
        index: usize,
    },
    /// A number is outside the range JCS represents exactly (I-JSON, RFC 7493: |n| ≤ 2^53).
    #[error("number {number} at `{path}` is outside I-JSON's exact integer range (|n| <= 2^53); JCS would sign a rounded value")]
    NotIJson {
        /// JSON path of the number.
        path: String,
        /// The number as written.
        number: String,
    },
    /// The signature does not verify: the document or the proof was changed, or another key signed.
    #[error("proof {index}: the signature of {signer} does not verify (document or proof altered, or wrong key)")]
    BadSignature {
        /// Index in the proof set.
        index: usize,
        /// The claimed signer.
        signer: String,
    },
}

/// Why a proof could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// Only JSON objects can be signed.
    #[error("only a JSON object can be signed")]
    NotAnObject,
    /// The existing `proof` is neither an object nor an array of objects.
    #[error("the existing `proof` is neither a proof nor a proof set")]
    BadExistingProof,
    /// A number is outside I-JSON's exact range.
    #[error(transparent)]
    NotIJson(VerifyError),
    /// This key already signed the document.
    #[error("{0} has already signed this document")]
    AlreadySigned(String),
}

/// One verified proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofInfo {
    /// Index in the proof set.
    pub index: usize,
    /// Who signed.
    pub signer: Did,
    /// The proof's `created`, if any.
    pub created: Option<DateTime<Utc>>,
    /// The proof's `expires`, if any: after it the proof no longer counts (the verifier that
    /// knows the time checks it, e.g. the decision with its `now`).
    pub expires: Option<DateTime<Utc>>,
}

impl ProofInfo {
    /// Whether the proof's `expires` has passed at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }
}

/// Canonical JSON (RFC 8785) of a value.
pub fn canonical(value: &Value) -> Vec<u8> {
    // serde_json::Value holds no NaN/Infinity, the only values JCS cannot write.
    serde_json_canonicalizer::to_vec(value).unwrap_or_default()
}

/// SHA-256 of the canonical JSON of a value.
pub fn canonical_hash(value: &Value) -> [u8; 32] {
    Sha256::digest(canonical(value)).into()
}

/// The 64 bytes that are signed: `SHA-256(JCS(proof config)) ‖ SHA-256(JCS(document))`.
pub fn hash_data(proof_config: &Value, unsecured: &Value) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&canonical_hash(proof_config));
    out[32..].copy_from_slice(&canonical_hash(unsecured));
    out
}

/// `created` as a W3C dateTimeStamp (seconds, `Z`).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Largest integer JCS (IEEE 754 double) represents exactly.
const MAX_EXACT: u64 = 1 << 53;

/// Checks that every number is exactly representable as JCS writes it (RFC 7493 I-JSON).
pub fn check_i_json(value: &Value) -> Result<(), VerifyError> {
    fn walk(v: &Value, path: &mut String) -> Result<(), VerifyError> {
        match v {
            Value::Number(n) => {
                let too_big = n.as_u64().is_some_and(|u| u > MAX_EXACT)
                    || n.as_i64().is_some_and(|i| i.unsigned_abs() > MAX_EXACT);
                if too_big {
                    return Err(VerifyError::NotIJson {
                        path: path.clone(),
                        number: n.to_string(),
                    });
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(x, path)?;
                    path.truncate(len);
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    walk(x, path)?;
                    path.truncate(len);
                }
            }
            _ => {}
        }
        Ok(())
    }
    walk(value, &mut String::new())
}

/// Splits a secured document into the document without proofs and its proofs.
fn split(doc: &Value) -> Result<(Map<String, Value>, Vec<Value>), VerifyError> {
    let obj = doc.as_object().ok_or(VerifyError::NotAnObject)?;
    let mut unsecured = obj.clone();
    let proofs = match unsecured.remove("proof") {
        None => return Err(VerifyError::MissingProof),
        Some(Value::Array(set)) if set.is_empty() => return Err(VerifyError::MissingProof),
        Some(Value::Array(set)) => set,
        Some(single) => vec![single],
    };
    Ok((unsecured, proofs))
}

/// Builds the proof configuration for a new proof over `unsecured`.
fn proof_config(
    unsecured: &Map<String, Value>,
    signer: &Did,
    created: DateTime<Utc>,
) -> Map<String, Value> {
    let mut config = Map::new();
    config.insert("type".into(), PROOF_TYPE.into());
    config.insert("cryptosuite".into(), CRYPTOSUITE.into());
    config.insert("created".into(), timestamp(created).into());
    config.insert(
        "verificationMethod".into(),
        signer.verification_method().into(),
    );
    config.insert("proofPurpose".into(), ASSERTION_METHOD.into());
    if let Some(ctx) = unsecured.get("@context") {
        config.insert("@context".into(), ctx.clone());
    }
    config
}

/// Adds a proof by `key` to `doc`. A document that already has a proof gets a proof set.
pub fn add_proof(doc: &mut Value, key: &Key, created: DateTime<Utc>) -> Result<(), SignError> {
    add_proof_until(doc, key, created, None)
}

/// [`add_proof`] with the proof option `expires` (after it, verifiers refuse the proof) when
/// `expires` is given.
pub fn add_proof_until(
    doc: &mut Value,
    key: &Key,
    created: DateTime<Utc>,
    expires: Option<DateTime<Utc>>,
) -> Result<(), SignError> {
    check_i_json(doc).map_err(SignError::NotIJson)?;
    let obj = doc.as_object_mut().ok_or(SignError::NotAnObject)?;
    let existing = match obj.remove("proof") {
        None => Vec::new(),
        Some(Value::Array(set)) => set,
        Some(p @ Value::Object(_)) => vec![p],
        Some(other) => {
            obj.insert("proof".into(), other);
            return Err(SignError::BadExistingProof);
        }
    };
    let restore = |obj: &mut Map<String, Value>, existing: Vec<Value>| match existing.len() {
        0 => {}
        1 => {
            obj.insert(
                "proof".into(),
                existing.into_iter().next().unwrap_or_default(),
            );
        }
        _ => {
            obj.insert("proof".into(), Value::Array(existing));
        }
    };
    let vm = key.did().verification_method();
    if existing.iter().any(|p| !p.is_object()) {
        restore(obj, existing);
        return Err(SignError::BadExistingProof);
    }
    if existing
        .iter()
        .any(|p| p.get("verificationMethod").and_then(Value::as_str) == Some(&vm))
    {
        restore(obj, existing);
        return Err(SignError::AlreadySigned(key.did().to_string()));
    }
    let mut config = proof_config(obj, key.did(), created);
    if let Some(t) = expires {
        config.insert("expires".into(), timestamp(t).into());
    }
    let signature = key.sign_bytes(&hash_data(
        &Value::Object(config.clone()),
        &Value::Object(obj.clone()),
    ));
    config.insert(
        "proofValue".into(),
        multibase::encode(multibase::Base::Base58Btc, signature).into(),
    );
    let mut proofs = existing;
    proofs.push(Value::Object(config));
    restore(obj, proofs);
    Ok(())
}

fn as_context_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// Verifies one proof of a proof set against the document without proofs.
fn verify_one(
    index: usize,
    proof: &Value,
    secured: &Map<String, Value>,
    unsecured: &Map<String, Value>,
) -> Result<ProofInfo, VerifyError> {
    let malformed = |what: &str| VerifyError::Malformed {
        index,
        what: what.to_owned(),
    };
    let mut options = proof
        .as_object()
        .ok_or_else(|| malformed("not a JSON object"))?
        .clone();
    let proof_value = match options.remove("proofValue") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(malformed("`proofValue` is not a string")),
        None => return Err(malformed("`proofValue` is missing")),
    };
    let text = |field: &'static str| -> Result<&str, VerifyError> {
        options
            .get(field)
            .ok_or_else(|| malformed(&format!("`{field}` is missing")))?
            .as_str()
            .ok_or_else(|| malformed(&format!("`{field}` is not a string")))
    };
    let found = text("type")?;
    if found != PROOF_TYPE {
        return Err(VerifyError::Unsupported {
            index,
            field: "type",
            found: found.into(),
            expected: PROOF_TYPE,
        });
    }
    let found = text("cryptosuite")?;
    if found != CRYPTOSUITE {
        return Err(VerifyError::Unsupported {
            index,
            field: "cryptosuite",
            found: found.into(),
            expected: CRYPTOSUITE,
        });
    }
    let found = text("proofPurpose")?;
    if found != ASSERTION_METHOD {
        return Err(VerifyError::Unsupported {
            index,
            field: "proofPurpose",
            found: found.into(),
            expected: ASSERTION_METHOD,
        });
    }
    if options.contains_key("previousProof") {
        return Err(malformed(
            "`previousProof` (proof chains) is not supported; use a proof set",
        ));
    }
    let signer = Did::from_verification_method(text("verificationMethod")?)
        .map_err(|source| VerifyError::VerificationMethod { index, source })?;
    let (mut created, mut expires) = (None, None);
    for field in ["created", "expires"] {
        if options.contains_key(field) {
            let t = DateTime::parse_from_rfc3339(text(field)?)
                .map_err(|_| malformed(&format!("`{field}` is not an RFC 3339 date-time")))?
                .with_timezone(&Utc);
            if field == "created" {
                created = Some(t);
            } else {
                expires = Some(t);
            }
        }
    }
    let signature = match multibase::decode(&proof_value) {
        Ok((multibase::Base::Base58Btc, bytes)) => <[u8; 64]>::try_from(bytes.as_slice())
            .map(|b| Signature::from_bytes(&b))
            .map_err(|_| VerifyError::ProofValue { index })?,
        _ => return Err(VerifyError::ProofValue { index }),
    };
    let mut document = unsecured.clone();
    if let Some(proof_ctx) = options.get("@context") {
        let doc_ctx = secured
            .get("@context")
            .map(as_context_list)
            .unwrap_or_default();
        let proof_ctx_list = as_context_list(proof_ctx);
        if doc_ctx.len() < proof_ctx_list.len()
            || doc_ctx[..proof_ctx_list.len()] != proof_ctx_list[..]
        {
            return Err(VerifyError::ContextMismatch { index });
        }
        document.insert("@context".into(), proof_ctx.clone());
    }
    let data = hash_data(&Value::Object(options), &Value::Object(document));
    signer
        .verifying_key()
        .verify_strict(&data, &signature)
        .map_err(|_| VerifyError::BadSignature {
            index,
            signer: signer.to_string(),
        })?;
    Ok(ProofInfo {
        index,
        signer,
        created,
        expires,
    })
}

/// Verifies every proof of a secured document. All must verify; returns who signed, in order.
pub fn verify(doc: &Value) -> Result<Vec<ProofInfo>, VerifyError> {
    let (unsecured, proofs) = split(doc)?;
    check_i_json(doc)?;
    let secured = doc.as_object().ok_or(VerifyError::NotAnObject)?;
    proofs
        .iter()
        .enumerate()
        .map(|(index, proof)| verify_one(index, proof, secured, &unsecured))
        .collect()
}

/// The document with its proofs removed (what every proof of a set signs).
pub fn unsecured(doc: &Value) -> Result<Value, VerifyError> {
    split(doc).map(|(u, _)| Value::Object(u))
}
