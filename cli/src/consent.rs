//! `regio consent import`: sends a consent file (the generator's
//! `subject,purpose,granted,given_at,withdrawn_at`, CSV or NDJSON) to a node, in one
//! request: the whole file is imported, or (without --skip-invalid) nothing.
//! `regio consent grant|withdraw`: signs ConsentRecords (subject's or clerk's key) and
//! posts them to `/v1/consent`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{SubsecRound, Utc};
use regio_http::datasets::{ConsentFormat, ConsentImport, ConsentImportParams, RejectedLine};
use regio_http::documents::SubmitConsent;
use regio_policy::doc::consent::{Channel, ConsentRecord, Status};
use regio_policy::Signed;
use serde_json::{json, Value};

use crate::client::Client;
use crate::{io, Reported};

/// `regio consent import FILE [--skip-invalid]`.
pub(crate) fn import(
    client: &Client,
    file: &Path,
    csv: Option<bool>,
    skip_invalid: bool,
    json: bool,
) -> Result<()> {
    let csv = match csv {
        Some(c) => c,
        None => match file
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => true,
            Some("ndjson" | "jsonl") => false,
            _ => {
                return Err(crate::Usage(format!(
                    "cannot tell the format of {} from its extension: pass --format csv|ndjson",
                    file.display()
                ))
                .into())
            }
        },
    };
    client.check_admin()?;
    let body = io::read(file)?;
    let request = ConsentImport {
        params: ConsentImportParams {
            format: if csv {
                ConsentFormat::Csv
            } else {
                ConsentFormat::Ndjson
            },
            skip_invalid,
        },
    };
    let spinner = crate::progress::spinner(&format!("importing {}", file.display()), json);
    let reply = client.send(
        &request,
        if csv {
            "text/csv"
        } else {
            "application/x-ndjson"
        },
        &body,
    );
    spinner.finish_and_clear();
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            if let Some(f) = e.downcast_ref::<crate::client::ApiFailure>() {
                if let Ok(line) = serde_json::from_value::<RejectedLine>(f.details.clone()) {
                    eprintln!("rejected: {}", line.message);
                }
                eprintln!("nothing was imported");
            }
            return Err(e);
        }
    };
    let rejected = &reply.rejected;
    if json {
        println!(
            "{}",
            json!({"imported": reply.imported, "rejected": io::json_value(rejected)})
        );
    } else {
        for r in rejected {
            eprintln!("rejected: {}", r.message);
        }
        println!(
            "imported {} consent entries; {} rejected",
            reply.imported,
            rejected.len()
        );
    }
    if rejected.is_empty() {
        Ok(())
    } else {
        Err(Reported.into())
    }
}

/// Who signs a consent record.
pub(crate) enum Signer {
    /// The subject's own key.
    Subject(PathBuf),
    /// A clerk's key (the node must list the clerk in its config's `clerks`).
    Clerk(PathBuf),
}

/// What `regio consent grant|withdraw` was asked.
pub(crate) struct RecordOptions<'a> {
    /// Withdraw (else grant).
    pub withdraw: bool,
    /// The subject's pseudonym.
    pub subject: &'a str,
    /// Datasets (`*` for all).
    pub datasets: &'a [String],
    /// DPV purposes.
    pub purposes: &'a [String],
    /// Who signs.
    pub signer: Signer,
    /// The channel (default: app for the subject's key, desk for a clerk).
    pub channel: Option<Channel>,
    /// Print JSON.
    pub json: bool,
}

/// `regio consent grant|withdraw`: one signed ConsentRecord per purpose, id
/// `SUBJECT/PURPOSE` (the id `consent import` uses), so a record replaces the subject's
/// earlier decision for that purpose. Every record is built and signed before any is sent.
pub(crate) fn record(client: &Client, o: &RecordOptions<'_>) -> Result<()> {
    let (key_path, by_clerk) = match &o.signer {
        Signer::Subject(p) => (p, false),
        Signer::Clerk(p) => (p, true),
    };
    let key = io::read_key(key_path)?;
    let channel = o.channel.unwrap_or(if by_clerk {
        Channel::Desk
    } else {
        Channel::App
    });
    let controller = client.did()?;
    client.check_admin()?;
    let now = Utc::now().trunc_subsecs(0);
    let mut signed = Vec::new();
    for purpose in o.purposes {
        let rec = ConsentRecord {
            id: format!("{}/{purpose}", o.subject),
            subject: o.subject.to_owned(),
            subject_did: (!by_clerk).then(|| key.did().clone()),
            controller: controller.clone(),
            datasets: o.datasets.to_vec(),
            purposes: vec![purpose.clone()],
            status: if o.withdraw {
                Status::Withdrawn
            } else {
                Status::Given
            },
            given_at: now,
            withdrawn_at: o.withdraw.then_some(now),
            channel,
            clerk: by_clerk.then(|| key.did().clone()),
            notice: None,
            language: None,
        };
        let s = Signed::sign(rec, &key, now)
            .map_err(|e| anyhow::anyhow!("not a valid consent record: {e}"))?;
        signed.push(s);
    }
    let mut stored = Vec::new();
    for s in &signed {
        let reply = match client.send(
            &SubmitConsent,
            "application/json",
            s.raw().to_string().as_bytes(),
        ) {
            Ok(r) => r,
            Err(e) => {
                if !stored.is_empty() {
                    let ids: Vec<&str> = stored
                        .iter()
                        .map(|(id, _): &(String, String)| id.as_str())
                        .collect();
                    eprintln!("stored before the refusal: {}", ids.join(", "));
                }
                return Err(e);
            }
        };
        stored.push((s.doc().id.clone(), reply.hash));
    }
    let status = if o.withdraw { "withdrawn" } else { "given" };
    if o.json {
        let rows: Vec<Value> = stored
            .iter()
            .map(|(id, hash)| json!({"id": id, "status": status, "hash": hash}))
            .collect();
        println!("{}", Value::Array(rows));
    } else {
        for (id, hash) in &stored {
            println!(
                "stored consent {id} ({status}, channel {}, signed by {}): {hash}",
                channel_name(channel),
                key.did()
            );
        }
    }
    Ok(())
}

fn channel_name(c: Channel) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Parses `--channel` (`desk`, `paper`, `phone`, `kiosk`, `app`, `web`).
pub(crate) fn parse_channel(s: &str) -> std::result::Result<Channel, String> {
    serde_json::from_value(Value::String(s.to_owned()))
        .map_err(|_| format!("unknown channel {s:?}: one of desk, paper, phone, kiosk, app, web"))
}
