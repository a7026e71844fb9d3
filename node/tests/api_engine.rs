//! The engine's HTTP routes on one node, in process: documents published over HTTP, then
//! signed queries coordinated over the region (here: this node alone, no network) and
//! answered (200, exact count, coverage, provenance) or refused (403 with the reason code
//! and the signed refusal among the answers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{Duration, Utc};
use regio_demo::{data, region};
use regio_node::api::{self, AdminToken, AppState, Metrics};
use regio_node::config::Config;
use regio_node::engine::Engine;
use regio_policy::decision::Limits;
use regio_query::schema::Value as Cell;
use regio_store::Store;
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
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
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
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
    let d = data::municipality(0, 3, data::SENSORS);
    let consenting: Vec<String> = d
        .consent
        .iter()
        .filter(|c| c.withdrawn_at.is_none())
        .map(|c| c.subject.clone())
        .collect();
    let expected = d
        .rows
        .iter()
        .filter(|r| match &r[3] {
            Cell::Str(s) => consenting.contains(s),
            _ => true,
        })
        .count() as i64;
    store.append_rows("readings", d.rows).unwrap();
    store
        .put_consents(d.consent, now.timestamp_micros())
        .unwrap();
    let key = actors.nodes[0].clone();
    let engine = Engine::open(store.clone(), key.clone(), [], Limits::default()).unwrap();
    let state = AppState {
        store,
        engine: Arc::new(engine),
        key: Arc::new(key),
        config: Arc::new(Config::new("44021", "Gent")),
        token: Arc::new(AdminToken::parse(TOKEN).unwrap()),
        metrics: Arc::new(Metrics::new().unwrap()),
        net: None,
    };
    Setup {
        app: api::router(state),
        actors,
        docs,
        expected,
    }
}

async fn publish(s: &Setup) {
    let (st, v) = call(
        &s.app,
        "POST",
        "/v1/policy",
        Some(TOKEN),
        s.docs.policies[0].raw().to_string(),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["version"], 1);
    for (uri, doc) in [
        ("/v1/charters", s.docs.charter.raw()),
        ("/v1/regions", s.docs.manifest.raw()),
        ("/v1/certificates", s.docs.certificate.raw()),
    ] {
        let (st, v) = call(&s.app, "POST", uri, Some(TOKEN), doc.to_string()).await;
        assert_eq!(st, StatusCode::CREATED, "{uri}: {v}");
    }
}

fn query(s: &Setup, sql: &str, cert: bool) -> String {
    let origin = s.actors.nodes[0].did();
    region::query(
        &s.actors.app,
        origin,
        "ResearchAndDevelopment",
        sql,
        cert.then(|| s.docs.certificate.hash()),
        Utc::now(),
    )
    .unwrap()
    .to_string()
}

#[tokio::test]
async fn a_published_node_answers_with_the_exact_count() {
    let s = node();
    publish(&s).await;
    let (st, v) = call(
        &s.app,
        "POST",
        "/v1/query",
        None,
        query(&s, "SELECT count(*) AS n FROM readings", true),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["result"]["rows"][0][0], s.expected, "{v}");
    assert_eq!(v["csv"], format!("n\n{}\n", s.expected));
    assert_eq!(v["coverage"], serde_json::json!([1, 1]), "{v}");
    assert_eq!(v["region"], region::REGION);
    let line = &v["provenance"][0];
    assert_eq!(
        (
            line["status"].as_str(),
            line["name"].as_str(),
            line["policyVersion"].as_u64()
        ),
        (Some("answered"), Some("Gent"), Some(1)),
        "{v}"
    );
    assert_eq!(v["answers"].as_array().map(Vec::len), Some(1), "{v}");
    let signed = regio_policy::Signed::<regio_policy::doc::query::PartialAnswer>::from_json(
        v["answers"][0].to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(line["answer"], serde_json::json!(signed.hash()));
    assert!(v.get("error").is_none(), "{v}");
    let (st, v) = call(&s.app, "GET", "/v1/policy", None, Body::empty()).await;
    assert_eq!((st, &v["version"]), (StatusCode::OK, &Value::from(1)));
    let (st, v) = call(&s.app, "GET", "/v1/policy/history", None, Body::empty()).await;
    assert_eq!((st, v.as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
}

#[tokio::test]
async fn a_query_without_certificate_is_refused_with_a_signed_refusal() {
    let s = node();
    publish(&s).await;
    let (st, v) = call(
        &s.app,
        "POST",
        "/v1/query",
        None,
        query(&s, "SELECT count(*) AS n FROM readings", false),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "certificate.missing");
    assert_eq!(v["coverage"], serde_json::json!([0, 1]), "{v}");
    assert_eq!(
        (v["result"].clone(), v["csv"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(v["provenance"][0]["status"], "refused", "{v}");
    assert_eq!(v["provenance"][0]["reason"], "certificate.missing", "{v}");
    let answer = &v["answers"][0];
    assert!(
        answer["proof"].is_object() || answer["proof"].is_array(),
        "{v}"
    );
}

#[tokio::test]
async fn a_forged_query_or_a_foreign_region_is_403_with_only_the_reason() {
    let s = node();
    publish(&s).await;
    let mut forged: Value =
        serde_json::from_str(&query(&s, "SELECT count(*) AS n FROM readings", true)).unwrap();
    forged["sql"] = "SELECT count(*) AS m FROM readings".into();
    let (st, v) = call(&s.app, "POST", "/v1/query", None, forged.to_string()).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("signature.invalid")),
        "{v}"
    );
    assert!(
        v.get("provenance").is_none() && v.get("answers").is_none(),
        "{v}"
    );

    let q = regio_policy::doc::query::Query {
        id: "urn:uuid:elsewhere".into(),
        region: "elders-region".into(),
        origin: s.actors.nodes[0].did().clone(),
        purpose: "ResearchAndDevelopment".into(),
        sql: "SELECT count(*) AS n FROM readings".into(),
        certificate: None,
        issued: Utc::now(),
        expires: Utc::now() + Duration::seconds(60),
        nonce: "00ff".repeat(8),
        traceparent: None,
    };
    let q = regio_policy::Signed::sign(q, &s.actors.app, Utc::now()).unwrap();
    let (st, v) = call(&s.app, "POST", "/v1/query", None, q.raw().to_string()).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("region.unknown")),
        "{v}"
    );
    assert!(v.get("provenance").is_none(), "{v}");

    let (st, v) = call(
        &s.app,
        "POST",
        "/v1/query?deadline_ms=60001",
        None,
        query(&s, "SELECT count(*) AS n FROM readings", true),
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("request.bad_query")),
        "{v}"
    );
    let (st, v) = call(
        &s.app,
        "POST",
        "/v1/query?deadline_ms=2000",
        None,
        query(&s, "SELECT count(*) AS n FROM readings", true),
    )
    .await;
    assert_eq!(
        (st, v["coverage"].clone()),
        (StatusCode::OK, serde_json::json!([1, 1])),
        "{v}"
    );
}

#[tokio::test]
async fn regions_list_this_node_with_its_policy_head() {
    let s = node();
    let (st, v) = call(&s.app, "GET", "/v1/regions", None, Body::empty()).await;
    assert_eq!((st, v), (StatusCode::OK, serde_json::json!([])));
    publish(&s).await;
    let (st, v) = call(
        &s.app,
        "GET",
        &format!("/v1/regions/{}", region::REGION),
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["id"].as_str(),
            v["version"].as_u64(),
            v["threshold"].as_u64()
        ),
        (Some(region::REGION), Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(v["charter"], serde_json::json!(s.docs.charter.hash()));
    let m = &v["members"][0];
    assert_eq!(
        (
            m["self"].as_bool(),
            m["connected"].as_bool(),
            m["name"].as_str()
        ),
        (Some(true), Some(true), Some("Gent")),
        "{v}"
    );
    assert_eq!(
        m["policyHead"],
        serde_json::json!({"version": 1, "hash": s.docs.policies[0].hash()})
    );
    assert_eq!(m["equivocation"], serde_json::json!([]));
    let (st, v) = call(&s.app, "GET", "/v1/regions/nowhere", None, Body::empty()).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("region.unknown")),
        "{v}"
    );
}

#[tokio::test]
async fn policy_needs_the_token_and_bad_documents_are_400() {
    let s = node();
    let (st, v) = call(&s.app, "GET", "/v1/policy", None, Body::empty()).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("policy.missing"))
    );
    let (st, v) = call(
        &s.app,
        "POST",
        "/v1/policy",
        None,
        s.docs.policies[0].raw().to_string(),
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("auth.missing_token"))
    );
    let (st, _) = call(&s.app, "GET", "/v1/policy", None, Body::empty()).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "policy unchanged");
    let mut forged = s.docs.policies[0].raw().clone();
    forged["version"] = 2.into();
    let (st, v) = call(
        &s.app,
        "POST",
        "/v1/policy",
        Some(TOKEN),
        forged.to_string(),
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("document.invalid")),
        "{v}"
    );
    publish(&s).await;
    let (st, v) = call(
        &s.app,
        "POST",
        "/v1/policy",
        Some(TOKEN),
        s.docs.policies[0].raw().to_string(),
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("policy.chain")),
        "{v}"
    );
}

/// Node 0's version-1 policy with `edit` applied, signed.
fn policy_with(s: &Setup, edit: impl Fn(&mut regio_policy::doc::bundle::PolicyBundle)) -> String {
    let mut doc = s.docs.policies[0].doc().clone();
    edit(&mut doc);
    regio_policy::Signed::sign(doc, &s.actors.nodes[0], Utc::now())
        .unwrap()
        .raw()
        .to_string()
}

#[tokio::test]
async fn a_policy_or_dataset_that_disagrees_on_the_subject_is_400_and_stores_nothing() {
    let s = node();
    let other = policy_with(&s, |d| {
        d.datasets[0].subject_field = Some("sensor_id".into())
    });
    let (st, v) = call(&s.app, "POST", "/v1/policy", Some(TOKEN), other).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "policy.subject_mismatch", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("`readings`") && msg.contains("`sensor_id`"),
        "{msg}"
    );
    let (st, _) = call(&s.app, "GET", "/v1/policy", None, Body::empty()).await;
    assert_ne!(st, StatusCode::OK, "no policy was stored");

    // A personal dataset named before it exists: its schema must agree when it is created.
    let visits = policy_with(&s, |d| {
        let mut v = d.datasets[0].clone();
        v.name = "visits".into();
        d.datasets.push(v);
    });
    let (st, v) = call(&s.app, "POST", "/v1/policy", Some(TOKEN), visits).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let mut schema = serde_json::to_value(data::readings_schema()).unwrap();
    schema["dataset"] = "visits".into();
    schema["subject"] = Value::Null;
    let (st, v) = call(
        &s.app,
        "POST",
        "/v1/datasets",
        Some(TOKEN),
        schema.to_string(),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "dataset.subject_mismatch", "{v}");
    let (_, list) = call(&s.app, "GET", "/v1/datasets", None, Body::empty()).await;
    assert!(!list.to_string().contains("\"visits\""), "{list}");
}
