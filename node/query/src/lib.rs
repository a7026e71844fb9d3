//! # regio-query — the query engine
//!
//! A read-only SQL subset (see DESIGN.md, "Query language") over a dataset's columnar
//! chunks, in four steps. Depends on `regio-policy` only: no I/O, no network, no clock; the
//! store hands it chunks and the node hands it the consent view.
//!
//! 1. [`plan()`] parses the SQL with `sqlparser` and resolves it against the dataset's
//!    [`Schema`](crate::schema::Schema) into a [`Plan`] and the
//!    [`QueryShape`](regio_policy::QueryShape) the decision engine judges. Anything outside
//!    the subset is a [`PlanError::Unsupported`] naming the construct and its `line:column`.
//! 2. [`execute()`] scans chunks (the time range of [`Plan::time_range`] lets the store
//!    prune), applies the consent filter inside the scan (decided once per dictionary entry
//!    of the subject column per chunk), and aggregates into mergeable partial states per
//!    group, dropping groups under the minimum size at the node. Raw queries return rows with
//!    masked fields nulled.
//! 3. A node ships its [`PartialResult`] in its signed PartialAnswer, groups column by
//!    column (compact JSON: signing, hashing and checking it is the federation's main cost).
//!    [`PartialResult::merge`] combines the partial answers of several nodes (exact for
//!    count, sum, min, max, avg, stddev; sketches for `percentile_cont` and
//!    `count(DISTINCT)`).
//! 4. [`finalize()`] turns merged states into a [`ResultSet`] (ORDER BY, LIMIT, typed output
//!    columns), which writes itself as CSV or JSON.
//!
//! ## Modules
//!
//! | module | owns |
//! |---|---|
//! | [`schema`] | a dataset's typed schema and cell values |
//! | [`chunk`] | columnar chunks of records (dictionary-coded strings, time bounds) and their codec |
//! | `sql`, `select`, `expr` | SQL text → [`Plan`] and [`QueryShape`](regio_policy::QueryShape) |
//! | `scope` | name resolution against the schema, positions, [`PlanError`] |
//! | `plan` | the plan: predicates, group keys, aggregates, output columns |
//! | `time` | time literals and `date_trunc` buckets |
//! | `filter`, `kernels` | predicate masks and typed aggregation loops over columns |
//! | `agg` | mergeable aggregate states (exact, t-digest, HyperLogLog) |
//! | `exec` | the scan: chunks → [`PartialResult`] |
//! | `partial` | the partial result a node ships, and how partial results merge |
//! | `wire` | the column-by-column JSON of partial groups |
//! | `output` | merged states → [`ResultSet`]; CSV and JSON |

pub mod chunk;
pub mod schema;

mod agg;
mod dp;
mod exec;
mod expr;
mod filter;
mod kernels;
mod output;
mod partial;
mod plan;
mod scope;
mod select;
mod sql;
mod time;

#[cfg(test)]
mod tests_dp;
#[cfg(test)]
mod tests_edges;
#[cfg(test)]
mod tests_exec;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_plan;

pub use agg::{AggState, Digest, Distinct, Histogram, MergeError, Noisy, NoisyKind, DIGEST_SIZE};
pub use exec::{execute, execute_counting, DpOptions, ExecError, ExecOptions};
pub use output::{columns, finalize, OutColumn, OutType, ResultSet};
pub use partial::{PartialBody, PartialGroup, PartialResult};
pub use plan::{
    AggFunc, AggSpec, CmpOp, KeyExpr, OrderKey, OutSource, OutputColumn, Plan, Predicate,
};
pub use scope::{PlanError, Pos};
pub use sql::plan;
pub use time::{parse_time_literal, trunc};
