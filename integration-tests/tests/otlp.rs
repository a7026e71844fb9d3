//! OpenTelemetry export of a federated query (issue 6, "Done when"): an OTLP/HTTP receiver
//! (axum on 127.0.0.1, `POST /v1/traces`, JSON) collects what the nodes export while one
//! signed query, carrying a W3C `traceparent`, runs across three real nodes (engines on
//! sled in one process, libp2p on loopback, one tracer provider for the process: the nodes
//! are told apart by the `node.did` attribute). The export holds one trace with the
//! application's trace id, in which the coordinator's span, one request span per member
//! and an answer span from each of the three nodes appear, each with its decision and
//! filter counts. A query without `traceparent` starts a trace at the coordinator that its
//! own answer joins, while the other members answer in traces of their own.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use chrono::Utc;
use regio_demo::cluster::LiveRegion;
use regio_demo::region::{self, Actors};
use regio_node::engine::Engine;
use regio_node::federation::Status;
use regio_node::telemetry::{self, Telemetry};
use regio_policy::doc::query::Query;
use regio_policy::Signed;
use regio_store::Store;
use serde_json::Value;

const N: usize = 3;

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct Span {
    trace: String,
    id: String,
    parent: String,
    name: String,
    attrs: BTreeMap<String, String>,
}

fn attr_value(v: &Value) -> String {
    for k in ["stringValue", "intValue", "boolValue", "doubleValue"] {
        match v.get(k) {
            Some(Value::String(s)) => return s.clone(),
            Some(other) if !other.is_null() => return other.to_string(),
            _ => {}
        }
    }
    v.to_string()
}

/// Every span in the OTLP/JSON bodies received.
fn spans(bodies: &[Value]) -> Vec<Span> {
    let mut out = Vec::new();
    for body in bodies {
        for rs in body["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let attrs = s["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            (
                                a["key"].as_str().unwrap_or("").to_owned(),
                                attr_value(&a["value"]),
                            )
                        })
                        .collect();
                    let text = |k: &str| s[k].as_str().unwrap_or("").to_owned();
                    out.push(Span {
                        trace: text("traceId").to_lowercase(),
                        id: text("spanId").to_lowercase(),
                        parent: text("parentSpanId").to_lowercase(),
                        name: text("name"),
                        attrs,
                    });
                }
            }
        }
    }
    out
}

/// Starts the receiver on its own thread; returns its base URL and what it received.
fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let store = got.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/v1/traces",
                post(move |body: Bytes| async move {
                    let v: Value = serde_json::from_slice(&body)
                        .unwrap_or_else(|e| panic!("the exporter sent no OTLP JSON ({e})"));
                    store.lock().unwrap().push(v);
                    "{}"
                }),
            );
            axum::serve(tokio::net::TcpListener::from_std(listener).unwrap(), app)
                .await
                .unwrap();
        });
    });
    (format!("http://{addr}"), got)
}

/// A signed query of the certified application with a `traceparent` (or none).
fn query(
    actors: &Actors,
    docs: &region::Documents,
    origin: &regio_policy::Did,
    traceparent: Option<String>,
) -> Value {
    let now = Utc::now();
    // 32 random hex digits (a fresh trace id is exactly that).
    let nonce = telemetry::new_traceparent()[3..35].to_owned();
    let q = Query {
        id: format!("urn:uuid:otlp-{}", &nonce[..12]),
        region: region::REGION.into(),
        origin: origin.clone(),
        purpose: "ResearchAndDevelopment".into(),
        sql: "SELECT count(*) AS n FROM readings".into(),
        certificate: Some(docs.certificate.hash()),
        issued: now,
        expires: now + chrono::Duration::seconds(60),
        nonce,
        traceparent,
    };
    Signed::sign(q, &actors.app, now).unwrap().raw().clone()
}

/// Waits until the received spans satisfy `done`; returns them.
fn wait_for(
    t: &Telemetry,
    got: &Mutex<Vec<Value>>,
    what: &str,
    done: impl Fn(&[Span]) -> bool,
) -> Vec<Span> {
    let started = Instant::now();
    loop {
        t.flush().unwrap();
        let all = spans(&got.lock().unwrap());
        if done(&all) {
            return all;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: not received within 20 s; got {all:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn one_federated_query_is_one_trace_with_spans_from_every_node() {
    let (url, got) = receiver();
    // Before any async runtime: the exporter's HTTP client is a blocking one.
    let telemetry = Telemetry::init(Some(&url), "otlp-test").unwrap();
    assert_eq!(
        telemetry.endpoint(),
        Some(format!("{url}/v1/traces").as_str())
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dirs: Vec<tempfile::TempDir> = (0..N).map(|_| tempfile::tempdir().unwrap()).collect();
    let stores = dirs
        .iter()
        .map(|d| Store::open_sled(d.path()).unwrap())
        .collect();
    let live = rt
        .block_on(LiveRegion::start(
            Actors::new(N),
            stores,
            3,
            regio_demo::data::SENSORS,
            Utc::now(),
        ))
        .unwrap();
    let (actors, docs) = (&live.actors, &live.docs);
    let engines: Vec<&Engine> = live.nodes.iter().map(|n| &*n.engine).collect();
    let dids: BTreeSet<String> = engines
        .iter()
        .map(|e| e.did().as_str().to_owned())
        .collect();

    // 1. With the application's traceparent: one trace, spans from all three nodes.
    let traceparent = telemetry::new_traceparent();
    let trace = telemetry::trace_id(&traceparent).unwrap().to_owned();
    let q = query(actors, docs, engines[1].did(), Some(traceparent.clone()));
    let id = q["id"].as_str().unwrap().to_owned();
    let r = rt
        .block_on(live.nodes[1].coordinate(q, Duration::from_secs(10)))
        .unwrap();
    assert_eq!(r.coverage, (N, N), "{:#?}", r.provenance);
    let all = wait_for(
        &telemetry,
        &got,
        "answer spans of all three nodes in the app's trace",
        |all| {
            all.iter()
                .filter(|s| s.trace == trace && s.name == "regio.answer")
                .count()
                == N
                && all
                    .iter()
                    .any(|s| s.name == "regio.coordinate" && s.attrs.get("query.id") == Some(&id))
        },
    );
    let ours: Vec<&Span> = all
        .iter()
        .filter(|s| {
            s.attrs.get("query.id") == Some(&id)
                || (s.attrs.contains_key("member.did") && s.trace == trace)
        })
        .collect();
    assert!(
        ours.iter().all(|s| s.trace == trace),
        "spans of the query outside the app's trace: {ours:#?}"
    );
    let answers: Vec<&&Span> = ours.iter().filter(|s| s.name == "regio.answer").collect();
    let answering: BTreeSet<String> = answers
        .iter()
        .map(|s| s.attrs["node.did"].clone())
        .collect();
    assert_eq!(answering, dids, "one answer span per node");
    for p in &r.provenance {
        let a = answers
            .iter()
            .find(|s| s.attrs["node.did"] == p.member.as_str())
            .unwrap();
        assert_eq!(p.status, Status::Answered);
        assert_eq!(a.attrs["query.decision"], "answered", "{a:#?}");
        assert_eq!(
            a.attrs["query.rows_scanned"],
            p.rows_scanned.to_string(),
            "{a:#?}"
        );
        assert_eq!(
            a.attrs["query.rows_excluded_by_consent"],
            p.rows_excluded_by_consent.to_string(),
            "{a:#?}"
        );
        assert_eq!(
            a.attrs["query.groups_suppressed"],
            p.groups_suppressed.to_string(),
            "{a:#?}"
        );
        // The span carries what the application received (personal data: withheld); the
        // member's own audit log keeps the exact count of rows left out for lack of consent.
        assert_eq!(p.rows_excluded_by_consent, 0);
        let engine = engines.iter().find(|e| e.did() == &p.member).unwrap();
        let answer = p.answer.unwrap().to_string();
        let log = engine.store().audit_range(1, u64::MAX).unwrap();
        let entry = log
            .iter()
            .find(|e| e.body["answer"].as_str() == Some(answer.as_str()))
            .unwrap();
        assert!(entry.body["rowsExcludedByConsent"].as_u64().unwrap() > 0);
        // Every member's answer hangs directly under the application's span.
        assert_eq!(a.parent, traceparent[36..52].to_string(), "{a:#?}");
    }
    let coord = ours.iter().find(|s| s.name == "regio.coordinate").unwrap();
    assert_eq!(coord.attrs["node.did"], engines[1].did().as_str());
    assert_eq!(
        (
            coord.attrs["query.members"].as_str(),
            coord.attrs["query.answered"].as_str(),
            coord.attrs["query.missing"].as_str()
        ),
        ("3", "3", "")
    );
    let requests: Vec<&&Span> = ours
        .iter()
        .filter(|s| s.name == "regio.member_request")
        .collect();
    assert_eq!(requests.len(), N, "{requests:#?}");
    assert!(
        requests
            .iter()
            .all(|s| s.parent == coord.id && s.attrs["member.reply"] == "answer"),
        "{requests:#?}"
    );

    // 2. Without traceparent: the coordinator's span is a root; its own answer joins its
    //    trace, the other members answer in traces of their own.
    let q = query(actors, docs, engines[0].did(), None);
    let id = q["id"].as_str().unwrap().to_owned();
    let r = rt
        .block_on(live.nodes[0].coordinate(q, Duration::from_secs(10)))
        .unwrap();
    assert_eq!(r.coverage, (N, N));
    let all = wait_for(
        &telemetry,
        &got,
        "spans of the query without traceparent",
        |all| {
            all.iter()
                .filter(|s| s.name == "regio.answer" && s.attrs.get("query.id") == Some(&id))
                .count()
                == N
                && all
                    .iter()
                    .any(|s| s.name == "regio.coordinate" && s.attrs.get("query.id") == Some(&id))
        },
    );
    let coord = all
        .iter()
        .find(|s| s.name == "regio.coordinate" && s.attrs.get("query.id") == Some(&id))
        .unwrap();
    assert_eq!(coord.parent, "", "the coordinator's span is a root");
    for a in all
        .iter()
        .filter(|s| s.name == "regio.answer" && s.attrs.get("query.id") == Some(&id))
    {
        let own = a.attrs["node.did"] == engines[0].did().as_str();
        assert_eq!(a.trace == coord.trace, own, "{a:#?}");
    }
    telemetry.shutdown().unwrap();
}
