//! Dataset records from NDJSON and CSV.

use super::{collect, typed, Cell, IngestError, LineError, Mode, Parsed};
use regio_query::schema::{Schema, Value};

/// Splits NDJSON into (1-based line number, line), skipping blank lines.
pub(super) fn ndjson_lines(input: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    input
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

/// Parses one NDJSON line as a JSON object.
pub(super) fn json_object(
    line: u64,
    text: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, LineError> {
    match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => Err(LineError::new(
            line,
            None,
            "a JSON object",
            super::describe_json(&other),
        )),
        Err(e) => Err(LineError::new(
            line,
            None,
            "a JSON object",
            format!("invalid JSON ({e})"),
        )),
    }
}

/// Types a JSON object against `schema`: unknown keys are refused, missing keys are null.
pub(super) fn object_row(
    schema: &Schema,
    line: u64,
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<Value>, LineError> {
    if let Some(k) = map.keys().find(|k| schema.field(k).is_none()) {
        return Err(LineError::new(
            line,
            Some(k),
            "a field of the schema",
            "a field the schema does not declare",
        ));
    }
    schema
        .fields
        .iter()
        .map(|f| {
            let cell = map.get(&f.name).map_or(Cell::Absent, Cell::Json);
            typed(f, cell)
                .map_err(|(expected, found)| LineError::new(line, Some(&f.name), expected, found))
        })
        .collect()
}

/// Parses NDJSON records (one JSON object per line) against `schema`.
pub fn parse_ndjson(
    schema: &Schema,
    input: &[u8],
    mode: Mode,
) -> Result<Parsed<Vec<Value>>, IngestError> {
    collect(
        mode,
        ndjson_lines(input).map(|(n, text)| match super::fast::row(schema, text) {
            Some(row) => Ok(row),
            None => object_row(schema, n, &json_object(n, text)?),
        }),
    )
}

/// A CSV reader over `input` and its header (line 1).
pub(super) fn csv_reader(input: &[u8]) -> Result<(csv::Reader<&[u8]>, Vec<String>), LineError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| LineError::new(1, None, "a CSV header line", format!("{e}")))?;
    let names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    if names.iter().all(String::is_empty) {
        return Err(LineError::new(
            1,
            None,
            "a CSV header line",
            "an empty line",
        ));
    }
    Ok((reader, names))
}

/// Reads the CSV records of `reader`, each with its 1-based line number, checking width.
pub(super) fn csv_records<'a>(
    reader: &'a mut csv::Reader<&'a [u8]>,
    width: usize,
) -> impl Iterator<Item = Result<(u64, csv::StringRecord), LineError>> + 'a {
    let mut last_line = 1;
    reader.records().map(move |r| match r {
        Ok(rec) => {
            let line = rec.position().map_or(last_line + 1, |p| p.line());
            last_line = line;
            if rec.len() != width {
                return Err(LineError::new(
                    line,
                    None,
                    format!("{width} columns"),
                    format!("{} columns", rec.len()),
                ));
            }
            Ok((line, rec))
        }
        Err(e) => {
            let line = e.position().map_or(last_line + 1, |p| p.line());
            last_line = line;
            Err(LineError::new(
                line,
                None,
                "a CSV record of UTF-8 text",
                e.to_string(),
            ))
        }
    })
}

/// Parses CSV records against `schema`. The header names the columns (any order, each a
/// field of the schema; fields without a column must be nullable).
pub fn parse_csv(
    schema: &Schema,
    input: &[u8],
    mode: Mode,
) -> Result<Parsed<Vec<Value>>, IngestError> {
    let (mut reader, header) = csv_reader(input)?;
    let mut column_of = vec![None; schema.fields.len()];
    for (c, name) in header.iter().enumerate() {
        match schema.field(name) {
            Some((i, _)) if column_of[i].is_none() => column_of[i] = Some(c),
            Some(_) => {
                return Err(
                    LineError::new(1, Some(name), "each column once", "a repeated column").into(),
                )
            }
            None => {
                return Err(LineError::new(
                    1,
                    Some(name),
                    "a column named after a field of the schema",
                    "a column the schema does not declare",
                )
                .into())
            }
        }
    }
    if let Some(f) = schema
        .fields
        .iter()
        .zip(&column_of)
        .find(|(f, c)| c.is_none() && !f.nullable)
        .map(|(f, _)| f)
    {
        return Err(LineError::new(
            1,
            Some(&f.name),
            "a column for this non-nullable field",
            "no such column",
        )
        .into());
    }
    let rows = csv_records(&mut reader, header.len()).map(|r| {
        let (line, rec) = r?;
        schema
            .fields
            .iter()
            .zip(&column_of)
            .map(|(f, c)| {
                let cell = c.and_then(|c| rec.get(c)).map_or(Cell::Absent, Cell::Text);
                typed(f, cell).map_err(|(expected, found)| {
                    LineError::new(line, Some(&f.name), expected, found)
                })
            })
            .collect::<Result<Vec<Value>, LineError>>()
    });
    collect(mode, rows)
}
