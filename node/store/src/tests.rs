//! The one test suite every backend must pass, run against memory and sled through the
//! [`Store`] handle (`suite!` below), plus sled-only tests (reopen, stored versions).

use serde_json::json;
use tempfile::TempDir;

use super::*;

mod ledger;
use self::ledger::*;
use crate::audit::{AuditError, Fault, Kind};
use crate::consent::Entry;
use crate::ingest::{self, Mode};
use regio_query::schema::{Field, FieldType, Value};

fn schema(name: &str) -> Schema {
    Schema {
        dataset: name.into(),
        fields: vec![
            Field::new("subject", FieldType::String, true),
            Field::new("observed_at", FieldType::Timestamp, false),
            Field::new("no2", FieldType::Float, true),
        ],
        subject: Some("subject".into()),
        time: Some("observed_at".into()),
    }
}

fn rows(times: impl Iterator<Item = i64>) -> Vec<Vec<Value>> {
    times
        .map(|t| {
            vec![
                Value::Str(format!("s{}", t % 7)),
                Value::Ts(t),
                Value::Float(t as f64),
            ]
        })
        .collect()
}

fn consent(
    id: &str,
    subject: &str,
    datasets: &[&str],
    purpose: &str,
    given_at: i64,
    withdrawn_at: Option<i64>,
) -> Entry {
    Entry {
        id: id.into(),
        subject: subject.into(),
        datasets: datasets.iter().map(|d| d.to_string()).collect(),
        purposes: vec![purpose.into()],
        given: true,
        given_at,
        withdrawn_at,
        channel: "desk".into(),
        raw: Some(b"{\"signed\":true}".to_vec()),
    }
}

fn datasets_are_created_listed_and_refused(store: &Store) {
    store.create_dataset(&schema("readings")).unwrap();
    store.create_dataset(&schema("air")).unwrap();
    assert!(
        matches!(store.create_dataset(&schema("readings")), Err(StoreError::DatasetExists(n)) if n == "readings")
    );
    assert!(matches!(
        store.create_dataset(&schema("Bad")),
        Err(StoreError::InvalidSchema(_))
    ));
    let names: Vec<_> = store
        .datasets()
        .unwrap()
        .into_iter()
        .map(|d| (d.schema.dataset, d.records))
        .collect();
    assert_eq!(
        names,
        vec![("air".to_string(), 0), ("readings".to_string(), 0)]
    );
    assert_eq!(
        store.dataset("readings").unwrap().schema,
        schema("readings")
    );
    assert!(matches!(store.dataset("nope"), Err(StoreError::NoSuchDataset(n)) if n == "nope"));
    assert!(matches!(
        store.scan("nope", None, None),
        Err(StoreError::NoSuchDataset(_))
    ));
}

fn append_is_all_or_nothing(store: &Store) {
    store.create_dataset(&schema("readings")).unwrap();
    let good = ingest::into_chunks(&schema("readings"), rows(0..10)).unwrap();
    let other = Schema {
        fields: schema("readings").fields[..2].to_vec(),
        subject: None,
        ..schema("readings")
    };
    let bad = ingest::into_chunks(&other, vec![vec![Value::Null, Value::Ts(1)]]).unwrap();
    let batch = [good[0].clone(), bad[0].clone()];
    assert!(matches!(
        store.append_chunks("readings", &batch),
        Err(StoreError::ChunkShape {
            expected: 3,
            got: 2,
            ..
        })
    ));
    assert_eq!(store.dataset("readings").unwrap().records, 0);
    assert!(store.scan("readings", None, None).unwrap().is_empty());

    // A parse error in the middle of a batch: the store is never asked to write.
    let text = b"{\"observed_at\":\"2024-01-01T00:00:00Z\"}\n{\"observed_at\":\"yesterday\"}\n{\"observed_at\":\"2024-01-02T00:00:00Z\"}\n";
    assert!(ingest::parse_ndjson(&schema("readings"), text, Mode::AllOrNothing).is_err());
    assert_eq!(store.dataset("readings").unwrap().records, 0);

    let receipt = store.append_rows("readings", rows(0..10_000)).unwrap();
    assert_eq!(
        receipt,
        AppendReceipt {
            chunks: 3,
            records: 10_000
        }
    );
    let info = store.dataset("readings").unwrap();
    assert_eq!((info.records, info.chunks), (10_000, 3));
}

fn scan_prunes_by_time(store: &Store) {
    store.create_dataset(&schema("readings")).unwrap();
    // Out of order on input: ingest sorts by time before cutting chunks.
    store
        .append_rows("readings", rows((0..10_000).rev()))
        .unwrap();
    let bounds = |from, to| {
        store
            .scan("readings", from, to)
            .unwrap()
            .iter()
            .map(|c| c.time_bounds)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        bounds(None, None),
        vec![Some((0, 4095)), Some((4096, 8191)), Some((8192, 9999))]
    );
    assert_eq!(bounds(Some(5000), Some(6000)), vec![Some((4096, 8191))]);
    assert_eq!(bounds(None, Some(4096)), vec![Some((0, 4095))]);
    assert_eq!(
        bounds(Some(8191), None),
        vec![Some((4096, 8191)), Some((8192, 9999))]
    );
    assert_eq!(bounds(Some(10_000), None), vec![]);
    let all = store.scan("readings", None, None).unwrap();
    assert_eq!(all.iter().map(|c| c.rows).sum::<u32>(), 10_000);
    assert_eq!(all[0].columns[1].get(17), Value::Ts(17));
}

fn datasets_without_time_are_always_scanned(store: &Store) {
    let untimed = Schema {
        time: None,
        ..schema("untimed")
    };
    store.create_dataset(&untimed).unwrap();
    store.create_dataset(&schema("readings")).unwrap();
    store.append_rows("untimed", rows(0..5000)).unwrap();
    store.append_rows("readings", rows(0..10)).unwrap();
    let got = store
        .scan("untimed", Some(1_000_000), Some(2_000_000))
        .unwrap();
    assert_eq!(
        got.iter()
            .map(|c| (c.rows, c.time_bounds))
            .collect::<Vec<_>>(),
        vec![(4096, None), (904, None)]
    );
    // Datasets do not see each other's chunks (names are key prefixes).
    assert_eq!(store.scan("readings", None, None).unwrap().len(), 1);
}

fn consent_is_stored_indexed_and_audited(store: &Store) {
    let research = vec!["Research".to_string()];
    let a = store
        .put_consents(
            vec![
                consent("1", "past", &["readings"], "Research", 10, Some(50)),
                consent("2", "future", &["readings"], "Research", 10, Some(500)),
                consent("3", "marketing", &["readings"], "Marketing", 10, None),
                consent("4", "traffic", &["traffic"], "Research", 10, None),
                consent("5", "all", &[], "Research", 10, None),
            ],
            1_000,
        )
        .unwrap();
    assert_eq!(
        (a.seq, a.kind, a.body.clone()),
        (
            1,
            Kind::ConsentChanged,
            json!({ "ids": ["1", "2", "3", "4", "5"] })
        )
    );
    let view = store.consent_view("readings", &research, 100).unwrap();
    assert_eq!(view.len(), 2);
    assert!(view.allows("future") && view.allows("all"));
    assert!(!view.allows("past") && !view.allows("marketing") && !view.allows("traffic"));

    // Withdrawal: the next view no longer has the subject; history keeps both.
    store
        .put_consents(
            vec![consent("5", "all", &[], "Research", 10, Some(90))],
            2_000,
        )
        .unwrap();
    assert!(!store
        .consent_view("readings", &research, 100)
        .unwrap()
        .allows("all"));
    let history = store.consent_history("all").unwrap();
    assert_eq!(
        history.iter().map(|e| e.withdrawn_at).collect::<Vec<_>>(),
        vec![None, Some(90)]
    );
    assert_eq!(
        history[0].raw.as_deref(),
        Some(b"{\"signed\":true}".as_slice())
    );
    let current = store.consent("5").unwrap().unwrap();
    assert_eq!((current.withdrawn_at, current.raw), (Some(90), None));
    assert!(store.consent_history("nobody").unwrap().is_empty());
    assert_eq!(store.audit_head().unwrap().map(|e| e.seq), Some(2));
}

fn policy_chain_is_ordered(store: &Store) {
    let rec = |v: u64| PolicyRecord {
        version: v,
        hash: [v as u8; 32],
        raw: format!("{{\"v\":{v}}}").into_bytes(),
    };
    assert!(matches!(
        store.publish_policy(rec(0), 1),
        Err(StoreError::PolicyVersion { head: None, got: 0 })
    ));
    store.publish_policy(rec(1), 1).unwrap();
    let e = store.publish_policy(rec(2), 2).unwrap();
    assert_eq!(
        e.body,
        json!({ "version": 2, "hash": hex::encode([2u8; 32]) })
    );
    assert!(matches!(
        store.publish_policy(rec(2), 3),
        Err(StoreError::PolicyVersion {
            head: Some(2),
            got: 2
        })
    ));
    assert!(matches!(
        store.publish_policy(rec(4), 3),
        Err(StoreError::PolicyVersion {
            head: Some(2),
            got: 4
        })
    ));
    assert_eq!(store.policies().unwrap(), vec![rec(1), rec(2)]);
    assert_eq!(store.policy_head().unwrap(), Some(rec(2)));
    // Refused publishes left no audit entry.
    assert_eq!(store.audit_head().unwrap().map(|e| e.seq), Some(2));
}

fn documents_by_hash(store: &Store) {
    let doc = |h: u8| DocRecord {
        hash: [h; 32],
        raw: vec![h],
        stored_at: i64::from(h),
    };
    store.put_document(DocKind::Certificate, doc(2)).unwrap();
    store.put_document(DocKind::Certificate, doc(1)).unwrap();
    let r = store.put_document(DocKind::Revocation, doc(3)).unwrap();
    assert_eq!(r.kind, Kind::RevocationStored);
    assert_eq!(
        store.document(DocKind::Certificate, &[1; 32]).unwrap(),
        Some(doc(1))
    );
    assert_eq!(store.document(DocKind::Revocation, &[1; 32]).unwrap(), None);
    assert_eq!(
        store.documents(DocKind::Certificate).unwrap(),
        vec![doc(1), doc(2)]
    );
    assert_eq!(store.documents(DocKind::Revocation).unwrap(), vec![doc(3)]);
    let kinds: Vec<Kind> = store
        .audit_range(1, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            Kind::CertificateStored,
            Kind::CertificateStored,
            Kind::RevocationStored
        ]
    );
}

fn nonce_replay_is_detected(store: &Store) {
    let x = "did:key:x";
    assert!(store.check_and_insert_nonce(x, "n1", 100, 0).unwrap());
    assert!(store.nonce_seen(x, "n1", 50).unwrap());
    assert!(!store.check_and_insert_nonce(x, "n1", 200, 50).unwrap());
    assert!(store.check_and_insert_nonce(x, "n2", 100, 50).unwrap());
    // Expired at 100: pruned, so the nonce is accepted again.
    assert!(!store.nonce_seen(x, "n1", 100).unwrap());
    assert!(store.check_and_insert_nonce(x, "n1", 300, 100).unwrap());
    assert!(!store.check_and_insert_nonce(x, "n1", 300, 299).unwrap());
    assert!(store.check_and_insert_nonce(x, "n2", 400, 299).unwrap());
}

fn nonces_are_per_signer(store: &Store) {
    // Application Y's nonce equal to application X's is not X's replay.
    assert!(store
        .check_and_insert_nonce("did:key:x", "n", 100, 0)
        .unwrap());
    assert!(!store.nonce_seen("did:key:y", "n", 1).unwrap());
    assert!(store
        .check_and_insert_nonce("did:key:y", "n", 100, 1)
        .unwrap());
    assert!(!store
        .check_and_insert_nonce("did:key:y", "n", 100, 2)
        .unwrap());
    // The key separates signer and nonce: ("ab", "c") is not ("a", "bc").
    assert!(store.check_and_insert_nonce("ab", "c", 100, 3).unwrap());
    assert!(store.check_and_insert_nonce("a", "bc", 100, 3).unwrap());
}

fn audit_chain_appends_and_verifies(store: &Store) {
    for i in 0..5 {
        store
            .audit(Kind::QueryAnswered, 100 + i, json!({ "query": i }))
            .unwrap();
    }
    store
        .audit(
            Kind::QueryRefused,
            200,
            json!({ "reason": "no_certificate" }),
        )
        .unwrap();
    let all = store.audit_range(1, u64::MAX).unwrap();
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(store.audit_range(2, 4).unwrap(), all[1..3].to_vec());
    assert_eq!(store.audit_head().unwrap().as_ref(), all.last());
    assert_eq!(store.backend().audit_head().unwrap().as_ref(), all.last());
    assert_eq!(store.verify_audit().unwrap(), Ok(()));
    let mut tampered = all.clone();
    tampered[3].body = json!({ "query": 42 });
    assert_eq!(
        audit::verify(&tampered, None),
        Err(AuditError::BrokenLink {
            seq: 4,
            fault: Fault::HashMismatch
        })
    );
    // A writer that skips the handle cannot break the chain's numbering.
    let stray = audit::Entry::next(Some(&all[2]), 1, Kind::QueryAnswered, json!(null));
    assert!(matches!(
        store.backend().append_audit(&stray),
        Err(StoreError::AuditConflict {
            expected: 7,
            got: 4
        })
    ));
}

fn query_audit_keeps_queries_subjects_and_checkpoints(store: &Store) {
    let signed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = signed.clone();
    store.set_checkpointer(std::sync::Arc::new(
        move |head: &audit::Entry, at: i64| -> Result<Vec<u8>, String> {
            seen.lock().unwrap().push((head.seq, at));
            Ok(format!("{{\"seq\":{}}}", head.seq).into_bytes())
        },
    ));
    assert_eq!(
        store.checkpoint_now(5).unwrap(),
        None,
        "empty log: nothing to cover"
    );
    let q = |n: u8| QueryRecord {
        hash: [n; 32],
        raw: format!("{{\"query\":{n}}}").into_bytes(),
    };
    let subjects = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let a = store
        .audit_query(
            Kind::QueryAnswered,
            10,
            json!({ "query": 1 }),
            q(1),
            &subjects(&["s1", "s2"]),
        )
        .unwrap();
    let b = store
        .audit_query(Kind::QueryRefused, 11, json!({ "query": 2 }), q(2), &[])
        .unwrap();
    let c = store
        .audit_query(
            Kind::QueryAnswered,
            12,
            json!({ "query": 3 }),
            q(3),
            &subjects(&["s2", "s10"]),
        )
        .unwrap();
    assert_eq!((a.seq, b.seq, c.seq), (1, 2, 3));
    assert_eq!(store.subject_queries("s1").unwrap(), vec![a.clone()]);
    assert_eq!(
        store.subject_queries("s2").unwrap(),
        vec![a.clone(), c.clone()]
    );
    assert_eq!(
        store.subject_queries("s10").unwrap(),
        vec![c.clone()],
        "s1 is not a prefix match of s10"
    );
    assert!(store.subject_queries("s").unwrap().is_empty());
    assert_eq!(store.signed_query(&[2; 32]).unwrap(), Some(q(2)));
    assert_eq!(store.signed_query(&[9; 32]).unwrap(), None);
    assert_eq!(store.signed_queries().unwrap(), vec![q(1), q(2), q(3)]);
    assert_eq!(store.verify_audit().unwrap(), Ok(()));
    // A stray entry is refused and stores none of its parts.
    let stray = audit::Entry::next(Some(&a), 1, Kind::QueryAnswered, json!(null));
    assert!(matches!(
        store
            .backend()
            .put_query_audit(&stray, &q(7), &subjects(&["s7"])),
        Err(StoreError::AuditConflict {
            expected: 4,
            got: 2
        })
    ));
    assert_eq!(
        (
            store.signed_query(&[7; 32]).unwrap(),
            store.subject_queries("s7").unwrap()
        ),
        (None, vec![])
    );
    // Checkpoints: every CHECKPOINT_EVERY entries, and on demand (once per head).
    for i in 4..=CHECKPOINT_EVERY {
        store
            .audit(Kind::QueryAnswered, 100 + i as i64, json!({ "query": i }))
            .unwrap();
    }
    assert_eq!(
        *signed.lock().unwrap(),
        vec![(CHECKPOINT_EVERY, 100 + CHECKPOINT_EVERY as i64)]
    );
    assert_eq!(
        store.checkpoint_now(999).unwrap(),
        Some(CHECKPOINT_EVERY),
        "already covered: not signed again"
    );
    store.audit(Kind::QueryRefused, 1000, json!({})).unwrap();
    assert_eq!(
        store.checkpoint_now(1001).unwrap(),
        Some(CHECKPOINT_EVERY + 1)
    );
    let stored: Vec<u64> = store
        .checkpoints()
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(stored, vec![CHECKPOINT_EVERY, CHECKPOINT_EVERY + 1]);
    assert_eq!(
        store.checkpoints().unwrap()[1].1,
        format!("{{\"seq\":{}}}", CHECKPOINT_EVERY + 1).into_bytes()
    );
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod memory_backend {
            $(#[test] fn $name() { super::$name(&super::Store::memory()); })*
        }
        mod sled_backend {
            $(#[test] fn $name() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(&super::Store::open_sled(dir.path()).unwrap());
            })*
        }
    };
}

suite!(
    datasets_are_created_listed_and_refused,
    append_is_all_or_nothing,
    scan_prunes_by_time,
    datasets_without_time_are_always_scanned,
    consent_is_stored_indexed_and_audited,
    policy_chain_is_ordered,
    documents_by_hash,
    nonce_replay_is_detected,
    nonces_are_per_signer,
    audit_chain_appends_and_verifies,
    query_audit_keeps_queries_subjects_and_checkpoints,
    ledger_totals_are_exact_and_refused_at_the_limit,
    ledger_reserves_all_or_nothing,
    ledger_prunes_old_windows,
    ledger_racing_reservations_never_exceed_the_limit,
);

#[test]
fn sled_data_survives_reopening() {
    let dir: TempDir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_sled(dir.path()).unwrap();
        store.create_dataset(&schema("readings")).unwrap();
        store.append_rows("readings", rows(0..5000)).unwrap();
        store
            .put_consents(vec![consent("1", "s1", &[], "Research", 10, None)], 1)
            .unwrap();
        store
            .publish_policy(
                PolicyRecord {
                    version: 1,
                    hash: [1; 32],
                    raw: vec![1],
                },
                2,
            )
            .unwrap();
        store
            .check_and_insert_nonce("did:key:app", "n", 1_000, 0)
            .unwrap();
        let k = key(crate::ledger::Kind::Budget, "did:key:app", 3);
        store.reserve_one(&k, 700_000, 1_000_000).unwrap();
    }
    let store = Store::open_sled(dir.path()).unwrap();
    assert_eq!(store.dataset("readings").unwrap().records, 5000);
    assert_eq!(store.scan("readings", None, None).unwrap().len(), 2);
    assert!(store
        .consent_view("readings", &["Research".to_string()], 20)
        .unwrap()
        .allows("s1"));
    assert_eq!(store.policy_head().unwrap().map(|p| p.version), Some(1));
    assert!(!store
        .check_and_insert_nonce("did:key:app", "n", 1_000, 5)
        .unwrap());
    // Reserved budget is kept: the next reservation starts from it.
    let k = key(crate::ledger::Kind::Budget, "did:key:app", 3);
    assert_eq!(store.spent(&k).unwrap(), 700_000);
    assert_eq!(
        store.reserve_one(&k, 400_000, 1_000_000).unwrap(),
        crate::ledger::Reservation::Refused {
            index: 0,
            spent: 700_000
        }
    );
    // The chain continues from the stored head.
    assert_eq!(
        store.audit(Kind::QueryAnswered, 3, json!({})).unwrap().seq,
        3
    );
    assert_eq!(store.verify_audit().unwrap(), Ok(()));
}

#[test]
fn sled_unknown_stored_version_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SledBackend::open(dir.path()).unwrap();
    backend.create_dataset(&schema("readings")).unwrap();
    backend.raw_insert(
        "chunks",
        &codec::chunk_key("readings", Some(0), 99),
        &[7, 0, 0],
    );
    assert!(matches!(
        backend.scan("readings", None, None),
        Err(StoreError::UnknownVersion {
            what: "chunk",
            found: 7,
            supported: 1
        })
    ));
    backend.raw_insert("meta", b"ds\0zz", &[3, 1, 2]);
    assert!(matches!(
        backend.datasets(),
        Err(StoreError::UnknownVersion {
            what: "dataset",
            found: 3,
            supported: 2
        })
    ));
    let k = key(crate::ledger::Kind::Quota, "did:key:origin", 0);
    backend.raw_insert("ledger", &k.bytes(), &[4, 0]);
    assert!(matches!(
        backend.reserve(&[crate::ledger::Request {
            key: k.clone(),
            amount: 1,
            limit: 9
        }]),
        Err(StoreError::UnknownVersion {
            what: "ledger counter",
            found: 4,
            supported: 1
        })
    ));
    assert!(matches!(
        backend.spent(&k),
        Err(StoreError::UnknownVersion { found: 4, .. })
    ));
    backend.raw_insert("audit", &1u64.to_be_bytes(), &[2]);
    assert!(matches!(
        Store::open(backend),
        Err(StoreError::UnknownVersion {
            what: "audit entry",
            found: 2,
            supported: 1
        })
    ));
}

/// Child process of [`sled_keeps_acknowledged_writes_across_sigkill`]: appends batches
/// and consents forever, printing `ack N` after each durable write.
#[test]
#[ignore = "run as a child process by sled_keeps_acknowledged_writes_across_sigkill"]
fn sigkill_child() {
    use std::io::Write;
    let Ok(dir) = std::env::var("REGIO_SIGKILL_DIR") else {
        return;
    };
    let store = Store::open_sled(std::path::Path::new(&dir)).unwrap();
    if store.dataset("readings").is_err() {
        store.create_dataset(&schema("readings")).unwrap();
    }
    let mut n = store.dataset("readings").unwrap().records as i64;
    loop {
        store.append_rows("readings", rows(n..n + 1000)).unwrap();
        n += 1000;
        store
            .put_consents(
                vec![consent(&format!("c{n}"), "s", &[], "Research", n, None)],
                n,
            )
            .unwrap();
        println!("ack {n}");
        std::io::stdout().flush().unwrap();
    }
}

#[test]
fn sled_keeps_acknowledged_writes_across_sigkill() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    for cycle in 0..4 {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "tests::sigkill_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("REGIO_SIGKILL_DIR", dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut acked = 0i64;
        let mut seen = 0;
        for line in std::io::BufReader::new(stdout).lines() {
            if let Some(n) = line.unwrap().strip_prefix("ack ") {
                acked = n.parse().unwrap();
                seen += 1;
                if seen == 2 + cycle {
                    break;
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(cycle as u64 * 7));
        child.kill().unwrap(); // SIGKILL, at a varying point of the next write
        child.wait().unwrap();
        assert!(acked > 0, "child acknowledged nothing");
        let store = Store::open_sled(dir.path()).unwrap();
        let info = store.dataset("readings").unwrap();
        assert!(
            info.records as i64 >= acked,
            "cycle {cycle}: {} records stored, {acked} acknowledged",
            info.records
        );
        assert_eq!(info.records % 1000, 0, "a batch was stored in part");
        let scanned: u64 = store
            .scan("readings", None, None)
            .unwrap()
            .iter()
            .map(|c| u64::from(c.rows))
            .sum();
        assert_eq!(scanned, info.records);
        assert!(
            store.consent(&format!("c{acked}")).unwrap().is_some(),
            "cycle {cycle}: consent c{acked} lost"
        );
        assert_eq!(store.verify_audit().unwrap(), Ok(()));
    }
}

/// A nonce a version-1 store recorded (keyed by the nonce alone) still blocks it, for any
/// signer, until it expires; then it is pruned.
#[test]
fn nonces_of_a_version_1_store_count_until_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = ::sled::Config::new().path(dir.path()).open().unwrap();
        let nonces = db.open_tree("nonces").unwrap();
        let expiry = db.open_tree("nonce_expiry").unwrap();
        nonces.insert("old", &100u64.to_be_bytes()).unwrap();
        expiry
            .insert([&crate::codec::sortable(100)[..], b"old"].concat(), &[])
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::open_sled(dir.path()).unwrap();
    assert!(store.nonce_seen("did:key:any", "old", 50).unwrap());
    assert!(!store
        .check_and_insert_nonce("did:key:any", "old", 200, 50)
        .unwrap());
    assert!(store
        .check_and_insert_nonce("did:key:any", "old", 200, 100)
        .unwrap());
    assert!(!store
        .check_and_insert_nonce("did:key:any", "old", 200, 150)
        .unwrap());
}
