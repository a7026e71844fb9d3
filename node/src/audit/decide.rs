//! `regio audit decide`: re-runs the decision engine (`regio_policy::decision`) for logged
//! queries, from the exported documents alone: the query as received (by its logged hash),
//! the policy version, manifest, charter, certificate and revocations the entry names, at
//! the logged decision time, and checks that the logged decision comes out again.
//!
//! State the documents do not hold is taken from the entry and said so: the ledger's quota
//! counter (`quotaUsed`) and privacy budget spent (`budgetSpent`) as the node read them —
//! after a reservation lost to a concurrent query, the fresh counters that refused it — and
//! the nonce store — a `query.replayed` refusal is decided after the
//! policy (a re-run of the policy gives `allow`, which is what is checked).

use chrono::{DateTime, Duration, Utc};
use regio_policy::decision::access::Rules;
use regio_policy::decision::{self, Context, Decision, Limits, Reason};
use regio_policy::doc::cert::{EthicsCertificate, Revocation};
use regio_policy::doc::charter::InclusionCharter;
use regio_policy::doc::manifest::RegionManifest;
use regio_policy::signed::Document;
use regio_policy::{Did, DocHash, Signed};
use regio_query::{self, PlanError};
use regio_store::audit::{Entry, Kind};
use serde_json::Value;

use super::files::{Item, Loaded};
use super::verify::{verified_chain, Check};

/// The signed document of type `T` with this hash among `items`.
fn find<T: Document>(
    items: &[Item],
    hash: &Value,
    what: &str,
) -> Result<Option<Signed<T>>, String> {
    let Some(h) = hash.as_str() else {
        return Ok(None);
    };
    let h: DocHash = h.parse().map_err(|e| format!("logged {what} hash: {e}"))?;
    let item = items
        .iter()
        .find(|i| DocHash::of(&i.value) == h)
        .ok_or_else(|| format!("the {what} {h} the entry names is not in the export"))?;
    Signed::<T>::verify(item.value.clone())
        .map(Some)
        .map_err(|e| format!("{}: {e}", item.origin))
}

/// The decision of the entry as logged: `allow` or the reason code.
fn logged(e: &Entry) -> String {
    match e.kind {
        Kind::QueryAnswered => "allow".into(),
        _ => e.body["reason"].as_str().unwrap_or("?").into(),
    }
}

/// Re-runs one entry's decision: `(decision, note)` or why it cannot be re-run.
fn rerun(l: &Loaded, e: &Entry) -> Result<(String, String), String> {
    let d = &e.body["decision"];
    if !d.is_object() {
        return Err("the entry records no decision inputs (logged by an older node)".into());
    }
    let at: DateTime<Utc> = d["at"]
        .as_str()
        .ok_or("no decision time")?
        .parse::<DateTime<Utc>>()
        .map_err(|e| format!("decision time: {e}"))?;
    let qh: DocHash = e.body["queryHash"]
        .as_str()
        .ok_or("no query hash")?
        .parse()?;
    let raw = l
        .queries
        .iter()
        .find(|i| DocHash::of(&i.value) == qh)
        .ok_or_else(|| format!("the query {qh} is not in the export"))?;
    let query = match decision::verify_query(raw.value.clone()) {
        Ok(q) => q,
        Err(r) => return Ok((r.reason.code().into(), String::new())),
    };
    let Some(version) = d["policyVersion"].as_u64() else {
        return Ok((Reason::PolicyMissing.code().into(), String::new()));
    };
    let mut scratch = Vec::new();
    let chain = verified_chain(l, &mut scratch);
    let policy = chain
        .get(&version)
        .ok_or_else(|| format!("policy v{version} is not in the export's verified chain"))?;
    if d["policyHash"].as_str() != Some(policy.hash().to_string().as_str()) {
        return Err(format!(
            "the entry names policy v{version} {}, the chain's v{version} is {}",
            d["policyHash"],
            policy.hash()
        ));
    }
    let lookup = |name: &str| l.datasets.iter().find(|s| s.dataset == name).cloned();
    let shape = match regio_query::plan(&query.doc().sql, lookup) {
        Ok((_, shape)) => shape,
        Err(PlanError::UnknownDataset { .. }) => {
            return Ok((Reason::DatasetUnknown.code().into(), String::new()))
        }
        Err(_) => return Ok((Reason::QueryUnsupported.code().into(), String::new())),
    };
    let rules =
        Rules::compile(&policy.doc().access).map_err(|e| format!("policy v{version}: {e}"))?;
    let region: Option<Signed<RegionManifest>> =
        find(&l.manifests, &d["manifest"]["hash"], "manifest")?;
    let charter: Option<Signed<InclusionCharter>> = find(&l.charters, &d["charter"], "charter")?;
    let certificate: Option<Signed<EthicsCertificate>> =
        find(&l.certificates, &d["certificate"], "certificate")?;
    let mut revocations: Vec<Signed<Revocation>> = Vec::new();
    for h in d["revocations"].as_array().into_iter().flatten() {
        revocations.extend(find::<Revocation>(&l.revocations, h, "revocation")?);
    }
    let sender: Option<Did> =
        serde_json::from_value(d["sender"].clone()).map_err(|e| format!("sender: {e}"))?;
    let quota_used = d["quotaUsed"].as_u64().unwrap_or(0) as u32;
    let budget_spent = d["budgetSpent"].as_f64().unwrap_or(0.0);
    let limits = Limits {
        max_query_lifetime: Duration::seconds(
            d["limits"]["maxQueryLifetimeSeconds"]
                .as_i64()
                .ok_or("no limits logged")?,
        ),
        clock_skew: Duration::seconds(
            d["limits"]["clockSkewSeconds"]
                .as_i64()
                .ok_or("no limits logged")?,
        ),
    };
    let ctx = Context {
        now: at,
        policy,
        rules: &rules,
        region: region.as_ref(),
        charter: charter.as_ref(),
        certificate: certificate.as_ref(),
        revocations: &revocations,
        sender: sender.as_ref(),
        nonce_seen: false,
        quota_used,
        budget_spent,
        limits,
    };
    let note = format!(
        "at {}, policy v{version}; quota counter {quota_used} and privacy budget spent {budget_spent} from the log (state)",
        regio_policy::time::format(&at)
    );
    Ok(match decision::decide(&query, &shape, &ctx) {
        Decision::Allow(_) => ("allow".into(), note),
        Decision::Refuse(r) => (r.reason.code().into(), note),
    })
}

/// Re-runs the decisions of the entries selected (`seq`, or all query entries).
pub fn decide(l: &Loaded, seq: Option<u64>) -> Vec<Check> {
    let entries: Vec<&Entry> = l
        .entries
        .iter()
        .filter(|e| {
            matches!(e.kind, Kind::QueryAnswered | Kind::QueryRefused)
                && seq.is_none_or(|s| e.seq == s)
        })
        .collect();
    if entries.is_empty() {
        let what = seq.map_or_else(
            || "no query entries in the log".to_string(),
            |s| format!("entry {s} is not a query entry of the log"),
        );
        return vec![Check::fail(&l.name, "decide", what)];
    }
    entries
        .into_iter()
        .map(|e| {
            let subject = format!("{} entry {}", l.name, e.seq);
            let was = logged(e);
            match rerun(l, e) {
                Err(why) => Check::fail(&subject, "re-run", why),
                Ok((now, note)) if now == was => Check::ok(&subject, "re-run", format!("logged {was}, re-run {now} ({note})")),
                Ok((now, _)) if was == Reason::QueryReplayed.code() && now == "allow" => {
                    Check::ok(&subject, "re-run", format!("logged {was}: state-dependent (nonce already used); the policy decision before that check re-runs as allow"))
                }
                Ok((now, note)) => Check::fail(&subject, "re-run", format!("logged {was}, re-run gives {now} ({note})")),
            }
        })
        .collect()
}
