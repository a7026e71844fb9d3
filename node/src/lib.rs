//! # regio-node — the machine that obeys the policy
//!
//! Storage, the policy-enforced query engine, federation and the HTTP API of one
//! municipality's node. Built up issue by issue; see the README for what runs today.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![deny(missing_docs)]

pub use regio_policy as policy;

pub mod api;
pub mod audit;
pub mod chunk;
pub mod config;
pub mod consent;
pub mod demo;
pub mod engine;
pub mod federation;
pub mod ingest;
pub mod net;
pub mod query;
pub mod schema;
pub mod server;
pub mod store;
pub mod telemetry;
