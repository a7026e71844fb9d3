//! The adversarial suite's fixture (issue 14): a region of real `regio node run` processes
//! on loopback (set up through their admin API, as an operator would), optionally with one
//! more member whose key belongs to the attacker ([`evil::Evil`], on the real libp2p stack),
//! and [`Snapshot`]s of everything a node stores, to show that an attack left nothing behind.
//!
//! Tests share one region per file (a `static` behind a mutex: cases run one at a time and
//! compare snapshots without another case writing in between); the nodes stop when the test
//! process ends (see [`crate::bench`]).

pub mod evil;
mod snapshot;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use regio_demo::data::{self, MUNICIPALITIES};
use regio_demo::region::{self, Actors, Documents, REGION};
use regio_policy::{Did, DocHash, Key};
use serde_json::Value;

use crate::bench::{self, Http, Node};
use crate::containers::{demo_consent_ndjson, demo_rows_ndjson};

pub use self::evil::Evil;
pub use self::snapshot::{deltas, Delta, Snapshot};

/// Days of demo readings per node.
pub const DAYS: usize = 2;
/// Sensors per node.
pub const SENSORS: usize = 60;
/// The purpose of the certified application.
pub const PURPOSE: &str = "ResearchAndDevelopment";
/// A query every member answers.
pub const COUNT_SQL: &str = "SELECT count(*) AS n FROM readings";
/// Deadline of the suite's federated queries, ms.
pub const DEADLINE_MS: u64 = 5000;

/// What to start.
pub struct Spec {
    /// Real node processes.
    pub nodes: usize,
    /// Whether the attacker holds one more member's key.
    pub evil: bool,
    /// The charter body (default: the exact charter of the test fixtures).
    pub charter: Value,
    /// Extra `key = value` lines of every node's config.toml.
    pub config: Vec<(String, String)>,
    /// The `regio` binary (default: the workspace's debug build).
    pub regio: Option<PathBuf>,
}

impl Spec {
    /// `nodes` real nodes under the exact charter, with or without a malicious member.
    pub fn new(nodes: usize, evil: bool) -> Spec {
        Spec {
            nodes,
            evil,
            charter: region::exact_charter(),
            config: vec![("gossip_interval_ms".into(), "1000".into())],
            regio: None,
        }
    }
}

/// A region of real node processes.
pub struct ProcRegion {
    /// The node processes (members 0..n of the manifest).
    pub nodes: Vec<Node>,
    /// Everyone's keys; `actors.nodes` holds the nodes' keys, then the attacker's.
    pub actors: Actors,
    /// The region's signed documents.
    pub docs: Documents,
    /// The malicious member (the manifest's last member), if any.
    pub evil: Option<Evil>,
    /// An HTTP client.
    pub http: Http,
    /// The `regio` binary.
    pub regio: PathBuf,
    _tmp: tempfile::TempDir,
}

/// A region shared by the cases of one test file: started on first use, one case at a time.
pub fn shared(
    cell: &'static OnceLock<Mutex<ProcRegion>>,
    spec: fn() -> Spec,
) -> MutexGuard<'static, ProcRegion> {
    cell.get_or_init(|| match ProcRegion::start(spec()) {
        Ok(r) => Mutex::new(r),
        Err(e) => panic!("the region does not start: {e:#}"),
    })
    .lock()
    .unwrap_or_else(PoisonError::into_inner)
}

/// Posts a JSON body to an admin route; anything but 2xx is an error naming the reply.
pub fn admin(http: &Http, node: &Node, route: &str, body: &Value) -> Result<Value> {
    let (st, v) = http.post(&format!("{}{route}", node.url), Some(&node.token), body)?;
    if !(200..300).contains(&st) {
        bail!("POST {route}: {st} {v}");
    }
    Ok(v)
}

/// Posts raw bytes (NDJSON, CSV) to an admin route; anything but 2xx is an error.
pub fn admin_raw(http: &Http, node: &Node, route: &str, body: &[u8]) -> Result<Value> {
    let (st, v) = http.post_bytes(&format!("{}{route}", node.url), Some(&node.token), body)?;
    if !(200..300).contains(&st) {
        bail!("POST {route}: {st} {v}");
    }
    Ok(v)
}

impl ProcRegion {
    /// Starts the nodes, signs the region with their real addresses, loads each node through
    /// its admin API (dataset, rows, consent, policy, charter, manifest, certificate) and
    /// waits until a query is answered by every real node.
    pub fn start(spec: Spec) -> Result<ProcRegion> {
        let regio = match &spec.regio {
            Some(p) => p.clone(),
            None => bench::regio_debug()?,
        };
        let tmp = tempfile::Builder::new()
            .prefix("regio-adversarial-")
            .tempdir()?;
        let config: Vec<(&str, &str)> = spec
            .config
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut nodes = Vec::with_capacity(spec.nodes);
        for i in 0..spec.nodes {
            let (nis, name) = MUNICIPALITIES[i % MUNICIPALITIES.len()];
            let dir = tmp.path().join(format!("node{i}"));
            bench::init(&regio, &dir, nis, name, &config)?;
            nodes.push(bench::start(&regio, &dir)?);
        }
        let evil = if spec.evil {
            Some(Evil::start(Key::from_secret([66; 32]))?)
        } else {
            None
        };
        let mut actors = Actors::new(spec.nodes + usize::from(spec.evil));
        let mut addresses: Vec<Vec<String>> = nodes.iter().map(|n| n.p2p.clone()).collect();
        actors.nodes = nodes.iter().map(|n| n.key.clone()).collect();
        if let Some(e) = &evil {
            actors.nodes.push(e.key.clone());
            addresses.push(e.addrs.clone());
        }
        let docs = region::documents_with(REGION, &spec.charter, &actors, &addresses, Utc::now())
            .map_err(|e| anyhow!("signing the region: {e}"))?;
        let http = Http::new(Duration::from_secs(30));
        let schema = serde_json::to_value(data::readings_schema())?;
        for (i, n) in nodes.iter().enumerate() {
            admin(&http, n, "/v1/datasets", &schema)?;
            let rows = demo_rows_ndjson(i, DAYS, SENSORS);
            admin_raw(
                &http,
                n,
                "/v1/datasets/readings/records?format=ndjson",
                rows.as_bytes(),
            )?;
            let consent = demo_consent_ndjson(i, DAYS, SENSORS);
            admin_raw(
                &http,
                n,
                "/v1/consent/import?format=ndjson",
                consent.as_bytes(),
            )?;
            admin(&http, n, "/v1/policy", docs.policies[i].raw())?;
            admin(&http, n, "/v1/charters", docs.charter.raw())?;
            admin(&http, n, "/v1/regions", docs.manifest.raw())?;
            admin(&http, n, "/v1/certificates", docs.certificate.raw())?;
        }
        if let Some(e) = &evil {
            e.join(docs.manifest.doc())?;
        }
        let r = ProcRegion {
            nodes,
            actors,
            docs,
            evil,
            http,
            regio,
            _tmp: tmp,
        };
        r.wait_formed()?;
        Ok(r)
    }

    /// Waits until a query at node 0 is answered by every real node and every node has
    /// noted every other real node's policy head (at most 60 s each), so that what the
    /// region does on its own no longer changes a snapshot.
    fn wait_formed(&self) -> Result<()> {
        let n = self.nodes.len();
        bench::poll(
            Duration::from_secs(60),
            Duration::from_millis(300),
            "every node noting every policy head",
            || {
                let heads: Vec<usize> = self
                    .nodes
                    .iter()
                    .map(|node| Snapshot::take(&self.http, node).map(|s| s.peer_heads.len()))
                    .collect::<Result<_>>()
                    .map_err(|e| e.to_string())?;
                if heads.iter().all(|h| *h >= n - 1) {
                    Ok(())
                } else {
                    Err(format!("policy heads noted per node: {heads:?}"))
                }
            },
        )?;
        bench::poll(
            Duration::from_secs(60),
            Duration::from_millis(300),
            "the region answering from every node",
            || {
                let (_, v) = self
                    .ask(0, &self.query(0, COUNT_SQL))
                    .map_err(|e| e.to_string())?;
                let answered = v["coverage"][0].as_u64().unwrap_or(0) as usize;
                if answered == n {
                    Ok(())
                } else {
                    Err(format!("coverage {}", v["coverage"]))
                }
            },
        )
    }

    /// The malicious member.
    pub fn evil(&self) -> &Evil {
        match &self.evil {
            Some(e) => e,
            None => panic!("this region was started without a malicious member"),
        }
    }

    /// Node `i`'s DID.
    pub fn did(&self, i: usize) -> &Did {
        self.nodes[i].key.did()
    }

    /// A signed query of the certified application (with its certificate), origin node `at`.
    pub fn query(&self, at: usize, sql: &str) -> Value {
        let cert = Some(self.docs.certificate.hash());
        self.query_by(
            &self.actors.app,
            self.did(at),
            PURPOSE,
            sql,
            cert,
            Utc::now(),
        )
    }

    /// A signed query of `signer` in the region.
    pub fn query_by(
        &self,
        signer: &Key,
        origin: &Did,
        purpose: &str,
        sql: &str,
        cert: Option<DocHash>,
        now: DateTime<Utc>,
    ) -> Value {
        match region::query(signer, origin, purpose, sql, cert, now) {
            Ok(q) => q,
            Err(e) => panic!("signing a query: {e}"),
        }
    }

    /// `POST /v1/query?deadline_ms=DEADLINE_MS` at node `at`: status and reply.
    pub fn ask(&self, at: usize, query: &Value) -> Result<(u16, Value)> {
        self.ask_bytes(at, query.to_string().as_bytes())
    }

    /// [`ProcRegion::ask`] with any bytes as the body.
    pub fn ask_bytes(&self, at: usize, body: &[u8]) -> Result<(u16, Value)> {
        let url = format!("{}/v1/query?deadline_ms={DEADLINE_MS}", self.nodes[at].url);
        self.http
            .post_bytes(&url, None, body)
            .context("POST /v1/query")
    }

    /// Every real node's snapshot.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        self.nodes
            .iter()
            .map(|n| match Snapshot::take(&self.http, n) {
                Ok(s) => s,
                Err(e) => panic!("snapshot of {}: {e:#}", n.url),
            })
            .collect()
    }

    /// Lines of node `i`'s log that contain `needle`.
    pub fn log_lines(&self, i: usize, needle: &str) -> Vec<String> {
        std::fs::read_to_string(self.nodes[i].dir.join("node.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

/// `(member name, status, reason or error)` of each provenance line of a query reply.
pub fn provenance(reply: &Value) -> Vec<(String, String, String)> {
    reply["provenance"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|p| {
                    let s = |k: &str| p[k].as_str().unwrap_or("").to_owned();
                    let why = if p["reason"].is_string() {
                        s("reason")
                    } else {
                        s("error")
                    };
                    (s("name"), s("status"), why)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The reason codes of the real members' provenance lines (the first `n`), in order.
pub fn reasons(reply: &Value, n: usize) -> Vec<String> {
    provenance(reply)
        .into_iter()
        .take(n)
        .map(
            |(_, status, reason)| {
                if status == "refused" {
                    reason
                } else {
                    status
                }
            },
        )
        .collect()
}

/// The error code of a reply (`error.code`), `""` when it has none.
pub fn code(reply: &Value) -> String {
    reply["error"]["code"].as_str().unwrap_or("").to_owned()
}

/// What one attempt at a node's API did.
#[derive(Debug)]
pub struct Attempt {
    /// HTTP status.
    pub status: u16,
    /// `error.code` of the reply (`""` when none).
    pub code: String,
    /// The real members' reasons (or statuses), in manifest order.
    pub reasons: Vec<String>,
    /// What changed at every real node.
    pub deltas: Vec<Delta>,
    /// The reply.
    pub reply: Value,
}

impl Attempt {
    /// Asserts the status, the error code and what changed at every node.
    #[track_caller]
    pub fn expect(&self, status: u16, code: &str, deltas: &[Delta]) {
        assert_eq!(
            (self.status, self.code.as_str()),
            (status, code),
            "{}",
            self.reply
        );
        assert_eq!(self.deltas, deltas, "{}", self.reply);
    }
}

impl ProcRegion {
    /// Posts `body` to `POST /v1/query` at node `at`, with snapshots of every node before
    /// and after.
    pub fn attempt(&self, at: usize, body: &[u8]) -> Attempt {
        self.attempt_with(|| self.ask_bytes(at, body))
    }

    /// Runs `call` (an HTTP request) between snapshots of every node.
    pub fn attempt_with(&self, call: impl FnOnce() -> Result<(u16, Value)>) -> Attempt {
        let before = self.snapshots();
        let (status, reply) = match call() {
            Ok(r) => r,
            Err(e) => panic!("the request failed: {e:#}"),
        };
        let after = self.snapshots();
        Attempt {
            status,
            code: code(&reply),
            reasons: reasons(&reply, self.nodes.len()),
            deltas: deltas(&before, &after),
            reply,
        }
    }

    /// Nothing changed at any node.
    pub fn none(&self) -> Vec<Delta> {
        vec![Delta::none(); self.nodes.len()]
    }

    /// Every node recorded one refusal (audit entry and signed query), nothing else.
    pub fn refused(&self) -> Vec<Delta> {
        vec![Delta::refusal(); self.nodes.len()]
    }

    /// Every real member refused with `reason`.
    pub fn all(&self, reason: &str) -> Vec<String> {
        vec![reason.to_owned(); self.nodes.len()]
    }
}

/// Breaks the signature of a signed document: one character of its (first) `proofValue`
/// replaced by another base58 digit.
pub fn tamper_proof(doc: &mut Value) {
    let proof = match &mut doc["proof"] {
        Value::Array(a) => &mut a[0],
        p => p,
    };
    let Some(pv) = proof["proofValue"].as_str() else {
        panic!("no proofValue in {doc}")
    };
    let mut chars: Vec<char> = pv.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    proof["proofValue"] = Value::String(chars.into_iter().collect());
}
