//! The offline `regio` commands, run as the real binary.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

const W3C_SIGNED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/w3c-eddsa-jcs-2022/signedJCS.json"
);
const CHARTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../charters/inclusion-charter.json"
);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
    #[track_caller]
    fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    #[track_caller]
    fn says(&self, words: &[&str]) -> &Self {
        let text = self.text();
        for w in words {
            assert!(text.contains(w), "expected `{w}` in output:\n{text}");
        }
        self
    }
}

fn regio<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out: Output = Command::new(env!("CARGO_BIN_EXE_regio"))
        .args(args)
        .output()
        .expect("run regio");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A fresh key in `dir`; returns (path, did).
fn new_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(format!("{name}.key"));
    let r = regio(["key", "new", "--out", p(&path)]);
    r.expect(0);
    (path, r.stdout.trim().to_owned())
}

fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn sign(key: &Path, input: &Path, out: &Path) {
    regio(["sign", "--key", p(key), p(input), "-o", p(out)]).expect(0);
}

fn hash_of(file: &Path) -> String {
    let r = regio(["verify", "--json", p(file)]);
    r.expect(0);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    v["hash"].as_str().unwrap().to_owned()
}

#[test]
fn key_new_writes_a_0600_key_file_and_prints_its_did() {
    let dir = tempfile::tempdir().unwrap();
    let (path, did) = new_key(dir.path(), "gent");
    assert!(did.starts_with("did:key:z6Mk"), "{did}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let file = read(&path);
    assert_eq!(file["type"], "Multikey");
    assert_eq!(file["controller"], did.as_str());

    let show = regio(["key", "show", p(&path)]);
    show.expect(0);
    assert_eq!(show.stdout.trim(), did);
    let secret = file["secretKeyMultibase"].as_str().unwrap();
    assert!(
        !show.text().contains(secret),
        "key show must never print the secret"
    );

    regio(["key", "new", "--out", p(&path)])
        .expect(1)
        .says(&["already exists", "--force"]);
    assert_eq!(
        read(&path),
        file,
        "the refused overwrite left the key alone"
    );
    let forced = regio(["key", "new", "--out", p(&path), "--force"]);
    forced.expect(0);
    assert_ne!(forced.stdout.trim(), did);
    regio(["key", "show", p(&dir.path().join("absent.key"))])
        .expect(1)
        .says(&["absent.key", "regio key new"]);
}

#[test]
fn sign_then_verify_and_any_change_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (key, did) = new_key(dir.path(), "k");
    let doc = write(
        dir.path(),
        "note.json",
        &json!({"title": "Parkeerbezetting", "count": 42, "tags": ["a", "b"]}),
    );
    let signed = dir.path().join("note.signed.json");
    sign(&key, &doc, &signed);

    let ok = regio(["verify", p(&signed)]);
    ok.expect(0).says(&["OK", "1 proof verified"]);
    assert_eq!(
        ok.stdout.trim().lines().count(),
        1,
        "one-line summary: {}",
        ok.stdout
    );
    let v: Value = serde_json::from_str(
        regio(["verify", "--json", p(&signed)])
            .expect(0)
            .stdout
            .trim(),
    )
    .unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["proofs"][0]["signer"], did.as_str());
    assert!(v["hash"].as_str().unwrap().starts_with("sha256:"));
    assert!(v["proofs"][0]["created"].as_str().unwrap().ends_with('Z'));

    // A changed value.
    let mut changed = read(&signed);
    changed["count"] = json!(43);
    let changed = write(dir.path(), "changed.json", &changed);
    regio(["verify", p(&changed)]).expect(1).says(&[
        "FAILED",
        "proof 0",
        "does not verify",
        "changed.json",
    ]);
    let j = regio(["verify", "--json", p(&changed)]);
    j.expect(1);
    let v: Value = serde_json::from_str(j.stdout.trim()).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("does not verify"));

    // One flipped byte in the signed text (`4` -> `5` in 42).
    let text = std::fs::read_to_string(&signed).unwrap();
    let flipped = dir.path().join("flipped.json");
    std::fs::write(&flipped, text.replacen("42", "52", 1)).unwrap();
    regio(["verify", p(&flipped)])
        .expect(1)
        .says(&["FAILED", "does not verify"]);

    // Broken JSON names line and column.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, text.replacen("\"count\":", "\"count\" ", 1)).unwrap();
    regio(["verify", p(&broken)])
        .expect(1)
        .says(&["broken.json:", "not valid JSON"]);

    // An unsigned document.
    regio(["verify", p(&doc)])
        .expect(1)
        .says(&["FAILED", "no `proof`"]);

    // The same key cannot sign twice; a second key joins the proof set.
    regio(["sign", "--key", p(&key), p(&signed)])
        .expect(1)
        .says(&["already signed"]);
    let (key2, _) = new_key(dir.path(), "k2");
    let twice = dir.path().join("twice.json");
    sign(&key2, &signed, &twice);
    assert_eq!(read(&twice)["proof"].as_array().unwrap().len(), 2);
    regio(["verify", p(&twice)])
        .expect(0)
        .says(&["2 proofs verified"]);
    // Adding a proof to a document whose proofs are broken is refused.
    regio(["sign", "--key", p(&key2), p(&changed)])
        .expect(1)
        .says(&["existing proofs do not verify"]);
}

#[test]
fn the_w3c_vector_verifies_and_every_changed_value_fails() {
    let ok = regio(["verify", W3C_SIGNED]);
    ok.expect(0).says(&[
        "OK VerifiableCredential/AlumniCredential: 1 proof verified",
        "2023-02-24T23:36:38Z",
    ]);
    let original: Value =
        serde_json::from_str(&std::fs::read_to_string(W3C_SIGNED).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let changes: Vec<(&str, Value)> = vec![
        ("/name", json!("Alumni credential")),
        ("/validFrom", json!("2023-01-01T00:00:01Z")),
        ("/credentialSubject/alumniOf", json!("The School of Samples")),
        ("/proof/created", json!("2023-02-24T23:36:39Z")),
        ("/proof/proofPurpose", json!("authentication")),
        ("/proof/cryptosuite", json!("eddsa-rdfc-2022")),
        ("/proof/@context/1", json!("https://www.w3.org/ns/credentials/examples/v3")),
        ("/@context/1", json!("https://www.w3.org/ns/credentials/examples/v3")),
        (
            "/proof/proofValue",
            json!("z2HnFSSPPBzR36zdDgK8PbEHeXbR56YF24jwMpt3R1eHXQzJDMWS93FCzpvJpwTWd3GAVFuUfjoJdcnTMuVor51aY"),
        ),
        (
            "/proof/verificationMethod",
            json!("did:key:z6MkfemD7iCjx1zjfKESiFpfLxKt96LJqPy5mxL36VFg4E8c#z6MkfemD7iCjx1zjfKESiFpfLxKt96LJqPy5mxL36VFg4E8c"),
        ),
    ];
    for (i, (pointer, value)) in changes.into_iter().enumerate() {
        let mut doc = original.clone();
        *doc.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer}")) = value;
        let file = write(dir.path(), &format!("changed{i}.json"), &doc);
        let r = regio(["verify", p(&file)]);
        assert_eq!(r.code, 1, "changing {pointer} must fail: {}", r.text());
        r.says(&["FAILED", "proof 0"]);
    }
}

#[test]
fn charter_cosigned_by_three_members_and_a_missing_member_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<(PathBuf, String)> = ["gent", "kortrijk", "deinze", "absent"]
        .iter()
        .map(|n| new_key(dir.path(), n))
        .collect();
    let charter = dir.path().join("charter.json");
    std::fs::copy(CHARTER, &charter).unwrap();
    for (key, _) in &keys[..3] {
        regio([
            "charter",
            "sign",
            "--key",
            p(key),
            p(&charter),
            "-o",
            p(&charter),
        ])
        .expect(0);
    }
    assert_eq!(read(&charter)["proof"].as_array().unwrap().len(), 3);
    regio(["charter", "sign", "--key", p(&keys[0].0), p(&charter)])
        .expect(1)
        .says(&["already signed"]);

    let three = keys[..3]
        .iter()
        .map(|(_, d)| d.as_str())
        .collect::<Vec<_>>()
        .join(",");
    regio(["charter", "verify", p(&charter), "--members", &three])
        .expect(0)
        .says(&[
            "OK 3 signatures verified",
            "all 3 listed members signed",
            "min group size",
            "allowed purposes",
        ]);
    regio(["verify", p(&charter)])
        .expect(0)
        .says(&["OK InclusionCharter: 3 proofs verified"]);

    let four = format!("{three},{}", keys[3].1);
    regio(["charter", "verify", p(&charter), "--members", &four])
        .expect(1)
        .says(&["FAILED", "missing signature of member", &keys[3].1]);
    let j = regio([
        "charter",
        "verify",
        "--json",
        p(&charter),
        "--members",
        &four,
    ]);
    j.expect(1);
    let v: Value = serde_json::from_str(j.stdout.trim()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["missing"], json!([keys[3].1]));

    regio([
        "charter",
        "verify",
        p(&charter),
        "--members",
        "did:web:example.org",
    ])
    .expect(2);

    // A tampered clause breaks every member's proof.
    let mut doc = read(&charter);
    doc["clauses"]["minGroupSize"] = json!(5);
    let tampered = write(dir.path(), "tampered.json", &doc);
    regio(["charter", "verify", p(&tampered), "--members", &three])
        .expect(1)
        .says(&["FAILED", "does not verify"]);

    // An invalid charter is not signed at all.
    let mut bad: Value = serde_json::from_str(&std::fs::read_to_string(CHARTER).unwrap()).unwrap();
    bad["clauses"]["minGroupSize"] = json!(0);
    let bad = write(dir.path(), "bad.json", &bad);
    regio(["charter", "sign", "--key", p(&keys[0].0), p(&bad)])
        .expect(1)
        .says(&["clauses.minGroupSize", "at least 1"]);
    // Not a charter.
    let other = write(dir.path(), "other.json", &json!({"type": "Note"}));
    regio(["charter", "sign", "--key", p(&keys[0].0), p(&other)])
        .expect(1)
        .says(&["expected InclusionCharter"]);
}

fn bundle(did: &str, version: u64, previous: Option<&str>, min_group: u32) -> Value {
    let mut b = json!({
        "type": "PolicyBundle",
        "schemaVersion": 1,
        "municipality": {"nis": "44021", "name": "Gent", "did": did},
        "version": version,
        "issued": format!("2026-0{version}-01T00:00:00Z"),
        "datasets": [{"name": "parking", "classification": "open"}],
        "access": {"policy": [["p", "researcher", "leiestreek", "parking", "aggregate", "PublicBenefit"]]},
        "disclosure": {"minGroupSize": min_group}
    });
    if let Some(prev) = previous {
        b["previous"] = json!(prev);
    }
    b
}

/// Signs a bundle with `key` into `dir/name`; returns (path, hash).
fn signed_bundle(dir: &Path, key: &Path, name: &str, body: &Value) -> (PathBuf, String) {
    let unsigned = write(dir, &format!("{name}.unsigned.json"), body);
    let out = dir.join(format!("{name}.json"));
    sign(key, &unsigned, &out);
    let hash = hash_of(&out);
    (out, hash)
}

#[test]
fn policy_verify_chain_accepts_a_chain_and_names_gap_broken_link_fork_and_wrong_signer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, did) = new_key(d, "gent");
    let (v1, h1) = signed_bundle(d, &key, "v1", &bundle(&did, 1, None, 10));
    let (v2, h2) = signed_bundle(d, &key, "v2", &bundle(&did, 2, Some(&h1), 10));
    let (v3, h3) = signed_bundle(d, &key, "v3", &bundle(&did, 3, Some(&h2), 12));

    regio(["verify", p(&v2)])
        .expect(0)
        .says(&["OK PolicyBundle", "Gent (44021) version 2"]);

    // Any order.
    regio(["policy", "verify-chain", p(&v3), p(&v1), p(&v2)])
        .expect(0)
        .says(&[
            "OK chain of Gent",
            "head version 3",
            &h3,
            "version",
            "previous",
            "signer",
        ]);
    // One file holding a JSON array.
    let all = write(d, "all.json", &json!([read(&v1), read(&v2), read(&v3)]));
    regio(["policy", "verify-chain", p(&all)])
        .expect(0)
        .says(&["head version 3"]);
    let j = regio(["policy", "verify-chain", "--json", p(&v1), p(&v2), p(&v3)]);
    j.expect(0);
    let v: Value = serde_json::from_str(j.stdout.trim()).unwrap();
    assert_eq!(v["head"], json!({"version": 3, "hash": h3}));

    // Gap.
    regio(["policy", "verify-chain", p(&v1), p(&v3)])
        .expect(1)
        .says(&["FAILED", "chain gap", "expected version 2, found 3"]);
    // Broken link: version 3 names a hash that is not version 2's.
    let (v3_bad, _) = signed_bundle(d, &key, "v3bad", &bundle(&did, 3, Some(&h1), 12));
    regio(["policy", "verify-chain", p(&v1), p(&v2), p(&v3_bad)])
        .expect(1)
        .says(&["FAILED", "broken link", "version 3", &h2]);
    // Fork: a second, different version 2.
    let (v2_fork, h2_fork) = signed_bundle(d, &key, "v2fork", &bundle(&did, 2, Some(&h1), 20));
    regio(["policy", "verify-chain", p(&v1), p(&v2), p(&v2_fork)])
        .expect(1)
        .says(&["FAILED", "equivocation", "version 2", &h2, &h2_fork]);
    // Wrong signer: someone else signed Gent's version 2.
    let (other, _) = new_key(d, "other");
    let v2_other = d.join("v2other.json");
    let unsigned = write(d, "v2other.unsigned.json", &bundle(&did, 2, Some(&h1), 10));
    regio(["sign", "--key", p(&other), p(&unsigned), "-o", p(&v2_other)])
        .expect(0)
        .says(&["warning", "not by the municipality"]);
    regio(["verify", p(&v2_other)]).expect(1).says(&[
        "FAILED",
        "wrong signer",
        "not by the municipality",
    ]);
    regio(["policy", "verify-chain", p(&v1), p(&v2_other)])
        .expect(1)
        .says(&["FAILED", "wrong signer", "version 2"]);
    // A tampered bundle is named with its file.
    let mut t = read(&v2);
    t["disclosure"]["minGroupSize"] = json!(1);
    let tampered = write(d, "tampered.json", &t);
    regio(["policy", "verify-chain", p(&v1), p(&tampered)])
        .expect(1)
        .says(&["FAILED", "tampered.json", "does not verify"]);
    // Usage: no file.
    regio(["policy", "verify-chain"]).expect(2);
}

#[test]
fn sign_refuses_an_invalid_regio_document() {
    let dir = tempfile::tempdir().unwrap();
    let (key, did) = new_key(dir.path(), "gent");
    let bad = write(dir.path(), "bad.json", &bundle(&did, 2, None, 10));
    let r = regio([
        "sign",
        "--key",
        p(&key),
        p(&bad),
        "-o",
        p(&dir.path().join("out.json")),
    ]);
    r.expect(1)
        .says(&["bad.json", "not a valid PolicyBundle", "previous"]);
    assert!(!dir.path().join("out.json").exists(), "nothing written");
    let mut unknown_field = bundle(&did, 1, None, 10);
    unknown_field["colour"] = json!("blue");
    let unknown_field = write(dir.path(), "unknown.json", &unknown_field);
    regio(["sign", "--key", p(&key), p(&unknown_field)])
        .expect(1)
        .says(&["colour"]);
}

fn cert_template(app: &str) -> Value {
    json!({
        "credentialSubject": {
            "id": app,
            "name": "Mobiliteitsdashboard",
            "organisation": "Stad Gent",
            "purposes": ["PublicBenefit"],
            "datasets": ["parking"],
            "algorithm": {
                "name": "occupancy",
                "description": "Telt per uur hoeveel parkeerplaatsen bezet zijn.",
                "source": "https://example.invalid/occupancy.git",
                "hash": format!("sha256:{}", "ab".repeat(32))
            },
            "assessment": {
                "criteria": "urn:regio:criteria:1",
                "level": "standard",
                "riskCategory": "limited",
                "report": "https://example.invalid/report.pdf"
            }
        }
    })
}

#[test]
fn cert_issue_verify_expire_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (board, board_did) = new_key(d, "board");
    let (_, app) = new_key(d, "app");
    let template = write(d, "template.json", &cert_template(&app));
    let cert = d.join("cert.json");
    regio([
        "cert",
        "issue",
        "--key",
        p(&board),
        p(&template),
        "-o",
        p(&cert),
        "--valid-from",
        "2026-01-01T00:00:00Z",
        "--valid-days",
        "365",
    ])
    .expect(0)
    .says(&["issued urn:uuid:"]);
    let c = read(&cert);
    assert_eq!(c["issuer"], board_did.as_str());
    assert_eq!(c["validUntil"], "2027-01-01T00:00:00Z");
    assert_eq!(
        c["type"],
        json!(["VerifiableCredential", "EthicsCertificate"])
    );

    regio(["cert", "verify", p(&cert), "--at", "2026-06-01T00:00:00Z"])
        .expect(0)
        .says(&[
            "Mobiliteitsdashboard",
            "PublicBenefit",
            "parking",
            "OK valid at 2026-06-01T00:00:00Z",
        ]);
    regio(["cert", "verify", p(&cert), "--at", "2027-01-02T00:00:00Z"])
        .expect(1)
        .says(&["FAILED", "expired", "2027-01-01T00:00:00Z"]);
    regio(["cert", "verify", p(&cert), "--at", "2025-12-31T00:00:00Z"])
        .expect(1)
        .says(&["FAILED", "not yet valid"]);
    regio(["cert", "verify", p(&cert), "--at", "yesterday"]).expect(2);
    let j = regio([
        "cert",
        "verify",
        "--json",
        p(&cert),
        "--at",
        "2026-06-01T00:00:00Z",
    ]);
    j.expect(0);
    let v: Value = serde_json::from_str(j.stdout.trim()).unwrap();
    assert_eq!(v["validAt"], true);
    assert_eq!(v["subject"]["id"], app.as_str());
    regio(["verify", p(&cert)])
        .expect(0)
        .says(&["OK VerifiableCredential/EthicsCertificate"]);

    // Tampered scope.
    let mut t = c.clone();
    t["credentialSubject"]["datasets"] = json!(["*"]);
    let t = write(d, "tampered.json", &t);
    regio(["cert", "verify", p(&t), "--at", "2026-06-01T00:00:00Z"])
        .expect(1)
        .says(&["FAILED", "does not verify"]);

    // Another key cannot issue in the board's name.
    let (other, _) = new_key(d, "other");
    let mut named = cert_template(&app);
    named["issuer"] = json!(board_did);
    let named = write(d, "named.json", &named);
    regio([
        "cert",
        "issue",
        "--key",
        p(&other),
        p(&named),
        "--valid-days",
        "30",
    ])
    .expect(1)
    .says(&["issuer", "belongs to"]);
    // Validity must be given somewhere.
    regio(["cert", "issue", "--key", p(&board), p(&template)])
        .expect(1)
        .says(&["--valid-until", "--valid-days"]);
    regio([
        "cert",
        "issue",
        "--key",
        p(&board),
        p(&template),
        "--valid-until",
        "2027-01-01T00:00:00Z",
        "--valid-days",
        "3",
    ])
    .expect(2);
    // Invalid content is named.
    let mut bad = cert_template(&app);
    bad["credentialSubject"]["purposes"] = json!(["Marketing-ish"]);
    let bad = write(d, "bad.json", &bad);
    regio([
        "cert",
        "issue",
        "--key",
        p(&board),
        p(&bad),
        "--valid-days",
        "30",
    ])
    .expect(1)
    .says(&["credentialSubject.purposes"]);

    // Revocation by the issuer only.
    regio([
        "cert",
        "revoke",
        "--key",
        p(&other),
        p(&cert),
        "--reason",
        "x",
    ])
    .expect(1)
    .says(&["only the issuer"]);
    let rev = d.join("rev.json");
    regio([
        "cert",
        "revoke",
        "--key",
        p(&board),
        p(&cert),
        "--reason",
        "algorithm changed",
        "-o",
        p(&rev),
    ])
    .expect(0);
    let r = read(&rev);
    assert_eq!(r["type"], "Revocation");
    assert_eq!(r["certificate"], hash_of(&cert).as_str());
    regio(["verify", p(&rev)])
        .expect(0)
        .says(&["OK Revocation"]);
}

#[test]
fn reasons_and_help() {
    regio(["reasons"])
        .expect(0)
        .says(&["| `certificate.revoked` |", "| `charter.quota_exceeded` |"]);
    let j = regio(["reasons", "--json"]);
    j.expect(0);
    let v: Value = serde_json::from_str(j.stdout.trim()).unwrap();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"] == "signature.invalid"));

    let help = regio(["--help"]);
    help.expect(0).says(&[
        "key", "sign", "verify", "policy", "cert", "charter", "reasons", "init", "node", "ingest",
        "dataset", "consent",
    ]);
    assert!(
        help.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("demo")),
        "`demo` is listed"
    );
    regio(["frobnicate"]).expect(2);
}
