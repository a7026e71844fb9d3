//! The sled backend: one database per node directory, one tree per kind of data. Each
//! write is one sled transaction over the trees it touches (so a batch of chunks, or a
//! change and its audit entry, commit together or not at all), followed by `flush()`.
//!
//! Trees: `meta` (dataset schemas and counts, sequence counters), `chunks` (key: dataset,
//! lower time bound, chunk number — a time-range scan is a key-range scan), `consent`
//! (history by sequence number), `consent_subject` (subject index), `policy` (by version),
//! `certificates` / `revocations` / `charters` / `manifests` / `catalogs` (by hash), `nonces` + `nonce_expiry`, `audit` (by seq),
//! `queries` (signed queries by hash), `subject_queries` (subject, audit seq), `checkpoints` (by seq),
//! `ledger` (quota and budget counters by `ledger::Key::bytes`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

use super::codec::{self, be_u64, decode, encode};
use super::{
    AppendReceipt, Backend, DatasetInfo, DocKind, DocRecord, PolicyRecord, QueryRecord, StoreError,
};
use crate::audit;
use crate::consent;
use crate::ledger::{self, Counter, Reservation};
use regio_query::chunk::Chunk;
use regio_query::schema::Schema;

/// Storage in a sled database.
#[derive(Debug, Clone)]
pub struct SledBackend {
    db: sled::Db,
    meta: Tree,
    chunks: Tree,
    consent: Tree,
    consent_subject: Tree,
    policy: Tree,
    certificates: Tree,
    revocations: Tree,
    charters: Tree,
    manifests: Tree,
    catalogs: Tree,
    nonces: Tree,
    nonce_expiry: Tree,
    audit: Tree,
    queries: Tree,
    subject_queries: Tree,
    checkpoints: Tree,
    ledger: Tree,
    commits: Arc<GroupCommit>,
}

/// Group commit: writers that finished their transaction while another writer was
/// fsyncing share the next fsync instead of queueing one each.
#[derive(Debug, Default)]
struct GroupCommit {
    /// Number of transactions committed (to sled's buffers) so far.
    written: AtomicU64,
    /// Highest `written` value known durable; held while flushing.
    durable: Mutex<u64>,
}

/// A dataset's schema and counters, under `ds\0<name>` in `meta` (`codec::encode_dataset`).
struct DatasetMeta {
    schema: Schema,
    records: u64,
    chunks: u64,
    next_chunk: u64,
}

type Tx<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn engine(e: sled::Error) -> StoreError {
    StoreError::Engine(e.to_string())
}

fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => engine(e),
    }
}

fn abort<T>(e: StoreError) -> Tx<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn ds_key(name: &str) -> Vec<u8> {
    [b"ds\0".as_slice(), name.as_bytes()].concat()
}

const CONSENT_SEQ: &[u8] = b"consent_seq";
const AUDIT_HEAD: &[u8] = b"audit_head";

fn tx_counter(meta: &TransactionalTree, key: &[u8]) -> Tx<u64> {
    match meta.get(key)? {
        None => Ok(0),
        Some(v) => be_u64("counter", &v).or_else(abort),
    }
}

/// Appends `entry` to the audit tree inside a transaction, checking its sequence number.
fn tx_audit(
    meta: &TransactionalTree,
    tree: &TransactionalTree,
    entry: &audit::Entry,
    bytes: &[u8],
) -> Tx<()> {
    let expected = tx_counter(meta, AUDIT_HEAD)? + 1;
    if entry.seq != expected {
        return abort(StoreError::AuditConflict {
            expected,
            got: entry.seq,
        });
    }
    tree.insert(&entry.seq.to_be_bytes(), bytes)?;
    meta.insert(AUDIT_HEAD, &entry.seq.to_be_bytes())?;
    Ok(())
}

fn subject_prefix(subject: &str) -> Vec<u8> {
    [
        &(subject.len() as u32).to_be_bytes()[..],
        subject.as_bytes(),
    ]
    .concat()
}

impl SledBackend {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<SledBackend, StoreError> {
        // sled's flusher thread may still hold the directory lock for a moment after the
        // previous handle in this process was dropped: retry briefly before giving up.
        let mut attempts = 0;
        let db = loop {
            match sled::Config::new().path(dir).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock && attempts < 50 =>
                {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(engine(e)),
            }
        };
        let tree = |name: &str| db.open_tree(name).map_err(engine);
        Ok(SledBackend {
            meta: tree("meta")?,
            chunks: tree("chunks")?,
            consent: tree("consent")?,
            consent_subject: tree("consent_subject")?,
            policy: tree("policy")?,
            certificates: tree("certificates")?,
            revocations: tree("revocations")?,
            charters: tree("charters")?,
            manifests: tree("manifests")?,
            catalogs: tree("catalogs")?,
            nonces: tree("nonces")?,
            nonce_expiry: tree("nonce_expiry")?,
            audit: tree("audit")?,
            queries: tree("queries")?,
            subject_queries: tree("subject_queries")?,
            checkpoints: tree("checkpoints")?,
            ledger: tree("ledger")?,
            commits: Arc::default(),
            db,
        })
    }

    /// Makes the caller's committed transaction durable (and every one before it).
    fn flush(&self) -> Result<(), StoreError> {
        let mine = self.commits.written.fetch_add(1, Ordering::SeqCst) + 1;
        let mut durable = self
            .commits
            .durable
            .lock()
            .map_err(|_| StoreError::Poisoned)?;
        if *durable >= mine {
            return Ok(()); // another writer's fsync, started after our commit, covered it
        }
        let target = self.commits.written.load(Ordering::SeqCst);
        self.db.flush().map_err(engine)?;
        *durable = target;
        Ok(())
    }

    fn meta(&self, name: &str) -> Result<DatasetMeta, StoreError> {
        match self.meta.get(ds_key(name)).map_err(engine)? {
            Some(v) => decode_meta(&v),
            None => Err(StoreError::NoSuchDataset(name.into())),
        }
    }

    fn doc_tree(&self, kind: DocKind) -> &Tree {
        match kind {
            DocKind::Certificate => &self.certificates,
            DocKind::Revocation => &self.revocations,
            DocKind::Charter => &self.charters,
            DocKind::Manifest => &self.manifests,
            DocKind::Catalog => &self.catalogs,
        }
    }

    #[cfg(test)]
    pub(crate) fn raw_insert(&self, tree: &str, key: &[u8], value: &[u8]) {
        #[allow(clippy::unwrap_used)]
        self.db.open_tree(tree).unwrap().insert(key, value).unwrap();
    }
}

fn decode_meta(bytes: &[u8]) -> Result<DatasetMeta, StoreError> {
    let (schema, records, chunks, next_chunk) = codec::decode_dataset(bytes)?;
    Ok(DatasetMeta {
        schema,
        records,
        chunks,
        next_chunk,
    })
}

fn encode_meta(m: &DatasetMeta) -> Result<Vec<u8>, StoreError> {
    codec::encode_dataset(&m.schema, m.records, m.chunks, m.next_chunk)
}

fn info(m: DatasetMeta) -> DatasetInfo {
    DatasetInfo {
        schema: m.schema,
        records: m.records,
        chunks: m.chunks,
    }
}

impl Backend for SledBackend {
    fn create_dataset(&self, schema: &Schema) -> Result<(), StoreError> {
        schema.validate()?;
        let value = codec::encode_dataset(schema, 0, 0, 0)?;
        let key = ds_key(&schema.dataset);
        self.meta
            .transaction(|meta| {
                if meta.get(&key)?.is_some() {
                    return abort(StoreError::DatasetExists(schema.dataset.clone()));
                }
                meta.insert(key.as_slice(), value.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.flush()
    }

    fn datasets(&self) -> Result<Vec<DatasetInfo>, StoreError> {
        self.meta
            .scan_prefix(b"ds\0")
            .map(|kv| decode_meta(&kv.map_err(engine)?.1).map(info))
            .collect()
    }

    fn dataset(&self, name: &str) -> Result<DatasetInfo, StoreError> {
        self.meta(name).map(info)
    }

    fn append_chunks(&self, dataset: &str, chunks: &[Chunk]) -> Result<AppendReceipt, StoreError> {
        let fields = self.meta(dataset)?.schema.fields.len();
        if let Some(c) = chunks.iter().find(|c| c.columns.len() != fields) {
            return Err(StoreError::ChunkShape {
                dataset: dataset.into(),
                expected: fields,
                got: c.columns.len(),
            });
        }
        let encoded: Vec<(Option<i64>, Vec<u8>)> = chunks
            .iter()
            .map(|c| (c.time_bounds.map(|b| b.0), codec::encode_chunk(c)))
            .collect();
        let records: u64 = chunks.iter().map(|c| u64::from(c.rows)).sum();
        let key = ds_key(dataset);
        (&self.meta, &self.chunks)
            .transaction(|(meta, tree)| {
                let Some(v) = meta.get(&key)? else {
                    return abort(StoreError::NoSuchDataset(dataset.into()));
                };
                let mut m = decode_meta(&v).or_else(abort)?;
                for (lo, bytes) in &encoded {
                    tree.insert(
                        codec::chunk_key(dataset, *lo, m.next_chunk),
                        bytes.as_slice(),
                    )?;
                    m.next_chunk += 1;
                }
                m.chunks += encoded.len() as u64;
                m.records += records;
                meta.insert(key.as_slice(), encode_meta(&m).or_else(abort)?)?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.flush()?;
        Ok(AppendReceipt {
            chunks: chunks.len() as u64,
            records,
        })
    }

    fn scan(
        &self,
        dataset: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<Chunk>, StoreError> {
        self.meta(dataset)?;
        let mut out = Vec::new();
        for kv in self
            .chunks
            .range(codec::chunk_prefix(dataset)..codec::chunk_range_end(dataset, to))
        {
            if let Some(c) = codec::chunk_if_overlapping(&kv.map_err(engine)?.1, from, to)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn put_consents(
        &self,
        entries: &[consent::Entry],
        audit: &audit::Entry,
    ) -> Result<(), StoreError> {
        let encoded = entries
            .iter()
            .map(|e| Ok((subject_prefix(&e.subject), encode("consent", e)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let audit_bytes = codec::encode_audit(audit)?;
        (
            &self.meta,
            &self.consent,
            &self.consent_subject,
            &self.audit,
        )
            .transaction(|(meta, consent, by_subject, audit_tree)| {
                let mut seq = tx_counter(meta, CONSENT_SEQ)?;
                for (prefix, bytes) in &encoded {
                    seq += 1;
                    consent.insert(&seq.to_be_bytes(), bytes.as_slice())?;
                    by_subject.insert([prefix.as_slice(), &seq.to_be_bytes()].concat(), &[])?;
                }
                meta.insert(CONSENT_SEQ, &seq.to_be_bytes())?;
                tx_audit(meta, audit_tree, audit, &audit_bytes)
            })
            .map_err(tx_error)?;
        self.flush()
    }

    fn consent_log(&self) -> Result<Vec<consent::Entry>, StoreError> {
        self.consent
            .iter()
            .map(|kv| decode("consent", &kv.map_err(engine)?.1))
            .collect()
    }

    fn consent_history(&self, subject: &str) -> Result<Vec<consent::Entry>, StoreError> {
        let prefix = subject_prefix(subject);
        let mut out = Vec::new();
        for kv in self.consent_subject.scan_prefix(&prefix) {
            let (k, _) = kv.map_err(engine)?;
            let seq = k.get(prefix.len()..).unwrap_or_default();
            match self.consent.get(seq).map_err(engine)? {
                Some(v) => out.push(decode("consent", &v)?),
                None => {
                    return Err(StoreError::Corrupt {
                        what: "consent index",
                        detail: format!("dangling entry for `{subject}`"),
                    })
                }
            }
        }
        Ok(out)
    }

    fn put_policy(&self, record: &PolicyRecord, audit: &audit::Entry) -> Result<(), StoreError> {
        let value = encode("policy", record)?;
        let audit_bytes = codec::encode_audit(audit)?;
        let head = self.policy_head()?.map(|p| p.version);
        if head.map_or(record.version == 0, |h| record.version != h + 1) {
            return Err(StoreError::PolicyVersion {
                head,
                got: record.version,
            });
        }
        (&self.meta, &self.policy, &self.audit)
            .transaction(|(meta, policy, audit_tree)| {
                if policy.get(record.version.to_be_bytes())?.is_some() {
                    return abort(StoreError::PolicyVersion {
                        head,
                        got: record.version,
                    });
                }
                policy.insert(&record.version.to_be_bytes(), value.as_slice())?;
                tx_audit(meta, audit_tree, audit, &audit_bytes)
            })
            .map_err(tx_error)?;
        self.flush()
    }

    fn policies(&self) -> Result<Vec<PolicyRecord>, StoreError> {
        self.policy
            .iter()
            .map(|kv| decode("policy", &kv.map_err(engine)?.1))
            .collect()
    }

    fn policy_head(&self) -> Result<Option<PolicyRecord>, StoreError> {
        self.policy
            .last()
            .map_err(engine)?
            .map(|(_, v)| decode("policy", &v))
            .transpose()
    }

    fn put_document(
        &self,
        kind: DocKind,
        record: &DocRecord,
        audit: &audit::Entry,
    ) -> Result<(), StoreError> {
        let value = encode("document", record)?;
        let audit_bytes = codec::encode_audit(audit)?;
        (&self.meta, self.doc_tree(kind), &self.audit)
            .transaction(|(meta, docs, audit_tree)| {
                docs.insert(&record.hash, value.as_slice())?;
                tx_audit(meta, audit_tree, audit, &audit_bytes)
            })
            .map_err(tx_error)?;
        self.flush()
    }

    fn document(&self, kind: DocKind, hash: &[u8; 32]) -> Result<Option<DocRecord>, StoreError> {
        self.doc_tree(kind)
            .get(hash)
            .map_err(engine)?
            .map(|v| decode("document", &v))
            .transpose()
    }

    fn documents(&self, kind: DocKind) -> Result<Vec<DocRecord>, StoreError> {
        self.doc_tree(kind)
            .iter()
            .map(|kv| decode("document", &kv.map_err(engine)?.1))
            .collect()
    }

    fn check_and_insert_nonce(
        &self,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        // Prune: expiry-index entries up to `now`, then the nonces they name (if not renewed).
        let end = [&codec::sortable(now)[..], &[0xff]].concat();
        for kv in self.nonce_expiry.range(..end) {
            let (k, _) = kv.map_err(engine)?;
            let name = k.get(8..).unwrap_or_default();
            if let Some(v) = self.nonces.get(name).map_err(engine)? {
                if (be_u64("nonce", &v)? as i64) <= now {
                    self.nonces.remove(name).map_err(engine)?;
                }
            }
            self.nonce_expiry.remove(k).map_err(engine)?;
        }
        let fresh = (&self.nonces, &self.nonce_expiry)
            .transaction(|(nonces, expiry)| {
                if let Some(v) = nonces.get(nonce.as_bytes())? {
                    if (be_u64("nonce", &v).or_else(abort)? as i64) > now {
                        return Ok(false);
                    }
                }
                nonces.insert(nonce.as_bytes(), &(expires_at as u64).to_be_bytes())?;
                expiry.insert(
                    [&codec::sortable(expires_at)[..], nonce.as_bytes()].concat(),
                    &[],
                )?;
                Ok(true)
            })
            .map_err(tx_error)?;
        if fresh {
            self.flush()?;
        }
        Ok(fresh)
    }

    fn append_audit(&self, entry: &audit::Entry) -> Result<(), StoreError> {
        let bytes = codec::encode_audit(entry)?;
        (&self.meta, &self.audit)
            .transaction(|(meta, tree)| tx_audit(meta, tree, entry, &bytes))
            .map_err(tx_error)?;
        self.flush()
    }

    fn audit_range(&self, from: u64, to: u64) -> Result<Vec<audit::Entry>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        self.audit
            .range(from.to_be_bytes()..to.to_be_bytes())
            .map(|kv| codec::decode_audit(&kv.map_err(engine)?.1))
            .collect()
    }

    fn audit_head(&self) -> Result<Option<audit::Entry>, StoreError> {
        self.audit
            .last()
            .map_err(engine)?
            .map(|(_, v)| codec::decode_audit(&v))
            .transpose()
    }

    fn put_query_audit(
        &self,
        entry: &audit::Entry,
        query: &QueryRecord,
        subjects: &[String],
    ) -> Result<(), StoreError> {
        let audit_bytes = codec::encode_audit(entry)?;
        let value = encode("signed query", query)?;
        let keys: Vec<Vec<u8>> = subjects
            .iter()
            .map(|s| [subject_prefix(s).as_slice(), &entry.seq.to_be_bytes()].concat())
            .collect();
        (
            &self.meta,
            &self.audit,
            &self.queries,
            &self.subject_queries,
        )
            .transaction(|(meta, audit_tree, queries, by_subject)| {
                tx_audit(meta, audit_tree, entry, &audit_bytes)?;
                queries.insert(&query.hash, value.as_slice())?;
                for k in &keys {
                    by_subject.insert(k.as_slice(), &[])?;
                }
                Ok(())
            })
            .map_err(tx_error)?;
        self.flush()
    }

    fn signed_query(&self, hash: &[u8; 32]) -> Result<Option<QueryRecord>, StoreError> {
        self.queries
            .get(hash)
            .map_err(engine)?
            .map(|v| decode("signed query", &v))
            .transpose()
    }

    fn signed_queries(&self) -> Result<Vec<QueryRecord>, StoreError> {
        self.queries
            .iter()
            .map(|kv| decode("signed query", &kv.map_err(engine)?.1))
            .collect()
    }

    fn subject_queries(&self, subject: &str) -> Result<Vec<u64>, StoreError> {
        let prefix = subject_prefix(subject);
        self.subject_queries
            .scan_prefix(&prefix)
            .map(|kv| {
                be_u64(
                    "subject index",
                    kv.map_err(engine)?
                        .0
                        .get(prefix.len()..)
                        .unwrap_or_default(),
                )
            })
            .collect()
    }

    fn put_checkpoint(&self, seq: u64, raw: &[u8]) -> Result<(), StoreError> {
        self.checkpoints
            .insert(seq.to_be_bytes(), encode("checkpoint", &raw.to_vec())?)
            .map_err(engine)?;
        self.flush()
    }

    fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.checkpoints
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(engine)?;
                Ok((be_u64("checkpoint key", &k)?, decode("checkpoint", &v)?))
            })
            .collect()
    }

    fn reserve(&self, requests: &[ledger::Request]) -> Result<Reservation, StoreError> {
        const WHAT: &str = "ledger counter";
        let keys: Vec<Vec<u8>> = requests.iter().map(|r| r.key.bytes()).collect();
        // One serialisable transaction: racing reservations of one counter retry, so the
        // check and the add are atomic.
        let outcome = self
            .ledger
            .transaction(|tree| {
                let mut current = Vec::with_capacity(keys.len());
                for k in &keys {
                    current.push(match tree.get(k)? {
                        None => 0,
                        Some(v) => decode::<Counter>(WHAT, &v).or_else(abort)?.spent,
                    });
                }
                let granted = match ledger::apply(requests, &current) {
                    Ok(g) => g,
                    Err(refused) => return Ok(refused),
                };
                let mut totals = Vec::with_capacity(granted.len());
                for (t, c) in granted {
                    tree.insert(c.key.bytes(), encode(WHAT, &c).or_else(abort)?)?;
                    totals.push(t);
                }
                Ok(Reservation::Granted(totals))
            })
            .map_err(tx_error)?;
        if matches!(outcome, Reservation::Granted(_)) {
            self.flush()?;
        }
        Ok(outcome)
    }

    fn spent(&self, key: &ledger::Key) -> Result<u64, StoreError> {
        Ok(match self.ledger.get(key.bytes()).map_err(engine)? {
            None => 0,
            Some(v) => decode::<Counter>("ledger counter", &v)?.spent,
        })
    }

    fn ledger(&self) -> Result<Vec<Counter>, StoreError> {
        self.ledger
            .iter()
            .map(|kv| decode("ledger counter", &kv.map_err(engine)?.1))
            .collect()
    }

    fn prune_ledger(&self, kind: ledger::Kind, before: i64) -> Result<u64, StoreError> {
        let mut removed = 0;
        for c in self.ledger()? {
            if c.key.kind == kind && c.key.window < before {
                self.ledger.remove(c.key.bytes()).map_err(engine)?;
                removed += 1;
            }
        }
        if removed > 0 {
            self.flush()?;
        }
        Ok(removed)
    }
}
