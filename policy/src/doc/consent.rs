//! ConsentRecord — after ISO/IEC 27560 (consent record information structure) and the
//! Kantara consent receipt: one subject's consent to purposes on a controller's datasets.
//! Signed by the subject's key where the subject has one, otherwise by the clerk who
//! registered it (desk, paper, phone): consent must be possible without a smartphone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::did::Did;
use crate::signed::{Document, Invalid, Signed};

/// How the consent was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A mobile application.
    App,
    /// A web form.
    Web,
    /// A kiosk in a public building.
    Kiosk,
    /// In person at a municipal desk, registered by a clerk.
    Desk,
    /// A paper form, registered by a clerk.
    Paper,
    /// By telephone, registered by a clerk.
    Phone,
    /// Imported in bulk from an earlier register.
    Import,
}

impl Channel {
    /// Whether a clerk registers consent given through this channel.
    pub fn needs_clerk(self) -> bool {
        matches!(self, Channel::Desk | Channel::Paper | Channel::Phone)
    }
}

/// Given or withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Consent is given (from `givenAt`).
    Given,
    /// Consent was withdrawn (at `withdrawnAt`).
    Withdrawn,
}

/// A consent record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentRecord {
    /// Record id (stable across given → withdrawn; the withdrawn version replaces the given one).
    pub id: String,
    /// The data subject's pseudonym, as it appears in the datasets' subject field.
    pub subject: String,
    /// The subject's own key, when the subject has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_did: Option<Did>,
    /// The controller: the municipality's DID.
    pub controller: Did,
    /// Datasets covered; `["*"]` for every dataset of the controller.
    pub datasets: Vec<String>,
    /// DPV purposes consented to (each covers its narrower purposes).
    pub purposes: Vec<String>,
    /// Given or withdrawn.
    pub status: Status,
    /// When consent was given.
    #[serde(with = "crate::time::ts")]
    pub given_at: DateTime<Utc>,
    /// When it was withdrawn.
    #[serde(
        default,
        with = "crate::time::ts_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Channel through which it was given or withdrawn.
    pub channel: Channel,
    /// The clerk who registered it (required for desk, paper and phone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clerk: Option<Did>,
    /// Reference (URL or id) of the notice the subject was shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Language of the notice (BCP 47).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl Document for ConsentRecord {
    const TYPE: &'static str = "ConsentRecord";
    const SCHEMA_VERSION: u32 = 1;

    fn validate(&self) -> Result<(), Invalid> {
        super::non_empty("id", &self.id)?;
        super::non_empty("subject", &self.subject)?;
        if self.datasets.is_empty() {
            return Err(Invalid::new(
                "datasets",
                "name at least one dataset, or \"*\"",
            ));
        }
        for (i, d) in self.datasets.iter().enumerate() {
            super::check_dataset(&format!("datasets[{i}]"), d, true)?;
        }
        if self.purposes.is_empty() {
            return Err(Invalid::new("purposes", "name at least one purpose"));
        }
        super::check_purposes("purposes", &self.purposes, false)?;
        match (self.status, self.withdrawn_at) {
            (Status::Given, Some(_)) => {
                return Err(Invalid::new("withdrawnAt", "set, but status is given"))
            }
            (Status::Withdrawn, None) => {
                return Err(Invalid::new(
                    "withdrawnAt",
                    "missing, but status is withdrawn",
                ))
            }
            (Status::Withdrawn, Some(w)) if w < self.given_at => {
                return Err(Invalid::new("withdrawnAt", "earlier than givenAt"))
            }
            _ => {}
        }
        if self.channel.needs_clerk() && self.clerk.is_none() {
            return Err(Invalid::new(
                "clerk",
                format!("required for channel {:?}", self.channel).to_lowercase(),
            ));
        }
        Ok(())
    }
}

impl ConsentRecord {
    /// Whether this record, at `now`, consents to a use for a purpose on `dataset`, given
    /// the purposes that cover that use (see `Vocabulary::covering`).
    pub fn allows(&self, dataset: &str, covering: &[String], now: DateTime<Utc>) -> bool {
        self.datasets.iter().any(|d| d == "*" || d == dataset)
            && self.purposes.iter().any(|p| covering.contains(p))
            && self.given_at <= now
            && self.withdrawn_at.is_none_or(|w| w > now)
    }
}

/// Checks that a signed consent record was signed by its subject or its registering clerk.
pub fn check_signer(record: &Signed<ConsentRecord>) -> Result<(), Invalid> {
    let doc = record.doc();
    let ok = record
        .signers()
        .into_iter()
        .any(|s| Some(s) == doc.subject_did.as_ref() || Some(s) == doc.clerk.as_ref());
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            "proof",
            format!(
                "signed by {}, who is neither the subject's key nor the registering clerk",
                record.signer()
            ),
        ))
    }
}
