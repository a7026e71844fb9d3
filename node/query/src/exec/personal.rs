//! The personal rows of an execution: which subject each row belongs to, how many distinct
//! subjects each group counts (the minimum group size counts subjects, not rows), and under
//! differential privacy the bounded, clamped personal part of every group (DESIGN.md,
//! "Disclosure control": at most `L` rows per subject per group and `G` groups per subject,
//! the first ones in scan order; numeric values clamped to the schema's bounds).

use std::collections::{HashMap, HashSet};

use super::DpOptions;
use crate::agg::AggState;
use crate::chunk::Column;
use crate::kernels::NONE;
use crate::plan::Plan;

/// What an execution knows about the personal rows it counted.
pub(super) struct Personal {
    /// Column of the data subject.
    pub(super) column: usize,
    /// Differential privacy, when the personal part is released noisy.
    pub(super) dp: Option<DpOptions>,
    ids: HashMap<String, u32>,
    /// Per group: the distinct subjects with a counted row.
    pub(super) subjects: Vec<HashSet<u32>>,
    /// DP: per group, the personal part's states (bounded, clamped rows).
    pub(super) states: Vec<Vec<AggState>>,
    /// DP: per group, the personal rows kept after bounding.
    pub(super) rows: Vec<u64>,
    /// DP: per group, the public rows (no subject).
    pub(super) public_rows: Vec<u64>,
    /// DP: per subject, the groups it contributed to and how many rows to each.
    contributions: HashMap<u32, Vec<(u32, u32)>>,
    /// Exact mode: per (group, aggregate, bin) of a percentile histogram, the personal rows
    /// and their distinct subjects (a bin of fewer than k citizens does not leave the node).
    pub(super) bins: HashMap<(u32, u16, u16), (u64, HashSet<u32>)>,
    empty: Vec<AggState>,
}

impl Personal {
    pub(super) fn new(column: usize, dp: Option<DpOptions>, empty: Vec<AggState>) -> Personal {
        Personal {
            column,
            dp,
            ids: HashMap::new(),
            subjects: Vec::new(),
            states: Vec::new(),
            rows: Vec::new(),
            public_rows: Vec::new(),
            contributions: HashMap::new(),
            bins: HashMap::new(),
            empty,
        }
    }

    /// Whether no aggregate is a percentile histogram.
    pub(super) fn has_no_histograms(&self) -> bool {
        !self
            .empty
            .iter()
            .any(|s| matches!(s, AggState::Histogram(_)))
    }

    /// Makes room for `n` groups.
    pub(super) fn grow(&mut self, n: usize) {
        while self.subjects.len() < n {
            self.subjects.push(HashSet::new());
            self.rows.push(0);
            self.public_rows.push(0);
            if self.dp.is_some() {
                self.states.push(self.empty.clone());
            }
        }
    }

    /// The subject id of every selected row ([`NONE`]: no subject, a public row).
    pub(super) fn ids_of(&mut self, column: &Column, lid: &[u32]) -> Vec<u32> {
        let mut out = vec![NONE; lid.len()];
        let Column::Str { dict, codes } = column else {
            return out;
        };
        let mut by_code: Vec<u32> = vec![NONE; dict.len()];
        let mut known: Vec<bool> = vec![false; dict.len()];
        for (r, &l) in lid.iter().enumerate() {
            if l == NONE {
                continue;
            }
            let c = codes[r] as usize;
            // Codes past the dictionary are NULL (a public row).
            if c >= dict.len() {
                continue;
            }
            if !known[c] {
                known[c] = true;
                let next = self.ids.len() as u32;
                by_code[c] = *self.ids.entry(dict[c].clone()).or_insert(next);
            }
            out[r] = by_code[c];
        }
        out
    }

    /// Whether subject `s` may contribute one more row to group `g` (and counts it).
    pub(super) fn admit(&mut self, s: u32, g: u32) -> bool {
        let Some(dp) = self.dp else { return true };
        let list = self.contributions.entry(s).or_default();
        if let Some(e) = list.iter_mut().find(|e| e.0 == g) {
            if e.1 < dp.rows_per_group {
                e.1 += 1;
                return true;
            }
            return false;
        }
        if (list.len() as u32) < dp.groups_per_subject {
            list.push((g, 1));
            return true;
        }
        false
    }

    /// Exact mode: notes personal row `r` of subject `s` in the bins of group `g`'s
    /// percentile histograms.
    pub(super) fn note_bins(&mut self, plan: &Plan, columns: &[Column], r: usize, g: u32, s: u32) {
        for (a, spec) in plan.aggs.iter().enumerate() {
            let (Some(f), AggState::Histogram(h)) = (spec.field, &self.empty[a]) else {
                continue;
            };
            let x = match &columns[f] {
                Column::Float(v) => v[r],
                Column::Int(v) => v[r].map(|i| i as f64),
                _ => None,
            };
            if let Some(x) = x {
                let bin = h.bin(x) as u16;
                let e = self.bins.entry((g, a as u16, bin)).or_default();
                e.0 += 1;
                e.1.insert(s);
            }
        }
    }

    /// Adds personal row `r` to group `g`'s personal states, values clamped to the bounds.
    pub(super) fn feed(&mut self, plan: &Plan, columns: &[Column], r: usize, g: usize) {
        self.rows[g] += 1;
        let states = &mut self.states[g];
        for (a, spec) in plan.aggs.iter().enumerate() {
            let Some(f) = spec.field else {
                states[a].push_num(0.0, Some(0));
                continue;
            };
            let bounds = plan.schema.fields[f].bounds;
            match &columns[f] {
                Column::Float(v) => {
                    if let Some(x) = v[r] {
                        let x = match bounds {
                            Some([lo, hi]) if !x.is_nan() => x.clamp(lo, hi),
                            Some([lo, _]) => lo,
                            None => x,
                        };
                        states[a].push_num(x, None);
                    }
                }
                Column::Int(v) => {
                    if let Some(i) = v[r] {
                        let i = match bounds {
                            Some([lo, hi]) => i.clamp(lo.ceil() as i64, hi.floor() as i64),
                            None => i,
                        };
                        states[a].push_num(i as f64, Some(i));
                    }
                }
                other => {
                    if !matches!(other.get(r), crate::schema::Value::Null) {
                        states[a].push_num(0.0, Some(0));
                    }
                }
            }
        }
    }
}
