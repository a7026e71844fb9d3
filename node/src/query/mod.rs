//! # The query engine
//!
//! A read-only SQL subset (see DESIGN.md, "Query language") in four steps:
//!
//! 1. [`plan()`] parses the SQL with `sqlparser` and resolves it against the dataset's
//!    [`Schema`](crate::schema::Schema) into a [`Plan`] and the
//!    [`QueryShape`](crate::policy::QueryShape) the decision engine judges. Anything outside
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

mod agg;
mod exec;
mod expr;
mod filter;
mod kernels;
mod output;
mod plan;
mod select;
mod sql;
mod time;
mod wire;

#[cfg(test)]
mod tests_exec;
#[cfg(test)]
mod tests_plan;

pub use agg::{AggState, Digest, Distinct, MergeError, DIGEST_SIZE};
pub use exec::{
    execute, execute_counting, ExecError, ExecOptions, PartialBody, PartialGroup, PartialResult,
};
pub use output::{columns, finalize, OutColumn, OutType, ResultSet};
pub use plan::{
    AggFunc, AggSpec, CmpOp, KeyExpr, OrderKey, OutSource, OutputColumn, Plan, Predicate,
};
pub use sql::{plan, PlanError, Pos};
pub use time::{parse_time_literal, trunc};
