//! # regio-policy — the law
//!
//! Everything that carries authority in a Regio region, and the decision every node takes on
//! every query. Pure library: no I/O, no network, no clock of its own (callers pass `now`).
//!
//! - [`did`], [`key`]: Ed25519 identities as `did:key`; one key type for node identity and
//!   document signing.
//! - [`proof`]: W3C Data Integrity proofs, cryptosuite `eddsa-jcs-2022` — the one signing path.
//! - [`signed`]: typed documents, readable only after verification.

pub mod decision;
pub mod did;
pub mod doc;
pub mod key;
pub mod proof;
pub mod purpose;
pub mod shape;
pub mod signed;
pub mod time;

pub use did::Did;
pub use key::Key;
pub use shape::{AggKind, AggUse, FieldUse, Granularity, QueryKind, QueryShape, TimeUnit};
pub use signed::{DocHash, Document, DocumentError, Signed};
