//! The OpenAPI document (`GET /v1/openapi.json`) against the router and the contract: the
//! document describes exactly the routes of `regio_http::ROUTES`, the router serves every
//! one of them, admin routes carry the `admin_token` security requirement, and every
//! operation documents its error bodies. A route added without documentation fails here:
//! the API's sources register routes only through utoipa-axum's `routes!`
//! (`no_route_outside_the_documented_list`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use regio_http::{Method, ROUTES};
use regio_node::api::{self, AdminToken, AppState, Metrics};
use regio_node::config::Config;
use regio_node::engine::Engine;
use regio_policy::decision::Limits;
use regio_policy::Key;
use regio_store::Store;
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn app() -> Router {
    let store = Store::memory();
    let key = Key::generate().unwrap();
    let engine = Engine::open(store.clone(), key.clone(), [], Limits::default()).unwrap();
    api::router(AppState {
        store,
        engine: Arc::new(engine),
        key: Arc::new(key),
        config: Arc::new(Config::new("44021", "Gent")),
        token: Arc::new(AdminToken::parse(TOKEN).unwrap()),
        metrics: Arc::new(Metrics::new().unwrap()),
        net: None,
    })
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

async fn document() -> Value {
    let (status, bytes) = get(&app(), "/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_slice(&bytes).unwrap()
}

/// `(METHOD, path)` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

fn contract() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_string(), r.path.to_string()))
        .collect()
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_names_every_route_of_the_contract() {
    let doc = document().await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(operations(&doc), contract());
    assert_eq!(
        ROUTES.len(),
        28,
        "a route was added: document it and count it here"
    );
}

#[tokio::test]
async fn the_router_serves_every_documented_route() {
    let app = app();
    for r in ROUTES {
        let uri = r
            .path
            .replace("{name}", "readings")
            .replace("{id}", "nowhere")
            .replace("{hash}", "sha256:00");
        let method = match r.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        let req = Request::builder()
            .method(method)
            .uri(&uri)
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_ne!(body["error"]["code"], "route.unknown", "{method} {uri}");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
    }
}

#[tokio::test]
async fn admin_routes_need_the_token_and_say_so() {
    let doc = document().await;
    assert!(doc["components"]["securitySchemes"]["admin_token"]["scheme"] == "bearer");
    for r in ROUTES {
        let op = &doc["paths"][r.path][r.method.as_str().to_lowercase()];
        let secured = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s.get("admin_token").is_some()));
        assert_eq!(secured, r.admin, "{} {}", r.method.as_str(), r.path);
        if r.admin {
            assert!(
                op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
                    .is_some_and(|s| s.ends_with("/ErrorBody")),
                "{} {}: 401 with the error body",
                r.method.as_str(),
                r.path
            );
        }
    }
}

#[tokio::test]
async fn every_operation_documents_its_errors_and_parameters() {
    let doc = document().await;
    for r in ROUTES {
        let op = &doc["paths"][r.path][r.method.as_str().to_lowercase()];
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{}: a success",
            r.path
        );
        // Every route but the three that cannot fail (health, the regions list, this
        // document) names at least one error answer, with the error body.
        let errors: Vec<&String> = responses.keys().filter(|s| !s.starts_with('2')).collect();
        let infallible = ["/health", "/v1/openapi.json"].contains(&r.path)
            || (r.path == "/v1/regions" && r.method == Method::Get);
        assert!(
            infallible || !errors.is_empty(),
            "{} {}: errors",
            r.method.as_str(),
            r.path
        );
        for path_param in ["{name}", "{id}", "{hash}"] {
            if r.path.contains(path_param) {
                let name = path_param.trim_matches(['{', '}']);
                let params = op["parameters"].as_array().unwrap();
                assert!(params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path"));
            }
        }
    }
    // The query parameters, as the handlers parse them.
    let params = |path: &str, method: &str| -> BTreeSet<String> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
    assert_eq!(params("/v1/audit", "get"), set(&["from", "limit"]));
    assert_eq!(
        params("/v1/datasets/{name}/records", "post"),
        set(&["format", "skip_invalid"])
    );
    assert_eq!(
        params("/v1/consent/import", "post"),
        set(&["format", "skip_invalid"])
    );
    assert_eq!(params("/v1/consent/history", "get"), set(&["subject"]));
    assert_eq!(params("/v1/query", "post"), set(&["deadline_ms"]));
}

#[test]
fn no_route_outside_the_documented_list() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for bypass in [
                ".route(",
                ".route_service(",
                ".nest(",
                ".nest_service(",
                ".merge(",
            ] {
                assert!(
                    !code.contains(bypass),
                    "{}:{}: `{bypass}` adds a route the OpenAPI document does not describe; use `.routes(routes!(handler))` with a #[utoipa::path] handler",
                    path.display(),
                    i + 1
                );
            }
        }
    }
}
