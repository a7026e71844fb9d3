//! Dataset schemas and typed values. A dataset's schema is declared by its operator and
//! stored with the dataset; every ingested record is checked against it, and the query
//! planner resolves column names through it.

use serde::{Deserialize, Serialize};

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// UTF-8 text.
    String,
    /// 64-bit signed integer.
    Integer,
    /// 64-bit float.
    Float,
    /// Instant, RFC 3339 on input, microseconds since the Unix epoch (UTC) inside.
    Timestamp,
    /// WGS84 point, `{"lat":…,"lon":…}` or NGSI-LD GeoJSON `Point` on input.
    GeoPoint,
}

/// One field of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Column name (`[a-z_][a-z0-9_]*`).
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Whether it may be absent / null.
    #[serde(default)]
    pub nullable: bool,
}

/// The schema of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Dataset name (`[a-z_][a-z0-9_]*`).
    pub dataset: String,
    /// Fields, in column order.
    pub fields: Vec<Field>,
    /// The field that names the data subject (pseudonym); rows where it is null are not
    /// personal (e.g. a city sensor). `None`: the dataset holds no personal rows.
    #[serde(default)]
    pub subject: Option<String>,
    /// The timestamp field chunks are ordered and pruned by.
    #[serde(default)]
    pub time: Option<String>,
}

/// A typed value of one field of one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// Absent.
    Null,
    /// Text.
    Str(String),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Microseconds since the Unix epoch, UTC.
    Ts(i64),
    /// Latitude, longitude.
    Geo(f64, f64),
}

/// Why a schema is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A name is not `[a-z_][a-z0-9_]*` (at most 63 bytes).
    #[error("{what} `{name}` is not a valid name ([a-z_][a-z0-9_]*, at most 63 characters)")]
    BadName {
        /// `dataset` or `field`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// Two fields share a name.
    #[error("field `{0}` is declared twice")]
    Duplicate(String),
    /// The subject or time field is not declared or has the wrong type.
    #[error("`{role}` names `{name}`, which is not a {expected} field of this schema")]
    Role {
        /// `subject` or `time`.
        role: &'static str,
        /// The field named.
        name: String,
        /// Required type.
        expected: &'static str,
    },
    /// No fields.
    #[error("a schema needs at least one field")]
    Empty,
}

/// Whether `s` is a valid dataset or field name.
pub fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

impl Schema {
    /// Checks names, uniqueness and the subject/time roles.
    pub fn validate(&self) -> Result<(), SchemaError> {
        if !valid_name(&self.dataset) {
            return Err(SchemaError::BadName {
                what: "dataset",
                name: self.dataset.clone(),
            });
        }
        if self.fields.is_empty() {
            return Err(SchemaError::Empty);
        }
        for (i, f) in self.fields.iter().enumerate() {
            if !valid_name(&f.name) {
                return Err(SchemaError::BadName {
                    what: "field",
                    name: f.name.clone(),
                });
            }
            if self.fields[..i].iter().any(|g| g.name == f.name) {
                return Err(SchemaError::Duplicate(f.name.clone()));
            }
        }
        if let Some(s) = &self.subject {
            if self.field(s).map(|(_, f)| f.ty) != Some(FieldType::String) {
                return Err(SchemaError::Role {
                    role: "subject",
                    name: s.clone(),
                    expected: "string",
                });
            }
        }
        if let Some(t) = &self.time {
            if self.field(t).map(|(_, f)| f.ty) != Some(FieldType::Timestamp) {
                return Err(SchemaError::Role {
                    role: "time",
                    name: t.clone(),
                    expected: "timestamp",
                });
            }
        }
        Ok(())
    }

    /// A field and its column index.
    pub fn field(&self, name: &str) -> Option<(usize, &Field)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name)
    }

    /// Column index of the subject field.
    pub fn subject_index(&self) -> Option<usize> {
        self.subject
            .as_deref()
            .and_then(|s| self.field(s))
            .map(|(i, _)| i)
    }

    /// Column index of the time field.
    pub fn time_index(&self) -> Option<usize> {
        self.time
            .as_deref()
            .and_then(|s| self.field(s))
            .map(|(i, _)| i)
    }
}
