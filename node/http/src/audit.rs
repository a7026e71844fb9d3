//! The audit log: a range of entries (admin), verification of the whole hash chain
//! (anyone), and the export an auditor verifies offline (admin).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{Endpoint, Method, Route};

/// `GET /v1/audit?from=SEQ&limit=N` (admin).
pub const ENTRIES: Route = Route::new(Method::Get, "/v1/audit", true);
/// `GET /v1/audit/verify` (admin: it reads the whole log).
pub const VERIFY: Route = Route::new(Method::Get, "/v1/audit/verify", true);
/// `GET /v1/audit/export` (admin).
pub const EXPORT: Route = Route::new(Method::Get, "/v1/audit/export", true);

/// Most entries one request returns.
pub const MAX_LIMIT: u64 = 10_000;

fn one() -> u64 {
    1
}
fn thousand() -> u64 {
    1000
}

/// Query parameters of `GET /v1/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// First sequence number (default 1; 0 reads as 1).
    #[serde(default = "one")]
    #[param(default = 1)]
    pub from: u64,
    /// How many entries (default 1000, 1 to 10000).
    #[serde(default = "thousand")]
    #[param(default = 1000, minimum = 1, maximum = 10000)]
    pub limit: u64,
}

impl Default for AuditParams {
    fn default() -> AuditParams {
        AuditParams {
            from: one(),
            limit: thousand(),
        }
    }
}

impl Endpoint for AuditParams {
    const ROUTE: Route = ENTRIES;
    type Reply = AuditPage;
    fn target(&self) -> String {
        format!("/v1/audit?from={}&limit={}", self.from, self.limit)
    }
}

/// A range of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// The entries, in sequence order (the node's `regio_node::audit::Entry`).
    #[schema(value_type = Vec<AuditEntry>)]
    pub entries: Vec<serde_json::Value>,
    /// The `from` of the next page; `null` when this page is the last.
    pub next: Option<u64>,
}

/// One entry of the hash-chained audit log, as JSON (documentation of
/// `regio_node::audit::Entry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When it was appended, microseconds since the Unix epoch, UTC.
    pub at: i64,
    /// What it records: `query_answered`, `query_refused`, `policy_published`,
    /// `consent_changed`, `certificate_stored`, `revocation_stored`, …
    pub kind: String,
    /// Details (query id, reason code, policy version, consent ids …).
    pub body: serde_json::Value,
    /// Hash of the previous entry, 64 hexadecimal digits.
    pub prev: String,
    /// Hash of this entry, 64 hexadecimal digits.
    pub hash: String,
}

/// The request `GET /v1/audit/verify`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Verify;

impl Endpoint for Verify {
    const ROUTE: Route = VERIFY;
    type Reply = VerifyReply;
}

/// Whether the whole audit chain verifies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifyReply {
    /// Every entry's hash and link verify.
    pub ok: bool,
    /// Entries in the log.
    pub entries: u64,
    /// Hash of the last entry (hex), `null` for an empty log.
    pub head: Option<String>,
    /// What does not verify, `null` when `ok`.
    pub error: Option<String>,
}

/// The request `GET /v1/audit/export`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Export;

impl Endpoint for Export {
    const ROUTE: Route = EXPORT;
    /// The node's `regio_node::audit::export::Export` (read it as that type).
    type Reply = serde_json::Value;
}

/// Everything an auditor checks offline, as one JSON document (the node's
/// `regio_node::audit::export::Export`, versioned by its `format` field): the log,
/// checkpoints (a fresh one covering the head), the policy chain, peer heads, equivocation
/// evidence, certificates, revocations, charters, manifests, queries, dataset schemas and
/// the quota and privacy-budget ledger.
/// `regio audit export|policies|log|answer|decide` verify it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditExport(pub serde_json::Map<String, serde_json::Value>);
