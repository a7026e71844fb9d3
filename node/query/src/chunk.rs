//! Columnar chunks: how records are stored and scanned. A dataset's records are cut into
//! chunks of up to [`CHUNK_ROWS`] rows; inside a chunk each field is one column (strings
//! dictionary-encoded, so the consent filter is decided once per distinct subject, not once
//! per row). Each chunk keeps its time bounds so that a time-range scan skips whole chunks.
//! The store holds chunks as opaque bytes ([`Chunk::encode`]); the query engine reads them.

use serde::{Deserialize, Serialize};

use crate::schema::{FieldType, Schema, Value};

/// Rows per chunk the ingest path aims for.
pub const CHUNK_ROWS: usize = 4096;

/// Version of the encoded chunk layout (stored types carry a version).
pub const CHUNK_VERSION: u8 = 1;

/// Code of a null in a string column.
pub const NULL_CODE: u32 = u32::MAX;

/// One column of a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Column {
    /// Dictionary-encoded text: `codes[row]` indexes `dict`, [`NULL_CODE`] is null.
    Str {
        /// Distinct values, in order of first appearance.
        dict: Vec<String>,
        /// One code per row.
        codes: Vec<u32>,
    },
    /// Integers.
    Int(Vec<Option<i64>>),
    /// Floats.
    Float(Vec<Option<f64>>),
    /// Timestamps, microseconds since the epoch, UTC.
    Ts(Vec<Option<i64>>),
    /// Points (lat, lon).
    Geo(Vec<Option<(f64, f64)>>),
}

impl Column {
    fn new(ty: FieldType, capacity: usize) -> Self {
        match ty {
            FieldType::String => Column::Str {
                dict: Vec::new(),
                codes: Vec::with_capacity(capacity),
            },
            FieldType::Integer => Column::Int(Vec::with_capacity(capacity)),
            FieldType::Float => Column::Float(Vec::with_capacity(capacity)),
            FieldType::Timestamp => Column::Ts(Vec::with_capacity(capacity)),
            FieldType::GeoPoint => Column::Geo(Vec::with_capacity(capacity)),
        }
    }

    /// The value at `row`.
    pub fn get(&self, row: usize) -> Value {
        match self {
            Column::Str { dict, codes } => match codes.get(row) {
                Some(&c) if c != NULL_CODE => dict
                    .get(c as usize)
                    .map(|s| Value::Str(s.clone()))
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            },
            Column::Int(v) => v
                .get(row)
                .copied()
                .flatten()
                .map(Value::Int)
                .unwrap_or(Value::Null),
            Column::Float(v) => v
                .get(row)
                .copied()
                .flatten()
                .map(Value::Float)
                .unwrap_or(Value::Null),
            Column::Ts(v) => v
                .get(row)
                .copied()
                .flatten()
                .map(Value::Ts)
                .unwrap_or(Value::Null),
            Column::Geo(v) => v
                .get(row)
                .copied()
                .flatten()
                .map(|(a, b)| Value::Geo(a, b))
                .unwrap_or(Value::Null),
        }
    }

    fn len(&self) -> usize {
        match self {
            Column::Str { codes, .. } => codes.len(),
            Column::Int(v) | Column::Ts(v) => v.len(),
            Column::Float(v) => v.len(),
            Column::Geo(v) => v.len(),
        }
    }
}

/// A chunk of rows of one dataset, columnar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Layout version ([`CHUNK_VERSION`]).
    pub version: u8,
    /// Number of rows.
    pub rows: u32,
    /// Smallest and largest value of the schema's time field, if it has one and any is set.
    pub time_bounds: Option<(i64, i64)>,
    /// One column per schema field, in schema order.
    pub columns: Vec<Column>,
}

/// Why a chunk could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// A row has a value that does not fit its column.
    #[error("row {row}, field `{field}`: expected {expected}, got {got}")]
    Type {
        /// Row index within the batch.
        row: usize,
        /// Field name.
        field: String,
        /// Declared type.
        expected: String,
        /// What came.
        got: String,
    },
    /// A row has the wrong number of values.
    #[error("row {row}: {got} values for {expected} fields")]
    Width {
        /// Row index within the batch.
        row: usize,
        /// Number of fields.
        expected: usize,
        /// Number of values.
        got: usize,
    },
    /// The bytes are not a chunk of a known version.
    #[error("stored chunk is corrupt or of an unknown version: {0}")]
    Decode(String),
}

impl Chunk {
    /// Builds a chunk from typed rows (each row in schema order). Nulls must be allowed by
    /// the schema; callers validate records before (see `ingest`), this re-checks types.
    pub fn build(schema: &Schema, rows: &[Vec<Value>]) -> Result<Chunk, ChunkError> {
        let mut columns: Vec<Column> = schema
            .fields
            .iter()
            .map(|f| Column::new(f.ty, rows.len()))
            .collect();
        let mut dict_index: Vec<std::collections::HashMap<String, u32>> =
            vec![Default::default(); columns.len()];
        for (r, row) in rows.iter().enumerate() {
            if row.len() != columns.len() {
                return Err(ChunkError::Width {
                    row: r,
                    expected: columns.len(),
                    got: row.len(),
                });
            }
            for (c, value) in row.iter().enumerate() {
                let mismatch = || ChunkError::Type {
                    row: r,
                    field: schema.fields[c].name.clone(),
                    expected: format!("{:?}", schema.fields[c].ty).to_lowercase(),
                    got: format!("{value:?}"),
                };
                match (&mut columns[c], value) {
                    (Column::Str { dict, codes }, Value::Str(s)) => {
                        let index = &mut dict_index[c];
                        let code = match index.get(s) {
                            Some(&code) => code,
                            None => {
                                let code = dict.len() as u32;
                                dict.push(s.clone());
                                index.insert(s.clone(), code);
                                code
                            }
                        };
                        codes.push(code);
                    }
                    (Column::Str { codes, .. }, Value::Null) => codes.push(NULL_CODE),
                    (Column::Int(v), Value::Int(x)) => v.push(Some(*x)),
                    (Column::Float(v), Value::Float(x)) => v.push(Some(*x)),
                    (Column::Float(v), Value::Int(x)) => v.push(Some(*x as f64)),
                    (Column::Ts(v), Value::Ts(x)) => v.push(Some(*x)),
                    (Column::Geo(v), Value::Geo(a, b)) => v.push(Some((*a, *b))),
                    (Column::Int(v) | Column::Ts(v), Value::Null) => v.push(None),
                    (Column::Float(v), Value::Null) => v.push(None),
                    (Column::Geo(v), Value::Null) => v.push(None),
                    _ => return Err(mismatch()),
                }
            }
        }
        let time_bounds = schema.time_index().and_then(|t| match &columns[t] {
            Column::Ts(v) => v
                .iter()
                .flatten()
                .fold(None, |acc: Option<(i64, i64)>, &x| {
                    Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
                }),
            _ => None,
        });
        Ok(Chunk {
            version: CHUNK_VERSION,
            rows: rows.len() as u32,
            time_bounds,
            columns,
        })
    }

    /// Compact binary form for the store.
    pub fn encode(&self) -> Vec<u8> {
        // Cannot fail: vectors of known length, numbers and strings, which postcard always
        // encodes into a growable buffer.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Reads a stored chunk, checking its version and shape.
    pub fn decode(bytes: &[u8]) -> Result<Chunk, ChunkError> {
        let chunk: Chunk =
            postcard::from_bytes(bytes).map_err(|e| ChunkError::Decode(e.to_string()))?;
        if chunk.version != CHUNK_VERSION {
            return Err(ChunkError::Decode(format!(
                "layout version {} (this node reads {CHUNK_VERSION})",
                chunk.version
            )));
        }
        if chunk.columns.iter().any(|c| c.len() != chunk.rows as usize) {
            return Err(ChunkError::Decode(
                "column lengths differ from the row count".into(),
            ));
        }
        Ok(chunk)
    }

    /// Whether any row may fall in `[from, to)` (microseconds); chunks without bounds may.
    pub fn overlaps(&self, from: Option<i64>, to: Option<i64>) -> bool {
        match self.time_bounds {
            None => true,
            Some((lo, hi)) => from.is_none_or(|f| hi >= f) && to.is_none_or(|t| lo < t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Field;

    fn schema() -> Schema {
        Schema {
            dataset: "readings".into(),
            fields: vec![
                Field::new("subject", FieldType::String, true),
                Field::new("observed_at", FieldType::Timestamp, false),
                Field::new("no2", FieldType::Float, true),
            ],
            subject: Some("subject".into()),
            time: Some("observed_at".into()),
        }
    }

    #[test]
    fn builds_encodes_and_decodes() {
        let rows = vec![
            vec![Value::Str("s1".into()), Value::Ts(10), Value::Float(1.5)],
            vec![Value::Null, Value::Ts(5), Value::Null],
            vec![Value::Str("s1".into()), Value::Ts(20), Value::Int(3)],
        ];
        let chunk = Chunk::build(&schema(), &rows).unwrap();
        assert_eq!(chunk.time_bounds, Some((5, 20)));
        assert_eq!(
            chunk.columns[0],
            Column::Str {
                dict: vec!["s1".into()],
                codes: vec![0, NULL_CODE, 0]
            }
        );
        assert_eq!(chunk.columns[2].get(2), Value::Float(3.0));
        let back = Chunk::decode(&chunk.encode()).unwrap();
        assert_eq!(back, chunk);
        assert!(
            chunk.overlaps(Some(20), None)
                && !chunk.overlaps(Some(21), None)
                && !chunk.overlaps(None, Some(5))
        );
    }

    #[test]
    fn wrong_types_and_corrupt_bytes_are_named() {
        let bad = vec![vec![Value::Int(1), Value::Ts(1), Value::Null]];
        assert!(matches!(
            Chunk::build(&schema(), &bad),
            Err(ChunkError::Type { row: 0, .. })
        ));
        assert!(matches!(
            Chunk::decode(&[9, 9, 9]),
            Err(ChunkError::Decode(_))
        ));
    }
}
