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
    /// How its values were released when not exactly (e.g. `laplace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<String>,
}

/// A final result: named, typed columns and rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultSet {
    /// Columns.
    pub columns: Vec<OutColumn>,
    /// Rows (dates and timestamps as `Value::Ts`).
    pub rows: Vec<Vec<Value>>,
    /// Per row, per column: the 95 % interval of a noisy value (empty when every value is
    /// exact).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<Vec<Option<[f64; 2]>>>,
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
                mechanism: None,
            }
        })
        .collect()
}

/// Turns a (merged) partial result into the final result of `plan`.
pub fn finalize(plan: &Plan, part: &PartialResult) -> Result<ResultSet, MergeError> {
    let mut cols = columns(plan);
    let mut intervals: Vec<Vec<Option<[f64; 2]>>> = Vec::new();
    let mut rows: Vec<Vec<Value>> = match &part.body {
        PartialBody::Rows(r) => r.clone(),
        PartialBody::Groups(groups) => {
            let mut rows = Vec::with_capacity(groups.len());
            for g in groups {
                if g.key.len() != plan.keys.len() || g.states.len() != plan.aggs.len() {
                    return Err(MergeError::Mismatch("a group does not fit the plan".into()));
                }
                let mut row: Vec<Value> = Vec::with_capacity(plan.outputs.len() + 1);
                let mut bounds = Vec::with_capacity(plan.outputs.len());
                for (c, o) in plan.outputs.iter().enumerate() {
                    match o.source {
                        OutSource::Key(i) => {
                            row.push(g.key[i].clone());
                            bounds.push(None);
                        }
                        OutSource::Agg(i) => {
                            let st = &g.states[i];
                            row.push(st.finish(plan.aggs[i].func));
                            bounds.push(st.interval());
                            if let Some(m) = st.mechanism() {
                                cols[c].mechanism.get_or_insert_with(|| m.to_owned());
                            }
                        }
                        OutSource::Column(_) => {
                            row.push(Value::Null);
                            bounds.push(None);
                        }
                    }
                }
                // The row's position rides along while sorting (ORDER BY names outputs only).
                row.push(Value::Int(intervals.len() as i64));
                intervals.push(bounds);
                rows.push(row);
            }
            rows
        }
    };
    sort_rows(&mut rows, &plan.order);
    if let Some(l) = plan.limit {
        rows.truncate(usize::try_from(l).unwrap_or(usize::MAX));
    }
    let noisy = cols.iter().any(|c| c.mechanism.is_some());
    let mut ordered = Vec::new();
    if matches!(part.body, PartialBody::Groups(_)) {
        for row in &mut rows {
            if let Some(Value::Int(i)) = row.pop() {
                if noisy {
                    let i = usize::try_from(i).unwrap_or(usize::MAX);
                    ordered.push(intervals.get(i).cloned().unwrap_or_default());
                }
            }
        }
    }
    Ok(ResultSet {
        columns: cols,
        rows,
        intervals: ordered,
    })
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
    /// CSV (RFC 4180, written by the `csv` crate) with a header row and `\n` line ends; NULL
    /// is empty, floats in full precision, dates `YYYY-MM-DD`. A field is quoted when it
    /// holds a comma, a double quote (doubled inside) or a line break, and when it is the only
    /// field of its line and empty (a one-column NULL is `""`, so readers do not take it for
    /// a blank line and drop the row).
    pub fn to_csv(&self) -> String {
        // Cannot fail (see `write_csv`): nothing is lost by the default.
        self.write_csv().unwrap_or_default()
    }

    /// [`ResultSet::to_csv`]. Records of any length are accepted (`flexible`), writing into
    /// a `Vec` never fails, and every field is a `String`, so the bytes are UTF-8: no error
    /// can occur, the `Result` only spares a panic.
    fn write_csv(&self) -> Result<String, String> {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        let failed = |e: csv::Error| e.to_string();
        w.write_record(self.columns.iter().map(|c| c.name.as_str()))
            .map_err(failed)?;
        for row in &self.rows {
            // `text` is `None` for NULL: an empty field.
            let fields = row
                .iter()
                .zip(&self.columns)
                .map(|(v, c)| text(v, c.ty).unwrap_or_default());
            w.write_record(fields).map_err(failed)?;
        }
        let bytes = w.into_inner().map_err(|e| e.to_string())?;
        String::from_utf8(bytes).map_err(|e| e.to_string())
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
        if self.intervals.is_empty() {
            serde_json::json!({ "columns": self.columns, "rows": rows })
        } else {
            serde_json::json!({ "columns": self.columns, "rows": rows, "intervals": self.intervals })
        }
    }
}

#[cfg(test)]
mod csv_tests {
    use super::*;

    fn rs(columns: &[(&str, OutType)], rows: Vec<Vec<Value>>) -> ResultSet {
        ResultSet {
            columns: columns
                .iter()
                .map(|(name, ty)| OutColumn {
                    name: (*name).into(),
                    ty: *ty,
                    mechanism: None,
                })
                .collect(),
            rows,
            intervals: Vec::new(),
        }
    }

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let r = rs(
            &[
                ("name, full", OutType::String),
                ("n", OutType::Integer),
                ("x", OutType::Float),
            ],
            vec![
                vec![Value::Str("say \"hi\"".into()), Value::Int(-3), Value::Null],
                vec![
                    Value::Str("two\nlines".into()),
                    Value::Null,
                    Value::Float(0.1),
                ],
                vec![Value::Str("cr\r".into()), Value::Int(0), Value::Float(2.0)],
                vec![
                    Value::Str(" padded ;#'".into()),
                    Value::Int(1),
                    Value::Float(1e21),
                ],
                vec![Value::Null, Value::Null, Value::Null],
            ],
        );
        assert_eq!(
            r.to_csv(),
            "\"name, full\",n,x\n\"say \"\"hi\"\"\",-3,\n\"two\nlines\",,0.1\n\"cr\r\",0,2.0\n padded ;#',1,1e21\n,,\n"
        );
    }

    #[test]
    fn a_lone_null_is_written_as_an_empty_quoted_field() {
        let r = rs(
            &[("m", OutType::Float)],
            vec![vec![Value::Null], vec![Value::Float(1.5)]],
        );
        assert_eq!(r.to_csv(), "m\n\"\"\n1.5\n");
        assert_eq!(rs(&[("m", OutType::Float)], vec![]).to_csv(), "m\n");
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
