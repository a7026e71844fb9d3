//! Consent import (owner: HTTP): the data generator's consent files
//! (`subject,purpose,granted,given_at,withdrawn_at`, CSV or NDJSON), stored in one durable
//! write with one audit entry. Signed single consent records are the engine's
//! (`POST /v1/consent`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Admin;
use super::error::line_json;
use super::{blocking, now_micros, ApiError, AppState, RawBody};
use regio_store::ingest::{self, Mode};

/// Consent file formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentFormat {
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    #[default]
    Ndjson,
}

/// Query parameters of an import.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// Body format (default NDJSON).
    #[serde(default)]
    pub format: ConsentFormat,
    /// Import the valid lines and report the rejected ones (default false).
    #[serde(default)]
    pub skip_invalid: bool,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportReply {
    /// Consent entries stored (durably).
    pub imported: u64,
    /// Sequence number of the audit entry recording the import (none when nothing was imported).
    pub audit_seq: Option<u64>,
    /// Every rejected line (only with `skip_invalid`).
    pub rejected: Vec<serde_json::Value>,
}

/// `POST /v1/consent/import` (admin).
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
        let rejected: Vec<serde_json::Value> = parsed.rejected.iter().map(line_json).collect();
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
