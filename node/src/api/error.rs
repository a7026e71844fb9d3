//! [`ApiError`]: every error the HTTP API returns, as
//! `{"error": {"code": "…", "message": "…", "details": …}}` (`regio_http::ErrorBody`) with a stable `code` and the
//! matching HTTP status (owner: HTTP). Engine errors map into it the same way: add a
//! `From` impl beside the others.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use regio_http::datasets::RejectedLine;
use regio_http::ErrorBody;

use regio_store::ingest::{IngestError, LineError};
use regio_store::StoreError;

/// An API error: status, stable code, human message, optional structured details.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`auth.missing_token`, `dataset.unknown`, …).
    pub code: &'static str,
    /// What went wrong and what to do next.
    pub message: String,
    /// Structured details (e.g. the rejected line).
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    /// An error without details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// `400 request.bad_query`: a query-string parameter is invalid.
    pub fn bad_query(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request.bad_query",
            format!("invalid query parameters: {message}"),
        )
    }

    /// `400 request.bad_json`: the body is not the JSON expected.
    pub fn bad_json(what: &str, e: &serde_json::Error) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request.bad_json",
            format!("the body is not a valid {what}: {e}"),
        )
        .with_details(serde_json::json!({ "line": e.line(), "column": e.column() }))
    }

    /// `500 internal`: a bug or a failed background task.
    pub fn internal(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            message.to_string(),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Through a `Value`: keys sorted, as this body has always been written.
        let body = ErrorBody::new(self.code, self.message, self.details);
        let value = serde_json::to_value(body).unwrap_or_default();
        (self.status, Json(value)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::DatasetExists(ref d) => {
                ApiError::new(StatusCode::CONFLICT, "dataset.exists", format!("{e}; choose another name or ingest into it"))
                    .with_details(serde_json::json!({ "dataset": d }))
            }
            StoreError::NoSuchDataset(ref d) => ApiError::new(
                StatusCode::NOT_FOUND,
                "dataset.unknown",
                format!("{e}; create it first (`regio dataset create`) or list them (`regio dataset list`)"),
            )
            .with_details(serde_json::json!({ "dataset": d })),
            StoreError::InvalidSchema(_) => ApiError::new(StatusCode::BAD_REQUEST, "dataset.invalid_schema", e.to_string()),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store.failed", format!("storage failed, nothing was changed: {other}")),
        }
    }
}

/// The reply form of a rejected line.
pub fn rejected_line(e: &LineError) -> RejectedLine {
    RejectedLine {
        line: e.line,
        field: e.field.clone(),
        expected: e.expected.clone(),
        found: e.found.clone(),
        message: e.to_string(),
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> ApiError {
        match e {
            IngestError::Invalid(ref l) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "ingest.invalid_line",
                format!("{l}; nothing was stored (fix the line, or send with skip_invalid=true to store the valid lines)"),
            )
            .with_details(serde_json::to_value(rejected_line(l)).unwrap_or_default()),
            other => ApiError::new(StatusCode::BAD_REQUEST, "ingest.invalid_batch", format!("{other}; nothing was stored")),
        }
    }
}
