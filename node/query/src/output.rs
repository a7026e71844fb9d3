//! Merging partial results of several nodes, finalizing them into typed output rows
//! (ORDER BY, LIMIT), and writing those as CSV or JSON.

use serde::{Deserialize, Serialize};

use super::agg::MergeError;
use super::partial::{sort_rows, PartialBody, PartialResult};
use super::plan::{AggFunc, OutSource, Plan};
use super::time::{format_date, format_ts};
use crate::schema::{FieldType, Value};
use regio_policy::TimeUnit;

/// The type of an output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutType {
    /// Text.
    String,
    /// Integer.
    Integer,
    /// Float.
    Float,
    /// Instant (`date_trunc('hour')` buckets and timestamp columns).
    Timestamp,
    /// Calendar date (`date_trunc` to day, week, month or year), written `YYYY-MM-DD`.
    Date,
    /// WGS84 point.
    GeoPoint,
}

/// One output column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutColumn {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub ty: OutType,
}

/// A final result: named, typed columns and rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultSet {
    /// Columns.
    pub columns: Vec<OutColumn>,
    /// Rows (dates and timestamps as `Value::Ts`).
    pub rows: Vec<Vec<Value>>,
}

fn field_type(ty: FieldType) -> OutType {
    match ty {
        FieldType::String => OutType::String,
        FieldType::Integer => OutType::Integer,
        FieldType::Float => OutType::Float,
        FieldType::Timestamp => OutType::Timestamp,
        FieldType::GeoPoint => OutType::GeoPoint,
    }
}

/// The output columns of a plan.
pub fn columns(plan: &Plan) -> Vec<OutColumn> {
    let fields = &plan.schema.fields;
    plan.outputs
        .iter()
        .map(|o| {
            let ty = match o.source {
                OutSource::Column(i) => field_type(fields[i].ty),
                OutSource::Key(i) => match plan.keys[i].trunc {
                    None => field_type(fields[plan.keys[i].field].ty),
                    Some(TimeUnit::Hour) => OutType::Timestamp,
                    Some(_) => OutType::Date,
                },
                OutSource::Agg(i) => {
                    let a = plan.aggs[i];
                    let fty = a.field.map(|f| fields[f].ty);
                    match a.func {
                        AggFunc::CountStar | AggFunc::Count | AggFunc::CountDistinct => {
                            OutType::Integer
                        }
                        AggFunc::Sum if fty == Some(FieldType::Integer) => OutType::Integer,
                        AggFunc::Min | AggFunc::Max => fty.map_or(OutType::Float, field_type),
                        _ => OutType::Float,
                    }
                }
            };
            OutColumn {
                name: o.name.clone(),
                ty,
            }
        })
        .collect()
}

/// Turns a (merged) partial result into the final result of `plan`.
pub fn finalize(plan: &Plan, part: &PartialResult) -> Result<ResultSet, MergeError> {
    let mut rows: Vec<Vec<Value>> = match &part.body {
        PartialBody::Rows(r) => r.clone(),
        PartialBody::Groups(groups) => {
            let mut rows = Vec::with_capacity(groups.len());
            for g in groups {
                if g.key.len() != plan.keys.len() || g.states.len() != plan.aggs.len() {
                    return Err(MergeError::Mismatch("a group does not fit the plan".into()));
                }
                rows.push(
                    plan.outputs
                        .iter()
                        .map(|o| match o.source {
                            OutSource::Key(i) => g.key[i].clone(),
                            OutSource::Agg(i) => g.states[i].finish(plan.aggs[i].func),
                            OutSource::Column(_) => Value::Null,
                        })
                        .collect(),
                );
            }
            rows
        }
    };
    sort_rows(&mut rows, &plan.order);
    if let Some(l) = plan.limit {
        rows.truncate(usize::try_from(l).unwrap_or(usize::MAX));
    }
    Ok(ResultSet {
        columns: columns(plan),
        rows,
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn text(v: &Value, ty: OutType) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(format!("{f:?}")),
        Value::Ts(t) if ty == OutType::Date => Some(format_date(*t)),
        Value::Ts(t) => Some(format_ts(*t)),
        Value::Geo(lat, lon) => Some(format!("POINT({lon:?} {lat:?})")),
    }
}

impl ResultSet {
    /// CSV with a header row; NULL is empty, floats in full precision, dates `YYYY-MM-DD`.
    pub fn to_csv(&self) -> String {
        let mut out = self
            .columns
            .iter()
            .map(|c| csv_field(&c.name))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&self.columns)
                .map(|(v, c)| text(v, c.ty).map(|s| csv_field(&s)).unwrap_or_default())
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }

    /// `{"columns":[{"name","type"}…],"rows":[[…]…]}` with plain JSON values (dates and
    /// timestamps as strings, points as `{"lat","lon"}`).
    pub fn to_json(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&self.columns)
                    .map(|(v, c)| match v {
                        Value::Null => serde_json::Value::Null,
                        Value::Int(i) => serde_json::Value::from(*i),
                        Value::Float(f) => serde_json::Number::from_f64(*f)
                            .map_or(serde_json::Value::Null, serde_json::Value::Number),
                        Value::Geo(lat, lon) => serde_json::json!({"lat": lat, "lon": lon}),
                        other => text(other, c.ty)
                            .map_or(serde_json::Value::Null, serde_json::Value::String),
                    })
                    .collect()
            })
            .collect();
        serde_json::json!({ "columns": self.columns, "rows": rows })
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use crate::schema::Value;
    use crate::{AggState, PartialBody, PartialGroup};

    fn part(rows: u64, states: Vec<AggState>) -> PartialResult {
        PartialResult {
            rows_scanned: rows,
            rows_excluded_by_consent: 1,
            groups_suppressed: 1,
            body: PartialBody::Groups(vec![PartialGroup {
                key: vec![Value::Str("44021".into())],
                rows,
                states,
            }]),
        }
    }

    #[test]
    fn a_failed_merge_leaves_the_result_unchanged() {
        let mut merged = part(10, vec![AggState::Count(10)]);
        let before = merged.clone();
        let bad = part(7, vec![AggState::Count(7), AggState::Count(7)]);
        assert!(merged.merge(bad).is_err());
        assert_eq!(merged, before);
        merged.merge(part(5, vec![AggState::Count(5)])).unwrap();
        assert_eq!(
            (merged.rows_scanned, merged.rows_excluded_by_consent),
            (15, 2)
        );
    }
}
