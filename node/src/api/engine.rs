//! The engine's routes (owner: lead): signed documents in (policy, certificates,
//! revocations, charters, region manifests, consent records) and signed queries answered.
//! Every handler hands the engine the signed JSON and returns what the engine decided.
//! A document the engine took in is then gossiped to every region this node is in (when the
//! node runs a network): policy heads, certificates, revocations, manifest versions — and a
//! new manifest version re-joins the regions (new members allowed and dialled). Replies:
//! `regio_http::documents`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use regio_http::documents::{Published, SignedDocument, Stored};
use regio_http::error::{AdminErrors, BodyErrors, ServerErrors};
use regio_http::ErrorBody;
use serde_json::Value;

use super::auth::Admin;
use super::{blocking, ApiError, AppState, RawBody, Reply};
use crate::engine::DocError;
use crate::federation::gossip::Gossip;
use crate::federation::{p2p, run};
use regio_policy::Signed;

impl From<DocError> for ApiError {
    fn from(e: DocError) -> ApiError {
        match e {
            DocError::Store(s) => s.into(),
            DocError::Chain(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "policy.chain", e.to_string())
            }
            DocError::Subject { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "policy.subject_mismatch",
                e.to_string(),
            ),
            DocError::Manifest(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "manifest.refused", e.to_string())
            }
            other => ApiError::new(
                StatusCode::BAD_REQUEST,
                "document.invalid",
                other.to_string(),
            ),
        }
    }
}

fn parse(body: &[u8], what: &str) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_json(what, &e))
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// Gossips `msg` to every region of this node (nothing without a network).
async fn spread(s: &AppState, msg: Gossip) {
    if let Some(net) = &s.net {
        run::broadcast(&s.engine, net, &msg).await;
    }
}

/// What a stored document reply holds.
fn stored<T: regio_policy::signed::Document>(
    kind: &str,
    s: &Signed<T>,
) -> (StatusCode, Reply<Stored>) {
    (
        StatusCode::CREATED,
        Reply(Stored {
            stored: kind.into(),
            hash: s.hash().to_string(),
        }),
    )
}

/// `POST /v1/policy` (admin): publish the next signed PolicyBundle of this node.
#[utoipa::path(post, path = "/v1/policy", tag = "documents",
    summary = "Publish the next signed PolicyBundle of this node",
    security(("admin_token" = [])),
    request_body(content = SignedDocument, content_type = "application/json", description = "The signed PolicyBundle"),
    responses(
        (status = 201, description = "Published and gossiped", body = Published),
        (status = 400, description = "`request.bad_json`, `document.invalid`, `policy.chain` or `policy.subject_mismatch` (a personal dataset's subjectField is not its stored schema's subject)", body = ErrorBody),
        AdminErrors, BodyErrors, ServerErrors))]
pub async fn policy_publish(
    State(s): State<AppState>,
    _: Admin,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Reply<Published>), ApiError> {
    let value = parse(&body, "signed PolicyBundle")?;
    let engine = s.engine.clone();
    let signed = blocking(move || Ok(engine.publish_policy(value, now())?)).await?;
    spread(
        &s,
        Gossip::Policy {
            doc: signed.raw().clone(),
        },
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Reply(Published {
            version: signed.doc().version,
            hash: signed.hash().to_string(),
        }),
    ))
}

/// `GET /v1/policy`: the current signed bundle.
#[utoipa::path(get, path = "/v1/policy", tag = "documents",
    summary = "This node's current signed PolicyBundle",
    responses(
        (status = 200, description = "The bundle", body = SignedDocument),
        (status = 404, description = "`policy.missing`: none published yet", body = ErrorBody)))]
pub async fn policy_show(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    match s.engine.policy() {
        Some(p) => Ok(Json(p.raw().clone())),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "policy.missing",
            "this node has published no policy yet (`regio policy publish`)",
        )),
    }
}

/// `GET /v1/policy/history`: every stored bundle, oldest first.
#[utoipa::path(get, path = "/v1/policy/history", tag = "documents",
    summary = "Every signed PolicyBundle of this node, oldest first",
    responses((status = 200, description = "The chain", body = Vec<SignedDocument>), ServerErrors))]
pub async fn policy_history(State(s): State<AppState>) -> Result<Json<Vec<Value>>, ApiError> {
    let store = s.store.clone();
    let list = blocking(move || {
        let mut recs = store.policies()?;
        recs.sort_by_key(|r| r.version);
        recs.into_iter()
            .map(|r| serde_json::from_slice::<Value>(&r.raw).map_err(ApiError::internal))
            .collect::<Result<Vec<Value>, ApiError>>()
    })
    .await?;
    Ok(Json(list))
}

/// `POST /v1/certificates` (admin).
#[utoipa::path(post, path = "/v1/certificates", tag = "documents",
    summary = "Store a signed EthicsCertificate",
    security(("admin_token" = [])),
    request_body(content = SignedDocument, content_type = "application/json", description = "The signed EthicsCertificate"),
    responses(
        (status = 201, description = "Stored", body = Stored),
        (status = 400, description = "`request.bad_json` or `document.invalid`", body = ErrorBody),
        AdminErrors, BodyErrors, ServerErrors))]
pub async fn certificate(
    State(s): State<AppState>,
    _: Admin,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Reply<Stored>), ApiError> {
    let value = parse(&body, "signed EthicsCertificate")?;
    let engine = s.engine.clone();
    let signed = blocking(move || Ok(engine.put_certificate(value, now())?)).await?;
    spread(
        &s,
        Gossip::Certificate {
            doc: signed.raw().clone(),
        },
    )
    .await;
    Ok(stored("certificate", &signed))
}

/// `POST /v1/revocations` (admin).
#[utoipa::path(post, path = "/v1/revocations", tag = "documents",
    summary = "Store a signed Revocation",
    security(("admin_token" = [])),
    request_body(content = SignedDocument, content_type = "application/json", description = "The signed Revocation"),
    responses(
        (status = 201, description = "Stored", body = Stored),
        (status = 400, description = "`request.bad_json` or `document.invalid`", body = ErrorBody),
        AdminErrors, BodyErrors, ServerErrors))]
pub async fn revocation(
    State(s): State<AppState>,
    _: Admin,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Reply<Stored>), ApiError> {
    let value = parse(&body, "signed Revocation")?;
    let engine = s.engine.clone();
    let signed = blocking(move || Ok(engine.put_revocation(value, now())?)).await?;
    spread(
        &s,
        Gossip::Revocation {
            doc: signed.raw().clone(),
        },
    )
    .await;
    Ok(stored("revocation", &signed))
}

/// `POST /v1/charters` (admin).
#[utoipa::path(post, path = "/v1/charters", tag = "documents",
    summary = "Store a signed InclusionCharter",
    security(("admin_token" = [])),
    request_body(content = SignedDocument, content_type = "application/json", description = "The signed InclusionCharter"),
    responses(
        (status = 201, description = "Stored", body = Stored),
        (status = 400, description = "`request.bad_json` or `document.invalid`", body = ErrorBody),
        AdminErrors, BodyErrors, ServerErrors))]
pub async fn charter(
    State(s): State<AppState>,
    _: Admin,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Reply<Stored>), ApiError> {
    let value = parse(&body, "signed InclusionCharter")?;
    let engine = s.engine.clone();
    let signed = blocking(move || Ok(engine.put_charter(value, now())?)).await?;
    Ok(stored("charter", &signed))
}

/// `POST /v1/regions` (admin): a region manifest version. Once it takes effect the node
/// joins the region (allow-list, dials, topic) and gossips the version to the members.
#[utoipa::path(post, path = "/v1/regions", tag = "documents",
    summary = "Store a signed RegionManifest",
    security(("admin_token" = [])),
    request_body(content = SignedDocument, content_type = "application/json", description = "The signed RegionManifest"),
    responses(
        (status = 201, description = "Stored", body = Stored),
        (status = 400, description = "`request.bad_json`, `document.invalid` or `manifest.refused`", body = ErrorBody),
        (status = 503, description = "`net.unavailable`: stored, but the network could not join the region", body = ErrorBody),
        AdminErrors, BodyErrors, ServerErrors))]
pub async fn region(
    State(s): State<AppState>,
    _: Admin,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Reply<Stored>), ApiError> {
    let value = parse(&body, "signed RegionManifest")?;
    let engine = s.engine.clone();
    let signed = blocking(move || Ok(engine.put_manifest(value, now())?)).await?;
    if let Some(net) = &s.net {
        p2p::join_regions(&s.engine, net).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "net.unavailable",
                format!("the manifest is stored but the network could not join the region: {e}"),
            )
        })?;
    }
    spread(
        &s,
        Gossip::Manifest {
            doc: signed.raw().clone(),
        },
    )
    .await;
    Ok(stored("manifest", &signed))
}

/// `POST /v1/consent` (admin): one signed ConsentRecord.
#[utoipa::path(post, path = "/v1/consent", tag = "documents",
    summary = "Store a signed ConsentRecord",
    security(("admin_token" = [])),
    request_body(content = SignedDocument, content_type = "application/json", description = "The signed ConsentRecord"),
    responses(
        (status = 201, description = "Stored", body = Stored),
        (status = 400, description = "`request.bad_json` or `document.invalid`", body = ErrorBody),
        AdminErrors, BodyErrors, ServerErrors))]
pub async fn consent(
    State(s): State<AppState>,
    _: Admin,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Reply<Stored>), ApiError> {
    let value = parse(&body, "signed ConsentRecord")?;
    let engine = s.engine.clone();
    let signed = blocking(move || Ok(engine.record_consent(value, now())?)).await?;
    Ok(stored("consent", &signed))
}
