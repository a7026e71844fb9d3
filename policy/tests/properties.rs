//! Property tests: sign → verify holds for generated documents; any change to a signed
//! value breaks verification; every document type round-trips through serde and signing.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use regio_policy::doc::consent::{Channel, ConsentRecord, Status};
use regio_policy::doc::query::{Outcome, PartialAnswer, Query};
use regio_policy::signed::{decode_body, envelope, Document};
use regio_policy::{proof, DocHash, Key, Signed};
use serde_json::{Map, Value};
use support::*;

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-(1i64 << 53)..=(1i64 << 53)).prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z@é_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_document() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[a-z][a-zA-Z]{0,7}", json_value(), 1..6)
        .prop_map(|m| m.into_iter().filter(|(k, _)| k != "proof").collect())
}

/// Every path to a scalar inside `v`.
fn leaf_paths(v: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            let mut p = prefix.clone();
            p.push(k.clone());
            leaf_paths(x, p, out)
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| {
            let mut p = prefix.clone();
            p.push(i.to_string());
            leaf_paths(x, p, out)
        }),
        _ => out.push(prefix),
    }
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Object(m) => m.get_mut(k).unwrap(),
        Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
        _ => unreachable!(),
    })
}

fn changed(v: &Value) -> Value {
    match v {
        Value::Null => Value::from(0),
        Value::Bool(b) => Value::from(!b),
        Value::Number(n) => Value::from(n.as_f64().unwrap_or(0.0) + 1.0),
        Value::String(s) => Value::from(format!("{s}x")),
        other => Value::from(format!("{other}!")),
    }
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (1_500_000_000i64..2_500_000_000).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap())
}

fn consent_record() -> impl Strategy<Value = ConsentRecord> {
    (
        "[a-z0-9-]{1,20}",
        "\\PC{1,16}",
        prop::sample::subsequence(
            vec![
                "ResearchAndDevelopment",
                "PublicBenefit",
                "AcademicResearch",
                "Marketing",
            ],
            1..3,
        ),
        instant(),
        prop::option::of(0i64..1_000_000),
        prop::sample::select(vec![
            Channel::App,
            Channel::Desk,
            Channel::Paper,
            Channel::Kiosk,
            Channel::Import,
        ]),
        prop::option::of("\\PC{0,10}"),
    )
        .prop_map(
            |(id, subject, purposes, given, withdrawn, channel, notice)| ConsentRecord {
                id,
                subject: format!("s{subject}"),
                subject_did: Some(key(7).did().clone()),
                controller: key(1).did().clone(),
                datasets: vec!["readings".into()],
                purposes: purposes.into_iter().map(String::from).collect(),
                status: if withdrawn.is_some() {
                    Status::Withdrawn
                } else {
                    Status::Given
                },
                given_at: given,
                withdrawn_at: withdrawn.map(|s| given + Duration::seconds(s)),
                channel,
                clerk: Some(key(60).did().clone()),
                notice,
                language: None,
            },
        )
}

fn query_doc() -> impl Strategy<Value = Query> {
    (
        "\\PC{1,40}",
        "[A-Za-z0-9_-]{16,40}",
        instant(),
        1i64..600,
        any::<Option<[u8; 32]>>(),
    )
        .prop_map(|(sql, nonce, issued, life, cert)| Query {
            id: format!("urn:uuid:{nonce}"),
            region: "vlaanderen".into(),
            origin: key(2).did().clone(),
            purpose: "PublicBenefit".into(),
            sql: format!("SELECT {sql}"),
            certificate: cert.map(DocHash),
            issued,
            expires: issued + Duration::seconds(life),
            nonce,
            traceparent: None,
        })
}

fn answer_doc() -> impl Strategy<Value = PartialAnswer> {
    (
        0u64..(1u64 << 53),
        any::<u32>(),
        any::<bool>(),
        json_value(),
        instant(),
    )
        .prop_map(|(scanned, excluded, refused, result, at)| PartialAnswer {
            query: "urn:uuid:q".into(),
            query_hash: DocHash([3; 32]),
            region: "vlaanderen".into(),
            node: key(1).did().clone(),
            policy_version: scanned % 100 + 1,
            policy_hash: Some(DocHash([4; 32])),
            answered_at: at,
            outcome: if refused {
                Outcome::Refused {
                    reason: "access.denied".into(),
                    message: format!("{excluded}"),
                }
            } else {
                Outcome::Answered {
                    rows_scanned: scanned,
                    rows_excluded_by_consent: u64::from(excluded),
                    groups_suppressed: 2,
                    disclosure: None,
                    result,
                }
            },
        })
}

fn round_trip<T: Document + PartialEq + std::fmt::Debug>(doc: T, signer: &Key) {
    assert_eq!(decode_body::<T>(&envelope(&doc).unwrap()).unwrap(), doc);
    let signed = Signed::sign(doc.clone(), signer, Utc::now()).unwrap();
    let back = Signed::<T>::from_json(signed.to_json_pretty().as_bytes()).unwrap();
    assert_eq!(back.doc(), &doc);
    assert_eq!(back.hash(), signed.hash());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sign_then_verify_holds(doc in json_document(), seed in any::<[u8; 32]>()) {
        let key = Key::from_secret(seed);
        let mut v = Value::Object(doc);
        proof::add_proof(&mut v, &key, Utc::now()).unwrap();
        let info = proof::verify(&v).unwrap();
        prop_assert_eq!(&info[0].signer, key.did());
        // Serialised and re-read, it still verifies.
        let text = serde_json::to_string(&v).unwrap();
        prop_assert!(proof::verify(&serde_json::from_str(&text).unwrap()).is_ok());
    }

    #[test]
    fn any_change_to_a_signed_value_fails(doc in json_document(), pick in any::<prop::sample::Index>()) {
        let mut v = Value::Object(doc);
        proof::add_proof(&mut v, &key(9), Utc::now()).unwrap();
        let mut paths = Vec::new();
        leaf_paths(&v, vec![], &mut paths);
        let path = pick.get(&paths).clone();
        let target = at(&mut v, &path);
        *target = changed(target);
        let is_proof_value = path.last().map(String::as_str) == Some("proofValue");
        let result = proof::verify(&v);
        prop_assert!(result.is_err(), "changing {:?} went unnoticed", path);
        if !is_proof_value && path.first().map(String::as_str) != Some("proof") {
            let is_bad_signature = matches!(result, Err(proof::VerifyError::BadSignature { .. }));
            prop_assert!(is_bad_signature);
        }
    }

    #[test]
    fn integers_jcs_cannot_represent_exactly_are_refused(n in (1u64 << 53) + 1..u64::MAX) {
        let mut v = serde_json::json!({"a": [1, {"b": n}]});
        prop_assert!(proof::add_proof(&mut v, &key(9), Utc::now()).is_err());
        let mut signed = serde_json::json!({"a": [1, {"b": 1}]});
        proof::add_proof(&mut signed, &key(9), Utc::now()).unwrap();
        signed["a"][1]["b"] = n.into();
        let is_not_ijson = matches!(proof::verify(&signed), Err(proof::VerifyError::NotIJson { ref path, .. }) if path == "a[1].b");
        prop_assert!(is_not_ijson);
    }

    #[test]
    fn removing_or_adding_a_field_fails(doc in json_document(), extra in json_value()) {
        let mut v = Value::Object(doc);
        proof::add_proof(&mut v, &key(9), Utc::now()).unwrap();
        let mut added = v.clone();
        added.as_object_mut().unwrap().insert("zzExtra".into(), extra);
        prop_assert!(proof::verify(&added).is_err());
        let mut removed = v.clone();
        let first = removed.as_object().unwrap().keys().find(|k| *k != "proof").cloned().unwrap();
        removed.as_object_mut().unwrap().remove(&first);
        prop_assert!(proof::verify(&removed).is_err());
    }

    #[test]
    fn consent_records_round_trip(doc in consent_record()) {
        round_trip(doc, &key(60));
    }

    #[test]
    fn queries_round_trip(doc in query_doc()) {
        round_trip(doc, &key(50));
    }

    #[test]
    fn partial_answers_round_trip(doc in answer_doc()) {
        round_trip(doc, &key(1));
    }

    #[test]
    fn bundles_certificates_revocations_charters_manifests_round_trip(version in 1u64..50, k in 1u32..100) {
        let w = World::new();
        let mut b = bundle_doc(&w.gent, &w.certifier);
        b.version = version;
        b.previous = (version > 1).then_some(DocHash([version as u8; 32]));
        b.disclosure.min_group_size = k;
        round_trip(b, &w.gent);
        let mut c = cert_doc(&w.certifier, &w.app);
        c.valid_until = c.valid_from + Duration::days(i64::from(k));
        round_trip(c, &w.certifier);
        round_trip(regio_policy::doc::cert::Revocation {
            certificate: w.cert.hash(), certificate_id: format!("urn:uuid:{k}"), issuer: w.certifier.did().clone(),
            reason: "r".repeat(k as usize), revoked_at: now(),
        }, &w.certifier);
        let mut ch = charter_doc();
        ch.clauses.min_group_size = k;
        round_trip(ch, &w.gent);
        let mut m = w.manifest.doc().clone();
        m.threshold = 1 + k % 3;
        round_trip(m, &w.gent);
    }
}
