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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Numeric fields: `[lo, hi]`, the range personal values are clamped to under
    /// differential privacy (and the range of its percentile bins). Without bounds, sums,
    /// averages and percentiles of personal values are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<[f64; 2]>,
    /// Numeric fields with bounds: how many equal-width bins percentiles are computed over
    /// (default [`DEFAULT_BINS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bins: Option<u32>,
    /// String fields: the public domain of values (e.g. the NIS codes of the region's
    /// municipalities). Only such a column may be counted distinctly in a personal dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
}

/// Percentile bins of a bounded field that declares none.
pub const DEFAULT_BINS: u32 = 50;

impl Field {
    /// A field with no declared bounds, bins or categories.
    pub fn new(name: impl Into<String>, ty: FieldType, nullable: bool) -> Field {
        Field {
            name: name.into(),
            ty,
            nullable,
            bounds: None,
            bins: None,
            categories: None,
        }
    }

    /// The percentile bins: `(lo, hi, count)`, when the field declares bounds.
    pub fn histogram(&self) -> Option<(f64, f64, u32)> {
        self.bounds
            .map(|[lo, hi]| (lo, hi, self.bins.unwrap_or(DEFAULT_BINS)))
    }
}

/// The schema of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// A field's bounds, bins or categories do not fit it.
    #[error("field `{name}`: {msg}")]
    Declaration {
        /// The field.
        name: String,
        /// What is wrong.
        msg: String,
    },
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
            f.validate_declarations()?;
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

    /// Column index of a field by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.field(name).map(|(i, _)| i)
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

impl Field {
    fn validate_declarations(&self) -> Result<(), SchemaError> {
        let bad = |msg: &str| {
            Err(SchemaError::Declaration {
                name: self.name.clone(),
                msg: msg.into(),
            })
        };
        let numeric = matches!(self.ty, FieldType::Integer | FieldType::Float);
        if let Some([lo, hi]) = self.bounds {
            if !numeric {
                return bad("bounds are declared on numeric fields only");
            }
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return bad("bounds must be two finite numbers [lo, hi] with lo < hi");
            }
        }
        if let Some(b) = self.bins {
            if self.bounds.is_none() {
                return bad("bins need bounds");
            }
            if !(1..=1000).contains(&b) {
                return bad("bins must be between 1 and 1000");
            }
        }
        if let Some(c) = &self.categories {
            if self.ty != FieldType::String {
                return bad("categories are declared on string fields only");
            }
            if c.is_empty() || c.len() > 10_000 {
                return bad("categories must list 1 to 10000 values");
            }
            let mut seen = std::collections::HashSet::new();
            if !c.iter().all(|v| seen.insert(v)) {
                return bad("categories are listed twice");
            }
        }
        Ok(())
    }
}
