//! The node's HTTP API (owner: HTTP; the engine routes are the lead's). Built on axum 0.8;
//! [`router`] returns the whole API over one [`AppState`].
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /health` | anyone | ok, DID, NIS, name, version, p2p `peerId` and `listen` multiaddrs |
//! | `GET /metrics` | anyone | Prometheus text |
//! | `GET /v1/datasets` | anyone | schemas with record and chunk counts |
//! | `POST /v1/datasets` | admin | create a dataset from a `Schema` JSON |
//! | `POST /v1/datasets/{name}/records?format=ndjson\|csv\|ngsi-ld&skip_invalid=bool` | admin | ingest a file |
//! | `POST /v1/consent/import?format=csv\|ndjson&skip_invalid=bool` | admin | import a consent file |
//! | `GET /v1/audit?from=SEQ&limit=N` | admin | audit entries |
//! | `GET /v1/audit/verify` | anyone | verify the whole audit chain |
//! | `GET /v1/audit/export` | admin | everything an auditor checks, as one JSON document |
//! | `GET /v1/consent/history?subject=ID`, `GET /v1/consent/receipt?subject=ID` | admin (desk) | a citizen's queries and consent; Kantara receipt |
//! | `POST /v1/policy` | admin | publish the next signed PolicyBundle |
//! | `GET /v1/policy`, `GET /v1/policy/history` | anyone | current bundle, every bundle |
//! | `POST /v1/certificates`, `/v1/revocations`, `/v1/charters`, `/v1/regions` | admin | store a signed document |
//! | `POST /v1/consent` | admin | one signed ConsentRecord |
//! | `POST /v1/query?deadline_ms=N` | anyone (signed query) | federated: 200 merged result + provenance, 403 when no member answered ([`federated`]) |
//! | `GET /v1/regions`, `GET /v1/regions/{id}` | anyone | the regions this node is in, members' reachability, policy heads, equivocation ([`region`]) |
//! | `GET /v1/certificates/{hash}`, `GET /v1/revocations/{hash}` | anyone | a stored document by hash, 404 if not here ([`lookup`]) |
//!
//! Errors are [`ApiError`] JSON with stable codes. Admin handlers take [`auth::Admin`] as
//! their first argument. Every store call runs on `spawn_blocking`; a write is answered
//! only after the store made it durable.
//!
//! **Extension point for the engine** (lead): add `engine: Arc<Engine>` to [`AppState`]
//! (marked below), and the handlers for `POST /v1/policy`, `GET /v1/policy`,
//! `POST /v1/certificates`, `POST /v1/revocations`, `POST /v1/consent`, `POST /v1/query`
//! in [`engine_routes`]. Take [`auth::Admin`] for admin routes, [`RawBody`] for the body
//! (413 and JSON errors come for free), return `Result<_, ApiError>`.

pub mod audit;
pub mod auth;
pub mod citizen;
pub mod consent;
pub mod datasets;
pub mod engine;
pub mod error;
pub mod federated;
pub mod lookup;
pub mod metrics;
pub mod region;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

pub use self::auth::AdminToken;
pub use self::error::ApiError;
pub use self::metrics::Metrics;
use crate::config::Config;
use regio_policy::Key;
use regio_store::Store;

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The node's storage.
    pub store: Store,
    /// The node's signing key (its DID is the node's identity).
    pub key: Arc<Key>,
    /// The node's configuration.
    pub config: Arc<Config>,
    /// The admin token.
    pub token: Arc<AdminToken>,
    /// The API's metrics.
    pub metrics: Arc<Metrics>,
    /// The policy engine.
    pub engine: Arc<crate::engine::Engine>,
    /// The network (libp2p), when the node federates; `None` in a node without one (every
    /// other member is then unreachable and nothing is gossiped).
    pub net: Option<regio_net::Handle>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("did", &self.key.did().as_str())
            .finish_non_exhaustive()
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics::scrape))
        .route("/v1/datasets", get(datasets::list).post(datasets::create))
        .route("/v1/datasets/{name}/records", post(datasets::ingest))
        .route("/v1/consent/import", post(consent::import))
        .route("/v1/audit", get(audit::entries))
        .route("/v1/audit/verify", get(audit::verify))
        .merge(engine_routes())
        .merge(audit::routes())
        .merge(citizen::routes())
        .fallback(unknown_route)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The engine's routes (lead): policy, certificates, revocations, signed consent, query.
fn engine_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/policy",
            get(engine::policy_show).post(engine::policy_publish),
        )
        .route("/v1/policy/history", get(engine::policy_history))
        .route("/v1/certificates", post(engine::certificate))
        .route("/v1/revocations", post(engine::revocation))
        .route("/v1/charters", post(engine::charter))
        .route("/v1/regions", post(engine::region).get(region::list))
        .route("/v1/regions/{id}", get(region::show))
        .route("/v1/consent", post(engine::consent))
        .route("/v1/query", post(federated::query))
        .route("/v1/certificates/{hash}", get(lookup::certificate))
        .route("/v1/revocations/{hash}", get(lookup::revocation))
}

async fn unknown_route(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route.unknown",
        format!("no route {} {}", req.method(), req.uri().path()),
    )
}

async fn health(State(s): State<AppState>) -> Json<serde_json::Value> {
    let (peer_id, listen) = match &s.net {
        Some(net) => (
            Some(net.peer_id().to_string()),
            net.listen_addrs()
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "could not list the p2p listen addresses for /health");
                    Vec::new()
                })
                .iter()
                .map(|a| a.to_string())
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    Json(serde_json::json!({
        "status": "ok",
        "did": s.key.did().as_str(),
        "nis": s.config.nis,
        "name": s.config.name,
        "version": env!("CARGO_PKG_VERSION"),
        "peerId": peer_id,
        "listen": listen,
    }))
}

/// The request body, limited by `max_body_bytes`; an oversize body is
/// `413 request.too_large`.
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<RawBody, ApiError> {
        Bytes::from_request(req, state).await.map(RawBody).map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request.too_large",
                    "the request body is larger than the node's max_body_bytes; send smaller batches (`regio ingest --batch-rows`) or raise max_body_bytes in config.toml",
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "request.bad_body", format!("cannot read the request body: {e}"))
            }
        })
    }
}

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// Microseconds since the epoch, now.
pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
