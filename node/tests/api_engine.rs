//! The engine's HTTP routes on one node, in process: documents published over HTTP, then
//! signed queries answered (200, exact count) or refused (403 with the signed refusal).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{Duration, Utc};
use regio_node::api::{self, AdminToken, AppState, Metrics};
use regio_node::config::Config;
use regio_node::demo::{data, region};
use regio_node::engine::Engine;
use regio_node::policy::decision::Limits;
use regio_node::schema::Value as Cell;
use regio_node::store::Store;
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

async fn call(app: &Router, method: &str, uri: &str, token: Option<&str>, body: impl Into<Body>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app.clone().oneshot(req.body(body.into()).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

struct Setup {
    app: Router,
    actors: region::Actors,
    docs: region::Documents,
    expected: i64,
}

/// One node (index 0, alone in the demo region) with data and consent in its store.
fn node() -> Setup {
    let actors = region::Actors::new(1);
    let now = Utc::now() - Duration::minutes(1);
    let docs = region::documents(&actors, &[vec![]], now).unwrap();
    let store = Store::memory();
    store.create_dataset(&data::readings_schema()).unwrap();
    let d = data::municipality(0, 3, 20);
    let consenting: Vec<String> = d.consent.iter().filter(|c| c.withdrawn_at.is_none()).map(|c| c.subject.clone()).collect();
    let expected = d
        .rows
        .iter()
        .filter(|r| match &r[3] {
            Cell::Str(s) => consenting.contains(s),
            _ => true,
        })
        .count() as i64;
    store.append_rows("readings", d.rows).unwrap();
    store.put_consents(d.consent, now.timestamp_micros()).unwrap();
    let key = actors.nodes[0].clone();
    let engine = Engine::open(store.clone(), key.clone(), [], Limits::default()).unwrap();
    let state = AppState {
        store,
        engine: Arc::new(engine),
        key: Arc::new(key),
        config: Arc::new(Config::new("44021", "Gent")),
        token: Arc::new(AdminToken::parse(TOKEN).unwrap()),
        metrics: Arc::new(Metrics::new().unwrap()),
    };
    Setup { app: api::router(state), actors, docs, expected }
}

async fn publish(s: &Setup) {
    let (st, v) = call(&s.app, "POST", "/v1/policy", Some(TOKEN), s.docs.policies[0].raw().to_string()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["version"], 1);
    for (uri, doc) in [("/v1/charters", s.docs.charter.raw()), ("/v1/regions", s.docs.manifest.raw()), ("/v1/certificates", s.docs.certificate.raw())] {
        let (st, v) = call(&s.app, "POST", uri, Some(TOKEN), doc.to_string()).await;
        assert_eq!(st, StatusCode::CREATED, "{uri}: {v}");
    }
}

fn query(s: &Setup, sql: &str, cert: bool) -> String {
    let origin = s.actors.nodes[0].did();
    region::query(&s.actors.app, origin, "ResearchAndDevelopment", sql, cert.then(|| s.docs.certificate.hash()), Utc::now()).unwrap().to_string()
}

#[tokio::test]
async fn a_published_node_answers_with_the_exact_count() {
    let s = node();
    publish(&s).await;
    let (st, v) = call(&s.app, "POST", "/v1/query", None, query(&s, "SELECT count(*) AS n FROM readings", true)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["result"]["rows"][0][0], s.expected, "{v}");
    assert_eq!(v["csv"], format!("n\n{}\n", s.expected));
    assert!(v["answer"].is_object(), "{v}");
    let (st, v) = call(&s.app, "GET", "/v1/policy", None, Body::empty()).await;
    assert_eq!((st, &v["version"]), (StatusCode::OK, &Value::from(1)));
    let (st, v) = call(&s.app, "GET", "/v1/policy/history", None, Body::empty()).await;
    assert_eq!((st, v.as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
}

#[tokio::test]
async fn a_query_without_certificate_is_refused_with_a_signed_refusal() {
    let s = node();
    publish(&s).await;
    let (st, v) = call(&s.app, "POST", "/v1/query", None, query(&s, "SELECT count(*) AS n FROM readings", false)).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "certificate.missing");
    assert!(v["answer"]["proof"].is_object() || v["answer"]["proof"].is_array(), "{v}");
}

#[tokio::test]
async fn policy_needs_the_token_and_bad_documents_are_400() {
    let s = node();
    let (st, v) = call(&s.app, "GET", "/v1/policy", None, Body::empty()).await;
    assert_eq!((st, v["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("policy.missing")));
    let (st, v) = call(&s.app, "POST", "/v1/policy", None, s.docs.policies[0].raw().to_string()).await;
    assert_eq!((st, v["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("auth.missing_token")));
    let (st, _) = call(&s.app, "GET", "/v1/policy", None, Body::empty()).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "policy unchanged");
    let mut forged = s.docs.policies[0].raw().clone();
    forged["version"] = 2.into();
    let (st, v) = call(&s.app, "POST", "/v1/policy", Some(TOKEN), forged.to_string()).await;
    assert_eq!((st, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("document.invalid")), "{v}");
    publish(&s).await;
    let (st, v) = call(&s.app, "POST", "/v1/policy", Some(TOKEN), s.docs.policies[0].raw().to_string()).await;
    assert_eq!((st, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("policy.chain")), "{v}");
}
