//! `regio dataset create|list`.

use std::path::Path;

use anyhow::{Context, Result};
use comfy_table::Table;
use regio_http::datasets::{CreateDataset, DatasetInfo, ListDatasets};

use crate::client::Client;

/// `regio dataset create SCHEMA.json`.
pub fn create(client: &Client, file: &Path, json: bool) -> Result<()> {
    let body = crate::io::read(file)?;
    let schema: regio_node::schema::Schema =
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
pub fn list(client: &Client, json: bool) -> Result<()> {
    let items = client.call(&ListDatasets)?;
    let field = |d: &DatasetInfo, key: &str| d.schema.get(key).cloned().unwrap_or_default();
    if json {
        let out: Vec<serde_json::Value> = items
            .iter()
            .map(|d| {
                serde_json::json!({
                    "dataset": field(d, "dataset"),
                    "records": d.records,
                    "chunks": d.chunks,
                    "schema": d.schema,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(out));
        return Ok(());
    }
    let mut table = Table::new();
    table.set_header(vec!["dataset", "records", "chunks", "subject", "time"]);
    for d in &items {
        let text = |key: &str| field(d, key).as_str().unwrap_or("-").to_string();
        table.add_row(vec![
            text("dataset"),
            d.records.to_string(),
            d.chunks.to_string(),
            text("subject"),
            text("time"),
        ]);
    }
    println!("{table}");
    Ok(())
}
