//! # regio-store — what a node keeps
//!
//! The node's storage. Everything a node keeps lives behind the narrow
//! [`Backend`] trait — the operations the node needs, not a generic key-value store — so
//! that sled (0.34, unmaintained) can be swapped out. Two backends pass the same test
//! suite (`tests.rs`): [`SledBackend`] (one database per node directory) and
//! [`MemoryBackend`] (tests, demos).
//!
//! The node talks to [`Store`], a cheap-to-clone handle over one backend that also keeps
//! the in-memory consent index and serialises audit appends. The trait and the handle are
//! synchronous on purpose: every call is short (one sled transaction plus one `flush`),
//! and the async node runs them on `tokio::task::spawn_blocking`; one handle shared by all
//! tasks plays the role of a storage actor without a channel hop on the query path.
//!
//! Durability: every write returns only after the backend made it durable (sled: one
//! transaction, then `flush()`, which fsyncs; concurrent writers' flushes are coalesced by
//! sled). Atomicity: a write and the audit entry recording it commit in one transaction.
//!
//! Every stored value starts with a version byte (`codec`); reading a version this build
//! does not know is [`StoreError::UnknownVersion`], never a panic.

//!
//! ## Modules
//!
//! | module | owns |
//! |---|---|
//! | this root | the [`Backend`] trait and the records it stores ([`DatasetInfo`], [`PolicyRecord`], [`DocRecord`], [`QueryRecord`]), [`StoreError`] |
//! | `handle` | [`Store`]: the handle the node uses (consent index, audit appends, checkpoints, decoded-chunk cache) |
//! | `sled`, `memory` | the two backends |
//! | `codec` | the versioned byte encoding of every stored value |
//! | [`audit`] | the hash-chained audit log's core: entries, hashing, verification, signed checkpoints |
//! | [`consent`] | consent entries and the in-memory index the scan-time filter reads |
//! | [`ingest`] | NDJSON, CSV and NGSI-LD parsers into typed chunks and consent entries |
//! | [`ledger`] | quota and privacy-budget counters, reserved atomically and durably before work |

pub mod audit;
pub mod consent;
pub mod ingest;
pub mod ledger;

mod codec;
mod handle;
mod memory;
mod sled;
#[cfg(test)]
mod tests;

pub use self::audit::Checkpointer;
pub use self::handle::{Store, CHECKPOINT_EVERY};
pub use self::memory::MemoryBackend;
pub use self::sled::SledBackend;

use regio_query::chunk::{Chunk, ChunkError};
use regio_query::schema::{Schema, SchemaError};

/// A dataset as listed by the node.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    /// Its schema.
    pub schema: Schema,
    /// Number of records stored.
    pub records: u64,
    /// Number of chunks they are stored in.
    pub chunks: u64,
}

/// What an append stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendReceipt {
    /// Chunks written.
    pub chunks: u64,
    /// Records written.
    pub records: u64,
}

/// One version of this node's signed policy bundle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyRecord {
    /// Bundle version (1, 2, …; each publish is the head's version + 1).
    pub version: u64,
    /// Hash of the signed bundle (`DocHash`).
    pub hash: [u8; 32],
    /// The signed bundle JSON.
    pub raw: Vec<u8>,
}

/// Kinds of signed documents stored by hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DocKind {
    /// An ethics certificate.
    Certificate,
    /// A revocation of a certificate.
    Revocation,
    /// A signed inclusion charter.
    Charter,
    /// A version of a region manifest.
    Manifest,
    /// A version of a member's catalog (datasets and initiatives), its own included.
    Catalog,
}

impl DocKind {
    /// The audit kind recording that a document of this kind was stored.
    pub fn audit_kind(self) -> audit::Kind {
        match self {
            DocKind::Certificate => audit::Kind::CertificateStored,
            DocKind::Revocation => audit::Kind::RevocationStored,
            DocKind::Charter => audit::Kind::CharterStored,
            DocKind::Manifest => audit::Kind::ManifestStored,
            DocKind::Catalog => audit::Kind::CatalogStored,
        }
    }
}

/// A signed document stored by hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DocRecord {
    /// Hash of the signed document (`DocHash`).
    pub hash: [u8; 32],
    /// The signed JSON.
    pub raw: Vec<u8>,
    /// When this node stored it, microseconds since the epoch.
    pub stored_at: i64,
}

/// A query as received (the signed JSON, even when it did not verify), kept by hash so
/// that an auditor can re-run the decision logged for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueryRecord {
    /// Hash of the query JSON (`DocHash`).
    pub hash: [u8; 32],
    /// The JSON.
    pub raw: Vec<u8>,
}

/// Why a storage operation failed. Nothing was changed when an error is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The schema is invalid.
    #[error("invalid schema: {0}")]
    InvalidSchema(#[from] SchemaError),
    /// A dataset of that name exists.
    #[error("dataset `{0}` already exists")]
    DatasetExists(String),
    /// No dataset of that name.
    #[error("no dataset `{0}`")]
    NoSuchDataset(String),
    /// A chunk does not have the dataset's columns.
    #[error("chunk for `{dataset}` has {got} columns, the schema has {expected}")]
    ChunkShape {
        /// Dataset.
        dataset: String,
        /// Fields in the schema.
        expected: usize,
        /// Columns in the chunk.
        got: usize,
    },
    /// A stored chunk could not be read.
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    /// A stored value carries a version this build cannot read.
    #[error("stored {what} has version {found}; this node reads version {supported}")]
    UnknownVersion {
        /// Which kind of value.
        what: &'static str,
        /// Version byte found.
        found: u8,
        /// Version this build reads.
        supported: u8,
    },
    /// A stored value (or a key) is damaged.
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// Which kind of value.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A policy version that does not extend the chain head.
    #[error("policy version {got} does not follow the head (version {head:?})")]
    PolicyVersion {
        /// Current head version.
        head: Option<u64>,
        /// Version offered.
        got: u64,
    },
    /// An audit entry whose sequence number does not follow the stored head.
    #[error("audit entry {got} does not follow the stored head (expected {expected})")]
    AuditConflict {
        /// Next sequence number of the stored log.
        expected: u64,
        /// Sequence number offered.
        got: u64,
    },
    /// An audit checkpoint could not be signed.
    #[error("signing the audit checkpoint: {0}")]
    Checkpoint(String),
    /// The storage engine failed (I/O, a full disk …).
    #[error("storage engine: {0}")]
    Engine(String),
    /// A lock was poisoned by a panicking thread.
    #[error("storage lock poisoned")]
    Poisoned,
}

/// The operations a node needs from its storage. Every write is atomic and durable when
/// it returns `Ok`; on `Err` nothing changed.
pub trait Backend: Send + Sync + 'static {
    /// Creates a dataset (the schema is validated; duplicates are refused).
    fn create_dataset(&self, schema: &Schema) -> Result<(), StoreError>;
    /// All datasets, by name, with record counts.
    fn datasets(&self) -> Result<Vec<DatasetInfo>, StoreError>;
    /// One dataset.
    fn dataset(&self, name: &str) -> Result<DatasetInfo, StoreError>;
    /// Appends chunks to a dataset: all of them or none.
    fn append_chunks(&self, dataset: &str, chunks: &[Chunk]) -> Result<AppendReceipt, StoreError>;
    /// Chunks whose time bounds overlap `[from, to)` (chunks without bounds always), in
    /// order of their lower bound. Other chunks are skipped without being decoded.
    fn scan(
        &self,
        dataset: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<Chunk>, StoreError>;

    /// Stores consent entries (history is kept) with the audit entry recording them.
    fn put_consents(
        &self,
        entries: &[consent::Entry],
        audit: &audit::Entry,
    ) -> Result<(), StoreError>;
    /// Every consent entry ever stored, in the order stored.
    fn consent_log(&self) -> Result<Vec<consent::Entry>, StoreError>;
    /// Every entry of one subject, in the order stored.
    fn consent_history(&self, subject: &str) -> Result<Vec<consent::Entry>, StoreError>;

    /// Appends a policy version (must be the head's version + 1) with its audit entry.
    fn put_policy(&self, record: &PolicyRecord, audit: &audit::Entry) -> Result<(), StoreError>;
    /// The policy chain, in version order.
    fn policies(&self) -> Result<Vec<PolicyRecord>, StoreError>;
    /// The chain head.
    fn policy_head(&self) -> Result<Option<PolicyRecord>, StoreError>;

    /// Stores a certificate or revocation with its audit entry (same hash: replaced).
    fn put_document(
        &self,
        kind: DocKind,
        record: &DocRecord,
        audit: &audit::Entry,
    ) -> Result<(), StoreError>;
    /// A document by hash.
    fn document(&self, kind: DocKind, hash: &[u8; 32]) -> Result<Option<DocRecord>, StoreError>;
    /// All documents of a kind, by hash.
    fn documents(&self, kind: DocKind) -> Result<Vec<DocRecord>, StoreError>;

    /// Records a query nonce until `expires_at`; `false` if it is already recorded and
    /// unexpired (a replay). Nonces expired at `now` are pruned.
    fn check_and_insert_nonce(
        &self,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Appends an audit entry; its seq must be the stored head's + 1.
    fn append_audit(&self, entry: &audit::Entry) -> Result<(), StoreError>;
    /// Audit entries with `from <= seq < to`.
    fn audit_range(&self, from: u64, to: u64) -> Result<Vec<audit::Entry>, StoreError>;
    /// The last audit entry.
    fn audit_head(&self) -> Result<Option<audit::Entry>, StoreError>;

    /// Appends the audit entry of an answered or refused query (seq: head + 1) and, in the
    /// same commit, keeps the signed query by hash and indexes the entry under each subject
    /// whose rows the query counted.
    fn put_query_audit(
        &self,
        entry: &audit::Entry,
        query: &QueryRecord,
        subjects: &[String],
    ) -> Result<(), StoreError>;
    /// A signed query by hash.
    fn signed_query(&self, hash: &[u8; 32]) -> Result<Option<QueryRecord>, StoreError>;
    /// Every signed query kept, by hash.
    fn signed_queries(&self) -> Result<Vec<QueryRecord>, StoreError>;
    /// Sequence numbers of the audit entries of the queries that counted `subject`'s rows, in order.
    fn subject_queries(&self, subject: &str) -> Result<Vec<u64>, StoreError>;

    /// Stores a signed audit checkpoint covering the log up to `seq` (same seq: replaced).
    fn put_checkpoint(&self, seq: u64, raw: &[u8]) -> Result<(), StoreError>;
    /// Every stored checkpoint `(seq, signed JSON)`, by seq.
    fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// Reserves every request or none ([`ledger`]): atomic under concurrency, durable when
    /// it returns [`ledger::Reservation::Granted`].
    fn reserve(&self, requests: &[ledger::Request]) -> Result<ledger::Reservation, StoreError>;
    /// A counter's total (0 when it was never charged or was pruned).
    fn spent(&self, key: &ledger::Key) -> Result<u64, StoreError>;
    /// Every counter kept, in stored key order.
    fn ledger(&self) -> Result<Vec<ledger::Counter>, StoreError>;
    /// Removes the counters of `kind` whose window is before `before`; returns how many.
    fn prune_ledger(&self, kind: ledger::Kind, before: i64) -> Result<u64, StoreError>;
}
