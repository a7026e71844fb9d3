//! The catalog: `GET /v1/catalog` (anyone), `GET /v1/catalog/signed` (anyone),
//! `POST /v1/catalog/entries` (admin).
//!
//! `GET /v1/catalog` answers in the representation the `Accept` header asks for:
//! `application/ld+json` (the default) or `text/turtle` give DCAT-AP 3; `application/json`
//! gives [`SearchReply`], Regio's own list of hits. Without `region` it is this node's
//! catalog; with `region=ID` the merged catalog of that region's members as this node holds
//! them. `q`, `theme` and `municipality` narrow either to what matches.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{encode, Endpoint, Method, Route};

/// `GET /v1/catalog` (anyone).
pub const SHOW: Route = Route::new(Method::Get, "/v1/catalog", false);
/// `GET /v1/catalog/signed` (anyone): this node's current signed Catalog document.
pub const SIGNED: Route = Route::new(Method::Get, "/v1/catalog/signed", false);
/// `POST /v1/catalog/entries` (admin): the operator's entries, as JSON.
pub const PUBLISH: Route = Route::new(Method::Post, "/v1/catalog/entries", true);

/// The query string of `GET /v1/catalog`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogParams {
    /// A region this node is in: search every member's catalog. Absent: this node's only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Words that must all occur (titles, descriptions, keywords, names, partners, fields;
    /// Dutch or English; case and accents ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// An EU data theme code (`TRAN`, `ENVI`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    /// A municipality: NIS code or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality: Option<String>,
}

/// The request `GET /v1/catalog` with `Accept: application/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchCatalog(pub CatalogParams);

impl Endpoint for SearchCatalog {
    const ROUTE: Route = SHOW;
    type Reply = SearchReply;
    fn target(&self) -> String {
        let p = &self.0;
        let parts: Vec<String> = [
            ("region", &p.region),
            ("q", &p.q),
            ("theme", &p.theme),
            ("municipality", &p.municipality),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
        if parts.is_empty() {
            SHOW.path.to_string()
        } else {
            format!("{}?{}", SHOW.path, parts.join("&"))
        }
    }
}

/// The request `GET /v1/catalog/signed`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedCatalog;

impl Endpoint for SignedCatalog {
    const ROUTE: Route = SIGNED;
    type Reply = serde_json::Value;
}

/// The request `POST /v1/catalog/entries` (the body is the entries' JSON).
#[derive(Debug, Clone, Copy, Default)]
pub struct PublishCatalog;

impl Endpoint for PublishCatalog {
    const ROUTE: Route = PUBLISH;
    type Reply = PublishReply;
}

/// What a publication signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishReply {
    /// The new catalog version.
    pub version: u64,
    /// Its hash.
    pub hash: String,
    /// Datasets described by the operator.
    pub described: usize,
    /// Datasets of the node (described or not: every one is listed).
    pub datasets: usize,
    /// Initiatives.
    pub initiatives: usize,
}

/// A member as a search result names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberRef {
    /// Its node's DID.
    pub did: String,
    /// NIS code.
    pub nis: String,
    /// Name.
    pub name: String,
    /// Its node's public web address, if it published one.
    pub node: Option<String>,
    /// The catalog version searched.
    pub catalog_version: u64,
}

/// A dataset or an initiative found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    /// `dataset` or `initiative`.
    pub kind: String,
    /// Dataset name or initiative id, within the member.
    pub id: String,
    /// Its IRI in the DCAT graph.
    pub iri: String,
    /// Dutch title.
    pub title_nl: String,
    /// English title.
    pub title_en: String,
    /// EU theme codes.
    pub themes: Vec<String>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Who holds it.
    pub member: MemberRef,
}

/// Members whose catalog this node does not hold (yet): the search could not look there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Missing {
    /// DID.
    pub did: String,
    /// Name.
    pub name: String,
}

/// The reply of a search (`Accept: application/json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchReply {
    /// The region searched, or `null` for this node's own catalog.
    pub region: Option<String>,
    /// Catalogs searched.
    pub searched: usize,
    /// Members whose catalog is not held: coverage is stated, never hidden.
    pub missing: Vec<Missing>,
    /// What matched.
    pub hits: Vec<Hit>,
}
