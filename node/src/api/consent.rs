//! Consent import (owner: HTTP): the data generator's consent files
//! (`subject,purpose,granted,given_at,withdrawn_at`, CSV or NDJSON), stored in one durable
//! write with one audit entry. Signed single consent records are the engine's
//! (`POST /v1/consent`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use regio_http::datasets::{
    ConsentFormat, ConsentImportParams as ImportParams, ConsentImportReply as ImportReply,
    RejectedLine,
};
use regio_http::error::{AdminErrors, BodyErrors, ServerErrors};
use regio_http::ErrorBody;

use super::auth::Admin;
use super::error::rejected_line;
use super::{blocking, now_micros, ApiError, AppState, RawBody};
use regio_store::ingest::{self, Mode};

/// `POST /v1/consent/import` (admin).
#[utoipa::path(post, path = "/v1/consent/import", tag = "datasets",
    summary = "Import a consent file (`subject,purpose,granted,given_at,withdrawn_at`)",
    description = "One durable write with one audit entry. All-or-nothing unless `skip_invalid=true`.",
    security(("admin_token" = [])),
    params(regio_http::datasets::ConsentImportParams),
    request_body(description = "The file, in the `format` given", content(
        (inline(regio_http::datasets::FileBody) = "application/x-ndjson"), (inline(regio_http::datasets::FileBody) = "text/csv"))),
    responses(
        (status = 200, description = "What was imported, and every rejected line", body = regio_http::datasets::ConsentImportReply),
        (status = 400, description = "`request.bad_query`, `ingest.invalid_line` (details: the line) or `ingest.invalid_batch`; nothing was stored", body = ErrorBody),
        AdminErrors, BodyErrors, ServerErrors))]
pub async fn import(
    State(s): State<AppState>,
    _: Admin,
    params: Result<Query<ImportParams>, QueryRejection>,
    RawBody(body): RawBody,
) -> Result<Json<ImportReply>, ApiError> {
    let Query(p) = params.map_err(ApiError::bad_query)?;
    let mode = if p.skip_invalid {
        Mode::SkipInvalid
    } else {
        Mode::AllOrNothing
    };
    let (store, metrics) = (s.store.clone(), s.metrics.clone());
    let reply = blocking(move || {
        let parsed = match p.format {
            ConsentFormat::Csv => ingest::parse_consent_csv(&body, mode),
            ConsentFormat::Ndjson => ingest::parse_consent_ndjson(&body, mode),
        }?;
        let rejected: Vec<RejectedLine> = parsed.rejected.iter().map(rejected_line).collect();
        let imported = parsed.rows.len() as u64;
        let audit_seq = if parsed.rows.is_empty() {
            None
        } else {
            Some(store.put_consents(parsed.rows, now_micros())?.seq)
        };
        metrics.consent_imported.inc_by(imported);
        Ok(ImportReply {
            imported,
            audit_seq,
            rejected,
        })
    })
    .await?;
    Ok(Json(reply))
}
