//! # regio-demo — the demo region
//!
//! Synthetic data and a fully signed region of five municipalities, live in-process nodes,
//! and `regio demo` itself ([`run`]), used by the CLI and, as a dev-dependency, by the
//! multi-node tests. Not part of a production node.
//!
//! ## Modules
//!
//! | module | owns |
//! |---|---|
//! | [`data`] | the generated readings and consent of the five municipalities |
//! | [`region`] | the actors (board, applications, clerk), keys, charter, manifest and policies |
//! | [`cluster`] | live nodes of the region in this process |
//! | [`run`] | `regio demo`: the eight steps, narrated and checked |
//! | `session` | what the steps share: options, the running session, steps, report, errors |
//! | `steps`, `checks` | what each step does and what it is checked against |
//! | [`expect`] | the figures each step must show, computed from the data |
//! | [`table`] | the tables the demo prints |
mod checks;
pub mod cluster;
pub mod data;
pub mod expect;
pub mod region;
pub mod run;
mod session;
mod steps;
pub mod table;
