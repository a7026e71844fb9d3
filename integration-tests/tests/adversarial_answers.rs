//! Adversarial suite, lying answers (issue 14): a malicious member (the real libp2p stack,
//! `regio_integration_tests::adversary::evil`) answers the queries that a real `regio node
//! run` coordinator fans out to it — with another node's identity, for another query, with
//! a partial result that does not match its signature or the plan, garbage, silence. The
//! coordinator must mark that member `invalid` (or `timed_out`) with the cause, merge nothing
//! of it, and still answer with the honest members' total by the deadline.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use regio_integration_tests::adversary::evil::{self, answer_as, answer_of, Lie};
use regio_integration_tests::adversary::{self, Delta, ProcRegion, Spec, COUNT_SQL, DEADLINE_MS};
use regio_policy::doc::query::Outcome;
use regio_policy::DocHash;
use serde_json::Value;

static REGION: OnceLock<Mutex<ProcRegion>> = OnceLock::new();

fn region() -> MutexGuard<'static, ProcRegion> {
    adversary::shared(&REGION, || Spec::new(3, true))
}

/// The honest members' total of [`COUNT_SQL`] (the malicious member refusing honestly).
fn honest_total(r: &ProcRegion) -> Value {
    r.evil().lie(evil::refuse());
    let (st, v) = r.ask(0, &r.query(0, COUNT_SQL)).unwrap();
    assert_eq!(st, 200, "{v}");
    let total = v["result"]["rows"][0][0].clone();
    assert!(total.as_u64().is_some_and(|n| n > 0), "no total in {v}");
    total
}

/// A genuine answered outcome of node 1 to `sql`, asked by the malicious member itself.
fn genuine(r: &ProcRegion, sql: &str) -> (Value, Outcome) {
    let q = r.query_by(
        &r.actors.app,
        r.evil().key.did(),
        adversary::PURPOSE,
        sql,
        Some(r.docs.certificate.hash()),
        chrono::Utc::now(),
    );
    let a = r.evil().ask(r.did(1), &q).unwrap();
    assert!(
        matches!(a.doc().outcome, Outcome::Answered { .. }),
        "{:?}",
        a.doc().outcome
    );
    (a.raw().clone(), a.doc().outcome.clone())
}

/// Node 0 coordinates [`COUNT_SQL`] while the malicious member answers with `lie`: the
/// malicious member's provenance `(status, error)`, after checking that the honest members
/// answered, the total is theirs alone, and every node recorded exactly its own answer.
fn lied_to(r: &ProcRegion, lie: Lie) -> (String, String) {
    let total = honest_total(r);
    r.evil().lie(lie);
    let before = r.snapshots();
    let started = Instant::now();
    let (st, v) = r.ask(0, &r.query(0, COUNT_SQL)).unwrap();
    let took = started.elapsed();
    let after = r.snapshots();
    r.evil().lie(evil::refuse());
    assert_eq!(st, 200, "{v}");
    assert!(
        took < Duration::from_millis(DEADLINE_MS + 1500),
        "answered after {took:?}"
    );
    assert_eq!(adversary::reasons(&v, 3), vec!["answered"; 3], "{v}");
    assert_eq!(v["coverage"], serde_json::json!([3, 4]), "{v}");
    assert_eq!(
        v["result"]["rows"][0][0], total,
        "nothing of the lie is merged: {v}"
    );
    assert_eq!(
        adversary::deltas(&before, &after),
        vec![Delta::answered(); 3]
    );
    let (_, status, why) = adversary::provenance(&v).pop().unwrap();
    (status, why)
}

#[test]
fn answer_claiming_another_members_identity_is_invalid() {
    let r = region();
    let other = r.did(1).clone();
    let (_, outcome) = genuine(&r, COUNT_SQL);
    let lie: Lie = Arc::new(move |key, q| {
        Some(
            answer_as(key, &other, q, DocHash::of(q), outcome.clone())
                .to_string()
                .into_bytes(),
        )
    });
    let (status, why) = lied_to(&r, lie);
    assert_eq!(status, "invalid");
    assert!(why.contains("node"), "{why}");
}

#[test]
fn answer_for_another_query_is_invalid() {
    let r = region();
    let (_, outcome) = genuine(&r, COUNT_SQL);
    let lie: Lie = Arc::new(move |key, q| {
        let me = key.did().clone();
        Some(
            answer_as(key, &me, q, DocHash([3; 32]), outcome.clone())
                .to_string()
                .into_bytes(),
        )
    });
    let (status, why) = lied_to(&r, lie);
    assert_eq!(status, "invalid");
    assert!(why.starts_with("answer is for query"), "{why}");
}

/// A lie: the true hash of the query received, but `field` of the answer set to `value`.
fn relabelled(outcome: Outcome, field: &'static str, value: &'static str) -> Lie {
    Arc::new(move |key, q| {
        let mut shown = q.clone();
        shown[field] = value.into();
        let me = key.did().clone();
        Some(
            answer_as(key, &me, &shown, DocHash::of(q), outcome.clone())
                .to_string()
                .into_bytes(),
        )
    })
}

#[test]
fn answer_naming_another_query_id_is_invalid() {
    let r = region();
    let (_, outcome) = genuine(&r, COUNT_SQL);
    let (status, why) = lied_to(&r, relabelled(outcome, "id", "urn:uuid:some-other-query"));
    assert_eq!(status, "invalid");
    assert!(why.contains("urn:uuid:some-other-query"), "{why}");
}

#[test]
fn answer_naming_another_region_is_invalid() {
    let r = region();
    let (_, outcome) = genuine(&r, COUNT_SQL);
    let (status, why) = lied_to(&r, relabelled(outcome, "region", "elsewhere"));
    assert_eq!(status, "invalid");
    assert!(why.contains("elsewhere"), "{why}");
}

#[test]
fn answer_whose_result_was_changed_after_signing_is_invalid() {
    let r = region();
    let (_, outcome) = genuine(&r, COUNT_SQL);
    let lie: Lie = Arc::new(move |key, q| {
        let mut a = answer_of(key, q, outcome.clone());
        a["outcome"]["rowsScanned"] = 999_999_000u64.into();
        Some(a.to_string().into_bytes())
    });
    let (status, why) = lied_to(&r, lie);
    assert_eq!(status, "invalid");
    assert!(why.contains("signature") || why.contains("proof"), "{why}");
}

#[test]
fn answer_that_is_not_a_document_is_invalid() {
    let r = region();
    let lie: Lie = Arc::new(|_, _| Some(b"\x00\x9f not json".to_vec()));
    let (status, _) = lied_to(&r, lie);
    assert_eq!(status, "invalid");
}

#[test]
fn genuine_answer_of_another_node_replayed_is_invalid() {
    let r = region();
    let (raw, _) = genuine(&r, COUNT_SQL);
    let lie: Lie = Arc::new(move |_, _| Some(raw.to_string().into_bytes()));
    let (status, why) = lied_to(&r, lie);
    assert_eq!(status, "invalid");
    assert!(why.starts_with("answer signed by"), "{why}");
}

#[test]
fn answer_whose_partial_result_does_not_fit_the_plan_is_invalid() {
    let r = region();
    let (_, outcome) = genuine(&r, "SELECT avg(no2) AS a FROM readings");
    let lie: Lie =
        Arc::new(move |key, q| Some(answer_of(key, q, outcome.clone()).to_string().into_bytes()));
    let (status, why) = lied_to(&r, lie);
    assert_eq!(status, "invalid");
    assert!(!why.is_empty());
}

#[test]
fn answer_about_another_dataset_is_invalid() {
    let r = region();
    let (_, mut outcome) = genuine(&r, COUNT_SQL);
    if let Outcome::Answered { result, .. } = &mut outcome {
        result["schema"]["dataset"] = "households".into();
    }
    let lie: Lie =
        Arc::new(move |key, q| Some(answer_of(key, q, outcome.clone()).to_string().into_bytes()));
    let (status, why) = lied_to(&r, lie);
    assert_eq!(status, "invalid");
    assert!(why.contains("households"), "{why}");
}

#[test]
fn refusal_without_a_reason_is_invalid() {
    let r = region();
    let lie: Lie = Arc::new(|key, q| {
        let outcome = Outcome::Refused {
            reason: "x".into(),
            message: String::new(),
        };
        let mut a = answer_of(key, q, outcome);
        a["outcome"]["reason"] = "".into();
        Some(a.to_string().into_bytes())
    });
    let (status, _) = lied_to(&r, lie);
    assert_eq!(status, "invalid");
}

#[test]
fn silent_member_is_reported_timed_out_by_the_deadline() {
    let r = region();
    let lie: Lie = Arc::new(|_, _| None);
    let (status, _) = lied_to(&r, lie);
    assert_eq!(status, "timed_out");
}

#[test]
fn answer_over_the_response_size_limit_is_cut_off() {
    let r = region();
    let lie: Lie = Arc::new(|_, _| Some(vec![b' '; 17 << 20]));
    let (status, _) = lied_to(&r, lie);
    assert_eq!(status, "unreachable");
}

#[test]
fn plausible_but_false_answer_is_merged_and_attributed_to_its_signer() {
    // What a lying member can still do: a well-formed answer with numbers of its own. It is
    // merged — and signed, so the provenance and the `answers` an auditor keeps name it.
    let r = region();
    let total = honest_total(&r);
    let (_, outcome) = genuine(&r, COUNT_SQL);
    r.evil().lie(Arc::new(move |key, q| {
        Some(answer_of(key, q, outcome.clone()).to_string().into_bytes())
    }));
    let (st, v) = r.ask(0, &r.query(0, COUNT_SQL)).unwrap();
    r.evil().lie(evil::refuse());
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["coverage"], serde_json::json!([4, 4]), "{v}");
    assert_ne!(v["result"]["rows"][0][0], total);
    let evil_did = r.evil().key.did().as_str();
    assert!(
        v["answers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["node"] == evil_did),
        "{v}"
    );
}
