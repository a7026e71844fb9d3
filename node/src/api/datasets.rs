//! Dataset routes (owner: HTTP): list, create, and ingest records. Ingest parses the body
//! with the dataset's schema (`regio_store::ingest`), then stores all valid rows in one atomic,
//! durable append: all-or-nothing unless `skip_invalid=true`, which stores the valid rows
//! and reports every rejected line. Requests and replies: `regio_http::datasets`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use regio_http::datasets::{DatasetInfo, Format, IngestParams, IngestReply, RejectedLine};
use regio_http::error::{AdminErrors, BodyErrors, ServerErrors};
use regio_http::ErrorBody;

use super::auth::Admin;
use super::error::rejected_line;
use super::{blocking, ApiError, AppState, RawBody};
use crate::engine::{DocError, Engine};
use regio_policy::doc::bundle::Classification;
use regio_query::schema::Schema;
use regio_store::ingest::{self, Mode};

/// The reply line of a stored dataset.
fn info(schema: &Schema, records: u64, chunks: u64) -> Result<DatasetInfo, ApiError> {
    // The node's schema and the contract's have one JSON form.
    let schema = serde_json::to_value(schema)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            ApiError::internal(format!("a stored schema does not fit the contract: {e}"))
        })?;
    Ok(DatasetInfo {
        schema,
        records,
        chunks,
        counts_withheld: false,
    })
}

/// Whether a dataset holds personal rows: its schema names a subject field, or this node's
/// policy classifies it as personal.
pub(crate) fn personal(engine: &Engine, schema: &Schema) -> bool {
    schema.subject.is_some()
        || engine.policy().is_some_and(|p| {
            p.doc()
                .datasets
                .iter()
                .any(|d| d.name == schema.dataset && d.classification == Classification::Personal)
        })
}

/// What may be published of a personal dataset's record count without the admin token:
/// rounded down to a multiple of 1,000, as a signed answer's `rowsScanned` is.
pub(crate) fn rounded(records: u64) -> u64 {
    records - records % 1000
}

/// `GET /v1/datasets`: exact counts with the admin token; without it, a personal dataset's
/// records rounded down to 1,000 and its chunks withheld.
#[utoipa::path(get, path = "/v1/datasets", tag = "datasets",
    summary = "Every dataset: schema, records and chunks stored (a personal dataset's counts coarsened without the admin token)",
    responses((status = 200, description = "The datasets", body = Vec<DatasetInfo>), ServerErrors))]
pub async fn list(
    State(s): State<AppState>,
    admin: Option<Admin>,
) -> Result<Json<Vec<DatasetInfo>>, ApiError> {
    let store = s.store.clone();
    let infos = blocking(move || Ok(store.datasets()?)).await?;
    infos
        .into_iter()
        .map(|d| {
            let mut line = info(&d.schema, d.records, d.chunks)?;
            if admin.is_none() && personal(&s.engine, &d.schema) {
                line.records = rounded(d.records);
                line.chunks = 0;
                line.counts_withheld = true;
            }
            Ok(line)
        })
        .collect::<Result<_, _>>()
        .map(Json)
}

/// `POST /v1/datasets` (admin): body is a `Schema`.
#[utoipa::path(post, path = "/v1/datasets", tag = "datasets",
    summary = "Create a dataset from its schema",
    security(("admin_token" = [])),
    request_body(content = regio_http::datasets::DatasetSchema, content_type = "application/json"),
    responses(
        (status = 201, description = "Created (no records yet)", body = DatasetInfo),
        (status = 400, description = "`request.bad_json`, `dataset.invalid_schema` or `dataset.subject_mismatch` (the policy names another subject field for this personal dataset)", body = ErrorBody),
        (status = 409, description = "`dataset.exists`", body = ErrorBody),
        AdminErrors, BodyErrors, ServerErrors))]
pub async fn create(
    State(s): State<AppState>,
    _: Admin,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<DatasetInfo>), ApiError> {
    let schema: Schema =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_json("dataset schema", &e))?;
    let engine = s.engine.clone();
    let created = schema.clone();
    blocking(move || {
        engine.create_dataset(&created).map_err(|e| match e {
            DocError::Store(s) => ApiError::from(s),
            other => ApiError::new(
                StatusCode::BAD_REQUEST,
                "dataset.subject_mismatch",
                other.to_string(),
            ),
        })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(info(&schema, 0, 0)?)))
}

/// `POST /v1/datasets/{name}/records` (admin).
#[utoipa::path(post, path = "/v1/datasets/{name}/records", tag = "datasets",
    summary = "Ingest a file of records (NDJSON, CSV or NGSI-LD) into a dataset",
    description = "All-or-nothing unless `skip_invalid=true`, which stores the valid lines and reports every rejected one. Answered after the records are durable.",
    security(("admin_token" = [])),
    params(("name" = String, Path, description = "The dataset", example = "readings"), IngestParams),
    request_body(description = "The file, in the `format` given", content(
        (inline(regio_http::datasets::FileBody) = "application/x-ndjson"), (inline(regio_http::datasets::FileBody) = "text/csv"), (inline(regio_http::datasets::FileBody) = "application/ld+json"))),
    responses(
        (status = 200, description = "What was stored, and every rejected line", body = IngestReply),
        (status = 400, description = "`request.bad_query`, `ingest.invalid_line` (details: the line) or `ingest.invalid_batch`; nothing was stored", body = ErrorBody),
        (status = 404, description = "`dataset.unknown`", body = ErrorBody),
        AdminErrors, BodyErrors, ServerErrors))]
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
        let rejected: Vec<RejectedLine> = parsed.rejected.iter().map(rejected_line).collect();
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
