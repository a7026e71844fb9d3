//! No panic is reachable from a query (issue 20): arbitrary SQL-ish text, built from a
//! grammar of Regio's subset (with its edges: huge numbers, bad positions, unknown names,
//! wrong types) and from random bytes, is planned and, when it plans, executed over a small
//! chunk, checked against its plan, merged with itself and finalized. Every step may fail with an error; none may
//! panic.

use proptest::prelude::*;

use super::tests_plan::schema;
use super::*;
use crate::chunk::Chunk;
use crate::schema::Value;

const COLUMNS: &[&str] = &[
    "subject",
    "municipality",
    "observed_at",
    "no2",
    "age",
    "pos",
    "nox",
    "readings.no2",
    "r.age",
    "x.y.z",
];

const LITERALS: &[&str] = &[
    "0",
    "1",
    "-4",
    "37",
    "1.5",
    "-0.0",
    "1e400",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999999",
    "'a'",
    "''",
    "'2024-01-01'",
    "'2024-03-04T10:00:00Z'",
    "'2024-02-30'",
    "TIMESTAMP '2024-01-01 00:00:00'",
    "'2024-01-01'::timestamp",
    "CAST('2024-01-08' AS DATE)",
    "NULL",
    "(1)",
    "-'a'",
];

fn pick(v: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(v).prop_map(String::from)
}

fn column() -> impl Strategy<Value = String> {
    pick(COLUMNS)
}

fn literal() -> impl Strategy<Value = String> {
    pick(LITERALS)
}

/// A literal that fits the column, mostly (and now and then one that does not).
fn typed_literal(col: &'static str) -> BoxedStrategy<String> {
    let fitting: &'static [&'static str] = match col {
        "age" => &[
            "0",
            "1",
            "-4",
            "37",
            "9223372036854775807",
            "-9223372036854775808",
        ],
        "no2" => &["0", "1.5", "-0.0", "37", "1e308", "1e400"],
        "observed_at" => &[
            "'2024-01-01'",
            "'2024-03-04T10:00:00Z'",
            "TIMESTAMP '2024-01-01 00:00:00'",
            "'2024-01-01'::timestamp",
            "'262143-12-31'",
        ],
        _ => &["'a'", "''", "'s1'", "'A'"],
    };
    prop_oneof![9 => pick(fitting), 1 => literal()].boxed()
}

fn good_column() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["subject", "municipality", "observed_at", "no2", "age"][..])
}

fn condition() -> impl Strategy<Value = String> {
    let op = pick(&["=", "<>", "<", "<=", ">", ">="]);
    let typed = (good_column(), op)
        .prop_flat_map(|(c, o)| typed_literal(c).prop_map(move |l| format!("{c} {o} {l}")));
    let between = good_column().prop_flat_map(|c| {
        (typed_literal(c), typed_literal(c), any::<bool>()).prop_map(move |(a, b, n)| {
            format!("{c} {}BETWEEN {a} AND {b}", if n { "NOT " } else { "" })
        })
    });
    let in_list = good_column().prop_flat_map(|c| {
        prop::collection::vec(typed_literal(c), 1..3)
            .prop_map(move |l| format!("{c} IN ({})", l.join(", ")))
    });
    let weird = prop_oneof![
        (column(), pick(&["LIKE", "+", "="]), literal())
            .prop_map(|(c, o, l)| format!("{c} {o} {l}")),
        (literal(), pick(&["<", "=", ">="]), column()).prop_map(|(l, o, c)| format!("{l} {o} {c}")),
        (column(), column()).prop_map(|(a, b)| format!("{a} = {b}")),
        Just("1 = 1".to_string()),
        Just("age IN (SELECT 1)".to_string()),
    ];
    let atom = prop_oneof![
        6 => typed,
        2 => between,
        2 => in_list,
        2 => good_column().prop_map(|c| format!("{c} IS NULL")),
        1 => good_column().prop_map(|c| format!("{c} IS NOT NULL")),
        1 => weird,
    ];
    atom.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} OR {b})")),
            inner.prop_map(|a| format!("NOT ({a})")),
        ]
    })
}

fn aggregate() -> impl Strategy<Value = String> {
    let func = pick(&["count", "sum", "avg", "min", "max", "stddev", "stddev_samp"]);
    prop_oneof![
        2 => Just("count(*)".to_string()),
        4 => (func, good_column()).prop_map(|(f, c)| format!("{f}({c})")),
        1 => good_column().prop_map(|c| format!("count(DISTINCT {c})")),
        1 => (pick(&["0.5", "0", "1", "2", "-1", "'a'"]), good_column())
            .prop_map(|(p, c)| format!("percentile_cont({p}) WITHIN GROUP (ORDER BY {c})")),
        1 => (pick(&["upper", "count", "sum"]), column()).prop_map(|(f, c)| format!("{f}({c})")),
    ]
}

fn key() -> impl Strategy<Value = String> {
    let unit = pick(&[
        "'hour'", "'day'", "'week'", "'month'", "'year'", "'minute'", "1",
    ]);
    prop_oneof![
        4 => good_column().prop_map(String::from),
        2 => (unit, prop_oneof![4 => Just("observed_at".to_string()), 1 => column()])
            .prop_map(|(u, c)| format!("date_trunc({u}, {c})")),
        1 => column(),
    ]
}

fn alias(s: String, a: Option<String>) -> String {
    a.map_or(s.clone(), |a| format!("{s} AS {a}"))
}

/// `(select list, GROUP BY list)`: an aggregate query's keys and aggregates, or a raw one's
/// columns, now and then with a stray item.
fn select_and_group() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    let name = || prop::option::of(pick(&["a", "n", "no2", "day"]));
    let aggregate_query = (
        prop::collection::vec((key(), name()), 0..3),
        prop::collection::vec((aggregate(), name()), 0..3),
        any::<bool>(),
    )
        .prop_map(|(keys, aggs, by_position)| {
            let group = keys
                .iter()
                .enumerate()
                .map(|(i, (k, _))| {
                    if by_position {
                        (i + 1).to_string()
                    } else {
                        k.clone()
                    }
                })
                .collect();
            let items = keys
                .into_iter()
                .chain(aggs)
                .map(|(e, a)| alias(e, a))
                .collect();
            (items, group)
        });
    let raw_query = prop::collection::vec((prop_oneof![4 => good_column().prop_map(String::from), 1 => column(), 1 => Just("*".to_string())], name()), 0..4)
        .prop_map(|v| (v.into_iter().map(|(e, a)| alias(e, a)).collect(), vec![]));
    let stray = (
        prop::collection::vec(prop_oneof![column(), literal(), aggregate()], 0..3),
        prop::collection::vec(pick(&["0", "99", "-1", "a", "count(*)"]), 0..2),
    );
    prop_oneof![6 => aggregate_query, 3 => raw_query, 1 => stray]
}

fn sql() -> impl Strategy<Value = String> {
    (
        select_and_group(),
        prop_oneof![8 => Just("readings".to_string()), 1 => pick(&["readings r", "weather", "readings, readings"])],
        prop::option::of(condition()),
        prop::collection::vec(
            (pick(&["1", "2", "3", "a", "n", "day", "no2", "count(*)", "0"]), pick(&["", " DESC", " ASC NULLS FIRST"])).prop_map(|(k, d)| format!("{k}{d}")),
            0..2,
        ),
        prop::option::of(prop_oneof![3 => Just("7".to_string()), 1 => pick(&["0", "18446744073709551615", "-1", "'x'", "1.5"])]),
    )
        .prop_map(|((items, keys), from, cond, order, limit)| {
            let mut s = format!("SELECT {} FROM {from}", items.join(", "));
            if let Some(c) = cond {
                s += &format!(" WHERE {c}");
            }
            if !keys.is_empty() {
                s += &format!(" GROUP BY {}", keys.join(", "));
            }
            if !order.is_empty() {
                s += &format!(" ORDER BY {}", order.join(", "));
            }
            if let Some(l) = limit {
                s += &format!(" LIMIT {l}");
            }
            s
        })
}

fn chunk() -> Chunk {
    let ts = |s: &str| Value::Ts(parse_time_literal(s).unwrap_or(0));
    let rows = vec![
        vec![
            Value::Str("s1".into()),
            Value::Str("A".into()),
            ts("2024-01-01"),
            Value::Float(1.5),
            Value::Int(37),
            Value::Geo(51.0, 3.7),
        ],
        vec![
            Value::Null,
            Value::Str("B".into()),
            ts("2024-03-04T10:00:00Z"),
            Value::Float(f64::MAX),
            Value::Int(i64::MAX),
            Value::Null,
        ],
        vec![
            Value::Str("s2".into()),
            Value::Str("".into()),
            ts("1969-12-31T23:59:59Z"),
            Value::Null,
            Value::Int(i64::MIN),
            Value::Null,
        ],
        vec![
            Value::Str("s1".into()),
            Value::Null,
            Value::Null,
            Value::Float(-0.0),
            Value::Null,
            Value::Geo(0.0, 0.0),
        ],
    ];
    // The fixture itself is not under test: a chunk that fails to build is empty.
    Chunk::build(&schema(), &rows).unwrap_or_else(|_| Chunk::build(&schema(), &[]).unwrap())
}

/// Plans `sql` and, when it plans, runs every later step; errors are fine, panics are not.
fn run_all(sql: &str) {
    let Ok((plan, _shape)) = crate::plan(sql, |d| (d == "readings").then(schema)) else {
        return;
    };
    let chunks = [chunk()];
    let consent = |s: &str| s != "s2";
    let masked = ["subject".to_string()];
    let consent = Some(&consent as &dyn Fn(&str) -> bool);
    let dp = DpOptions {
        epsilon: 1.0,
        delta: 1e-6,
        rows_per_group: 2,
        groups_per_subject: 3,
    };
    for (consent, subject, dp, k) in [
        (consent, Some(0), None, 1),
        (None, None, None, 2),
        (consent, Some(0), Some(dp), 2),
    ] {
        let opts = ExecOptions {
            consent,
            masked: &masked,
            min_group_size: k,
            subject,
            dp,
        };
        let Ok(mut part) = execute(&plan, chunks.iter().map(Ok::<_, std::io::Error>), &opts) else {
            continue;
        };
        // A node's own partial result always fits its plan (the coordinator's check).
        if let Err(e) = part.check(&plan) {
            panic!("{sql}: own partial does not fit its plan: {e}");
        }
        let _ = finalize(&plan, &part);
        if let Ok(json) = serde_json::to_value(&part) {
            let _ = serde_json::from_value::<PartialResult>(json);
        }
        if part.merge(part.clone()).is_ok() {
            let _ = finalize(&plan, &part);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn grammar_sql_never_panics(s in sql()) {
        run_all(&s);
    }

    #[test]
    fn mutated_sql_never_panics(s in sql(), at in any::<prop::sample::Index>(), junk in "[(),'*;:.%-]{0,3}") {
        let cut = s.char_indices().map(|(i, _)| i).nth(at.index(s.chars().count().max(1))).unwrap_or(0);
        run_all(&format!("{}{junk}{}", &s[..cut], &s[cut..]));
    }

    #[test]
    fn random_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..80)) {
        run_all(&String::from_utf8_lossy(&b));
    }
}
