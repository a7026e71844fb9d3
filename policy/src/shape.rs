//! What the decision engine is told about a query. The node's planner parses the SQL and
//! hands over a [`QueryShape`]; this crate never parses SQL.

use serde::{Deserialize, Serialize};

/// Aggregate or raw (row-level) access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    /// Only aggregates leave the node.
    Aggregate,
    /// Rows leave the node (needs the `raw` grant and the policy's raw disclosure).
    Raw,
}

impl QueryKind {
    /// The casbin action this kind needs.
    pub fn action(self) -> &'static str {
        match self {
            QueryKind::Aggregate => "aggregate",
            QueryKind::Raw => "raw",
        }
    }
}

/// Calendar buckets, finest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// One hour.
    Hour,
    /// One UTC day.
    Day,
    /// One ISO week.
    Week,
    /// One calendar month.
    Month,
    /// One calendar year.
    Year,
}

/// How finely a query uses a field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Granularity {
    /// The value itself (grouping on the column, equality, arbitrary ranges).
    Exact,
    /// A time bucket (`date_trunc`, or range bounds aligned to it).
    Time(TimeUnit),
    /// Numeric bins of this width (range bounds aligned to it).
    NumericBin(f64),
}

/// One use of a field in a filter or a grouping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldUse {
    /// The column.
    pub field: String,
    /// How finely.
    pub granularity: Granularity,
}

impl FieldUse {
    /// A use of `field` at `granularity`.
    pub fn new(field: impl Into<String>, granularity: Granularity) -> Self {
        FieldUse {
            field: field.into(),
            granularity,
        }
    }
}

/// An aggregate function, as the decision engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggKind {
    /// `count(*)` / `count(col)`.
    Count,
    /// `count(DISTINCT col)`.
    CountDistinct,
    /// `sum(col)`.
    Sum,
    /// `avg(col)`.
    Avg,
    /// `min(col)`.
    Min,
    /// `max(col)`.
    Max,
    /// `stddev(col)`.
    Stddev,
    /// `percentile_cont(p) WITHIN GROUP (ORDER BY col)`.
    Percentile,
}

/// One aggregate of a query and what the dataset schema declares of its field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggUse {
    /// The function.
    pub func: AggKind,
    /// Its column (`None` for `count(*)`).
    pub field: Option<String>,
    /// The schema declares clamping bounds for the field.
    #[serde(default)]
    pub bounded: bool,
    /// The schema declares the field's categories (a public domain of values).
    #[serde(default)]
    pub categorical: bool,
}

/// The shape of a planned query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryShape {
    /// The one dataset it reads.
    pub dataset: String,
    /// Aggregate or raw.
    pub kind: QueryKind,
    /// Fields in `WHERE`.
    pub filters: Vec<FieldUse>,
    /// Fields in `GROUP BY`.
    pub groups: Vec<FieldUse>,
    /// Every field it reads (selected, aggregated, filtered or grouped).
    pub fields: Vec<String>,
    /// Its aggregates (aggregate queries).
    #[serde(default)]
    pub aggregates: Vec<AggUse>,
    /// The field the dataset's schema names as the data subject.
    #[serde(default)]
    pub subject: Option<String>,
}
