//! `regio dataset create|list`.

use std::path::Path;

use anyhow::{Context, Result};
use comfy_table::Table;
use regio_http::datasets::{CreateDataset, ListDatasets};

use crate::client::Client;
use crate::io;

/// `regio dataset create SCHEMA.json`.
pub(crate) fn create(client: &Client, file: &Path, json: bool) -> Result<()> {
    let body = crate::io::read(file)?;
    let schema: regio_query::schema::Schema =
        serde_json::from_slice(&body).with_context(|| format!("{} is not a dataset schema (JSON: {{\"dataset\", \"fields\": [{{\"name\", \"type\", \"nullable\"}}], \"subject\", \"time\"}})", file.display()))?;
    schema
        .validate()
        .with_context(|| format!("invalid schema in {}", file.display()))?;
    client.send(&CreateDataset, "application/json", &body)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"dataset": schema.dataset, "fields": schema.fields.len(), "schema": schema})
        );
    } else {
        println!(
            "created dataset {} ({} fields)",
            schema.dataset,
            schema.fields.len()
        );
    }
    Ok(())
}

/// `regio dataset list [--json]`.
pub(crate) fn list(client: &Client, json: bool) -> Result<()> {
    let items = client.call(&ListDatasets)?;
    if json {
        let out: Vec<serde_json::Value> = items
            .iter()
            .map(|d| {
                serde_json::json!({
                    "dataset": d.schema.dataset,
                    "records": d.records,
                    "chunks": d.chunks,
                    "schema": io::json_value(&d.schema),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(out));
        return Ok(());
    }
    let mut table = Table::new();
    table.set_header(vec!["dataset", "records", "chunks", "subject", "time"]);
    for d in &items {
        let s = &d.schema;
        let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        table.add_row(vec![
            s.dataset.clone(),
            d.records.to_string(),
            d.chunks.to_string(),
            text(&s.subject),
            text(&s.time),
        ]);
    }
    println!("{table}");
    Ok(())
}
