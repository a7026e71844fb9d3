//! Prometheus metrics of the API (owner: HTTP), served as text at `GET /metrics`:
//! `regio_ingest_records_total`, `regio_ingest_rejected_total`,
//! `regio_consent_imported_total`, `regio_http_requests_total{route,method,status}` (route:
//! the matched route or `unmatched`; method: one of a fixed set or `other`, so clients cannot
//! add series), and, computed from the store at each scrape, `regio_datasets` and
//! `regio_dataset_records{dataset}` (a personal dataset's rounded down to a multiple of
//! 1,000), and from the network and the engine `regio_p2p_connected_peers`,
//! `regio_equivocations_detected` and `regio_peer_documents_dropped{cause}` (documents from
//! peers a node may not be made to hold). The engine registers its own metrics on
//! [`Metrics::registry`].

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::{ApiError, AppState};

/// The API's metrics and their registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// The registry `/metrics` encodes; register further metrics here.
    pub registry: Registry,
    /// Records stored by ingest.
    pub ingest_records: IntCounter,
    /// Lines rejected by ingest (skip-invalid reports and all-or-nothing failures).
    pub ingest_rejected: IntCounter,
    /// Consent entries imported.
    pub consent_imported: IntCounter,
    /// Requests by route, method and status.
    pub requests: IntCounterVec,
    datasets: IntGauge,
    records: IntGaugeVec,
    peers: IntGauge,
    equivocations: IntGauge,
    dropped: IntGaugeVec,
}

/// Why the metrics could not be set up (a duplicate or invalid name: a bug).
#[derive(Debug, thiserror::Error)]
#[error("metrics registry: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl Metrics {
    /// Creates and registers the API's metrics.
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let ingest_records =
            IntCounter::new("regio_ingest_records_total", "Records stored by ingest")?;
        let ingest_rejected =
            IntCounter::new("regio_ingest_rejected_total", "Ingest lines rejected")?;
        let consent_imported =
            IntCounter::new("regio_consent_imported_total", "Consent entries imported")?;
        let requests = IntCounterVec::new(
            Opts::new(
                "regio_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let datasets = IntGauge::new("regio_datasets", "Datasets on this node")?;
        let records = IntGaugeVec::new(
            Opts::new(
            "regio_dataset_records",
            "Records stored per dataset (personal datasets: rounded down to a multiple of 1000)",
        ),
            &["dataset"],
        )?;
        registry.register(Box::new(ingest_records.clone()))?;
        registry.register(Box::new(ingest_rejected.clone()))?;
        registry.register(Box::new(consent_imported.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(datasets.clone()))?;
        registry.register(Box::new(records.clone()))?;
        let peers = IntGauge::new(
            "regio_p2p_connected_peers",
            "Peers with a live libp2p connection",
        )?;
        let equivocations = IntGauge::new(
            "regio_equivocations_detected",
            "Members caught signing two policy bundles of one version",
        )?;
        registry.register(Box::new(peers.clone()))?;
        registry.register(Box::new(equivocations.clone()))?;
        let dropped = IntGaugeVec::new(
            Opts::new(
                "regio_peer_documents_dropped",
                "Documents from peers dropped since start, by cause (not the region's, untrusted issuer, over an author's cap, …)",
            ),
            &["cause"],
        )?;
        registry.register(Box::new(dropped.clone()))?;
        Ok(Metrics {
            registry,
            ingest_records,
            ingest_rejected,
            consent_imported,
            requests,
            datasets,
            records,
            peers,
            equivocations,
            dropped,
        })
    }
}

/// Middleware counting every request by matched route, method and status.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = super::limits::method_label(req.method());
    let response = next.run(req).await;
    state
        .metrics
        .requests
        .with_label_values(&[route.as_str(), method, response.status().as_str()])
        .inc();
    response
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "node",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        regio_http::error::ServerErrors))]
pub async fn scrape(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let infos = tokio::task::spawn_blocking(move || store.datasets())
        .await
        .map_err(ApiError::internal)??;
    let m = &state.metrics;
    m.datasets
        .set(i64::try_from(infos.len()).unwrap_or(i64::MAX));
    for d in &infos {
        let records = if super::datasets::personal(&state.engine, &d.schema) {
            super::datasets::rounded(d.records)
        } else {
            d.records
        };
        m.records
            .with_label_values(&[d.schema.dataset.as_str()])
            .set(i64::try_from(records).unwrap_or(i64::MAX));
    }
    let peers = match &state.net {
        Some(net) => net
            .connected_peers()
            .await
            .map(|p| p.len())
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not count connected peers for /metrics");
                0
            }),
        None => 0,
    };
    m.peers.set(i64::try_from(peers).unwrap_or(i64::MAX));
    m.equivocations
        .set(i64::try_from(state.engine.equivocations().len()).unwrap_or(i64::MAX));
    for (cause, n) in state.engine.dropped() {
        m.dropped
            .with_label_values(&[cause])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&m.registry.gather(), &mut out)
        .map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
