//! `regio catalog import|show|search`: the operator publishes the node's catalog entries
//! from a TOML file; anyone reads the catalog as DCAT-AP 3 (JSON-LD, Turtle) or the signed
//! document, and searches every member's catalog of a region.

use std::path::Path;

use anyhow::{bail, Context, Result};
use comfy_table::Table;
use regio_http::catalog::{
    CatalogParams, PublishCatalog, SearchCatalog, SearchReply, SignedCatalog,
};
use regio_http::region::ListRegions;
use regio_policy::doc::catalog::Entries;

use crate::client::Client;
use crate::io;

/// `regio catalog import FILE.toml`: the entries (TOML, or JSON for a `.json` file) are
/// checked here, then signed by the node as its next catalog version.
pub(crate) fn import(client: &Client, file: &Path, json: bool) -> Result<()> {
    let bytes = io::read(file)?;
    let value: serde_json::Value = if file.extension().is_some_and(|e| e == "json") {
        io::parse_json(file, &bytes)?
    } else {
        let text = std::str::from_utf8(&bytes)
            .with_context(|| format!("{} is not UTF-8 text", file.display()))?;
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.to_string().trim()))?;
        serde_json::to_value(table).context("the TOML does not convert to JSON")?
    };
    let entries: Entries = serde_path_to_error::deserialize(&value)
        .map_err(|e| anyhow::anyhow!("{}: field `{}`: {}", file.display(), e.path(), e.inner()))?;
    let body = serde_json::to_vec(&entries)?;
    let reply = client.send(&PublishCatalog, "application/json", &body)?;
    if json {
        println!("{}", io::json_value(&reply));
    } else {
        println!(
            "published catalog version {} ({}): {} of {} datasets described, {} initiatives",
            reply.version, reply.hash, reply.described, reply.datasets, reply.initiatives
        );
    }
    Ok(())
}

/// How `regio catalog show` prints the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Form {
    /// DCAT-AP 3 as JSON-LD.
    Jsonld,
    /// DCAT-AP 3 as Turtle.
    Turtle,
    /// The signed Catalog document (check it with `regio verify`).
    Signed,
}

/// `regio catalog show [--region ID] [--form jsonld|turtle|signed] [--out FILE]`.
pub(crate) fn show(
    client: &Client,
    region: Option<&str>,
    form: Form,
    out: Option<&Path>,
) -> Result<()> {
    let text = match form {
        Form::Signed => {
            if region.is_some() {
                bail!("--form signed shows this node's own signed catalog; leave out --region");
            }
            io::pretty(&client.call(&SignedCatalog)?)
        }
        Form::Jsonld | Form::Turtle => {
            let request = SearchCatalog(CatalogParams {
                region: region.map(str::to_string),
                ..CatalogParams::default()
            });
            let accept = if form == Form::Turtle {
                "text/turtle"
            } else {
                "application/ld+json"
            };
            client.get_text(&request, accept)?
        }
    };
    io::write_output(out, text.trim_end())
}

/// The filters of `regio catalog search`.
pub(crate) struct Search<'a> {
    pub(crate) text: Option<&'a str>,
    pub(crate) region: Option<&'a str>,
    pub(crate) theme: Option<&'a str>,
    pub(crate) municipality: Option<&'a str>,
}

/// `regio catalog search [TEXT] [--region ID] [--theme T] [--municipality NIS|NAME] [--json]`.
/// Without `--region`, the node's only region (or its own catalog when it is in none).
pub(crate) fn search(client: &Client, s: &Search<'_>, json: bool) -> Result<()> {
    let region = match s.region {
        Some(r) => Some(r.to_string()),
        None => {
            let regions = client.call(&ListRegions)?;
            match regions.as_slice() {
                [] => None,
                [one] => Some(one.id.clone()),
                many => bail!(
                    "the node is in {} regions ({}): choose one with --region",
                    many.len(),
                    many.iter()
                        .map(|r| r.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    };
    let reply: SearchReply = client.call(&SearchCatalog(CatalogParams {
        region: region.clone(),
        q: s.text.map(str::to_string),
        theme: s.theme.map(str::to_string),
        municipality: s.municipality.map(str::to_string),
    }))?;
    if json {
        println!("{}", io::json_value(&reply));
        return Ok(());
    }
    let mut table = Table::new();
    table.set_header(vec![
        "municipality",
        "kind",
        "id",
        "title",
        "themes",
        "node",
    ]);
    for h in &reply.hits {
        table.add_row(vec![
            format!("{} ({})", h.member.name, h.member.nis),
            h.kind.clone(),
            h.id.clone(),
            h.title_nl.clone(),
            h.themes.join(" "),
            h.member.node.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    println!("{table}");
    let scope = region.map_or_else(
        || "this node's catalog".to_string(),
        |r| format!("region {r}"),
    );
    println!(
        "{} found in {}: {} catalogs searched",
        reply.hits.len(),
        scope,
        reply.searched
    );
    if !reply.missing.is_empty() {
        let names: Vec<&str> = reply.missing.iter().map(|m| m.name.as_str()).collect();
        println!(
            "not searched (their catalog has not reached this node yet): {}",
            names.join(", ")
        );
    }
    Ok(())
}
