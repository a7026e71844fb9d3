//! Third-party vectors, byte for byte: W3C vc-di-eddsa `eddsa-jcs-2022` and RFC 8785 (JCS)
//! from `../shared/conformance` (override with `REGIO_CONFORMANCE`).
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use chrono::DateTime;
use regio_policy::{proof, Key};
use serde_json::Value;

fn dir(sub: &str) -> PathBuf {
    let root = std::env::var_os("REGIO_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
        });
    root.join(sub)
}

fn read(sub: &str, name: &str) -> String {
    let path = dir(sub).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(sub: &str, name: &str) -> Value {
    serde_json::from_str(&read(sub, name)).unwrap()
}

const W3C: &str = "w3c-eddsa-jcs-2022";

#[test]
fn w3c_eddsa_jcs_2022_is_rebuilt_byte_for_byte() {
    let key = Key::from_file_json(&read(W3C, "keyPair.json")).unwrap();
    let unsigned = json(W3C, "unsigned.json");
    let config = json(W3C, "proofConfigJCS.json");

    let canon_doc = proof::canonical(&unsigned);
    assert_eq!(
        String::from_utf8(canon_doc.clone()).unwrap(),
        read(W3C, "canonDocJCS.txt").trim_end()
    );
    let canon_proof = proof::canonical(&config);
    assert_eq!(
        String::from_utf8(canon_proof).unwrap(),
        read(W3C, "proofCanonJCS.txt").trim_end()
    );
    assert_eq!(
        hex::encode(proof::canonical_hash(&unsigned)),
        read(W3C, "docHashJCS.txt").trim()
    );
    assert_eq!(
        hex::encode(proof::canonical_hash(&config)),
        read(W3C, "proofHashJCS.txt").trim()
    );
    let combined = proof::hash_data(&config, &unsigned);
    assert_eq!(
        hex::encode(combined),
        read(W3C, "combinedHashJCS.txt").trim()
    );
    let sig = key.sign_bytes(&combined);
    assert_eq!(hex::encode(sig), read(W3C, "sigHexJCS.txt").trim());

    // The whole signing path, with the vector's `created`, gives signedJCS.json exactly.
    let created = DateTime::parse_from_rfc3339(config["created"].as_str().unwrap())
        .unwrap()
        .to_utc();
    let mut signed = unsigned.clone();
    proof::add_proof(&mut signed, &key, created).unwrap();
    let expected = json(W3C, "signedJCS.json");
    assert_eq!(signed, expected);
    assert_eq!(
        signed["proof"]["proofValue"].as_str().unwrap(),
        read(W3C, "sigBTC58JCS.txt").trim()
    );
    assert_eq!(proof::canonical(&signed), proof::canonical(&expected));

    let info = proof::verify(&expected).unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].signer, *key.did());
}

#[test]
fn w3c_signed_vector_fails_after_any_change() {
    let expected = json(W3C, "signedJCS.json");
    let mut changes: Vec<Value> = Vec::new();
    let mut a = expected.clone();
    a["name"] = "Alumni Credentia1".into();
    changes.push(a);
    let mut b = expected.clone();
    b["credentialSubject"]["id"] = "did:example:abcdefgi".into();
    changes.push(b);
    let mut c = expected.clone();
    c["proof"]["created"] = "2023-02-24T23:36:39Z".into();
    changes.push(c);
    let mut d = expected.clone();
    d["type"][1] = "AlumniCredentia1".into();
    changes.push(d);
    let mut e = expected.clone();
    e.as_object_mut()
        .unwrap()
        .insert("extra".into(), true.into());
    changes.push(e);
    for (i, changed) in changes.iter().enumerate() {
        let err = proof::verify(changed).unwrap_err();
        assert!(
            matches!(err, proof::VerifyError::BadSignature { index: 0, .. }),
            "change {i}: {err}"
        );
    }
}

#[test]
fn rfc8785_inputs_canonicalise_to_the_outputs_exactly() {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir("rfc8785-jcs/input")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let input: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let want = std::fs::read(dir("rfc8785-jcs/output").join(&name)).unwrap();
        let got = proof::canonical(&input);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{name}"
        );
        assert_eq!(got, want, "{name}");
        seen += 1;
    }
    assert_eq!(seen, 6);
}
