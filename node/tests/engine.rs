//! The engine end to end on one node: documents in, signed queries answered under policy,
//! consent withdrawal, refusals that write nothing but their audit entry, replay, restart.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use regio_node::engine::Engine;
use regio_policy::decision::Limits;
use regio_policy::doc::bundle::*;
use regio_policy::doc::cert::*;
use regio_policy::doc::charter::InclusionCharter;
use regio_policy::doc::consent::{Channel, ConsentRecord, Status};
use regio_policy::doc::manifest::{Member, RegionManifest};
use regio_policy::doc::query::{Outcome, Query};
use regio_policy::signed::decode_body;
use regio_policy::{Key, Signed};
use regio_query::{finalize, PartialResult};
use regio_store::audit::Kind;
use regio_store::ingest::{self, Mode};
use regio_store::Store;
use serde_json::Value;
use support::*;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/airquality-n2-r1200-s7")
}

fn now() -> DateTime<Utc> {
    "2026-11-27T00:00:00Z".parse().unwrap()
}

struct Region {
    node: Key,
    certifier: Key,
    app: Key,
    clerk: Key,
    cert: Signed<EthicsCertificate>,
}

fn line(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// One node (Gent, 44021) alone in region `vlaanderen`, with data, consent and documents.
fn setup(store: Store) -> (Engine, Region) {
    let (node, certifier, app, clerk) = (
        Key::from_secret([1; 32]),
        Key::from_secret([10; 32]),
        Key::from_secret([50; 32]),
        Key::from_secret([60; 32]),
    );
    let engine = Engine::open(
        store,
        node.clone(),
        [clerk.did().clone()],
        Limits::default(),
    )
    .unwrap();
    let store = engine.store();
    let schema = readings_schema();
    store.create_dataset(&schema).unwrap();
    let data = std::fs::read(fixture().join("readings_44021.ndjson")).unwrap();
    let rows = ingest::parse_ndjson(&schema, &data, Mode::AllOrNothing)
        .unwrap()
        .rows;
    store.append_rows("readings", rows).unwrap();
    let consent = std::fs::read(fixture().join("consent_44021.ndjson")).unwrap();
    store
        .put_consents(
            ingest::parse_consent_ndjson(&consent, Mode::AllOrNothing)
                .unwrap()
                .rows,
            now().timestamp_micros(),
        )
        .unwrap();

    let bundle = PolicyBundle {
        municipality: Municipality {
            nis: "44021".into(),
            name: "Gent".into(),
            did: node.did().clone(),
        },
        version: 1,
        previous: None,
        issued: now() - Duration::days(1),
        datasets: vec![DatasetPolicy {
            name: "readings".into(),
            classification: Classification::Personal,
            subject_field: Some("subject".into()),
            sensitive_fields: vec!["subject".into(), "lat".into(), "lon".into()],
            categories: Default::default(),
        }],
        access: Access {
            model: None,
            policy: vec![
                line(&[
                    "p",
                    "researcher",
                    "vlaanderen",
                    "readings",
                    "aggregate",
                    "ResearchAndDevelopment",
                ]),
                line(&["g", app.did().as_str(), "researcher", "vlaanderen"]),
            ],
        },
        certification: vec![CertRequirement {
            dataset: "readings".into(),
            purpose: "*".into(),
            certifiers: vec![],
        }],
        charters: vec![],
        disclosure: Disclosure {
            min_group_size: 10,
            raw_datasets: vec![],
        },
    };
    let bundle = Signed::sign(bundle, &node, now()).unwrap();
    engine.publish_policy(bundle.raw().clone(), now()).unwrap();

    let charter_text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charters/inclusion-charter.json"),
    )
    .unwrap();
    // The default charter in explicit exact mode: these tests assert exact arithmetic.
    let mut charter_json: serde_json::Value = serde_json::from_str(&charter_text).unwrap();
    charter_json["clauses"]["disclosure"]["personal"] = serde_json::json!("exact");
    let charter = decode_body::<InclusionCharter>(&charter_json).unwrap();
    let charter = Signed::sign(charter, &node, now()).unwrap();
    engine.put_charter(charter.raw().clone(), now()).unwrap();
    let manifest = RegionManifest {
        region: "vlaanderen".into(),
        name: "Vlaanderen".into(),
        version: 1,
        previous: None,
        issued: now() - Duration::days(1),
        members: vec![Member {
            did: node.did().clone(),
            nis: "44021".into(),
            name: "Gent".into(),
            addresses: vec![],
        }],
        charter: charter.hash(),
        certifiers: vec![certifier.did().clone()],
        threshold: 1,
    };
    engine
        .put_manifest(
            Signed::sign(manifest, &node, now()).unwrap().raw().clone(),
            now(),
        )
        .unwrap();

    let cert = EthicsCertificate {
        id: "urn:uuid:11111111-2222-4333-8444-555555555555".into(),
        issuer: certifier.did().clone(),
        valid_from: now() - Duration::days(30),
        valid_until: now() + Duration::days(300),
        credential_subject: CertSubject {
            id: app.did().clone(),
            name: "Luchtmeetnet analyse".into(),
            organisation: "UGent".into(),
            purposes: vec!["ResearchAndDevelopment".into()],
            datasets: vec!["readings".into()],
            algorithm: Algorithm {
                name: "daily".into(),
                description: "Daily NO2 per municipality.".into(),
                source: "https://example.org/src".into(),
                hash: format!("sha256:{}", "cd".repeat(32)),
            },
            assessment: Assessment {
                criteria: "urn:regio:certification-criteria:1".into(),
                level: "standard".into(),
                risk_category: "limited".into(),
                report: "https://example.org/r".into(),
            },
            register: Register::default(),
        },
    };
    let cert = Signed::sign(cert, &certifier, now()).unwrap();
    engine.put_certificate(cert.raw().clone(), now()).unwrap();
    (
        engine,
        Region {
            node,
            certifier,
            app,
            clerk,
            cert,
        },
    )
}

fn query(r: &Region, sql: &str, nonce: &str, cert: bool) -> Value {
    let q = Query {
        id: format!("urn:uuid:q-{nonce}"),
        region: "vlaanderen".into(),
        origin: r.node.did().clone(),
        purpose: "ResearchAndDevelopment".into(),
        sql: sql.into(),
        certificate: cert.then(|| r.cert.hash()),
        issued: now() - Duration::seconds(1),
        expires: now() + Duration::seconds(60),
        nonce: format!("nonce-{nonce}-0123456789"),
        traceparent: None,
    };
    Signed::sign(q, &r.app, now()).unwrap().raw().clone()
}

fn csv_of(engine: &Engine, value: Value) -> String {
    let answer = engine.answer(value, None, now()).unwrap();
    assert!(
        matches!(answer.signed.doc().outcome, Outcome::Answered { .. }),
        "{:?}",
        answer.signed.doc().outcome
    );
    assert!(answer.signed.signed_by(engine.did()));
    let partial: PartialResult = match &answer.signed.doc().outcome {
        Outcome::Answered { result, .. } => {
            serde_json::from_value(result["partial"].clone()).unwrap()
        }
        Outcome::Refused { .. } => unreachable!(),
    };
    finalize(answer.plan.as_ref().unwrap(), &partial)
        .unwrap()
        .to_csv()
}

fn rows_of(engine: &Engine, value: Value) -> Vec<(String, String, i64, f64, f64, f64)> {
    read_result_csv(&csv_of(engine, value))
}

/// Rows the node counted for `value` (answered), from its own audit entry: scanned minus left
/// out for lack of consent.
fn counted(engine: &Engine, value: Value) -> i64 {
    let answer = engine.answer(value, None, now()).unwrap();
    assert!(matches!(
        answer.signed.doc().outcome,
        Outcome::Answered { .. }
    ));
    let head = engine.store().audit_head().unwrap().unwrap();
    assert_eq!(head.body["answer"], serde_json::json!(answer.signed.hash()));
    let n = |k: &str| head.body[k].as_i64().unwrap();
    n("rowsScanned") - n("rowsExcludedByConsent")
}

fn reason(engine: &Engine, value: Value) -> String {
    match engine
        .answer(value, None, now())
        .unwrap()
        .signed
        .doc()
        .outcome
        .clone()
    {
        Outcome::Refused { reason, .. } => reason,
        Outcome::Answered { .. } => panic!("expected a refusal"),
    }
}

/// DuckDB's answer to the reference query for Gent (the fixture's README), under the minimum
/// group size counted in rows (`expected.csv`) or in distinct subjects (`expected_subjects.csv`).
fn duckdb_rows(file: &str) -> Vec<(String, String, i64, f64, f64, f64)> {
    read_result_csv(&std::fs::read_to_string(fixture().join(file)).unwrap())
        .into_iter()
        .filter(|row| row.0 == "44021")
        .collect()
}

#[test]
fn the_reference_query_gives_duckdbs_rows_for_this_municipality() {
    let (engine, r) = setup(Store::memory());
    let ours = rows_of(&engine, query(&r, REFERENCE_SQL, "a", true));
    // k counts distinct subjects: DuckDB's `--k-rule subjects` answer.
    let expected = duckdb_rows("expected_subjects.csv");
    assert!(!expected.is_empty());
    assert_eq!(ours.len(), expected.len());
    for (a, b) in ours.iter().zip(&expected) {
        assert_eq!((&a.0, &a.1, a.2, a.4, a.5), (&b.0, &b.1, b.2, b.4, b.5));
        assert!(((a.3 - b.3) / b.3).abs() < 1e-9);
    }
    // The days that have k rows but fewer than k citizens are suppressed whole.
    let by_rows = duckdb_rows("expected.csv");
    assert!(by_rows.len() > expected.len());
    for row in by_rows
        .iter()
        .filter(|b| !expected.iter().any(|e| e.1 == b.1))
    {
        assert!(!ours.iter().any(|a| a.1 == row.1), "{} released", row.1);
    }
    let head = engine.store().audit_head().unwrap().unwrap();
    assert_eq!(head.kind, Kind::QueryAnswered);
    assert_eq!(head.body["policyVersion"], 1);
}

#[test]
fn a_withdrawal_changes_the_next_answer() {
    let (engine, r) = setup(Store::memory());
    // Too few citizens consent for the count itself to be released (k counts distinct
    // subjects), so the rows counted are read where they are exact: the node's audit log.
    let before = counted(
        &engine,
        query(&r, "SELECT count(*) AS n FROM readings", "b1", true),
    );
    let consent = ConsentRecord {
        id: "subj-aba69e7ca371abc5/ResearchAndDevelopment".into(),
        subject: "subj-aba69e7ca371abc5".into(),
        subject_did: None,
        controller: r.node.did().clone(),
        datasets: vec!["*".into()],
        purposes: vec!["ResearchAndDevelopment".into()],
        status: Status::Withdrawn,
        given_at: "2023-12-11T00:52:55Z".parse().unwrap(),
        withdrawn_at: Some(now() - Duration::seconds(1)),
        channel: Channel::Desk,
        clerk: Some(r.clerk.did().clone()),
        notice: None,
        language: Some("nl".into()),
    };
    engine
        .record_consent(
            Signed::sign(consent, &r.clerk, now())
                .unwrap()
                .raw()
                .clone(),
            now(),
        )
        .unwrap();
    let after = counted(
        &engine,
        query(&r, "SELECT count(*) AS n FROM readings", "b2", true),
    );
    let subject_rows = std::fs::read_to_string(fixture().join("readings_44021.ndjson"))
        .unwrap()
        .matches("subj-aba69e7ca371abc5")
        .count() as i64;
    assert!(subject_rows > 0);
    assert_eq!(
        before - after,
        subject_rows,
        "every row of the withdrawn subject leaves the count"
    );
}

#[test]
fn a_refused_query_writes_only_its_audit_entry_and_no_nonce() {
    let (engine, r) = setup(Store::memory());
    let seq = engine.store().audit_head().unwrap().unwrap().seq;
    let datasets = engine.store().datasets().unwrap();
    let q = query(&r, REFERENCE_SQL, "c", false);
    assert_eq!(reason(&engine, q.clone()), "certificate.missing");
    let head = engine.store().audit_head().unwrap().unwrap();
    assert_eq!((head.seq, head.kind), (seq + 1, Kind::QueryRefused));
    assert_eq!(head.body["reason"], "certificate.missing");
    assert_eq!(engine.store().datasets().unwrap(), datasets);
    // The nonce was not consumed: a query with the same nonce, now certified, is answered.
    rows_of(&engine, query(&r, REFERENCE_SQL, "c", true));
}

#[test]
fn replays_forgeries_unsupported_sql_and_unknown_datasets_are_refused() {
    let (engine, r) = setup(Store::memory());
    let q = query(&r, REFERENCE_SQL, "d", true);
    rows_of(&engine, q.clone());
    assert_eq!(reason(&engine, q.clone()), "query.replayed");
    let mut forged = q.clone();
    forged["sql"] = "SELECT subject FROM readings".into();
    assert_eq!(reason(&engine, forged), "signature.invalid");
    assert_eq!(
        reason(
            &engine,
            query(
                &r,
                "SELECT a.x FROM readings a JOIN consent b ON a.s = b.s",
                "e",
                true
            )
        ),
        "query.unsupported"
    );
    assert_eq!(
        reason(
            &engine,
            query(&r, "SELECT count(*) FROM bevolking", "f", true)
        ),
        "dataset.unknown"
    );
    assert_eq!(
        reason(
            &engine,
            query(&r, "SELECT subject, no2 FROM readings", "g", true)
        ),
        "access.denied"
    );
    engine.store().verify_audit().unwrap().unwrap();
}

#[test]
fn revocation_turns_answers_into_refusals() {
    let (engine, r) = setup(Store::memory());
    rows_of(&engine, query(&r, REFERENCE_SQL, "h", true));
    let rev = Revocation {
        certificate: r.cert.hash(),
        certificate_id: r.cert.doc().id.clone(),
        issuer: r.certifier.did().clone(),
        reason: "bias found in review".into(),
        revoked_at: now() - Duration::seconds(1),
    };
    engine
        .put_revocation(
            Signed::sign(rev, &r.certifier, now())
                .unwrap()
                .raw()
                .clone(),
            now(),
        )
        .unwrap();
    assert_eq!(
        reason(&engine, query(&r, REFERENCE_SQL, "i", true)),
        "certificate.revoked"
    );
}

#[test]
fn documents_are_checked_before_they_are_stored() {
    let (engine, r) = setup(Store::memory());
    let head = engine.policy().unwrap();
    // Not the next version.
    let mut b = head.doc().clone();
    b.version = 3;
    b.previous = Some(head.hash());
    let err = engine
        .publish_policy(
            Signed::sign(b, &r.node, now()).unwrap().raw().clone(),
            now(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("does not follow"), "{err}");
    // Another municipality's bundle.
    let mut b = head.doc().clone();
    b.version = 2;
    b.previous = Some(head.hash());
    b.municipality.did = r.app.did().clone();
    let err = engine
        .publish_policy(Signed::sign(b, &r.app, now()).unwrap().raw().clone(), now())
        .unwrap_err();
    assert!(err.to_string().contains("this node is"), "{err}");
    // Consent signed by a clerk this node does not know.
    let stranger = Key::from_secret([99; 32]);
    let c = ConsentRecord {
        id: "x".into(),
        subject: "s".into(),
        subject_did: None,
        controller: r.node.did().clone(),
        datasets: vec!["*".into()],
        purposes: vec!["ResearchAndDevelopment".into()],
        status: Status::Given,
        given_at: now(),
        withdrawn_at: None,
        channel: Channel::Paper,
        clerk: Some(stranger.did().clone()),
        notice: None,
        language: None,
    };
    let err = engine
        .record_consent(
            Signed::sign(c, &stranger, now()).unwrap().raw().clone(),
            now(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("not authorised"), "{err}");
    assert_eq!(engine.policy().unwrap().doc().version, 1);
    assert!(engine.store().consent("x").unwrap().is_none());
}

#[test]
fn state_is_rebuilt_from_disk_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, r) = setup(Store::open_sled(dir.path()).unwrap());
    let first = rows_of(&engine, query(&r, REFERENCE_SQL, "j", true));
    drop(engine);
    let engine = Engine::open(
        Store::open_sled(dir.path()).unwrap(),
        r.node.clone(),
        [r.clerk.did().clone()],
        Limits::default(),
    )
    .unwrap();
    assert_eq!(engine.policy().unwrap().doc().version, 1);
    assert_eq!(engine.regions().len(), 1);
    assert_eq!(rows_of(&engine, query(&r, REFERENCE_SQL, "k", true)), first);
    assert_eq!(
        reason(&engine, query(&r, REFERENCE_SQL, "j", true)),
        "query.replayed",
        "nonces survive the restart"
    );
}

/// The next version of the node's policy, with `edit` applied.
fn next_policy(engine: &Engine, r: &Region, edit: impl Fn(&mut PolicyBundle)) -> Value {
    let head = engine.policy().unwrap();
    let mut doc = head.doc().clone();
    doc.version += 1;
    doc.previous = Some(head.hash());
    edit(&mut doc);
    Signed::sign(doc, &r.node, now()).unwrap().raw().clone()
}

#[test]
fn a_policy_or_schema_that_disagrees_on_the_subject_is_refused_and_stores_nothing() {
    let (engine, r) = setup(Store::memory());
    let audit = engine.store().audit_head().unwrap().unwrap().seq;
    let other = next_policy(&engine, &r, |d| {
        d.datasets[0].subject_field = Some("sensor_id".into())
    });
    let err = engine.publish_policy(other, now()).unwrap_err().to_string();
    assert!(
        err.contains("`readings`") && err.contains("`sensor_id`") && err.contains("`subject`"),
        "{err}"
    );
    let missing = next_policy(&engine, &r, |d| {
        d.datasets[0].subject_field = Some("burger".into())
    });
    let err = engine
        .publish_policy(missing, now())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a field"), "{err}");
    assert_eq!(engine.policy().unwrap().doc().version, 1);
    assert_eq!(engine.store().audit_head().unwrap().unwrap().seq, audit);

    // A personal dataset the policy names before it exists: its schema must agree.
    let visits = next_policy(&engine, &r, |d| {
        let mut v = d.datasets[0].clone();
        v.name = "visits".into();
        v.sensitive_fields = vec![];
        d.datasets.push(v);
    });
    engine.publish_policy(visits, now()).unwrap();
    let mut schema = readings_schema();
    schema.dataset = "visits".into();
    schema.subject = None;
    let err = engine.create_dataset(&schema).unwrap_err().to_string();
    assert!(err.contains("names no subject"), "{err}");
    assert!(engine.store().dataset("visits").is_err(), "nothing stored");
    schema.subject = Some("subject".into());
    engine.create_dataset(&schema).unwrap();
}

#[test]
fn an_empty_select_list_and_the_subject_field_get_signed_refusals() {
    let (engine, r) = setup(Store::memory());
    // An empty select list panicked the query task; now a signed refusal.
    let answer = engine
        .answer(query(&r, "SELECT FROM readings", "f2", true), None, now())
        .unwrap();
    assert!(answer.signed.signed_by(engine.did()));
    assert!(matches!(
        &answer.signed.doc().outcome,
        Outcome::Refused { reason, .. } if reason == "query.unsupported"
    ));
    // The subject is never counted, filtered or grouped on in an aggregate query.
    for (sql, nonce) in [
        ("SELECT count(DISTINCT subject) AS n FROM readings", "s1"),
        (
            "SELECT count(*) AS n FROM readings WHERE subject <> 'x'",
            "s2",
        ),
        (
            "SELECT subject, count(*) AS n FROM readings GROUP BY 1",
            "s3",
        ),
    ] {
        assert_eq!(
            reason(&engine, query(&r, sql, nonce, true)),
            "disclosure.subject_field",
            "{sql}"
        );
    }
}
