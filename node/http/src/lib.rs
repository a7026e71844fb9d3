//! Regio's HTTP contract: one type per request and per reply of a node's API, parsed by the
//! node's axum handlers (`regio_node::api`) and built and read by the `regio` client — the
//! pattern of mini-redis's `cmd/get.rs`, over HTTP. Every type derives utoipa's `ToSchema`
//! or `IntoParams`, so the OpenAPI 3.1 document the node serves at `GET /v1/openapi.json`
//! is generated from the very types that go on the wire.
//!
//! | module | routes |
//! |---|---|
//! | [`node`] | `GET /health`, `GET /metrics`, `GET /v1/openapi.json` |
//! | [`datasets`] | `GET`/`POST /v1/datasets`, `POST /v1/datasets/{name}/records`, `POST /v1/consent/import` |
//! | [`audit`] | `GET /v1/audit`, `GET /v1/audit/verify`, `GET /v1/audit/export` |
//! | [`catalog`] | `GET /v1/catalog` (DCAT-AP JSON-LD or Turtle, or search hits), `GET /v1/catalog/signed`, `POST /v1/catalog/entries` |
//! | [`citizen`] | `GET /v1/consent/history`, `GET /v1/consent/receipt` |
//! | [`documents`] | `GET`/`POST /v1/policy`, `GET /v1/policy/history`, `POST` certificates, revocations, charters, regions, consent; `GET /v1/certificates/{hash}`, `GET /v1/revocations/{hash}` |
//! | [`query`] | `POST /v1/query` |
//! | [`region`] | `GET /v1/regions`, `GET /v1/regions/{id}` |
//! | [`error`] | the error body every route may answer |
//!
//! Each route is an [`Endpoint`]: a request type that knows its [`Route`] (method, path
//! template, whether the admin token is needed) and its reply type, and builds the request
//! target (path and query string). [`ROUTES`] lists every route once; the node's test
//! checks that its router and its OpenAPI document serve exactly these.
//!
//! Where a reply carries a node-owned structure that has its own Rust type inside
//! `regio-node` (a dataset schema, an audit entry, an audit export, a signed document), the
//! field is a `serde_json::Value` here, described in the OpenAPI document by a documentation
//! type of this crate (`datasets::SchemaDoc`, `audit::AuditEntryDoc`, …). This keeps the
//! contract a small crate below the node (it depends on `regio-policy` only), which the
//! node's handlers and the CLI both depend on without a cycle.
//!
//! Wire compatibility: field names, nesting, `null` versus absent, and status codes are those
//! of the untyped JSON the API answered before this crate existed.

pub mod audit;
pub mod catalog;
pub mod citizen;
pub mod datasets;
pub mod documents;
pub mod error;
pub mod node;
pub mod query;
pub mod region;

pub use error::{ErrorBody, ErrorDetail};

/// An HTTP method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

impl Method {
    /// The method's name, upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One route of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// The method.
    pub method: Method,
    /// The path template, with `{name}` for a path parameter (axum and OpenAPI spell it alike).
    pub path: &'static str,
    /// Whether the route needs the node's admin token (`Authorization: Bearer <token>`).
    pub admin: bool,
}

impl Route {
    const fn new(method: Method, path: &'static str, admin: bool) -> Route {
        Route {
            method,
            path,
            admin,
        }
    }
}

/// A request of the API: its route, its reply type, and the target it is sent to.
pub trait Endpoint {
    /// The route it is sent on.
    const ROUTE: Route;
    /// The JSON body of a successful reply.
    type Reply: serde::Serialize + serde::de::DeserializeOwned;
    /// The request target: the path with its parameters filled in, and the query string.
    fn target(&self) -> String {
        Self::ROUTE.path.to_string()
    }
}

/// Every route of the API, once.
pub const ROUTES: &[Route] = &[
    node::HEALTH,
    node::METRICS,
    node::OPENAPI,
    datasets::LIST,
    datasets::CREATE,
    datasets::INGEST,
    datasets::CONSENT_IMPORT,
    audit::ENTRIES,
    audit::VERIFY,
    audit::EXPORT,
    citizen::HISTORY,
    citizen::RECEIPT,
    documents::POLICY_SHOW,
    documents::POLICY_PUBLISH,
    documents::POLICY_HISTORY,
    documents::CERTIFICATE_POST,
    documents::CERTIFICATE_GET,
    documents::REVOCATION_POST,
    documents::REVOCATION_GET,
    documents::CHARTER_POST,
    documents::MANIFEST_POST,
    documents::CONSENT_POST,
    query::QUERY,
    region::LIST,
    region::SHOW,
    catalog::SHOW,
    catalog::SIGNED,
    catalog::PUBLISH,
];

/// Percent-encodes `text` for a path segment or a query-string value (RFC 3986: everything
/// but unreserved characters).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    (a.method, a.path) != (b.method, b.path),
                    "{} {} twice",
                    a.method.as_str(),
                    a.path
                );
            }
        }
    }

    /// A request's target is its route's path with the parameters filled in.
    fn matches<E: Endpoint>(e: &E) {
        let target = e.target();
        let path = target.split('?').next().unwrap_or_default();
        let template: Vec<&str> = E::ROUTE.path.split('/').collect();
        let sent: Vec<&str> = path.split('/').collect();
        assert_eq!(template.len(), sent.len(), "{target} for {}", E::ROUTE.path);
        for (t, s) in template.iter().zip(&sent) {
            assert!(
                t.starts_with('{') || t == s,
                "{target} for {}",
                E::ROUTE.path
            );
        }
        assert!(ROUTES.contains(&E::ROUTE));
    }

    #[test]
    fn every_request_targets_its_route() {
        matches(&node::Health);
        matches(&node::OpenApi);
        matches(&datasets::ListDatasets);
        matches(&datasets::CreateDataset);
        matches(&datasets::Ingest {
            dataset: "readings".into(),
            params: datasets::IngestParams::default(),
        });
        matches(&datasets::ConsentImport::default());
        matches(&audit::AuditParams::default());
        matches(&audit::Verify);
        matches(&audit::Export);
        let subject = || citizen::SubjectParams {
            subject: "s 1/ä".into(),
        };
        matches(&citizen::History(subject()));
        matches(&citizen::Receipt(subject()));
        matches(&documents::ShowPolicy);
        matches(&documents::PolicyHistory);
        matches(&documents::PublishPolicy);
        matches(&documents::SubmitCertificate);
        matches(&documents::SubmitRevocation);
        matches(&documents::SubmitCharter);
        matches(&documents::SubmitManifest);
        matches(&documents::SubmitConsent);
        let hash = "sha256:00".to_string();
        matches(&documents::GetCertificate { hash: hash.clone() });
        matches(&documents::GetRevocation { hash });
        matches(&query::QueryParams {
            deadline_ms: Some(5),
        });
        matches(&region::ListRegions);
        matches(&region::ShowRegion { id: "a/b".into() });
    }

    #[test]
    fn a_query_refusal_is_told_from_an_error_body() {
        let error = serde_json::json!({"error": {"code": "region.unknown", "message": "no"}});
        assert!(matches!(
            serde_json::from_value(error).unwrap(),
            query::QueryRefusal::Refused(_)
        ));
        let reply = serde_json::json!({"query": "q", "queryHash": format!("sha256:{}", "0".repeat(64)),
            "region": "r", "result": null, "csv": null, "coverage": [0, 1], "provenance": [], "answers": [],
            "error": {"code": "query.no_answer", "message": "none"}});
        assert!(matches!(
            serde_json::from_value(reply).unwrap(),
            query::QueryRefusal::NoAnswer(_)
        ));
    }

    #[test]
    fn encodes_reserved_characters() {
        assert_eq!(encode("did:key:z6M k/ä"), "did%3Akey%3Az6M%20k%2F%C3%A4");
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
    }
}
