//! A member's partial result checked against the coordinator's own plan before it is merged
//! (issue 20: "a member's partial answer is checked against the coordinator's own plan
//! (width, types) before merging"): aggregate or raw as the plan is, one key value per
//! grouping key and typed like its column (a time bucket on its unit's boundary), one state
//! per aggregate of a variant that fits its function (noisy states and histograms as wide as
//! the function and the field's declared bins), raw rows as wide as the output and
//! typed like their columns, no more rows than the plan's `LIMIT`.

use regio_policy::QueryKind;

use super::{PartialBody, PartialGroup, PartialResult};
use crate::agg::{AggState, MergeError, Noisy, NoisyKind};
use crate::plan::{AggFunc, AggSpec, KeyExpr, OutSource, Plan};
use crate::schema::{FieldType, Schema, Value};
use crate::time::trunc;

fn mismatch<T>(msg: String) -> Result<T, MergeError> {
    Err(MergeError::Mismatch(msg))
}

/// Whether `v` is a value of a column of type `ty` (or NULL).
fn fits(v: &Value, ty: FieldType) -> bool {
    matches!(
        (v, ty),
        (Value::Null, _)
            | (Value::Str(_), FieldType::String)
            | (Value::Int(_), FieldType::Integer)
            | (Value::Float(_), FieldType::Float)
            | (Value::Ts(_), FieldType::Timestamp)
            | (Value::Geo(..), FieldType::GeoPoint)
    )
}

fn field_type(schema: &Schema, i: usize) -> Option<FieldType> {
    schema.fields.get(i).map(|f| f.ty)
}

/// Whether a noisy state's kind and width fit `spec` over a column of type `ty`.
fn noisy_fits(spec: &AggSpec, ty: Option<FieldType>, n: &Noisy, bins: usize) -> bool {
    let width = match (spec.func, n.kind) {
        (AggFunc::CountStar | AggFunc::Count, NoisyKind::Count) => Some(1),
        (AggFunc::Sum, NoisyKind::SumInt) if ty == Some(FieldType::Integer) => Some(1),
        (AggFunc::Sum, NoisyKind::SumFloat) if ty == Some(FieldType::Float) => Some(1),
        (AggFunc::Avg, NoisyKind::Avg) => Some(2),
        (AggFunc::Stddev, NoisyKind::Stddev) => Some(3),
        (AggFunc::Percentile(_), NoisyKind::Histogram) => Some(bins),
        _ => None,
    };
    width.is_some_and(|w| n.values.len() == w && n.scales.len() == w)
}

/// Whether `state` is a state of `spec` over a column of type `ty`.
fn state_fits(schema: &Schema, spec: &AggSpec, ty: Option<FieldType>, state: &AggState) -> bool {
    let declared = spec
        .field
        .and_then(|f| schema.fields.get(f))
        .and_then(|f| f.histogram());
    let value_fits = |v: &Option<Value>| match (v, ty) {
        (None, _) => true,
        (Some(v), Some(ty)) => fits(v, ty),
        (Some(_), None) => false,
    };
    match (spec.func, state) {
        (AggFunc::CountStar | AggFunc::Count, AggState::Count(_)) => true,
        (AggFunc::Sum, AggState::SumInt { .. }) => ty == Some(FieldType::Integer),
        (AggFunc::Sum, AggState::SumFloat { .. }) => ty == Some(FieldType::Float),
        (AggFunc::Avg, AggState::Avg { .. }) | (AggFunc::Stddev, AggState::Stddev { .. }) => true,
        (AggFunc::Min, AggState::Min(v)) | (AggFunc::Max, AggState::Max(v)) => value_fits(v),
        (AggFunc::Percentile(_), AggState::Percentile(_)) => true,
        (AggFunc::CountDistinct, AggState::Distinct(_)) => true,
        (AggFunc::Percentile(_), AggState::Histogram(h)) => {
            declared.is_some_and(|(lo, hi, bins)| {
                h.lo == lo && h.hi == hi && h.counts.len() == bins.max(1) as usize
            })
        }
        (_, AggState::Noisy(n)) => {
            // The executor releases no bins of a field that declares none (the decision
            // refuses such a percentile of personal data before it runs).
            noisy_fits(spec, ty, n, declared.map_or(0, |(_, _, b)| b as usize))
        }
        // A state of another function (a new state variant belongs above).
        _ => false,
    }
}

/// The state's variant, as it is tagged on the wire.
fn state_name(s: &AggState) -> String {
    match serde_json::to_value(s) {
        Ok(serde_json::Value::Object(m)) => m.keys().next().cloned().unwrap_or_default(),
        Ok(serde_json::Value::String(t)) => t,
        _ => "unknown".into(),
    }
}

fn key_fits(schema: &Schema, k: &KeyExpr, v: &Value) -> bool {
    match (k.trunc, v) {
        (_, Value::Null) => true,
        (Some(unit), Value::Ts(t)) => trunc(*t, unit) == *t,
        (Some(_), _) => false,
        (None, v) => field_type(schema, k.field).is_some_and(|ty| fits(v, ty)),
    }
}

fn check_group(plan: &Plan, i: usize, g: &PartialGroup) -> Result<(), MergeError> {
    if g.key.len() != plan.keys.len() {
        return mismatch(format!(
            "group {i} has {} key values, the plan groups by {}",
            g.key.len(),
            plan.keys.len()
        ));
    }
    if g.states.len() != plan.aggs.len() {
        return mismatch(format!(
            "group {i} has {} aggregate states, the plan computes {}",
            g.states.len(),
            plan.aggs.len()
        ));
    }
    for (j, (k, v)) in plan.keys.iter().zip(&g.key).enumerate() {
        if !key_fits(&plan.schema, k, v) {
            return mismatch(format!(
                "group {i}: key {j} ({v:?}) does not fit its column `{}`",
                plan.schema
                    .fields
                    .get(k.field)
                    .map_or("?", |f| f.name.as_str())
            ));
        }
    }
    for (j, (spec, s)) in plan.aggs.iter().zip(&g.states).enumerate() {
        let ty = spec.field.and_then(|f| field_type(&plan.schema, f));
        if !state_fits(&plan.schema, spec, ty, s) {
            return mismatch(format!(
                "group {i}: state {j} is a {} state, the plan computes {:?}",
                state_name(s),
                spec.func
            ));
        }
    }
    Ok(())
}

impl PartialResult {
    /// Checks that this partial result is one of `plan`: a coordinator calls it on each
    /// member's partial result before merging it, so that a member whose answer does not
    /// fit is reported invalid and the others' totals stay exact.
    pub fn check(&self, plan: &Plan) -> Result<(), MergeError> {
        match (&self.body, plan.kind) {
            (PartialBody::Groups(groups), QueryKind::Aggregate) => groups
                .iter()
                .enumerate()
                .try_for_each(|(i, g)| check_group(plan, i, g)),
            (PartialBody::Rows(rows), QueryKind::Raw) => {
                if let Some(limit) = plan.limit {
                    if rows.len() as u64 > limit {
                        return mismatch(format!(
                            "{} rows, the plan's LIMIT is {limit}",
                            rows.len()
                        ));
                    }
                }
                for (i, row) in rows.iter().enumerate() {
                    if row.len() != plan.outputs.len() {
                        return mismatch(format!(
                            "row {i} has {} values, the plan outputs {} columns",
                            row.len(),
                            plan.outputs.len()
                        ));
                    }
                    for (o, v) in plan.outputs.iter().zip(row) {
                        let ok = match o.source {
                            OutSource::Column(c) => {
                                field_type(&plan.schema, c).is_some_and(|ty| fits(v, ty))
                            }
                            _ => false,
                        };
                        if !ok {
                            return mismatch(format!(
                                "row {i}: column `{}` holds {v:?}, which does not fit it",
                                o.name
                            ));
                        }
                    }
                }
                Ok(())
            }
            (PartialBody::Groups(_), QueryKind::Raw) => mismatch("groups for a raw query".into()),
            (PartialBody::Rows(_), QueryKind::Aggregate) => {
                mismatch("rows for an aggregate query".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_plan::p;

    fn group(key: Vec<Value>, states: Vec<AggState>) -> PartialResult {
        PartialResult {
            rows_scanned: 1,
            rows_excluded_by_consent: 0,
            groups_suppressed: 0,
            body: PartialBody::Groups(vec![PartialGroup {
                key,
                rows: 1,
                states,
            }]),
        }
    }

    const SQL: &str = "SELECT municipality, date_trunc('day', observed_at) AS d, count(*), \
        avg(no2), sum(age), max(age), percentile_cont(0.5) WITHIN GROUP (ORDER BY no2) \
        FROM readings GROUP BY 1, 2";

    fn states() -> Vec<AggState> {
        vec![
            AggState::Count(3),
            AggState::Avg { sum: 1.0, n: 1 },
            AggState::SumInt { sum: 4, n: 1 },
            AggState::Max(Some(Value::Int(4))),
            AggState::new(AggFunc::Percentile(0.5), Some(FieldType::Float)),
        ]
    }

    fn key() -> Vec<Value> {
        vec![Value::Str("A".into()), Value::Ts(86_400_000_000)]
    }

    #[test]
    fn a_partial_of_the_plan_fits() {
        let (plan, _) = p(SQL);
        group(key(), states()).check(&plan).unwrap();
        group(vec![Value::Null, Value::Null], states())
            .check(&plan)
            .unwrap();
    }

    #[test]
    fn widths_variants_and_key_types_that_do_not_fit_are_mismatches() {
        let (plan, _) = p(SQL);
        let bad = |part: PartialResult, what: &str| {
            let e = part.check(&plan).unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
        };
        bad(group(key()[..1].to_vec(), states()), "1 key values");
        let mut more = states();
        more.push(AggState::Count(1));
        bad(group(key(), more), "6 aggregate states");
        let mut wrong = states();
        wrong[1] = AggState::Count(1);
        bad(group(key(), wrong), "state 1 is a count state");
        let mut float_sum = states();
        float_sum[2] = AggState::SumFloat { sum: 4.0, n: 1 };
        bad(group(key(), float_sum), "state 2");
        let mut max_str = states();
        max_str[3] = AggState::Max(Some(Value::Str("x".into())));
        bad(group(key(), max_str), "state 3");
        bad(
            group(vec![Value::Int(1), Value::Ts(0)], states()),
            "key 0 (Int(1))",
        );
        bad(
            group(vec![Value::Str("A".into()), Value::Ts(1)], states()),
            "key 1",
        );
        let rows = PartialResult {
            body: PartialBody::Rows(vec![]),
            ..group(key(), states())
        };
        bad(rows, "rows for an aggregate query");
    }

    fn noisy(kind: NoisyKind, width: usize) -> AggState {
        AggState::Noisy(Noisy {
            kind,
            values: vec![1.0; width],
            scales: vec![1.0; width],
            noises: 1,
            range: None,
        })
    }

    #[test]
    fn noisy_states_fit_their_function_and_width() {
        let (plan, _) = p("SELECT count(*), avg(no2), sum(age) FROM readings");
        let fit = |states: Vec<AggState>| group(vec![], states).check(&plan);
        fit(vec![
            noisy(NoisyKind::Count, 1),
            noisy(NoisyKind::Avg, 2),
            noisy(NoisyKind::SumInt, 1),
        ])
        .unwrap();
        for states in [
            vec![
                noisy(NoisyKind::Count, 2),
                noisy(NoisyKind::Avg, 2),
                noisy(NoisyKind::SumInt, 1),
            ],
            vec![
                noisy(NoisyKind::Count, 1),
                noisy(NoisyKind::Stddev, 3),
                noisy(NoisyKind::SumInt, 1),
            ],
            vec![
                noisy(NoisyKind::Count, 1),
                noisy(NoisyKind::Avg, 2),
                noisy(NoisyKind::SumFloat, 1),
            ],
        ] {
            let e = fit(states).unwrap_err().to_string();
            assert!(e.contains("noisy state"), "{e}");
        }
    }

    #[test]
    fn raw_rows_are_as_wide_typed_and_few_as_the_plan_says() {
        let (plan, _) = p("SELECT municipality, age FROM readings LIMIT 2");
        let rows = |r: Vec<Vec<Value>>| PartialResult {
            rows_scanned: 0,
            rows_excluded_by_consent: 0,
            groups_suppressed: 0,
            body: PartialBody::Rows(r),
        };
        let ok = vec![Value::Str("A".into()), Value::Int(3)];
        rows(vec![ok.clone(), vec![Value::Null, Value::Null]])
            .check(&plan)
            .unwrap();
        let e = rows(vec![ok.clone(); 3]).check(&plan).unwrap_err();
        assert!(e.to_string().contains("LIMIT is 2"), "{e}");
        let e = rows(vec![vec![Value::Str("A".into())]])
            .check(&plan)
            .unwrap_err();
        assert!(e.to_string().contains("1 values"), "{e}");
        let e = rows(vec![vec![Value::Str("A".into()), Value::Float(3.0)]])
            .check(&plan)
            .unwrap_err();
        assert!(e.to_string().contains("`age`"), "{e}");
        let e = group(vec![], vec![]).check(&plan).unwrap_err();
        assert!(e.to_string().contains("groups for a raw query"), "{e}");
    }
}
