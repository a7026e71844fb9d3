//! The partial result one node ships for a plan, how partial results of several nodes
//! merge (exact for count, sum, min, max, avg, stddev; sketches for `percentile_cont` and
//! `count(DISTINCT)`), and ([`wire`]) the column-by-column JSON its groups travel in.

mod check;
pub(crate) mod wire;

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::agg::{cmp_values, AggState, MergeError};
use crate::plan::OrderKey;
use crate::schema::Value;

/// One group's partial aggregates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialGroup {
    /// Key values, one per grouping key (time buckets as `Ts`).
    pub key: Vec<Value>,
    /// Rows counted in the group (after consent and `WHERE`).
    pub rows: u64,
    /// One state per aggregate of the plan.
    pub states: Vec<AggState>,
}

/// Groups (aggregate plans) or rows (raw plans).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PartialBody {
    /// Partial aggregates per group (shipped column by column, see `wire`).
    Groups(#[serde(with = "wire::groups")] Vec<PartialGroup>),
    /// Output rows (masked, ordered and limited locally).
    Rows(Vec<Vec<Value>>),
}

/// A node's answer to a plan, before merging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialResult {
    /// Rows read from the chunks the time range did not skip.
    pub rows_scanned: u64,
    /// Rows left out because their subject does not consent.
    pub rows_excluded_by_consent: u64,
    /// Groups dropped for being smaller than the minimum group size.
    pub groups_suppressed: u64,
    /// The data.
    pub body: PartialBody,
}

/// A hashable group key value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum HKey {
    Null,
    Str(String),
    Int(i64),
    Bits(u64),
    Geo(u64, u64),
}

pub(crate) fn hkey(v: &Value) -> HKey {
    match v {
        Value::Null => HKey::Null,
        Value::Str(s) => HKey::Str(s.clone()),
        Value::Int(i) | Value::Ts(i) => HKey::Int(*i),
        Value::Float(f) => HKey::Bits(f.to_bits()),
        Value::Geo(a, b) => HKey::Geo(a.to_bits(), b.to_bits()),
    }
}

impl PartialResult {
    /// Merges another node's partial result of the same plan into this one. All or
    /// nothing: on error `self` is left as it was (a coordinator marks that member invalid
    /// and keeps the others' totals exact).
    pub fn merge(&mut self, other: PartialResult) -> Result<(), MergeError> {
        let mut next = self.clone();
        next.merge_in_place(other)?;
        *self = next;
        Ok(())
    }

    fn merge_in_place(&mut self, other: PartialResult) -> Result<(), MergeError> {
        self.rows_scanned += other.rows_scanned;
        self.rows_excluded_by_consent += other.rows_excluded_by_consent;
        self.groups_suppressed += other.groups_suppressed;
        match (&mut self.body, other.body) {
            (PartialBody::Rows(a), PartialBody::Rows(b)) => a.extend(b),
            (PartialBody::Groups(a), PartialBody::Groups(b)) => {
                let mut index: HashMap<Vec<_>, usize> = a
                    .iter()
                    .enumerate()
                    .map(|(i, g)| (g.key.iter().map(hkey).collect(), i))
                    .collect();
                for g in b {
                    let h: Vec<_> = g.key.iter().map(hkey).collect();
                    match index.get(&h) {
                        Some(&i) => {
                            let mine = &mut a[i];
                            if mine.states.len() != g.states.len() {
                                return Err(MergeError::Mismatch(
                                    "groups with different numbers of aggregates".into(),
                                ));
                            }
                            mine.rows += g.rows;
                            for (s, t) in mine.states.iter_mut().zip(&g.states) {
                                s.merge(t)?;
                            }
                        }
                        None => {
                            index.insert(h, a.len());
                            a.push(g);
                        }
                    }
                }
            }
            _ => return Err(MergeError::Mismatch("rows merged with groups".into())),
        }
        Ok(())
    }
}

/// Sorts rows by ORDER BY keys (over output positions).
pub(crate) fn sort_rows(rows: &mut [Vec<Value>], order: &[OrderKey]) {
    if order.is_empty() {
        return;
    }
    rows.sort_by(|a, b| {
        for k in order {
            let (x, y) = (&a[k.output], &b[k.output]);
            let o = match (matches!(x, Value::Null), matches!(y, Value::Null)) {
                (true, true) => Ordering::Equal,
                (true, false) => {
                    if k.nulls_first {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (false, true) => {
                    if k.nulls_first {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (false, false) => {
                    let o = cmp_values(x, y).unwrap_or(Ordering::Equal);
                    if k.desc {
                        o.reverse()
                    } else {
                        o
                    }
                }
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
}
