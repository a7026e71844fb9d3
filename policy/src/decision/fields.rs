//! The rules that hold in every disclosure mode (DESIGN.md, "Disclosure control"): the
//! subject field and sensitive fields are never filtered, grouped, selected or aggregated
//! on in an aggregate query; protected attributes are judged over the whole WHERE as a
//! union of whole bins of the charter's grid; a personal dataset whose schema lacks the
//! policy's subject field is refused (no fail-open consent filter).

use super::{refuse, Reason, Refusal};
use crate::doc::bundle::{Classification, DatasetPolicy};
use crate::doc::charter::{Clauses, MinGranularity, Protected};
use crate::shape::{AggKind, AggUse, FieldUse, Granularity, QueryKind, QueryShape};

/// Checks `shape` against the rules that hold in every mode: consent field, then subject
/// and sensitive fields, then protected attributes.
pub(super) fn check(
    shape: &QueryShape,
    dataset: &DatasetPolicy,
    clauses: &Clauses,
) -> Result<(), Refusal> {
    consent_field(shape, dataset)?;
    if shape.kind == QueryKind::Aggregate {
        subject_and_sensitive(shape, dataset)?;
    }
    protected(shape, dataset, clauses)
}

/// A personal dataset is answered only when its consent filter can be applied: the policy
/// names a subject field and the dataset's schema names the same one.
fn consent_field(shape: &QueryShape, dataset: &DatasetPolicy) -> Result<(), Refusal> {
    if dataset.classification != Classification::Personal {
        return Ok(());
    }
    let Some(field) = &dataset.subject_field else {
        return refuse(
            Reason::SubjectMismatch,
            format!(
                "the policy classifies `{}` as personal but names no subjectField: no consent filter can be applied; publish a policy whose subjectField names the schema's subject field",
                shape.dataset
            ),
        );
    };
    match &shape.subject {
        Some(s) if s == field => Ok(()),
        Some(s) => refuse(
            Reason::SubjectMismatch,
            format!(
                "the policy's subjectField for `{}` is `{field}` but the dataset's schema names `{s}` as its subject: make them the same field",
                shape.dataset
            ),
        ),
        None => refuse(
            Reason::SubjectMismatch,
            format!(
                "the policy's subjectField for `{}` is `{field}` but the dataset's schema names no subject field: declare `\"subject\": \"{field}\"` in the schema",
                shape.dataset
            ),
        ),
    }
}

fn agg_name(a: &AggUse) -> &'static str {
    match a.func {
        AggKind::Count => "count",
        AggKind::CountDistinct => "count(DISTINCT)",
        AggKind::Sum => "sum",
        AggKind::Avg => "avg",
        AggKind::Min => "min",
        AggKind::Max => "max",
        AggKind::Stddev => "stddev",
        AggKind::Percentile => "percentile_cont",
    }
}

/// Every place a field appears in an aggregate query, with where.
fn appearances(shape: &QueryShape) -> Vec<(&str, String)> {
    let mut out: Vec<(&str, String)> = Vec::new();
    out.extend(
        shape
            .filters
            .iter()
            .map(|u| (u.field.as_str(), "WHERE".into())),
    );
    out.extend(
        shape
            .groups
            .iter()
            .map(|u| (u.field.as_str(), "GROUP BY".into())),
    );
    out.extend(shape.aggregates.iter().filter_map(|a| {
        a.field
            .as_deref()
            .map(|f| (f, format!("inside {}", agg_name(a))))
    }));
    out.extend(shape.fields.iter().map(|f| (f.as_str(), "SELECT".into())));
    out
}

/// The policy's subject field and sensitive fields appear nowhere in an aggregate query.
fn subject_and_sensitive(shape: &QueryShape, dataset: &DatasetPolicy) -> Result<(), Refusal> {
    let forbidden = |f: &str| {
        dataset.subject_field.as_deref() == Some(f)
            || dataset.sensitive_fields.iter().any(|s| s == f)
    };
    if let Some((field, place)) = appearances(shape).into_iter().find(|(f, _)| forbidden(f)) {
        let role = if dataset.subject_field.as_deref() == Some(field) {
            "the data subject field"
        } else {
            "a sensitive field"
        };
        return refuse(
            Reason::SubjectField,
            format!(
                "`{field}` is {role} of `{}` and appears {place}: an aggregate query never filters, groups, selects or aggregates on it",
                shape.dataset
            ),
        );
    }
    Ok(())
}

/// The charter's protected attribute that `field` is (by name or by the policy's category).
fn protection<'a>(
    field: &str,
    dataset: &DatasetPolicy,
    clauses: &'a Clauses,
) -> Option<&'a Protected> {
    let category = dataset.categories.get(field);
    clauses
        .protected_attributes
        .iter()
        .find(|p| p.attribute == field || Some(&p.attribute) == category)
}

fn describe(g: &Granularity) -> String {
    match g {
        Granularity::Exact => "at its exact values".into(),
        Granularity::Time(u) => format!("by {u:?} buckets").to_lowercase(),
        Granularity::NumericBin(w) => format!("in bins of {w}"),
        Granularity::Edge(e) => format!("with a cut at {e}"),
        Granularity::TimeEdge(t) => format!(
            "with a cut at {}",
            chrono::DateTime::<chrono::Utc>::from_timestamp_micros(*t)
                .map_or_else(|| t.to_string(), |d| d.to_rfc3339())
        ),
        Granularity::Null => "by IS NULL".into(),
    }
}

fn allowed(min: &MinGranularity) -> String {
    match min {
        MinGranularity::Never => "never allows it, in any position".into(),
        MinGranularity::Time(u) => {
            format!("allows only cuts on whole {u:?}s (UTC) and {u:?} buckets or coarser")
                .to_lowercase()
        }
        MinGranularity::NumericBin(w) => {
            format!("allows only cuts on multiples of {w} (bins [k·{w}, (k+1)·{w}))")
        }
    }
}

/// Protected attributes: every use in WHERE (each comparison's edges), GROUP BY and raw
/// SELECT on the charter's grid; never inside an aggregate; `never` nowhere at all.
fn protected(
    shape: &QueryShape,
    dataset: &DatasetPolicy,
    clauses: &Clauses,
) -> Result<(), Refusal> {
    let raw_uses: Vec<FieldUse> = match shape.kind {
        QueryKind::Raw => shape
            .fields
            .iter()
            .map(|f| FieldUse::new(f.clone(), Granularity::Exact))
            .collect(),
        QueryKind::Aggregate => Vec::new(),
    };
    for (how, uses) in [
        ("filtered", &shape.filters),
        ("grouped", &shape.groups),
        ("selected raw", &raw_uses),
    ] {
        for u in uses {
            if let Some(p) = protection(&u.field, dataset, clauses) {
                if !p.min_granularity.allows(&u.granularity) {
                    return refuse(
                        Reason::ProtectedAttribute,
                        format!(
                            "`{}` (protected: {}) is {how} {}; the charter {}",
                            u.field,
                            p.attribute,
                            describe(&u.granularity),
                            allowed(&p.min_granularity)
                        ),
                    );
                }
            }
        }
    }
    for a in &shape.aggregates {
        let Some(field) = a.field.as_deref() else {
            continue;
        };
        if let Some(p) = protection(field, dataset, clauses) {
            return refuse(
                Reason::ProtectedAttribute,
                format!(
                    "`{field}` (protected: {}) is used inside {}: an aggregate reads its exact values, which the charter does not release",
                    p.attribute,
                    agg_name(a)
                ),
            );
        }
    }
    Ok(())
}
