//! Execution at one node: scan chunks, filter by consent and `WHERE`, group and aggregate
//! into partial states (or collect masked rows for raw plans), and suppress small groups.
//! [`execute_counting`] also collects the subjects whose personal rows counted (for the
//! citizen's query history; owner of that part: audit).

mod personal;
mod release;

use std::collections::{HashMap, HashSet};

use regio_policy::QueryKind;

use self::personal::Personal;
use super::agg::{AggState, Histogram};
use super::filter::{apply, consent_mask};
use super::kernels;
use super::partial::{hkey, sort_rows, HKey, PartialBody, PartialGroup, PartialResult};
use super::plan::{AggFunc, OutSource, Plan};
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
    /// Minimum group size: groups with fewer counted rows are dropped at this node (and,
    /// where `subject` is set and a group has personal rows, with fewer distinct subjects).
    pub min_group_size: u64,
    /// The data subject's column (the policy's subject field) of a personal dataset: rows
    /// where it is null are public, the others personal. `None`: no row is personal.
    pub subject: Option<usize>,
    /// Release the personal part under differential privacy (needs `subject`).
    pub dp: Option<DpOptions>,
}

/// Differential privacy terms of one execution (from the charter's disclosure clause).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpOptions {
    /// Epsilon of the whole query at this node (split over its measures).
    pub epsilon: f64,
    /// Delta of the partition selection.
    pub delta: f64,
    /// `L`: rows per subject per group.
    pub rows_per_group: u32,
    /// `G`: groups per subject.
    pub groups_per_subject: u32,
}

impl<'a> ExecOptions<'a> {
    /// Exact execution with no consent filter and no personal rows.
    pub fn exact(min_group_size: u64) -> ExecOptions<'a> {
        ExecOptions {
            consent: None,
            masked: &[],
            min_group_size,
            subject: None,
            dp: None,
        }
    }
}

/// Why execution failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The store failed to produce a chunk.
    #[error("reading chunks: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The disclosure rules cannot be applied (an aggregate without a private release, or
    /// OpenDP refused the parameters).
    #[error("disclosure control: {0}")]
    Disclosure(String),
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
    if opts.dp.is_some() && opts.subject.is_none() {
        return Err(ExecError::Disclosure(
            "differential privacy needs the subject column".into(),
        ));
    }
    let mut state = Groups::new(plan, opts);
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
        let subject_column = opts.subject.or_else(|| schema.subject_index());
        if let (Some(consents), Some(si)) = (opts.consent, subject_column) {
            excluded += consent_mask(&chunk.columns[si], consents, &mut sel);
        }
        if let Some(p) = &plan.filter {
            apply(p, &chunk.columns, &mut sel);
        }
        if let (Some(out), Some(consents), Some(si)) =
            (subjects.as_deref_mut(), opts.consent, subject_column)
        {
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
            let (groups, suppressed) = state.finish(plan, opts.min_group_size)?;
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
    /// The personal rows, when the dataset has a subject column.
    personal: Option<Personal>,
}

impl Groups {
    fn new(plan: &Plan, opts: &ExecOptions<'_>) -> Self {
        let empty = plan
            .aggs
            .iter()
            .map(|a| {
                let field = a.field.map(|f| &plan.schema.fields[f]);
                match (a.func, field.and_then(|f| f.histogram()), opts.subject) {
                    // Percentiles of a personal dataset: counts over the declared bins.
                    (AggFunc::Percentile(_), Some((lo, hi, bins)), Some(_)) => {
                        AggState::Histogram(Histogram::new(lo, hi, bins))
                    }
                    _ => AggState::new(a.func, field.map(|f| f.ty)),
                }
            })
            .collect::<Vec<_>>();
        let personal = opts
            .subject
            .map(|column| Personal::new(column, opts.dp, empty.clone()));
        let mut g = Groups {
            index: HashMap::new(),
            groups: Vec::new(),
            empty,
            personal,
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
        if let Some(p) = &mut self.personal {
            p.grow(self.groups.len());
            let ids = p.ids_of(&columns[p.column], &lid);
            let histograms = !p.has_no_histograms();
            for (r, &s) in ids.iter().enumerate() {
                let l = lid[r];
                if l == kernels::NONE {
                    continue;
                }
                let g = local[l as usize];
                if s == kernels::NONE {
                    p.public_rows[g as usize] += 1;
                    continue;
                }
                if p.dp.is_some() {
                    // The personal part is kept apart (bounded, clamped, noised at the end).
                    lid[r] = kernels::NONE;
                    if p.admit(s, g) {
                        p.subjects[g as usize].insert(s);
                        p.feed(plan, columns, r, g as usize);
                    }
                } else {
                    p.subjects[g as usize].insert(s);
                    if histograms {
                        p.note_bins(plan, columns, r, g, s);
                    }
                }
            }
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

    fn finish(mut self, plan: &Plan, k: u64) -> Result<(Vec<PartialGroup>, u64), ExecError> {
        let n = self.groups.len();
        let (mut kept, suppressed) = match self.personal.take() {
            Some(mut p) => {
                p.grow(n);
                match p.dp {
                    Some(dp) => release::private(plan, self.groups, &p, dp, k)?,
                    None => release::exact(self.groups, Some(&p), k),
                }
            }
            None => release::exact(self.groups, None, k),
        };
        for g in &mut kept {
            g.states.iter_mut().for_each(AggState::seal);
        }
        Ok((kept, suppressed))
    }
}
