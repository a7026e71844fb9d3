//! The Regio document types the CLI recognises by their `type`, with their typed checks.

use regio_policy::doc::bundle::PolicyBundle;
use regio_policy::doc::catalog::{self, Catalog};
use regio_policy::doc::cert::{self, EthicsCertificate, Revocation};
use regio_policy::doc::charter::InclusionCharter;
use regio_policy::doc::consent::{self, ConsentRecord};
use regio_policy::doc::manifest::RegionManifest;
use regio_policy::doc::query::{PartialAnswer, Query};
use regio_policy::signed::{decode_body, Document};
use regio_policy::{DocumentError, Signed};
use serde_json::Value;

/// A Regio document type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    PolicyBundle,
    ConsentRecord,
    EthicsCertificate,
    Revocation,
    InclusionCharter,
    RegionManifest,
    Query,
    PartialAnswer,
    Catalog,
}

const ALL: [Known; 9] = [
    Known::PolicyBundle,
    Known::ConsentRecord,
    Known::EthicsCertificate,
    Known::Revocation,
    Known::InclusionCharter,
    Known::RegionManifest,
    Known::Query,
    Known::PartialAnswer,
    Known::Catalog,
];

/// Why a typed check failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TypedError {
    /// The document does not decode or breaks a rule of its type.
    #[error("{0}")]
    Document(DocumentError),
    /// The proofs verify, but not by whom the type requires.
    #[error("wrong signer: {0}")]
    Signer(String),
}

// Not `#[from]`: that would also make the document error this one's `source`, and
// `{:#}` would then print it twice.
impl From<DocumentError> for TypedError {
    fn from(e: DocumentError) -> Self {
        TypedError::Document(e)
    }
}

impl Known {
    /// The `type` name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Known::PolicyBundle => PolicyBundle::TYPE,
            Known::ConsentRecord => ConsentRecord::TYPE,
            Known::EthicsCertificate => EthicsCertificate::TYPE,
            Known::Revocation => Revocation::TYPE,
            Known::InclusionCharter => InclusionCharter::TYPE,
            Known::RegionManifest => RegionManifest::TYPE,
            Known::Query => Query::TYPE,
            Known::PartialAnswer => PartialAnswer::TYPE,
            Known::Catalog => Catalog::TYPE,
        }
    }

    /// The Regio type a document claims by its `type` (a string, or an array holding it).
    pub(crate) fn of(value: &Value) -> Option<Known> {
        let names: Vec<&str> = match value.get("type") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => return None,
        };
        ALL.into_iter().find(|k| names.contains(&k.name()))
    }

    /// Decodes and validates the document without looking at any proof (before signing).
    pub(crate) fn validate_unsigned(self, value: &Value) -> Result<(), DocumentError> {
        match self {
            Known::PolicyBundle => decode_body::<PolicyBundle>(value).map(drop),
            Known::ConsentRecord => decode_body::<ConsentRecord>(value).map(drop),
            Known::EthicsCertificate => decode_body::<EthicsCertificate>(value).map(drop),
            Known::Revocation => decode_body::<Revocation>(value).map(drop),
            Known::InclusionCharter => decode_body::<InclusionCharter>(value).map(drop),
            Known::RegionManifest => decode_body::<RegionManifest>(value).map(drop),
            Known::Query => decode_body::<Query>(value).map(drop),
            Known::PartialAnswer => decode_body::<PartialAnswer>(value).map(drop),
            Known::Catalog => decode_body::<Catalog>(value).map(drop),
        }
    }

    /// Verifies, decodes and validates the signed document, then checks who signed it.
    /// Returns a short description for the summary line.
    pub(crate) fn verify(self, value: &Value) -> Result<String, TypedError> {
        let v = value.clone();
        match self {
            Known::PolicyBundle => {
                let s = Signed::<PolicyBundle>::verify(v)?;
                let d = s.doc();
                if !s.signed_by(&d.municipality.did) {
                    return Err(TypedError::Signer(format!(
                        "signed by {}, not by the municipality {}",
                        s.signer(),
                        d.municipality.did
                    )));
                }
                Ok(format!(
                    "{} ({}) version {}",
                    d.municipality.name, d.municipality.nis, d.version
                ))
            }
            Known::ConsentRecord => {
                let s = Signed::<ConsentRecord>::verify(v)?;
                consent::check_signer(&s).map_err(|e| TypedError::Signer(e.reason))?;
                let d = s.doc();
                Ok(
                    format!("subject {} {:?} via {:?}", d.subject, d.status, d.channel)
                        .to_lowercase(),
                )
            }
            Known::EthicsCertificate => {
                let s = Signed::<EthicsCertificate>::verify(v)?;
                cert::check_issuer(&s).map_err(|e| TypedError::Signer(e.reason))?;
                let d = s.doc();
                Ok(format!(
                    "for {} ({}), valid {} to {}",
                    d.credential_subject.name,
                    d.credential_subject.id.short(),
                    regio_policy::time::format(&d.valid_from),
                    regio_policy::time::format(&d.valid_until)
                ))
            }
            Known::Revocation => {
                let s = Signed::<Revocation>::verify(v)?;
                let d = s.doc();
                if !s.signed_by(&d.issuer) {
                    return Err(TypedError::Signer(format!(
                        "signed by {}, not by the issuer {}",
                        s.signer(),
                        d.issuer
                    )));
                }
                Ok(format!("revokes {} ({})", d.certificate_id, d.certificate))
            }
            Known::InclusionCharter => {
                let s = Signed::<InclusionCharter>::verify(v)?;
                Ok(s.doc().id.clone())
            }
            Known::RegionManifest => {
                let s = Signed::<RegionManifest>::verify(v)?;
                let d = s.doc();
                let members = s
                    .signers()
                    .into_iter()
                    .filter(|did| d.member(did).is_some())
                    .count();
                Ok(format!(
                    "region {} version {}, signed by {members} of {} members (threshold {})",
                    d.region,
                    d.version,
                    d.members.len(),
                    d.threshold
                ))
            }
            Known::Query => {
                let s = Signed::<Query>::verify(v)?;
                let d = s.doc();
                Ok(format!("{} in region {} for {}", d.id, d.region, d.purpose))
            }
            Known::PartialAnswer => {
                let s = Signed::<PartialAnswer>::verify(v)?;
                let d = s.doc();
                if !s.signed_by(&d.node) {
                    return Err(TypedError::Signer(format!(
                        "signed by {}, not by the answering node {}",
                        s.signer(),
                        d.node
                    )));
                }
                Ok(format!("answer to {} by {}", d.query, d.node.short()))
            }
            Known::Catalog => {
                let s = Signed::<Catalog>::verify(v)?;
                catalog::check_signer(&s).map_err(|e| TypedError::Signer(e.reason))?;
                let d = s.doc();
                Ok(format!(
                    "catalog of {} ({}) version {}: {} datasets ({} described), {} initiatives",
                    d.municipality.name,
                    d.municipality.nis,
                    d.version,
                    d.facts.len(),
                    d.entries.datasets.len(),
                    d.entries.initiatives.len()
                ))
            }
        }
    }
}
