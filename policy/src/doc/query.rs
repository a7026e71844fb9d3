//! Query — signed by the requesting application — and PartialAnswer — signed by each node
//! that answers (or refuses) it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::did::Did;
use crate::signed::{DocHash, Document, Invalid, Signed};

/// Largest SQL text accepted (bytes).
pub const MAX_SQL_BYTES: usize = 16 * 1024;
/// Longest `id` accepted (bytes); a `urn:uuid:…` is 45.
pub const MAX_ID_BYTES: usize = 128;
/// Longest `region` accepted (bytes).
pub const MAX_REGION_BYTES: usize = 128;
/// Longest `purpose` accepted (bytes); the longest DPV purpose name is under 64.
pub const MAX_PURPOSE_BYTES: usize = 128;
/// Longest `nonce` accepted (bytes).
pub const MAX_NONCE_BYTES: usize = 128;
/// Longest `traceparent` accepted (bytes); a W3C version-00 `traceparent` is 55.
pub const MAX_TRACEPARENT_BYTES: usize = 128;
/// Largest signed Query accepted, as compact JSON with its proofs (bytes): room for the
/// longest SQL text, escaped, and a few proofs. Whatever a node keeps of one query (its
/// audit entry, the signed refusal) is bounded by these limits.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

/// The length limit of every text field of a Query, by its JSON name.
pub const FIELD_LIMITS: [(&str, usize); 6] = [
    ("id", MAX_ID_BYTES),
    ("region", MAX_REGION_BYTES),
    ("purpose", MAX_PURPOSE_BYTES),
    ("sql", MAX_SQL_BYTES),
    ("nonce", MAX_NONCE_BYTES),
    ("traceparent", MAX_TRACEPARENT_BYTES),
];

/// Checks the length limits of a signed Query's JSON before anything else is done with it
/// (no signature check, no decoding): every text field of [`FIELD_LIMITS`] within its limit,
/// then the whole document (proofs and any other member included) at most
/// [`MAX_QUERY_BYTES`]. The error names the field (`query` for the whole) and the limit.
pub fn check_limits(value: &Value) -> Result<(), Invalid> {
    for (field, max) in FIELD_LIMITS {
        if let Some(text) = value.get(field).and_then(Value::as_str) {
            super::max_len(field, text, max)?;
        }
    }
    // Cannot fail: a JSON value always serialises.
    let size = serde_json::to_vec(value).map_or(0, |b| b.len());
    if size > MAX_QUERY_BYTES {
        return Err(Invalid::new(
            "query",
            format!("{size} bytes, the limit is {MAX_QUERY_BYTES}"),
        ));
    }
    Ok(())
}

/// `text` cut to at most `max` bytes (at a character boundary), `…` marking a cut: what a
/// node records of a field it could not accept.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

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
        let texts = [
            Some(&self.id),
            Some(&self.region),
            Some(&self.purpose),
            Some(&self.sql),
            Some(&self.nonce),
            self.traceparent.as_ref(),
        ];
        for ((field, max), text) in FIELD_LIMITS.into_iter().zip(texts) {
            if let Some(text) = text {
                super::max_len(field, text, max)?;
            }
        }
        super::non_empty("id", &self.id)?;
        super::non_empty("region", &self.region)?;
        super::check_purposes("purpose", std::slice::from_ref(&self.purpose), false)?;
        super::non_empty("sql", &self.sql)?;
        if self.expires <= self.issued {
            return Err(Invalid::new("expires", "must be after issued"));
        }
        if !(16..=MAX_NONCE_BYTES).contains(&self.nonce.len())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_the_field_and_the_limit() {
        let q = |field: &str, len: usize| serde_json::json!({ "id": "urn:uuid:1", field: "a".repeat(len) });
        for (field, max) in FIELD_LIMITS {
            assert_eq!(check_limits(&q(field, max)), Ok(()), "{field}");
            let e = check_limits(&q(field, max + 1)).unwrap_err();
            assert_eq!(
                (e.field.as_str(), e.reason),
                (field, format!("{} bytes, the limit is {max}", max + 1))
            );
        }
        let whole = serde_json::json!({ "proof": { "extra": "a".repeat(MAX_QUERY_BYTES) } });
        assert_eq!(check_limits(&whole).unwrap_err().field, "query");
    }

    #[test]
    fn clip_cuts_at_a_character_boundary() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcdef", 4), "a…");
        let cut = clip(&"é".repeat(100), 10);
        assert!(cut.len() <= 10 && cut.ends_with('…'), "{cut}");
    }
}
