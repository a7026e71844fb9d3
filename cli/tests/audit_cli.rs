//! The auditor and the citizen desk on the real binary against a real node (`regio node
//! run`): a node loaded with the demo region's documents answers an allowed and a refused
//! query; a citizen withdraws halfway; `regio consent history|receipt` and `regio audit
//! export|policies|log|answer|decide` are checked for exact results and exit codes; a
//! one-byte edit of the exported log fails `regio audit log` (exit 1) naming the entry; a
//! clean shutdown signs a checkpoint over the head.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use chrono::Utc;
use common::{init, regio, RunningNode};
use regio_demo::region::{self, Actors};
use regio_node::config::{Config, CONFIG_FILE, KEY_FILE};
use regio_node::engine::Engine;
use regio_policy::decision::Limits;
use regio_policy::Key;
use regio_store::Store;
use serde_json::Value;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn store_of(dir: &Path) -> Store {
    let config = Config::load(&dir.join(CONFIG_FILE)).unwrap();
    Store::open_sled(&config.data_path(dir)).unwrap()
}

/// POSTs a signed query; returns (status, body).
fn post_query(url: &str, query: &Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .post(&format!("{url}/v1/query"))
        .content_type("application/json")
        .send(serde_json::to_vec(query).unwrap())
        .unwrap();
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap(),
    )
}

fn json_of(args: &[&str]) -> Value {
    let out = regio(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn auditor_and_citizen_desk_on_a_real_node() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gent");
    let d = dir.to_str().unwrap();
    init(&dir);
    // Load the demo region's documents and data for this node's own key, then serve it.
    let key = Key::from_file_json(&std::fs::read_to_string(dir.join(KEY_FILE)).unwrap()).unwrap();
    let mut actors = Actors::new(1);
    actors.nodes[0] = key.clone();
    let docs = region::documents(&actors, &[vec![]], Utc::now()).unwrap();
    {
        let engine = Engine::open(store_of(&dir), key.clone(), [], Limits::default()).unwrap();
        region::load(&engine, 0, &docs, 3, 20, Utc::now()).unwrap();
    }
    let node = RunningNode::start(&dir);
    let url = node.url.clone();
    let ask = |certified: bool| {
        let app = if certified {
            &actors.app
        } else {
            &actors.uncertified
        };
        let q = region::query(
            app,
            key.did(),
            "ResearchAndDevelopment",
            "SELECT count(*) AS n FROM readings",
            certified.then(|| docs.certificate.hash()),
            Utc::now(),
        )
        .unwrap();
        post_query(&url, &q)
    };
    let (status, first) = ask(true);
    assert_eq!(status, 200, "{first}");
    let result = tmp.path().join("result.json");
    std::fs::write(&result, serde_json::to_vec_pretty(&first).unwrap()).unwrap();
    let (status, refused) = ask(false);
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("certificate.missing"))
    );

    // subj-44021-001 withdraws (at the desk, imported); the next query must not count them.
    let withdrawal = tmp.path().join("withdraw.ndjson");
    let now = regio_policy::time::format(&Utc::now());
    std::fs::write(&withdrawal, format!("{{\"subject\":\"subj-44021-001\",\"purpose\":\"ResearchAndDevelopment\",\"granted\":true,\"given_at\":\"2023-12-02T00:00:00Z\",\"withdrawn_at\":\"{now}\"}}\n")).unwrap();
    let out = regio(&[
        "consent",
        "import",
        "--node",
        &url,
        "--dir",
        d,
        withdrawal.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, second) = ask(true);
    assert_eq!(status, 200, "{second}");
    let hash = |v: &Value| regio_policy::DocHash::of(&v["answers"][0]).to_string();

    // The citizen's history: exactly the queries that counted their rows, nothing else.
    let history = |subject: &str| {
        json_of(&[
            "consent",
            "history",
            "--node",
            &url,
            "--dir",
            d,
            "--subject",
            subject,
            "--json",
        ])
    };
    let answers = |h: &Value| {
        h["queries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["answer"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let kept = history("subj-44021-000");
    assert_eq!(answers(&kept), vec![hash(&first), hash(&second)]);
    assert_eq!(
        kept["queries"][0]["application"].as_str(),
        Some(actors.app.did().as_str())
    );
    assert_eq!(kept["queries"][0]["purpose"], "ResearchAndDevelopment");
    let withdrawn = history("subj-44021-001");
    assert_eq!(answers(&withdrawn), vec![hash(&first)]);
    let statuses: Vec<&str> = withdrawn["consent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["given", "withdrawn"]);
    assert!(
        !withdrawn.to_string().contains("subj-44021-000"),
        "nothing about other subjects: {withdrawn}"
    );
    assert_eq!(
        answers(&history("subj-44021-002")),
        Vec::<String>::new(),
        "never consented"
    );
    let table = regio(&[
        "consent",
        "history",
        "--node",
        &url,
        "--dir",
        d,
        "--subject",
        "subj-44021-001",
    ]);
    assert!(
        text(&table.stdout).contains("Queries that counted rows of subj-44021-001: 1"),
        "{}",
        text(&table.stdout)
    );
    let no_token = regio(&[
        "consent",
        "history",
        "--node",
        &url,
        "--subject",
        "subj-44021-001",
    ]);
    assert_eq!(no_token.status.code(), Some(1));

    // Kantara consent receipt v1.1.
    let receipt = json_of(&[
        "consent",
        "receipt",
        "--node",
        &url,
        "--dir",
        d,
        "--subject",
        "subj-44021-000",
    ]);
    assert_eq!(receipt["version"], "KI-CR-v1.1.0");
    assert_eq!(receipt["piiPrincipalId"], "subj-44021-000");
    assert_eq!(receipt["piiControllers"][0]["piiController"], "Gent");
    assert_eq!(
        receipt["services"][0]["purposes"][0]["purpose"],
        "ResearchAndDevelopment"
    );
    for field in [
        "jurisdiction",
        "consentTimestamp",
        "collectionMethod",
        "consentReceiptID",
        "publicKey",
        "language",
        "policyUrl",
        "sensitive",
        "spiCat",
    ] {
        assert!(!receipt[field].is_null(), "{field} missing: {receipt}");
    }
    let gone = json_of(&[
        "consent",
        "receipt",
        "--node",
        &url,
        "--dir",
        d,
        "--subject",
        "subj-44021-001",
    ]);
    assert_eq!(gone["services"], serde_json::json!([]));

    // The auditor: export, then verify offline.
    let out_dir = tmp.path().join("export");
    let o = out_dir.to_str().unwrap();
    let out = regio(&["audit", "export", "--node", &url, "--dir", d, "-o", o]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        out_dir.join("log.ndjson").is_file()
            && out_dir.join("policies/v1.json").is_file()
            && out_dir.join("node.json").is_file()
    );
    for args in [
        vec!["audit", "policies", o],
        vec!["audit", "log", o],
        vec!["audit", "answer", result.to_str().unwrap(), "--export", o],
        vec!["audit", "decide", "--export", o, "--all"],
    ] {
        let out = regio(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains("VERIFIED"),
            "{}",
            text(&out.stdout)
        );
    }
    let decided = json_of(&["audit", "decide", "--export", o, "--json"]);
    let details: Vec<&str> = decided["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["detail"].as_str().unwrap())
        .collect();
    assert_eq!(details.len(), 3, "{details:?}");
    assert!(
        details[0].starts_with("logged allow, re-run allow")
            && details[1].starts_with("logged certificate.missing, re-run certificate.missing")
            && details[2].starts_with("logged allow"),
        "{details:?}"
    );
    let live = regio(&["audit", "log", "--node", &url, "--dir", d]);
    assert_eq!(live.status.code(), Some(0), "{}", text(&live.stderr));

    // One byte of the exported log changed: exit 1, the entry named.
    let log = out_dir.join("log.ndjson");
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let i = lines
        .iter()
        .position(|l| l.contains("\"query_refused\""))
        .unwrap();
    let mut edited = lines.clone();
    edited[i] = lines[i].replacen(
        "\"reason\":\"certificate.missing\"",
        "\"reason\":\"certificate.misting\"",
        1,
    );
    assert_ne!(edited[i], lines[i]);
    std::fs::write(&log, edited.join("\n") + "\n").unwrap();
    let out = regio(&["audit", "log", o]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains(&format!(
            "audit log broken at entry {}: HashMismatch",
            i + 1
        )),
        "{}",
        text(&out.stdout)
    );
    let out = regio(&["audit", "log", o, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["ok"],
        false
    );

    // A clean shutdown signs a checkpoint over the head.
    assert_eq!(node.terminate(), Some(0));
    let store = store_of(&dir);
    let head = store.audit_head().unwrap().unwrap();
    assert_eq!(
        store.checkpoints().unwrap().last().map(|(seq, _)| *seq),
        Some(head.seq)
    );
}
