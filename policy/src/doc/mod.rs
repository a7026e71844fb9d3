//! The documents that carry authority in a region. Each is a typed body; the envelope
//! (`type`, `schemaVersion`, `@context`, `proof`) is added by [`crate::signed`].
//!
//! | document | signed by | module |
//! |---|---|---|
//! | PolicyBundle | the municipality (its node key) | [`bundle`] |
//! | ConsentRecord | the subject, or the clerk who registered it | [`consent`] |
//! | EthicsCertificate, Revocation | the certifier | [`cert`] |
//! | InclusionCharter | every member (proof set) | [`charter`] |
//! | RegionManifest | the founders, then a threshold of current members | [`manifest`] |
//! | Query | the requesting application | [`query`] |
//! | PartialAnswer | the answering node | [`query`] |
//! | Catalog (datasets and initiatives, rendered as DCAT-AP 3) | the municipality (its node key) | [`catalog`] |
//! | AuditCheckpoint | the node whose audit log it covers | [`checkpoint`] |

pub mod bundle;
pub mod catalog;
pub mod cert;
pub mod charter;
pub mod checkpoint;
pub mod consent;
pub mod manifest;
pub mod query;

use crate::purpose::Vocabulary;
use crate::signed::Invalid;

/// Checks that every purpose is in the vocabulary (`*` allowed when `wildcard`).
pub(crate) fn check_purposes(
    field: &str,
    purposes: &[String],
    wildcard: bool,
) -> Result<(), Invalid> {
    let vocab = Vocabulary::builtin();
    for (i, p) in purposes.iter().enumerate() {
        if !(vocab.contains(p) || (wildcard && p == "*")) {
            return Err(Invalid::new(
                format!("{field}[{i}]"),
                format!("`{p}` is not a purpose of the DPV vocabulary in charters/purposes.json"),
            ));
        }
    }
    Ok(())
}

/// Checks a non-empty text field.
pub(crate) fn non_empty(field: &str, value: &str) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    Ok(())
}

/// Checks a dataset name (`[a-z_][a-z0-9_]*`, or `*` when `wildcard`).
pub(crate) fn check_dataset(field: &str, name: &str, wildcard: bool) -> Result<(), Invalid> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63;
    if ok || (wildcard && name == "*") {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            format!("`{name}` is not a dataset name ([a-z_][a-z0-9_]*)"),
        ))
    }
}
