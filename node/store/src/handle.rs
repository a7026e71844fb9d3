//! [`Store`]: the one storage handle a node shares between its tasks (clone it freely).
//! It adds to the backend what must be the same whatever the backend: the in-memory
//! consent index (rebuilt from the consent log at open), and the audit chain (each entry
//! computed from the head under a lock and committed with the change it records), and
//! the signed audit checkpoints: with a [`Checkpointer`] installed (the engine installs
//! one signing with the node key), every [`CHECKPOINT_EVERY`]th entry is followed by a
//! signed checkpoint of the head; [`Store::checkpoint_now`] signs one on demand (clean
//! shutdown, export).

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use super::{
    AppendReceipt, Backend, DatasetInfo, DocKind, DocRecord, MemoryBackend, PolicyRecord,
    QueryRecord, SledBackend, StoreError,
};
use crate::audit::{self, AuditError, Checkpointer};
use crate::consent::{self, ConsentIndex, ConsentView};
use regio_query::chunk::Chunk;
use regio_query::schema::{Schema, Value};

/// Datasets whose decoded chunks are kept in memory, up to this many rows each.
pub(crate) const CACHE_ROWS: u64 = 4_000_000;

/// A signed audit checkpoint is written after every entry whose seq is a multiple of this
/// (and on clean shutdown and export, see [`Store::checkpoint_now`]).
pub const CHECKPOINT_EVERY: u64 = 32;

/// Every decoded chunk of one dataset, in key order.
type SharedChunks = Arc<Vec<Arc<Chunk>>>;

/// Decoded chunks of each dataset. Chunks are immutable once written, so an entry is valid
/// until the dataset's next append, which bumps its generation.
#[derive(Default)]
struct ChunkCache {
    generation: std::collections::HashMap<String, u64>,
    entries: std::collections::HashMap<String, (u64, SharedChunks)>,
}

struct Inner {
    backend: Box<dyn Backend>,
    chunks: Mutex<ChunkCache>,
    consent: RwLock<ConsentIndex>,
    /// The audit head; held while a change and its audit entry are committed.
    audit_head: Mutex<Option<audit::Entry>>,
    /// Signs audit checkpoints, once installed.
    checkpointer: OnceLock<Checkpointer>,
}

/// Shared handle over one backend.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// A store over `backend`, loading the consent index and audit head.
    pub fn open(backend: impl Backend) -> Result<Store, StoreError> {
        let consent = ConsentIndex::from_entries(backend.consent_log()?);
        let head = backend.audit_head()?;
        Ok(Store {
            inner: Arc::new(Inner {
                backend: Box::new(backend),
                chunks: Mutex::default(),
                consent: RwLock::new(consent),
                audit_head: Mutex::new(head),
                checkpointer: OnceLock::new(),
            }),
        })
    }

    /// A store on a sled database in `dir` (created if absent).
    pub fn open_sled(dir: &Path) -> Result<Store, StoreError> {
        Store::open(SledBackend::open(dir)?)
    }

    /// A store in memory.
    pub fn memory() -> Store {
        let inner = Inner {
            backend: Box::new(MemoryBackend::new()),
            chunks: Mutex::default(),
            consent: Default::default(),
            audit_head: Mutex::new(None),
            checkpointer: OnceLock::new(),
        };
        Store {
            inner: Arc::new(inner),
        }
    }

    /// The backend, for operations the handle only forwards.
    pub fn backend(&self) -> &dyn Backend {
        self.inner.backend.as_ref()
    }

    /// Creates a dataset.
    pub fn create_dataset(&self, schema: &Schema) -> Result<(), StoreError> {
        self.backend().create_dataset(schema)
    }

    /// All datasets with record counts.
    pub fn datasets(&self) -> Result<Vec<DatasetInfo>, StoreError> {
        self.backend().datasets()
    }

    /// One dataset's schema and counts.
    pub fn dataset(&self, name: &str) -> Result<DatasetInfo, StoreError> {
        self.backend().dataset(name)
    }

    /// Appends already built chunks (all or nothing, durable on return).
    pub fn append_chunks(
        &self,
        dataset: &str,
        chunks: &[Chunk],
    ) -> Result<AppendReceipt, StoreError> {
        let receipt = self.backend().append_chunks(dataset, chunks)?;
        let mut cache = self
            .inner
            .chunks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *cache.generation.entry(dataset.to_owned()).or_default() += 1;
        cache.entries.remove(dataset);
        Ok(receipt)
    }

    /// Cuts typed rows (schema order) into chunks ordered by time and appends them.
    pub fn append_rows(
        &self,
        dataset: &str,
        rows: Vec<Vec<Value>>,
    ) -> Result<AppendReceipt, StoreError> {
        let schema = self.dataset(dataset)?.schema;
        let chunks = crate::ingest::into_chunks(&schema, rows)?;
        self.append_chunks(dataset, &chunks)
    }

    /// Chunks overlapping `[from, to)`, decoded once and shared: the query path. Datasets
    /// up to `CACHE_ROWS` rows stay decoded in memory until their next append.
    pub fn scan_shared(
        &self,
        dataset: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<Arc<Chunk>>, StoreError> {
        let lock = || {
            self.inner
                .chunks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let (generation, cached) = {
            let cache = lock();
            let generation = cache.generation.get(dataset).copied().unwrap_or(0);
            (
                generation,
                cache
                    .entries
                    .get(dataset)
                    .filter(|(g, _)| *g == generation)
                    .map(|(_, all)| all.clone()),
            )
        };
        let all = match cached {
            Some(all) => all,
            None => {
                let all: SharedChunks = Arc::new(
                    self.backend()
                        .scan(dataset, None, None)?
                        .into_iter()
                        .map(Arc::new)
                        .collect(),
                );
                let rows: u64 = all.iter().map(|c| u64::from(c.rows)).sum();
                let mut cache = lock();
                if rows <= CACHE_ROWS
                    && cache.generation.get(dataset).copied().unwrap_or(0) == generation
                {
                    cache
                        .entries
                        .insert(dataset.to_owned(), (generation, all.clone()));
                }
                all
            }
        };
        Ok(all
            .iter()
            .filter(|c| c.overlaps(from, to))
            .cloned()
            .collect())
    }

    /// Chunks overlapping `[from, to)`.
    pub fn scan(
        &self,
        dataset: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<Chunk>, StoreError> {
        self.backend().scan(dataset, from, to)
    }

    /// Runs `write` with the next audit entry while holding the audit lock; on success
    /// the entry becomes the head.
    fn audited<T>(
        &self,
        at: i64,
        kind: audit::Kind,
        body: serde_json::Value,
        write: impl FnOnce(&audit::Entry) -> Result<T, StoreError>,
    ) -> Result<audit::Entry, StoreError> {
        let mut head = self
            .inner
            .audit_head
            .lock()
            .map_err(|_| StoreError::Poisoned)?;
        let entry = audit::Entry::next(head.as_ref(), at, kind, body);
        write(&entry)?;
        *head = Some(entry.clone());
        if entry.seq.is_multiple_of(CHECKPOINT_EVERY) {
            // The change is committed: a checkpoint that cannot be written now is not its
            // failure. The next one (every CHECKPOINT_EVERY entries, shutdown, export) covers it.
            if let Err(e) = self.write_checkpoint(&entry, at) {
                tracing::warn!(seq = entry.seq, error = %e, "audit checkpoint not written; the next one covers this entry");
            }
        }
        Ok(entry)
    }

    /// Installs the checkpoint signer (once; later calls are ignored).
    pub fn set_checkpointer(&self, signer: Checkpointer) {
        if self.inner.checkpointer.set(signer).is_err() {
            tracing::debug!("a checkpoint signer is installed already; kept it");
        }
    }

    fn write_checkpoint(&self, head: &audit::Entry, at: i64) -> Result<Option<u64>, StoreError> {
        let Some(sign) = self.inner.checkpointer.get() else {
            return Ok(None);
        };
        let raw = sign(head, at).map_err(StoreError::Checkpoint)?;
        self.backend().put_checkpoint(head.seq, &raw)?;
        Ok(Some(head.seq))
    }

    /// Signs a checkpoint of the current head unless one covers it already. Returns the seq
    /// covered (`None`: empty log or no checkpointer installed).
    pub fn checkpoint_now(&self, at: i64) -> Result<Option<u64>, StoreError> {
        let head = self
            .inner
            .audit_head
            .lock()
            .map_err(|_| StoreError::Poisoned)?;
        let Some(entry) = head.as_ref() else {
            return Ok(None);
        };
        if self
            .backend()
            .checkpoints()?
            .last()
            .is_some_and(|(seq, _)| *seq == entry.seq)
        {
            return Ok(Some(entry.seq));
        }
        self.write_checkpoint(entry, at)
    }

    /// Every stored checkpoint `(seq, signed JSON)`, by seq.
    pub fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.backend().checkpoints()
    }

    /// Appends the audit entry of an answered or refused query, keeping the query JSON by
    /// hash and indexing the entry under each subject whose rows it counted.
    pub fn audit_query(
        &self,
        kind: audit::Kind,
        at: i64,
        body: serde_json::Value,
        query: QueryRecord,
        subjects: &[String],
    ) -> Result<audit::Entry, StoreError> {
        self.audited(at, kind, body, |a| {
            self.backend().put_query_audit(a, &query, subjects)
        })
    }

    /// A kept query by hash.
    pub fn signed_query(&self, hash: &[u8; 32]) -> Result<Option<QueryRecord>, StoreError> {
        self.backend().signed_query(hash)
    }

    /// Every kept query.
    pub fn signed_queries(&self) -> Result<Vec<QueryRecord>, StoreError> {
        self.backend().signed_queries()
    }

    /// The audit entries of the queries that counted `subject`'s rows, oldest first.
    pub fn subject_queries(&self, subject: &str) -> Result<Vec<audit::Entry>, StoreError> {
        let mut out = Vec::new();
        for seq in self.backend().subject_queries(subject)? {
            match self.backend().audit_range(seq, seq + 1)?.pop() {
                Some(e) => out.push(e),
                None => {
                    return Err(StoreError::Corrupt {
                        what: "subject index",
                        detail: format!("entry {seq} is not in the audit log"),
                    })
                }
            }
        }
        Ok(out)
    }

    /// Stores consent entries (one audit entry for the batch); the next consent view
    /// reflects them. `at` is now, in microseconds.
    pub fn put_consents(
        &self,
        entries: Vec<consent::Entry>,
        at: i64,
    ) -> Result<audit::Entry, StoreError> {
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let body = if ids.len() <= 16 {
            serde_json::json!({ "ids": ids })
        } else {
            serde_json::json!({ "count": ids.len() })
        };
        self.audited(at, audit::Kind::ConsentChanged, body, |a| {
            self.backend().put_consents(&entries, a)?;
            // Committed: the index must follow even if a panicking reader poisoned it.
            let mut index = self
                .inner
                .consent
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for e in entries.iter().cloned() {
                index.apply(e);
            }
            Ok(())
        })
    }

    /// The subjects whose consent covers `dataset` and one of `purposes` at `now`.
    pub fn consent_view(
        &self,
        dataset: &str,
        purposes: &[String],
        now: i64,
    ) -> Result<ConsentView, StoreError> {
        Ok(self
            .inner
            .consent
            .read()
            .map_err(|_| StoreError::Poisoned)?
            .view(dataset, purposes, now))
    }

    /// The current entry of a consent id (without its signed JSON: see the history).
    pub fn consent(&self, id: &str) -> Result<Option<consent::Entry>, StoreError> {
        Ok(self
            .inner
            .consent
            .read()
            .map_err(|_| StoreError::Poisoned)?
            .get(id)
            .cloned())
    }

    /// Every consent entry of a subject, oldest first.
    pub fn consent_history(&self, subject: &str) -> Result<Vec<consent::Entry>, StoreError> {
        self.backend().consent_history(subject)
    }

    /// Publishes the next version of the policy chain.
    pub fn publish_policy(
        &self,
        record: PolicyRecord,
        at: i64,
    ) -> Result<audit::Entry, StoreError> {
        let body =
            serde_json::json!({ "version": record.version, "hash": hex::encode(record.hash) });
        self.audited(at, audit::Kind::PolicyPublished, body, |a| {
            self.backend().put_policy(&record, a)
        })
    }

    /// The policy chain, oldest first.
    pub fn policies(&self) -> Result<Vec<PolicyRecord>, StoreError> {
        self.backend().policies()
    }

    /// The policy chain head.
    pub fn policy_head(&self) -> Result<Option<PolicyRecord>, StoreError> {
        self.backend().policy_head()
    }

    /// Stores a certificate or revocation.
    pub fn put_document(
        &self,
        kind: DocKind,
        record: DocRecord,
    ) -> Result<audit::Entry, StoreError> {
        let body = serde_json::json!({ "hash": hex::encode(record.hash) });
        self.audited(record.stored_at, kind.audit_kind(), body, |a| {
            self.backend().put_document(kind, &record, a)
        })
    }

    /// A certificate or revocation by hash.
    pub fn document(
        &self,
        kind: DocKind,
        hash: &[u8; 32],
    ) -> Result<Option<DocRecord>, StoreError> {
        self.backend().document(kind, hash)
    }

    /// All certificates or revocations.
    pub fn documents(&self, kind: DocKind) -> Result<Vec<DocRecord>, StoreError> {
        self.backend().documents(kind)
    }

    /// `false` if `signer`'s `nonce` was seen and has not expired (a replay); records it
    /// otherwise (until `expires_at`).
    pub fn check_and_insert_nonce(
        &self,
        signer: &str,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.backend()
            .check_and_insert_nonce(signer, nonce, expires_at, now)
    }

    /// Whether `signer`'s `nonce` is recorded and unexpired at `now` (read only).
    pub fn nonce_seen(&self, signer: &str, nonce: &str, now: i64) -> Result<bool, StoreError> {
        self.backend().nonce_seen(signer, nonce, now)
    }

    /// Appends an audit entry (queries answered or refused).
    pub fn audit(
        &self,
        kind: audit::Kind,
        at: i64,
        body: serde_json::Value,
    ) -> Result<audit::Entry, StoreError> {
        self.audited(at, kind, body, |a| self.backend().append_audit(a))
    }

    /// Audit entries with `from <= seq < to`.
    pub fn audit_range(&self, from: u64, to: u64) -> Result<Vec<audit::Entry>, StoreError> {
        self.backend().audit_range(from, to)
    }

    /// The last audit entry.
    pub fn audit_head(&self) -> Result<Option<audit::Entry>, StoreError> {
        Ok(self
            .inner
            .audit_head
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .clone())
    }

    /// Verifies the whole stored audit log.
    pub fn verify_audit(&self) -> Result<Result<(), AuditError>, StoreError> {
        Ok(audit::verify(&self.audit_range(1, u64::MAX)?, None))
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;
    use regio_query::schema::{Field, FieldType};

    #[test]
    fn shared_scan_sees_every_append() {
        let store = Store::memory();
        let schema = Schema {
            dataset: "d".into(),
            fields: vec![Field::new("t", FieldType::Timestamp, false)],
            subject: None,
            time: Some("t".into()),
        };
        store.create_dataset(&schema).unwrap();
        store
            .append_rows("d", vec![vec![Value::Ts(10)], vec![Value::Ts(20)]])
            .unwrap();
        let rows = |from, to| {
            store
                .scan_shared("d", from, to)
                .unwrap()
                .iter()
                .map(|c| c.rows)
                .sum::<u32>()
        };
        assert_eq!(rows(None, None), 2);
        assert_eq!(rows(None, None), 2, "served from the cache");
        store.append_rows("d", vec![vec![Value::Ts(30)]]).unwrap();
        assert_eq!(rows(None, None), 3, "an append invalidates the cache");
        assert_eq!(rows(Some(25), None), 1, "time pruning still applies");
    }
}
