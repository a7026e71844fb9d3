//! The auditor's checks behind `regio audit policies`, `regio audit log` and `regio audit
//! answer`, each producing [`Check`] rows; nothing here trusts the node — every signature
//! and hash is recomputed from the exported documents.

use std::collections::BTreeMap;

use regio_policy::doc::bundle::{self, ChainError, PolicyBundle};
use regio_policy::doc::query::{self, Outcome, PartialAnswer};
use regio_policy::{Did, DocHash, Signed};
use regio_store::audit::{self as chain_log, Kind, LogError};
use serde::Serialize;
use serde_json::Value;

use super::files::Loaded;

/// One verified (or failed) statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What it is about (node, entry, answer).
    pub subject: String,
    /// Which check.
    pub check: String,
    /// Whether it holds.
    pub ok: bool,
    /// What exactly.
    pub detail: String,
}

impl Check {
    /// A check that holds.
    pub fn ok(subject: &str, check: &str, detail: impl Into<String>) -> Check {
        Check {
            subject: subject.into(),
            check: check.into(),
            ok: true,
            detail: detail.into(),
        }
    }
    /// A check that does not hold.
    pub fn fail(subject: &str, check: &str, detail: impl Into<String>) -> Check {
        Check {
            subject: subject.into(),
            check: check.into(),
            ok: false,
            detail: detail.into(),
        }
    }
}

fn short(h: &DocHash) -> String {
    let s = h.to_string();
    format!("{}…", &s[..19.min(s.len())])
}

/// The verified policy bundles of one export, by version (bad ones reported in `checks`).
pub fn verified_chain(l: &Loaded, checks: &mut Vec<Check>) -> BTreeMap<u64, Signed<PolicyBundle>> {
    let mut chain = BTreeMap::new();
    let mut all = Vec::new();
    for item in &l.policies {
        match Signed::<PolicyBundle>::verify(item.value.clone())
            .map_err(|e| e.to_string())
            .and_then(|b| {
                bundle::check_signer(&b)
                    .map(|()| b)
                    .map_err(|e| e.to_string())
            }) {
            Ok(b) => all.push(b),
            Err(e) => checks.push(Check::fail(
                &l.name,
                "policy signature",
                format!("{}: {e}", item.origin),
            )),
        }
    }
    if all.is_empty() {
        if l.policies.is_empty() {
            checks.push(Check::ok(&l.name, "policy chain", "no policy published"));
        }
        return chain;
    }
    match bundle::verify_chain(&all) {
        Ok(head) if head.issuer == l.node => {
            checks.push(Check::ok(
                &l.name,
                "policy chain",
                format!(
                    "{} versions, signatures and links hold; head v{} {}",
                    all.len(),
                    head.version,
                    short(&head.hash)
                ),
            ));
        }
        Ok(head) => checks.push(Check::fail(
            &l.name,
            "policy chain",
            format!(
                "the bundles are {}'s, the export is of {}",
                head.issuer, l.node
            ),
        )),
        Err(ChainError::Equivocation(ev)) => checks.push(Check::fail(
            &l.name,
            "policy chain",
            format!(
                "equivocation: two bundles with version {}: {} and {}",
                ev.version,
                short(&ev.a.hash()),
                short(&ev.b.hash())
            ),
        )),
        Err(e) => checks.push(Check::fail(&l.name, "policy chain", e.to_string())),
    }
    for b in all {
        chain.insert(b.doc().version, b);
    }
    chain
}

/// `regio audit policies`: every export's chain, the log's publications, equivocation
/// evidence, and the heads each node saw from the others cross-checked against their chains.
pub fn policies(sources: &[Loaded]) -> (Vec<Check>, Vec<Value>) {
    let mut checks = Vec::new();
    let mut evidence = Vec::new();
    let mut chains: BTreeMap<Did, BTreeMap<u64, Signed<PolicyBundle>>> = BTreeMap::new();
    for l in sources {
        let chain = verified_chain(l, &mut checks);
        for e in l.entries.iter().filter(|e| e.kind == Kind::PolicyPublished) {
            let version = e.body["version"].as_u64().unwrap_or(0);
            let logged = e.body["hash"].as_str().unwrap_or("");
            match chain.get(&version) {
                Some(b) if hex::encode(b.hash().0) == logged => {}
                Some(b) => checks.push(Check::fail(
                    &l.name,
                    "log vs chain",
                    format!(
                        "entry {} logs v{version} as {logged}, the chain's v{version} is {}",
                        e.seq,
                        b.hash()
                    ),
                )),
                None => checks.push(Check::fail(
                    &l.name,
                    "log vs chain",
                    format!(
                        "entry {} logs the publication of v{version}, which the chain lacks",
                        e.seq
                    ),
                )),
            }
        }
        for (oa, ob, ev) in &l.equivocations {
            let a = Signed::<PolicyBundle>::verify(ev.a.clone());
            let b = Signed::<PolicyBundle>::verify(ev.b.clone());
            match (a, b) {
                (Ok(a), Ok(b)) => {
                    match bundle::equivocation(&a, &b) {
                        Some(e)
                            if bundle::check_signer(&a).is_ok()
                                && bundle::check_signer(&b).is_ok() =>
                        {
                            checks.push(Check::fail(
                            &l.name,
                            "equivocation",
                            format!("{} signed two bundles with version {}: {} ({oa}) and {} ({ob})", e.issuer, e.version, a.hash(), b.hash()),
                        ));
                            evidence.push(serde_json::json!({ "seenBy": l.node, "issuer": e.issuer, "version": e.version, "a": ev.a, "b": ev.b }));
                        }
                        _ => checks.push(Check::fail(
                            &l.name,
                            "equivocation evidence",
                            format!("{oa} and {ob} are not two bundles of one issuer and version"),
                        )),
                    }
                }
                (Err(e), _) => checks.push(Check::fail(
                    &l.name,
                    "equivocation evidence",
                    format!("{oa}: {e}"),
                )),
                (_, Err(e)) => checks.push(Check::fail(
                    &l.name,
                    "equivocation evidence",
                    format!("{ob}: {e}"),
                )),
            }
        }
        chains.insert(l.node.clone(), chain);
    }
    for l in sources {
        for h in &l.peer_heads {
            let Some(chain) = chains.get(&h.member) else {
                checks.push(Check::ok(
                    &l.name,
                    "peer head",
                    format!(
                        "{} v{} {}: no export of that member given, not cross-checked",
                        h.member.short(),
                        h.version,
                        short(&h.hash)
                    ),
                ));
                continue;
            };
            let owner = sources
                .iter()
                .find(|s| s.node == h.member)
                .map_or("?", |s| s.name.as_str());
            match chain.get(&h.version) {
                Some(b) if b.hash() == h.hash => checks.push(Check::ok(&l.name, "peer head", format!("{owner} v{} {} matches {owner}'s chain", h.version, short(&h.hash)))),
                Some(b) => checks.push(Check::fail(
                    &l.name,
                    "peer head",
                    format!("{owner} gossiped v{} as {}, but {owner}'s exported chain has {} (equivocation)", h.version, h.hash, b.hash()),
                )),
                None => checks.push(Check::fail(&l.name, "peer head", format!("{owner} gossiped v{} {}, which {owner}'s exported chain lacks", h.version, h.hash))),
            }
        }
    }
    (checks, evidence)
}

/// `regio audit log`: the hash chain and every signed checkpoint over it.
pub fn log(l: &Loaded) -> Vec<Check> {
    let checkpoints: Vec<Value> = l.checkpoints.iter().map(|c| c.value.clone()).collect();
    match chain_log::verify_log(&l.entries, &checkpoints, &l.node) {
        Ok(r) => {
            let mut out = vec![Check::ok(
                &l.name,
                "hash chain",
                format!(
                    "{} entries, head {}",
                    r.entries,
                    r.head
                        .as_deref()
                        .map_or("none".into(), |h| format!("{}…", &h[..12]))
                ),
            )];
            let detail = match (r.checkpoints.last(), r.uncovered) {
                (None, 0) => "empty log".to_string(),
                (None, n) => format!("no checkpoint: {n} entries not covered by a node signature"),
                (Some(last), 0) => format!(
                    "{} signed by {}, the last covers the head (entry {last})",
                    r.checkpoints.len(),
                    l.node.short()
                ),
                (Some(last), n) => format!(
                    "{} signed, the last covers entry {last}; {n} later entries not covered yet",
                    r.checkpoints.len()
                ),
            };
            out.push(Check {
                ok: !r.checkpoints.is_empty() || r.entries == 0,
                ..Check::ok(&l.name, "checkpoints", detail)
            });
            out
        }
        Err(LogError::Chain(e)) => vec![Check::fail(
            &l.name,
            "hash chain",
            format!("{e} ({})", l.log_origin),
        )],
        Err(LogError::Checkpoint(e)) => {
            let origin = match &e {
                chain_log::CheckpointError::Document { index, .. } => {
                    l.checkpoints.get(*index).map(|c| c.origin.clone())
                }
                _ => None,
            };
            vec![
                Check::ok(
                    &l.name,
                    "hash chain",
                    format!("{} entries", l.entries.len()),
                ),
                Check::fail(
                    &l.name,
                    "checkpoints",
                    origin.map_or_else(|| e.to_string(), |o| format!("{o}: {e}")),
                ),
            ]
        }
        Err(e) => vec![Check::fail(
            &l.name,
            "hash chain",
            format!("{e} ({})", l.log_origin),
        )],
    }
}

/// Every signed PartialAnswer in a JSON value (a federated result, a node's answer, a list).
pub fn collect_answers(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(m) if m.get("type").and_then(Value::as_str) == Some("PartialAnswer") => {
            out.push(value.clone())
        }
        Value::Object(m) => m.values().for_each(|v| collect_answers(v, out)),
        Value::Array(a) => a.iter().for_each(|v| collect_answers(v, out)),
        _ => {}
    }
}

/// `regio audit answer`: each PartialAnswer's signature, its policy version in the node's
/// chain, and the matching entry in the node's (verified) log.
pub fn answer(answers: &[Value], sources: &[Loaded]) -> Vec<Check> {
    let mut checks = Vec::new();
    if answers.is_empty() {
        checks.push(Check::fail(
            "result",
            "answers",
            "no signed PartialAnswer found in the file",
        ));
    }
    for (i, raw) in answers.iter().enumerate() {
        let who = raw["node"].as_str().map_or_else(
            || format!("answers[{i}]"),
            |n| {
                format!(
                    "answers[{i}] {}",
                    Did::parse(n)
                        .map(|d| d.short())
                        .unwrap_or_else(|_| n.into())
                )
            },
        );
        let signed = match Signed::<PartialAnswer>::verify(raw.clone())
            .map_err(|e| e.to_string())
            .and_then(|a| {
                query::check_answer_signer(&a)
                    .map(|()| a)
                    .map_err(|e| e.to_string())
            }) {
            Ok(a) => a,
            Err(e) => {
                checks.push(Check::fail(&who, "signature", e));
                continue;
            }
        };
        let a = signed.doc();
        let Some(l) = sources.iter().find(|s| s.node == a.node) else {
            checks.push(Check::ok(
                &who,
                "signature",
                format!("signed by {}", a.node.short()),
            ));
            checks.push(Check::fail(
                &who,
                "export",
                format!("no export of {} given (--export DIR)", a.node),
            ));
            continue;
        };
        let who = format!("answers[{i}] {}", l.name);
        checks.push(Check::ok(
            &who,
            "signature",
            format!("signed by {} ({})", l.name, a.node.short()),
        ));
        let mut scratch = Vec::new();
        let chain = verified_chain(l, &mut scratch);
        match (a.policy_version, chain.get(&a.policy_version)) {
            (0, _) => checks.push(Check {
                ok: matches!(a.outcome, Outcome::Refused { .. }),
                ..Check::ok(
                    &who,
                    "policy",
                    "no policy applied (a refusal before any policy)",
                )
            }),
            (v, Some(b)) if a.policy_hash.is_none_or(|h| h == b.hash()) => checks.push(Check::ok(
                &who,
                "policy",
                format!(
                    "made under v{v} {}, in the node's verified chain",
                    short(&b.hash())
                ),
            )),
            (v, Some(b)) => checks.push(Check::fail(
                &who,
                "policy",
                format!(
                    "names v{v} with hash {:?}, the chain's v{v} is {}",
                    a.policy_hash,
                    b.hash()
                ),
            )),
            (v, None) => checks.push(Check::fail(
                &who,
                "policy",
                format!("names v{v}, which is not in the node's verified chain"),
            )),
        }
        let chain_ok = chain_log::verify(&l.entries, None);
        let hash = signed.hash().to_string();
        let entry = l.entries.iter().find(|e| {
            matches!(e.kind, Kind::QueryAnswered | Kind::QueryRefused)
                && e.body["answer"].as_str() == Some(hash.as_str())
        });
        match (entry, chain_ok) {
            (_, Err(e)) => checks.push(Check::fail(
                &who,
                "log entry",
                format!("the node's log does not verify: {e}"),
            )),
            (None, Ok(())) => checks.push(Check::fail(
                &who,
                "log entry",
                format!(
                    "no entry of the node's log records answer {}",
                    short(&signed.hash())
                ),
            )),
            (Some(e), Ok(())) => {
                let answered = matches!(a.outcome, Outcome::Answered { .. });
                let same_query = e.body["queryHash"].as_str()
                    == Some(a.query_hash.to_string().as_str())
                    && e.body["query"].as_str() == Some(a.query.as_str());
                let same_outcome = answered == (e.kind == Kind::QueryAnswered);
                if same_query && same_outcome {
                    checks.push(Check::ok(
                        &who,
                        "log entry",
                        format!("entry {} ({}) records this answer", e.seq, e.kind.as_str()),
                    ));
                } else {
                    checks.push(Check::fail(
                        &who,
                        "log entry",
                        format!(
                            "entry {} records this answer hash for another query or outcome",
                            e.seq
                        ),
                    ));
                }
            }
        }
    }
    checks
}
