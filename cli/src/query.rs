//! `regio query`: signs a Query with the application's key, sends it to a node
//! (`POST /v1/query`) and prints the result with its provenance.
//!
//! Two answer shapes are understood: the single-node one (`{answer, result, csv}`, 403
//! `{error, answer}`) and the federated one (`{query, queryHash, region, result, csv,
//! coverage, provenance, answers, error?}`); both are read into one [`Answer`] view.
//! Exit: 0 a result came back, 1 refused (reason code, message and what to do next),
//! 3 the node is unreachable.

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{Duration, SubsecRound, Utc};
use clap::ValueEnum;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use regio_policy::doc::query::Query;
use regio_policy::Signed;
use serde_json::Value;

use crate::client::{ApiFailure, Client};
use crate::{cert, io, Failed, Reported};

/// How long a signed query stays valid.
const LIFETIME_SECS: i64 = 60;

/// Output format of `regio query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Result and provenance tables, coverage and trace id.
    Table,
    /// The node's whole answer, pretty JSON.
    Json,
    /// The result as CSV only.
    Csv,
}

/// What `regio query` was asked.
pub struct QueryOptions<'a> {
    /// The application's key file.
    pub key: &'a Path,
    /// The signed ethics certificate file.
    pub cert: Option<&'a Path>,
    /// DPV purpose.
    pub purpose: &'a str,
    /// Region id (default: the node's only region).
    pub region: Option<&'a str>,
    /// Deadline asked of the coordinator.
    pub deadline_ms: Option<u64>,
    /// Output format.
    pub format: Format,
    /// The SQL text.
    pub sql: &'a str,
}

/// Region ids out of a `GET /v1/regions` answer (an array, or `{"regions": [...]}`, of ids,
/// `{region|id}` objects or signed manifests).
fn region_ids(v: &Value) -> Vec<String> {
    let items = v
        .as_array()
        .or_else(|| v["regions"].as_array())
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|r| {
            r.as_str()
                .or_else(|| r["region"].as_str())
                .or_else(|| r["id"].as_str())
                .map(str::to_owned)
        })
        .collect()
}

/// The region to ask: `--region`, else the node's only one.
fn region(client: &Client, given: Option<&str>) -> Result<String> {
    if let Some(r) = given {
        return Ok(r.to_owned());
    }
    let listed = match client.get("/v1/regions", false) {
        Ok(v) => v,
        Err(e) => match e.downcast_ref::<ApiFailure>() {
            Some(f) if matches!(f.status, 404 | 405) => bail!(
                "this node cannot list its regions ({} {}): pass --region ID",
                f.status,
                f.code
            ),
            _ => return Err(e),
        },
    };
    match region_ids(&listed).as_slice() {
        [] => bail!("the node is a member of no region: pass --region ID (or add the node to a region first)"),
        [one] => Ok(one.clone()),
        many => bail!("the node is a member of {} regions ({}): pass --region ID", many.len(), many.join(", ")),
    }
}

/// `regio query …`.
pub fn run(client: &Client, o: &QueryOptions<'_>) -> Result<()> {
    let key = io::read_key(o.key)?;
    let certificate = match o.cert {
        Some(path) => Some(cert::load(path).map_err(Failed)?.hash()),
        None => None,
    };
    let origin = client.did()?;
    let region = region(client, o.region)?;
    let trace = regio_node::telemetry::new_traceparent();
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("cannot draw random bytes: {e}"))?;
    let now = Utc::now().trunc_subsecs(0);
    let q = Query {
        id: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        region,
        origin,
        purpose: o.purpose.to_owned(),
        sql: o.sql.to_owned(),
        certificate,
        issued: now,
        expires: now + Duration::seconds(LIFETIME_SECS),
        nonce: hex::encode(nonce),
        traceparent: Some(trace.clone()),
    };
    let signed = Signed::sign(q, &key, now)
        .context("cannot sign the query (check --purpose and the SQL text)")?;
    let path = match o.deadline_ms {
        Some(ms) => format!("/v1/query?deadline_ms={ms}"),
        None => "/v1/query".to_owned(),
    };
    let (status, reply) = client.post_public(&path, signed.raw().to_string().as_bytes())?;
    if !matches!(status, 200 | 403) {
        let err = &reply["error"];
        return Err(ApiFailure {
            status,
            code: err["code"].as_str().unwrap_or("unknown").to_owned(),
            message: err["message"].as_str().unwrap_or_default().to_owned(),
            details: err["details"].clone(),
        }
        .into());
    }
    let answer = Answer::read(&reply, &client.health().unwrap_or(Value::Null));
    match o.format {
        Format::Json => println!("{}", io::pretty(&reply)),
        Format::Csv => {
            if let Some(csv) = reply["csv"].as_str() {
                print!("{csv}");
            }
        }
        Format::Table => {
            println!("traceparent: {trace}");
            if let Some(t) = result_table(&reply["result"]) {
                println!("{t}");
            }
            println!("{}", provenance_table(&answer.provenance));
            println!(
                "coverage: {}/{} members answered",
                answer.coverage.0, answer.coverage.1
            );
        }
    }
    if reply["result"].is_object() {
        return Ok(());
    }
    let (code, message) = answer.refusal();
    eprintln!("refused: {code}: {message}");
    eprintln!("next: {}", next_step(&code));
    Err(Reported.into())
}

/// One member's line of provenance.
struct Member {
    member: String,
    name: String,
    nis: String,
    status: String,
    reason: String,
    message: String,
    policy_version: String,
    excluded: String,
    suppressed: String,
}

/// The answer, whatever its shape.
struct Answer {
    provenance: Vec<Member>,
    coverage: (u64, u64),
    error: Option<(String, String)>,
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Answer {
    fn read(reply: &Value, health: &Value) -> Answer {
        let error = reply["error"]["code"]
            .as_str()
            .map(|c| (c.to_owned(), text(&reply["error"]["message"])));
        if let Some(list) = reply["provenance"].as_array() {
            let provenance = list
                .iter()
                .map(|p| Member {
                    member: text(&p["member"]),
                    name: text(&p["name"]),
                    nis: text(&p["nis"]),
                    status: text(&p["status"]),
                    reason: text(&p["reason"]),
                    message: [&p["message"], &p["error"]]
                        .iter()
                        .map(|v| text(v))
                        .find(|m| !m.is_empty())
                        .unwrap_or_default(),
                    policy_version: text(&p["policyVersion"]),
                    excluded: text(&p["rowsExcludedByConsent"]),
                    suppressed: text(&p["groupsSuppressed"]),
                })
                .collect::<Vec<_>>();
            let answered = provenance.iter().filter(|m| m.status == "answered").count() as u64;
            let coverage = (
                reply["coverage"][0].as_u64().unwrap_or(answered),
                reply["coverage"][1]
                    .as_u64()
                    .unwrap_or(provenance.len() as u64),
            );
            return Answer {
                provenance,
                coverage,
                error,
            };
        }
        // Single-node shape: the one signed PartialAnswer is the provenance.
        let a = &reply["answer"];
        let o = &a["outcome"];
        let member = Member {
            member: text(&a["node"]),
            name: text(&health["name"]),
            nis: text(&health["nis"]),
            status: text(&o["status"]),
            reason: text(&o["reason"]),
            message: text(&o["message"]),
            policy_version: text(&a["policyVersion"]),
            excluded: text(&o["rowsExcludedByConsent"]),
            suppressed: text(&o["groupsSuppressed"]),
        };
        let answered = u64::from(member.status == "answered");
        Answer {
            provenance: vec![member],
            coverage: (answered, 1),
            error,
        }
    }

    /// The refusal's code and message: the answer's error, else the first member's reason.
    fn refusal(&self) -> (String, String) {
        if let Some(e) = &self.error {
            return e.clone();
        }
        self.provenance
            .iter()
            .find(|m| !m.reason.is_empty())
            .map_or_else(
                || ("no_result".into(), "no member answered".into()),
                |m| (m.reason.clone(), m.message.clone()),
            )
    }
}

fn result_table(result: &Value) -> Option<Table> {
    let columns = result["columns"].as_array()?;
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(columns.iter().map(|c| text(&c["name"])));
    for row in result["rows"].as_array().into_iter().flatten() {
        t.add_row(row.as_array().into_iter().flatten().map(text));
    }
    Some(t)
}

fn provenance_table(members: &[Member]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header([
        "member",
        "NIS",
        "status",
        "reason",
        "policy version",
        "rows excluded by consent",
        "groups suppressed",
    ]);
    for m in members {
        let name = if m.name.is_empty() {
            m.member.clone()
        } else {
            m.name.clone()
        };
        t.add_row([
            &name,
            &m.nis,
            &m.status,
            &m.reason,
            &m.policy_version,
            &m.excluded,
            &m.suppressed,
        ]);
    }
    t
}

/// What to do about a refusal, by reason code.
fn next_step(code: &str) -> String {
    let hint = match code {
        "certificate.missing" => "ask an ethics board for a certificate and pass --cert CERT.json (the node must hold it: `regio cert submit`)",
        "certificate.expired" | "certificate.not_yet_valid" => "ask the certifier for a certificate valid now and pass it with --cert",
        "certificate.revoked" => "the certifier revoked the certificate: ask for a new assessment",
        "certificate.scope" => "the certificate does not cover this purpose or dataset: change --purpose or ask for a certificate that does",
        "certificate.subject_mismatch" => "sign with the key the certificate was issued to (--key)",
        "certificate.untrusted_issuer" => "ask a certifier the region trusts for a certificate",
        "access.denied" => "ask the municipality to grant your application this action in its policy",
        "charter.purpose_not_allowed" => "choose a purpose the region's charter allows (--purpose)",
        "charter.quota_exceeded" => "wait for the next quota window",
        "query.unsupported" => "rewrite the SQL within Regio's read-only subset (see README, \"Query language\")",
        "region.unknown" | "origin.not_member" => "check --region: the node is not a member of that region",
        "policy.missing" => "the node has published no policy yet (`regio policy publish`)",
        "query.expired" | "query.not_yet_valid" | "query.lifetime" => "check this computer's clock",
        "node.error" => "the members could not answer (their store or engine failed; their operators find the cause in the node's log): try again later",
        _ => "",
    };
    if !hint.is_empty() {
        return hint.to_owned();
    }
    regio_policy::decision::reason::Reason::ALL
        .iter()
        .find(|r| r.code() == code)
        .map_or_else(
            || "see `regio reasons` for the reason codes".to_owned(),
            |r| format!("{} (see `regio reasons`)", r.meaning()),
        )
}
