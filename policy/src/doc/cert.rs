//! EthicsCertificate — a W3C verifiable credential from a certifier (ethics board) to an
//! application DID: what the application may do (purposes, datasets), its algorithm in
//! plain language with source location and hash (open, readable logic), and the
//! assessment. Fields follow the Dutch algorithm register and the Eurocities algorithmic
//! transparency standard. A [`Revocation`], signed by the same certifier, withdraws it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::did::Did;
use crate::signed::{DocHash, Document, Invalid, Signed};

/// The W3C VC 2.0 base context.
pub const VC_CONTEXT: &str = "https://www.w3.org/ns/credentials/v2";

/// The algorithm the application runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Algorithm {
    /// Name.
    pub name: String,
    /// What it does, in plain language (B1 level).
    pub description: String,
    /// Where its source can be read (URL).
    pub source: String,
    /// Hash of that source (`sha256:…`).
    pub hash: String,
}

/// The board's assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Assessment {
    /// Criteria assessed against (id of `charters/certification-criteria.json`).
    pub criteria: String,
    /// Level reached: `basic`, `standard` or `high-assurance`.
    pub level: String,
    /// Risk category: `minimal`, `limited` or `high`.
    pub risk_category: String,
    /// Where the assessment report is published (URL).
    pub report: String,
}

/// Algorithm-register fields (Dutch algoritmeregister / Eurocities standard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Register {
    /// Goal and impact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// Human intervention in decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human_intervention: Option<String>,
    /// Legal basis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// Impact assessments done (DPIA, IAMA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_assessment: Option<String>,
    /// Contact point for citizens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// The credential subject: the application and what it is certified for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertSubject {
    /// The application's DID (it signs its queries with this key).
    pub id: Did,
    /// Application name.
    pub name: String,
    /// Organisation responsible.
    pub organisation: String,
    /// Purposes it is certified for (each covers its narrower purposes).
    pub purposes: Vec<String>,
    /// Datasets it is certified for (`*` for any).
    pub datasets: Vec<String>,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// The assessment.
    pub assessment: Assessment,
    /// Algorithm-register fields.
    #[serde(default)]
    pub register: Register,
}

/// An ethics certificate (verifiable credential).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EthicsCertificate {
    /// Credential id (`urn:uuid:…`).
    pub id: String,
    /// The certifier's DID.
    pub issuer: Did,
    /// Start of validity.
    #[serde(with = "crate::time::ts")]
    pub valid_from: DateTime<Utc>,
    /// End of validity.
    #[serde(with = "crate::time::ts")]
    pub valid_until: DateTime<Utc>,
    /// The certified application.
    pub credential_subject: CertSubject,
}

const LEVELS: [&str; 3] = ["basic", "standard", "high-assurance"];
const RISKS: [&str; 3] = ["minimal", "limited", "high"];

impl Document for EthicsCertificate {
    const TYPE: &'static str = "EthicsCertificate";
    const SCHEMA_VERSION: u32 = 1;
    fn type_value() -> Value {
        serde_json::json!(["VerifiableCredential", "EthicsCertificate"])
    }
    fn context() -> Option<Value> {
        Some(serde_json::json!([VC_CONTEXT]))
    }
    fn validate(&self) -> Result<(), Invalid> {
        super::non_empty("id", &self.id)?;
        if self.valid_until <= self.valid_from {
            return Err(Invalid::new("validUntil", "must be after validFrom"));
        }
        let s = &self.credential_subject;
        super::non_empty("credentialSubject.name", &s.name)?;
        super::non_empty("credentialSubject.organisation", &s.organisation)?;
        if s.purposes.is_empty() {
            return Err(Invalid::new(
                "credentialSubject.purposes",
                "name at least one purpose",
            ));
        }
        super::check_purposes("credentialSubject.purposes", &s.purposes, false)?;
        if s.datasets.is_empty() {
            return Err(Invalid::new(
                "credentialSubject.datasets",
                "name at least one dataset, or \"*\"",
            ));
        }
        for (i, d) in s.datasets.iter().enumerate() {
            super::check_dataset(&format!("credentialSubject.datasets[{i}]"), d, true)?;
        }
        super::non_empty(
            "credentialSubject.algorithm.description",
            &s.algorithm.description,
        )?;
        super::non_empty("credentialSubject.algorithm.source", &s.algorithm.source)?;
        if s.algorithm.hash.parse::<DocHash>().is_err() {
            return Err(Invalid::new(
                "credentialSubject.algorithm.hash",
                "must be sha256:<64 hex digits>",
            ));
        }
        if !LEVELS.contains(&s.assessment.level.as_str()) {
            return Err(Invalid::new(
                "credentialSubject.assessment.level",
                "must be basic, standard or high-assurance",
            ));
        }
        if !RISKS.contains(&s.assessment.risk_category.as_str()) {
            return Err(Invalid::new(
                "credentialSubject.assessment.riskCategory",
                "must be minimal, limited or high",
            ));
        }
        Ok(())
    }
}

/// Checks that the certificate is signed by its issuer.
pub fn check_issuer(cert: &Signed<EthicsCertificate>) -> Result<(), Invalid> {
    cert.require_signer(&cert.doc().issuer, "issuer")
}

/// Checks that a revocation is signed by the issuer it names (whether that issuer issued
/// the certificate is checked by [`revokes`]).
pub fn check_revocation_signer(rev: &Signed<Revocation>) -> Result<(), Invalid> {
    rev.require_signer(&rev.doc().issuer, "issuer")
}

/// A certifier's withdrawal of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revocation {
    /// Hash of the signed certificate.
    pub certificate: DocHash,
    /// The certificate's id.
    pub certificate_id: String,
    /// The certifier (must be the certificate's issuer and the signer).
    pub issuer: Did,
    /// Why, in plain language.
    pub reason: String,
    /// From when.
    #[serde(with = "crate::time::ts")]
    pub revoked_at: DateTime<Utc>,
}

impl Document for Revocation {
    const TYPE: &'static str = "Revocation";
    const SCHEMA_VERSION: u32 = 1;
    fn validate(&self) -> Result<(), Invalid> {
        super::non_empty("certificateId", &self.certificate_id)?;
        super::non_empty("reason", &self.reason)
    }
}

/// Whether a revocation validly revokes `cert`: same hash, signed by the certificate's issuer.
pub fn revokes(rev: &Signed<Revocation>, cert: &Signed<EthicsCertificate>) -> bool {
    rev.doc().certificate == cert.hash()
        && rev.doc().issuer == cert.doc().issuer
        && rev.signed_by(&cert.doc().issuer)
}
