//! The in-memory backend: the same semantics as sled, nothing survives the process. Used
//! by tests and demos. Chunks are kept encoded under the same keys as in sled, so scans
//! prune and decode exactly as they do on disk; all state sits behind one mutex, so each
//! write is trivially atomic (checks first, then the change).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::codec;
use super::{
    AppendReceipt, Backend, DatasetInfo, DocKind, DocRecord, PolicyRecord, QueryRecord, StoreError,
};
use crate::audit;
use crate::consent;
use crate::ledger::{self, Counter, Reservation};
use regio_query::chunk::Chunk;
use regio_query::schema::Schema;

#[derive(Default)]
struct State {
    datasets: BTreeMap<String, (DatasetInfo, u64)>,
    chunks: BTreeMap<Vec<u8>, Vec<u8>>,
    consent: Vec<consent::Entry>,
    policy: BTreeMap<u64, PolicyRecord>,
    certificates: BTreeMap<[u8; 32], DocRecord>,
    revocations: BTreeMap<[u8; 32], DocRecord>,
    charters: BTreeMap<[u8; 32], DocRecord>,
    manifests: BTreeMap<[u8; 32], DocRecord>,
    catalogs: BTreeMap<[u8; 32], DocRecord>,
    nonces: HashMap<String, i64>,
    audit: Vec<audit::Entry>,
    queries: BTreeMap<[u8; 32], QueryRecord>,
    subject_queries: BTreeMap<(String, u64), ()>,
    checkpoints: BTreeMap<u64, Vec<u8>>,
    ledger: HashMap<ledger::Key, Counter>,
}

impl State {
    fn check_audit(&self, entry: &audit::Entry) -> Result<(), StoreError> {
        let expected = self.audit.last().map_or(1, |e| e.seq + 1);
        if entry.seq == expected {
            Ok(())
        } else {
            Err(StoreError::AuditConflict {
                expected,
                got: entry.seq,
            })
        }
    }

    fn docs(&mut self, kind: DocKind) -> &mut BTreeMap<[u8; 32], DocRecord> {
        match kind {
            DocKind::Certificate => &mut self.certificates,
            DocKind::Revocation => &mut self.revocations,
            DocKind::Charter => &mut self.charters,
            DocKind::Manifest => &mut self.manifests,
            DocKind::Catalog => &mut self.catalogs,
        }
    }
}

/// Storage in memory.
#[derive(Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state.lock().map_err(|_| StoreError::Poisoned)
    }
}

impl Backend for MemoryBackend {
    fn create_dataset(&self, schema: &Schema) -> Result<(), StoreError> {
        schema.validate()?;
        let mut s = self.lock()?;
        if s.datasets.contains_key(&schema.dataset) {
            return Err(StoreError::DatasetExists(schema.dataset.clone()));
        }
        s.datasets.insert(
            schema.dataset.clone(),
            (
                DatasetInfo {
                    schema: schema.clone(),
                    records: 0,
                    chunks: 0,
                },
                0,
            ),
        );
        Ok(())
    }

    fn datasets(&self) -> Result<Vec<DatasetInfo>, StoreError> {
        Ok(self
            .lock()?
            .datasets
            .values()
            .map(|(i, _)| i.clone())
            .collect())
    }

    fn dataset(&self, name: &str) -> Result<DatasetInfo, StoreError> {
        self.lock()?
            .datasets
            .get(name)
            .map(|(i, _)| i.clone())
            .ok_or_else(|| StoreError::NoSuchDataset(name.into()))
    }

    fn append_chunks(&self, dataset: &str, chunks: &[Chunk]) -> Result<AppendReceipt, StoreError> {
        let mut s = self.lock()?;
        let Some((info, next)) = s.datasets.get(dataset) else {
            return Err(StoreError::NoSuchDataset(dataset.into()));
        };
        let fields = info.schema.fields.len();
        if let Some(c) = chunks.iter().find(|c| c.columns.len() != fields) {
            return Err(StoreError::ChunkShape {
                dataset: dataset.into(),
                expected: fields,
                got: c.columns.len(),
            });
        }
        let mut next = *next;
        let mut records = 0;
        for c in chunks {
            s.chunks.insert(
                codec::chunk_key(dataset, c.time_bounds.map(|b| b.0), next),
                codec::encode_chunk(c),
            );
            next += 1;
            records += u64::from(c.rows);
        }
        if let Some((info, n)) = s.datasets.get_mut(dataset) {
            info.records += records;
            info.chunks += chunks.len() as u64;
            *n = next;
        }
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
        let s = self.lock()?;
        if !s.datasets.contains_key(dataset) {
            return Err(StoreError::NoSuchDataset(dataset.into()));
        }
        let mut out = Vec::new();
        for bytes in s
            .chunks
            .range(codec::chunk_prefix(dataset)..codec::chunk_range_end(dataset, to))
            .map(|(_, v)| v)
        {
            if let Some(c) = codec::chunk_if_overlapping(bytes, from, to)? {
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
        let mut s = self.lock()?;
        s.check_audit(audit)?;
        s.consent.extend_from_slice(entries);
        s.audit.push(audit.clone());
        Ok(())
    }

    fn consent_log(&self) -> Result<Vec<consent::Entry>, StoreError> {
        Ok(self.lock()?.consent.clone())
    }

    fn consent_history(&self, subject: &str) -> Result<Vec<consent::Entry>, StoreError> {
        Ok(self
            .lock()?
            .consent
            .iter()
            .filter(|e| e.subject == subject)
            .cloned()
            .collect())
    }

    fn put_policy(&self, record: &PolicyRecord, audit: &audit::Entry) -> Result<(), StoreError> {
        let mut s = self.lock()?;
        let head = s.policy.keys().next_back().copied();
        if head.map_or(record.version == 0, |h| record.version != h + 1) {
            return Err(StoreError::PolicyVersion {
                head,
                got: record.version,
            });
        }
        s.check_audit(audit)?;
        s.policy.insert(record.version, record.clone());
        s.audit.push(audit.clone());
        Ok(())
    }

    fn policies(&self) -> Result<Vec<PolicyRecord>, StoreError> {
        Ok(self.lock()?.policy.values().cloned().collect())
    }

    fn policy_head(&self) -> Result<Option<PolicyRecord>, StoreError> {
        Ok(self.lock()?.policy.values().next_back().cloned())
    }

    fn put_document(
        &self,
        kind: DocKind,
        record: &DocRecord,
        audit: &audit::Entry,
    ) -> Result<(), StoreError> {
        let mut s = self.lock()?;
        s.check_audit(audit)?;
        s.docs(kind).insert(record.hash, record.clone());
        s.audit.push(audit.clone());
        Ok(())
    }

    fn document(&self, kind: DocKind, hash: &[u8; 32]) -> Result<Option<DocRecord>, StoreError> {
        Ok(self.lock()?.docs(kind).get(hash).cloned())
    }

    fn documents(&self, kind: DocKind) -> Result<Vec<DocRecord>, StoreError> {
        Ok(self.lock()?.docs(kind).values().cloned().collect())
    }

    fn check_and_insert_nonce(
        &self,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock()?;
        s.nonces.retain(|_, exp| *exp > now);
        if s.nonces.contains_key(nonce) {
            return Ok(false);
        }
        s.nonces.insert(nonce.to_string(), expires_at);
        Ok(true)
    }

    fn append_audit(&self, entry: &audit::Entry) -> Result<(), StoreError> {
        let mut s = self.lock()?;
        s.check_audit(entry)?;
        s.audit.push(entry.clone());
        Ok(())
    }

    fn audit_range(&self, from: u64, to: u64) -> Result<Vec<audit::Entry>, StoreError> {
        Ok(self
            .lock()?
            .audit
            .iter()
            .filter(|e| e.seq >= from && e.seq < to)
            .cloned()
            .collect())
    }

    fn audit_head(&self) -> Result<Option<audit::Entry>, StoreError> {
        Ok(self.lock()?.audit.last().cloned())
    }

    fn put_query_audit(
        &self,
        entry: &audit::Entry,
        query: &QueryRecord,
        subjects: &[String],
    ) -> Result<(), StoreError> {
        let mut s = self.lock()?;
        s.check_audit(entry)?;
        s.audit.push(entry.clone());
        s.queries.insert(query.hash, query.clone());
        for subject in subjects {
            s.subject_queries.insert((subject.clone(), entry.seq), ());
        }
        Ok(())
    }

    fn signed_query(&self, hash: &[u8; 32]) -> Result<Option<QueryRecord>, StoreError> {
        Ok(self.lock()?.queries.get(hash).cloned())
    }

    fn signed_queries(&self) -> Result<Vec<QueryRecord>, StoreError> {
        Ok(self.lock()?.queries.values().cloned().collect())
    }

    fn subject_queries(&self, subject: &str) -> Result<Vec<u64>, StoreError> {
        let s = self.lock()?;
        let start = (subject.to_string(), 0);
        Ok(s.subject_queries
            .range(start..)
            .take_while(|((sub, _), _)| sub == subject)
            .map(|((_, seq), _)| *seq)
            .collect())
    }

    fn put_checkpoint(&self, seq: u64, raw: &[u8]) -> Result<(), StoreError> {
        self.lock()?.checkpoints.insert(seq, raw.to_vec());
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Ok(self
            .lock()?
            .checkpoints
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect())
    }

    fn reserve(&self, requests: &[ledger::Request]) -> Result<Reservation, StoreError> {
        let mut s = self.lock()?;
        let current: Vec<u64> = requests
            .iter()
            .map(|r| s.ledger.get(&r.key).map_or(0, |c| c.spent))
            .collect();
        let granted = match ledger::apply(requests, &current) {
            Ok(g) => g,
            Err(refused) => return Ok(refused),
        };
        let mut totals = Vec::with_capacity(granted.len());
        for (t, c) in granted {
            totals.push(t);
            s.ledger.insert(c.key.clone(), c);
        }
        Ok(Reservation::Granted(totals))
    }

    fn spent(&self, key: &ledger::Key) -> Result<u64, StoreError> {
        Ok(self.lock()?.ledger.get(key).map_or(0, |c| c.spent))
    }

    fn ledger(&self) -> Result<Vec<Counter>, StoreError> {
        let mut all: Vec<Counter> = self.lock()?.ledger.values().cloned().collect();
        all.sort_by_cached_key(|c| c.key.bytes());
        Ok(all)
    }

    fn prune_ledger(&self, kind: ledger::Kind, before: i64) -> Result<u64, StoreError> {
        let mut s = self.lock()?;
        let n = s.ledger.len();
        s.ledger.retain(|k, _| k.kind != kind || k.window >= before);
        Ok((n - s.ledger.len()) as u64)
    }
}
