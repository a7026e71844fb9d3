//! Read-only lookups of stored certificates and revocations by document hash (owner: bench).
//! Cheap enough to poll: the 50-node revocation benchmark
//! (`integration-tests/src/bin/revocation-bench.rs`) asks every node, many times a second,
//! whether a revocation has arrived. The engine stores a document and enters it into its
//! in-memory state under one lock, so "stored here" means "refused here".
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/certificates/{hash}` | 200 `{"hash", "storedAt", "document"}`, 404 `document.unknown` |
//! | `GET /v1/revocations/{hash}` | the same for a revocation |
//!
//! `{hash}` is `sha256:<64 hex digits>` (the `hash` a `POST` answered); anything else is
//! 400 `request.bad_hash`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use regio_http::documents::StoredDocument;
use regio_http::error::ServerErrors;
use regio_http::ErrorBody;

use super::{blocking, ApiError, AppState, Reply};
use regio_policy::DocHash;
use regio_store::DocKind;

/// `GET /v1/certificates/{hash}`.
#[utoipa::path(get, path = "/v1/certificates/{hash}", tag = "documents",
    summary = "A stored ethics certificate by its hash",
    params(("hash" = String, Path, description = "`sha256:<64 hex digits>`", pattern = "^sha256:[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "Stored here", body = StoredDocument),
        (status = 400, description = "`request.bad_hash`", body = ErrorBody),
        (status = 404, description = "`document.unknown`: not at this node", body = ErrorBody),
        ServerErrors))]
pub async fn certificate(
    State(s): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Reply<StoredDocument>, ApiError> {
    lookup(s, DocKind::Certificate, &hash).await
}

/// `GET /v1/revocations/{hash}`.
#[utoipa::path(get, path = "/v1/revocations/{hash}", tag = "documents",
    summary = "A stored revocation by its hash",
    params(("hash" = String, Path, description = "`sha256:<64 hex digits>`", pattern = "^sha256:[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "Stored here", body = StoredDocument),
        (status = 400, description = "`request.bad_hash`", body = ErrorBody),
        (status = 404, description = "`document.unknown`: not at this node", body = ErrorBody),
        ServerErrors))]
pub async fn revocation(
    State(s): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Reply<StoredDocument>, ApiError> {
    lookup(s, DocKind::Revocation, &hash).await
}

async fn lookup(s: AppState, kind: DocKind, hash: &str) -> Result<Reply<StoredDocument>, ApiError> {
    let h: DocHash = hash
        .parse()
        .map_err(|e: String| ApiError::new(StatusCode::BAD_REQUEST, "request.bad_hash", e))?;
    let store = s.store.clone();
    let record = blocking(move || Ok(store.document(kind, &h.0)?)).await?;
    let Some(r) = record else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "document.unknown",
            format!("no {kind:?} {h} at this node"),
        ));
    };
    let document = serde_json::from_slice(&r.raw).map_err(ApiError::internal)?;
    Ok(Reply(StoredDocument {
        hash: h.to_string(),
        stored_at: r.stored_at,
        document,
    }))
}
