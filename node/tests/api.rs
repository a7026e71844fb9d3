//! HTTP API tests, in process (`tower::ServiceExt::oneshot` on the router over a memory
//! store): authentication, body limits, malformed input, skip-invalid, unknown datasets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use regio_node::api::{self, AdminToken, AppState, Metrics};
use regio_node::config::Config;
use regio_node::engine::Engine;
use regio_policy::decision::Limits;
use regio_policy::Key;
use regio_store::Store;
use tower::ServiceExt;

const TOKEN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/airquality-n2-r1200-s7/readings_44021.ndjson"
);
const CONSENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/airquality-n2-r1200-s7/consent_44021.ndjson"
);

fn app_with(max_body: usize) -> (Router, Store) {
    let store = Store::memory();
    let mut config = Config::new("44021", "Gent");
    config.max_body_bytes = max_body;
    let key = Key::generate().unwrap();
    let engine = Engine::open(store.clone(), key.clone(), [], Limits::default()).unwrap();
    let state = AppState {
        store: store.clone(),
        engine: Arc::new(engine),
        key: Arc::new(key),
        config: Arc::new(config),
        token: Arc::new(AdminToken::parse(TOKEN).unwrap()),
        metrics: Arc::new(Metrics::new().unwrap()),
        net: None,
    };
    (api::router(state), store)
}

fn app() -> (Router, Store) {
    app_with(1 << 20)
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, json)
}

async fn with_readings() -> (Router, Store) {
    let (app, store) = app();
    let schema = serde_json::to_vec(&support::readings_schema()).unwrap();
    let (s, _) = call(&app, "POST", "/v1/datasets", Some(TOKEN), schema).await;
    assert_eq!(s, StatusCode::CREATED);
    (app, store)
}

fn records(store: &Store) -> u64 {
    store.dataset("readings").unwrap().records
}

fn code(v: &serde_json::Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn health_and_listing_are_public() {
    let (app, _) = with_readings().await;
    let (s, v) = call(&app, "GET", "/health", None, Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["did"].as_str().unwrap().starts_with("did:key:z6Mk"));
    let (s, v) = call(&app, "GET", "/v1/datasets", None, Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v[0]["schema"]["dataset"], "readings");
    assert_eq!(v[0]["records"], 0);
}

#[tokio::test]
async fn missing_or_bad_token_is_401_and_writes_nothing() {
    let (app, store) = with_readings().await;
    let body = std::fs::read(FIXTURE).unwrap();
    let (s, v) = call(
        &app,
        "POST",
        "/v1/datasets/readings/records",
        None,
        body.clone(),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNAUTHORIZED, "auth.missing_token")
    );
    let bad = TOKEN.replace('0', "1");
    let (s, v) = call(
        &app,
        "POST",
        "/v1/datasets/readings/records",
        Some(&bad),
        body.clone(),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "auth.bad_token"));
    let (s, v) = call(
        &app,
        "POST",
        "/v1/consent/import",
        Some("short"),
        std::fs::read(CONSENT).unwrap(),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "auth.bad_token"));
    let schema =
        serde_json::json!({"dataset": "other", "fields": [{"name": "x", "type": "integer"}]})
            .to_string();
    let (s, _) = call(&app, "POST", "/v1/datasets", None, schema).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = call(&app, "GET", "/v1/audit", None, Body::empty()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(records(&store), 0);
    assert_eq!(store.datasets().unwrap().len(), 1);
    assert!(store.audit_head().unwrap().is_none());
}

#[tokio::test]
async fn fixture_ingests_and_counts() {
    let (app, store) = with_readings().await;
    let body = std::fs::read(FIXTURE).unwrap();
    let lines = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;
    let (s, v) = call(
        &app,
        "POST",
        "/v1/datasets/readings/records?format=ndjson",
        Some(TOKEN),
        body,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["stored"], lines);
    assert_eq!(records(&store), lines);
    let (_, m) = call(&app, "GET", "/metrics", None, Body::empty()).await;
    let m = m.as_str().unwrap();
    assert!(
        m.contains(&format!("regio_ingest_records_total {lines}")),
        "{m}"
    );
    assert!(
        m.contains("regio_dataset_records{dataset=\"readings\"}"),
        "{m}"
    );
    assert!(m.contains("route=\"/v1/datasets/{name}/records\""), "{m}");
}

#[tokio::test]
async fn oversize_body_is_413() {
    let (app, store) = app_with(4096);
    let schema = serde_json::to_vec(&support::readings_schema()).unwrap();
    call(&app, "POST", "/v1/datasets", Some(TOKEN), schema).await;
    let body = std::fs::read(FIXTURE).unwrap();
    let (s, v) = call(
        &app,
        "POST",
        "/v1/datasets/readings/records",
        Some(TOKEN),
        body,
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "request.too_large")
    );
    assert_eq!(records(&store), 0);
}

#[tokio::test]
async fn malformed_ndjson_names_line_and_field_and_stores_nothing() {
    let (app, store) = with_readings().await;
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let mut lines: Vec<String> = text.lines().take(20).map(String::from).collect();
    // Line 17: no2 is a string.
    let mut obj: serde_json::Value = serde_json::from_str(text.lines().nth(16).unwrap()).unwrap();
    obj["no2"] = "x".into();
    lines[16] = obj.to_string();
    let (s, v) = call(
        &app,
        "POST",
        "/v1/datasets/readings/records",
        Some(TOKEN),
        lines.join("\n"),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "ingest.invalid_line"),
        "{v}"
    );
    assert_eq!(v["error"]["details"]["line"], 17);
    assert_eq!(v["error"]["details"]["field"], "no2");
    assert_eq!(v["error"]["details"]["found"], "\"x\"");
    assert_eq!(records(&store), 0);
    let (s, v) = call(
        &app,
        "POST",
        "/v1/datasets/readings/records",
        Some(TOKEN),
        "{\"id\": \n",
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "ingest.invalid_line")
    );
    assert_eq!(v["error"]["details"]["line"], 1);
    assert_eq!(records(&store), 0);
}

#[tokio::test]
async fn malformed_csv_names_line_and_field_and_stores_nothing() {
    let (app, store) = with_readings().await;
    let csv = "id,municipality,sensor_id,subject,observed_at,no2,pm25,pm10,lat,lon\n\
               a,44021,s1,,2024-01-01T00:00:00Z,1.5,2,3,51.0,3.7\n\
               b,44021,s1,,not-a-time,1.5,2,3,51.0,3.7\n";
    let (s, v) = call(
        &app,
        "POST",
        "/v1/datasets/readings/records?format=csv",
        Some(TOKEN),
        csv,
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "ingest.invalid_line"),
        "{v}"
    );
    assert_eq!(v["error"]["details"]["line"], 3);
    assert_eq!(v["error"]["details"]["field"], "observed_at");
    assert_eq!(records(&store), 0);
    let bad_header = "id,municipality,bogus\n1,2,3\n";
    let (s, v) = call(
        &app,
        "POST",
        "/v1/datasets/readings/records?format=csv",
        Some(TOKEN),
        bad_header,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["details"]["line"], 1);
    assert_eq!(records(&store), 0);
}

#[tokio::test]
async fn skip_invalid_stores_valid_rows_and_reports_every_bad_line() {
    let (app, store) = with_readings().await;
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let mut lines: Vec<String> = text.lines().take(30).map(String::from).collect();
    for i in [2usize, 9, 24] {
        let mut obj: serde_json::Value = serde_json::from_str(&lines[i]).unwrap();
        obj["pm10"] = serde_json::json!([1]);
        lines[i] = obj.to_string();
    }
    lines[12] = "not json".into();
    let uri = "/v1/datasets/readings/records?format=ndjson&skip_invalid=true";
    let (s, v) = call(&app, "POST", uri, Some(TOKEN), lines.join("\n")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["stored"], 26);
    let got: Vec<u64> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(got, vec![3, 10, 13, 25]);
    assert_eq!(v["rejected"][0]["field"], "pm10");
    assert_eq!(records(&store), 26);
}

#[tokio::test]
async fn unknown_dataset_is_404_and_duplicate_is_409() {
    let (app, _) = with_readings().await;
    let (s, v) = call(
        &app,
        "POST",
        "/v1/datasets/nope/records",
        Some(TOKEN),
        "{}\n",
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "dataset.unknown"));
    let schema = serde_json::to_vec(&support::readings_schema()).unwrap();
    let (s, v) = call(&app, "POST", "/v1/datasets", Some(TOKEN), schema).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "dataset.exists"));
    let (s, v) = call(
        &app,
        "POST",
        "/v1/datasets",
        Some(TOKEN),
        "{\"dataset\": 1}",
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "request.bad_json"));
    let (s, v) = call(
        &app,
        "POST",
        "/v1/datasets/readings/records?format=xml",
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "request.bad_query")
    );
    let (s, v) = call(&app, "GET", "/v2/nothing", None, Body::empty()).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "route.unknown"));
}

#[tokio::test]
async fn consent_import_is_audited_and_verifiable() {
    let (app, store) = with_readings().await;
    let body = std::fs::read(CONSENT).unwrap();
    let n = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;
    let (s, v) = call(
        &app,
        "POST",
        "/v1/consent/import?format=ndjson",
        Some(TOKEN),
        body,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["imported"], n);
    let (s, v) = call(
        &app,
        "POST",
        "/v1/consent/import?format=ndjson",
        Some(TOKEN),
        "{\"subject\":\"a\"}\n",
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "ingest.invalid_line")
    );
    let (s, v) = call(
        &app,
        "GET",
        "/v1/audit?from=1&limit=10",
        Some(TOKEN),
        Body::empty(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
    assert_eq!(v["entries"][0]["kind"], "consent_changed");
    let (_, v) = call(&app, "GET", "/v1/audit/verify", Some(TOKEN), Body::empty()).await;
    assert_eq!(
        (v["ok"].as_bool(), v["entries"].as_u64()),
        (Some(true), Some(1))
    );
    assert_eq!(store.audit_head().unwrap().unwrap().seq, 1);
}
