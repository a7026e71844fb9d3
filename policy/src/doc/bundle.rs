//! PolicyBundle — one municipality's rules, as an append-only chain: every version is signed
//! by the municipality and carries the hash of the previous one. Two validly signed bundles
//! of one issuer with the same version are **equivocation**, kept as evidence.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::did::Did;
use crate::signed::{DocHash, Document, Invalid, Signed};

/// The municipality that publishes the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Municipality {
    /// NIS code (Statbel), e.g. `44021`.
    pub nis: String,
    /// Name, e.g. `Gent`.
    pub name: String,
    /// The node's DID; it signs every version.
    pub did: Did,
}

/// How a dataset is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Open data.
    Open,
    /// Internal, non-personal.
    Internal,
    /// Holds personal rows: consent filter applies.
    Personal,
}

/// The policy of one dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatasetPolicy {
    /// Dataset name.
    pub name: String,
    /// Classification.
    pub classification: Classification,
    /// The field naming the data subject (required for personal datasets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_field: Option<String>,
    /// Fields masked in raw results.
    #[serde(default)]
    pub sensitive_fields: Vec<String>,
    /// Field → category (e.g. `geboortejaar` → `age`), matched against the charter's
    /// protected attributes.
    #[serde(default)]
    pub categories: BTreeMap<String, String>,
}

/// Access rules: a casbin model (RBAC with domains; Regio's standard model when absent) and
/// its policy lines `["p", role, region, dataset, action, purpose]` and
/// `["g", application DID, role, region]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// casbin model text; `None` = [`crate::decision::access::STANDARD_MODEL`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Policy lines.
    pub policy: Vec<Vec<String>>,
}

/// Which (dataset, purpose) pairs need an ethics certificate, and from whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertRequirement {
    /// Dataset or `*`.
    pub dataset: String,
    /// Purpose (covers its narrower ones) or `*`.
    pub purpose: String,
    /// Certifiers this municipality trusts for it; empty = the region's trusted certifiers.
    #[serde(default)]
    pub certifiers: Vec<Did>,
}

/// Disclosure rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Disclosure {
    /// Smallest group that may leave the node (the charter's, if larger, wins).
    pub min_group_size: u32,
    /// Datasets for which raw rows may leave the node at all (with the `raw` grant).
    #[serde(default)]
    pub raw_datasets: Vec<String>,
}

/// One version of a municipality's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyBundle {
    /// Who publishes it.
    pub municipality: Municipality,
    /// Version, from 1, without gaps.
    pub version: u64,
    /// Hash of the previous version (none for version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<DocHash>,
    /// When it was issued.
    #[serde(with = "crate::time::ts")]
    pub issued: DateTime<Utc>,
    /// Datasets and their classification.
    pub datasets: Vec<DatasetPolicy>,
    /// Access rules.
    pub access: Access,
    /// Certificate requirements.
    #[serde(default)]
    pub certification: Vec<CertRequirement>,
    /// Hashes of the charters this municipality enforces.
    #[serde(default)]
    pub charters: Vec<DocHash>,
    /// Disclosure rules.
    pub disclosure: Disclosure,
}

const ACTIONS: [&str; 5] = ["aggregate", "raw", "ingest", "admin", "*"];

impl Document for PolicyBundle {
    const TYPE: &'static str = "PolicyBundle";
    const SCHEMA_VERSION: u32 = 1;

    fn validate(&self) -> Result<(), Invalid> {
        super::non_empty("municipality.nis", &self.municipality.nis)?;
        super::non_empty("municipality.name", &self.municipality.name)?;
        if self.version == 0 {
            return Err(Invalid::new("version", "versions start at 1"));
        }
        match (self.version, &self.previous) {
            (1, Some(_)) => {
                return Err(Invalid::new(
                    "previous",
                    "version 1 has no previous version",
                ))
            }
            (v, None) if v > 1 => {
                return Err(Invalid::new(
                    "previous",
                    format!("version {v} must name the hash of version {}", v - 1),
                ))
            }
            _ => {}
        }
        for (i, d) in self.datasets.iter().enumerate() {
            super::check_dataset(&format!("datasets[{i}].name"), &d.name, false)?;
            if self.datasets[..i].iter().any(|e| e.name == d.name) {
                return Err(Invalid::new(
                    format!("datasets[{i}].name"),
                    format!("`{}` is declared twice", d.name),
                ));
            }
            if d.classification == Classification::Personal && d.subject_field.is_none() {
                return Err(Invalid::new(
                    format!("datasets[{i}].subjectField"),
                    "a personal dataset must name its subject field",
                ));
            }
        }
        for (i, line) in self.access.policy.iter().enumerate() {
            let field = format!("access.policy[{i}]");
            match line.first().map(String::as_str) {
                Some("p") if line.len() == 6 => {
                    super::check_dataset(&field, &line[3], true)?;
                    if !ACTIONS.contains(&line[4].as_str()) {
                        return Err(Invalid::new(field, format!("action `{}` is not one of aggregate, raw, ingest, admin, *", line[4])));
                    }
                    super::check_purposes(&field, &line[5..6], true)?;
                }
                Some("g") if line.len() == 4 => {}
                _ => {
                    return Err(Invalid::new(
                        field,
                        "expected [\"p\", role, region, dataset, action, purpose] or [\"g\", subject, role, region]",
                    ))
                }
            }
        }
        for (i, c) in self.certification.iter().enumerate() {
            super::check_dataset(&format!("certification[{i}].dataset"), &c.dataset, true)?;
            super::check_purposes(
                &format!("certification[{i}].purpose"),
                std::slice::from_ref(&c.purpose),
                true,
            )?;
        }
        if self.disclosure.min_group_size == 0 {
            return Err(Invalid::new(
                "disclosure.minGroupSize",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

impl PolicyBundle {
    /// The policy of a dataset.
    pub fn dataset(&self, name: &str) -> Option<&DatasetPolicy> {
        self.datasets.iter().find(|d| d.name == name)
    }
}

/// Checks that a bundle is signed by the municipality it names.
pub fn check_signer(bundle: &Signed<PolicyBundle>) -> Result<(), Invalid> {
    bundle.require_signer(&bundle.doc().municipality.did, "municipality.did")
}

/// Two validly signed bundles of one issuer with the same version: proof of equivocation.
#[derive(Debug, Clone)]
pub struct Equivocation {
    /// The issuer.
    pub issuer: Did,
    /// The version signed twice.
    pub version: u64,
    /// One bundle.
    pub a: Signed<PolicyBundle>,
    /// The other.
    pub b: Signed<PolicyBundle>,
}

/// Checks two bundles for equivocation: same issuer, same version, different content.
pub fn equivocation(a: &Signed<PolicyBundle>, b: &Signed<PolicyBundle>) -> Option<Equivocation> {
    let (da, db) = (a.doc(), b.doc());
    (da.municipality.did == db.municipality.did && da.version == db.version && a.hash() != b.hash())
        .then(|| Equivocation {
            issuer: da.municipality.did.clone(),
            version: da.version,
            a: a.clone(),
            b: b.clone(),
        })
}

/// Why a policy chain does not verify.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// No bundles.
    #[error("the chain is empty")]
    Empty,
    /// A bundle is not signed by its municipality's DID.
    #[error(
        "wrong signer: version {version} is signed by {signer}, not by the municipality {expected}"
    )]
    WrongSigner {
        /// Version.
        version: u64,
        /// Who signed.
        signer: String,
        /// Who should have.
        expected: String,
    },
    /// Bundles of different municipalities.
    #[error("mixed issuers: version {version} belongs to {found}, the chain is {expected}'s")]
    MixedIssuers {
        /// Version.
        version: u64,
        /// Its issuer.
        found: String,
        /// The chain's issuer.
        expected: String,
    },
    /// A version is missing.
    #[error("chain gap: expected version {expected}, found {found}")]
    Gap {
        /// Expected version.
        expected: u64,
        /// Found version.
        found: u64,
    },
    /// `previous` is not the hash of the previous version.
    #[error("broken link: version {version} names previous {found}, but version {} hashes to {expected}", version - 1)]
    BrokenLink {
        /// Version.
        version: u64,
        /// What it names.
        found: String,
        /// The real hash of the previous version.
        expected: String,
    },
    /// Two bundles with one version (a fork).
    #[error("equivocation: {} signed two different bundles with version {}: {} and {}", .0.issuer, .0.version, .0.a.hash(), .0.b.hash())]
    Equivocation(Box<Equivocation>),
}

/// The verified head of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Issuer.
    pub issuer: Did,
    /// Latest version.
    pub version: u64,
    /// Its hash.
    pub hash: DocHash,
}

/// Verifies a whole chain, from version 1, in any order: signer, links, no gap, no fork.
pub fn verify_chain(bundles: &[Signed<PolicyBundle>]) -> Result<ChainHead, ChainError> {
    let mut sorted: Vec<&Signed<PolicyBundle>> = bundles.iter().collect();
    sorted.sort_by_key(|b| b.doc().version);
    let first = sorted.first().ok_or(ChainError::Empty)?;
    let issuer = first.doc().municipality.did.clone();
    for pair in sorted.windows(2) {
        if let Some(e) = equivocation(pair[0], pair[1]) {
            return Err(ChainError::Equivocation(Box::new(e)));
        }
    }
    let mut prev: Option<&Signed<PolicyBundle>> = None;
    for b in sorted {
        let doc = b.doc();
        if doc.municipality.did != issuer {
            return Err(ChainError::MixedIssuers {
                version: doc.version,
                found: doc.municipality.did.to_string(),
                expected: issuer.to_string(),
            });
        }
        if !b.signed_by(&issuer) {
            return Err(ChainError::WrongSigner {
                version: doc.version,
                signer: b.signer().to_string(),
                expected: issuer.to_string(),
            });
        }
        let expected = prev.map_or(1, |p| p.doc().version + 1);
        if doc.version != expected {
            if prev.is_some_and(|p| p.doc().version == doc.version) {
                continue; // an identical duplicate
            }
            return Err(ChainError::Gap {
                expected,
                found: doc.version,
            });
        }
        if let Some(p) = prev {
            if doc.previous != Some(p.hash()) {
                return Err(ChainError::BrokenLink {
                    version: doc.version,
                    found: doc
                        .previous
                        .map(|h| h.to_string())
                        .unwrap_or_else(|| "none".into()),
                    expected: p.hash().to_string(),
                });
            }
        }
        prev = Some(b);
    }
    let head = prev.ok_or(ChainError::Empty)?;
    Ok(ChainHead {
        issuer,
        version: head.doc().version,
        hash: head.hash(),
    })
}
