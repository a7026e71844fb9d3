//! `regio sign` and `regio verify`: any JSON document, with typed checks for Regio types.

use std::path::Path;

use anyhow::{bail, Result};
use chrono::{SubsecRound, Utc};
use regio_policy::proof::{self, ProofInfo, SignError};
use regio_policy::{DocHash, Key};
use serde_json::{json, Value};

use crate::io;
use crate::typed::{Known, TypedError};
use crate::{Failed, Reported};

/// Adds `key`'s proof to `value` (to its proof set when it has proofs). Validates a Regio
/// type first and checks that existing proofs verify, so nobody signs an invalid document.
pub(crate) fn add_my_proof(
    value: &mut Value,
    key: &Key,
    path: &Path,
    expect: Option<Known>,
) -> Result<()> {
    let shown = io::show(path);
    if !value.is_object() {
        bail!("{shown}: only a JSON object can be signed");
    }
    let known = Known::of(value);
    if let Some(want) = expect {
        if known != Some(want) {
            let found = value
                .get("type")
                .map(Value::to_string)
                .unwrap_or_else(|| "missing".into());
            bail!("{shown}: `type` is {found}, expected {}", want.name());
        }
    }
    if let Some(k) = known {
        k.validate_unsigned(value).map_err(|e| {
            anyhow::anyhow!(
                "{shown}: not a valid {}: {e} (fix it and sign again)",
                k.name()
            )
        })?;
    }
    if value.get("proof").is_some() {
        if let Err(e) = proof::verify(value) {
            bail!("{shown}: the document's existing proofs do not verify ({e}); refusing to add a proof to it");
        }
    }
    let now = Utc::now().trunc_subsecs(0);
    match proof::add_proof(value, key, now) {
        Ok(()) => Ok(()),
        Err(e @ SignError::AlreadySigned(_)) => bail!("{shown}: {e}; nothing to do"),
        Err(e) => bail!("{shown}: cannot sign: {e}"),
    }
}

/// `regio sign --key FILE IN [-o OUT]`.
pub(crate) fn sign(key: &Path, input: &Path, out: Option<&Path>) -> Result<()> {
    let key = io::read_key(key)?;
    let mut value = io::read_json(input)?;
    add_my_proof(&mut value, &key, input, None)?;
    let proofs = proof::verify(&value)
        .map_err(|e| anyhow::anyhow!("the signed document does not verify: {e}"))?;
    io::write_output(out, &io::pretty(&value))?;
    if let Some(k) = Known::of(&value) {
        if let Err(e @ TypedError::Signer(_)) = k.verify(&value) {
            eprintln!(
                "warning: {}: {e}; `regio verify` fails until the right key signs it",
                k.name()
            );
        }
    }
    eprintln!(
        "signed {} as {} ({} proof{})",
        type_label(&value),
        key.did(),
        proofs.len(),
        if proofs.len() == 1 { "" } else { "s" }
    );
    Ok(())
}

/// The document's `type` for messages: `A/B` for an array.
pub(crate) fn type_label(value: &Value) -> String {
    match value.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| t.as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
            .join("/"),
        _ => "(untyped document)".into(),
    }
}

/// A proof for the summary line: `did:key:z6Mk…bTQ2 (2023-02-24T23:36:38Z)`.
pub(crate) fn proof_label(p: &ProofInfo) -> String {
    match p.created {
        Some(t) => format!("{} ({})", p.signer.short(), proof::timestamp(t)),
        None => p.signer.short(),
    }
}

/// JSON of the proofs for `--json`.
pub(crate) fn proofs_json(proofs: &[ProofInfo]) -> Value {
    proofs
        .iter()
        .map(|p| json!({"signer": p.signer.as_str(), "created": p.created.map(proof::timestamp)}))
        .collect()
}

fn check(value: &Value) -> std::result::Result<(Vec<ProofInfo>, Option<String>), String> {
    let proofs = proof::verify(value).map_err(|e| e.to_string())?;
    let detail = match Known::of(value) {
        Some(k) => Some(k.verify(value).map_err(|e| format!("{}: {e}", k.name()))?),
        None => None,
    };
    Ok((proofs, detail))
}

/// `regio verify IN [--json]`.
pub(crate) fn verify(input: &Path, json_out: bool) -> Result<()> {
    let parsed = io::read(input).and_then(|b| io::parse_json(input, &b));
    let result = match parsed {
        Ok(value) => check(&value).map(|r| (value, r)),
        Err(e) if json_out => Err(format!("{e:#}")),
        Err(e) => return Err(e),
    };
    match result {
        Ok((value, (proofs, detail))) => {
            let hash = DocHash::of(&value);
            if json_out {
                println!(
                    "{}",
                    json!({"ok": true, "type": type_label(&value), "proofs": proofs_json(&proofs), "hash": hash.to_string()})
                );
            } else {
                let n = proofs.len();
                let who = proofs
                    .iter()
                    .map(proof_label)
                    .collect::<Vec<_>>()
                    .join(", ");
                let detail = detail.map(|d| format!(" [{d}]")).unwrap_or_default();
                println!(
                    "OK {}: {n} proof{} verified — {who}{detail}",
                    type_label(&value),
                    if n == 1 { "" } else { "s" }
                );
            }
            Ok(())
        }
        Err(reason) if json_out => {
            println!(
                "{}",
                json!({"ok": false, "file": io::show(input), "error": reason})
            );
            Err(Reported.into())
        }
        Err(reason) => Err(Failed(format!("{reason} [{}]", io::show(input))).into()),
    }
}
