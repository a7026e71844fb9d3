//! Taking in signed documents: each is verified, checked against what the engine already
//! holds, stored durably (with its audit entry), and only then made visible.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Engine;
use regio_policy::decision::access::{AccessError, Rules};
use regio_policy::doc::bundle::{self, PolicyBundle};
use regio_policy::doc::cert::{self, EthicsCertificate, Revocation};
use regio_policy::doc::charter::InclusionCharter;
use regio_policy::doc::consent::{self as consent_doc, ConsentRecord, Status};
use regio_policy::doc::manifest::{self, ManifestError, RegionManifest};
use regio_policy::signed::{Document, Invalid};
use regio_policy::{DocHash, DocumentError, Signed};
use regio_store::consent;
use regio_store::{DocKind, DocRecord, PolicyRecord, StoreError};

/// Why a document was not taken in. Nothing was stored when this is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocError {
    /// It does not verify or decode.
    #[error("{what}: {source}")]
    Document {
        /// Document type expected.
        what: &'static str,
        /// Why.
        source: DocumentError,
    },
    /// A proof's `expires` has passed.
    #[error("{what}: proof {index} expired at {expires}")]
    ProofExpired {
        /// Document type.
        what: &'static str,
        /// Index of the proof in the proof set.
        index: usize,
        /// When it expired (RFC 3339).
        expires: String,
    },
    /// Signed by the wrong party, or breaks a rule of its type.
    #[error("{what}: {source}")]
    Invalid {
        /// Document type.
        what: &'static str,
        /// Why.
        source: Invalid,
    },
    /// A policy bundle of another municipality.
    #[error("policy bundle: issued for {found}, this node is {expected}")]
    NotOurs {
        /// The bundle's municipality DID.
        found: String,
        /// This node's DID.
        expected: String,
    },
    /// Not the next version of the chain.
    #[error("policy bundle: {0}")]
    Chain(String),
    /// The access rules do not compile.
    #[error("policy bundle: {0}")]
    Rules(#[from] AccessError),
    /// A manifest version that does not take effect.
    #[error("region manifest: {0}")]
    Manifest(#[from] ManifestError),
    /// A personal dataset's policy and its stored schema disagree on the data subject.
    #[error("dataset `{dataset}`: {msg}")]
    Subject {
        /// The dataset.
        dataset: String,
        /// What disagrees, and what to fix.
        msg: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn verify<T: Document>(
    what: &'static str,
    value: Value,
    now: DateTime<Utc>,
) -> Result<Signed<T>, DocError> {
    let signed =
        Signed::<T>::verify(value).map_err(|source| DocError::Document { what, source })?;
    if let Some(p) = signed.proofs().iter().find(|p| p.expired(now)) {
        return Err(DocError::ProofExpired {
            what,
            index: p.index,
            expires: p
                .expires
                .map(|t| regio_policy::time::format(&t))
                .unwrap_or_default(),
        });
    }
    Ok(signed)
}

fn invalid(what: &'static str) -> impl Fn(Invalid) -> DocError {
    move |source| DocError::Invalid { what, source }
}

fn record(signed_hash: DocHash, raw: &Value, now: DateTime<Utc>) -> DocRecord {
    DocRecord {
        hash: signed_hash.0,
        raw: serde_json::to_vec(raw).unwrap_or_default(), // cannot fail: a JSON value
        stored_at: now.timestamp_micros(),
    }
}

impl Engine {
    /// Publishes the next version of this node's own policy (chain-checked).
    pub fn publish_policy(
        &self,
        value: Value,
        now: DateTime<Utc>,
    ) -> Result<Signed<PolicyBundle>, DocError> {
        let signed: Signed<PolicyBundle> = verify("policy bundle", value, now)?;
        bundle::check_signer(&signed).map_err(invalid("policy bundle"))?;
        let doc = signed.doc();
        if &doc.municipality.did != self.did() {
            return Err(DocError::NotOurs {
                found: doc.municipality.did.to_string(),
                expected: self.did().to_string(),
            });
        }
        let rules = Rules::compile(&doc.access)?;
        let mut state = self.write();
        match &state.policy {
            None if doc.version != 1 => {
                return Err(DocError::Chain(format!(
                    "the first version published must be 1, not {}",
                    doc.version
                )))
            }
            Some((head, _)) if doc.version != head.doc().version + 1 => {
                return Err(DocError::Chain(format!(
                    "version {} does not follow the head, version {}",
                    doc.version,
                    head.doc().version
                )))
            }
            Some((head, _)) if doc.previous != Some(head.hash()) => {
                return Err(DocError::Chain(format!(
                    "`previous` must be {}, the hash of version {}",
                    head.hash(),
                    head.doc().version
                )))
            }
            _ => {}
        }
        let schemas: Vec<_> = self
            .store
            .datasets()?
            .into_iter()
            .map(|d| d.schema)
            .collect();
        if let Some((dataset, msg)) = super::subjects::first_mismatch(doc, &schemas) {
            return Err(DocError::Subject { dataset, msg });
        }
        let raw = serde_json::to_vec(signed.raw()).unwrap_or_default(); // cannot fail: a JSON value
        self.store.publish_policy(
            PolicyRecord {
                version: doc.version,
                hash: signed.hash().0,
                raw,
            },
            now.timestamp_micros(),
        )?;
        state.policy = Some((signed.clone(), Arc::new(rules)));
        Ok(signed)
    }

    /// Takes note of another member's signed policy bundle (from gossip or a chain fetch).
    /// Returns the evidence when it and a bundle seen before are two different bundles of
    /// one issuer with one version; the evidence is also written to the audit log.
    pub fn observe_peer_policy(
        &self,
        value: Value,
        now: DateTime<Utc>,
    ) -> Result<Option<bundle::Equivocation>, DocError> {
        let signed: Signed<PolicyBundle> = verify("policy bundle", value, now)?;
        bundle::check_signer(&signed).map_err(invalid("policy bundle"))?;
        let doc = signed.doc();
        let issuer = doc.municipality.did.clone();
        let mut state = self.write();
        let head = state
            .peer_heads
            .entry(issuer.clone())
            .or_insert((doc.version, signed.hash()));
        if doc.version > head.0 {
            *head = (doc.version, signed.hash());
        }
        let key = (issuer, doc.version);
        let Some(seen) = state.peer_policies.get(&key) else {
            state.peer_policies.insert(key.clone(), signed);
            forget_old_versions(&mut state, &key.0, self.caps().policy_versions_per_member);
            return Ok(None);
        };
        let Some(evidence) = bundle::equivocation(seen, &signed) else {
            return Ok(None);
        };
        if state
            .equivocations
            .iter()
            .any(|e| e.issuer == evidence.issuer && e.version == evidence.version)
        {
            return Ok(Some(evidence));
        }
        self.store.audit(
            regio_store::audit::Kind::EquivocationDetected,
            now.timestamp_micros(),
            serde_json::json!({
                "issuer": evidence.issuer, "version": evidence.version,
                "a": evidence.a.raw(), "b": evidence.b.raw(),
            }),
        )?;
        state.equivocations.push(evidence.clone());
        Ok(Some(evidence))
    }

    /// Stores an ethics certificate (signed by its issuer).
    pub fn put_certificate(
        &self,
        value: Value,
        now: DateTime<Utc>,
    ) -> Result<Signed<EthicsCertificate>, DocError> {
        let signed: Signed<EthicsCertificate> = verify("ethics certificate", value, now)?;
        cert::check_issuer(&signed).map_err(invalid("ethics certificate"))?;
        let mut state = self.write();
        if let std::collections::hash_map::Entry::Vacant(slot) =
            state.certificates.entry(signed.hash())
        {
            self.store.put_document(
                DocKind::Certificate,
                record(signed.hash(), signed.raw(), now),
            )?;
            slot.insert(signed.clone());
        }
        Ok(signed)
    }

    /// Stores a revocation (signed by the issuer it names).
    pub fn put_revocation(
        &self,
        value: Value,
        now: DateTime<Utc>,
    ) -> Result<Signed<Revocation>, DocError> {
        let signed: Signed<Revocation> = verify("revocation", value, now)?;
        cert::check_revocation_signer(&signed).map_err(invalid("revocation"))?;
        let mut state = self.write();
        let list = state
            .revocations
            .entry(signed.doc().certificate)
            .or_default();
        if !list.iter().any(|r| r.hash() == signed.hash()) {
            self.store.put_document(
                DocKind::Revocation,
                record(signed.hash(), signed.raw(), now),
            )?;
            list.push(signed.clone());
        }
        Ok(signed)
    }

    /// Stores a signed inclusion charter (whether every member signed it is checked when a
    /// query needs it, against the region's current members).
    pub fn put_charter(
        &self,
        value: Value,
        now: DateTime<Utc>,
    ) -> Result<Signed<InclusionCharter>, DocError> {
        let signed: Signed<InclusionCharter> = verify("inclusion charter", value, now)?;
        let mut state = self.write();
        if let std::collections::hash_map::Entry::Vacant(slot) = state.charters.entry(signed.hash())
        {
            self.store
                .put_document(DocKind::Charter, record(signed.hash(), signed.raw(), now))?;
            slot.insert(signed.clone());
        }
        Ok(signed)
    }

    /// Takes in a region manifest version: founding (every founder signed) or the successor
    /// of the current one (threshold of current members signed). Anything else is refused.
    pub fn put_manifest(
        &self,
        value: Value,
        now: DateTime<Utc>,
    ) -> Result<Signed<RegionManifest>, DocError> {
        let signed: Signed<RegionManifest> = verify("region manifest", value, now)?;
        let mut state = self.write();
        let current = state.regions.get(&signed.doc().region);
        if current.is_some_and(|c| c.hash() == signed.hash()) {
            return Ok(signed);
        }
        manifest::accept(current, &signed)?;
        self.store
            .put_document(DocKind::Manifest, record(signed.hash(), signed.raw(), now))?;
        state
            .regions
            .insert(signed.doc().region.clone(), signed.clone());
        Ok(signed)
    }

    /// Records a signed consent record (given or withdrawn). It must name this node as
    /// controller and be signed by the subject's own key or by one of this node's clerks.
    pub fn record_consent(
        &self,
        value: Value,
        now: DateTime<Utc>,
    ) -> Result<Signed<ConsentRecord>, DocError> {
        let signed: Signed<ConsentRecord> = verify("consent record", value, now)?;
        consent_doc::check_signer(&signed).map_err(invalid("consent record"))?;
        let doc = signed.doc();
        if &doc.controller != self.did() {
            return Err(DocError::Invalid {
                what: "consent record",
                source: Invalid::new(
                    "controller",
                    format!("{} is not this node ({})", doc.controller, self.did()),
                ),
            });
        }
        let by_subject = doc
            .subject_did
            .as_ref()
            .is_some_and(|s| signed.signed_by(s));
        let by_clerk = doc
            .clerk
            .as_ref()
            .is_some_and(|c| signed.signed_by(c) && self.clerks.contains(c));
        if !by_subject && !by_clerk {
            return Err(DocError::Invalid {
                what: "consent record",
                source: Invalid::new("clerk", "signed by a clerk this node has not authorised (and not by the subject's own key)"),
            });
        }
        let entry = consent::Entry {
            id: doc.id.clone(),
            subject: doc.subject.clone(),
            datasets: if doc.datasets.iter().any(|d| d == "*") {
                Vec::new()
            } else {
                doc.datasets.clone()
            },
            purposes: doc.purposes.clone(),
            given: true,
            given_at: doc.given_at.timestamp_micros(),
            withdrawn_at: match doc.status {
                Status::Given => None,
                Status::Withdrawn => doc.withdrawn_at.map(|t| t.timestamp_micros()),
            },
            // Cannot fail: the channel is a unit enum that serialises to its name.
            channel: serde_json::to_value(doc.channel)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            raw: Some(serde_json::to_vec(signed.raw()).unwrap_or_default()), // cannot fail: a JSON value
        };
        self.store
            .put_consents(vec![entry], now.timestamp_micros())?;
        Ok(signed)
    }
}

/// Keeps at most `cap` versions of `issuer`'s policy bundles in memory (the newest, its head
/// always among them).
fn forget_old_versions(state: &mut super::State, issuer: &regio_policy::Did, cap: usize) {
    let mut versions: Vec<u64> = state
        .peer_policies
        .keys()
        .filter(|(d, _)| d == issuer)
        .map(|(_, v)| *v)
        .collect();
    if versions.len() <= cap.max(1) {
        return;
    }
    versions.sort_unstable();
    let excess = versions.len() - cap.max(1);
    for v in &versions[..excess] {
        state.peer_policies.remove(&(issuer.clone(), *v));
    }
    tracing::debug!(%issuer, forgotten = excess, "older policy versions of a member forgotten (cap `documents.policy_versions_per_member`)");
}

impl Engine {
    /// Creates a dataset, after checking its schema against this node's current policy (a
    /// personal dataset's subject field). Nothing is stored when this fails.
    pub fn create_dataset(&self, schema: &regio_query::schema::Schema) -> Result<(), DocError> {
        // Held while creating, so that a policy published meanwhile sees the dataset.
        let state = self.write();
        if let Some((policy, _)) = &state.policy {
            if let Some(d) = policy.doc().dataset(&schema.dataset) {
                if let Some(msg) = super::subjects::mismatch(d, schema) {
                    return Err(DocError::Subject {
                        dataset: schema.dataset.clone(),
                        msg,
                    });
                }
            }
        }
        self.store.create_dataset(schema)?;
        drop(state);
        Ok(())
    }
}
