//! `regio query`, `consent grant|withdraw`, `policy publish|show|history` and `cert submit`
//! end to end on the real binary against a real node (`regio node run`): one node, alone in
//! the demo region, signed documents from `regio_demo::region` (the node key is the
//! demo's node 0 key, written over the one `regio init` made).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{Duration, Utc};
use common::{regio, RunningNode, READINGS_SCHEMA};
use regio_demo::region::{self, Actors};

const PURPOSE: &str = "ResearchAndDevelopment";
const COUNT: &str = "SELECT count(*) AS n FROM readings";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// (subject, rows, consent lines): subj-a and subj-b consent to R&D; subj-c only to
/// ServiceProvision; subj-d withdrew in 2023; 12 rows have no subject.
const SUBJECTS: [(Option<&str>, usize); 5] = [
    (None, 12),
    (Some("subj-a"), 9),
    (Some("subj-b"), 6),
    (Some("subj-c"), 4),
    (Some("subj-d"), 3),
];
const CONSENT: &str = r#"{"subject":"subj-a","purpose":"ResearchAndDevelopment","granted":true,"given_at":"2023-03-01T10:00:00Z","withdrawn_at":null}
{"subject":"subj-b","purpose":"ResearchAndDevelopment","granted":true,"given_at":"2023-04-01T10:00:00Z","withdrawn_at":null}
{"subject":"subj-c","purpose":"ServiceProvision","granted":true,"given_at":"2023-04-01T10:00:00Z","withdrawn_at":null}
{"subject":"subj-d","purpose":"ResearchAndDevelopment","granted":true,"given_at":"2023-01-01T10:00:00Z","withdrawn_at":"2023-06-01T10:00:00Z"}
"#;
/// Ten more citizens who consent to R&D, one reading each: the minimum group size (10) counts
/// distinct citizens, so without them the count would be suppressed.
const CROWD: usize = 10;
/// Rows without subject plus those of subj-a, subj-b and the crowd.
const EXPECTED: usize = 12 + 9 + 6 + CROWD;

fn crowd(i: usize) -> String {
    format!("subj-crowd-{i:02}")
}

/// The consent lines: [`CONSENT`] and the crowd's.
fn consent() -> String {
    let mut out = CONSENT.to_owned();
    for i in 0..CROWD {
        out.push_str(&format!("{{\"subject\":\"{}\",\"purpose\":\"ResearchAndDevelopment\",\"granted\":true,\"given_at\":\"2023-05-01T10:00:00Z\",\"withdrawn_at\":null}}\n", crowd(i)));
    }
    out
}

fn readings() -> String {
    let mut out = String::new();
    let mut i = 0;
    let names: Vec<String> = (0..CROWD).map(crowd).collect();
    let all = SUBJECTS
        .into_iter()
        .chain(names.iter().map(|c| (Some(c.as_str()), 1)));
    for (subject, n) in all {
        for _ in 0..n {
            i += 1;
            let row = serde_json::json!({
                "id": format!("44021-{i:09}"), "municipality": "44021", "sensor_id": "44021-S0000", "subject": subject,
                "observed_at": format!("2024-01-01T{:02}:{:02}:00Z", i / 60, i % 60), "no2": 20.0 + i as f64, "pm25": 10.0, "pm10": 15.0,
                "lat": 51.05, "lon": 3.72,
            });
            out.push_str(&format!("{row}\n"));
        }
    }
    out
}

/// A node with data, consent and every signed document, and the files the tests use.
struct Setup {
    _tmp: tempfile::TempDir,
    node: RunningNode,
    dir: PathBuf,
    app_key: PathBuf,
    clerk_key: PathBuf,
    cert: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.node.child.kill();
        let _ = self.node.child.wait();
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let actors = Actors::new(1);
        let dir = tmp.path().join("gent");
        ok(&regio(&[
            "init",
            "--dir",
            s(&dir),
            "--nis",
            "44021",
            "--name",
            "Gent",
            "--clerk",
            actors.clerk.did().as_str(),
        ]));
        let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
        assert!(
            config.contains(&format!("clerks = [\"{}\"]", actors.clerk.did())),
            "{config}"
        );
        // The node speaks with the demo's node-0 key, so that the demo documents name it.
        std::fs::write(dir.join("node.key"), actors.nodes[0].to_file_json()).unwrap();
        let node = RunningNode::start(&dir);
        let url = node.url.clone();
        let files = tmp.path();
        ok(&regio(&[
            "dataset",
            "create",
            "--node",
            &url,
            "--dir",
            s(&dir),
            s(&write(files, "schema.json", READINGS_SCHEMA)),
        ]));
        ok(&regio(&[
            "ingest",
            "--node",
            &url,
            "--dir",
            s(&dir),
            "--dataset",
            "readings",
            s(&write(files, "readings.ndjson", &readings())),
        ]));
        ok(&regio(&[
            "consent",
            "import",
            "--node",
            &url,
            "--dir",
            s(&dir),
            s(&write(files, "consent.ndjson", &consent())),
        ]));

        let docs =
            region::documents(&actors, &[vec![]], Utc::now() - Duration::minutes(1)).unwrap();
        let policy = write(files, "policy.json", &docs.policies[0].to_json_pretty());
        let out = ok(&regio(&[
            "policy",
            "publish",
            "--node",
            &url,
            "--dir",
            s(&dir),
            s(&policy),
        ]));
        assert!(
            out.starts_with("published policy version 1 of Gent (44021): sha256:"),
            "{out}"
        );
        // Charter and manifest: no CLI command of this branch submits them (`regio region` is another's).
        let token = std::fs::read_to_string(dir.join("admin.token")).unwrap();
        for (route, doc) in [
            ("/v1/charters", docs.charter.raw()),
            ("/v1/regions", docs.manifest.raw()),
        ] {
            let resp = ureq::post(&format!("{url}{route}"))
                .header("Authorization", &format!("Bearer {}", token.trim()))
                .send(doc.to_string())
                .unwrap();
            assert_eq!(resp.status().as_u16(), 201, "{route}");
        }
        let cert = write(files, "cert.json", &docs.certificate.to_json_pretty());
        let out = ok(&regio(&[
            "cert",
            "submit",
            "--node",
            &url,
            "--dir",
            s(&dir),
            s(&cert),
        ]));
        assert!(
            out.contains(&format!("stored certificate {}", docs.certificate.doc().id)),
            "{out}"
        );
        let app_key = write(files, "app.key", &actors.app.to_file_json());
        let clerk_key = write(files, "clerk.key", &actors.clerk.to_file_json());
        Setup {
            _tmp: tmp,
            node,
            dir,
            app_key,
            clerk_key,
            cert,
        }
    }

    fn query(&self, extra: &[&str], sql: &str) -> Output {
        let mut args = vec![
            "query",
            "--node",
            &self.node.url,
            "--key",
            s(&self.app_key),
            "--purpose",
            PURPOSE,
        ];
        args.extend_from_slice(extra);
        args.push(sql);
        regio(&args)
    }

    /// The count of readings through `regio query --format csv`.
    fn count(&self) -> String {
        ok(&self.query(
            &[
                "--cert",
                s(&self.cert),
                "--region",
                region::REGION,
                "--format",
                "csv",
            ],
            COUNT,
        ))
    }
}

#[test]
fn query_consent_withdrawal_and_refusals_end_to_end() {
    let st = Setup::new();
    let url = st.node.url.clone();
    assert_eq!(st.count(), format!("n\n{EXPECTED}\n"));

    // Without --region: the node's only region (from GET /v1/regions).
    let out = ok(&st.query(&["--cert", s(&st.cert), "--format", "csv"], COUNT));
    assert_eq!(out, format!("n\n{EXPECTED}\n"));

    let out = ok(&st.query(
        &[
            "--cert",
            s(&st.cert),
            "--region",
            region::REGION,
            "--format",
            "json",
        ],
        COUNT,
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["result"]["rows"][0][0], EXPECTED, "{v}");
    assert_eq!(v["coverage"], serde_json::json!([1, 1]), "{v}");
    assert_eq!(v["provenance"][0]["status"], "answered", "{v}");
    assert_eq!(v["answers"].as_array().map(Vec::len), Some(1), "{v}");

    let out = ok(&st.query(&["--cert", s(&st.cert), "--region", region::REGION], COUNT));
    println!("{out}");
    let trace = out
        .lines()
        .next()
        .unwrap()
        .strip_prefix("traceparent: ")
        .unwrap();
    assert!(
        trace.len() == 55 && trace.starts_with("00-") && trace.ends_with("-01"),
        "{trace}"
    );
    assert!(
        out.contains(&format!("│ {EXPECTED} │"))
            && out.contains("Gent")
            && out.contains("44021")
            && out.contains("answered"),
        "{out}"
    );
    assert!(out.contains("coverage: 1/1 members answered"), "{out}");

    // No certificate: refused with the node's reason and what to do next.
    let out = st.query(&["--region", region::REGION, "--format", "csv"], COUNT);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    assert!(
        err.contains("refused: certificate.missing") && err.contains("pass --cert"),
        "{err}"
    );

    // The clerk withdraws subj-a's consent: the count drops by exactly subj-a's 9 rows.
    let out = ok(&regio(&[
        "consent",
        "withdraw",
        "--node",
        &url,
        "--dir",
        s(&st.dir),
        "--subject",
        "subj-a",
        "--dataset",
        "readings",
        "--purpose",
        PURPOSE,
        "--clerk-key",
        s(&st.clerk_key),
        "--channel",
        "paper",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v[0]["id"].as_str(), v[0]["status"].as_str()),
        (Some("subj-a/ResearchAndDevelopment"), Some("withdrawn")),
        "{v}"
    );
    assert!(v[0]["hash"].as_str().unwrap().starts_with("sha256:"), "{v}");
    assert_eq!(st.count(), format!("n\n{}\n", EXPECTED - 9));

    // A clerk the node does not know: refused with the node's code, nothing changes.
    let stranger = st.dir.parent().unwrap().join("stranger.key");
    ok(&regio(&["key", "new", "--out", s(&stranger)]));
    let out = regio(&[
        "consent",
        "withdraw",
        "--node",
        &url,
        "--dir",
        s(&st.dir),
        "--subject",
        "subj-b",
        "--dataset",
        "readings",
        "--purpose",
        PURPOSE,
        "--clerk-key",
        s(&stranger),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("400 document.invalid") && err.contains("clerk"),
        "{err}"
    );
    assert_eq!(st.count(), format!("n\n{}\n", EXPECTED - 9));

    // The subject's own key grants consent again (subject key, channel app).
    let subject_key = st.dir.parent().unwrap().join("subj-a.key");
    ok(&regio(&["key", "new", "--out", s(&subject_key)]));
    let out = ok(&regio(&[
        "consent",
        "grant",
        "--node",
        &url,
        "--dir",
        s(&st.dir),
        "--subject",
        "subj-a",
        "--dataset",
        "*",
        "--purpose",
        PURPOSE,
        "--key",
        s(&subject_key),
    ]));
    assert!(
        out.starts_with("stored consent subj-a/ResearchAndDevelopment (given, channel app"),
        "{out}"
    );
    assert_eq!(st.count(), format!("n\n{EXPECTED}\n"));

    // The node's policy, and its history verified as a chain.
    let out = ok(&regio(&["policy", "show", "--node", &url]));
    assert!(
        out.contains("municipality  Gent (44021)") && out.contains("version       1 issued"),
        "{out}"
    );
    let out = ok(&regio(&["policy", "history", "--node", &url, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["head"]["version"].as_u64()),
        (Some(true), Some(1)),
        "{v}"
    );

    // Revoking the certificate at the node: the next query is refused as revoked.
    let certifier = st.dir.parent().unwrap().join("certifier.key");
    std::fs::write(&certifier, Actors::new(1).certifier.to_file_json()).unwrap();
    let out = regio(&[
        "cert",
        "revoke",
        "--key",
        s(&certifier),
        s(&st.cert),
        "--reason",
        "test",
        "--node",
        &url,
        "--dir",
        s(&st.dir),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("submitted the revocation to the node: sha256:"),
        "{}",
        text(&out.stderr)
    );
    let out = st.query(
        &[
            "--cert",
            s(&st.cert),
            "--region",
            region::REGION,
            "--format",
            "csv",
        ],
        COUNT,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refused: certificate.revoked"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_input_is_named_and_changes_nothing() {
    let st = Setup::new();
    let files = st.dir.parent().unwrap();

    let missing = files.join("missing.key");
    let out = regio(&[
        "query",
        "--node",
        &st.node.url,
        "--key",
        s(&missing),
        "--purpose",
        PURPOSE,
        "--region",
        region::REGION,
        COUNT,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("cannot read key file {}", missing.display())),
        "{}",
        text(&out.stderr)
    );

    let bad_cert = write(files, "bad-cert.json", "certificate: yes\n");
    let out = st.query(&["--cert", s(&bad_cert), "--region", region::REGION], COUNT);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("{}:1:1: not valid JSON", bad_cert.display())),
        "{}",
        text(&out.stderr)
    );

    let out = st.query(
        &[
            "--cert",
            s(&st.cert),
            "--region",
            region::REGION,
            "--format",
            "csv",
        ],
        "SELECT count(*) FROM readings JOIN sensors ON true",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("refused: query.unsupported")
            && err.contains("unsupported at 1:36: JOIN (queries read one dataset)")
            && err.contains("JOIN"),
        "{err}"
    );

    let out = regio(&[
        "cert",
        "submit",
        "--node",
        &st.node.url,
        "--dir",
        s(&st.dir),
        s(&bad_cert),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad-cert.json:1:1: not valid JSON"),
        "{}",
        text(&out.stderr)
    );

    let out = regio(&[
        "query",
        "--node",
        "http://127.0.0.1:9",
        "--key",
        s(&st.app_key),
        "--purpose",
        PURPOSE,
        "--region",
        "r",
        COUNT,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    // Nothing above changed the data: the count is the same.
    assert_eq!(st.count(), format!("n\n{EXPECTED}\n"));
}
