//! Audit routes (owner: HTTP): read a range of the hash-chained log (admin) and verify the
//! whole chain (admin); export everything an auditor needs (admin, owner: audit). Requests and
//! replies: `regio_http::audit`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use regio_http::audit::{AuditPage, AuditParams as RangeParams, VerifyReply};
use regio_http::error::{AdminErrors, ServerErrors};
use regio_http::ErrorBody;

use super::auth::Admin;
use super::{blocking, ApiError, AppState, Reply};

pub use regio_http::audit::MAX_LIMIT;

/// `GET /v1/audit?from=SEQ&limit=N` (admin): `{"entries": […], "next": SEQ|null}`.
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    summary = "A range of the hash-chained audit log",
    security(("admin_token" = [])),
    params(regio_http::audit::AuditParams),
    responses(
        (status = 200, description = "The entries from `from`, at most `limit`", body = AuditPage),
        (status = 400, description = "`request.bad_query`", body = ErrorBody),
        AdminErrors, ServerErrors))]
pub async fn entries(
    State(s): State<AppState>,
    _: Admin,
    params: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Reply<AuditPage>, ApiError> {
    let Query(p) = params.map_err(ApiError::bad_query)?;
    if p.limit == 0 || p.limit > MAX_LIMIT {
        return Err(ApiError::bad_query(format!(
            "limit must be between 1 and {MAX_LIMIT}, found {}",
            p.limit
        )));
    }
    let store = s.store.clone();
    let from = p.from.max(1);
    let entries =
        blocking(move || Ok(store.audit_range(from, from.saturating_add(p.limit))?)).await?;
    let next = (entries.len() as u64 == p.limit).then(|| from + p.limit);
    let entries = entries
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    Ok(Reply(AuditPage { entries, next }))
}

/// `GET /v1/audit/verify` (admin: it reads the whole log into memory):
/// `{"ok": bool, "entries": N, "head": HASH|null, "error": …}`.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    summary = "Verify the whole audit chain (hashes and links)",
    security(("admin_token" = [])),
    responses((status = 200, description = "Whether it verifies", body = VerifyReply), AdminErrors, ServerErrors))]
pub async fn verify(State(s): State<AppState>, _: Admin) -> Result<Reply<VerifyReply>, ApiError> {
    let store = s.store.clone();
    let (entries, result) = blocking(move || {
        let all = store.audit_range(1, u64::MAX)?;
        let result = regio_store::audit::verify(&all, None);
        Ok((all, result))
    })
    .await?;
    let head = entries.last().map(|e| hex::encode(e.hash));
    Ok(Reply(VerifyReply {
        ok: result.is_ok(),
        entries: entries.len() as u64,
        head,
        error: result.err().map(|e| e.to_string()),
    }))
}

/// `GET /v1/audit/export` (admin): the whole [`crate::audit::export::Export`] of this node —
/// log, checkpoints (a fresh one covering the head), policy chain, peer heads, equivocation
/// evidence, certificates, revocations, charters, manifests, queries, dataset schemas.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit",
    summary = "Everything an auditor verifies offline, as one JSON document",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The export (`regio audit export|policies|log|answer|decide` verify it)", body = regio_http::audit::AuditExport),
        AdminErrors, ServerErrors))]
pub async fn export(
    State(s): State<AppState>,
    _: Admin,
) -> Result<Json<crate::audit::export::Export>, ApiError> {
    let engine = s.engine.clone();
    let config = s.config.clone();
    let export = blocking(move || {
        Ok(crate::audit::export::Export::build(
            &engine,
            &config.nis,
            &config.name,
            chrono::Utc::now(),
        )?)
    })
    .await?;
    Ok(Json(export))
}
