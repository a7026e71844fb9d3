//! What a peer may make this node hold (issue 14): a region changes only by its own rules.
//! A document that arrives by gossip or sync for a region is judged against that region
//! before it is verified or stored: the node must be a member of the region; a manifest must
//! be that region's (its successor: founding or joining a region goes through the admin API
//! only); a charter must be the one the region's manifest names; certificates and
//! revocations must come from the region's certifiers; policy bundles from its members; and
//! no author may fill the node beyond its caps ([`crate::caps::Caps`]). Whatever fails is
//! [`Dropped`].

use serde_json::Value;

use super::{Engine, Held};
use regio_policy::{Did, DocHash};

/// Why a document a peer sent for a region was dropped. Nothing was verified or stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Dropped {
    /// This node is not a member of the region (it holds no manifest of it that lists it).
    #[error("this node is not a member of region `{0}`")]
    NotMember(String),
    /// A manifest of another region (a region is founded or joined through the admin API).
    #[error("a manifest of region `{found}` sent for region `{region}` (a node founds or joins a region only through its admin API)")]
    OtherRegion {
        /// The region it was sent for.
        region: String,
        /// The region the manifest is of.
        found: String,
    },
    /// A charter the region's manifest does not name.
    #[error("charter {hash} is not the charter of region `{region}`")]
    NotItsCharter {
        /// The region.
        region: String,
        /// The charter's hash.
        hash: DocHash,
    },
    /// A certificate or revocation of an issuer the region does not trust.
    #[error("{what} issued by {issuer}, not a certifier of region `{region}`")]
    Untrusted {
        /// `certificate` or `revocation`.
        what: &'static str,
        /// Its issuer.
        issuer: String,
        /// The region.
        region: String,
    },
    /// A policy bundle or a catalog of a non-member.
    #[error("{what} of {issuer}, not a member of region `{region}`")]
    NotAMember {
        /// `policy bundle` or `catalog`.
        what: &'static str,
        /// The document's municipality.
        issuer: String,
        /// The region.
        region: String,
    },
    /// A document without the field that says who made it.
    #[error("{what} without a string at `{field}`")]
    Malformed {
        /// The document type.
        what: &'static str,
        /// The JSON pointer.
        field: &'static str,
    },
    /// The author already filled its cap.
    #[error("{author} already has {held} {what}s held here, the most this node keeps (setting `documents.{setting}`)")]
    Cap {
        /// `certificate` or `revocation`.
        what: &'static str,
        /// The author.
        author: String,
        /// How many are held.
        held: usize,
        /// The setting that caps them.
        setting: &'static str,
    },
}

impl Dropped {
    /// A short stable name of the cause (log field and metric label).
    pub fn cause(&self) -> &'static str {
        match self {
            Dropped::NotMember(_) => "region.not_member",
            Dropped::OtherRegion { .. } => "manifest.other_region",
            Dropped::NotItsCharter { .. } => "charter.not_the_regions",
            Dropped::Untrusted { .. } => "issuer.untrusted",
            Dropped::NotAMember {
                what: "catalog", ..
            } => "catalog.not_member",
            Dropped::NotAMember { .. } => "policy.not_member",
            Dropped::Malformed { .. } => "document.malformed",
            Dropped::Cap { .. } => "author.cap",
        }
    }
}

impl Engine {
    /// Judges a document a peer sent for `region` (see the module doc). `Ok` means it may be
    /// verified and taken in; every `Err` is counted ([`Engine::dropped`]).
    pub fn admit(&self, region: &str, kind: Held, doc: &Value) -> Result<(), Dropped> {
        let verdict = self.judge(region, kind, doc);
        if let Err(d) = &verdict {
            let mut counts = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
            *counts.entry(d.cause()).or_default() += 1;
        }
        verdict
    }

    /// Whether this node and `peer` are both members of `region` (its current manifest).
    pub fn shares_region(&self, region: &str, peer: &Did) -> bool {
        let state = self.read();
        state
            .member_region(self.did(), region)
            .is_some_and(|m| m.doc().member(peer).is_some())
    }

    /// How many documents from peers were dropped so far, by cause ([`Dropped::cause`]).
    pub fn dropped(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.dropped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn judge(&self, region: &str, kind: Held, doc: &Value) -> Result<(), Dropped> {
        let state = self.read();
        let Some(manifest) = state.member_region(self.did(), region) else {
            return Err(Dropped::NotMember(region.to_owned()));
        };
        let m = manifest.doc();
        let caps = self.caps();
        match kind {
            Held::Manifest => {
                let found = field(doc, "region manifest", "/region")?;
                if found != region {
                    return Err(Dropped::OtherRegion {
                        region: region.to_owned(),
                        found: found.to_owned(),
                    });
                }
            }
            Held::Charter => {
                let hash = DocHash::of(doc);
                if hash != m.charter {
                    return Err(Dropped::NotItsCharter {
                        region: region.to_owned(),
                        hash,
                    });
                }
            }
            Held::Certificate | Held::Revocation => {
                let (what, setting, cap) = match kind {
                    Held::Certificate => (
                        "certificate",
                        "certificates_per_certifier",
                        caps.certificates_per_certifier,
                    ),
                    _ => (
                        "revocation",
                        "revocations_per_certifier",
                        caps.revocations_per_certifier,
                    ),
                };
                let issuer = field(doc, what, "/issuer")?;
                if !m.certifiers.iter().any(|c| c.as_str() == issuer) {
                    return Err(Dropped::Untrusted {
                        what,
                        issuer: issuer.to_owned(),
                        region: region.to_owned(),
                    });
                }
                let held = match kind {
                    Held::Certificate => state
                        .certificates
                        .values()
                        .filter(|c| c.doc().issuer.as_str() == issuer)
                        .count(),
                    _ => state
                        .revocations
                        .values()
                        .flatten()
                        .filter(|r| r.doc().issuer.as_str() == issuer)
                        .count(),
                };
                let already = || match kind {
                    Held::Certificate => state.certificates.contains_key(&DocHash::of(doc)),
                    _ => false,
                };
                if held >= cap && !already() {
                    return Err(Dropped::Cap {
                        what,
                        author: issuer.to_owned(),
                        held,
                        setting,
                    });
                }
            }
            Held::Catalog => {
                let issuer = field(doc, "catalog", "/municipality/did")?;
                if !m.members.iter().any(|x| x.did.as_str() == issuer) {
                    return Err(Dropped::NotAMember {
                        what: "catalog",
                        issuer: issuer.to_owned(),
                        region: region.to_owned(),
                    });
                }
            }
            Held::Policy => {
                let issuer = field(doc, "policy bundle", "/municipality/did")?;
                if !m.members.iter().any(|x| x.did.as_str() == issuer) {
                    return Err(Dropped::NotAMember {
                        what: "policy bundle",
                        issuer: issuer.to_owned(),
                        region: region.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }
}

fn field<'v>(doc: &'v Value, what: &'static str, at: &'static str) -> Result<&'v str, Dropped> {
    doc.pointer(at)
        .and_then(Value::as_str)
        .ok_or(Dropped::Malformed { what, field: at })
}
