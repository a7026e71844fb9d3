//! AuditCheckpoint — a node's signed statement of the head of its hash-chained audit log
//! (owner: audit). The node signs one every few entries and on clean shutdown; an auditor
//! who holds a checkpoint knows that any log later presented by the node must contain,
//! unchanged, the entry `seq` with hash `head` — the node cannot rewrite what it signed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::did::Did;
use crate::signed::{Document, Invalid, Signed};

/// A signed audit log head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditCheckpoint {
    /// The node whose log this is (it signs the checkpoint).
    pub node: Did,
    /// Sequence number of the head entry covered.
    pub seq: u64,
    /// Hash of that entry (64 hex digits, as in the exported log).
    pub head: String,
    /// Number of entries in the log up to and including the head.
    pub entries: u64,
    /// When the checkpoint was signed.
    #[serde(with = "crate::time::ts")]
    pub at: DateTime<Utc>,
}

impl Document for AuditCheckpoint {
    const TYPE: &'static str = "AuditCheckpoint";
    const SCHEMA_VERSION: u32 = 1;

    fn validate(&self) -> Result<(), Invalid> {
        if self.seq == 0 {
            return Err(Invalid::new("seq", "audit log entries are numbered from 1"));
        }
        if self.entries != self.seq {
            return Err(Invalid::new(
                "entries",
                format!("{} entries cannot end at entry {}", self.entries, self.seq),
            ));
        }
        if self.head.len() != 64
            || !self
                .head
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Invalid::new("head", "must be 64 lowercase hex digits"));
        }
        Ok(())
    }
}

/// Checks that a checkpoint is signed by the node it names.
pub fn check_signer(checkpoint: &Signed<AuditCheckpoint>) -> Result<(), Invalid> {
    checkpoint.require_signer(&checkpoint.doc().node, "node")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Key;

    fn doc(node: &Did) -> AuditCheckpoint {
        AuditCheckpoint {
            node: node.clone(),
            seq: 3,
            head: "ab".repeat(32),
            entries: 3,
            at: Utc::now(),
        }
    }

    #[test]
    fn signs_verifies_and_names_bad_fields() {
        let key = Key::from_secret([7; 32]);
        let signed = Signed::sign(doc(key.did()), &key, Utc::now()).unwrap();
        assert_eq!(signed.raw()["type"], "AuditCheckpoint");
        assert!(check_signer(&signed).is_ok());
        let back = Signed::<AuditCheckpoint>::verify(signed.raw().clone()).unwrap();
        assert_eq!(back.doc(), signed.doc());

        let other = Key::from_secret([8; 32]);
        let forged = Signed::sign(doc(key.did()), &other, Utc::now()).unwrap();
        assert_eq!(check_signer(&forged).unwrap_err().field, "proof");

        let bad = AuditCheckpoint {
            entries: 2,
            ..doc(key.did())
        };
        assert!(
            matches!(Signed::sign(bad, &key, Utc::now()), Err(crate::signed::SignDocError::Invalid(i)) if i.field == "entries")
        );
        let bad = AuditCheckpoint {
            head: "XY".into(),
            ..doc(key.did())
        };
        assert!(
            matches!(Signed::sign(bad, &key, Utc::now()), Err(crate::signed::SignDocError::Invalid(i)) if i.field == "head")
        );

        let mut tampered = signed.raw().clone();
        tampered["seq"] = 4.into();
        tampered["entries"] = 4.into();
        assert!(Signed::<AuditCheckpoint>::verify(tampered).is_err());
    }
}
