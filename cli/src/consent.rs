//! `regio consent import`: sends a consent file (the generator's
//! `subject,purpose,granted,given_at,withdrawn_at`, CSV or NDJSON) to a node, in one
//! request: the whole file is imported, or (without --skip-invalid) nothing.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::client::Client;
use crate::Reported;

/// `regio consent import FILE [--skip-invalid]`.
pub fn import(client: &Client, file: &Path, csv: Option<bool>, skip_invalid: bool) -> Result<()> {
    let csv = match csv {
        Some(c) => c,
        None => match file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => true,
            Some("ndjson" | "jsonl") => false,
            _ => bail!("cannot tell the format of {} from its extension: pass --format csv|ndjson", file.display()),
        },
    };
    client.check_admin()?;
    let body = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let format = if csv { "csv" } else { "ndjson" };
    let path = format!("/v1/consent/import?format={format}&skip_invalid={skip_invalid}");
    let reply = match client.post(&path, if csv { "text/csv" } else { "application/x-ndjson" }, &body) {
        Ok(r) => r,
        Err(e) => {
            if let Some(f) = e.downcast_ref::<crate::client::ApiFailure>() {
                if let Some(m) = f.details["message"].as_str() {
                    eprintln!("rejected: {m}");
                }
                eprintln!("nothing was imported");
            }
            return Err(e);
        }
    };
    let rejected = reply["rejected"].as_array().cloned().unwrap_or_default();
    for r in &rejected {
        eprintln!("rejected: {}", r["message"].as_str().unwrap_or("?"));
    }
    println!("imported {} consent entries; {} rejected", reply["imported"], rejected.len());
    if rejected.is_empty() {
        Ok(())
    } else {
        Err(Reported.into())
    }
}
