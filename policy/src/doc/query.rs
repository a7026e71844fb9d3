//! Query — signed by the requesting application — and PartialAnswer — signed by each node
//! that answers (or refuses) it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::did::Did;
use crate::signed::{DocHash, Document, Invalid, Signed};

/// Largest SQL text accepted (bytes).
pub const MAX_SQL_BYTES: usize = 16 * 1024;

/// A federated query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Query {
    /// Query id (`urn:uuid:…`).
    pub id: String,
    /// The region it runs in.
    pub region: String,
    /// The member node the application sends it to (its coordinator; quota is counted
    /// against this member).
    pub origin: Did,
    /// DPV purpose.
    pub purpose: String,
    /// The SQL text (Regio's read-only subset).
    pub sql: String,
    /// Hash of the ethics certificate the application relies on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<DocHash>,
    /// When issued.
    #[serde(with = "crate::time::ts")]
    pub issued: DateTime<Utc>,
    /// After this, no node answers it.
    #[serde(with = "crate::time::ts")]
    pub expires: DateTime<Utc>,
    /// Random, unique per query (replay protection).
    pub nonce: String,
    /// W3C trace context `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Document for Query {
    const TYPE: &'static str = "Query";
    const SCHEMA_VERSION: u32 = 1;
    fn validate(&self) -> Result<(), Invalid> {
        super::non_empty("id", &self.id)?;
        super::non_empty("region", &self.region)?;
        super::check_purposes("purpose", std::slice::from_ref(&self.purpose), false)?;
        super::non_empty("sql", &self.sql)?;
        if self.sql.len() > MAX_SQL_BYTES {
            return Err(Invalid::new(
                "sql",
                format!("{} bytes, the limit is {MAX_SQL_BYTES}", self.sql.len()),
            ));
        }
        if self.expires <= self.issued {
            return Err(Invalid::new("expires", "must be after issued"));
        }
        if !(16..=128).contains(&self.nonce.len())
            || !self
                .nonce
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Invalid::new(
                "nonce",
                "16 to 128 characters of [A-Za-z0-9_-]",
            ));
        }
        Ok(())
    }
}

/// What a node did with a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// It answered.
    Answered {
        /// Rows read.
        #[serde(rename = "rowsScanned")]
        rows_scanned: u64,
        /// Personal rows left out for lack of consent.
        #[serde(rename = "rowsExcludedByConsent")]
        rows_excluded_by_consent: u64,
        /// Groups below the minimum size, suppressed before leaving the node.
        #[serde(rename = "groupsSuppressed")]
        groups_suppressed: u64,
        /// How the node released what it answered (absent for non-personal datasets).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disclosure: Option<Release>,
        /// The partial result (the node's query engine encoding of mergeable states).
        result: Value,
    },
    /// It refused.
    Refused {
        /// Stable reason code (see `decision::Reason`).
        reason: String,
        /// Human explanation.
        message: String,
    },
}

/// How a node released its answer to a query over a personal dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Release {
    /// `differentialPrivacy` or `exact`.
    pub mode: String,
    /// What the mode guarantees, in plain words.
    pub note: String,
    /// Epsilon this answer cost (differential privacy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_spent: Option<f64>,
    /// Epsilon the application has left in this region at this node in the current window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_left: Option<f64>,
    /// The budget window in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<u64>,
    /// `rowsExcludedByConsent` and `groupsSuppressed` are withheld (reported as 0) and
    /// `rowsScanned` is rounded down to a multiple of 1,000: exact counters would give away
    /// one citizen's consent or rows by differencing. The node's audit log keeps them exact.
    pub counters_withheld: bool,
}

/// A node's signed answer to one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartialAnswer {
    /// The query's id.
    pub query: String,
    /// Hash of the signed query.
    pub query_hash: DocHash,
    /// The region.
    pub region: String,
    /// The answering node.
    pub node: Did,
    /// Policy version applied.
    pub policy_version: u64,
    /// Hash of that policy bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<DocHash>,
    /// When answered.
    #[serde(with = "crate::time::ts")]
    pub answered_at: DateTime<Utc>,
    /// Answer or refusal.
    pub outcome: Outcome,
}

impl Document for PartialAnswer {
    const TYPE: &'static str = "PartialAnswer";
    const SCHEMA_VERSION: u32 = 2;
    const MIGRATION: &'static str = "schemaVersion 2 answers carry `outcome.disclosure` and may hold noisy states; ask the member to upgrade Regio and answer again";
    fn validate(&self) -> Result<(), Invalid> {
        super::non_empty("query", &self.query)?;
        if let Outcome::Refused { reason, .. } = &self.outcome {
            super::non_empty("outcome.reason", reason)?;
        }
        Ok(())
    }
}

/// Checks that a partial answer is signed by the node it names.
pub fn check_answer_signer(answer: &Signed<PartialAnswer>) -> Result<(), Invalid> {
    answer.require_signer(&answer.doc().node, "node")
}
