//! Execution at one node: scan chunks, filter by consent and `WHERE`, group and aggregate
//! into partial states (or collect masked rows for raw plans), and suppress small groups.
//! [`execute_counting`] also collects the subjects whose personal rows counted (for the
//! citizen's query history; owner of that part: audit).

use std::collections::{HashMap, HashSet};

use regio_policy::QueryKind;

use super::agg::AggState;
use super::filter::{apply, consent_mask};
use super::kernels;
use super::partial::{hkey, sort_rows, HKey, PartialBody, PartialGroup, PartialResult};
use super::plan::{OutSource, Plan};
use super::time::trunc;
use crate::chunk::{Chunk, Column};
use crate::schema::{FieldType, Value};

/// What the policy decided for this execution.
#[derive(Clone, Copy)]
pub struct ExecOptions<'a> {
    /// Consent filter: `true` when the subject currently consents to the query's purpose.
    /// `None`: no consent filter (the dataset holds no personal rows).
    pub consent: Option<&'a dyn Fn(&str) -> bool>,
    /// Fields returned as NULL in raw results.
    pub masked: &'a [String],
    /// Minimum group size: groups with fewer counted rows are dropped at this node.
    pub min_group_size: u64,
}

/// Why execution failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The store failed to produce a chunk.
    #[error("reading chunks: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A chunk does not fit the dataset's schema.
    #[error("chunk does not fit the schema of `{dataset}`: {msg}")]
    Shape {
        /// The dataset.
        dataset: String,
        /// What is wrong.
        msg: String,
    },
}

fn type_fits(c: &Column, ty: FieldType) -> bool {
    matches!(
        (c, ty),
        (Column::Str { .. }, FieldType::String)
            | (Column::Int(_), FieldType::Integer)
            | (Column::Float(_), FieldType::Float)
            | (Column::Ts(_), FieldType::Timestamp)
            | (Column::Geo(_), FieldType::GeoPoint)
    )
}

/// Runs `plan` over `chunks` under `opts`.
/// Chunks may be owned or borrowed (`Result<Chunk, E>` or `Result<&Chunk, E>`).
pub fn execute<C, E>(
    plan: &Plan,
    chunks: impl IntoIterator<Item = Result<C, E>>,
    opts: &ExecOptions<'_>,
) -> Result<PartialResult, ExecError>
where
    C: std::borrow::Borrow<Chunk>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    run(plan, chunks, opts, None)
}

/// [`execute`], adding to `subjects` every subject with at least one personal row that
/// passed the consent filter and `WHERE` (only when `opts.consent` is set: a dataset without
/// a consent filter names no subjects).
pub fn execute_counting<C, E>(
    plan: &Plan,
    chunks: impl IntoIterator<Item = Result<C, E>>,
    opts: &ExecOptions<'_>,
    subjects: &mut HashSet<String>,
) -> Result<PartialResult, ExecError>
where
    C: std::borrow::Borrow<Chunk>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    run(plan, chunks, opts, Some(subjects))
}

/// Adds the subjects of the selected rows. Only dictionary entries that consent and are
/// not collected yet are looked for, and the pass over the rows stops once all of them are
/// found: after the first chunks, most chunks cost one lookup per dictionary entry.
fn collect_subjects(
    column: &Column,
    sel: &[bool],
    consents: &dyn Fn(&str) -> bool,
    out: &mut HashSet<String>,
) {
    let Column::Str { dict, codes } = column else {
        return;
    };
    let mut wanted: Vec<bool> = dict
        .iter()
        .map(|s| !out.contains(s.as_str()) && consents(s))
        .collect();
    let mut left = wanted.iter().filter(|&&w| w).count();
    if left == 0 {
        return;
    }
    for (&s, &c) in sel.iter().zip(codes) {
        if !s {
            continue;
        }
        let i = c as usize;
        if wanted.get(i).copied().unwrap_or(false) {
            wanted[i] = false;
            if let Some(name) = dict.get(i) {
                out.insert(name.clone());
            }
            left -= 1;
            if left == 0 {
                break;
            }
        }
    }
}

fn run<C, E>(
    plan: &Plan,
    chunks: impl IntoIterator<Item = Result<C, E>>,
    opts: &ExecOptions<'_>,
    mut subjects: Option<&mut HashSet<String>>,
) -> Result<PartialResult, ExecError>
where
    C: std::borrow::Borrow<Chunk>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let schema = &plan.schema;
    let (from, to) = plan.time_range;
    let mut state = Groups::new(plan);
    let mut out_rows: Vec<Vec<Value>> = Vec::new();
    let (mut scanned, mut excluded) = (0u64, 0u64);
    let masked: Vec<bool> = schema
        .fields
        .iter()
        .map(|f| opts.masked.contains(&f.name))
        .collect();
    let early_limit = if plan.order.is_empty() {
        plan.limit
    } else {
        None
    };
    for chunk in chunks {
        let chunk = chunk.map_err(|e| ExecError::Store(e.into()))?;
        let chunk: &Chunk = std::borrow::Borrow::borrow(&chunk);
        if !chunk.overlaps(from, to) {
            continue;
        }
        let rows = chunk.rows as usize;
        if chunk.columns.len() != schema.fields.len()
            || chunk
                .columns
                .iter()
                .zip(&schema.fields)
                .any(|(c, f)| !type_fits(c, f.ty))
        {
            return Err(ExecError::Shape {
                dataset: schema.dataset.clone(),
                msg: "column count or types differ".into(),
            });
        }
        scanned += rows as u64;
        let mut sel = vec![true; rows];
        if let (Some(consents), Some(si)) = (opts.consent, schema.subject_index()) {
            excluded += consent_mask(&chunk.columns[si], consents, &mut sel);
        }
        if let Some(p) = &plan.filter {
            apply(p, &chunk.columns, &mut sel);
        }
        if let (Some(out), Some(consents), Some(si)) = (
            subjects.as_deref_mut(),
            opts.consent,
            schema.subject_index(),
        ) {
            collect_subjects(&chunk.columns[si], &sel, consents, out);
        }
        match plan.kind {
            QueryKind::Aggregate => state.add_chunk(plan, &chunk.columns, &sel),
            QueryKind::Raw => {
                for r in (0..rows).filter(|&r| sel[r]) {
                    if early_limit.is_some_and(|l| out_rows.len() as u64 >= l) {
                        break;
                    }
                    out_rows.push(
                        plan.outputs
                            .iter()
                            .map(|o| match o.source {
                                OutSource::Column(i) if !masked[i] => chunk.columns[i].get(r),
                                _ => Value::Null,
                            })
                            .collect(),
                    );
                }
                if early_limit.is_some_and(|l| out_rows.len() as u64 >= l) {
                    break;
                }
            }
        }
    }
    let (body, suppressed) = match plan.kind {
        QueryKind::Aggregate => {
            let (groups, suppressed) = state.finish(opts.min_group_size);
            (PartialBody::Groups(groups), suppressed)
        }
        QueryKind::Raw => {
            sort_rows(&mut out_rows, &plan.order);
            if let Some(l) = plan.limit {
                out_rows.truncate(usize::try_from(l).unwrap_or(usize::MAX));
            }
            (PartialBody::Rows(out_rows), 0)
        }
    };
    Ok(PartialResult {
        rows_scanned: scanned,
        rows_excluded_by_consent: excluded,
        groups_suppressed: suppressed,
        body,
    })
}

/// Groups being aggregated at this node.
struct Groups {
    index: HashMap<Vec<HKey>, usize>,
    groups: Vec<PartialGroup>,
    empty: Vec<AggState>,
}

impl Groups {
    fn new(plan: &Plan) -> Self {
        let empty = plan
            .aggs
            .iter()
            .map(|a| AggState::new(a.func, a.field.map(|f| plan.schema.fields[f].ty)))
            .collect::<Vec<_>>();
        let mut g = Groups {
            index: HashMap::new(),
            groups: Vec::new(),
            empty,
        };
        if plan.keys.is_empty() {
            // A query without GROUP BY has one group, even over no rows.
            g.index.insert(Vec::new(), 0);
            g.groups.push(PartialGroup {
                key: Vec::new(),
                rows: 0,
                states: g.empty.clone(),
            });
        }
        g
    }

    /// Assigns each selected row its group, then feeds the aggregates column by column.
    /// Grouping works on key bits computed column by column ([`kernels::key_bits`]); a row
    /// whose key equals the previous selected row's (rows are mostly in time order) skips
    /// the hash lookup.
    fn add_chunk(&mut self, plan: &Plan, columns: &[Column], sel: &[bool]) {
        let rows = sel.len();
        let bits: Vec<Vec<kernels::KeyBits>> = plan
            .keys
            .iter()
            .map(|k| kernels::key_bits(&columns[k.field], k.trunc, sel))
            .collect();
        // This chunk's groups, in order of first appearance: local id -> group index.
        let mut local: Vec<u32> = Vec::new();
        let mut index: HashMap<Vec<kernels::KeyBits>, u32> = HashMap::new();
        let mut lid = vec![kernels::NONE; rows];
        let mut last: Option<(usize, u32)> = None;
        for r in (0..rows).filter(|&r| sel[r]) {
            let l = match last {
                Some((p, l)) if bits.iter().all(|b| b[p] == b[r]) => l,
                _ => {
                    let key: Vec<kernels::KeyBits> = bits.iter().map(|b| b[r]).collect();
                    match index.get(&key) {
                        Some(&l) => l,
                        None => {
                            let values: Vec<Value> = plan
                                .keys
                                .iter()
                                .map(|k| match (columns[k.field].get(r), k.trunc) {
                                    (Value::Ts(t), Some(u)) => Value::Ts(trunc(t, u)),
                                    (v, _) => v,
                                })
                                .collect();
                            let l = local.len() as u32;
                            local.push(self.group_of(values));
                            index.insert(key, l);
                            l
                        }
                    }
                }
            };
            last = Some((r, l));
            lid[r] = l;
        }
        let mut counts = vec![0u64; local.len()];
        for &l in lid.iter().filter(|&&l| l != kernels::NONE) {
            counts[l as usize] += 1;
        }
        for (&g, &n) in local.iter().zip(&counts) {
            self.groups[g as usize].rows += n;
        }
        for (a, spec) in plan.aggs.iter().enumerate() {
            // This aggregate's state of each local group, taken out while it is fed.
            let mut states: Vec<AggState> = local
                .iter()
                .map(|&g| {
                    std::mem::replace(&mut self.groups[g as usize].states[a], AggState::Count(0))
                })
                .collect();
            kernels::feed(
                spec.func,
                spec.field.map(|f| &columns[f]),
                &lid,
                &counts,
                &mut states,
            );
            for (&g, st) in local.iter().zip(states) {
                self.groups[g as usize].states[a] = st;
            }
        }
    }

    fn group_of(&mut self, key: Vec<Value>) -> u32 {
        let h: Vec<HKey> = key.iter().map(hkey).collect();
        let next = self.groups.len();
        let g = *self.index.entry(h).or_insert(next);
        if g == next {
            self.groups.push(PartialGroup {
                key,
                rows: 0,
                states: self.empty.clone(),
            });
        }
        g as u32
    }

    fn finish(self, k: u64) -> (Vec<PartialGroup>, u64) {
        let total = self.groups.len();
        let mut kept: Vec<PartialGroup> = self.groups.into_iter().filter(|g| g.rows >= k).collect();
        for g in &mut kept {
            g.states.iter_mut().for_each(AggState::seal);
        }
        let suppressed = (total - kept.len()) as u64;
        (kept, suppressed)
    }
}
