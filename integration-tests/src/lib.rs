//! Shared helpers for Regio's multi-node and end-to-end tests.
#![deny(missing_docs)]

#[cfg(unix)]
pub mod containers;
pub mod fixture;
