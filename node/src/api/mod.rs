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
//! | `GET /v1/catalog?region=&q=&theme=&municipality=` | anyone | this node's or a region's catalog: DCAT-AP 3 JSON-LD or Turtle, or search hits ([`catalog`]) |
//! | `GET /v1/catalog/signed` | anyone | this node's signed Catalog document |
//! | `POST /v1/catalog/entries` | admin | publish the operator's catalog entries |
//! | `GET /v1/openapi.json` | anyone | this API as OpenAPI 3.1 ([`openapi`]) |
//!
//! Requests and replies are the types of the HTTP contract, `regio_http` (shared with the
//! `regio` client). Every handler carries a `#[utoipa::path]` attribute, and [`routes()`]
//! registers handlers only through utoipa-axum's `routes!`, so the router and the OpenAPI
//! document are built from one list: a route without documentation cannot be added
//! (`tests/api_openapi.rs` checks the document, the router and `regio_http::ROUTES` against
//! each other, and that nothing in this module registers a route around `routes!`).
//!
//! Errors are [`ApiError`] JSON with stable codes (`regio_http::ErrorBody`). Admin handlers
//! take [`auth::Admin`] as an argument. Every store call runs on `spawn_blocking`; a write is answered
//! only after the store made it durable.
//!
//! **Adding a route**: its request and reply types (and its `regio_http::Route`) in
//! `regio_http`; a handler here with `#[utoipa::path]` (its responses, the error bodies
//! included, `security(("admin_token" = []))` when it takes [`auth::Admin`]); one line in
//! [`routes()`]. Take [`RawBody`] for the body (413 and JSON errors come for free), return
//! `Result<_, ApiError>`.

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod citizen;
pub mod consent;
pub mod datasets;
pub mod engine;
pub mod error;
pub mod federated;
pub mod lookup;
pub mod metrics;
pub mod openapi;
pub mod region;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use regio_http::node::HealthReply;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    let (router, _doc) = routes().split_for_parts();
    router
        .fallback(unknown_route)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Every route with its documentation: the router and the OpenAPI document come from here.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(metrics::scrape))
        .routes(routes!(openapi::document))
        .routes(routes!(datasets::list, datasets::create))
        .routes(routes!(datasets::ingest))
        .routes(routes!(consent::import))
        .routes(routes!(audit::entries))
        .routes(routes!(audit::verify))
        .routes(routes!(audit::export))
        .routes(routes!(citizen::history))
        .routes(routes!(citizen::receipt))
        .routes(routes!(engine::policy_show, engine::policy_publish))
        .routes(routes!(engine::policy_history))
        .routes(routes!(engine::certificate))
        .routes(routes!(engine::revocation))
        .routes(routes!(engine::charter))
        .routes(routes!(engine::region, region::list))
        .routes(routes!(region::show))
        .routes(routes!(engine::consent))
        .routes(routes!(federated::query))
        .routes(routes!(lookup::certificate))
        .routes(routes!(lookup::revocation))
        .routes(routes!(catalog::show))
        .routes(routes!(catalog::signed))
        .routes(routes!(catalog::publish))
}

async fn unknown_route(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route.unknown",
        format!("no route {} {}", req.method(), req.uri().path()),
    )
}

/// `GET /health`.
#[utoipa::path(get, path = "/health", tag = "node",
    summary = "Who the node is: DID, NIS code, name, version, libp2p peer id and addresses",
    responses((status = 200, description = "The node answers", body = HealthReply)))]
pub async fn health(State(s): State<AppState>) -> Reply<HealthReply> {
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
    Reply(HealthReply {
        status: "ok".into(),
        did: s.key.did().as_str().to_string(),
        nis: s.config.nis.clone(),
        name: s.config.name.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        peer_id,
        listen,
    })
}

/// A JSON reply of the contract type `T`, written with every object's keys in sorted order:
/// the bytes the API has answered with since its replies were built as `serde_json::Value`s
/// (whose maps are sorted). Clients must not depend on key order; this keeps the wire
/// byte-for-byte what it was. (Replies that were typed from the start — datasets, ingest,
/// consent import, audit export — keep their declaration order, in plain [`Json`].)
#[derive(Debug, Clone)]
pub struct Reply<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Reply<T> {
    fn into_response(self) -> axum::response::Response {
        match serde_json::to_value(&self.0) {
            Ok(value) => Json(value).into_response(),
            Err(e) => ApiError::internal(format!("cannot encode the reply: {e}")).into_response(),
        }
    }
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
