//! The citizen desk (owner: audit): `regio consent history` lists the queries that counted
//! a subject's rows and the subject's consent changes; `regio consent receipt` writes the
//! subject's consent as a Kantara Consent Receipt v1.1. Both talk to the node's admin API
//! (the desk clerk serves the citizen) and show nothing about other subjects.

use std::path::Path;

use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use regio_http::citizen::{History, Receipt, SubjectParams};

use crate::client::Client;
use crate::io;

fn text(v: Option<&str>) -> String {
    v.map_or_else(|| "—".into(), str::to_string)
}

fn list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

fn params(subject: &str) -> SubjectParams {
    SubjectParams {
        subject: subject.to_string(),
    }
}

/// `regio consent history --subject ID`.
pub(crate) fn history(client: &Client, subject: &str, json: bool) -> Result<()> {
    let h = client.call(&History(params(subject)))?;
    if json {
        println!("{}", io::json_value(&h));
        return Ok(());
    }
    println!(
        "Queries that counted rows of {subject}: {}",
        h.queries.len()
    );
    if !h.queries.is_empty() {
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
        for q in &h.queries {
            t.add_row([
                text(q.at.as_deref()),
                text(q.application.as_deref()),
                text(q.purpose.as_deref()),
                text(q.region.as_deref()),
                text(q.dataset.as_deref()),
                text(q.answer.as_deref()),
            ]);
        }
        println!("{t}");
    }
    println!("Consent changes of {subject}: {}", h.consent.len());
    if !h.consent.is_empty() {
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
        for c in &h.consent {
            t.add_row([
                c.id.clone(),
                c.status.clone(),
                list(&c.datasets),
                list(&c.purposes),
                text(c.given_at.as_deref()),
                text(c.withdrawn_at.as_deref()),
                c.channel.clone(),
            ]);
        }
        println!("{t}");
    }
    Ok(())
}

/// `regio consent receipt --subject ID [-o FILE]`.
pub(crate) fn receipt(client: &Client, subject: &str, out: Option<&Path>) -> Result<()> {
    let r = client.call(&Receipt(params(subject)))?;
    io::write_output(out, &io::pretty(&io::json_value(&r)))
}
