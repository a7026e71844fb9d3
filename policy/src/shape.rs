//! What the decision engine is told about a query. The node's planner parses the SQL and
//! hands over a [`QueryShape`]; this crate never parses SQL.

use chrono::Datelike;
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

impl TimeUnit {
    /// Whether `micros` (UTC, since the Unix epoch) is the start of a bucket of this unit:
    /// a whole hour, a UTC midnight, a Monday midnight (ISO week), the first of a month, the
    /// first of January.
    pub fn aligned(self, micros: i64) -> bool {
        const HOUR: i64 = 3_600_000_000;
        const DAY: i64 = 24 * HOUR;
        let Some(t) = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros) else {
            return false;
        };
        let midnight = micros.rem_euclid(DAY) == 0;
        let date = t.date_naive();
        match self {
            TimeUnit::Hour => micros.rem_euclid(HOUR) == 0,
            TimeUnit::Day => midnight,
            TimeUnit::Week => midnight && date.weekday() == chrono::Weekday::Mon,
            TimeUnit::Month => midnight && date.day() == 1,
            TimeUnit::Year => midnight && date.ordinal() == 1,
        }
    }
}

/// How finely a query uses a field. In `WHERE`, the planner reports every comparison atom
/// by its **edges**, the values where its truth value can change (`x < c`: `c`; integer
/// `x <= c`: `c + 1`; `x = c`: `c` and `c + 1`); any boolean combination of atoms whose
/// edges all lie on a grid selects a union of whole cells of that grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Granularity {
    /// The value itself (grouping on the column, a comparison whose edges cannot be placed
    /// on a grid: strings, `<=` on a float column, …).
    Exact,
    /// A time bucket (`date_trunc` in `GROUP BY`).
    Time(TimeUnit),
    /// Numeric bins of this width, origin 0.
    NumericBin(f64),
    /// An edge of a numeric comparison: the filter can change truth value at this value.
    Edge(f64),
    /// An edge of a time comparison, in microseconds since the Unix epoch (UTC).
    TimeEdge(i64),
    /// Only whether the value is NULL (`IS [NOT] NULL`).
    Null,
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
