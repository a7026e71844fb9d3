//! Execution, merge and output tests with exact expected values: consent inside the scan,
//! suppression at k, raw masking, three-valued WHERE, pruning, CSV/JSON, and property tests
//! for partial-state serde round trips and merge associativity.

use std::cell::Cell;

use proptest::prelude::*;

use super::tests_plan::{p, schema};
use super::*;
use crate::chunk::Chunk;
use crate::schema::Value;

fn row(
    subject: Option<&str>,
    muni: &str,
    ts: &str,
    no2: Option<f64>,
    age: Option<i64>,
) -> Vec<Value> {
    vec![
        subject.map_or(Value::Null, |s| Value::Str(s.into())),
        Value::Str(muni.into()),
        Value::Ts(parse_time_literal(ts).unwrap()),
        no2.map_or(Value::Null, Value::Float),
        age.map_or(Value::Null, Value::Int),
        Value::Null,
    ]
}

fn chunk(rows: &[Vec<Value>]) -> Chunk {
    Chunk::build(&schema(), rows).unwrap()
}

fn run(
    sql: &str,
    chunks: &[Chunk],
    consent: Option<&dyn Fn(&str) -> bool>,
    masked: &[String],
    k: u64,
) -> PartialResult {
    let (plan, _) = p(sql);
    let opts = ExecOptions {
        consent,
        masked,
        min_group_size: k,
        subject: None,
        dp: None,
    };
    execute(&plan, chunks.iter().map(Ok::<_, std::io::Error>), &opts).unwrap()
}

fn rows(sql: &str, part: &PartialResult) -> Vec<Vec<Value>> {
    finalize(&p(sql).0, part).unwrap().rows
}

#[test]
fn consent_is_decided_per_dictionary_entry_inside_the_scan() {
    let a = chunk(&[
        row(Some("yes"), "A", "2024-01-01", Some(1.0), None),
        row(Some("no"), "A", "2024-01-01", Some(100.0), None),
        row(None, "A", "2024-01-01", Some(10.0), None),
        row(Some("yes"), "A", "2024-01-01", Some(2.0), None),
    ]);
    let b = chunk(&[
        row(Some("no"), "A", "2024-01-02", Some(200.0), None),
        row(Some("yes"), "A", "2024-01-02", Some(3.0), None),
        row(None, "A", "2024-01-02", Some(20.0), None),
    ]);
    let calls = Cell::new(0);
    let consent = |s: &str| {
        calls.set(calls.get() + 1);
        s == "yes"
    };
    let sql = "SELECT count(*) AS n, sum(no2) AS s, max(no2) AS hi FROM readings";
    let part = run(sql, &[a.clone(), b.clone()], Some(&consent), &[], 0);
    assert_eq!(
        calls.get(),
        4,
        "two dictionary entries per chunk, not one call per row"
    );
    assert_eq!((part.rows_scanned, part.rows_excluded_by_consent), (7, 2));
    assert_eq!(
        rows(sql, &part),
        vec![vec![Value::Int(5), Value::Float(36.0), Value::Float(20.0)]]
    );
    let nobody = |_: &str| false;
    let part = run(sql, &[a.clone(), b.clone()], Some(&nobody), &[], 0);
    assert_eq!(
        rows(sql, &part),
        vec![vec![Value::Int(2), Value::Float(30.0), Value::Float(20.0)]],
        "null subjects always count"
    );
    let part = run(sql, &[a, b], None, &[], 0);
    assert_eq!(rows(sql, &part)[0][0], Value::Int(7));
}

#[test]
fn groups_under_k_are_suppressed_at_the_node() {
    let mut r: Vec<_> = (0..9)
        .map(|_| row(None, "nine", "2024-01-01", Some(1.0), None))
        .collect();
    r.extend((0..10).map(|_| row(None, "ten", "2024-01-01", Some(1.0), None)));
    r.push(row(Some("no"), "nine", "2024-01-01", Some(1.0), None));
    let consent = |s: &str| s != "no";
    let sql = "SELECT municipality, count(*) AS n FROM readings GROUP BY municipality ORDER BY 1";
    let part = run(sql, &[chunk(&r)], Some(&consent), &[], 10);
    assert_eq!(part.groups_suppressed, 1);
    assert_eq!(
        rows(sql, &part),
        vec![vec![Value::Str("ten".into()), Value::Int(10)]]
    );
    let part = run(sql, &[chunk(&r)], Some(&consent), &[], 9);
    assert_eq!(part.groups_suppressed, 0);
    assert_eq!(rows(sql, &part).len(), 2);
}

#[test]
fn raw_rows_are_masked_filtered_ordered_and_limited() {
    let c = chunk(&[
        row(Some("yes"), "A", "2024-01-01", Some(5.0), Some(30)),
        row(Some("no"), "A", "2024-01-01", Some(50.0), Some(31)),
        row(None, "B", "2024-01-01", Some(7.0), Some(32)),
        row(Some("yes"), "B", "2024-01-01", None, Some(33)),
        row(None, "B", "2024-01-01", Some(6.0), None),
    ]);
    let consent = |s: &str| s == "yes";
    let sql = "SELECT subject, municipality, no2 FROM readings WHERE no2 IS NOT NULL ORDER BY no2 DESC LIMIT 2";
    let part = run(sql, &[c], Some(&consent), &["subject".to_string()], 10);
    let expected = vec![
        vec![Value::Null, Value::Str("B".into()), Value::Float(7.0)],
        vec![Value::Null, Value::Str("B".into()), Value::Float(6.0)],
    ];
    assert_eq!(part.body, PartialBody::Rows(expected.clone()));
    assert_eq!(part.rows_excluded_by_consent, 1);
    let mut merged = part.clone();
    let mut other = part;
    other.body = PartialBody::Rows(vec![vec![
        Value::Null,
        Value::Str("C".into()),
        Value::Float(6.5),
    ]]);
    merged.merge(other).unwrap();
    let out = rows(sql, &merged);
    assert_eq!(
        out,
        vec![
            expected[0].clone(),
            vec![Value::Null, Value::Str("C".into()), Value::Float(6.5)]
        ]
    );
}

#[test]
fn aggregates_have_exact_values() {
    let mut r: Vec<_> = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
        .iter()
        .enumerate()
        .map(|(i, x)| {
            row(
                None,
                if i % 2 == 0 { "A" } else { "B" },
                "2024-01-01",
                Some(*x),
                Some(i as i64),
            )
        })
        .collect();
    r.push(row(None, "A", "2024-01-01", None, None));
    let sql = "SELECT count(*), count(no2), sum(no2), avg(no2), min(no2), max(no2), stddev(no2), sum(age), \
         count(DISTINCT municipality), min(observed_at), max(municipality) FROM readings";
    let out = rows(sql, &run(sql, &[chunk(&r)], None, &[], 0));
    assert_eq!(
        out,
        vec![vec![
            Value::Int(9),
            Value::Int(8),
            Value::Float(40.0),
            Value::Float(5.0),
            Value::Float(2.0),
            Value::Float(9.0),
            Value::Float((32.0f64 / 7.0).sqrt()),
            Value::Int(28),
            Value::Int(2),
            Value::Ts(parse_time_literal("2024-01-01").unwrap()),
            Value::Str("B".into()),
        ]]
    );
    let r: Vec<_> = (1..=9)
        .map(|i| row(None, "A", "2024-01-01", Some(i as f64), None))
        .collect();
    let sql = "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY no2) FROM readings";
    let out = rows(sql, &run(sql, &[chunk(&r)], None, &[], 0));
    assert_eq!(out, vec![vec![Value::Float(5.0)]]);
}

#[test]
fn where_uses_three_valued_logic_and_the_time_range_prunes() {
    let jan = chunk(&[
        row(None, "A", "2024-01-01", Some(1.0), None),
        row(None, "A", "2024-01-02", None, None),
        row(None, "A", "2024-01-03", Some(9.0), None),
    ]);
    let feb = chunk(&[
        row(None, "A", "2024-02-01", Some(2.0), None),
        row(None, "A", "2024-02-02", Some(3.0), None),
    ]);
    let sql = "SELECT count(*) FROM readings WHERE NOT (no2 > 4)";
    let part = run(sql, &[jan.clone(), feb.clone()], None, &[], 0);
    assert_eq!(
        rows(sql, &part),
        vec![vec![Value::Int(3)]],
        "the NULL row is unknown, not selected"
    );
    let sql = "SELECT count(*) FROM readings WHERE observed_at >= '2024-02-01' AND municipality IN ('A', 'Z')";
    let part = run(sql, &[jan, feb], None, &[], 0);
    assert_eq!(
        (part.rows_scanned, rows(sql, &part)),
        (2, vec![vec![Value::Int(2)]])
    );
}

#[test]
fn results_write_csv_and_json() {
    let c = chunk(&[
        row(
            None,
            "Gent, centrum",
            "2024-01-01T10:00:00Z",
            Some(1.0),
            None,
        ),
        row(
            None,
            "Gent, centrum",
            "2024-01-01T23:00:00Z",
            Some(2.0),
            None,
        ),
        row(
            None,
            "Gent, centrum",
            "2024-01-02T01:00:00Z",
            Some(0.1),
            None,
        ),
    ]);
    let sql = "SELECT municipality AS m, date_trunc('day', observed_at) AS day, count(*) AS n, avg(no2) AS a \
         FROM readings GROUP BY 1, 2 ORDER BY day DESC";
    let (plan, _) = p(sql);
    let rs = finalize(&plan, &run(sql, &[c], None, &[], 0)).unwrap();
    assert_eq!(
        rs.to_csv(),
        "m,day,n,a\n\"Gent, centrum\",2024-01-02,1,0.1\n\"Gent, centrum\",2024-01-01,2,1.5\n"
    );
    assert_eq!(
        rs.to_json(),
        serde_json::json!({
            "columns": [{"name":"m","type":"string"},{"name":"day","type":"date"},{"name":"n","type":"integer"},{"name":"a","type":"float"}],
            "rows": [["Gent, centrum","2024-01-02",1,0.1],["Gent, centrum","2024-01-01",2,1.5]]
        })
    );
}

const PROP_SQL: &str = "SELECT municipality, count(*) AS n, count(no2) AS c, sum(no2) AS s, avg(no2) AS a, \
     min(no2) AS lo, max(no2) AS hi, stddev(no2) AS sd, sum(age) AS sa, count(DISTINCT subject) AS d, \
     percentile_cont(0.5) WITHIN GROUP (ORDER BY no2) AS med FROM readings GROUP BY municipality ORDER BY 1";

fn prop_rows(spec: &[(u8, Option<i32>, i64, u8)]) -> Vec<Vec<Value>> {
    spec.iter()
        .map(|(g, x, age, subj)| {
            let subject = format!("s{subj}");
            row(
                Some(&subject),
                ["A", "B", "C"][*g as usize % 3],
                "2024-01-01",
                x.map(|x| f64::from(x) / 100.0),
                Some(*age),
            )
        })
        .collect()
}

fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn merging_any_split_equals_one_pass(
        spec in prop::collection::vec((0u8..3, prop::option::of(-100_000i32..100_000), -1000i64..1000, 0u8..5), 1..80),
        cuts in prop::collection::vec(0usize..80, 0..4),
    ) {
        let all = prop_rows(&spec);
        let whole = run(PROP_SQL, &[chunk(&all)], None, &[], 0);
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c % (all.len() + 1)).collect();
        bounds.extend([0, all.len()]);
        bounds.sort_unstable();
        let parts: Vec<PartialResult> = bounds
            .windows(2)
            .map(|w| run(PROP_SQL, &[chunk(&all[w[0]..w[1]])], None, &[], 0))
            .collect();
        for part in &parts {
            let back: PartialResult = serde_json::from_str(&serde_json::to_string(part).unwrap()).unwrap();
            prop_assert_eq!(&back, part);
        }
        // Left fold and right fold: associativity.
        let mut left = parts[0].clone();
        for q in &parts[1..] {
            left.merge(q.clone()).unwrap();
        }
        let mut right = parts[parts.len() - 1].clone();
        for q in parts[..parts.len() - 1].iter().rev() {
            let mut q = q.clone();
            q.merge(right).unwrap();
            right = q;
        }
        let expected = rows(PROP_SQL, &whole);
        for merged in [left, right] {
            prop_assert_eq!(merged.rows_scanned, whole.rows_scanned);
            let got = rows(PROP_SQL, &merged);
            prop_assert_eq!(got.len(), expected.len());
            for (g, e) in got.iter().zip(&expected) {
                // Exact (within 1e-9) for everything but the sketch estimate of the median.
                for (i, (x, y)) in g.iter().zip(e).enumerate().take(10) {
                    prop_assert!(close(x, y), "column {}: {:?} vs {:?}", i, x, y);
                }
            }
        }
    }
}

#[test]
fn points_that_share_a_xor_hash_are_two_groups() {
    let b = 1.5f64.to_bits();
    let mut p1 = row(None, "A", "2024-01-01", Some(1.0), None);
    p1[5] = Value::Geo(0.0, f64::from_bits(b));
    let mut p2 = row(None, "A", "2024-01-01", Some(2.0), None);
    p2[5] = Value::Geo(f64::from_bits(b.rotate_left(32)), 0.0);
    let sql = "SELECT pos, count(*) AS n, max(no2) AS hi FROM readings GROUP BY pos";
    let part = run(sql, &[chunk(&[p1.clone(), p2.clone(), p1])], None, &[], 0);
    let mut got = rows(sql, &part);
    got.sort_by_key(|r| if let Value::Int(n) = r[1] { n } else { -1 });
    assert_eq!(
        got,
        vec![
            vec![
                Value::Geo(f64::from_bits(b.rotate_left(32)), 0.0),
                Value::Int(1),
                Value::Float(2.0)
            ],
            vec![
                Value::Geo(0.0, f64::from_bits(b)),
                Value::Int(2),
                Value::Float(1.0)
            ],
        ]
    );
}
