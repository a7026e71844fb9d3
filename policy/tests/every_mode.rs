//! The rules that hold in every disclosure mode (issue 20, item 3): the attacks of the issue,
//! each refused with its exact reason code, and their harmless neighbours allowed.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use regio_policy::decision::{self, Decision, Reason};
use regio_policy::doc::bundle::PolicyBundle;
use regio_policy::doc::charter::MinGranularity;
use regio_policy::shape::{
    AggKind, AggUse, FieldUse, Granularity, QueryKind, QueryShape, TimeUnit,
};
use regio_policy::Signed;
use support::*;

fn refusal(d: Decision) -> decision::Refusal {
    match d {
        Decision::Refuse(r) => r,
        Decision::Allow(o) => panic!("expected a refusal, got Allow({o:?})"),
    }
}

/// Decides `s` for a ResearchAndDevelopment query in the standard world.
fn decide(w: &World, s: &QueryShape) -> Decision {
    decision::decide(&w.query("ResearchAndDevelopment"), s, &w.ctx())
}

fn reason(w: &World, s: &QueryShape) -> Reason {
    refusal(decide(w, s)).reason
}

fn allowed(w: &World, s: &QueryShape) {
    if let Decision::Refuse(r) = decide(w, s) {
        panic!("expected Allow, got {r}");
    }
}

fn agg(func: AggKind, field: Option<&str>) -> AggUse {
    AggUse {
        func,
        field: field.map(String::from),
        bounded: true,
        categorical: false,
    }
}

/// A count(*) query over readings that reads `fields`.
fn counting(fields: &[&str]) -> QueryShape {
    let mut s = shape("readings");
    s.fields = fields.iter().map(|f| f.to_string()).collect();
    s.aggregates = vec![agg(AggKind::Count, None)];
    s
}

#[test]
fn filtering_or_grouping_on_the_subject_is_refused() {
    let w = World::new();
    // WHERE subject = 'X'
    let mut s = counting(&["subject"]);
    s.filters = vec![FieldUse::new("subject", Granularity::Exact)];
    let r = refusal(decide(&w, &s));
    assert_eq!(r.reason, Reason::SubjectField);
    assert!(
        r.message.contains("`subject`") && r.message.contains("WHERE"),
        "{}",
        r.message
    );
    // … AND subject <> 'X' (the differencing pair): the same use, the same refusal.
    let mut s = counting(&["no2", "subject"]);
    s.filters = vec![
        FieldUse::new("no2", Granularity::Exact),
        FieldUse::new("subject", Granularity::Exact),
    ];
    assert_eq!(reason(&w, &s), Reason::SubjectField);
    // GROUP BY subject
    let mut s = counting(&["subject"]);
    s.groups = vec![FieldUse::new("subject", Granularity::Exact)];
    let r = refusal(decide(&w, &s));
    assert_eq!(r.reason, Reason::SubjectField);
    assert!(r.message.contains("GROUP BY"), "{}", r.message);
}

#[test]
fn counting_the_subject_is_refused_even_distinctly() {
    let w = World::new();
    for func in [AggKind::Count, AggKind::CountDistinct] {
        let mut s = counting(&["subject"]);
        s.aggregates = vec![agg(func, Some("subject"))];
        let r = refusal(decide(&w, &s));
        assert_eq!(r.reason, Reason::SubjectField, "{func:?}");
        assert!(r.message.contains("inside count"), "{}", r.message);
    }
    // Only in the field list (a selected column the planner reports): still refused.
    assert_eq!(reason(&w, &counting(&["subject"])), Reason::SubjectField);
    // count(*) and a harmless field are fine.
    allowed(&w, &counting(&["no2"]));
}

/// The standard world with `extra` sensitive fields on readings.
fn with_sensitive(w: &World, extra: &[&str]) -> Signed<PolicyBundle> {
    let mut doc = bundle_doc(&w.gent, &w.certifier);
    doc.datasets[0]
        .sensitive_fields
        .extend(extra.iter().map(|s| s.to_string()));
    Signed::sign(doc, &w.gent, now()).unwrap()
}

#[test]
fn aggregates_of_a_sensitive_field_are_refused() {
    let w = World::new();
    let bundle = with_sensitive(&w, &["diagnose"]);
    let ctx = decision::Context {
        policy: &bundle,
        ..w.ctx()
    };
    for func in [AggKind::Avg, AggKind::Min, AggKind::Max, AggKind::Sum] {
        let mut s = counting(&["diagnose"]);
        s.aggregates = vec![agg(func, Some("diagnose"))];
        let r = refusal(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &s,
            &ctx,
        ));
        assert_eq!(r.reason, Reason::SubjectField, "{func:?}");
        assert!(r.message.contains("sensitive field"), "{}", r.message);
    }
}

#[test]
fn raw_queries_keep_masking_sensitive_fields() {
    let w = World::new();
    let mut doc = bundle_doc(&w.gent, &w.certifier);
    doc.datasets[1].sensitive_fields = vec!["plate".into()];
    let bundle = Signed::sign(doc, &w.gent, now()).unwrap();
    let ctx = decision::Context {
        policy: &bundle,
        ..w.ctx()
    };
    let mut s = shape("parking");
    s.kind = QueryKind::Raw;
    s.subject = None;
    s.fields = vec!["plate".into(), "spots".into()];
    let mut q = w.query_doc("PublicBenefit");
    q.certificate = None;
    let q = Signed::sign(q, &w.app, now()).unwrap();
    match decision::decide(&q, &s, &ctx) {
        Decision::Allow(o) => assert_eq!(o.masked, vec!["plate".to_string()]),
        Decision::Refuse(r) => panic!("raw query refused: {r}"),
    }
}

#[test]
fn a_personal_dataset_whose_schema_names_no_or_another_subject_is_refused() {
    let w = World::new();
    let mut s = counting(&["no2"]);
    s.subject = None;
    let r = refusal(decide(&w, &s));
    assert_eq!(r.reason, Reason::SubjectMismatch);
    assert!(
        r.message.contains("names no subject field"),
        "{}",
        r.message
    );
    s.subject = Some("sensor".into());
    let r = refusal(decide(&w, &s));
    assert_eq!(r.reason, Reason::SubjectMismatch);
    assert!(
        r.message.contains("`sensor`") && r.message.contains("`subject`"),
        "{}",
        r.message
    );
    // A raw query too: consent is never fail-open.
    s.kind = QueryKind::Raw;
    assert_ne!(reason(&w, &s), Reason::SubjectField);
    // An open dataset needs no subject.
    let mut open = shape("parking");
    open.subject = None;
    open.aggregates = vec![agg(AggKind::Count, None)];
    let mut q = w.query_doc("PublicBenefit");
    q.certificate = None;
    let q = Signed::sign(q, &w.app, now()).unwrap();
    assert!(matches!(
        decision::decide(&q, &open, &w.ctx()),
        Decision::Allow(_)
    ));
}

fn filtered(field: &str, uses: &[Granularity]) -> QueryShape {
    let mut s = counting(&[field]);
    s.filters = uses.iter().map(|g| FieldUse::new(field, *g)).collect();
    s
}

#[test]
fn two_aligned_ranges_that_cut_one_year_out_of_a_bin_are_refused() {
    let w = World::new();
    // age BETWEEN 0 AND 37 AND age BETWEEN 37 AND 74: edges 0, 38, 37, 75.
    let s = filtered(
        "geboortejaar",
        &[
            Granularity::Edge(0.0),
            Granularity::Edge(38.0),
            Granularity::Edge(37.0),
            Granularity::Edge(75.0),
        ],
    );
    let r = refusal(decide(&w, &s));
    assert_eq!(r.reason, Reason::ProtectedAttribute);
    assert!(r.message.contains("cut at 38"), "{}", r.message);
    // age >= 30 AND age < 50 (or BETWEEN 30 AND 49): edges 30 and 50, whole bins.
    allowed(
        &w,
        &filtered(
            "geboortejaar",
            &[Granularity::Edge(30.0), Granularity::Edge(50.0)],
        ),
    );
    // IS NULL on a binned attribute is fine.
    allowed(&w, &filtered("geboortejaar", &[Granularity::Null]));
    // Bins that are not a multiple of the charter's width cut its bins.
    let mut s = counting(&["geboortejaar"]);
    s.groups = vec![FieldUse::new("geboortejaar", Granularity::NumericBin(15.0))];
    assert_eq!(reason(&w, &s), Reason::ProtectedAttribute);
    s.groups = vec![FieldUse::new("geboortejaar", Granularity::NumericBin(20.0))];
    allowed(&w, &s);
}

#[test]
fn extremes_and_aggregates_of_a_protected_attribute_are_refused() {
    let w = World::new();
    for func in [
        AggKind::Min,
        AggKind::Max,
        AggKind::Avg,
        AggKind::CountDistinct,
    ] {
        let mut s = counting(&["income"]);
        s.aggregates = vec![agg(func, Some("income"))];
        let r = refusal(decide(&w, &s));
        assert_eq!(r.reason, Reason::ProtectedAttribute, "{func:?}");
        assert!(r.message.contains("inside"), "{}", r.message);
    }
    let mut s = counting(&["geboortejaar"]);
    s.aggregates = vec![agg(AggKind::Avg, Some("geboortejaar"))];
    assert_eq!(reason(&w, &s), Reason::ProtectedAttribute);
}

#[test]
fn never_means_never_in_any_position() {
    let w = World::new();
    // WHERE etniciteit IS NULL
    let r = refusal(decide(&w, &filtered("etniciteit", &[Granularity::Null])));
    assert_eq!(r.reason, Reason::ProtectedAttribute);
    assert!(r.message.contains("never"), "{}", r.message);
    assert_eq!(
        reason(&w, &filtered("etniciteit", &[Granularity::Edge(0.0)])),
        Reason::ProtectedAttribute
    );
    let mut s = counting(&["etniciteit"]);
    s.groups = vec![FieldUse::new("etniciteit", Granularity::NumericBin(1e9))];
    assert_eq!(reason(&w, &s), Reason::ProtectedAttribute);
    let mut s = counting(&["etniciteit"]);
    s.aggregates = vec![agg(AggKind::CountDistinct, Some("etniciteit"))];
    assert_eq!(reason(&w, &s), Reason::ProtectedAttribute);
}

fn micros(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_micros()
}

#[test]
fn time_edges_must_lie_on_the_charters_unit_in_utc() {
    let w = World::new();
    let hour = Granularity::TimeEdge(micros("2024-03-04T10:00:00Z"));
    allowed(&w, &filtered("observed_at", &[hour]));
    // observed_at <= '…T10:00:00Z' has its edge one microsecond later.
    let off = Granularity::TimeEdge(micros("2024-03-04T10:00:00Z") + 1);
    assert_eq!(
        reason(&w, &filtered("observed_at", &[hour, off])),
        Reason::ProtectedAttribute
    );
    // A week starts on a Monday: 2025-01-01 is a Wednesday, aligned to a year, not a week.
    let week = MinGranularity::Time(TimeUnit::Week);
    assert!(week.allows(&Granularity::TimeEdge(micros("2024-12-30T00:00:00Z"))));
    assert!(!week.allows(&Granularity::TimeEdge(micros("2025-01-01T00:00:00Z"))));
    let month = MinGranularity::Time(TimeUnit::Month);
    assert!(month.allows(&Granularity::TimeEdge(micros("2025-02-01T00:00:00Z"))));
    assert!(!month.allows(&Granularity::TimeEdge(micros("2025-02-02T00:00:00Z"))));
    assert!(!month.allows(&Granularity::Edge(0.0)));
    let bins = MinGranularity::NumericBin(0.5);
    assert!(bins.allows(&Granularity::Edge(-1.5)));
    assert!(!bins.allows(&Granularity::Edge(f64::INFINITY)));
    assert!(!bins.allows(&Granularity::Edge(0.25)));
    assert!(!MinGranularity::Never.allows(&Granularity::Null));
}
