//! Catalog routes (owner: lead): this node's catalog and its region's, as DCAT-AP 3
//! (JSON-LD or Turtle) or as search hits; the signed catalog document; publishing the
//! operator's entries. Requests and replies: `regio_http::catalog`; the catalog itself:
//! [`crate::engine::catalog`].

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use regio_http::catalog::{CatalogParams, Hit, MemberRef, Missing, PublishReply, SearchReply};
use regio_http::documents::SignedDocument;
use regio_http::error::{AdminErrors, BodyErrors, ServerErrors};
use regio_http::ErrorBody;
use serde_json::Value;

use super::auth::Admin;
use super::{blocking, ApiError, AppState, Reply};
use crate::engine::catalog::dcat::{Graph, Region};
use crate::engine::catalog::search::Filter;
use crate::engine::catalog::CatalogError;
use regio_policy::doc::catalog::{Catalog, Entries, Theme};

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> ApiError {
        match e {
            CatalogError::Store(s) => s.into(),
            CatalogError::Invalid(i) => {
                ApiError::new(StatusCode::BAD_REQUEST, "catalog.invalid", i.to_string())
                    .with_details(serde_json::json!({"field": i.field}))
            }
            other => ApiError::new(
                StatusCode::BAD_REQUEST,
                "catalog.invalid",
                other.to_string(),
            ),
        }
    }
}

/// The representation asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    JsonLd,
    Turtle,
    Hits,
}

fn format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let accept = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*")
        .to_ascii_lowercase();
    let types: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or_default().trim())
        .collect();
    for t in &types {
        match *t {
            "application/ld+json" | "*/*" | "application/*" => return Ok(Format::JsonLd),
            "text/turtle" | "text/*" => return Ok(Format::Turtle),
            "application/json" => return Ok(Format::Hits),
            _ => {}
        }
    }
    Err(ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "request.not_acceptable",
        format!("`Accept: {accept}`: the catalog is served as application/ld+json, text/turtle or application/json (search hits)"),
    ))
}

/// `GET /v1/catalog`.
#[utoipa::path(get, path = "/v1/catalog", tag = "catalog",
    summary = "This node's or a region's catalog: DCAT-AP 3 (JSON-LD, Turtle) or search hits (JSON)",
    params(CatalogParams),
    responses(
        (status = 200, description = "DCAT-AP 3 as `application/ld+json` (default) or `text/turtle`; with `Accept: application/json`, the hits",
            content((SearchReply = "application/json"), (Value = "application/ld+json"), (String = "text/turtle"))),
        (status = 400, description = "`request.bad_query` or `catalog.bad_theme`", body = ErrorBody),
        (status = 404, description = "`region.unknown`: this node is not in that region", body = ErrorBody),
        (status = 406, description = "`request.not_acceptable`", body = ErrorBody),
        ServerErrors))]
pub async fn show(
    State(s): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<CatalogParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(ApiError::bad_query)?;
    let fmt = format(&headers)?;
    let theme = match p.theme.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(Theme::parse(t).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "catalog.bad_theme",
                format!("theme `{t}` is not an EU data-theme code (AGRI, ECON, EDUC, ENER, ENVI, GOVE, HEAL, INTR, JUST, REGI, SOCI, TECH, TRAN)"),
            )
        })?),
    };
    let filter = Filter::new(p.q.as_deref(), theme, p.municipality.as_deref());
    let own = current(&s).await?;
    let mut all: Vec<Catalog> = vec![own.doc().clone()];
    let mut missing = Vec::new();
    let region = match &p.region {
        None => None,
        Some(id) => {
            let manifest = s
                .engine
                .regions()
                .into_iter()
                .find(|r| &r.doc().region == id)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "region.unknown",
                        format!("this node is not in region `{id}`"),
                    )
                })?;
            let held = catalogs(&s)?.members_of(&s.engine, id);
            for m in &manifest.doc().members {
                if m.did == *s.engine.did() {
                    continue;
                }
                match held.iter().find(|c| c.doc().municipality.did == m.did) {
                    Some(c) => all.push(c.doc().clone()),
                    None => missing.push(Missing {
                        did: m.did.to_string(),
                        name: m.name.clone(),
                    }),
                }
            }
            Some((id.clone(), manifest.doc().name.clone()))
        }
    };
    let searched = all.len();
    let found: Vec<Catalog> = all.iter().filter_map(|c| filter.apply(c)).collect();
    match fmt {
        Format::Hits => Ok(Json(SearchReply {
            region: region.map(|(id, _)| id),
            searched,
            missing,
            hits: found.iter().flat_map(hits).collect(),
        })
        .into_response()),
        Format::JsonLd | Format::Turtle => {
            let mut g = Graph::default();
            let iris: Vec<_> = found.iter().map(|c| g.catalog(c)).collect();
            if let Some((id, name)) = &region {
                g.region(Region { id, name }, &iris);
            }
            let (body, ty) = if fmt == Format::Turtle {
                (g.turtle(), "text/turtle; charset=utf-8")
            } else {
                (g.json_ld(), "application/ld+json")
            };
            Ok(([(CONTENT_TYPE, ty)], body).into_response())
        }
    }
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "catalog.unavailable",
        "this node was assembled without its catalog",
    )
}

fn catalogs_of(
    engine: &crate::engine::Engine,
) -> Result<&crate::engine::catalog::Catalogs, ApiError> {
    engine.catalogs().ok_or_else(unavailable)
}

fn catalogs(s: &AppState) -> Result<&crate::engine::catalog::Catalogs, ApiError> {
    catalogs_of(&s.engine)
}

/// This node's current catalog (re-signed first when its facts changed and it is due).
async fn current(s: &AppState) -> Result<regio_policy::Signed<Catalog>, ApiError> {
    catalogs(s)?;
    let engine = s.engine.clone();
    blocking(move || Ok(catalogs_of(&engine)?.current(&engine, chrono::Utc::now())?)).await
}

fn hits(c: &Catalog) -> Vec<Hit> {
    let m = &c.municipality;
    let member = MemberRef {
        did: m.did.to_string(),
        nis: m.nis.clone(),
        name: m.name.clone(),
        node: c.homepage.clone(),
        catalog_version: c.version,
    };
    let mut out: Vec<Hit> = c
        .facts
        .iter()
        .map(|f| {
            let e = c.entries.datasets.iter().find(|e| e.name == f.name);
            Hit {
                kind: "dataset".into(),
                id: f.name.clone(),
                iri: format!("{}#dataset-{}", m.did, f.name),
                title_nl: e.map_or_else(
                    || format!("Dataset {} van {}", f.name, m.name),
                    |e| e.title.nl.clone(),
                ),
                title_en: e.map_or_else(
                    || format!("Dataset {} of {}", f.name, m.name),
                    |e| e.title.en.clone(),
                ),
                themes: e
                    .map(|e| e.themes.iter().map(|t| t.code().to_string()).collect())
                    .unwrap_or_default(),
                keywords: e.map(|e| e.keywords.clone()).unwrap_or_default(),
                member: member.clone(),
            }
        })
        .collect();
    out.extend(c.entries.initiatives.iter().map(|n| Hit {
        kind: "initiative".into(),
        id: n.id.clone(),
        iri: format!("{}#initiative-{}", m.did, n.id),
        title_nl: n.name.nl.clone(),
        title_en: n.name.en.clone(),
        themes: n.themes.iter().map(|t| t.code().to_string()).collect(),
        keywords: n.keywords.clone(),
        member: member.clone(),
    }));
    out
}

/// `GET /v1/catalog/signed`.
#[utoipa::path(get, path = "/v1/catalog/signed", tag = "catalog",
    summary = "This node's current signed Catalog document (verify offline with `regio verify`)",
    responses((status = 200, description = "The signed catalog", body = SignedDocument), ServerErrors))]
pub async fn signed(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let own = current(&s).await?;
    Ok(Json(own.raw().clone()))
}

/// `POST /v1/catalog/entries` (admin).
#[utoipa::path(post, path = "/v1/catalog/entries", tag = "catalog",
    summary = "Publish the operator's catalog entries: signed as the next catalog version and gossiped",
    security(("admin_token" = [])),
    request_body(content = Value, content_type = "application/json", description = "The entries: `contact`, `datasets`, `initiatives` (see `regio catalog import`)"),
    responses(
        (status = 201, description = "Signed, stored and gossiped", body = PublishReply),
        (status = 400, description = "`request.bad_json` or `catalog.invalid` (`details.field` names the field)", body = ErrorBody),
        AdminErrors, BodyErrors, ServerErrors))]
pub async fn publish(
    State(s): State<AppState>,
    _: Admin,
    super::RawBody(body): super::RawBody,
) -> Result<(StatusCode, Reply<PublishReply>), ApiError> {
    let entries: Entries =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_json("catalog entries", &e))?;
    catalogs(&s)?;
    let engine = s.engine.clone();
    let signed = blocking(move || {
        let catalogs = catalogs_of(&engine)?;
        Ok(catalogs.publish(&engine, entries, chrono::Utc::now())?)
    })
    .await?;
    if let Some(net) = &s.net {
        let msg = crate::federation::gossip::Gossip::Catalog {
            doc: signed.raw().clone(),
        };
        crate::federation::run::broadcast(&s.engine, net, &msg).await;
    }
    let d = signed.doc();
    Ok((
        StatusCode::CREATED,
        Reply(PublishReply {
            version: d.version,
            hash: signed.hash().to_string(),
            described: d.entries.datasets.len(),
            datasets: d.facts.len(),
            initiatives: d.entries.initiatives.len(),
        }),
    ))
}
