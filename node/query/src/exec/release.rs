//! What leaves a node from a personal dataset (DESIGN.md, "Disclosure control").
//!
//! - **Exact** (non-personal data, or a charter in explicit exact mode): a group is released
//!   only with at least `k` rows and, where any of its rows is personal, at least `k`
//!   distinct subjects; otherwise the whole group is suppressed.
//! - **Differential privacy**: a group is released when its key is public (it has public
//!   rows, or the query has no GROUP BY) or when a thresholded noisy count of its distinct
//!   subjects passes (OpenDP partition selection, threshold at least `k`: the minimum group
//!   size in distinct citizens, applied to a noisy count so that it stays private). Each released
//!   value is the exact public part plus the personal part with Laplace noise calibrated to
//!   the bounded contribution `L·G` (times the field's largest absolute bound for sums); the
//!   query's epsilon is split evenly over its measures and the selection. Row counts of
//!   groups are withheld (0).

use std::collections::HashMap;

use super::personal::Personal;
use super::{DpOptions, ExecError};
use crate::agg::{AggState, Noisy, NoisyKind};
use crate::dp;
use crate::partial::PartialGroup;
use crate::plan::{AggFunc, Plan};
use crate::schema::{Field, FieldType};

/// The groups released under the exact rules, and how many were suppressed. A percentile
/// histogram's bin keeps the rows of its citizens at the node unless at least `k` of them
/// fall in it.
pub(super) fn exact(
    groups: Vec<PartialGroup>,
    personal: Option<&Personal>,
    k: u64,
) -> (Vec<PartialGroup>, u64) {
    let total = groups.len();
    let mut groups = groups;
    // Histogram bins of fewer than k citizens keep their personal rows at the node.
    if let Some(p) = personal {
        for (&(g, a, bin), (rows, subjects)) in &p.bins {
            if (subjects.len() as u64) < k {
                if let Some(AggState::Histogram(h)) = groups
                    .get_mut(g as usize)
                    .and_then(|grp| grp.states.get_mut(a as usize))
                {
                    if let Some(c) = h.counts.get_mut(bin as usize) {
                        *c = c.saturating_sub(*rows);
                    }
                }
            }
        }
    }
    let kept: Vec<PartialGroup> = groups
        .into_iter()
        .enumerate()
        .filter(|(g, grp)| {
            let subjects = personal
                .and_then(|p| p.subjects.get(*g))
                .map_or(0, |s| s.len() as u64);
            grp.rows >= k && (subjects == 0 || subjects >= k)
        })
        .map(|(_, grp)| grp)
        .collect();
    let suppressed = (total - kept.len()) as u64;
    (kept, suppressed)
}

/// The noisy measure an aggregate is released as (min, max and count(DISTINCT) have none).
fn kind_of(func: AggFunc, field: Option<&Field>) -> Option<NoisyKind> {
    Some(match func {
        AggFunc::CountStar | AggFunc::Count => NoisyKind::Count,
        AggFunc::Sum if field.is_some_and(|f| f.ty == FieldType::Integer) => NoisyKind::SumInt,
        AggFunc::Sum => NoisyKind::SumFloat,
        AggFunc::Avg => NoisyKind::Avg,
        AggFunc::Stddev => NoisyKind::Stddev,
        AggFunc::Percentile(_) => NoisyKind::Histogram,
        AggFunc::Min | AggFunc::Max | AggFunc::CountDistinct => return None,
    })
}

/// Fails unless OpenDP's privacy map says a measurement spent at most `planned`.
fn within(spent: f64, planned: f64) -> Result<(), ExecError> {
    if spent <= planned * (1.0 + 1e-9) {
        Ok(())
    } else {
        Err(ExecError::Disclosure(format!(
            "a measurement would spend epsilon {spent}, more than its share {planned}"
        )))
    }
}

/// The groups released under differential privacy, and how many were not.
pub(super) fn private(
    plan: &Plan,
    groups: Vec<PartialGroup>,
    personal: &Personal,
    dp_opts: DpOptions,
    k: u64,
) -> Result<(Vec<PartialGroup>, u64), ExecError> {
    let fail = |e: dp::NoiseError| ExecError::Disclosure(e.to_string());
    let kinds = plan
        .aggs
        .iter()
        .map(|a| kind_of(a.func, a.field.map(|f| &plan.schema.fields[f])))
        .collect::<Option<Vec<NoisyKind>>>()
        .ok_or_else(|| {
            ExecError::Disclosure(
                "min, max and count(DISTINCT) of personal values have no private release".into(),
            )
        })?;
    let total = groups.len();
    // k distinct citizens is enforced by the selection's threshold (never below k), not by
    // an exact count: a deterministic threshold on an exact count is not private.
    let public = |g: usize| plan.keys.is_empty() || personal.public_rows[g] > 0;
    let candidates: HashMap<u32, i64> = (0..total)
        .filter(|&g| !public(g))
        .map(|g| (g as u32, personal.subjects[g].len() as i64))
        .collect();
    let selection = !plan.keys.is_empty() && !candidates.is_empty();
    let parts: u32 = kinds.iter().map(|k| k.measures()).sum::<u32>() + u32::from(selection);
    let eps = dp_opts.epsilon / f64::from(parts.max(1));
    let mut released: Vec<usize> = (0..total).filter(|&g| public(g)).collect();
    if selection {
        let min = i64::try_from(k).unwrap_or(i64::MAX);
        let (kept, (spent, delta)) = dp::select_partitions(
            &candidates,
            dp_opts.groups_per_subject,
            eps,
            dp_opts.delta,
            min,
        )
        .map_err(fail)?;
        within(spent, eps)?;
        within(delta, dp_opts.delta)?;
        released.extend(kept.into_iter().map(|g| g as usize));
        released.sort_unstable();
    }
    let lg = f64::from(dp_opts.rows_per_group) * f64::from(dp_opts.groups_per_subject);
    let lg_i = i64::from(dp_opts.rows_per_group) * i64::from(dp_opts.groups_per_subject);
    let mut out: Vec<PartialGroup> = released
        .iter()
        .map(|&g| PartialGroup {
            key: groups[g].key.clone(),
            rows: 0,
            states: Vec::with_capacity(plan.aggs.len()),
        })
        .collect();
    for (a, (spec, &kind)) in plan.aggs.iter().zip(&kinds).enumerate() {
        let field = spec.field.map(|f| &plan.schema.fields[f]);
        let bound = field
            .and_then(|f| f.bounds)
            .map_or(0.0, |[lo, hi]| lo.abs().max(hi.abs()));
        // The personal values of every released group, measure by measure.
        let personal_values: Vec<Vec<f64>> = released
            .iter()
            .map(|&g| personal.states[g][a].exact_values(kind).unwrap_or_default())
            .collect();
        let width = kind.width(
            field
                .and_then(|f| f.histogram())
                .map_or(0, |h| h.2 as usize),
        );
        if personal_values.iter().any(|v| v.len() != width) {
            return Err(ExecError::Disclosure(
                "personal states of different widths".into(),
            ));
        }
        // Sensitivity of each value position (counts: L·G; sums: L·G·bound; squares: L·G·bound²).
        let sens: Vec<(bool, f64)> = match kind {
            NoisyKind::Count => vec![(true, lg)],
            NoisyKind::SumInt | NoisyKind::SumFloat => vec![(false, lg * bound)],
            NoisyKind::Avg => vec![(false, lg * bound), (true, lg)],
            NoisyKind::Stddev => vec![(true, lg), (false, lg * bound), (false, lg * bound * bound)],
            NoisyKind::Histogram => vec![(true, lg); width],
        };
        let mut noisy: Vec<Vec<f64>> = vec![vec![0.0; width]; released.len()];
        let mut scales = vec![0.0; width];
        if kind == NoisyKind::Histogram {
            // One measurement over every bin of every group: a row moves one bin count.
            let flat: Vec<i64> = personal_values
                .iter()
                .flatten()
                .map(|&x| x as i64)
                .collect();
            let scale = dp::scale(lg, eps);
            let (out_flat, spent) = dp::noisy_counts(&flat, lg_i, scale).map_err(fail)?;
            within(spent, eps)?;
            for (i, x) in out_flat.into_iter().enumerate() {
                noisy[i / width.max(1)][i % width.max(1)] = x as f64;
            }
            scales.iter_mut().for_each(|s| *s = scale);
        } else {
            for (pos, &(integer, s)) in sens.iter().enumerate() {
                let column: Vec<f64> = personal_values.iter().map(|v| v[pos]).collect();
                // A sensitivity of 0 (bounds [0, 0]) still gets the smallest noise OpenDP takes.
                let scale = dp::scale(s.max(1e-9), eps);
                let (drawn, spent): (Vec<f64>, f64) = if integer {
                    let ints: Vec<i64> = column.iter().map(|&x| x as i64).collect();
                    let (out, spent) = dp::noisy_counts(&ints, lg_i, scale).map_err(fail)?;
                    (out.into_iter().map(|x| x as f64).collect(), spent)
                } else {
                    dp::noisy_sums(&column, s.max(1e-9), scale).map_err(fail)?
                };
                within(spent, eps)?;
                for (i, x) in drawn.into_iter().enumerate() {
                    noisy[i][pos] = x;
                }
                scales[pos] = scale;
            }
        }
        for (i, &g) in released.iter().enumerate() {
            let mut state = Noisy {
                kind,
                values: noisy[i].clone(),
                scales: scales.clone(),
                noises: 1,
                range: field
                    .and_then(|f| f.bounds)
                    .filter(|_| kind == NoisyKind::Histogram),
            };
            let public_part = groups[g].states[a]
                .exact_values(kind)
                .unwrap_or_else(|| vec![0.0; width]);
            state
                .add_exact(&public_part)
                .map_err(ExecError::Disclosure)?;
            out[i].states.push(AggState::Noisy(state));
        }
    }
    let suppressed = (total - out.len()) as u64;
    Ok((out, suppressed))
}
