//! The inner loops of aggregation over one chunk (owner: query engine): grouping-key bits
//! computed column by column, and feeding one aggregate's states from one column. The
//! common cases — `count(*)`, and count / sum / avg / min / max over a float column — run
//! as tight typed loops over per-group accumulators; everything else goes through
//! [`AggState::push_num`] / [`AggState::push_value`] row by row. Both give the same states:
//! every group's values are added in row order, so float sums are bit-for-bit the same.

use super::agg::AggState;
use super::plan::AggFunc;
use super::time::trunc;
use crate::chunk::{Column, NULL_CODE};
use crate::schema::Value;
use regio_policy::TimeUnit;

/// No group: the row is not selected.
pub(super) const NONE: u32 = u32::MAX;

/// One grouping key's bits per row — `[null, value bits, second value bits]` (a point has
/// two floats) — so that equal bits ⇔ equal key values (time buckets truncated).
/// Unselected rows are left zero.
pub(super) type KeyBits = [u64; 3];

/// [`KeyBits`] of every row of one grouping key's column.
pub(super) fn key_bits(column: &Column, unit: Option<TimeUnit>, sel: &[bool]) -> Vec<KeyBits> {
    fn fill<T: Copy>(v: &[T], sel: &[bool], f: impl Fn(T) -> KeyBits) -> Vec<KeyBits> {
        v.iter()
            .zip(sel)
            .map(|(&x, &s)| if s { f(x) } else { [0; 3] })
            .collect()
    }
    let opt = |x: Option<u64>| x.map_or([1, 0, 0], |b| [0, b, 0]);
    match column {
        Column::Str { codes, .. } => fill(codes, sel, |c| {
            if c == NULL_CODE {
                [1, 0, 0]
            } else {
                [0, u64::from(c), 0]
            }
        }),
        Column::Int(v) => fill(v, sel, |x| opt(x.map(|i| i as u64))),
        Column::Ts(v) => match unit {
            Some(u) => fill(v, sel, |x| opt(x.map(|t| trunc(t, u) as u64))),
            None => fill(v, sel, |x| opt(x.map(|t| t as u64))),
        },
        Column::Float(v) => fill(v, sel, |x| opt(x.map(f64::to_bits))),
        Column::Geo(v) => fill(v, sel, |x| {
            x.map_or([1, 0, 0], |(a, b)| [0, a.to_bits(), b.to_bits()])
        }),
    }
}

/// Adds rows to one aggregate's states. `group[row]` is the index in `states` of the row's
/// group ([`NONE`]: not selected); `counts[i]` is how many rows `states[i]` gets.
pub(super) fn feed(
    func: AggFunc,
    column: Option<&Column>,
    group: &[u32],
    counts: &[u64],
    states: &mut [AggState],
) {
    let fast = match column {
        None => count_star(counts, states),
        Some(Column::Float(v)) => float(func, v, group, states),
        Some(_) => false,
    };
    if !fast {
        row_by_row(func, column, group, states);
    }
}

fn count_star(counts: &[u64], states: &mut [AggState]) -> bool {
    if !states.iter().all(|s| matches!(s, AggState::Count(_))) {
        return false;
    }
    for (s, &n) in states.iter_mut().zip(counts) {
        if let AggState::Count(c) = s {
            *c += n;
        }
    }
    true
}

/// The selected non-null values of `v`, with their group.
fn values<'a>(v: &'a [Option<f64>], group: &'a [u32]) -> impl Iterator<Item = (usize, f64)> + 'a {
    group.iter().zip(v).filter_map(|(&g, x)| match (g, x) {
        (NONE, _) | (_, None) => None,
        (g, Some(x)) => Some((g as usize, *x)),
    })
}

/// count / sum / avg / min / max over a float column; `false` when the states are of
/// another kind (the caller then goes row by row).
fn float(func: AggFunc, v: &[Option<f64>], group: &[u32], states: &mut [AggState]) -> bool {
    match func {
        AggFunc::Count if states.iter().all(|s| matches!(s, AggState::Count(_))) => {
            let mut n = vec![0u64; states.len()];
            for (g, _) in values(v, group) {
                n[g] += 1;
            }
            for (s, k) in states.iter_mut().zip(n) {
                if let AggState::Count(c) = s {
                    *c += k;
                }
            }
            true
        }
        AggFunc::Sum | AggFunc::Avg => {
            let mut acc: Vec<(f64, u64)> = Vec::with_capacity(states.len());
            for s in states.iter() {
                match s {
                    AggState::SumFloat { sum, n } | AggState::Avg { sum, n } => {
                        acc.push((*sum, *n))
                    }
                    _ => return false,
                }
            }
            for (g, x) in values(v, group) {
                acc[g].0 += x;
                acc[g].1 += 1;
            }
            for (s, (total, k)) in states.iter_mut().zip(acc) {
                if let AggState::SumFloat { sum, n } | AggState::Avg { sum, n } = s {
                    (*sum, *n) = (total, k);
                }
            }
            true
        }
        AggFunc::Min | AggFunc::Max => {
            let min = func == AggFunc::Min;
            let mut acc: Vec<Option<f64>> = Vec::with_capacity(states.len());
            for s in states.iter() {
                match s {
                    AggState::Min(None) | AggState::Max(None) => acc.push(None),
                    AggState::Min(Some(Value::Float(x))) if min => acc.push(Some(*x)),
                    AggState::Max(Some(Value::Float(x))) if !min => acc.push(Some(*x)),
                    _ => return false,
                }
            }
            // As `cmp_values`: a NaN never replaces, and is never replaced once set.
            for (g, x) in values(v, group) {
                let better = match acc[g] {
                    None => true,
                    Some(cur) => (min && x < cur) || (!min && x > cur),
                };
                if better {
                    acc[g] = Some(x);
                }
            }
            for (s, m) in states.iter_mut().zip(acc) {
                if let AggState::Min(cur) | AggState::Max(cur) = s {
                    *cur = m.map(Value::Float);
                }
            }
            true
        }
        _ => false,
    }
}

/// The general case: one `push_num` / `push_value` per selected row.
fn row_by_row(func: AggFunc, column: Option<&Column>, group: &[u32], states: &mut [AggState]) {
    let selected = group
        .iter()
        .enumerate()
        .filter(|(_, &g)| g != NONE)
        .map(|(r, &g)| (r, g as usize));
    let Some(column) = column else {
        for (_, g) in selected {
            states[g].push_num(0.0, Some(0));
        }
        return;
    };
    match column {
        Column::Float(v) => {
            for (r, g) in selected {
                if let Some(x) = v[r] {
                    states[g].push_num(x, None);
                }
            }
        }
        Column::Int(v) => {
            for (r, g) in selected {
                if let Some(x) = v[r] {
                    states[g].push_num(x as f64, Some(x));
                }
            }
        }
        Column::Str { dict, codes } => {
            let count_only = matches!(func, AggFunc::Count);
            for (r, g) in selected {
                if let Some(s) = dict.get(codes[r] as usize) {
                    if count_only {
                        states[g].push_num(0.0, Some(0));
                    } else {
                        states[g].push_value(&Value::Str(s.clone()));
                    }
                }
            }
        }
        other => {
            for (r, g) in selected {
                let v = other.get(r);
                if !matches!(v, Value::Null) {
                    states[g].push_value(&v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed loops give exactly the states of one `push_num` per row, NaN included.
    #[test]
    fn typed_loops_equal_row_by_row() {
        let v: Vec<Option<f64>> = vec![
            Some(0.1),
            None,
            Some(0.2),
            Some(f64::NAN),
            Some(-3.5),
            Some(0.3),
            Some(7.25),
            None,
            Some(0.7),
        ];
        let group: Vec<u32> = vec![0, 0, 1, 1, NONE, 0, 2, 2, 0];
        let counts = [4, 2, 2];
        let col = Column::Float(v);
        for func in [
            AggFunc::Count,
            AggFunc::Sum,
            AggFunc::Avg,
            AggFunc::Min,
            AggFunc::Max,
        ] {
            let fresh = || vec![AggState::new(func, Some(crate::schema::FieldType::Float)); 3];
            let (mut fast, mut slow) = (fresh(), fresh());
            feed(func, Some(&col), &group, &counts, &mut fast);
            row_by_row(func, Some(&col), &group, &mut slow);
            // Debug formatting compares NaN states too.
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{func:?}");
        }
        let mut fast = vec![AggState::Count(5); 3];
        feed(AggFunc::CountStar, None, &group, &counts, &mut fast);
        let mut slow = vec![AggState::Count(5); 3];
        row_by_row(AggFunc::CountStar, None, &group, &mut slow);
        assert_eq!(fast, slow);
        assert_eq!(
            fast,
            vec![AggState::Count(9), AggState::Count(7), AggState::Count(7)]
        );
    }

    #[test]
    fn point_keys_are_exact() {
        // These two points collide under `a ^ rotl(b, 32)`; their key bits differ.
        let b = 1.5f64.to_bits();
        let col = Column::Geo(vec![
            Some((0.0, f64::from_bits(b))),
            Some((f64::from_bits(b.rotate_left(32)), 0.0)),
            None,
        ]);
        let bits = key_bits(&col, None, &[true, true, true]);
        assert_ne!(bits[0], bits[1]);
        assert_eq!(bits[2], [1, 0, 0]);
    }
}
