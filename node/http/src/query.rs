//! `POST /v1/query` (anyone: the query carries its own signature): a signed Query in; the
//! federated result out, with coverage, one provenance line per member and every signed
//! PartialAnswer. 200 when at least one member answered; 403 with `error` when none did; a
//! query that does not verify, or whose region this node is not in, is 403 with only the
//! [`crate::ErrorBody`].

use regio_policy::{Did, DocHash};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{Endpoint, ErrorDetail, Method, Route};

/// `POST /v1/query?deadline_ms=N` (anyone).
pub const QUERY: Route = Route::new(Method::Post, "/v1/query", false);

/// Largest deadline a request may ask for, milliseconds.
pub const MAX_DEADLINE_MS: u64 = 60_000;

/// Query-string parameters of `POST /v1/query`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueryParams {
    /// The deadline in milliseconds, 1 to 60000 (default: the node's `query_deadline_ms`).
    #[param(minimum = 1, maximum = 60000)]
    pub deadline_ms: Option<u64>,
}

impl Endpoint for QueryParams {
    const ROUTE: Route = QUERY;
    type Reply = QueryReply;
    fn target(&self) -> String {
        match self.deadline_ms {
            Some(ms) => format!("/v1/query?deadline_ms={ms}"),
            None => QUERY.path.to_string(),
        }
    }
}

/// The federated answer to a query (200), or the statement that no member answered (403,
/// with `error`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryReply {
    /// The query id.
    pub query: String,
    /// Hash of the signed query, `sha256:<64 hex digits>`.
    #[schema(value_type = String)]
    pub query_hash: DocHash,
    /// The region.
    pub region: String,
    /// Columns and rows, when at least one member answered.
    pub result: Option<ResultTable>,
    /// The same as CSV, when at least one member answered.
    pub csv: Option<String>,
    /// Members that answered, members in the region.
    #[schema(value_type = Vec<u64>, min_items = 2, max_items = 2)]
    pub coverage: (u64, u64),
    /// One line per member.
    pub provenance: Vec<Provenance>,
    /// Every signed PartialAnswer received (for auditors).
    #[schema(value_type = Vec<crate::documents::SignedDocument>)]
    pub answers: Vec<serde_json::Value>,
    /// Why no member answered (only with 403): the members' common reason code when every
    /// refusal agrees, else `query.no_answer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// The body of a 403 of `POST /v1/query`: the reply with `error` when no member answered,
/// or only the error when the query was refused before it was sent to any member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum QueryRefusal {
    /// No member answered: the whole reply, with `error`.
    NoAnswer(Box<QueryReply>),
    /// The query does not verify, or names a region this node is not in.
    Refused(crate::ErrorBody),
}

/// A result: named, typed columns and rows of plain JSON values (dates and timestamps as
/// strings, points as `{"lat", "lon"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResultTable {
    /// The columns.
    pub columns: Vec<ResultColumn>,
    /// The rows, one value per column.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Per row, per column: the 95 % interval `[lo, hi]` of a value released with noise
    /// (differential privacy), `null` for exact values; absent when every value is exact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<Vec<Option<[f64; 2]>>>,
}

/// One column of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResultColumn {
    /// Its name.
    pub name: String,
    /// Its type: `string`, `integer`, `float`, `timestamp`, `date` or `geo_point`.
    #[serde(rename = "type")]
    pub ty: String,
    /// How its values were released when not exactly (e.g. `laplace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<String>,
}

/// What happened at one member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// It answered.
    Answered,
    /// It refused, with its reason code: a signed refusal (its hash in
    /// [`Provenance::answer`]), or, with reason `node.error` and no signed answer, a member
    /// that failed to answer (its message names the cause).
    Refused {
        /// Reason code.
        reason: String,
        /// Its message.
        message: String,
    },
    /// No answer by the deadline.
    TimedOut,
    /// Not reachable.
    Unreachable {
        /// What the transport said.
        error: String,
    },
    /// It answered something that does not verify or does not fit.
    Invalid {
        /// What is wrong.
        error: String,
    },
}

/// One member's line of the provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// The member.
    #[schema(value_type = String)]
    pub member: Did,
    /// Its name in the manifest.
    pub name: String,
    /// Its NIS code.
    pub nis: String,
    /// What happened.
    #[serde(flatten)]
    pub status: Status,
    /// Policy version it applied (answered or refused).
    pub policy_version: Option<u64>,
    /// Rows it scanned.
    pub rows_scanned: u64,
    /// Personal rows it left out for lack of consent.
    pub rows_excluded_by_consent: u64,
    /// Groups it suppressed under the minimum size.
    pub groups_suppressed: u64,
    /// Hash of its signed PartialAnswer.
    #[schema(value_type = Option<String>)]
    pub answer: Option<DocHash>,
}
