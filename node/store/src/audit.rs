//! The node's hash-chained, append-only audit log (owner: storage). Every query answered or
//! refused, every policy published, every consent change and every certificate or
//! revocation stored gets one [`Entry`]. Each entry's hash covers the previous entry's
//! hash, so removing, reordering or editing any entry breaks the chain at that entry, and
//! [`verify`] names it. Appending is done by `store::Store::audit`, atomically with the
//! change it records; this module holds the pure part (hashing, verification).
//!
//! Hash of an entry: `SHA-256(b"regio-audit-v1\0" || prev || JCS({seq, at, kind, body}))`,
//! JCS being RFC 8785 canonical JSON. The first entry has `seq` 1 and `prev` all zeroes.
//!
//! Signed checkpoints (`AuditCheckpoint`, signed with the node key) cover the head every
//! `store::CHECKPOINT_EVERY` entries, on clean shutdown and at export; [`verify_log`] checks
//! a log against them, so that a node cannot rewrite entries it has signed a head over.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use regio_policy::doc::checkpoint::AuditCheckpoint;
use regio_policy::proof::canonical;
use regio_policy::signed::SignDocError;
use regio_policy::{Did, Key, Signed};

/// Signs a checkpoint of the log whose head is the given entry, at the given instant
/// (microseconds since the epoch): returns the signed AuditCheckpoint JSON.
pub type Checkpointer = Arc<dyn Fn(&Entry, i64) -> Result<Vec<u8>, String> + Send + Sync>;

/// Domain separator of the entry hash.
pub const DOMAIN: &[u8] = b"regio-audit-v1\0";

/// `prev` of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// A query was executed and answered.
    QueryAnswered,
    /// A query was refused (the body carries the reason code).
    QueryRefused,
    /// A policy bundle version was published.
    PolicyPublished,
    /// Consent entries were given, withdrawn or imported.
    ConsentChanged,
    /// An ethics certificate was stored.
    CertificateStored,
    /// A revocation was stored.
    RevocationStored,
    /// A signed charter was stored.
    CharterStored,
    /// A region manifest version was stored.
    ManifestStored,
    /// A catalog version (this node's, or a member's) was stored.
    CatalogStored,
    /// A peer was caught signing two different policy bundles with one version.
    EquivocationDetected,
}

impl Kind {
    /// The snake_case name used in the hashed JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::QueryAnswered => "query_answered",
            Kind::QueryRefused => "query_refused",
            Kind::PolicyPublished => "policy_published",
            Kind::ConsentChanged => "consent_changed",
            Kind::CertificateStored => "certificate_stored",
            Kind::RevocationStored => "revocation_stored",
            Kind::CharterStored => "charter_stored",
            Kind::ManifestStored => "manifest_stored",
            Kind::CatalogStored => "catalog_stored",
            Kind::EquivocationDetected => "equivocation_detected",
        }
    }
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When it was appended, microseconds since the epoch, UTC.
    pub at: i64,
    /// What it records.
    pub kind: Kind,
    /// Details (query id, reason code, policy version, consent ids …).
    pub body: serde_json::Value,
    /// Hash of the previous entry ([`GENESIS`] for the first).
    #[serde(with = "hex32")]
    pub prev: [u8; 32],
    /// Hash of this entry.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
}

/// The hash an entry with these fields must carry.
pub fn entry_hash(
    seq: u64,
    at: i64,
    kind: Kind,
    body: &serde_json::Value,
    prev: &[u8; 32],
) -> [u8; 32] {
    let content = serde_json::json!({ "seq": seq, "at": at, "kind": kind.as_str(), "body": body });
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(prev);
    h.update(canonical(&content));
    h.finalize().into()
}

impl Entry {
    /// The entry that follows `prev` (or the first entry when `prev` is `None`).
    pub fn next(prev: Option<&Entry>, at: i64, kind: Kind, body: serde_json::Value) -> Entry {
        let (seq, prev_hash) = prev.map_or((1, GENESIS), |p| (p.seq + 1, p.hash));
        let hash = entry_hash(seq, at, kind, &body, &prev_hash);
        Entry {
            seq,
            at,
            kind,
            body,
            prev: prev_hash,
            hash,
        }
    }
}

/// Where a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The entry's `hash` is not the hash of its content: it was edited.
    HashMismatch,
    /// The entry's `prev` is not the hash of the entry before it.
    PrevMismatch,
    /// The sequence number is not the one expected (an entry was removed or inserted).
    Sequence {
        /// The sequence number that should have come.
        expected: u64,
    },
}

/// Why an audit log does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The first broken entry.
    #[error("audit log broken at entry {seq}: {fault:?}")]
    BrokenLink {
        /// Sequence number of the first entry that does not verify.
        seq: u64,
        /// What is wrong with it.
        fault: Fault,
    },
}

/// Verifies a contiguous run of entries. `anchor` is the entry before the first one (its
/// seq and hash) when the run does not start at the beginning of the log.
pub fn verify(entries: &[Entry], anchor: Option<(u64, [u8; 32])>) -> Result<(), AuditError> {
    let (mut expected_seq, mut expected_prev) = anchor.map_or((1, GENESIS), |(s, h)| (s + 1, h));
    for e in entries {
        if e.seq != expected_seq {
            return Err(AuditError::BrokenLink {
                seq: e.seq,
                fault: Fault::Sequence {
                    expected: expected_seq,
                },
            });
        }
        if e.prev != expected_prev {
            return Err(AuditError::BrokenLink {
                seq: e.seq,
                fault: Fault::PrevMismatch,
            });
        }
        if entry_hash(e.seq, e.at, e.kind, &e.body, &e.prev) != e.hash {
            return Err(AuditError::BrokenLink {
                seq: e.seq,
                fault: Fault::HashMismatch,
            });
        }
        expected_seq += 1;
        expected_prev = e.hash;
    }
    Ok(())
}

/// Signs the checkpoint of a log whose head is `head`.
pub fn sign_checkpoint(
    key: &Key,
    head: &Entry,
    at: DateTime<Utc>,
) -> Result<Signed<AuditCheckpoint>, SignDocError> {
    let doc = AuditCheckpoint {
        node: key.did().clone(),
        seq: head.seq,
        head: hex::encode(head.hash),
        entries: head.seq,
        at,
    };
    Signed::sign(doc, key, at)
}

/// The store's checkpoint signer for this node key (see `store::Store::set_checkpointer`).
pub fn checkpointer(key: Key) -> Checkpointer {
    Arc::new(move |head: &Entry, at: i64| {
        let at = DateTime::<Utc>::from_timestamp_micros(at).unwrap_or_else(Utc::now);
        let signed = sign_checkpoint(&key, head, at).map_err(|e| e.to_string())?;
        serde_json::to_vec(signed.raw()).map_err(|e| e.to_string())
    })
}

/// Why a checkpoint does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not a validly signed AuditCheckpoint.
    #[error("checkpoint {index}: {reason}")]
    Document {
        /// Position in the list of checkpoints (from 0).
        index: usize,
        /// Why.
        reason: String,
    },
    /// Signed by another node than the log's.
    #[error("checkpoint of entry {seq} is signed by {signer}, not by the node {node}")]
    Signer {
        /// The seq it covers.
        seq: u64,
        /// Who signed.
        signer: String,
        /// The log's node.
        node: String,
    },
    /// The log does not hold the entry it covers.
    #[error("checkpoint of entry {seq}: the log ends at entry {len}")]
    Missing {
        /// The seq it covers.
        seq: u64,
        /// Entries in the log.
        len: u64,
    },
    /// The log's entry has another hash than the one the node signed.
    #[error("checkpoint of entry {seq}: the node signed hash {signed}, the log's entry {seq} has {found}")]
    HeadMismatch {
        /// The seq it covers.
        seq: u64,
        /// Hash in the checkpoint.
        signed: String,
        /// Hash in the log.
        found: String,
    },
}

/// What a verified log and its checkpoints establish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    /// Entries in the log.
    pub entries: u64,
    /// Hash of the last entry (hex).
    pub head: Option<String>,
    /// Seqs covered by valid checkpoints, ascending.
    pub checkpoints: Vec<u64>,
    /// Entries after the last checkpoint (not covered by any node signature).
    pub uncovered: u64,
}

/// Why a log with its checkpoints does not verify: the first problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The hash chain is broken (the first broken entry).
    #[error(transparent)]
    Chain(#[from] AuditError),
    /// A checkpoint does not hold.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// Verifies a whole log (from entry 1) and every checkpoint signed by `node` over it.
pub fn verify_log(
    entries: &[Entry],
    checkpoints: &[serde_json::Value],
    node: &Did,
) -> Result<LogReport, LogError> {
    verify(entries, None)?;
    let mut covered = Vec::new();
    for (index, raw) in checkpoints.iter().enumerate() {
        let signed = Signed::<AuditCheckpoint>::verify(raw.clone()).map_err(|e| {
            CheckpointError::Document {
                index,
                reason: e.to_string(),
            }
        })?;
        let c = signed.doc();
        if &c.node != node || !signed.signed_by(node) {
            return Err(CheckpointError::Signer {
                seq: c.seq,
                signer: signed.signer().to_string(),
                node: node.to_string(),
            }
            .into());
        }
        let Some(entry) = usize::try_from(c.seq - 1).ok().and_then(|i| entries.get(i)) else {
            return Err(CheckpointError::Missing {
                seq: c.seq,
                len: entries.len() as u64,
            }
            .into());
        };
        let found = hex::encode(entry.hash);
        if found != c.head {
            return Err(CheckpointError::HeadMismatch {
                seq: c.seq,
                signed: c.head.clone(),
                found,
            }
            .into());
        }
        covered.push(c.seq);
    }
    covered.sort_unstable();
    covered.dedup();
    let last = covered.last().copied().unwrap_or(0);
    Ok(LogReport {
        entries: entries.len() as u64,
        head: entries.last().map(|e| hex::encode(e.hash)),
        uncovered: (entries.len() as u64).saturating_sub(last),
        checkpoints: covered,
    })
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: u64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..n {
            let e = Entry::next(
                out.last(),
                1000 + i as i64,
                Kind::QueryAnswered,
                json!({ "query": i }),
            );
            out.push(e);
        }
        out
    }

    #[test]
    fn chain_verifies_and_anchor_works() {
        let c = chain(5);
        assert_eq!(c[0].seq, 1);
        assert_eq!(c[0].prev, GENESIS);
        assert_eq!(verify(&c, None), Ok(()));
        assert_eq!(verify(&c[2..], Some((2, c[1].hash))), Ok(()));
        assert_eq!(
            verify(&c[2..], None),
            Err(AuditError::BrokenLink {
                seq: 3,
                fault: Fault::Sequence { expected: 1 }
            })
        );
    }

    #[test]
    fn tampering_is_named() {
        let mut c = chain(5);
        c[2].body = json!({ "query": 99 });
        assert_eq!(
            verify(&c, None),
            Err(AuditError::BrokenLink {
                seq: 3,
                fault: Fault::HashMismatch
            })
        );

        let mut c = chain(5);
        c[3].prev = [7; 32];
        assert_eq!(
            verify(&c, None),
            Err(AuditError::BrokenLink {
                seq: 4,
                fault: Fault::PrevMismatch
            })
        );

        let mut c = chain(5);
        c.remove(1);
        assert_eq!(
            verify(&c, None),
            Err(AuditError::BrokenLink {
                seq: 3,
                fault: Fault::Sequence { expected: 2 }
            })
        );

        // Re-hashing an edited entry still breaks the link of the next one.
        let mut c = chain(5);
        c[1].body = json!("forged");
        c[1].hash = entry_hash(c[1].seq, c[1].at, c[1].kind, &c[1].body, &c[1].prev);
        assert_eq!(
            verify(&c, None),
            Err(AuditError::BrokenLink {
                seq: 3,
                fault: Fault::PrevMismatch
            })
        );
    }

    #[test]
    fn checkpoints_cover_the_log() {
        let key = Key::from_secret([1; 32]);
        let c = chain(6);
        let cp = |i: usize| {
            sign_checkpoint(&key, &c[i], Utc::now())
                .unwrap()
                .raw()
                .clone()
        };
        let report = verify_log(&c, &[cp(2), cp(5)], key.did()).unwrap();
        assert_eq!(
            (report.entries, report.checkpoints.clone(), report.uncovered),
            (6, vec![3, 6], 0)
        );
        // Truncating the log below a checkpoint, or rewriting the chain under it, is caught.
        assert_eq!(
            verify_log(&c[..4], &[cp(5)], key.did()),
            Err(LogError::Checkpoint(CheckpointError::Missing {
                seq: 6,
                len: 4
            }))
        );
        let mut forged = chain(6);
        forged[5].body = json!("rewritten");
        forged[5].hash = entry_hash(
            forged[5].seq,
            forged[5].at,
            forged[5].kind,
            &forged[5].body,
            &forged[5].prev,
        );
        assert!(matches!(
            verify_log(&forged, &[cp(5)], key.did()),
            Err(LogError::Checkpoint(CheckpointError::HeadMismatch {
                seq: 6,
                ..
            }))
        ));
        // A checkpoint by another key, or altered, is named.
        let other = Key::from_secret([2; 32]);
        assert!(matches!(
            verify_log(&c, &[cp(2)], other.did()),
            Err(LogError::Checkpoint(CheckpointError::Signer { seq: 3, .. }))
        ));
        let mut bad = cp(2);
        bad["seq"] = 2.into();
        bad["entries"] = 2.into();
        assert!(matches!(
            verify_log(&c, &[bad], key.did()),
            Err(LogError::Checkpoint(CheckpointError::Document {
                index: 0,
                ..
            }))
        ));
    }

    #[test]
    fn json_form_round_trips() {
        let c = chain(2);
        let text = serde_json::to_string(&c[1]).unwrap();
        assert!(text.contains(&format!("\"prev\":\"{}\"", hex::encode(c[0].hash))));
        let back: Entry = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c[1]);
    }
}
