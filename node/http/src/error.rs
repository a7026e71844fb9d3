//! The error body of every route: `{"error": {"code", "message", "details"?}}` with a stable
//! `code` (`auth.missing_token`, `dataset.unknown`, `request.bad_query`, …) and the HTTP
//! status that goes with it. The node builds it from its `ApiError`; the client reads it
//! into its refusal (exit 1) and picks the next step by `code`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoResponses, ToSchema};

/// The JSON body of an error answer. Nothing beside `error` (so that, in the OpenAPI
/// document, a query's 403 reply — which also carries `error` — is told apart from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"error": {"code": "dataset.unknown", "message": "no dataset `readings`; create it first (`regio dataset create`) or list them (`regio dataset list`)", "details": {"dataset": "readings"}}}))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong: a stable code, a message for people, structured details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `auth.missing_token`, `auth.bad_token`,
    /// `request.bad_query`, `request.bad_json`, `request.bad_body`, `request.too_large`,
    /// `request.timeout`, `request.rate_limited`, `query.too_long`, `request.bad_hash`, `route.unknown`, `dataset.unknown`, `dataset.exists`,
    /// `dataset.invalid_schema`, `dataset.subject_mismatch`, `ingest.invalid_line`,
    /// `ingest.invalid_batch`, `document.invalid`, `document.unknown`, `policy.chain`,
    /// `policy.missing`, `policy.subject_mismatch`,
    /// `manifest.refused`, `region.unknown`, `net.unavailable`, `store.failed`, `internal`, or
    /// a query refusal's reason code (`regio reasons` lists them).
    pub code: String,
    /// What went wrong and what to do next.
    pub message: String,
    /// Structured details (e.g. the rejected line, the dataset); absent when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl ErrorBody {
    /// An error body.
    pub fn new(
        code: impl Into<String>,
        message: impl Into<String>,
        details: Option<serde_json::Value>,
    ) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                details,
            },
        }
    }
}

/// The error answers of an admin route (for the OpenAPI document).
#[derive(Debug, Clone, IntoResponses)]
pub enum AdminErrors {
    /// No token, or not this node's.
    #[response(
        status = 401,
        description = "`auth.missing_token` or `auth.bad_token`: send `Authorization: Bearer <token>` with the node directory's admin.token"
    )]
    Unauthorized(ErrorBody),
}

/// The error answers of a route that reads a request body (for the OpenAPI document).
#[derive(Debug, Clone, IntoResponses)]
pub enum BodyErrors {
    /// The body is larger than the node's `max_body_bytes`.
    #[response(
        status = 413,
        description = "`request.too_large`: send smaller batches or raise max_body_bytes"
    )]
    TooLarge(ErrorBody),
}

/// The error answers every route may give (for the OpenAPI document).
#[derive(Debug, Clone, IntoResponses)]
pub enum ServerErrors {
    /// The store failed (nothing was changed), or a bug.
    #[response(
        status = 500,
        description = "`store.failed` (nothing was changed) or `internal`"
    )]
    Internal(ErrorBody),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_absent_when_none() {
        let body = ErrorBody::new("internal", "boom", None);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"error": {"code": "internal", "message": "boom"}})
        );
    }
}
