//! Test and bench support: a small NDJSON loader for the generated air-quality files
//! (`../shared/bench/gen_airquality.py`), standing in for the real ingest path.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::Path;

use regio_query::chunk::{Chunk, CHUNK_ROWS};
use regio_query::parse_time_literal;
use regio_query::schema::{Field, FieldType, Schema, Value};

/// The reference query of ../shared/bench/README.md.
pub(crate) const REFERENCE_SQL: &str =
    "SELECT municipality, date_trunc('day', observed_at) AS day, count(*) AS n, \
     avg(no2) AS avg_no2, min(no2) AS min_no2, max(no2) AS max_no2 FROM readings \
     GROUP BY municipality, date_trunc('day', observed_at) ORDER BY 1, 2";

/// Schema of `readings_<NIS>.ndjson`.
pub(crate) fn readings_schema() -> Schema {
    let f = |name: &str, ty, nullable| Field::new(name, ty, nullable);
    // Pollutants (µg/m³) with clamping bounds and percentile bins: what differential privacy
    // needs to calibrate noise.
    let bounded = |name: &str, hi: f64| Field {
        bounds: Some([0.0, hi]),
        bins: Some(40),
        ..Field::new(name, FieldType::Float, true)
    };
    Schema {
        dataset: "readings".into(),
        fields: vec![
            f("id", FieldType::String, false),
            f("municipality", FieldType::String, false),
            f("sensor_id", FieldType::String, false),
            f("subject", FieldType::String, true),
            f("observed_at", FieldType::Timestamp, false),
            bounded("no2", 200.0),
            bounded("pm25", 150.0),
            bounded("pm10", 200.0),
            f("lat", FieldType::Float, true),
            f("lon", FieldType::Float, true),
        ],
        subject: Some("subject".into()),
        time: Some("observed_at".into()),
    }
}

fn value(v: &serde_json::Value, ty: FieldType) -> Value {
    match (v, ty) {
        (serde_json::Value::Null, _) => Value::Null,
        (serde_json::Value::String(s), FieldType::Timestamp) => {
            Value::Ts(parse_time_literal(s).expect("timestamp"))
        }
        (serde_json::Value::String(s), _) => Value::Str(s.clone()),
        (serde_json::Value::Number(n), FieldType::Integer) => {
            Value::Int(n.as_i64().expect("integer"))
        }
        (serde_json::Value::Number(n), _) => Value::Float(n.as_f64().expect("number")),
        other => panic!("unexpected value {other:?}"),
    }
}

/// Reads a readings file into chunks of [`CHUNK_ROWS`] rows.
pub(crate) fn load_readings(path: &Path) -> Vec<Chunk> {
    let schema = readings_schema();
    let text = std::fs::read_to_string(path).expect("readings file");
    let rows: Vec<Vec<Value>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let obj: serde_json::Value = serde_json::from_str(l).expect("json line");
            schema
                .fields
                .iter()
                .map(|f| value(&obj[&f.name], f.ty))
                .collect()
        })
        .collect();
    rows.chunks(CHUNK_ROWS)
        .map(|c| Chunk::build(&schema, c).expect("chunk"))
        .collect()
}

/// Subjects that currently consent to `purpose`: granted, and not withdrawn before `now`.
pub(crate) fn load_consent(path: &Path, purpose: &str, now_micros: i64) -> HashSet<String> {
    let text = std::fs::read_to_string(path).expect("consent file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let c: serde_json::Value = serde_json::from_str(l).expect("json line");
            let withdrawn = c["withdrawn_at"]
                .as_str()
                .map(|s| parse_time_literal(s).expect("withdrawn_at"));
            let ok = c["purpose"] == purpose
                && c["granted"] == true
                && withdrawn.is_none_or(|w| w > now_micros);
            ok.then(|| c["subject"].as_str().expect("subject").to_string())
        })
        .collect()
}

/// NIS codes listed in a data directory's `municipalities.json`.
pub(crate) fn municipalities(dir: &Path) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("municipalities.json")).expect("manifest"),
    )
    .expect("json");
    m["municipalities"]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| x["nis"].as_str().expect("nis").to_string())
        .collect()
}

/// Parses a result CSV of the reference query: (municipality, day) -> (n, avg, min, max).
pub(crate) fn read_result_csv(text: &str) -> Vec<(String, String, i64, f64, f64, f64)> {
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("municipality,day,n,avg_no2,min_no2,max_no2")
    );
    lines
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (
                c[0].into(),
                c[1].into(),
                c[2].parse().unwrap(),
                c[3].parse().unwrap(),
                c[4].parse().unwrap(),
                c[5].parse().unwrap(),
            )
        })
        .collect()
}
