//! Audit routes (owner: HTTP): read a range of the hash-chained log (admin) and verify the
//! whole chain; export everything an auditor needs (admin, owner: audit).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use super::auth::Admin;
use super::{blocking, ApiError, AppState};

/// Most entries one request returns.
pub const MAX_LIMIT: u64 = 10_000;

/// Query parameters of `GET /v1/audit`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    /// First sequence number (default 1).
    #[serde(default = "one")]
    pub from: u64,
    /// How many entries (default 1000, at most 10000).
    #[serde(default = "thousand")]
    pub limit: u64,
}

fn one() -> u64 {
    1
}
fn thousand() -> u64 {
    1000
}

/// `GET /v1/audit?from=SEQ&limit=N` (admin): `{"entries": […], "next": SEQ|null}`.
pub async fn entries(
    State(s): State<AppState>,
    _: Admin,
    params: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    Ok(Json(
        serde_json::json!({ "entries": entries, "next": next }),
    ))
}

/// `GET /v1/audit/verify`: `{"ok": bool, "entries": N, "head": HASH|null, "error": …}`.
pub async fn verify(State(s): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let store = s.store.clone();
    let (entries, result) = blocking(move || {
        let all = store.audit_range(1, u64::MAX)?;
        let result = regio_store::audit::verify(&all, None);
        Ok((all, result))
    })
    .await?;
    let head = entries.last().map(|e| hex::encode(e.hash));
    Ok(Json(serde_json::json!({
        "ok": result.is_ok(),
        "entries": entries.len(),
        "head": head,
        "error": result.err().map(|e| e.to_string()),
    })))
}

/// The audit routes added by the auditor's work (export), merged into [`super::router`].
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/v1/audit/export", axum::routing::get(export))
}

/// `GET /v1/audit/export` (admin): the whole [`crate::audit::export::Export`] of this node —
/// log, checkpoints (a fresh one covering the head), policy chain, peer heads, equivocation
/// evidence, certificates, revocations, charters, manifests, queries, dataset schemas.
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
