//! Planner tests: every supported construct, and the exact error (construct and position)
//! for unsupported ones.

use regio_policy::{FieldUse, Granularity, QueryKind, QueryShape, TimeUnit};

use super::*;
use crate::schema::{Field, FieldType, Schema, Value};

pub(crate) fn schema() -> Schema {
    let f = |name: &str, ty| Field::new(name, ty, true);
    Schema {
        dataset: "readings".into(),
        fields: vec![
            f("subject", FieldType::String),
            f("municipality", FieldType::String),
            f("observed_at", FieldType::Timestamp),
            f("no2", FieldType::Float),
            f("age", FieldType::Integer),
            f("pos", FieldType::GeoPoint),
        ],
        subject: Some("subject".into()),
        time: Some("observed_at".into()),
    }
}

pub(crate) fn p(sql: &str) -> (Plan, QueryShape) {
    plan(sql, |d| (d == "readings").then(schema)).unwrap()
}

fn err(sql: &str) -> String {
    plan(sql, |d| (d == "readings").then(schema))
        .unwrap_err()
        .to_string()
}

fn ts(s: &str) -> i64 {
    parse_time_literal(s).unwrap()
}

#[test]
fn reference_query() {
    let (plan, shape) = p("SELECT municipality, date_trunc('day', observed_at) AS day, count(*) AS n, avg(no2) AS avg_no2, \
         min(no2) AS min_no2, max(no2) AS max_no2 FROM readings GROUP BY municipality, date_trunc('day', observed_at) ORDER BY 1, 2");
    assert_eq!(plan.kind, QueryKind::Aggregate);
    assert_eq!(
        plan.keys,
        vec![
            KeyExpr {
                field: 1,
                trunc: None
            },
            KeyExpr {
                field: 2,
                trunc: Some(TimeUnit::Day)
            }
        ]
    );
    let funcs: Vec<_> = plan.aggs.iter().map(|a| (a.func, a.field)).collect();
    assert_eq!(
        funcs,
        vec![
            (AggFunc::CountStar, None),
            (AggFunc::Avg, Some(3)),
            (AggFunc::Min, Some(3)),
            (AggFunc::Max, Some(3))
        ]
    );
    let names: Vec<_> = plan.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        ["municipality", "day", "n", "avg_no2", "min_no2", "max_no2"]
    );
    assert_eq!(plan.outputs[1].source, OutSource::Key(1));
    assert_eq!(plan.outputs[2].source, OutSource::Agg(0));
    assert_eq!(
        plan.order,
        vec![
            OrderKey {
                output: 0,
                desc: false,
                nulls_first: false
            },
            OrderKey {
                output: 1,
                desc: false,
                nulls_first: false
            }
        ]
    );
    assert_eq!(plan.limit, None);
    assert_eq!(plan.time_range, (None, None));
    assert_eq!(
        shape,
        QueryShape {
            dataset: "readings".into(),
            kind: QueryKind::Aggregate,
            filters: vec![],
            groups: vec![
                FieldUse::new("municipality", Granularity::Exact),
                FieldUse::new("observed_at", Granularity::Time(TimeUnit::Day))
            ],
            fields: vec!["municipality".into(), "observed_at".into(), "no2".into()],
            aggregates: shape.aggregates.clone(),
            subject: Some("subject".into()),
        }
    );
}

#[test]
fn where_comparisons_logic_in_between_null() {
    let (plan, shape) = p("SELECT count(*) FROM readings WHERE municipality = '44021' AND NOT (no2 <> 3) \
         OR (age < 1 OR age <= 2 OR 3 > age OR age >= -4) AND municipality IN ('a', 'b') AND age BETWEEN 60 AND 70 \
         AND subject IS NULL AND no2 IS NOT NULL AND age NOT BETWEEN 1 AND 2 AND municipality NOT IN ('c')");
    use Predicate::*;
    let cmp = |field, op, value| Cmp { field, op, value };
    let expected = Or(vec![
        And(vec![
            cmp(1, CmpOp::Eq, Value::Str("44021".into())),
            Not(Box::new(cmp(3, CmpOp::Ne, Value::Float(3.0)))),
        ]),
        And(vec![
            And(vec![
                And(vec![
                    And(vec![
                        And(vec![
                            And(vec![
                                Or(vec![
                                    Or(vec![
                                        Or(vec![
                                            cmp(4, CmpOp::Lt, Value::Int(1)),
                                            cmp(4, CmpOp::Le, Value::Int(2)),
                                        ]),
                                        cmp(4, CmpOp::Lt, Value::Int(3)),
                                    ]),
                                    cmp(4, CmpOp::Ge, Value::Int(-4)),
                                ]),
                                In {
                                    field: 1,
                                    list: vec![Value::Str("a".into()), Value::Str("b".into())],
                                },
                            ]),
                            And(vec![
                                cmp(4, CmpOp::Ge, Value::Int(60)),
                                cmp(4, CmpOp::Le, Value::Int(70)),
                            ]),
                        ]),
                        IsNull { field: 0 },
                    ]),
                    Not(Box::new(IsNull { field: 3 })),
                ]),
                Not(Box::new(And(vec![
                    cmp(4, CmpOp::Ge, Value::Int(1)),
                    cmp(4, CmpOp::Le, Value::Int(2)),
                ]))),
            ]),
            Not(Box::new(In {
                field: 1,
                list: vec![Value::Str("c".into())],
            })),
        ]),
    ]);
    assert_eq!(plan.filter, Some(expected));
    let g: Vec<_> = shape
        .filters
        .iter()
        .map(|u| (u.field.as_str(), u.granularity))
        .collect();
    assert_eq!(g[0], ("municipality", Granularity::Exact));
    let ages: Vec<_> = g.iter().filter(|(f, _)| *f == "age").map(|x| x.1).collect();
    let edge = Granularity::Edge;
    // <1, <=2, 3>age, >=-4, BETWEEN 60 AND 70, NOT BETWEEN 1 AND 2: each by its edges.
    assert_eq!(
        ages,
        [
            edge(1.0),
            edge(3.0),
            edge(3.0),
            edge(-4.0),
            edge(60.0),
            edge(71.0),
            edge(1.0),
            edge(3.0)
        ]
    );
    assert!(g.contains(&("subject", Granularity::Null)));
    assert!(g.contains(&("no2", Granularity::Exact)), "<> on a float");
    assert_eq!(shape.fields, vec!["municipality", "no2", "age", "subject"]);
}

#[test]
fn time_literals_ranges_and_granularity() {
    let (plan, shape) = p("SELECT count(*) FROM readings WHERE observed_at >= '2024-01-01' \
         AND observed_at < TIMESTAMP '2024-02-01 00:00:00' AND observed_at <> '2024-01-03T10:00:00Z' \
         AND observed_at > '2024-01-02T10:30:00+01:00'");
    assert_eq!(
        plan.time_range,
        (Some(ts("2024-01-02T09:30:00Z") + 1), Some(ts("2024-02-01")))
    );
    let g: Vec<_> = shape.filters.iter().map(|u| u.granularity).collect();
    let edge = Granularity::TimeEdge;
    let ne = ts("2024-01-03T10:00:00Z");
    assert_eq!(
        g,
        [
            edge(ts("2024-01-01")),
            edge(ts("2024-02-01")),
            edge(ne),
            edge(ne + 1),
            edge(ts("2024-01-02T09:30:00Z") + 1)
        ]
    );
    let (plan, shape) = p("SELECT count(*) FROM readings WHERE observed_at BETWEEN '2024-03-04T10:00:00Z' AND '2024-03-05'");
    assert_eq!(
        plan.time_range,
        (Some(ts("2024-03-04T10:00:00Z")), Some(ts("2024-03-05") + 1))
    );
    assert_eq!(
        shape.filters,
        vec![
            FieldUse::new(
                "observed_at",
                Granularity::TimeEdge(ts("2024-03-04T10:00:00Z"))
            ),
            FieldUse::new("observed_at", Granularity::TimeEdge(ts("2024-03-05") + 1))
        ]
    );
    let (plan, shape) = p(
        "SELECT count(*) FROM readings WHERE observed_at >= '2024-01-01'::timestamp \
         AND observed_at < CAST('2024-01-08' AS DATE) AND observed_at <= '2024-01-07T23:00:00Z'",
    );
    assert_eq!(
        plan.time_range,
        (Some(ts("2024-01-01")), Some(ts("2024-01-07T23:00:00Z") + 1))
    );
    let g: Vec<_> = shape.filters.iter().map(|u| u.granularity).collect();
    assert_eq!(
        g,
        [
            Granularity::TimeEdge(ts("2024-01-01")),
            Granularity::TimeEdge(ts("2024-01-08")),
            Granularity::TimeEdge(ts("2024-01-07T23:00:00Z") + 1)
        ]
    );
    let (plan, _) = p("SELECT count(*) FROM readings WHERE observed_at >= '2024-01-01' OR no2 > 1");
    assert_eq!(
        plan.time_range,
        (None, None),
        "a disjunction does not narrow the scan"
    );
}

#[test]
fn group_by_alias_position_and_every_aggregate() {
    let (plan, shape) = p("SELECT municipality AS m, date_trunc('month', observed_at) AS mo, count(*), count(no2), \
         count(DISTINCT subject), sum(age), avg(no2), min(observed_at), max(municipality), stddev(no2), \
         percentile_cont(0.9) WITHIN GROUP (ORDER BY no2) AS p90 FROM readings GROUP BY m, 2 ORDER BY mo DESC, p90 NULLS FIRST LIMIT 7");
    assert_eq!(
        plan.keys,
        vec![
            KeyExpr {
                field: 1,
                trunc: None
            },
            KeyExpr {
                field: 2,
                trunc: Some(TimeUnit::Month)
            }
        ]
    );
    let funcs: Vec<_> = plan.aggs.iter().map(|a| (a.func, a.field)).collect();
    assert_eq!(
        funcs,
        vec![
            (AggFunc::CountStar, None),
            (AggFunc::Count, Some(3)),
            (AggFunc::CountDistinct, Some(0)),
            (AggFunc::Sum, Some(4)),
            (AggFunc::Avg, Some(3)),
            (AggFunc::Min, Some(2)),
            (AggFunc::Max, Some(1)),
            (AggFunc::Stddev, Some(3)),
            (AggFunc::Percentile(0.9), Some(3)),
        ]
    );
    let names: Vec<_> = plan.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        ["m", "mo", "count", "count", "count", "sum", "avg", "min", "max", "stddev", "p90"]
    );
    assert_eq!(
        plan.order,
        vec![
            OrderKey {
                output: 1,
                desc: true,
                nulls_first: true
            },
            OrderKey {
                output: 10,
                desc: false,
                nulls_first: true
            }
        ]
    );
    assert_eq!(plan.limit, Some(7));
    assert_eq!(
        shape.groups[1],
        FieldUse::new("observed_at", Granularity::Time(TimeUnit::Month))
    );
    let (plan, _) = p("SELECT date_trunc('week', observed_at), date_trunc('hour', observed_at), date_trunc('year', observed_at), \
         count(*) AS n FROM readings GROUP BY 1, 2, 3 ORDER BY date_trunc('hour', observed_at), n DESC");
    let units: Vec<_> = plan.keys.iter().map(|k| k.trunc).collect();
    assert_eq!(
        units,
        [
            Some(TimeUnit::Week),
            Some(TimeUnit::Hour),
            Some(TimeUnit::Year)
        ]
    );
    assert_eq!(
        plan.order,
        vec![
            OrderKey {
                output: 1,
                desc: false,
                nulls_first: false
            },
            OrderKey {
                output: 3,
                desc: true,
                nulls_first: true
            }
        ]
    );
    let (plan, shape) = p("SELECT count(*) FROM readings");
    assert!(plan.keys.is_empty() && shape.groups.is_empty() && shape.kind == QueryKind::Aggregate);
}

#[test]
fn raw_selects() {
    let (plan, shape) =
        p("SELECT r.subject, no2 AS v FROM readings r WHERE no2 > 50 ORDER BY v DESC LIMIT 3");
    assert_eq!(plan.kind, QueryKind::Raw);
    assert_eq!(
        plan.outputs,
        vec![
            OutputColumn {
                name: "subject".into(),
                source: OutSource::Column(0)
            },
            OutputColumn {
                name: "v".into(),
                source: OutSource::Column(3)
            },
        ]
    );
    assert_eq!(
        plan.order,
        vec![OrderKey {
            output: 1,
            desc: true,
            nulls_first: true
        }]
    );
    assert_eq!(
        (shape.kind, shape.fields),
        (
            QueryKind::Raw,
            vec!["subject".to_string(), "no2".to_string()]
        )
    );
    let (plan, _) = p("SELECT * FROM readings");
    assert_eq!(plan.outputs.len(), 6);
}

#[test]
fn unsupported_constructs_are_named_with_their_position() {
    for (sql, expected) in [
        ("SELECT no2 FROM readings JOIN sensors ON readings.no2 = sensors.id", "unsupported at 1:31: JOIN (queries read one dataset)"),
        ("SELECT no2 FROM readings, sensors", "unsupported at 1:27: second table in FROM (queries read one dataset)"),
        ("SELECT no2 FROM (SELECT * FROM readings) r", "unsupported at 1:18: subquery in FROM (queries read one dataset)"),
        ("WITH x AS (SELECT 1) SELECT no2 FROM readings", "unsupported at 1:1: WITH (common table expressions)"),
        ("SELECT no2 FROM readings UNION SELECT no2 FROM readings", "unsupported at 1:1: UNION (queries read one dataset)"),
        ("SELECT avg(no2) OVER (PARTITION BY municipality) FROM readings", "unsupported at 1:8: window function avg(…) OVER"),
        ("SELECT municipality, count(*) FROM readings GROUP BY municipality HAVING count(*) > 5",
         "unsupported at 1:74: HAVING (small groups are suppressed by the policy's minimum group size)"),
        ("SELECT FROM readings", "unsupported at 1:1: SELECT with an empty select list (name the columns or aggregates)"),
        ("SELECT DISTINCT municipality FROM readings", "unsupported at 1:1: SELECT DISTINCT (group instead)"),
        ("SELECT no2 FROM readings LIMIT 5 OFFSET 10", "unsupported at 1:41: OFFSET"),
        ("SELECT no2 FROM readings WHERE municipality LIKE 'S%'", "unsupported at 1:32: expression `municipality LIKE 'S%'` in WHERE"),
        ("SELECT upper(municipality) FROM readings", "unsupported at 1:8: function upper"),
        ("SELECT no2 FROM readings WHERE subject IN (SELECT subject FROM consent)", "unsupported at 1:32: IN with a subquery (queries read one dataset)"),
        ("INSERT INTO readings (no2) VALUES (1)", "unsupported at 1:1: statement INSERT (only SELECT)"),
        ("SELECT no2 FROM readings; SELECT no2 FROM readings", "unsupported at 1:27: more than one statement"),
        ("SELECT no2 + 1 FROM readings", "unsupported at 1:8: expression `no2 + 1` (select columns, date_trunc or aggregates)"),
        ("SELECT no2 FROM readings WHERE no2 > age", "unsupported at 1:32: comparison of two columns (compare a column with a literal)"),
        ("SELECT date_trunc('minute', observed_at), count(*) FROM readings GROUP BY 1",
         "unsupported at 1:19: date_trunc unit 'minute' (hour, day, week, month, year)"),
        ("SELECT no2 FROM readings ORDER BY age", "unsupported at 1:35: ORDER BY `age` that is not in the select list"),
        ("SELECT count(*) FROM readings WHERE pos = 1", "unsupported at 1:43: comparison on geo point column `pos`"),
        ("SELECT nox FROM readings", "unknown column `nox` at 1:8 (dataset `readings`)"),
        ("SELECT no2 FROM weather", "unknown dataset `weather` at 1:17"),
        ("SELECT municipality, subject, count(*) FROM readings GROUP BY municipality",
         "invalid at 1:22: `subject` must appear in GROUP BY or be used in an aggregate"),
        ("SELECT no2 FROM readings WHERE observed_at > 'yesterday'",
         "invalid at 1:46: `'yesterday'` is not a valid timestamp literal for column `observed_at`"),
        ("SELECT sum(municipality) FROM readings", "invalid at 1:8: sum needs a numeric column, `municipality` is not"),
        ("SELECT no2 FROM readings WHERE age = 1.5", "invalid at 1:38: `1.5` is not a valid integer literal for column `age`"),
    ] {
        assert_eq!(err(sql), expected, "{sql}");
    }
    assert!(err("SELEC no2 FROM readings").starts_with("syntax error: "));
}
