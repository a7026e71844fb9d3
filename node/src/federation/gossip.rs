//! What nodes gossip on a region's topic: signed documents, so every receiver verifies for
//! itself — revocations (every node must refuse a revoked certificate), policy bundles
//! (heads and equivocation evidence), manifest versions, ethics certificates (a certifier
//! registers one at any node; every member learns it), charters — and digests of what a
//! node holds, which start a sync when they differ ([`super::sync`]). A document counts only
//! for the region it was sent for, and only when a peer may make this node hold it there
//! ([`Engine::admit`]): otherwise it is dropped, logged with its cause and counted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::catalog::CatalogError;
use crate::engine::{DocError, Dropped, Engine, Held};
use regio_policy::DocHash;
use regio_store::{DocKind, StoreError};

/// Whether the store already holds this exact document.
fn known(engine: &Engine, kind: DocKind, doc: &Value) -> Result<bool, GossipError> {
    Ok(engine
        .store()
        .document(kind, &DocHash::of(doc).0)?
        .is_some())
}

/// One gossip message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Gossip {
    /// A signed Revocation.
    Revocation {
        /// The document.
        doc: Value,
    },
    /// A member's signed PolicyBundle (its new head).
    Policy {
        /// The document.
        doc: Value,
    },
    /// A signed RegionManifest version.
    Manifest {
        /// The document.
        doc: Value,
    },
    /// A signed EthicsCertificate.
    Certificate {
        /// The document.
        doc: Value,
    },
    /// A region's signed InclusionCharter (sent in answer to a sync, see [`super::sync`]).
    Charter {
        /// The document.
        doc: Value,
    },
    /// A member's catalog (datasets and initiatives), signed by the member.
    Catalog {
        /// The signed Catalog.
        doc: Value,
    },
    /// What the sender holds of the region's documents (see [`super::sync`]): not a
    /// document; a receiver whose own digest differs asks the sender for what it lacks.
    Digest {
        /// The region.
        region: String,
        /// SHA-256 (hex) over the sorted hashes of the documents held.
        summary: String,
        /// How many documents.
        count: usize,
    },
}

/// What applying a gossip message did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// A revocation stored (or already known).
    Revocation,
    /// A peer's policy noted; `true` when it proved equivocation.
    Policy(bool),
    /// A manifest version taken in (or already current).
    Manifest,
    /// A certificate stored (or already known).
    Certificate,
    /// A charter stored (or already known).
    Charter,
    /// A member's catalog: `true` when it was new.
    Catalog(bool),
    /// A digest: nothing to store (the sync task compares it).
    Digest,
}

/// Why a gossip message was not applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GossipError {
    /// Not a gossip message.
    #[error("gossip message: {0}")]
    Decode(String),
    /// The document was refused.
    #[error(transparent)]
    Doc(#[from] DocError),
    /// The document is not one a peer may make this node hold for the region (not
    /// verified, not stored).
    #[error(transparent)]
    Dropped(#[from] Dropped),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A member's catalog refused (it says why).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A catalog arrived at a node assembled without one.
    #[error("a catalog arrived but this node keeps none")]
    NoCatalog,
}

impl Gossip {
    /// The signed document a message carries (`None` for a digest).
    pub fn document(&self) -> Option<&Value> {
        match self {
            Gossip::Revocation { doc }
            | Gossip::Policy { doc }
            | Gossip::Manifest { doc }
            | Gossip::Certificate { doc }
            | Gossip::Charter { doc }
            | Gossip::Catalog { doc } => Some(doc),
            Gossip::Digest { .. } => None,
        }
    }

    /// What kind of held document a message carries (`None` for a digest).
    pub fn held(&self) -> Option<Held> {
        match self {
            Gossip::Revocation { .. } => Some(Held::Revocation),
            Gossip::Policy { .. } => Some(Held::Policy),
            Gossip::Manifest { .. } => Some(Held::Manifest),
            Gossip::Certificate { .. } => Some(Held::Certificate),
            Gossip::Charter { .. } => Some(Held::Charter),
            Gossip::Catalog { .. } => Some(Held::Catalog),
            Gossip::Digest { .. } => None,
        }
    }

    /// Decodes a message from the wire.
    pub fn from_bytes(bytes: &[u8]) -> Result<Gossip, GossipError> {
        serde_json::from_slice(bytes).map_err(|e| GossipError::Decode(e.to_string()))
    }

    /// Encodes for the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Cannot fail: strings, numbers and JSON values, all with string keys.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes and applies a message received from `region`'s topic.
    pub fn apply(
        engine: &Engine,
        region: &str,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Applied, GossipError> {
        Gossip::from_bytes(bytes)?.apply_to(engine, region, now)
    }

    /// Applies a decoded message received for `region` (on its topic, or in answer to a sync
    /// of it): a document must first be one a peer may make this node hold for that region
    /// ([`Engine::admit`]), then it is verified and stored (a document whose hash is already
    /// stored is not verified again); a digest changes nothing.
    pub fn apply_to(
        self,
        engine: &Engine,
        region: &str,
        now: DateTime<Utc>,
    ) -> Result<Applied, GossipError> {
        if let (Some(kind), Some(doc)) = (self.held(), self.document()) {
            engine.admit(region, kind, doc)?;
        }
        Ok(match self {
            // A sync or a second publisher may send what this node already holds: a document
            // whose hash is stored is not verified again (its signatures were checked then).
            Gossip::Revocation { doc } => {
                if !known(engine, DocKind::Revocation, &doc)? {
                    engine.put_revocation(doc, now)?;
                }
                Applied::Revocation
            }
            Gossip::Policy { doc } => {
                let own = doc.pointer("/municipality/did").and_then(Value::as_str)
                    == Some(engine.did().as_str());
                let seen = doc
                    .pointer("/municipality/did")
                    .and_then(Value::as_str)
                    .and_then(|d| {
                        engine
                            .peer_heads()
                            .into_iter()
                            .find(|(did, _)| did.as_str() == d)
                            .map(|(_, (_, hash))| hash)
                    });
                if own || seen == Some(DocHash::of(&doc)) {
                    Applied::Policy(false)
                } else {
                    Applied::Policy(engine.observe_peer_policy(doc, now)?.is_some())
                }
            }
            Gossip::Manifest { doc } => {
                if !known(engine, DocKind::Manifest, &doc)? {
                    engine.put_manifest(doc, now)?;
                }
                Applied::Manifest
            }
            Gossip::Certificate { doc } => {
                if !known(engine, DocKind::Certificate, &doc)? {
                    engine.put_certificate(doc, now)?;
                }
                Applied::Certificate
            }
            Gossip::Charter { doc } => {
                if !known(engine, DocKind::Charter, &doc)? {
                    engine.put_charter(doc, now)?;
                }
                Applied::Charter
            }
            Gossip::Catalog { doc } => {
                let catalogs = engine.catalogs().ok_or(GossipError::NoCatalog)?;
                match catalogs.receive(engine, doc) {
                    Ok(_) => Applied::Catalog(true),
                    // Sent again by a sync or a second publisher: nothing new.
                    Err(CatalogError::Stale { found, held, .. }) if found == held => {
                        Applied::Catalog(false)
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Gossip::Digest { .. } => Applied::Digest,
        })
    }
}
