//! A member whose store refuses a write cannot answer a federated query: it refuses it with
//! `node.error` and the cause, the coordinator states that in the member's provenance line,
//! and the coordinator's log names the member (its DID) and the cause.
//!
//! Three real nodes in one process over libp2p on loopback (the demo cluster, as in
//! `federation.rs`). Brugge's store is the in-memory backend behind [`FailingAudit`], which
//! refuses the audit append of a query's answer while its switch is on — the write every
//! answer ends with, so the answer cannot be made. Logs of the whole test binary go to one
//! buffer through a global `tracing` subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Utc;
use regio_demo::cluster::LiveRegion;
use regio_demo::region::{self, Actors};
use regio_node::federation::{Provenance, Status};
use regio_query::chunk::Chunk;
use regio_query::schema::Schema;
use regio_store::audit;
use regio_store::consent;
use regio_store::ledger;
use regio_store::{
    AppendReceipt, Backend, DatasetInfo, DocKind, DocRecord, MemoryBackend, PolicyRecord,
    QueryRecord, Store, StoreError,
};

/// What the failing store answers.
const CAUSE: &str = "disk full (injected by peer_failure.rs)";

/// The in-memory backend, except that [`Backend::put_query_audit`] fails while `fail` is on.
struct FailingAudit {
    inner: MemoryBackend,
    fail: Arc<AtomicBool>,
}

impl Backend for FailingAudit {
    fn create_dataset(&self, schema: &Schema) -> Result<(), StoreError> {
        self.inner.create_dataset(schema)
    }
    fn datasets(&self) -> Result<Vec<DatasetInfo>, StoreError> {
        self.inner.datasets()
    }
    fn dataset(&self, name: &str) -> Result<DatasetInfo, StoreError> {
        self.inner.dataset(name)
    }
    fn append_chunks(&self, dataset: &str, chunks: &[Chunk]) -> Result<AppendReceipt, StoreError> {
        self.inner.append_chunks(dataset, chunks)
    }
    fn scan(
        &self,
        dataset: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<Chunk>, StoreError> {
        self.inner.scan(dataset, from, to)
    }
    fn put_consents(
        &self,
        entries: &[consent::Entry],
        audit: &audit::Entry,
    ) -> Result<(), StoreError> {
        self.inner.put_consents(entries, audit)
    }
    fn consent_log(&self) -> Result<Vec<consent::Entry>, StoreError> {
        self.inner.consent_log()
    }
    fn consent_history(&self, subject: &str) -> Result<Vec<consent::Entry>, StoreError> {
        self.inner.consent_history(subject)
    }
    fn put_policy(&self, record: &PolicyRecord, audit: &audit::Entry) -> Result<(), StoreError> {
        self.inner.put_policy(record, audit)
    }
    fn policies(&self) -> Result<Vec<PolicyRecord>, StoreError> {
        self.inner.policies()
    }
    fn policy_head(&self) -> Result<Option<PolicyRecord>, StoreError> {
        self.inner.policy_head()
    }
    fn put_document(
        &self,
        kind: DocKind,
        record: &DocRecord,
        audit: &audit::Entry,
    ) -> Result<(), StoreError> {
        self.inner.put_document(kind, record, audit)
    }
    fn document(&self, kind: DocKind, hash: &[u8; 32]) -> Result<Option<DocRecord>, StoreError> {
        self.inner.document(kind, hash)
    }
    fn documents(&self, kind: DocKind) -> Result<Vec<DocRecord>, StoreError> {
        self.inner.documents(kind)
    }
    fn check_and_insert_nonce(
        &self,
        signer: &str,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .check_and_insert_nonce(signer, nonce, expires_at, now)
    }
    fn nonce_seen(&self, signer: &str, nonce: &str, now: i64) -> Result<bool, StoreError> {
        self.inner.nonce_seen(signer, nonce, now)
    }
    fn append_audit(&self, entry: &audit::Entry) -> Result<(), StoreError> {
        self.inner.append_audit(entry)
    }
    fn audit_range(&self, from: u64, to: u64) -> Result<Vec<audit::Entry>, StoreError> {
        self.inner.audit_range(from, to)
    }
    fn audit_head(&self) -> Result<Option<audit::Entry>, StoreError> {
        self.inner.audit_head()
    }
    fn put_query_audit(
        &self,
        entry: &audit::Entry,
        query: &QueryRecord,
        subjects: &[String],
    ) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Engine(CAUSE.into()));
        }
        self.inner.put_query_audit(entry, query, subjects)
    }
    fn signed_query(&self, hash: &[u8; 32]) -> Result<Option<QueryRecord>, StoreError> {
        self.inner.signed_query(hash)
    }
    fn signed_queries(&self) -> Result<Vec<QueryRecord>, StoreError> {
        self.inner.signed_queries()
    }
    fn subject_queries(&self, subject: &str) -> Result<Vec<u64>, StoreError> {
        self.inner.subject_queries(subject)
    }
    fn put_checkpoint(&self, seq: u64, raw: &[u8]) -> Result<(), StoreError> {
        self.inner.put_checkpoint(seq, raw)
    }
    fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.inner.checkpoints()
    }
    fn reserve(&self, requests: &[ledger::Request]) -> Result<ledger::Reservation, StoreError> {
        self.inner.reserve(requests)
    }
    fn spent(&self, key: &ledger::Key) -> Result<u64, StoreError> {
        self.inner.spent(key)
    }
    fn ledger(&self) -> Result<Vec<ledger::Counter>, StoreError> {
        self.inner.ledger()
    }
    fn prune_ledger(&self, kind: ledger::Kind, before: i64) -> Result<u64, StoreError> {
        self.inner.prune_ledger(kind, before)
    }
}

/// Every log line of this test binary, as the node's own subscriber would print it.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    /// Installs the global subscriber once (the node's default filter) and returns the buffer.
    fn capture() -> Logs {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            tracing_subscriber::fmt()
                .with_writer(logs.clone())
                .with_ansi(false)
                .with_env_filter(regio_node::telemetry::log_filter(None).unwrap())
                .init();
            logs
        })
        .clone()
    }

    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_store_fails_is_named_with_the_cause_in_the_coordinators_log() {
    let logs = Logs::capture();
    let fail = Arc::new(AtomicBool::new(false));
    let failing = FailingAudit {
        inner: MemoryBackend::new(),
        fail: fail.clone(),
    };
    let stores = vec![
        Store::memory(),
        Store::memory(),
        Store::open(failing).unwrap(),
    ];
    let live = LiveRegion::start(Actors::new(3), stores, 2, 10, Utc::now())
        .await
        .unwrap();
    let (coordinator, brugge) = (&live.nodes[0], &live.nodes[2]);
    let ask = || async {
        let q = region::query(
            &live.actors.app,
            coordinator.engine.did(),
            "ResearchAndDevelopment",
            "SELECT count(*) AS n FROM readings",
            Some(live.docs.certificate.hash()),
            Utc::now(),
        )
        .unwrap();
        coordinator
            .coordinate(q, Duration::from_secs(10))
            .await
            .unwrap()
    };

    // Brugge's store refuses the audit append that ends every answer.
    fail.store(true, Ordering::SeqCst);
    let r = ask().await;
    assert_eq!(r.coverage, (2, 3), "{:#?}", r.provenance);
    assert_eq!(r.answers.len(), 2, "only the two signed answers");
    let expected_message = format!("storage engine: {CAUSE}");
    assert_eq!(
        r.provenance[2],
        Provenance {
            member: brugge.engine.did().clone(),
            name: "Brugge".into(),
            nis: "31005".into(),
            status: Status::Refused {
                reason: "node.error".into(),
                message: expected_message.clone(),
            },
            policy_version: None,
            rows_scanned: 0,
            rows_excluded_by_consent: 0,
            groups_suppressed: 0,
            answer: None,
        }
    );
    assert!(r.provenance[..2]
        .iter()
        .all(|p| p.status == Status::Answered));
    // What the API and `regio query --json` show for that member.
    let json = serde_json::to_value(&r.provenance[2]).unwrap();
    assert_eq!(json["status"], "refused");
    assert_eq!(json["reason"], "node.error");
    assert_eq!(json["message"], expected_message.as_str());

    // The coordinator's log names the member by its DID, and the cause.
    let peer = format!("peer={}", brugge.engine.did());
    let lines = logs.lines();
    let line = lines
        .iter()
        .find(|l| l.contains("member failed to answer the query") && l.contains(&peer))
        .unwrap_or_else(|| panic!("no such line in the log:\n{}", lines.join("\n")));
    println!("coordinator's log line: {line}");
    assert!(line.contains(" WARN "), "{line}");
    assert!(
        line.contains(&format!("node.did=\"{}\"", coordinator.engine.did())),
        "logged inside the coordinator's span: {line}"
    );
    assert!(line.contains("member=Brugge"), "{line}");
    assert!(line.contains("reason=node.error"), "{line}");
    assert!(
        line.contains(&format!("error={expected_message}")),
        "{line}"
    );
    assert!(line.contains(&format!("query={}", r.query)), "{line}");
    // And Brugge's own log says what it could not do, and for whom.
    let requester = format!("peer={}", coordinator.engine.did());
    assert!(
        lines.iter().any(|l| l.contains(" ERROR ")
            && l.contains("could not answer a peer's query")
            && l.contains(&requester)
            && l.contains(CAUSE)),
        "{}",
        lines.join("\n")
    );

    // Once the store writes again, Brugge answers.
    fail.store(false, Ordering::SeqCst);
    let r = ask().await;
    assert_eq!(r.coverage, (3, 3), "{:#?}", r.provenance);
    live.stop().await;
}
