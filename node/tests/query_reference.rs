//! The reference query of ../shared/bench/README.md over a small generated data set, merged
//! from one partial answer per municipality, against DuckDB's answer checked in beside it.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use regio_query::{execute, finalize, plan, ExecOptions, PartialResult};
use support::*;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/airquality-n2-r1200-s7")
}

fn partial(nis: &str) -> PartialResult {
    let dir = fixture();
    let schema = readings_schema();
    let (plan, _) = plan(REFERENCE_SQL, |d| (d == "readings").then(|| schema.clone())).unwrap();
    let chunks = load_readings(&dir.join(format!("readings_{nis}.ndjson")));
    let now = regio_query::parse_time_literal("2026-11-27T00:00:00Z").unwrap();
    let consenting = load_consent(
        &dir.join(format!("consent_{nis}.ndjson")),
        "ResearchAndDevelopment",
        now,
    );
    let consent = |s: &str| consenting.contains(s);
    let opts = ExecOptions {
        consent: Some(&consent),
        masked: &[],
        min_group_size: 10,
        subject: None,
        dp: None,
    };
    execute(
        &plan,
        chunks.into_iter().map(Ok::<_, std::io::Error>),
        &opts,
    )
    .unwrap()
}

#[test]
fn merged_partials_match_duckdb() {
    let schema = readings_schema();
    let (plan, _) = plan(REFERENCE_SQL, |d| (d == "readings").then(|| schema.clone())).unwrap();
    let mut merged: Option<PartialResult> = None;
    for nis in municipalities(&fixture()) {
        let p = partial(&nis);
        // Shipped as JSON, as in a PartialAnswer.
        let p: PartialResult = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        match &mut merged {
            None => merged = Some(p),
            Some(m) => m.merge(p).unwrap(),
        }
    }
    let merged = merged.unwrap();
    assert_eq!(merged.rows_scanned, 2400);
    let ours = read_result_csv(&finalize(&plan, &merged).unwrap().to_csv());
    let expected =
        read_result_csv(&std::fs::read_to_string(fixture().join("expected.csv")).unwrap());
    assert_eq!(ours.len(), 26);
    assert_eq!(ours.len(), expected.len());
    for (a, b) in ours.iter().zip(&expected) {
        assert_eq!((&a.0, &a.1, a.2, a.4, a.5), (&b.0, &b.1, b.2, b.4, b.5));
        assert!(((a.3 - b.3) / b.3).abs() < 1e-9, "avg {a:?} vs {b:?}");
    }
}

#[test]
fn consent_and_suppression_counters_add_up() {
    let p = partial("44021");
    let q = partial("11002");
    for r in [&p, &q] {
        assert_eq!(r.rows_scanned, 1200);
        assert!(r.rows_excluded_by_consent > 0);
        assert!(r.groups_suppressed > 0);
    }
}
