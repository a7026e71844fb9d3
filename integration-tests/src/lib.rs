//! Shared helpers for Regio's multi-node and end-to-end tests.
#![deny(missing_docs)]
pub mod bench;
