//! The node itself: `GET /health`, `GET /metrics` (Prometheus text, not JSON) and
//! `GET /v1/openapi.json` (this contract as OpenAPI 3.1).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Endpoint, Method, Route};

/// `GET /health` (anyone).
pub const HEALTH: Route = Route::new(Method::Get, "/health", false);
/// `GET /metrics` (anyone): Prometheus text format.
pub const METRICS: Route = Route::new(Method::Get, "/metrics", false);
/// `GET /v1/openapi.json` (anyone): the OpenAPI 3.1 document of the API.
pub const OPENAPI: Route = Route::new(Method::Get, "/v1/openapi.json", false);

/// The request `GET /health`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Health;

impl Endpoint for Health {
    const ROUTE: Route = HEALTH;
    type Reply = HealthReply;
}

/// Who the node is and where it listens for peers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthReply {
    /// Always `ok` when the node answers.
    pub status: String,
    /// The node's `did:key` (its identity; the same key as its libp2p peer id).
    pub did: String,
    /// The municipality's NIS code.
    pub nis: String,
    /// The municipality's name.
    pub name: String,
    /// The node's software version.
    pub version: String,
    /// The libp2p peer id, `null` for a node without a network.
    pub peer_id: Option<String>,
    /// The libp2p multiaddresses the node listens on (empty without a network).
    pub listen: Vec<String>,
}

/// The request `GET /v1/openapi.json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenApi;

impl Endpoint for OpenApi {
    const ROUTE: Route = OPENAPI;
    type Reply = serde_json::Value;
}
