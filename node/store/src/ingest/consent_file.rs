//! Consent files as the data generator writes them: `subject,purpose,granted,given_at,
//! withdrawn_at` (CSV, or NDJSON with the same keys). Each line becomes one
//! [`consent::Entry`] with id `subject/purpose`, all datasets, channel `import`.

use super::records::{csv_reader, csv_records, json_object, ndjson_lines};
use super::{collect, consent_entry, typed, Cell, IngestError, LineError, Mode, Parsed};
use crate::consent;
use regio_query::schema::{Field, FieldType, Value};

const COLUMNS: [&str; 5] = ["subject", "purpose", "granted", "given_at", "withdrawn_at"];

fn field(name: &str, ty: FieldType, nullable: bool) -> Field {
    Field::new(name, ty, nullable)
}

/// Builds an entry from the five cells of one line.
fn entry(line: u64, cells: [Cell<'_>; 5]) -> Result<consent::Entry, LineError> {
    let at = |i: usize, f: Field| {
        typed(&f, cells[i]).map_err(|(e, found)| LineError::new(line, Some(COLUMNS[i]), e, found))
    };
    let text = |i: usize| match at(i, field(COLUMNS[i], FieldType::String, false))? {
        Value::Str(s) if !s.is_empty() => Ok(s),
        _ => Err(LineError::new(
            line,
            Some(COLUMNS[i]),
            "a non-empty string",
            "an empty value",
        )),
    };
    let subject = text(0)?;
    let purpose = text(1)?;
    let granted = match cells[2] {
        Cell::Json(serde_json::Value::Bool(b)) => *b,
        Cell::Text(t) if t.trim().eq_ignore_ascii_case("true") => true,
        Cell::Text(t) if t.trim().eq_ignore_ascii_case("false") => false,
        Cell::Json(v) => {
            return Err(LineError::new(
                line,
                Some("granted"),
                "true or false",
                super::describe_json(v),
            ))
        }
        Cell::Text(t) => {
            return Err(LineError::new(
                line,
                Some("granted"),
                "true or false",
                super::describe_text(t),
            ))
        }
        Cell::Absent => {
            return Err(LineError::new(
                line,
                Some("granted"),
                "true or false",
                "nothing (the field is missing)",
            ))
        }
    };
    let Value::Ts(given_at) = at(3, field("given_at", FieldType::Timestamp, false))? else {
        return Err(LineError::new(
            line,
            Some("given_at"),
            "an RFC 3339 timestamp",
            "null",
        ));
    };
    let withdrawn_at = match at(4, field("withdrawn_at", FieldType::Timestamp, true))? {
        Value::Ts(t) => Some(t),
        _ => None,
    };
    Ok(consent_entry(
        subject,
        purpose,
        granted,
        given_at,
        withdrawn_at,
    ))
}

/// Parses a consent file in NDJSON.
pub fn parse_consent_ndjson(
    input: &[u8],
    mode: Mode,
) -> Result<Parsed<consent::Entry>, IngestError> {
    collect(
        mode,
        ndjson_lines(input).map(|(n, text)| {
            let map = json_object(n, text)?;
            if let Some(k) = map.keys().find(|k| !COLUMNS.contains(&k.as_str())) {
                return Err(LineError::new(
                    n,
                    Some(k),
                    format!("only the keys {}", COLUMNS.join(", ")),
                    "another key",
                ));
            }
            entry(
                n,
                COLUMNS.map(|c| map.get(c).map_or(Cell::Absent, Cell::Json)),
            )
        }),
    )
}

/// Parses a consent file in CSV (header: the five columns, in any order).
pub fn parse_consent_csv(input: &[u8], mode: Mode) -> Result<Parsed<consent::Entry>, IngestError> {
    let (mut reader, header) = csv_reader(input)?;
    let mut index = [usize::MAX; 5];
    for (c, name) in header.iter().enumerate() {
        match COLUMNS.iter().position(|k| k == name) {
            Some(i) if index[i] == usize::MAX => index[i] = c,
            _ => {
                return Err(LineError::new(
                    1,
                    Some(name),
                    format!("each of {} once", COLUMNS.join(", ")),
                    "an unknown or repeated column",
                )
                .into())
            }
        }
    }
    if let Some(i) = (0..4).find(|&i| index[i] == usize::MAX) {
        return Err(LineError::new(
            1,
            Some(COLUMNS[i]),
            "a column for this field",
            "no such column",
        )
        .into());
    }
    let rows = csv_records(&mut reader, header.len()).map(|r| {
        let (line, rec) = r?;
        entry(
            line,
            index.map(|c| rec.get(c).map_or(Cell::Absent, Cell::Text)),
        )
    });
    collect(mode, rows)
}
