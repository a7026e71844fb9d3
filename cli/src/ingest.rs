//! `regio ingest`: sends a records file to a node in batches of N lines.
//!
//! All-or-nothing holds **per batch** on the node; so that a bad line anywhere stores
//! nothing, this command first validates the whole file locally with the node's own
//! parser against the dataset's schema (fetched from the node), and sends nothing when a
//! line is invalid. With `--skip-invalid` each batch stores its valid lines and every
//! rejected line is listed. Line numbers are always the file's.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use regio_http::datasets::{self as wire, RejectedLine};
use regio_query::schema::Schema;
use regio_store::ingest::{self, Mode};

use crate::client::{ApiFailure, Client};
use crate::{progress, Reported, Usage};

/// Record file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One JSON object per line (.ndjson, .jsonl).
    Ndjson,
    /// CSV with a header line (.csv).
    Csv,
    /// NGSI-LD entities: a JSON array (.json, .jsonld) or NDJSON of entities.
    #[value(name = "ngsi-ld")]
    NgsiLd,
}

impl Format {
    /// The format as the API names it.
    fn wire(self) -> wire::Format {
        match self {
            Format::Ndjson => wire::Format::Ndjson,
            Format::Csv => wire::Format::Csv,
            Format::NgsiLd => wire::Format::NgsiLd,
        }
    }

    /// The format of a file from its extension.
    pub(crate) fn from_path(path: &Path) -> Result<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("ndjson" | "jsonl") => Ok(Format::Ndjson),
            Some("csv") => Ok(Format::Csv),
            Some("json" | "jsonld") => Ok(Format::NgsiLd),
            _ => Err(Usage(format!(
                "cannot tell the format of {} from its extension: pass --format ndjson|csv|ngsi-ld",
                path.display()
            ))
            .into()),
        }
    }
}

/// One batch: the bytes to send and how to map its line numbers back to the file's.
struct Batch {
    body: Vec<u8>,
    /// File line of the batch's first record.
    first_line: u64,
    /// Records (lines) in the batch.
    records: u64,
    /// Whether line 1 of the body is a repeated CSV header.
    header: bool,
}

impl Batch {
    fn file_line(&self, line: u64) -> u64 {
        match (self.header, line) {
            (true, 0 | 1) => 1,
            (true, l) => self.first_line + l - 2,
            (false, l) => self.first_line + l.saturating_sub(1),
        }
    }
}

/// Splits NDJSON at line boundaries, `rows` lines per batch.
fn split_lines(input: &[u8], rows: usize) -> Vec<Batch> {
    let mut out = Vec::new();
    let (mut start, mut line, mut count, mut first) = (0usize, 1u64, 0u64, 1u64);
    for (i, &b) in input.iter().enumerate() {
        if b == b'\n' {
            count += 1;
            line += 1;
            if count as usize == rows {
                out.push(Batch {
                    body: input[start..=i].to_vec(),
                    first_line: first,
                    records: count,
                    header: false,
                });
                (start, count, first) = (i + 1, 0, line);
            }
        }
    }
    if start < input.len() {
        let records = count + u64::from(!input.ends_with(b"\n"));
        out.push(Batch {
            body: input[start..].to_vec(),
            first_line: first,
            records,
            header: false,
        });
    }
    out
}

/// Splits CSV at record boundaries (quoted newlines respected), repeating the header.
fn split_csv(input: &[u8], rows: usize) -> Result<Vec<Batch>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let mut record = csv::ByteRecord::new();
    let mut starts = Vec::new();
    while reader
        .read_byte_record(&mut record)
        .context("cannot split the CSV file into records")?
    {
        if let Some(p) = record.position() {
            starts.push((p.byte() as usize, p.line()));
        }
    }
    let Some(&(first_byte, _)) = starts.first() else {
        return Ok(vec![Batch {
            body: input.to_vec(),
            first_line: 2,
            records: 0,
            header: true,
        }]);
    };
    let header = &input[..first_byte];
    Ok(starts
        .chunks(rows)
        .enumerate()
        .map(|(i, part)| {
            let (from, line) = part[0];
            let to = starts.get((i + 1) * rows).map_or(input.len(), |s| s.0);
            let mut body = header.to_vec();
            body.extend_from_slice(&input[from..to]);
            Batch {
                body,
                first_line: line,
                records: part.len() as u64,
                header: true,
            }
        })
        .collect())
}

fn split(input: &[u8], format: Format, rows: usize) -> Result<Vec<Batch>> {
    match format {
        Format::Ndjson => Ok(split_lines(input, rows)),
        Format::Csv => split_csv(input, rows),
        Format::NgsiLd if matches!(input.trim_ascii_start().first(), Some(b'[')) => {
            Ok(vec![Batch {
                body: input.to_vec(),
                first_line: 1,
                records: 0,
                header: false,
            }])
        }
        Format::NgsiLd => Ok(split_lines(input, rows)),
    }
}

fn parse(
    schema: &Schema,
    format: Format,
    body: &[u8],
    mode: Mode,
) -> Result<u64, ingest::IngestError> {
    let parsed = match format {
        Format::Ndjson => ingest::parse_ndjson(schema, body, mode),
        Format::Csv => ingest::parse_csv(schema, body, mode),
        Format::NgsiLd => ingest::parse_ngsi_ld(schema, body, mode),
    }?;
    Ok(parsed.rows.len() as u64)
}

/// Validates every batch with the node's parser, on all cores; the first bad line (in
/// file order) is returned as its message.
fn validate(schema: &Schema, format: Format, batches: &[Batch]) -> Option<String> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(batches.len().max(1));
    let per = batches.len().div_ceil(threads.max(1)).max(1);
    let errors: Vec<Option<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = batches
            .chunks(per)
            .map(|group| {
                s.spawn(move || {
                    group.iter().find_map(|b| {
                        match parse(schema, format, &b.body, Mode::AllOrNothing) {
                            Ok(_) => None,
                            Err(ingest::IngestError::Invalid(mut l)) => {
                                l.line = b.file_line(l.line);
                                Some(describe(l.line, l.field.as_deref(), &l.expected, &l.found))
                            }
                            Err(e) => Some(e.to_string()),
                        }
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Some("the validating thread panicked".into()))
            })
            .collect()
    });
    errors.into_iter().flatten().next()
}

fn describe(line: u64, field: Option<&str>, expected: &str, found: &str) -> String {
    match field {
        Some(f) => format!("line {line}, field {f}: expected {expected}, found {found}"),
        None => format!("line {line}: expected {expected}, found {found}"),
    }
}

fn describe_rejected(batch: &Batch, r: &RejectedLine) -> String {
    describe(
        batch.file_line(r.line),
        r.field.as_deref(),
        &r.expected,
        &r.found,
    )
}

/// Options of `regio ingest`.
pub(crate) struct IngestOptions<'a> {
    /// Target dataset.
    pub dataset: &'a str,
    /// The file.
    pub file: &'a Path,
    /// Format (default: from the extension).
    pub format: Option<Format>,
    /// Store valid lines, report rejected ones.
    pub skip_invalid: bool,
    /// Lines per batch.
    pub batch_rows: usize,
    /// Print JSON (and no progress bar).
    pub json: bool,
}

/// `regio ingest --node URL --dataset NAME FILE …`.
pub(crate) fn run(client: &Client, o: &IngestOptions<'_>) -> Result<()> {
    let format = match o.format {
        Some(f) => f,
        None => Format::from_path(o.file)?,
    };
    let input = crate::io::read(o.file)?;
    let started = Instant::now();
    client.check_admin()?;
    let list = client.call(&wire::ListDatasets)?;
    let schemas = list
        .into_iter()
        .map(|d| serde_json::to_value(d.schema).and_then(serde_json::from_value::<Schema>))
        .collect::<std::result::Result<Vec<_>, _>>()
        .context("the node sent a schema this CLI cannot read")?;
    let schema = schemas
        .into_iter()
        .find(|s| s.dataset == o.dataset)
        .with_context(|| format!("the node has no dataset `{}`: create it first with `regio dataset create SCHEMA.json`", o.dataset))?;
    let batches = split(&input, format, o.batch_rows.max(1))?;
    if !o.skip_invalid {
        if let Some(msg) = validate(&schema, format, &batches) {
            eprintln!("rejected: {msg}");
            eprintln!("nothing was sent or stored (fix the line, or pass --skip-invalid to store the valid lines)");
            return Err(Reported.into());
        }
    }
    let total: u64 = batches.iter().map(|b| b.records).sum();
    let bar = progress::bar(total, "lines", o.json);
    let request = wire::Ingest {
        dataset: o.dataset.to_string(),
        params: wire::IngestParams {
            format: format.wire(),
            skip_invalid: o.skip_invalid,
        },
    };
    let content_type = if format == Format::Csv {
        "text/csv"
    } else {
        "application/x-ndjson"
    };
    let (mut stored, mut rejected) = (0u64, Vec::new());
    for (i, batch) in batches.iter().enumerate() {
        let reply = match client.send(&request, content_type, &batch.body) {
            Ok(r) => r,
            Err(e) => {
                bar.finish_and_clear();
                if let Some(f) = e.downcast_ref::<ApiFailure>() {
                    if f.code == "ingest.invalid_line" {
                        match serde_json::from_value::<RejectedLine>(f.details.clone()) {
                            Ok(r) => eprintln!("rejected: {}", describe_rejected(batch, &r)),
                            Err(_) => eprintln!("rejected: {}", f.message),
                        }
                    }
                }
                eprintln!(
                    "{stored} records in batches 1..={i} were stored; batch {} and later were not",
                    i + 1
                );
                return Err(e);
            }
        };
        stored += reply.stored;
        for r in &reply.rejected {
            rejected.push(describe_rejected(batch, r));
        }
        bar.inc(batch.records);
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if o.json {
        println!(
            "{}",
            serde_json::json!({"dataset": o.dataset, "stored": stored, "rejected": rejected, "seconds": secs, "recordsPerSecond": stored as f64 / secs.max(1e-9)})
        );
    } else {
        for r in &rejected {
            eprintln!("rejected: {r}");
        }
        println!(
            "stored {stored} records into {} in {secs:.2} s ({:.0} records/s); {} rejected",
            o.dataset,
            stored as f64 / secs.max(1e-9),
            rejected.len()
        );
    }
    if rejected.is_empty() {
        Ok(())
    } else {
        Err(Reported.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_batches_map_lines() {
        let input = b"a\nb\nc\nd\ne";
        let b = split_lines(input, 2);
        assert_eq!(b.len(), 3);
        assert_eq!(
            (b[1].first_line, b[1].records, b[1].file_line(2)),
            (3, 2, 4)
        );
        assert_eq!((b[2].first_line, b[2].records), (5, 1));
    }

    #[test]
    fn csv_batches_repeat_the_header() {
        let input = b"x,y\n1,2\n\"3\n\",4\n5,6\n";
        let b = split_csv(input, 2).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].body, b"x,y\n5,6\n");
        assert_eq!(
            (b[1].first_line, b[1].file_line(2), b[1].file_line(1)),
            (5, 5, 1)
        );
    }
}
