//! Ingest parsing (owner: storage): NDJSON, CSV and NGSI-LD entities checked against a
//! dataset's [`Schema`] into typed rows, then cut into chunks ([`into_chunks`]); and the
//! consent files of the generator (`subject,purpose,granted,given_at,withdrawn_at`) into
//! [`consent::Entry`]s.
//!
//! Every rejected line is a [`LineError`] naming its line (1-based; in CSV the header is
//! line 1; in a JSON array of NGSI-LD entities, the entity's position), the field, and
//! what was expected versus found. [`Mode::AllOrNothing`] stops at the first error (the
//! caller stores nothing); [`Mode::SkipInvalid`] keeps the valid rows and reports every
//! rejected line. Parsing never touches the store: storing is the caller's one atomic
//! append, so a failed batch changes nothing.
//!
//! Accepted values: timestamps in RFC 3339, or `YYYY-MM-DD HH:MM:SS[.f][+00[:00]]` (no
//! offset: UTC) as CSV writers produce; geo points as `{"lat":…,"lon":…}` or a GeoJSON
//! `Point` (in CSV: that JSON in the cell); an empty CSV cell is null (an empty string for
//! a non-nullable string field); integers are accepted where floats are expected.

mod consent_file;
mod fast;
mod ngsi;
mod records;

pub use consent_file::{parse_consent_csv, parse_consent_ndjson};
pub use ngsi::parse_ngsi_ld;
pub use records::{parse_csv, parse_ndjson};

use chrono::DateTime;

use crate::consent;
use regio_query::chunk::{Chunk, ChunkError, CHUNK_ROWS};
use regio_query::schema::{Field, FieldType, Schema, Value};

/// What to do with invalid lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The first invalid line fails the whole batch.
    AllOrNothing,
    /// Invalid lines are reported and left out; valid ones are kept.
    SkipInvalid,
}

/// One rejected line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: expected {expected}, found {found}", field.as_ref().map(|f| format!(", field `{f}`")).unwrap_or_default())]
pub struct LineError {
    /// 1-based line (CSV: the header is line 1) or entity position.
    pub line: u64,
    /// The field, when the problem is one field's.
    pub field: Option<String>,
    /// What was expected.
    pub expected: String,
    /// What was found.
    pub found: String,
}

impl LineError {
    fn new(
        line: u64,
        field: Option<&str>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        LineError {
            line,
            field: field.map(str::to_string),
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// Why a batch was not parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// A line is invalid (all-or-nothing mode, or a CSV header that does not fit the schema).
    #[error(transparent)]
    Invalid(#[from] LineError),
    /// The rows could not be cut into chunks.
    #[error(transparent)]
    Chunk(#[from] ChunkError),
}

/// The outcome of parsing a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    /// The valid items, in input order.
    pub rows: Vec<T>,
    /// Every rejected line (empty in all-or-nothing mode).
    pub rejected: Vec<LineError>,
}

/// Collects per-line results according to `mode`.
fn collect<T>(
    mode: Mode,
    items: impl Iterator<Item = Result<T, LineError>>,
) -> Result<Parsed<T>, IngestError> {
    let mut out = Parsed {
        rows: Vec::new(),
        rejected: Vec::new(),
    };
    for item in items {
        match (item, mode) {
            (Ok(row), _) => out.rows.push(row),
            (Err(e), Mode::AllOrNothing) => return Err(e.into()),
            (Err(e), Mode::SkipInvalid) => out.rejected.push(e),
        }
    }
    Ok(out)
}

/// One input value before typing: a JSON value, a CSV cell, or nothing.
#[derive(Clone, Copy)]
enum Cell<'a> {
    Json(&'a serde_json::Value),
    Text(&'a str),
    Absent,
}

fn describe_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => describe_text(s),
        serde_json::Value::Array(_) => "an array".into(),
        serde_json::Value::Object(_) => "an object".into(),
    }
}

fn describe_text(s: &str) -> String {
    if s.is_empty() {
        return "an empty value".into();
    }
    let short: String = s.chars().take(40).collect();
    format!(
        "{:?}{}",
        short,
        if short.len() < s.len() { "…" } else { "" }
    )
}

/// The name of a type in error messages.
pub fn type_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String => "a string",
        FieldType::Integer => "an integer",
        FieldType::Float => "a number",
        FieldType::Timestamp => "an RFC 3339 timestamp",
        FieldType::GeoPoint => "a point ({\"lat\":…,\"lon\":…} or GeoJSON Point)",
    }
}

/// Microseconds since the epoch of an RFC 3339 or `YYYY-MM-DD HH:MM:SS[+00]` timestamp.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    // The fallback form is ASCII: byte offsets below are then character boundaries.
    if !s.is_ascii() {
        return None;
    }
    let (date, time) = (s.get(..10)?, s.get(11..)?);
    let sep = s.as_bytes().get(10)?;
    if !matches!(sep, b' ' | b'T' | b't') || time.len() < 8 {
        return None;
    }
    let (clock, offset) = match time[8..].find(['+', '-', 'Z', 'z']) {
        Some(i) => time.split_at(8 + i),
        None => (time, "Z"),
    };
    let offset = match offset.len() {
        3 => format!("{offset}:00"),
        5 if !offset.contains(':') => format!("{}:{}", &offset[..3], &offset[3..]),
        _ => offset.to_string(),
    };
    DateTime::parse_from_rfc3339(&format!("{date}T{clock}{offset}"))
        .ok()
        .map(|t| t.timestamp_micros())
}

fn geo_from_json(v: &serde_json::Value) -> Option<Value> {
    let o = v.as_object()?;
    if let (Some(lat), Some(lon)) = (o.get("lat"), o.get("lon")) {
        return Some(Value::Geo(lat.as_f64()?, lon.as_f64()?));
    }
    if o.get("type")?.as_str()? == "Point" {
        let c = o.get("coordinates")?.as_array()?;
        if c.len() == 2 {
            return Some(Value::Geo(c[1].as_f64()?, c[0].as_f64()?));
        }
    }
    None
}

/// Types one input value as `field`; `Err((expected, found))` when it does not fit.
fn typed(field: &Field, cell: Cell<'_>) -> Result<Value, (String, String)> {
    let expected = || type_name(field.ty).to_string();
    let null = |found: &str| {
        if field.nullable {
            Ok(Value::Null)
        } else {
            Err((expected(), found.to_string()))
        }
    };
    match cell {
        Cell::Absent => null("nothing (the field is missing)"),
        Cell::Json(serde_json::Value::Null) => null("null"),
        Cell::Text("") if field.ty != FieldType::String || field.nullable => null("an empty cell"),
        Cell::Json(v) => {
            let value = match (field.ty, v) {
                (FieldType::String, serde_json::Value::String(s)) => Some(Value::Str(s.clone())),
                (FieldType::Integer, serde_json::Value::Number(n)) => n.as_i64().map(Value::Int),
                (FieldType::Float, serde_json::Value::Number(n)) => n.as_f64().map(Value::Float),
                (FieldType::Timestamp, serde_json::Value::String(s)) => {
                    parse_timestamp(s).map(Value::Ts)
                }
                (FieldType::GeoPoint, v) => geo_from_json(v),
                _ => None,
            };
            value.ok_or_else(|| (expected(), describe_json(v)))
        }
        Cell::Text(s) => {
            let value = match field.ty {
                FieldType::String => Some(Value::Str(s.to_string())),
                FieldType::Integer => s.trim().parse().ok().map(Value::Int),
                FieldType::Float => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .map(Value::Float),
                FieldType::Timestamp => parse_timestamp(s.trim()).map(Value::Ts),
                FieldType::GeoPoint => serde_json::from_str(s)
                    .ok()
                    .as_ref()
                    .and_then(geo_from_json),
            };
            value.ok_or_else(|| (expected(), describe_text(s)))
        }
    }
}

/// Sorts rows by the schema's time field (rows without time first) and cuts them into
/// chunks of at most [`CHUNK_ROWS`], so each chunk covers a narrow time range.
pub fn into_chunks(schema: &Schema, mut rows: Vec<Vec<Value>>) -> Result<Vec<Chunk>, ChunkError> {
    if let Some(t) = schema.time_index() {
        rows.sort_by_key(|r| match r.get(t) {
            Some(Value::Ts(x)) => Some(*x),
            _ => None,
        });
    }
    rows.chunks(CHUNK_ROWS)
        .map(|part| Chunk::build(schema, part))
        .collect()
}

/// Consent-file helpers shared by the CSV and NDJSON forms.
fn consent_entry(
    subject: String,
    purpose: String,
    granted: bool,
    given_at: i64,
    withdrawn_at: Option<i64>,
) -> consent::Entry {
    consent::Entry {
        id: format!("{subject}/{purpose}"),
        subject,
        datasets: Vec::new(),
        purposes: vec![purpose],
        given: granted,
        given_at,
        withdrawn_at,
        channel: "import".into(),
        raw: None,
    }
}

#[cfg(test)]
mod tests;
