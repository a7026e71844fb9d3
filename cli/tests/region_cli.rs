//! A region of three real `regio node run` processes on loopback, formed with the CLI:
//! `region create` + `approve` by every founder (a manifest short of a founder's signature is
//! refused by `region join`), `region join` at every node; each node publishes its policy; a
//! certificate registered at one node reaches all by gossip; a signed query POSTed to one
//! node is answered by all three with the exact merged count; `region members` shows three
//! reachable members with their policy heads; a revocation POSTed at node C makes A and B
//! refuse; node C killed (SIGKILL): the next query answers within its deadline with
//! coverage [2,3].
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;
use regio_demo::data::{self, MUNICIPALITIES};
use regio_demo::region::{self, Actors};
use regio_policy::doc::cert::EthicsCertificate;
use regio_policy::{Key, Signed};
use regio_query::schema::Value as Cell;
use regio_store::Store;
use serde_json::{json, Value};

const REGIO: &str = env!("CARGO_BIN_EXE_regio");
const SQL: &str = "SELECT count(*) AS n FROM readings";
const DAYS: usize = 2;
const SENSORS: usize = data::SENSORS;

fn regio(args: &[&str]) -> Output {
    Command::new(REGIO)
        .args(args)
        .env_remove("REGIO_TOKEN")
        .env_remove("REGIO_NODE")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Node {
    child: Child,
    dir: PathBuf,
    url: String,
    p2p: Vec<String>,
    key: Key,
    token: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `regio init` with free ports, this municipality's data and consent loaded into its store.
fn init(tmp: &Path, i: usize) -> PathBuf {
    let (nis, name) = MUNICIPALITIES[i];
    let dir = tmp.join(name.to_lowercase());
    let out = regio(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--nis",
        nis,
        "--name",
        name,
        "--api",
        "127.0.0.1:0",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = dir.join("config.toml");
    let c = std::fs::read_to_string(&config).unwrap();
    assert!(c.contains("gossip_interval_ms = 5000"), "{c}");
    std::fs::write(
        &config,
        c.replace("gossip_interval_ms = 5000", "gossip_interval_ms = 300"),
    )
    .unwrap();
    let store = Store::open_sled(&dir.join("data")).unwrap();
    store.create_dataset(&data::readings_schema()).unwrap();
    let d = data::municipality(i, DAYS, SENSORS);
    store.append_rows("readings", d.rows).unwrap();
    store
        .put_consents(d.consent, Utc::now().timestamp_micros())
        .unwrap();
    dir
}

/// Starts `regio node run` and reads its `listening on` and `p2p` lines.
fn start(dir: &Path) -> Node {
    let mut child = Command::new(REGIO)
        .args(["node", "run", "--dir", dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("no `listening on` line");
    let url = first
        .strip_prefix("listening on ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let mut p2p = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        match line.strip_prefix("p2p ") {
            Some(a) => p2p.push(a.to_string()),
            None => break,
        }
    }
    let key = Key::from_file_json(&std::fs::read_to_string(dir.join("node.key")).unwrap()).unwrap();
    let token = std::fs::read_to_string(dir.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    Node {
        child,
        dir: dir.to_path_buf(),
        url,
        p2p,
        key,
        token,
    }
}

fn http(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let resp = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        (_, b) => {
            let mut r = agent.post(url).content_type("application/json");
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            r.send(b.map(Value::to_string).unwrap_or_default().as_bytes())
        }
    };
    let mut resp = resp.unwrap();
    let status = resp.status().as_u16();
    let v = serde_json::from_str(&resp.body_mut().read_to_string().unwrap_or_default())
        .unwrap_or(Value::Null);
    (status, v)
}

fn post_doc(n: &Node, path: &str, doc: &Value) {
    let (st, v) = http(
        "POST",
        &format!("{}{path}", n.url),
        Some(&n.token),
        Some(doc),
    );
    assert_eq!(st, 201, "{path} at {}: {v}", n.url);
}

/// Rows that count for ResearchAndDevelopment at node `i`: sensors, and citizens who consent.
fn expected(i: usize) -> i64 {
    let d = data::municipality(i, DAYS, SENSORS);
    let now = Utc::now().timestamp_micros();
    let consenting: HashSet<String> = d
        .consent
        .iter()
        .filter(|c| c.active_at(now))
        .map(|c| c.subject.clone())
        .collect();
    d.rows
        .iter()
        .filter(|r| match &r[3] {
            Cell::Str(s) => consenting.contains(s),
            _ => true,
        })
        .count() as i64
}

fn ask(
    n: &Node,
    actors: &Actors,
    cert: &Signed<EthicsCertificate>,
    deadline_ms: u64,
) -> (u16, Value) {
    let q = region::query(
        &actors.app,
        n.key.did(),
        "ResearchAndDevelopment",
        SQL,
        Some(cert.hash()),
        Utc::now(),
    )
    .unwrap();
    http(
        "POST",
        &format!("{}/v1/query?deadline_ms={deadline_ms}", n.url),
        None,
        Some(&q),
    )
}

/// Polls `f` every 300 ms until it returns `Some`, at most `secs` seconds.
fn poll<T>(secs: u64, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(t) => return t,
            Err(last) if start.elapsed() > Duration::from_secs(secs) => {
                panic!("{what} not within {secs} s; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

fn statuses(v: &Value) -> Vec<String> {
    v["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["reason"]
                .as_str()
                .or(p["status"].as_str())
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

#[test]
fn a_region_formed_with_the_cli_answers_revokes_and_survives_a_killed_member() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (0..3).map(|i| init(tmp.path(), i)).collect();
    let mut nodes: Vec<Node> = dirs.iter().map(|d| start(d)).collect();
    for n in &nodes {
        assert!(
            !n.p2p.is_empty()
                && n.p2p
                    .iter()
                    .all(|a| a.starts_with("/ip4/127.0.0.1/tcp/") && a.contains("/p2p/12D3KooW")),
            "{:?}",
            n.p2p
        );
        let (_, h) = http("GET", &format!("{}/health", n.url), None, None);
        assert_eq!(
            h["listen"].as_array().map(Vec::len),
            Some(n.p2p.len()),
            "{h}"
        );
    }
    let mut actors = Actors::new(3);
    actors.nodes = nodes.iter().map(|n| n.key.clone()).collect();
    let docs = region::documents(&actors, &[vec![], vec![], vec![]], Utc::now()).unwrap();
    let charter = tmp.path().join("charter.json");
    std::fs::write(&charter, docs.charter.to_json_pretty()).unwrap();
    let manifest = tmp.path().join("manifest.json");
    let (m, key) = (manifest.to_str().unwrap(), |i: usize| {
        dirs[i].join("node.key").to_str().unwrap().to_string()
    });

    // create (signed by A) → approve by B → join refused (C has not signed) → approve by C.
    let certifier = actors.certifier.did().as_str().to_string();
    let mut args = vec![
        "region",
        "create",
        "--id",
        region::REGION,
        "--name",
        "Vlaanderen",
        "--charter",
        charter.to_str().unwrap(),
        "--certifier",
        &certifier,
        "--threshold",
        "2",
    ];
    for n in &nodes {
        args.extend(["--member-node", n.url.as_str()]);
    }
    let k0 = key(0);
    args.extend(["--key", &k0, "-o", m]);
    let out = regio(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("1 of 3 required signatures"),
        "{}",
        text(&out.stderr)
    );
    let out = regio(&["region", "approve", m, "--key", &key(1), "-o", m]);
    assert!(
        text(&out.stderr).contains("2 of 3 required signatures"),
        "{}",
        text(&out.stderr)
    );
    let out = regio(&[
        "region",
        "join",
        "--node",
        &nodes[0].url,
        "--dir",
        dirs[0].to_str().unwrap(),
        m,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("refused region vlaanderen-demo version 1")
            && text(&out.stderr).contains(nodes[2].key.did().as_str()),
        "{}",
        text(&out.stderr)
    );
    let out = regio(&["region", "approve", m, "--key", &key(2), "-o", m]);
    assert!(
        text(&out.stderr).contains("3 of 3 required signatures (every founder); ready"),
        "{}",
        text(&out.stderr)
    );
    for (i, n) in nodes.iter().enumerate() {
        let out = regio(&[
            "region",
            "join",
            "--node",
            &n.url,
            "--dir",
            dirs[i].to_str().unwrap(),
            m,
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("region vlaanderen-demo version 1 in effect (3 members"),
            "{}",
            text(&out.stdout)
        );
        post_doc(n, "/v1/charters", docs.charter.raw());
        post_doc(n, "/v1/policy", docs.policies[i].raw());
    }
    // The certificate is registered at A only: gossip carries it to B and C.
    post_doc(&nodes[0], "/v1/certificates", docs.certificate.raw());

    let total: i64 = (0..3).map(expected).sum();
    let v = poll(30, "coverage [3,3]", || {
        let (st, v) = ask(&nodes[1], &actors, &docs.certificate, 5000);
        if st == 200 && v["coverage"] == json!([3, 3]) {
            Ok(v)
        } else {
            Err(format!("{st} {v}"))
        }
    });
    assert_eq!(v["result"]["rows"][0][0].as_i64(), Some(total), "{v}");
    assert_eq!(v["csv"], format!("n\n{total}\n"));
    assert_eq!(v["answers"].as_array().map(Vec::len), Some(3));
    let names: Vec<&str> = v["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Gent", "Antwerpen", "Brugge"]);

    // members: three reachable members, each with its policy head.
    let heads: Vec<String> = docs.policies.iter().map(|p| p.hash().to_string()).collect();
    poll(20, "members reachable with policy heads", || {
        let out = regio(&["region", "members", "--node", &nodes[0].url, "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        let ms = v[0]["members"].as_array().cloned().unwrap_or_default();
        let ok = ms.len() == 3
            && ms.iter().zip(&heads).all(|(m, h)| {
                m["connected"] == true
                    && m["policyHead"]["version"] == 1
                    && m["policyHead"]["hash"] == h.as_str()
                    && m["equivocation"] == json!([])
            });
        if ok {
            Ok(())
        } else {
            Err(v.to_string())
        }
    });
    let out = regio(&["region", "members", "--node", &nodes[0].url]);
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for name in ["Gent", "Antwerpen", "Brugge"] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(name) && l.contains(" v1 ")),
            "{table}"
        );
    }
    assert_eq!(
        table.lines().filter(|l| l.contains(" yes ")).count(),
        2,
        "{table}"
    );
    assert_eq!(
        table.lines().filter(|l| l.contains(" self ")).count(),
        1,
        "{table}"
    );
    let metrics = agent_text(&format!("{}/metrics", nodes[0].url));
    assert!(
        metrics.contains("regio_p2p_connected_peers 2")
            && metrics.contains("regio_equivocations_detected 0"),
        "{metrics}"
    );

    // The board revokes with the CLI; the revocation POSTed at C: A and B refuse (every
    // provenance line says so).
    let (board, cert, rev) = (
        tmp.path().join("board.key"),
        tmp.path().join("cert.json"),
        tmp.path().join("revocation.json"),
    );
    std::fs::write(&board, actors.certifier.to_file_json()).unwrap();
    std::fs::write(&cert, docs.certificate.to_json_pretty()).unwrap();
    let out = regio(&[
        "cert",
        "revoke",
        "--key",
        board.to_str().unwrap(),
        cert.to_str().unwrap(),
        "--reason",
        "changed without review",
        "-o",
        rev.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    post_doc(
        &nodes[2],
        "/v1/revocations",
        &serde_json::from_str(&std::fs::read_to_string(&rev).unwrap()).unwrap(),
    );
    for at in [0, 1] {
        let v = poll(20, "certificate.revoked everywhere", || {
            let (st, v) = ask(&nodes[at], &actors, &docs.certificate, 5000);
            if st == 403 && statuses(&v) == ["certificate.revoked"; 3] {
                Ok(v)
            } else {
                Err(format!("{st} {v}"))
            }
        });
        assert_eq!(
            (v["error"]["code"].as_str(), v["coverage"].clone()),
            (Some("certificate.revoked"), json!([0, 3])),
            "{v}"
        );
    }

    // A new certificate at B; C killed: the next query answers by its deadline with [2,3].
    let mut cert2 = docs.certificate.doc().clone();
    cert2.id = "urn:uuid:0b9c1d3e-7a52-4d1e-9f00-000000000002".into();
    let cert2 = Signed::sign(cert2, &actors.certifier, Utc::now()).unwrap();
    post_doc(&nodes[1], "/v1/certificates", cert2.raw());
    poll(20, "the new certificate at A", || {
        let (st, v) = ask(&nodes[0], &actors, &cert2, 5000);
        if st == 200 && v["coverage"] == json!([3, 3]) {
            Ok(())
        } else {
            Err(format!("{st} {v}"))
        }
    });
    let c = nodes.pop().unwrap();
    let c_dir = c.dir.clone();
    drop(c); // SIGKILL
    let t = Instant::now();
    let (st, v) = ask(&nodes[0], &actors, &cert2, 2000);
    assert!(
        t.elapsed() < Duration::from_millis(4000),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!((st, v["coverage"].clone()), (200, json!([2, 3])), "{v}");
    assert_eq!(
        v["result"]["rows"][0][0].as_i64(),
        Some(expected(0) + expected(1)),
        "{v}"
    );
    let s = statuses(&v);
    assert_eq!(&s[..2], ["answered", "answered"], "{v}");
    assert!(s[2] == "timed_out" || s[2] == "unreachable", "{v}");
    assert!(c_dir.exists());

    // Version 2 admits a fourth member: signed by A alone it is below the threshold (2);
    // approved by B it takes effect at A, and gossip carries it to B.
    let next = tmp.path().join("v2.json");
    let n = next.to_str().unwrap();
    let newcomer = Key::generate().unwrap();
    let member = format!(
        "{},24062,Leuven,/ip4/127.0.0.1/tcp/9",
        newcomer.did().as_str()
    );
    let out = regio(&[
        "region",
        "invite",
        "--current",
        m,
        "--member",
        &member,
        "--key",
        &key(0),
        "-o",
        n,
    ]);
    assert!(
        text(&out.stderr).contains("version 2")
            && text(&out.stderr).contains("1 of 2 required signatures"),
        "{}",
        text(&out.stderr)
    );
    let out = regio(&[
        "region",
        "join",
        "--node",
        &nodes[0].url,
        "--dir",
        dirs[0].to_str().unwrap(),
        n,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refused region vlaanderen-demo version 2"),
        "{}",
        text(&out.stderr)
    );
    let out = regio(&[
        "region",
        "approve",
        n,
        "--current",
        m,
        "--key",
        &key(1),
        "-o",
        n,
    ]);
    assert!(
        text(&out.stderr).contains("2 of 2 required signatures"),
        "{}",
        text(&out.stderr)
    );
    let out = regio(&[
        "region",
        "join",
        "--node",
        &nodes[0].url,
        "--dir",
        dirs[0].to_str().unwrap(),
        n,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    poll(20, "version 2 at B by gossip", || {
        let (_, v) = http(
            "GET",
            &format!("{}/v1/regions/{}", nodes[1].url, region::REGION),
            None,
            None,
        );
        if v["version"] == 2 && v["members"].as_array().map(Vec::len) == Some(4) {
            Ok(())
        } else {
            Err(v.to_string())
        }
    });
}

fn agent_text(url: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}
