//! RegionManifest — who is in a region, which charter it signed, which certifiers it
//! trusts and how many members must sign a change. Version 1 is signed by every founder; a
//! later version takes effect only when at least `threshold` members of the version before
//! it have signed it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::did::Did;
use crate::signed::{DocHash, Document, Invalid, Signed};

/// A member municipality.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Its node's DID.
    pub did: Did,
    /// NIS code.
    pub nis: String,
    /// Name.
    pub name: String,
    /// libp2p multiaddresses where its node listens.
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// One version of a region's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegionManifest {
    /// Region id (`[a-z0-9-]+`), e.g. `leiestreek`.
    pub region: String,
    /// Human name.
    pub name: String,
    /// Version, from 1.
    pub version: u64,
    /// Hash of the previous version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<DocHash>,
    /// When issued.
    #[serde(with = "crate::time::ts")]
    pub issued: DateTime<Utc>,
    /// Members.
    pub members: Vec<Member>,
    /// Hash of the signed inclusion charter.
    pub charter: DocHash,
    /// Certifiers the region trusts.
    #[serde(default)]
    pub certifiers: Vec<Did>,
    /// Signatures of current members needed for the next version.
    pub threshold: u32,
}

impl Document for RegionManifest {
    const TYPE: &'static str = "RegionManifest";
    const SCHEMA_VERSION: u32 = 1;
    fn validate(&self) -> Result<(), Invalid> {
        if self.region.is_empty()
            || !self
                .region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(Invalid::new(
                "region",
                format!("`{}` is not a region id ([a-z0-9-]+)", self.region),
            ));
        }
        super::non_empty("name", &self.name)?;
        if self.members.is_empty() {
            return Err(Invalid::new("members", "a region has at least one member"));
        }
        for (i, m) in self.members.iter().enumerate() {
            if self.members[..i].iter().any(|n| n.did == m.did) {
                return Err(Invalid::new(format!("members[{i}].did"), "listed twice"));
            }
        }
        if self.threshold == 0 || self.threshold as usize > self.members.len() {
            return Err(Invalid::new(
                "threshold",
                format!(
                    "must be between 1 and the number of members ({})",
                    self.members.len()
                ),
            ));
        }
        match (self.version, &self.previous) {
            (0, _) => Err(Invalid::new("version", "versions start at 1")),
            (1, Some(_)) => Err(Invalid::new(
                "previous",
                "version 1 has no previous version",
            )),
            (v, None) if v > 1 => Err(Invalid::new(
                "previous",
                "must name the hash of the previous version",
            )),
            _ => Ok(()),
        }
    }
}

impl RegionManifest {
    /// The member with this DID.
    pub fn member(&self, did: &Did) -> Option<&Member> {
        self.members.iter().find(|m| &m.did == did)
    }
}

/// Why a manifest version does not take effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// A founding manifest not signed by every founder.
    #[error("version 1 must be signed by every founder; missing {0}")]
    FounderMissing(String),
    /// Fewer than the threshold of current members signed.
    #[error("signed by {have} current member(s), the threshold is {need}")]
    BelowThreshold {
        /// Distinct current members that signed.
        have: usize,
        /// Threshold of the current version.
        need: u32,
    },
    /// Not the next version of this region.
    #[error("not the successor of {region} v{current}: {reason}")]
    NotSuccessor {
        /// Region id.
        region: String,
        /// Current version.
        current: u64,
        /// What does not follow.
        reason: String,
    },
}

/// Whether `next` takes effect after `current` (or founds the region when `current` is none).
pub fn accept(
    current: Option<&Signed<RegionManifest>>,
    next: &Signed<RegionManifest>,
) -> Result<(), ManifestError> {
    let doc = next.doc();
    let Some(cur) = current else {
        if doc.version != 1 {
            return Err(ManifestError::NotSuccessor {
                region: doc.region.clone(),
                current: 0,
                reason: format!("a region starts at version 1, not {}", doc.version),
            });
        }
        if let Some(m) = doc.members.iter().find(|m| !next.signed_by(&m.did)) {
            return Err(ManifestError::FounderMissing(m.did.to_string()));
        }
        return Ok(());
    };
    let c = cur.doc();
    let not = |reason: String| ManifestError::NotSuccessor {
        region: c.region.clone(),
        current: c.version,
        reason,
    };
    if doc.region != c.region {
        return Err(not(format!("it is for region `{}`", doc.region)));
    }
    if doc.version != c.version + 1 {
        return Err(not(format!("it is version {}", doc.version)));
    }
    if doc.previous != Some(cur.hash()) {
        return Err(not(
            "`previous` is not the hash of the current version".into()
        ));
    }
    let have = next
        .signers()
        .into_iter()
        .filter(|s| c.member(s).is_some())
        .count();
    if have < c.threshold as usize {
        return Err(ManifestError::BelowThreshold {
            have,
            need: c.threshold,
        });
    }
    Ok(())
}
