//! Planner tests of the edge analysis: every comparison atom of the `WHERE` reports the
//! values where it can change truth value, which the decision engine checks against a
//! protected attribute's grid (issue 20: two aligned ranges cut one year out of a bin).

use regio_policy::doc::charter::MinGranularity;
use regio_policy::{Granularity, TimeUnit};

use super::tests_plan::p;
use crate::time::parse_time_literal;

/// The granularities the filters of `sql` report for `field`.
fn uses(sql: &str, field: &str) -> Vec<Granularity> {
    p(sql)
        .1
        .filters
        .iter()
        .filter(|u| u.field == field)
        .map(|u| u.granularity)
        .collect()
}

fn where_(cond: &str) -> String {
    format!("SELECT count(*) FROM readings WHERE {cond}")
}

fn edges(cond: &str, field: &str) -> Vec<Granularity> {
    uses(&where_(cond), field)
}

const E: fn(f64) -> Granularity = Granularity::Edge;

#[test]
fn integer_atoms_report_their_edges() {
    assert_eq!(edges("age < 40", "age"), [E(40.0)]);
    assert_eq!(edges("age >= 40", "age"), [E(40.0)]);
    assert_eq!(edges("age <= 39", "age"), [E(40.0)]);
    assert_eq!(edges("age > 39", "age"), [E(40.0)]);
    assert_eq!(edges("age = 37", "age"), [E(37.0), E(38.0)]);
    assert_eq!(edges("age <> 37", "age"), [E(37.0), E(38.0)]);
    assert_eq!(
        edges("age IN (30, 31)", "age"),
        [E(30.0), E(31.0), E(31.0), E(32.0)]
    );
    assert_eq!(edges("age BETWEEN 30 AND 39", "age"), [E(30.0), E(40.0)]);
    assert_eq!(edges("age IS NULL", "age"), [Granularity::Null]);
    assert_eq!(edges("NOT (age IS NOT NULL)", "age"), [Granularity::Null]);
    // Beyond 2^53 an edge is not exact as a float; past i64::MAX there is none.
    assert_eq!(
        edges("age <= 9223372036854775807", "age"),
        [Granularity::Exact]
    );
    assert_eq!(edges("age < 9007199254740993", "age"), [Granularity::Exact]);
}

#[test]
fn two_aligned_ranges_narrowing_age_to_one_year_are_seen() {
    let sql = "age BETWEEN 0 AND 37 AND age BETWEEN 37 AND 74";
    let g = edges(sql, "age");
    assert_eq!(g, [E(0.0), E(38.0), E(37.0), E(75.0)]);
    let ten = MinGranularity::NumericBin(10.0);
    assert!(!g.iter().all(|u| ten.allows(u)), "the attack is refused");
    // The same years as whole bins pass.
    let g = edges(
        "(age >= 30 AND age < 40) OR NOT age BETWEEN 0 AND 69",
        "age",
    );
    assert!(g.iter().all(|u| ten.allows(u)), "{g:?}");
}

#[test]
fn float_atoms_have_an_edge_only_for_lt_and_ge() {
    assert_eq!(edges("no2 < 40", "no2"), [E(40.0)]);
    assert_eq!(edges("no2 >= 40.5", "no2"), [E(40.5)]);
    for cond in [
        "no2 <= 40",
        "no2 > 40",
        "no2 = 40",
        "no2 <> 40",
        "no2 IN (40)",
    ] {
        assert!(
            edges(cond, "no2").iter().all(|g| *g == Granularity::Exact),
            "{cond}"
        );
    }
    assert_eq!(
        edges("no2 BETWEEN 10 AND 20", "no2"),
        [E(10.0), Granularity::Exact]
    );
}

#[test]
fn strings_are_exact_and_time_edges_are_instants() {
    assert_eq!(
        edges("municipality = 'Gent'", "municipality"),
        [Granularity::Exact]
    );
    // An empty IN list (where the parser takes one) still reports the field.
    if let Ok((_, shape)) = crate::plan(&where_("municipality IN ()"), |_| {
        Some(super::tests_plan::schema())
    }) {
        assert_eq!(shape.filters[0].granularity, Granularity::Exact);
    }
    let t = |s: &str| parse_time_literal(s).unwrap();
    let g = edges(
        "observed_at >= '2024-03-01' AND observed_at <= '2024-03-31T23:00:00Z'",
        "observed_at",
    );
    assert_eq!(
        g,
        [
            Granularity::TimeEdge(t("2024-03-01")),
            Granularity::TimeEdge(t("2024-03-31T23:00:00Z") + 1)
        ]
    );
    let hour = MinGranularity::Time(TimeUnit::Hour);
    assert!(hour.allows(&g[0]));
    assert!(
        !hour.allows(&g[1]),
        "<= a whole hour ends one microsecond later"
    );
    let g = edges(
        "observed_at >= '2024-03-01' AND observed_at < '2024-04-01'",
        "observed_at",
    );
    assert!(g
        .iter()
        .all(|u| MinGranularity::Time(TimeUnit::Month).allows(u)));
    assert!(!g
        .iter()
        .all(|u| MinGranularity::Time(TimeUnit::Week).allows(u)));
}
