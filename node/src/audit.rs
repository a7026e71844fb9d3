//! The node's hash-chained, append-only audit log (owner: storage). Every query answered or
//! refused, every policy published, every consent change and every certificate or
//! revocation stored gets one [`Entry`]. Each entry's hash covers the previous entry's
//! hash, so removing, reordering or editing any entry breaks the chain at that entry, and
//! [`verify`] names it. Appending is done by `store::Store::audit`, atomically with the
//! change it records; this module holds the pure part (hashing, verification).
//!
//! Hash of an entry: `SHA-256(b"regio-audit-v1\0" || prev || JCS({seq, at, kind, body}))`,
//! JCS being RFC 8785 canonical JSON. The first entry has `seq` 1 and `prev` all zeroes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::policy::proof::canonical;

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
pub fn entry_hash(seq: u64, at: i64, kind: Kind, body: &serde_json::Value, prev: &[u8; 32]) -> [u8; 32] {
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
        Entry { seq, at, kind, body, prev: prev_hash, hash }
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
            return Err(AuditError::BrokenLink { seq: e.seq, fault: Fault::Sequence { expected: expected_seq } });
        }
        if e.prev != expected_prev {
            return Err(AuditError::BrokenLink { seq: e.seq, fault: Fault::PrevMismatch });
        }
        if entry_hash(e.seq, e.at, e.kind, &e.body, &e.prev) != e.hash {
            return Err(AuditError::BrokenLink { seq: e.seq, fault: Fault::HashMismatch });
        }
        expected_seq += 1;
        expected_prev = e.hash;
    }
    Ok(())
}

/// Hook for the signed checkpoints of a later issue: the head a checkpoint covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Sequence number of the head entry.
    pub seq: u64,
    /// Its hash.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
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
            let e = Entry::next(out.last(), 1000 + i as i64, Kind::QueryAnswered, json!({ "query": i }));
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
        assert_eq!(verify(&c[2..], None), Err(AuditError::BrokenLink { seq: 3, fault: Fault::Sequence { expected: 1 } }));
    }

    #[test]
    fn tampering_is_named() {
        let mut c = chain(5);
        c[2].body = json!({ "query": 99 });
        assert_eq!(verify(&c, None), Err(AuditError::BrokenLink { seq: 3, fault: Fault::HashMismatch }));

        let mut c = chain(5);
        c[3].prev = [7; 32];
        assert_eq!(verify(&c, None), Err(AuditError::BrokenLink { seq: 4, fault: Fault::PrevMismatch }));

        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c, None), Err(AuditError::BrokenLink { seq: 3, fault: Fault::Sequence { expected: 2 } }));

        // Re-hashing an edited entry still breaks the link of the next one.
        let mut c = chain(5);
        c[1].body = json!("forged");
        c[1].hash = entry_hash(c[1].seq, c[1].at, c[1].kind, &c[1].body, &c[1].prev);
        assert_eq!(verify(&c, None), Err(AuditError::BrokenLink { seq: 3, fault: Fault::PrevMismatch }));
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
