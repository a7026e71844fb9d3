//! The charter's disclosure clause at decision time (DESIGN.md, "Disclosure control"): which
//! mode a personal dataset is answered in, which aggregates that mode can release, and the
//! privacy budget. The rules that hold in every mode (subject and sensitive fields, protected
//! attributes, the consent field) are in `fields`.

use serde::{Deserialize, Serialize};

use super::{refuse, Reason, Refusal};
use crate::doc::bundle::{Classification, DatasetPolicy};
use crate::doc::charter::{Budget, Clauses};
use crate::shape::{AggKind, QueryKind, QueryShape};

/// What a node must do to answer a personal dataset under differential privacy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DpTerms {
    /// Epsilon this query costs at this node (split over its measures).
    pub epsilon: f64,
    /// Delta of the thresholded partition selection.
    pub delta: f64,
    /// `L`: rows per subject per group.
    pub rows_per_group: u32,
    /// `G`: groups per subject.
    pub groups_per_subject: u32,
    /// The budget the query is charged to.
    pub budget: Budget,
}

/// Slack when comparing sums of epsilons (they are sums of decimal fractions).
const EPSILON_SLACK: f64 = 1e-9;

/// Whether a query that costs `cost` fits the budget with `spent` already spent.
pub fn fits(spent: f64, cost: f64, budget: &Budget) -> bool {
    spent + cost <= budget.epsilon + EPSILON_SLACK
}

/// Decides the disclosure terms of an allowed query over `dataset`: `Ok(None)` for exact
/// answers, `Ok(Some(terms))` under differential privacy, or the refusal.
pub(super) fn check(
    shape: &QueryShape,
    dataset: &DatasetPolicy,
    clauses: &Clauses,
    spent: f64,
) -> Result<Option<DpTerms>, Refusal> {
    if dataset.classification != Classification::Personal {
        return Ok(None);
    }
    let d = &clauses.disclosure;
    for a in &shape.aggregates {
        let field = a.field.as_deref().unwrap_or("*");
        if a.func == AggKind::Percentile && !a.bounded {
            return refuse(
                Reason::UnboundedField,
                format!("percentile_cont of `{field}`: personal values are released only as a histogram over the bins the dataset schema declares, and `{field}` declares no bounds"),
            );
        }
        if a.func == AggKind::CountDistinct && !(a.categorical && d.exact()) {
            return refuse(
                Reason::NotPrivate,
                if d.exact() {
                    format!("count(DISTINCT {field}): only a column whose categories the dataset schema declares may be counted distinctly in a personal dataset")
                } else {
                    format!("count(DISTINCT {field}) has no differentially private release here; group by the column and count instead")
                },
            );
        }
    }
    if d.exact() {
        return Ok(None);
    }
    if shape.kind == QueryKind::Raw {
        return refuse(
            Reason::NotPrivate,
            format!(
                "raw rows of the personal dataset `{}` are not released under differential privacy",
                shape.dataset
            ),
        );
    }
    for a in &shape.aggregates {
        let field = a.field.as_deref().unwrap_or("*");
        match a.func {
            AggKind::Min | AggKind::Max => {
                return refuse(
                    Reason::ExtremeValue,
                    format!("{}({field}) of personal values would be one person's value; ask for percentile_cont(0.05) or (0.95) instead", if a.func == AggKind::Min { "min" } else { "max" }),
                )
            }
            AggKind::Sum | AggKind::Avg | AggKind::Stddev if !a.bounded => {
                return refuse(
                    Reason::UnboundedField,
                    format!("`{field}` declares no bounds in the schema of `{}`: without them no noise can be calibrated", shape.dataset),
                )
            }
            _ => {}
        }
    }
    let terms = DpTerms {
        epsilon: d.epsilon_per_query,
        delta: d.delta,
        rows_per_group: d.rows_per_subject_per_group,
        groups_per_subject: d.groups_per_subject,
        budget: d.budget,
    };
    if !fits(spent, terms.epsilon, &terms.budget) {
        return refuse(
            Reason::BudgetExhausted,
            format!(
                "the application has spent {spent} of its {} epsilon for this region at this node in the current {} s window; this query costs {}",
                terms.budget.epsilon, terms.budget.window_seconds, terms.epsilon
            ),
        );
    }
    Ok(Some(terms))
}
