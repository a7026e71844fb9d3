//! Disclosure control in the engine: the minimum group size counts distinct subjects, the
//! personal part under differential privacy is bounded, clamped and noised (public rows
//! exact), groups of few subjects are not selected, and released values carry intervals.

use super::tests_plan::schema;
use super::*;
use crate::chunk::Chunk;
use crate::schema::{Schema, Value};

fn bounded() -> Schema {
    let mut s = schema();
    s.fields[3].bounds = Some([0.0, 100.0]);
    s.fields[3].bins = Some(10);
    s
}

fn rows(subject: Option<&str>, muni: &str, n: usize, no2: f64) -> Vec<Vec<Value>> {
    (0..n)
        .map(|i| {
            vec![
                subject.map_or(Value::Null, |s| Value::Str(s.into())),
                Value::Str(muni.into()),
                Value::Ts(1_704_067_200_000_000 + i as i64 * 60_000_000),
                Value::Float(no2),
                Value::Int(40),
                Value::Null,
            ]
        })
        .collect()
}

fn run(
    schema: &Schema,
    sql: &str,
    data: &[Vec<Value>],
    k: u64,
    dp: Option<DpOptions>,
) -> (Plan, PartialResult) {
    let (plan, _) = plan(sql, |d| (d == "readings").then(|| schema.clone())).unwrap();
    let chunk = Chunk::build(schema, data).unwrap();
    let opts = ExecOptions {
        consent: Some(&|_: &str| true),
        masked: &[],
        min_group_size: k,
        subject: Some(0),
        dp,
    };
    let part = execute(&plan, [Ok::<_, std::io::Error>(&chunk)], &opts).unwrap();
    (plan, part)
}

const DP: DpOptions = DpOptions {
    epsilon: 1.0,
    delta: 1e-6,
    rows_per_group: 5,
    groups_per_subject: 2,
};

#[test]
fn a_group_of_many_rows_from_one_subject_is_suppressed() {
    let mut data = rows(Some("alice"), "gent", 200, 30.0);
    data.extend(rows(None, "gent", 3, 10.0));
    for i in 0..12 {
        data.extend(rows(Some(&format!("s{i}")), "brugge", 2, 20.0));
    }
    let sql = "SELECT municipality, count(*) FROM readings GROUP BY 1";
    let (_, part) = run(&schema(), sql, &data, 10, None);
    let PartialBody::Groups(g) = &part.body else {
        panic!()
    };
    let keys: Vec<&Value> = g.iter().map(|g| &g.key[0]).collect();
    assert_eq!(keys, vec![&Value::Str("brugge".into())]);
    assert_eq!(part.groups_suppressed, 1);
}

#[test]
fn public_rows_are_exact_and_the_personal_part_is_bounded_and_noised() {
    // 400 public rows and 50 subjects with 100 rows each (bounded to 5 per group).
    let mut data = rows(None, "gent", 400, 10.0);
    for i in 0..50 {
        data.extend(rows(Some(&format!("s{i}")), "gent", 100, 1000.0));
    }
    let sql = "SELECT count(*) AS n, avg(no2) AS a, percentile_cont(0.5) WITHIN GROUP (ORDER BY no2) AS p FROM readings";
    let mut counts = Vec::new();
    let mut within = 0;
    for _ in 0..40 {
        let (plan, part) = run(&bounded(), sql, &data, 10, Some(DP));
        let rs = finalize(&plan, &part).unwrap();
        let Value::Int(n) = rs.rows[0][0] else {
            panic!("{:?}", rs.rows)
        };
        let [lo, hi] = rs.intervals[0][0].unwrap();
        if (lo..=hi).contains(&650.0) {
            within += 1;
        }
        counts.push(n);
        // The average: personal values clamped to 100, so never near 1000.
        let Value::Float(a) = rs.rows[0][1] else {
            panic!()
        };
        assert!(a < 200.0, "{a}");
        assert_eq!(rs.columns[0].mechanism.as_deref(), Some("laplace"));
        assert!(rs.columns[2].mechanism.is_some());
        assert_eq!(part.body_groups_rows(), vec![0]);
        // Noisy states travel column by column and come back as they were.
        let json = serde_json::to_value(&part).unwrap();
        assert!(
            json["body"]["groups"]["states"][0]["noisy"]["values"].is_array(),
            "{json}"
        );
        let back: PartialResult = serde_json::from_value(json).unwrap();
        assert_eq!(back, part);
    }
    // 400 exact + 50 × 5 bounded = 650; noise scale L·G/ε_each = 10/(1/4) = 40.
    let mean = counts.iter().sum::<i64>() as f64 / counts.len() as f64;
    assert!((mean - 650.0).abs() < 40.0, "{mean}");
    assert!(counts.iter().any(|&n| n != 650));
    assert!(within >= 34, "{within} of 40 intervals hold the true count");
}

#[test]
fn a_group_only_one_subject_makes_is_not_released() {
    let mut data = Vec::new();
    // Selection costs ε/2 here with G = 2: its threshold for δ = 1e-6 is near 60 subjects.
    for i in 0..300 {
        data.extend(rows(Some(&format!("s{i}")), "gent", 1, 20.0));
    }
    data.extend(rows(Some("alice"), "tiny", 5, 20.0));
    let sql = "SELECT municipality, count(*) FROM readings GROUP BY 1";
    for _ in 0..20 {
        let (_, part) = run(&bounded(), sql, &data, 10, Some(DP));
        let PartialBody::Groups(g) = &part.body else {
            panic!()
        };
        assert!(g.iter().all(|g| g.key[0] != Value::Str("tiny".into())));
        assert!(g.iter().any(|g| g.key[0] == Value::Str("gent".into())));
    }
}

impl PartialResult {
    fn body_groups_rows(&self) -> Vec<u64> {
        match &self.body {
            PartialBody::Groups(g) => g.iter().map(|g| g.rows).collect(),
            PartialBody::Rows(_) => Vec::new(),
        }
    }
}

#[test]
fn exact_histogram_bins_of_few_citizens_stay_at_the_node() {
    // 20 citizens at 10 µg/m³ and one at 95: in exact mode the lone citizen's bin is emptied.
    let mut data = Vec::new();
    for i in 0..20 {
        data.extend(rows(Some(&format!("s{i}")), "gent", 2, 10.0));
    }
    data.extend(rows(Some("alice"), "gent", 5, 95.0));
    let sql = "SELECT percentile_cont(1.0) WITHIN GROUP (ORDER BY no2) AS p FROM readings";
    let (plan, part) = run(&bounded(), sql, &data, 10, None);
    let rs = finalize(&plan, &part).unwrap();
    let Value::Float(top) = rs.rows[0][0] else {
        panic!("{:?}", rs.rows)
    };
    assert!(top <= 20.0, "the lone citizen's reading leaked: {top}");
}
