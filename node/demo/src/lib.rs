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
//! | [`run`] | `regio demo`: the nine steps, narrated and checked |
//! | `session` | what the steps share: options, the running session, steps, report, errors |
//! | `steps`, `checks`, `differencing` | what each step does and what it is checked against |
//! | [`expect`] | the figures each step must show, computed from the data |
//! | `noisy` | checking a noisy answer: the released groups, the values inside their intervals |
//! | [`table`] | the tables the demo prints |
mod checks;
pub mod cluster;
pub mod data;
mod differencing;
pub mod expect;
mod noisy;
pub mod region;
pub mod run;
mod session;
mod steps;
pub mod table;
