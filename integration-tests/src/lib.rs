//! Shared helpers for Regio's multi-node and end-to-end tests.

#[cfg(unix)]
pub mod adversary;
pub mod bench;
#[cfg(unix)]
pub mod containers;
pub mod fixture;
