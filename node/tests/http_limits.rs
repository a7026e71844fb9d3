//! The HTTP API's limits against outsiders and floods, on a real node (started from a node
//! directory like `regio node run`, API on loopback) spoken to over real TCP: oversized
//! query bodies and fields, slow headers and bodies (slowloris), connection caps, per-client
//! rate limits, admin-only audit verification, bounded metric labels, coarse record counts
//! of personal datasets. Every refusal is checked to have written nothing (audit log and
//! kept queries compared before and after).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::Utc;
use regio_demo::{data, region};
use regio_node::config::{CONFIG_FILE, KEY_FILE, TOKEN_FILE};
use regio_node::server::{self, Node, Running};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A node started from a fresh node directory whose config.toml ends with `extra`.
async fn node(actors: &region::Actors, extra: &str) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "nis = \"44021\"\nname = \"Gent\"\napi = \"127.0.0.1:0\"\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n{extra}"
    );
    std::fs::write(dir.path().join(CONFIG_FILE), config).unwrap();
    std::fs::write(dir.path().join(KEY_FILE), actors.nodes[0].to_file_json()).unwrap();
    std::fs::write(dir.path().join(TOKEN_FILE), TOKEN).unwrap();
    let node = Node::open(dir.path()).unwrap();
    (server::start(node.spec).await.unwrap(), dir)
}

/// One HTTP/1.1 exchange on a fresh connection: status, headers (lowercase names), body.
async fn http(
    r: &Running,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String, Value) {
    let mut s = TcpStream::connect(r.api).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) before the body is sent; a reset then is fine.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// What a refusal must not change: the audit log and the kept queries.
fn written(r: &Running) -> (usize, usize) {
    let store = &r.state.store;
    (
        store.audit_range(1, u64::MAX).unwrap().len(),
        store.signed_queries().unwrap().len(),
    )
}

/// Publishes the one-node region's documents, as the admin.
async fn publish(r: &Running, docs: &region::Documents) {
    for (uri, doc) in [
        ("/v1/policy", docs.policies[0].raw()),
        ("/v1/charters", docs.charter.raw()),
        ("/v1/regions", docs.manifest.raw()),
        ("/v1/certificates", docs.certificate.raw()),
    ] {
        let (st, _, v) = http(r, "POST", uri, Some(TOKEN), doc.to_string().as_bytes()).await;
        assert_eq!(st, 201, "{uri}: {v}");
    }
}

/// A signed query of the one-node region, its `field` set to `value` and signed again.
fn query_with(
    actors: &region::Actors,
    docs: &region::Documents,
    field: &str,
    value: Value,
) -> Value {
    let mut q = region::query(
        &actors.app,
        actors.nodes[0].did(),
        "ResearchAndDevelopment",
        "SELECT count(*) AS n FROM readings",
        Some(docs.certificate.hash()),
        Utc::now(),
    )
    .unwrap();
    q.as_object_mut().unwrap().remove("proof");
    q[field] = value;
    regio_policy::proof::add_proof(&mut q, &actors.app, Utc::now()).unwrap();
    q
}

#[tokio::test]
async fn an_oversized_query_body_is_413_json_and_writes_nothing() {
    let actors = region::Actors::new(1);
    let docs = region::documents(&actors, &[vec![]], Utc::now()).unwrap();
    let (r, _dir) = node(&actors, "").await;
    publish(&r, &docs).await;
    let before = written(&r);
    // A validly signed query padded to 100 KiB (its SQL, past the 64 KiB default limit).
    let sql = format!(
        "SELECT count(*) AS n FROM readings /*{}*/",
        "x".repeat(100 * 1024)
    );
    let q = query_with(&actors, &docs, "sql", Value::from(sql));
    let (st, _, v) = http(&r, "POST", "/v1/query", None, q.to_string().as_bytes()).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (413, Some("request.too_large")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("65536"),
        "{v}"
    );
    assert_eq!(written(&r), before);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn a_query_with_a_100_kib_id_is_400_naming_id_and_nothing_is_audited() {
    let actors = region::Actors::new(1);
    let docs = region::documents(&actors, &[vec![]], Utc::now()).unwrap();
    let (r, _dir) = node(&actors, "[http]\nquery_max_body_bytes = 1048576\n").await;
    publish(&r, &docs).await;
    let before = written(&r);
    for (field, len) in [
        ("id", 100 * 1024),
        ("traceparent", 4096),
        ("region", 1000),
        ("purpose", 500),
    ] {
        let q = query_with(&actors, &docs, field, Value::from("a".repeat(len)));
        let (st, _, v) = http(&r, "POST", "/v1/query", None, q.to_string().as_bytes()).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (400, Some("query.too_long")),
            "{field}: {v}"
        );
        assert_eq!(v["error"]["details"]["field"], field, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{field}`"))
                && message.contains(&format!("{len} bytes, the limit is")),
            "{message}"
        );
        assert_eq!(written(&r), before, "{field}: something was written");
    }
    // A well-formed query is fanned out and decided (here: refused, the node holds no
    // dataset) and audited.
    let q = query_with(&actors, &docs, "id", Value::from("urn:uuid:0123"));
    let (st, _, v) = http(&r, "POST", "/v1/query", None, q.to_string().as_bytes()).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("dataset.unknown")),
        "{v}"
    );
    assert_eq!(written(&r).0, before.0 + 1);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn slow_headers_are_cut_off_after_the_header_read_timeout() {
    let actors = region::Actors::new(1);
    // The default header read timeout (10 s): a slowloris on the defaults is closed.
    let (r, _dir) = node(&actors, "").await;
    let start = Instant::now();
    // One client trickles a header line every 500 ms; another sends nothing at all.
    let mut trickler = TcpStream::connect(r.api).await.unwrap();
    let mut silent = TcpStream::connect(r.api).await.unwrap();
    trickler
        .write_all(b"GET /health HTTP/1.1\r\n")
        .await
        .unwrap();
    let trickle = async {
        let mut i = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if trickler
                .write_all(format!("x-slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return start.elapsed();
            }
            let mut byte = [0u8; 1];
            // Closed by the server: a read returns 0 (or an error) at once.
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(1), trickler.read(&mut byte)).await
            {
                if n == 0 {
                    return start.elapsed();
                }
            }
            i += 1;
        }
    };
    let quiet = async {
        let mut buf = [0u8; 64];
        let _ = silent.read(&mut buf).await;
        start.elapsed()
    };
    let (trickled, quieted) = tokio::time::timeout(Duration::from_secs(14), async {
        tokio::join!(trickle, quiet)
    })
    .await
    .expect("a slow client still holds its connection 14 s later");
    for t in [trickled, quieted] {
        assert!(
            t >= Duration::from_secs(9) && t < Duration::from_secs(13),
            "closed after {t:?}"
        );
    }
    // The node still serves others.
    let (st, _, _) = http(&r, "GET", "/health", None, b"").await;
    assert_eq!(st, 200);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn connections_are_capped_and_slow_bodies_time_out() {
    let actors = region::Actors::new(1);
    let (r, _dir) = node(
        &actors,
        "[http]\nmax_connections = 3\nheader_read_timeout_ms = 1500\nbody_read_timeout_ms = 400\nrequest_timeout_ms = 1200\n",
    )
    .await;
    // Three idle connections take every slot: the fourth client waits until the header
    // timeout closes them.
    let idle: Vec<TcpStream> = futures::future::join_all((0..3).map(|_| TcpStream::connect(r.api)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    let (st, _, _) = http(&r, "GET", "/health", None, b"").await;
    let waited = start.elapsed();
    assert_eq!(st, 200);
    assert!(
        waited >= Duration::from_millis(1000),
        "served after {waited:?} although every slot was taken"
    );
    drop(idle);
    // A body that stops halfway: 408 once it paused longer than body_read_timeout_ms.
    let mut s = TcpStream::connect(r.api).await.unwrap();
    s.write_all(b"POST /v1/query HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"id\":").await.unwrap();
    let start = Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"request.timeout\""), "{text}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // A body that trickles under the body timeout but past the request timeout: 408 too.
    let mut s = TcpStream::connect(r.api).await.unwrap();
    s.write_all(b"POST /v1/query HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n").await.unwrap();
    let start = Instant::now();
    let reply = async {
        let mut out = Vec::new();
        loop {
            tokio::select! {
                n = s.read_buf(&mut out) => if n.unwrap_or(0) == 0 { break },
                () = tokio::time::sleep(Duration::from_millis(250)) => { let _ = s.write_all(b" ").await; }
            }
        }
        out
    };
    let out = tokio::time::timeout(Duration::from_secs(5), reply)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1100) && took < Duration::from_secs(3),
        "{took:?}"
    );
    r.stop().await.unwrap();
}

#[tokio::test]
async fn a_burst_without_the_token_is_429_while_the_admin_is_still_served() {
    let actors = region::Actors::new(1);
    let (r, _dir) = node(&actors, "").await;
    // The defaults: a burst of 200, then 50 per second. 300 requests, 30 at a time.
    let start = Instant::now();
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..10 {
        let wave = (0..30).map(|_| http(&r, "GET", "/health", None, b""));
        for (st, head, v) in futures::future::join_all(wave).await {
            if st == 429 && limited.is_none() {
                limited = Some((head, v));
            }
            statuses.push(st);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(statuses[..180].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(
        ok as f64 <= 200.0 + 50.0 * elapsed + 1.0,
        "{ok} served in {elapsed} s"
    );
    assert_eq!(
        ok + statuses.iter().filter(|s| **s == 429).count(),
        300,
        "{statuses:?}"
    );
    let (head, v) = limited.expect("no request was limited");
    assert_eq!(v["error"]["code"], "request.rate_limited", "{v}");
    assert!(head.contains("retry-after:"), "{head}");
    // The admin is never limited, also from the flooding address.
    for _ in 0..5 {
        let (st, _, v) = http(&r, "GET", "/v1/audit/verify", Some(TOKEN), b"").await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["ok"], true, "{v}");
    }
    r.stop().await.unwrap();
}

#[tokio::test]
async fn audit_verify_needs_the_admin_token() {
    let actors = region::Actors::new(1);
    let (r, _dir) = node(&actors, "").await;
    let (st, _, v) = http(&r, "GET", "/v1/audit/verify", None, b"").await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (401, Some("auth.missing_token")),
        "{v}"
    );
    let (st, _, v) = http(&r, "GET", "/v1/audit/verify", Some(&"f".repeat(64)), b"").await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (401, Some("auth.bad_token")),
        "{v}"
    );
    let (st, _, v) = http(&r, "GET", "/v1/audit/verify", Some(TOKEN), b"").await;
    assert_eq!((st, v["ok"].as_bool()), (200, Some(true)), "{v}");
    r.stop().await.unwrap();
}

/// `GET /metrics`, as text (headers included).
async fn scrape(r: &Running) -> String {
    let mut s = TcpStream::connect(r.api).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// The `method` label values of `regio_http_requests_total` in a scrape.
fn methods(scrape: &str) -> std::collections::BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| l.starts_with("regio_http_requests_total{"))
        .filter_map(|l| {
            l.split("method=\"")
                .nth(1)?
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn invented_methods_and_paths_add_no_metric_series() {
    let actors = region::Actors::new(1);
    let (r, _dir) = node(&actors, "").await;
    for (method, path) in [
        ("FOOBAR", "/health"),
        ("BAZ", "/nope/1"),
        ("QUUX", "/nope/2"),
    ] {
        let (st, _, _) = http(&r, method, path, None, b"").await;
        assert!(st == 404 || st == 405, "{method} {path}: {st}");
    }
    let out = scrape(&r).await;
    let seen = methods(&out);
    assert!(!out.contains("FOOBAR") && !out.contains("/nope"), "{out}");
    assert!(
        seen.is_subset(&["GET", "POST", "other"].map(String::from).into()),
        "{seen:?}"
    );
    assert!(seen.contains("other"), "{out}");
    r.stop().await.unwrap();
}

#[tokio::test]
async fn record_counts_of_a_personal_dataset_are_rounded_without_the_token() {
    let actors = region::Actors::new(1);
    let (r, _dir) = node(&actors, "").await;
    let store = &r.state.store;
    store.create_dataset(&data::readings_schema()).unwrap();
    let rows = data::municipality(0, 7, data::SENSORS).rows;
    let n = rows.len() as u64;
    assert!(n > 1000 && !n.is_multiple_of(1000), "{n}");
    store.append_rows("readings", rows).unwrap();
    let (st, _, v) = http(&r, "GET", "/v1/datasets", None, b"").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v[0]["records"].as_u64(), v[0]["chunks"].as_u64()),
        (Some(n - n % 1000), Some(0)),
        "{v}"
    );
    assert_eq!(v[0]["countsWithheld"], true, "{v}");
    let (_, _, v) = http(&r, "GET", "/v1/datasets", Some(TOKEN), b"").await;
    assert_eq!(v[0]["records"].as_u64(), Some(n), "{v}");
    assert!(v[0]["countsWithheld"].is_null(), "{v}");
    let out = scrape(&r).await;
    let line = format!(
        "regio_dataset_records{{dataset=\"readings\"}} {}",
        n - n % 1000
    );
    assert!(out.lines().any(|l| l == line), "{line} not in {out}");
    r.stop().await.unwrap();
}
