//! Dataset routes (owner: HTTP): list, create, and ingest records. Ingest parses the body
//! with the dataset's schema (`regio_store::ingest`), then stores all valid rows in one atomic,
//! durable append: all-or-nothing unless `skip_invalid=true`, which stores the valid rows
//! and reports every rejected line.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Admin;
use super::error::line_json;
use super::{blocking, ApiError, AppState, RawBody};
use regio_query::schema::Schema;
use regio_store::ingest::{self, Mode};

/// A dataset as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetJson {
    /// Its schema.
    pub schema: Schema,
    /// Records stored.
    pub records: u64,
    /// Chunks they are stored in.
    pub chunks: u64,
}

/// `GET /v1/datasets`.
pub async fn list(State(s): State<AppState>) -> Result<Json<Vec<DatasetJson>>, ApiError> {
    let store = s.store.clone();
    let infos = blocking(move || Ok(store.datasets()?)).await?;
    Ok(Json(
        infos
            .into_iter()
            .map(|d| DatasetJson {
                schema: d.schema,
                records: d.records,
                chunks: d.chunks,
            })
            .collect(),
    ))
}

/// `POST /v1/datasets` (admin): body is a `Schema`.
pub async fn create(
    State(s): State<AppState>,
    _: Admin,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<DatasetJson>), ApiError> {
    let schema: Schema =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_json("dataset schema", &e))?;
    let store = s.store.clone();
    let created = schema.clone();
    blocking(move || Ok(store.create_dataset(&created)?)).await?;
    Ok((
        StatusCode::CREATED,
        Json(DatasetJson {
            schema,
            records: 0,
            chunks: 0,
        }),
    ))
}

/// Input formats of records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Format {
    /// One JSON object per line.
    #[default]
    #[serde(rename = "ndjson")]
    Ndjson,
    /// CSV with a header line.
    #[serde(rename = "csv")]
    Csv,
    /// NGSI-LD entities (array, single entity, or NDJSON).
    #[serde(rename = "ngsi-ld")]
    NgsiLd,
}

/// Query parameters of an ingest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestParams {
    /// Body format (default NDJSON).
    #[serde(default)]
    pub format: Format,
    /// Store the valid lines and report the rejected ones (default false: all-or-nothing).
    #[serde(default)]
    pub skip_invalid: bool,
}

/// What an ingest did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestReply {
    /// The dataset.
    pub dataset: String,
    /// Records stored (durably) by this request.
    pub stored: u64,
    /// Every rejected line (only with `skip_invalid`).
    pub rejected: Vec<serde_json::Value>,
}

/// `POST /v1/datasets/{name}/records` (admin).
pub async fn ingest(
    State(s): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
    params: Result<Query<IngestParams>, QueryRejection>,
    RawBody(body): RawBody,
) -> Result<Json<IngestReply>, ApiError> {
    let Query(p) = params.map_err(ApiError::bad_query)?;
    let mode = if p.skip_invalid {
        Mode::SkipInvalid
    } else {
        Mode::AllOrNothing
    };
    let (store, metrics) = (s.store.clone(), s.metrics.clone());
    let dataset = name.clone();
    let result = blocking(move || {
        let schema = store.dataset(&dataset)?.schema;
        let parsed = match p.format {
            Format::Ndjson => ingest::parse_ndjson(&schema, &body, mode),
            Format::Csv => ingest::parse_csv(&schema, &body, mode),
            Format::NgsiLd => ingest::parse_ngsi_ld(&schema, &body, mode),
        };
        let parsed = parsed.inspect_err(|_| metrics.ingest_rejected.inc())?;
        let rejected: Vec<serde_json::Value> = parsed.rejected.iter().map(line_json).collect();
        let stored = if parsed.rows.is_empty() {
            0
        } else {
            let chunks = ingest::into_chunks(&schema, parsed.rows)
                .map_err(|e| ApiError::from(ingest::IngestError::from(e)))?;
            store.append_chunks(&dataset, &chunks)?.records
        };
        metrics.ingest_records.inc_by(stored);
        metrics.ingest_rejected.inc_by(rejected.len() as u64);
        Ok(IngestReply {
            dataset,
            stored,
            rejected,
        })
    })
    .await?;
    Ok(Json(result))
}
