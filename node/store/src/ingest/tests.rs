use proptest::prelude::*;

use super::*;
use regio_query::schema::{Field, FieldType, Schema, Value};

fn schema() -> Schema {
    let f = |name: &str, ty, nullable| Field::new(name, ty, nullable);
    Schema {
        dataset: "readings".into(),
        fields: vec![
            f("id", FieldType::String, false),
            f("subject", FieldType::String, true),
            f("observed_at", FieldType::Timestamp, false),
            f("no2", FieldType::Float, true),
            f("count", FieldType::Integer, true),
            f("location", FieldType::GeoPoint, true),
        ],
        subject: Some("subject".into()),
        time: Some("observed_at".into()),
    }
}

const T0: i64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z

fn err(line: u64, field: Option<&str>, expected: &str, found: &str) -> LineError {
    LineError::new(line, field, expected, found)
}

#[test]
fn timestamps_in_all_accepted_forms() {
    for s in [
        "2024-01-01T00:00:00Z",
        "2024-01-01 00:00:00",
        "2024-01-01 00:00:00+00",
        "2024-01-01 01:00:00+01:00",
        "2024-01-01 01:00:00+0100",
        "2024-01-01t00:00:00z",
    ] {
        assert_eq!(parse_timestamp(s), Some(T0), "{s}");
    }
    assert_eq!(
        parse_timestamp("2024-01-01T00:00:00.123456Z"),
        Some(T0 + 123_456)
    );
    assert_eq!(
        parse_timestamp("2024-01-01 00:00:00.5+00"),
        Some(T0 + 500_000)
    );
    for s in [
        "2024-01-01",
        "yesterday",
        "2024-13-01T00:00:00Z",
        "2024-01-01X00:00:00Z",
        "",
    ] {
        assert_eq!(parse_timestamp(s), None, "{s}");
    }
}

#[test]
fn ndjson_rows_are_typed() {
    let text = br#"{"id":"a","subject":"s1","observed_at":"2024-01-01T00:00:00Z","no2":1.5,"count":3,"location":{"lat":51.0,"lon":3.5}}

{"id":"b","subject":null,"observed_at":"2024-01-01 00:00:01","no2":2,"location":{"type":"Point","coordinates":[3.5,51.0]}}
"#;
    let parsed = parse_ndjson(&schema(), text, Mode::AllOrNothing).unwrap();
    assert_eq!(parsed.rejected, vec![]);
    assert_eq!(
        parsed.rows,
        vec![
            vec![
                Value::Str("a".into()),
                Value::Str("s1".into()),
                Value::Ts(T0),
                Value::Float(1.5),
                Value::Int(3),
                Value::Geo(51.0, 3.5)
            ],
            vec![
                Value::Str("b".into()),
                Value::Null,
                Value::Ts(T0 + 1_000_000),
                Value::Float(2.0),
                Value::Null,
                Value::Geo(51.0, 3.5)
            ],
        ]
    );
}

#[test]
fn ndjson_errors_are_precise_and_skip_mode_reports_every_line() {
    let text = b"{\"id\":\"a\",\"observed_at\":\"2024-01-01T00:00:00Z\"}\n\
{\"id\":\"b\",\"observed_at\":\"2024-01-01T00:00:00Z\",\"no2\":\"abc\"}\n\
{\"id\":\"c\",\"observed_at\":\"2024-01-01T00:00:00Z\"\n\
[1,2]\n\
{\"id\":\"e\",\"observed_at\":\"2024-01-01T00:00:00Z\",\"colour\":1}\n\
{\"observed_at\":\"2024-01-01T00:00:00Z\"}\n\
{\"id\":\"g\",\"observed_at\":\"2024-01-01T00:00:00Z\",\"count\":1.5}\n\
{\"id\":\"h\",\"observed_at\":\"2024-01-01T00:00:00Z\"}\n";
    assert_eq!(
        parse_ndjson(&schema(), text, Mode::AllOrNothing),
        Err(IngestError::Invalid(err(
            2,
            Some("no2"),
            "a number",
            "\"abc\""
        )))
    );
    let parsed = parse_ndjson(&schema(), text, Mode::SkipInvalid).unwrap();
    assert_eq!(
        parsed.rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
        vec![Value::Str("a".into()), Value::Str("h".into())]
    );
    let lines: Vec<(u64, Option<&str>)> = parsed
        .rejected
        .iter()
        .map(|e| (e.line, e.field.as_deref()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (2, Some("no2")),
            (3, None),
            (4, None),
            (5, Some("colour")),
            (6, Some("id")),
            (7, Some("count"))
        ]
    );
    assert!(
        parsed.rejected[1]
            .found
            .starts_with("invalid JSON (EOF while parsing an object"),
        "{}",
        parsed.rejected[1].found
    );
    assert_eq!(
        parsed.rejected[2],
        err(4, None, "a JSON object", "an array")
    );
    assert_eq!(
        parsed.rejected[4],
        err(6, Some("id"), "a string", "nothing (the field is missing)")
    );
    assert_eq!(
        parsed.rejected[5].to_string(),
        "line 7, field `count`: expected an integer, found 1.5"
    );
}

#[test]
fn csv_rows_header_and_cells() {
    let text = b"observed_at,id,subject,no2,location\n\
2024-01-01 00:00:00+00,a,,1.25,\"{\"\"lat\"\":51,\"\"lon\"\":3}\"\n\
2024-01-01T00:00:01Z,b,s2,,\n";
    let parsed = parse_csv(&schema(), text, Mode::AllOrNothing).unwrap();
    assert_eq!(
        parsed.rows,
        vec![
            vec![
                Value::Str("a".into()),
                Value::Null,
                Value::Ts(T0),
                Value::Float(1.25),
                Value::Null,
                Value::Geo(51.0, 3.0)
            ],
            vec![
                Value::Str("b".into()),
                Value::Str("s2".into()),
                Value::Ts(T0 + 1_000_000),
                Value::Null,
                Value::Null,
                Value::Null
            ],
        ]
    );
}

#[test]
fn csv_errors_name_line_field_and_expectation() {
    let unknown = b"id,observed_at,colour\na,2024-01-01T00:00:00Z,red\n";
    assert_eq!(
        parse_csv(&schema(), unknown, Mode::SkipInvalid),
        Err(IngestError::Invalid(err(
            1,
            Some("colour"),
            "a column named after a field of the schema",
            "a column the schema does not declare"
        )))
    );
    let missing = b"id,no2\na,1\n";
    assert_eq!(
        parse_csv(&schema(), missing, Mode::SkipInvalid),
        Err(IngestError::Invalid(err(
            1,
            Some("observed_at"),
            "a column for this non-nullable field",
            "no such column"
        )))
    );
    let text = b"id,observed_at,no2\n\
a,2024-01-01T00:00:00Z,1\n\
b,,2\n\
c,2024-01-01T00:00:00Z,x1\n\
d,2024-01-01T00:00:00Z\n\
e,2024-01-01T00:00:00Z,NaN\n\
f,2024-01-01T00:00:00Z,3\n";
    assert_eq!(
        parse_csv(&schema(), text, Mode::AllOrNothing),
        Err(IngestError::Invalid(err(
            3,
            Some("observed_at"),
            "an RFC 3339 timestamp",
            "an empty cell"
        )))
    );
    let parsed = parse_csv(&schema(), text, Mode::SkipInvalid).unwrap();
    assert_eq!(parsed.rows.len(), 2);
    assert_eq!(
        parsed.rejected,
        vec![
            err(
                3,
                Some("observed_at"),
                "an RFC 3339 timestamp",
                "an empty cell"
            ),
            err(4, Some("no2"), "a number", "\"x1\""),
            err(5, None, "3 columns", "2 columns"),
            err(6, Some("no2"), "a number", "\"NaN\""),
        ]
    );
}

#[test]
fn consent_files_in_both_forms() {
    let csv = b"subject,purpose,granted,given_at,withdrawn_at\n\
subj-1,PublicBenefit,true,2024-01-01T00:00:00Z,\n\
subj-1,Marketing,false,2024-01-01T00:00:00Z,2024-01-01T00:00:01Z\n\
subj-2,Marketing,maybe,2024-01-01T00:00:00Z,\n";
    let parsed = parse_consent_csv(csv, Mode::SkipInvalid).unwrap();
    assert_eq!(
        parsed.rejected,
        vec![err(4, Some("granted"), "true or false", "\"maybe\"")]
    );
    assert_eq!(
        parsed.rows[0],
        consent_entry("subj-1".into(), "PublicBenefit".into(), true, T0, None)
    );
    assert_eq!(parsed.rows[1].id, "subj-1/Marketing");
    assert_eq!(
        (parsed.rows[1].given, parsed.rows[1].withdrawn_at),
        (false, Some(T0 + 1_000_000))
    );
    let nd = br#"{"subject":"subj-1","purpose":"PublicBenefit","granted":true,"given_at":"2024-01-01T00:00:00Z","withdrawn_at":null}
{"subject":"subj-1","purpose":"PublicBenefit","granted":true,"given_at":"soon","withdrawn_at":null}
{"subject":"","purpose":"PublicBenefit","granted":true,"given_at":"2024-01-01T00:00:00Z"}"#;
    assert_eq!(
        parse_consent_ndjson(nd, Mode::AllOrNothing),
        Err(IngestError::Invalid(err(
            2,
            Some("given_at"),
            "an RFC 3339 timestamp",
            "\"soon\""
        )))
    );
    let parsed = parse_consent_ndjson(nd, Mode::SkipInvalid).unwrap();
    assert_eq!(
        parsed.rows,
        vec![consent_entry(
            "subj-1".into(),
            "PublicBenefit".into(),
            true,
            T0,
            None
        )]
    );
    assert_eq!(
        parsed.rejected[1],
        err(3, Some("subject"), "a non-empty string", "an empty value")
    );
}

#[test]
fn ngsi_ld_entities_become_rows() {
    let entities =
        br#"[{"id":"urn:ngsi-ld:AirQualityObserved:a","type":"AirQualityObserved","@context":"x",
        "no2":{"type":"Property","value":12.5,"observedAt":"2024-01-01T00:00:00Z"},
        "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[3.7,51.1]}}},
       {"id":"b","type":"T","no2":{"type":"Relationship","object":"x"}}]"#;
    let parsed = parse_ngsi_ld(&schema(), entities, Mode::SkipInvalid).unwrap();
    assert_eq!(
        parsed.rows,
        vec![vec![
            Value::Str("urn:ngsi-ld:AirQualityObserved:a".into()),
            Value::Null,
            Value::Ts(T0),
            Value::Float(12.5),
            Value::Null,
            Value::Geo(51.1, 3.7)
        ]]
    );
    assert_eq!(
        parsed.rejected,
        vec![err(
            2,
            Some("no2"),
            "an attribute of type Property or GeoProperty",
            "type \"Relationship\""
        )]
    );
}

#[test]
fn ngsi_ld_single_entity_and_ndjson_forms() {
    let one = b"{\n \"id\": \"e1\", \"type\": \"T\",\n \"no2\": {\"type\": \"Property\", \"value\": 1, \"observedAt\": \"2024-01-01T00:00:00Z\"}\n}";
    let parsed = parse_ngsi_ld(&schema(), one, Mode::AllOrNothing).unwrap();
    assert_eq!(
        parsed.rows,
        vec![vec![
            Value::Str("e1".into()),
            Value::Null,
            Value::Ts(T0),
            Value::Float(1.0),
            Value::Null,
            Value::Null
        ]]
    );
    let lines = b"{\"id\":\"e1\",\"no2\":{\"type\":\"Property\",\"value\":1,\"observedAt\":\"2024-01-01T00:00:00Z\"}}\n{\"id\":\"e2\",\"no2\":{\"type\":\"Property\",\"value\":2}}\n";
    assert_eq!(
        parse_ngsi_ld(&schema(), lines, Mode::AllOrNothing),
        Err(IngestError::Invalid(err(
            2,
            Some("observed_at"),
            "an RFC 3339 timestamp",
            "nothing (the field is missing)"
        )))
    );
}

#[test]
fn chunks_are_cut_in_time_order() {
    let rows: Vec<Vec<Value>> = (0..5000i64)
        .rev()
        .map(|i| {
            vec![
                Value::Str(format!("r{i}")),
                Value::Null,
                Value::Ts(T0 + i),
                Value::Null,
                Value::Null,
                Value::Null,
            ]
        })
        .collect();
    let chunks = into_chunks(&schema(), rows).unwrap();
    assert_eq!(
        chunks
            .iter()
            .map(|c| (c.rows, c.time_bounds))
            .collect::<Vec<_>>(),
        vec![
            (4096, Some((T0, T0 + 4095))),
            (904, Some((T0 + 4096, T0 + 4999)))
        ]
    );
}

fn arb_row() -> impl Strategy<Value = (String, Option<String>, i64, Option<f64>, Option<i64>)> {
    (
        "[a-zA-Z0-9 ,\"é-]{0,12}",
        proptest::option::of("[a-z0-9-]{1,10}"),
        -62_000_000_000_000_000i64..250_000_000_000_000_000,
        proptest::option::of(-1e12f64..1e12),
        proptest::option::of(any::<i64>()),
    )
}

proptest! {
    #[test]
    fn ndjson_and_csv_round_trip(rows in proptest::collection::vec(arb_row(), 1..20)) {
        let ts = |t: i64| chrono::DateTime::from_timestamp_micros(t).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)).unwrap();
        let mut nd = String::new();
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["id", "subject", "observed_at", "no2", "count"]).unwrap();
        for (id, subject, t, no2, count) in &rows {
            nd.push_str(&serde_json::json!({ "id": id, "subject": subject, "observed_at": ts(*t), "no2": no2, "count": count }).to_string());
            nd.push('\n');
            let cell = |v: Option<String>| v.unwrap_or_default();
            w.write_record([id.clone(), cell(subject.clone()), ts(*t), cell(no2.map(|x| x.to_string())), cell(count.map(|x| x.to_string()))]).unwrap();
        }
        let expected: Vec<Vec<Value>> = rows.iter().map(|(id, subject, t, no2, count)| vec![
            Value::Str(id.clone()),
            subject.clone().map_or(Value::Null, Value::Str),
            Value::Ts(*t),
            no2.map_or(Value::Null, Value::Float),
            count.map_or(Value::Null, Value::Int),
            Value::Null,
        ]).collect();
        prop_assert_eq!(&parse_ndjson(&schema(), nd.as_bytes(), Mode::AllOrNothing).unwrap().rows, &expected);
        let csv_bytes = w.into_inner().unwrap();
        prop_assert_eq!(&parse_csv(&schema(), &csv_bytes, Mode::AllOrNothing).unwrap().rows, &expected);
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        (-1e6f64..1e6).prop_map(serde_json::Value::from),
        prop_oneof![
            Just("2024-01-01T00:00:00Z".to_string()),
            Just("2024-01-01 00:00:00+00".to_string()),
            "[a-z\\\\\"é]{0,6}"
        ]
        .prop_map(serde_json::Value::from),
        Just(serde_json::json!({"lat": 51.0, "lon": 3.0})),
        Just(serde_json::json!({"type": "Point", "coordinates": [3.0, 51.0]})),
        Just(serde_json::json!({"lat": "x"})),
        Just(serde_json::json!([1, [2], {"a": 3}])),
    ]
}

proptest! {
    /// The fast path accepts nothing the slow path rejects, and types it the same.
    #[test]
    fn fast_path_agrees_with_slow_path(pairs in proptest::collection::vec(
        (prop_oneof![Just("id"), Just("subject"), Just("observed_at"), Just("no2"), Just("count"), Just("location"), Just("other")], arb_json()), 0..8)) {
        let mut line = String::from("{");
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 { line.push(','); }
            line.push_str(&format!("{}:{}", serde_json::Value::from(*k), v));
        }
        line.push('}');
        let slow = records::json_object(1, line.as_bytes()).and_then(|m| records::object_row(&schema(), 1, &m));
        if let Some(fast) = fast::row(&schema(), line.as_bytes()) {
            prop_assert_eq!(Ok(fast), slow);
        }
    }
}

#[test]
fn fast_path_takes_valid_rows() {
    let line = br#"{"id":"a","observed_at":"2024-01-01T00:00:00Z","no2":1,"location":{"lat":51.0,"lon":3.5}}"#;
    assert_eq!(
        fast::row(&schema(), line),
        Some(vec![
            Value::Str("a".into()),
            Value::Null,
            Value::Ts(T0),
            Value::Float(1.0),
            Value::Null,
            Value::Geo(51.0, 3.5)
        ])
    );
    assert_eq!(
        fast::row(
            &schema(),
            br#"{"id":"a","id":"b","observed_at":"2024-01-01T00:00:00Z"}"#
        ),
        None
    );
    assert_eq!(
        fast::row(
            &schema(),
            br#"{"id":"a","observed_at":"2024-01-01T00:00:00Z"} x"#
        ),
        None
    );
}

#[test]
fn timestamps_with_multibyte_characters_are_refused_not_a_panic() {
    // Found by the `ingest_csv` fuzz target: a character across byte 8 of the time part, or
    // across byte 3 of a five-byte offset, panicked on slicing.
    assert_eq!(super::parse_timestamp("2024-01-01 1234567\u{0783}"), None);
    assert_eq!(
        super::parse_timestamp("2024-01-01 12:00:00+1\u{0783}1"),
        None
    );
    let csv = "id,observed_at\ne1,2024-01-01 1234567\u{0783}\n";
    let parsed = parse_csv(&schema(), csv.as_bytes(), Mode::SkipInvalid).unwrap();
    assert!(parsed.rows.is_empty());
    assert_eq!(parsed.rejected.len(), 1);
    assert_eq!(parsed.rejected[0].line, 2);
    assert_eq!(parsed.rejected[0].field.as_deref(), Some("observed_at"));
}
