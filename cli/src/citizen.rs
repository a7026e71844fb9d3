//! The citizen desk (owner: audit): `regio consent history` lists the queries that counted
//! a subject's rows and the subject's consent changes; `regio consent receipt` writes the
//! subject's consent as a Kantara Consent Receipt v1.1. Both talk to the node's admin API
//! (the desk clerk serves the citizen) and show nothing about other subjects.

use std::path::Path;

use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::Value;

use crate::client::Client;
use crate::io;

fn encode(subject: &str) -> String {
    subject
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// `regio consent history --subject ID`.
pub fn history(client: &Client, subject: &str, json: bool) -> Result<()> {
    let h = client.get(
        &format!("/v1/consent/history?subject={}", encode(subject)),
        true,
    )?;
    if json {
        println!("{h}");
        return Ok(());
    }
    let queries = h["queries"].as_array().cloned().unwrap_or_default();
    println!("Queries that counted rows of {subject}: {}", queries.len());
    if !queries.is_empty() {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        t.set_header([
            "time",
            "application",
            "purpose",
            "region",
            "dataset",
            "answer",
        ]);
        for q in &queries {
            t.add_row([
                text(&q["at"]),
                text(&q["application"]),
                text(&q["purpose"]),
                text(&q["region"]),
                text(&q["dataset"]),
                text(&q["answer"]),
            ]);
        }
        println!("{t}");
    }
    let consent = h["consent"].as_array().cloned().unwrap_or_default();
    println!("Consent changes of {subject}: {}", consent.len());
    if !consent.is_empty() {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        t.set_header([
            "id",
            "status",
            "datasets",
            "purposes",
            "given",
            "withdrawn",
            "channel",
        ]);
        for c in &consent {
            t.add_row([
                text(&c["id"]),
                text(&c["status"]),
                text(&c["datasets"]),
                text(&c["purposes"]),
                text(&c["givenAt"]),
                text(&c["withdrawnAt"]),
                text(&c["channel"]),
            ]);
        }
        println!("{t}");
    }
    Ok(())
}

/// `regio consent receipt --subject ID [-o FILE]`.
pub fn receipt(client: &Client, subject: &str, out: Option<&Path>) -> Result<()> {
    let r = client.get(
        &format!("/v1/consent/receipt?subject={}", encode(subject)),
        true,
    )?;
    io::write_output(out, &io::pretty(&r))
}
