//! `regio charter sign|verify` (offline) and `regio charter submit` (stores it at a node).

use std::path::Path;

use anyhow::Result;
use regio_policy::doc::charter::{DisclosureClause, InclusionCharter, MinGranularity};
use regio_policy::proof;
use regio_policy::{Did, Signed};
use serde_json::json;

use crate::client::Client;
use crate::typed::Known;
use crate::{io, sign, Failed, Reported};

/// `regio charter sign --key K FILE [-o OUT]`.
pub(crate) fn sign(key: &Path, file: &Path, out: Option<&Path>) -> Result<()> {
    let key = io::read_key(key)?;
    let mut value = io::read_json(file)?;
    sign::add_my_proof(&mut value, &key, file, Some(Known::InclusionCharter))?;
    let signed = Signed::<InclusionCharter>::verify(value)
        .map_err(|e| anyhow::anyhow!("the signed charter does not verify: {e}"))?;
    io::write_output(out, &signed.to_json_pretty())?;
    eprintln!(
        "signed charter {} as {}; {} member signature{} now",
        signed.doc().id,
        key.did(),
        signed.signers().len(),
        if signed.signers().len() == 1 { "" } else { "s" }
    );
    Ok(())
}

fn granularity(g: &MinGranularity) -> String {
    match g {
        MinGranularity::Never => "never".into(),
        MinGranularity::Time(u) => format!("{u:?}").to_lowercase() + " or coarser",
        MinGranularity::NumericBin(w) => format!("bins ≥ {w}"),
    }
}

/// The disclosure clause in plain words (exact mode says that it does not resist differencing).
pub(crate) fn disclosure_line(d: &DisclosureClause) -> String {
    if d.exact() {
        "EXACT for personal data, chosen explicitly: small groups (k distinct citizens) are suppressed, but exact answers do NOT resist differencing (two queries that differ by one citizen reveal that citizen)".into()
    } else {
        format!(
            "differential privacy for personal data: epsilon {} per query, budget {} per application per {} s at each member, at most {} rows per citizen per group and {} groups per citizen, delta {}",
            d.epsilon_per_query, d.budget.epsilon, d.budget.window_seconds, d.rows_per_subject_per_group, d.groups_per_subject, d.delta
        )
    }
}

/// `regio charter verify FILE [--members DID,…] [--json]`.
pub(crate) fn verify(file: &Path, members: &[Did], json_out: bool) -> Result<()> {
    let shown = io::show(file);
    let loaded = io::read_json(file).map_err(|e| format!("{e:#}")).and_then(|v| {
        if v.get("proof").is_none() {
            return Err(format!("{shown}: the charter has no proof yet (members sign it with `regio charter sign`)"));
        }
        Signed::<InclusionCharter>::verify(v).map_err(|e| format!("{shown}: not a valid signed InclusionCharter: {e}"))
    });
    let signed = match loaded {
        Ok(s) => s,
        Err(e) if json_out => {
            println!("{}", json!({"ok": false, "error": e}));
            return Err(Reported.into());
        }
        Err(e) => return Err(Failed(e).into()),
    };
    let missing: Vec<&Did> = members.iter().filter(|m| !signed.signed_by(m)).collect();
    let error = (!missing.is_empty()).then(|| {
        format!(
            "missing signature of member{} {} [{shown}]",
            if missing.len() == 1 { "" } else { "s" },
            missing
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    let d = signed.doc();
    let c = &d.clauses;
    if json_out {
        println!(
            "{}",
            json!({
                "ok": error.is_none(),
                "error": error,
                "id": d.id,
                "signers": signed.signers().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "missing": missing.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "proofs": sign::proofs_json(signed.proofs()),
                "hash": signed.hash().to_string(),
                "clauses": serde_json::to_value(c).unwrap_or_default(),
                "disclosure": disclosure_line(&c.disclosure),
            })
        );
        return if error.is_none() {
            Ok(())
        } else {
            Err(Reported.into())
        };
    }
    let title = d
        .title
        .get("en")
        .or_else(|| d.title.values().next())
        .cloned()
        .unwrap_or_default();
    println!("charter            {} — {}", d.id, title);
    println!("allowed purposes   {}", c.allowed_purposes.join(", "));
    println!("min group size     {}", c.min_group_size);
    let protected: Vec<String> = c
        .protected_attributes
        .iter()
        .map(|p| format!("{} ({})", p.attribute, granularity(&p.min_granularity)))
        .collect();
    println!("protected          {}", protected.join(", "));
    println!(
        "quota              {} queries per member per {} s",
        c.quota.queries_per_member, c.quota.window_seconds
    );
    let channels: Vec<String> = c
        .consent_channels
        .iter()
        .map(|ch| format!("{ch:?}").to_lowercase())
        .collect();
    println!("consent channels   {}", channels.join(", "));
    println!("result formats     {}", c.result_formats.join(", "));
    println!("disclosure         {}", disclosure_line(&c.disclosure));
    println!("hash               {}", signed.hash());
    for p in signed.proofs() {
        let mark = if members.contains(&p.signer) {
            " (member)"
        } else {
            ""
        };
        println!(
            "signed by          {}{mark}{}",
            p.signer,
            p.created
                .map(|t| format!(" at {}", proof::timestamp(t)))
                .unwrap_or_default()
        );
    }
    match error {
        None => {
            let n = signed.signers().len();
            if members.is_empty() {
                println!("OK {n} signature{} verified", if n == 1 { "" } else { "s" });
            } else {
                println!(
                    "OK {n} signature{} verified; all {} listed members signed",
                    if n == 1 { "" } else { "s" },
                    members.len()
                );
            }
            Ok(())
        }
        Some(e) => Err(Failed(e).into()),
    }
}

/// `regio charter submit [--node URL] CHARTER.json [--json]`: verifies the charter here,
/// then stores it at the node (`POST /v1/charters`, admin).
pub(crate) fn submit(client: &Client, file: &Path, json_out: bool) -> Result<()> {
    let shown = io::show(file);
    let signed = Signed::<InclusionCharter>::verify(io::read_json(file)?)
        .map_err(|e| Failed(format!("{shown}: not a valid signed InclusionCharter: {e}")))?;
    let reply = client.send(
        &regio_http::documents::SubmitCharter,
        "application/json",
        signed.raw().to_string().as_bytes(),
    )?;
    let hash = reply.hash;
    if json_out {
        println!(
            "{}",
            json!({"id": signed.doc().id, "signers": signed.signers().len(), "hash": hash})
        );
    } else {
        println!(
            "stored charter {} ({} signatures): {hash}",
            signed.doc().id,
            signed.signers().len()
        );
    }
    Ok(())
}
