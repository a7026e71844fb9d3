//! `regio query`: signs a Query with the application's key, sends it to a node
//! (`POST /v1/query`) and prints the result with its provenance.
//!
//! The answer is the contract's `regio_http::query::QueryReply` (`{query, queryHash,
//! region, result, csv, coverage, provenance, answers, error?}`), or on a 403 before any
//! member was asked, only its error body (`QueryRefusal`). Exit: 0 a result came back, 1 refused (reason code, message and what to do next),
//! 3 the node is unreachable.

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{Duration, SubsecRound, Utc};
use clap::ValueEnum;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use regio_http::query::{Provenance, QueryParams, QueryRefusal, QueryReply, ResultTable, Status};
use regio_http::region::ListRegions;
use regio_http::{ErrorBody, ErrorDetail};
use regio_policy::doc::query::Query;
use regio_policy::Signed;
use serde_json::Value;

use crate::client::{self, ApiFailure, Client};
use crate::{cert, io, Failed, Reported};

/// How long a signed query stays valid.
const LIFETIME_SECS: i64 = 60;

/// Output format of `regio query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Result and provenance tables, coverage and trace id.
    Table,
    /// The node's whole answer, pretty JSON.
    Json,
    /// The result as CSV only.
    Csv,
}

/// What `regio query` was asked.
pub(crate) struct QueryOptions<'a> {
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

/// The region to ask: `--region`, else the node's only one.
fn region(client: &Client, given: Option<&str>) -> Result<String> {
    if let Some(r) = given {
        return Ok(r.to_owned());
    }
    let listed = match client.call(&ListRegions) {
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
    let ids: Vec<String> = listed.into_iter().map(|r| r.id).collect();
    match ids.as_slice() {
        [] => bail!("the node is a member of no region: pass --region ID (or add the node to a region first)"),
        [one] => Ok(one.clone()),
        many => bail!("the node is a member of {} regions ({}): pass --region ID", many.len(), many.join(", ")),
    }
}

/// `regio query …`.
pub(crate) fn run(client: &Client, o: &QueryOptions<'_>) -> Result<()> {
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
    let params = QueryParams {
        deadline_ms: o.deadline_ms,
    };
    let (status, text) = client.send_raw(&params, signed.raw().to_string().as_bytes())?;
    let refused_early = |error: ErrorDetail| -> Result<()> {
        match o.format {
            Format::Json => println!(
                "{}",
                io::pretty(&io::json_value(&ErrorBody {
                    error: error.clone()
                }))
            ),
            Format::Csv => {}
            Format::Table => println!("traceparent: {trace}"),
        }
        eprintln!("refused: {}: {}", error.code, error.message);
        eprintln!("next: {}", next_step(&error.code));
        Err(Reported.into())
    };
    let reply: QueryReply = match status {
        200 => serde_json::from_str(&text).with_context(|| {
            format!(
                "the node's answer to the query is not the reply the API documents: {}",
                text.chars().take(200).collect::<String>()
            )
        })?,
        403 => match serde_json::from_str::<QueryRefusal>(&text) {
            Ok(QueryRefusal::NoAnswer(r)) => *r,
            Ok(QueryRefusal::Refused(body)) => return refused_early(body.error),
            Err(_) => return Err(client::failure(status, &text).into()),
        },
        _ => return Err(client::failure(status, &text).into()),
    };
    match o.format {
        Format::Json => println!("{}", io::pretty(&io::json_value(&reply))),
        Format::Csv => {
            if let Some(csv) = &reply.csv {
                print!("{csv}");
            }
        }
        Format::Table => {
            println!("traceparent: {trace}");
            if let Some(t) = reply.result.as_ref().map(result_table) {
                println!("{t}");
            }
            println!("{}", provenance_table(&reply.provenance));
            println!(
                "coverage: {}/{} members answered",
                reply.coverage.0, reply.coverage.1
            );
            if let Some(line) = disclosure_line(&reply) {
                println!("{line}");
            }
        }
    }
    if reply.result.is_some() {
        return Ok(());
    }
    let (code, message) = refusal(&reply);
    eprintln!("refused: {code}: {message}");
    eprintln!("next: {}", next_step(&code));
    Err(Reported.into())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The refusal's code and message: the answer's error, else the first member's reason.
fn refusal(reply: &QueryReply) -> (String, String) {
    if let Some(e) = &reply.error {
        return (e.code.clone(), e.message.clone());
    }
    reply
        .provenance
        .iter()
        .find_map(|p| match &p.status {
            Status::Refused { reason, message } => Some((reason.clone(), message.clone())),
            _ => None,
        })
        .unwrap_or_else(|| ("no_result".into(), "no member answered".into()))
}

/// The result; a noisy value is shown with its 95 % interval, and its column names the
/// mechanism.
fn result_table(result: &ResultTable) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(result.columns.iter().map(|c| match &c.mechanism {
        Some(m) => format!("{} ({m}, 95 % interval)", c.name),
        None => c.name.clone(),
    }));
    for (r, row) in result.rows.iter().enumerate() {
        t.add_row(row.iter().enumerate().map(|(c, v)| {
            match result
                .intervals
                .get(r)
                .and_then(|i| i.get(c))
                .copied()
                .flatten()
            {
                Some([lo, hi]) => format!("{} [{lo:.1}, {hi:.1}]", text(v)),
                None => text(v),
            }
        }));
    }
    t
}

/// How the members released their answers (from the signed answers' `outcome.disclosure`):
/// the mode, and under differential privacy the epsilon spent and left per member.
fn disclosure_line(reply: &QueryReply) -> Option<String> {
    let mut modes = Vec::new();
    let mut left = Vec::new();
    for a in &reply.answers {
        let node = a["node"].as_str().unwrap_or("");
        let name = reply
            .provenance
            .iter()
            .find(|p| p.member.as_str() == node)
            .map_or(node, |p| p.name.as_str());
        let d = &a["outcome"]["disclosure"];
        if let Some(mode) = d["mode"].as_str() {
            if !modes.contains(&mode) {
                modes.push(mode);
            }
        }
        if let (Some(spent), Some(l)) = (d["epsilonSpent"].as_f64(), d["epsilonLeft"].as_f64()) {
            left.push(format!("{name} spent {spent}, left {l}"));
        }
    }
    if modes.is_empty() {
        return None;
    }
    let mut line = format!("disclosure: {}", modes.join(", "));
    if modes.contains(&"exact") {
        line.push_str(" (exact answers do NOT resist differencing)");
    }
    if !left.is_empty() {
        line.push_str(&format!("; epsilon: {}", left.join("; ")));
    }
    line.push_str("; counters of personal data withheld");
    Some(line)
}

/// The status word and reason code of a provenance line.
fn status(p: &Provenance) -> (&'static str, &str) {
    match &p.status {
        Status::Answered => ("answered", ""),
        Status::Refused { reason, .. } => ("refused", reason),
        Status::TimedOut => ("timed_out", ""),
        Status::Unreachable { .. } => ("unreachable", ""),
        Status::Invalid { .. } => ("invalid", ""),
    }
}

fn provenance_table(members: &[Provenance]) -> Table {
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
            m.member.to_string()
        } else {
            m.name.clone()
        };
        let (status, reason) = status(m);
        t.add_row([
            name,
            m.nis.clone(),
            status.to_string(),
            reason.to_string(),
            m.policy_version.map_or_else(String::new, |v| v.to_string()),
            m.rows_excluded_by_consent.to_string(),
            m.groups_suppressed.to_string(),
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
        "region.unknown" | "region.not_member" | "origin.not_member" => "check --region: the node is not a member of that region",
        "origin.not_coordinator" => "send the query to the node it names as its origin (--node), or sign it with that node as origin",
        "proof.expired" | "query.replayed" => "sign the query again (a fresh nonce, an unexpired proof)",
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
