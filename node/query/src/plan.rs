//! The resolved plan of a query: what to scan, filter, group, aggregate and output. Built by
//! [`plan()`](super::plan) from SQL; columns are schema indices, literals are typed values.

use regio_policy::{QueryKind, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::schema::{Schema, Value};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>` / `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A `WHERE` condition over one row. Comparisons with NULL are false (SQL's unknown rows
/// are not selected); `NOT` of an unknown comparison is treated as false too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Predicate {
    /// All of them.
    And(Vec<Predicate>),
    /// Any of them.
    Or(Vec<Predicate>),
    /// Not this one.
    Not(Box<Predicate>),
    /// `column op literal`.
    Cmp {
        /// Schema index of the column.
        field: usize,
        /// Operator.
        op: CmpOp,
        /// Literal, typed like the column.
        value: Value,
    },
    /// `column [NOT] IN (literals)`.
    In {
        /// Schema index of the column.
        field: usize,
        /// Literals, typed like the column.
        list: Vec<Value>,
    },
    /// `column IS NULL`.
    IsNull {
        /// Schema index of the column.
        field: usize,
    },
}

/// A grouping key: a column, or a time bucket of a timestamp column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyExpr {
    /// Schema index of the column.
    pub field: usize,
    /// `date_trunc` unit, for timestamp columns.
    pub trunc: Option<TimeUnit>,
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AggFunc {
    /// `count(*)`
    CountStar,
    /// `count(col)`: non-null values.
    Count,
    /// `count(DISTINCT col)`: HyperLogLog estimate (exact for small sets).
    CountDistinct,
    /// `sum(col)`
    Sum,
    /// `avg(col)`
    Avg,
    /// `min(col)`
    Min,
    /// `max(col)`
    Max,
    /// `stddev(col)` / `stddev_samp(col)`: sample standard deviation.
    Stddev,
    /// `percentile_cont(p) WITHIN GROUP (ORDER BY col)`: t-digest estimate.
    Percentile(f64),
}

/// One aggregate of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AggSpec {
    /// The function.
    pub func: AggFunc,
    /// Schema index of its column (`None` for `count(*)`).
    pub field: Option<usize>,
}

/// Where an output column's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OutSource {
    /// The i-th grouping key (aggregate plans).
    Key(usize),
    /// The i-th aggregate (aggregate plans).
    Agg(usize),
    /// A schema column (raw plans).
    Column(usize),
}

/// One output column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputColumn {
    /// Its name (the alias, or the column or function name).
    pub name: String,
    /// Where its values come from.
    pub source: OutSource,
}

/// One ORDER BY key, over output columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderKey {
    /// Index into [`Plan::outputs`].
    pub output: usize,
    /// Descending.
    pub desc: bool,
    /// NULLs sort before non-null values (default: last for ASC, first for DESC).
    pub nulls_first: bool,
}

/// A planned query over one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The dataset's schema.
    pub schema: Schema,
    /// Aggregate or raw.
    pub kind: QueryKind,
    /// The `WHERE` condition.
    pub filter: Option<Predicate>,
    /// `[from, to)` in microseconds on the schema's time field, derived from the `WHERE`
    /// (top-level conjuncts only); the store may skip chunks outside it.
    pub time_range: (Option<i64>, Option<i64>),
    /// Grouping keys (aggregate plans).
    pub keys: Vec<KeyExpr>,
    /// Aggregates (aggregate plans).
    pub aggs: Vec<AggSpec>,
    /// Output columns, in SELECT order.
    pub outputs: Vec<OutputColumn>,
    /// ORDER BY.
    pub order: Vec<OrderKey>,
    /// LIMIT.
    pub limit: Option<u64>,
}

impl Plan {
    /// Schema indices of every field the plan reads.
    pub fn fields_read(&self) -> Vec<usize> {
        let mut out = Vec::new();
        fn walk(p: &Predicate, out: &mut Vec<usize>) {
            match p {
                Predicate::And(v) | Predicate::Or(v) => v.iter().for_each(|q| walk(q, out)),
                Predicate::Not(q) => walk(q, out),
                Predicate::Cmp { field, .. }
                | Predicate::In { field, .. }
                | Predicate::IsNull { field } => out.push(*field),
            }
        }
        for o in &self.outputs {
            if let OutSource::Column(i) = o.source {
                out.push(i);
            }
        }
        out.extend(self.keys.iter().map(|k| k.field));
        out.extend(self.aggs.iter().filter_map(|a| a.field));
        if let Some(f) = &self.filter {
            walk(f, &mut out);
        }
        let mut seen = Vec::new();
        out.retain(|i| {
            let new = !seen.contains(i);
            seen.push(*i);
            new
        });
        out
    }
}
