//! The demo region (owner: lead, demo): synthetic data and a fully signed region of five
//! municipalities, live in-process nodes, and `regio demo` itself ([`run`]), used by the CLI
//! and by the multi-node tests.

mod checks;
pub mod cluster;
pub mod data;
pub mod expect;
pub mod region;
pub mod run;
mod steps;
pub mod table;
