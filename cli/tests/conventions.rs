//! The command line's conventions, across commands: exit codes (2 usage, 3 unreachable)
//! documented in `--help` and honoured by every node command, `--json` on the commands that
//! print a result, `regio node wait`, and `regio completions bash|zsh|fish`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{RunningNode, REGIO};
use serde_json::Value;

fn run(args: &[&str], node_env: Option<&str>) -> Output {
    let mut c = Command::new(REGIO);
    c.args(args)
        .env_remove("REGIO_TOKEN")
        .env_remove("REGIO_NODE");
    if let Some(n) = node_env {
        c.env("REGIO_NODE", n);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn code(out: &Output, expected: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(expected),
        "{what}: stdout {}\nstderr {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The JSON document a `--json` command printed (exactly one, nothing else on stdout).
#[track_caller]
fn json(out: &Output) -> Value {
    code(out, 0, "a --json command");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            text(&out.stdout)
        )
    })
}

/// A port on loopback that nothing listens on (bound, then released).
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn help_documents_the_exit_codes_and_the_environment() {
    let out = run(&["--help"], None);
    code(&out, 0, "--help");
    let help = text(&out.stdout);
    for line in [
        "0  ok",
        "1  a verification failed",
        "2  usage",
        "3  the node could not be reached",
        "REGIO_NODE",
        "REGIO_TOKEN",
        "completions",
    ] {
        assert!(help.contains(line), "--help lacks {line:?}:\n{help}");
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    assert!(readme.contains("**Exit codes**, for every command (also in `regio --help`): 0 ok; 1 a verification failed"), "README");
}

#[test]
fn usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let cert = tmp.path().join("cert.json");
    std::fs::write(&cert, "{}").unwrap();
    for (args, what) in [
        (vec!["frobnicate"], "unknown command"),
        (
            vec!["query", "--purpose", "ResearchAndDevelopment", "SELECT 1"],
            "missing --key",
        ),
        (vec!["completions", "powershell-classic"], "unknown shell"),
        (vec!["completions"], "no shell"),
        (vec!["node", "wait", "--timeout", "soon"], "bad duration"),
        (
            vec!["dataset", "list", "--node", "127.0.0.1:7480"],
            "a --node that is not a URL",
        ),
        (
            vec![
                "cert",
                "revoke",
                "--key",
                "k.key",
                s(&cert),
                "--reason",
                "r",
                "--dir",
                "gent",
            ],
            "--dir without --submit",
        ),
    ] {
        code(&run(&args, None), 2, what);
    }
    let odd = tmp.path().join("records.txt");
    std::fs::write(&odd, "x\n").unwrap();
    let out = run(
        &["ingest", "--dataset", "readings", s(&odd)],
        Some(&closed_port()),
    );
    code(&out, 2, "ingest of a file whose format cannot be told");
    assert!(
        text(&out.stderr).contains("pass --format ndjson|csv|ngsi-ld"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["dataset", "list", "--node", "127.0.0.1:7480"], None);
    assert!(
        text(&out.stderr).contains("such as http://127.0.0.1:7480"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn every_node_command_exits_3_when_the_node_is_unreachable() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("app.key");
    code(&run(&["key", "new", "--out", s(&key)], None), 0, "key new");
    let token_dir = tmp.path().join("node");
    std::fs::create_dir(&token_dir).unwrap();
    std::fs::write(token_dir.join("admin.token"), "0123\n").unwrap();
    let file = tmp.path().join("x.ndjson");
    std::fs::write(&file, "{}\n").unwrap();
    let schema = tmp.path().join("schema.json");
    std::fs::write(&schema, common::READINGS_SCHEMA).unwrap();
    let charter = tmp.path().join("charter.json");
    let template = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../charters/inclusion-charter.json"
    );
    code(
        &run(
            &[
                "charter",
                "sign",
                "--key",
                s(&key),
                template,
                "-o",
                s(&charter),
            ],
            None,
        ),
        0,
        "charter sign",
    );
    let url = closed_port();
    let d = s(&token_dir);
    let commands: Vec<Vec<&str>> = vec![
        vec!["node", "wait", "--timeout", "300ms"],
        vec!["dataset", "list"],
        vec!["dataset", "create", "--dir", d, s(&schema)],
        vec!["charter", "submit", "--dir", d, s(&charter)],
        vec![
            "region",
            "create",
            "--id",
            "r",
            "--name",
            "R",
            "--charter",
            s(&charter),
            "--threshold",
            "1",
            "--member-node",
            &url,
            "--key",
            s(&key),
            "-o",
            "unused.json",
        ],
        vec!["ingest", "--dir", d, "--dataset", "readings", s(&file)],
        vec!["consent", "import", "--dir", d, s(&file)],
        vec!["consent", "history", "--dir", d, "--subject", "subj-1"],
        vec!["consent", "receipt", "--dir", d, "--subject", "subj-1"],
        vec![
            "consent",
            "grant",
            "--dir",
            d,
            "--subject",
            "subj-1",
            "--dataset",
            "readings",
            "--purpose",
            "ResearchAndDevelopment",
            "--key",
            s(&key),
        ],
        vec!["policy", "show"],
        vec!["policy", "history", "--json"],
        vec!["region", "members"],
        vec![
            "query",
            "--key",
            s(&key),
            "--purpose",
            "ResearchAndDevelopment",
            "SELECT count(*) AS n FROM readings",
        ],
        vec!["audit", "export", "--dir", d, "-o", "unused"],
        vec!["audit", "log", "--dir", d, "--node", &url],
    ];
    for args in &commands {
        let out = run(args, Some(&url));
        code(&out, 3, &args.join(" "));
        assert!(
            text(&out.stderr).contains(&url[7..]),
            "{}: the message names the node: {}",
            args.join(" "),
            text(&out.stderr)
        );
    }
    // --node wins over REGIO_NODE.
    code(
        &run(
            &["dataset", "list", "--node", &url],
            Some("http://127.0.0.1:1"),
        ),
        3,
        "dataset list --node",
    );
}

#[test]
fn completions_for_bash_zsh_and_fish_name_the_subcommands() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef regio"),
        ("fish", "complete -c regio"),
    ] {
        let out = run(&["completions", shell], None);
        code(&out, 0, shell);
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for sub in [
            "query",
            "audit",
            "consent",
            "region",
            "completions",
            "verify-chain",
        ] {
            assert!(script.contains(sub), "{shell} script lacks {sub}");
        }
    }
}

#[test]
fn offline_json_outputs_are_one_document() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("k.key");
    let v = json(&run(&["key", "new", "--out", s(&key), "--json"], None));
    let did = v["did"].as_str().unwrap().to_owned();
    assert!(did.starts_with("did:key:z6Mk"), "{v}");
    assert_eq!(
        json(&run(&["key", "show", s(&key), "--json"], None))["did"],
        did.as_str()
    );
    let dir = tmp.path().join("gent");
    let v = json(&run(
        &[
            "init",
            "--dir",
            s(&dir),
            "--nis",
            "44021",
            "--name",
            "Gent",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        (v["nis"].as_str(), v["name"].as_str(), v["api"].as_str()),
        (Some("44021"), Some("Gent"), Some("http://127.0.0.1:7480")),
        "{v}"
    );
    assert!(v["did"].as_str().unwrap().starts_with("did:key:"), "{v}");
    assert_eq!(
        json(&run(&["reasons", "--json"], None))
            .as_array()
            .map(Vec::len),
        Some(regio_policy::decision::Reason::ALL.len())
    );
}

#[test]
fn node_wait_and_json_against_a_running_node() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gent");
    common::init(&dir);
    let node = Stopped(Some(RunningNode::start(&dir)));
    let node = node.0.as_ref().unwrap();
    let v = json(&run(
        &["node", "wait", "--json", "--members"],
        Some(&node.url),
    ));
    assert_eq!(
        (v["name"].as_str(), v["nis"].as_str(), v["node"].as_str()),
        (Some("Gent"), Some("44021"), Some(node.url.as_str())),
        "{v}"
    );
    let out = run(&["node", "wait"], Some(&node.url));
    code(&out, 0, "node wait");
    assert!(
        text(&out.stdout).starts_with(&format!("Gent (44021) is up at {}", node.url)),
        "{}",
        text(&out.stdout)
    );

    let schema = tmp.path().join("schema.json");
    std::fs::write(&schema, common::READINGS_SCHEMA).unwrap();
    let v = json(&run(
        &["dataset", "create", "--dir", s(&dir), s(&schema), "--json"],
        Some(&node.url),
    ));
    assert_eq!(
        (v["dataset"].as_str(), v["fields"].as_u64()),
        (Some("readings"), Some(10)),
        "{v}"
    );
    let records = tmp.path().join("r.ndjson");
    std::fs::write(&records, "{\"id\":\"1\",\"municipality\":\"44021\",\"sensor_id\":\"s\",\"subject\":null,\"observed_at\":\"2024-01-01T00:00:00Z\",\"no2\":1.5}\n").unwrap();
    let v = json(&run(
        &[
            "ingest",
            "--dir",
            s(&dir),
            "--dataset",
            "readings",
            s(&records),
            "--json",
        ],
        Some(&node.url),
    ));
    assert_eq!(
        (
            v["dataset"].as_str(),
            v["stored"].as_u64(),
            v["rejected"].as_array().map(Vec::len)
        ),
        (Some("readings"), Some(1), Some(0)),
        "{v}"
    );
    let consent = tmp.path().join("c.ndjson");
    std::fs::write(&consent, "{\"subject\":\"subj-1\",\"purpose\":\"ResearchAndDevelopment\",\"granted\":true,\"given_at\":\"2023-03-01T10:00:00Z\",\"withdrawn_at\":null}\n").unwrap();
    let v = json(&run(
        &["consent", "import", "--dir", s(&dir), s(&consent), "--json"],
        Some(&node.url),
    ));
    assert_eq!(
        (
            v["imported"].as_u64(),
            v["rejected"].as_array().map(Vec::len)
        ),
        (Some(1), Some(0)),
        "{v}"
    );
    // The signed documents a node takes, each with --json.
    let node_key = dir.join("node.key");
    let body = tmp.path().join("policy.json");
    std::fs::write(&body, r#"{"datasets": [{"name": "readings", "classification": "open"}], "access": {"policy": []}, "disclosure": {"minGroupSize": 10}}"#).unwrap();
    let bundle = tmp.path().join("v1.json");
    code(
        &run(
            &[
                "policy",
                "sign",
                "--dir",
                s(&dir),
                s(&body),
                "-o",
                s(&bundle),
            ],
            None,
        ),
        0,
        "policy sign",
    );
    let v = json(&run(
        &["policy", "publish", "--dir", s(&dir), s(&bundle), "--json"],
        Some(&node.url),
    ));
    assert_eq!(
        (v["version"].as_u64(), v["municipality"]["nis"].as_str()),
        (Some(1), Some("44021")),
        "{v}"
    );
    let charter = tmp.path().join("charter.json");
    let template = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../charters/inclusion-charter.json"
    );
    code(
        &run(
            &[
                "charter",
                "sign",
                "--key",
                s(&node_key),
                template,
                "-o",
                s(&charter),
            ],
            None,
        ),
        0,
        "charter sign",
    );
    let v = json(&run(
        &["charter", "submit", "--dir", s(&dir), s(&charter), "--json"],
        Some(&node.url),
    ));
    assert_eq!(
        (v["id"].as_str(), v["signers"].as_u64()),
        (Some("urn:regio:charter:default:1"), Some(1)),
        "{v}"
    );
    let manifest = tmp.path().join("region.json");
    let v = json(&run(
        &[
            "region",
            "create",
            "--id",
            "solo",
            "--name",
            "Solo",
            "--charter",
            s(&charter),
            "--threshold",
            "1",
            "--member-node",
            &node.url,
            "--key",
            s(&node_key),
            "-o",
            s(&manifest),
            "--json",
        ],
        None,
    ));
    assert_eq!(
        (
            v["region"].as_str(),
            v["signatures"].as_u64(),
            v["required"].as_u64(),
            v["ready"].as_bool()
        ),
        (Some("solo"), Some(1), Some(1), Some(true)),
        "{v}"
    );
    let v = json(&run(
        &["region", "join", "--dir", s(&dir), s(&manifest), "--json"],
        Some(&node.url),
    ));
    assert_eq!(
        (
            v["region"].as_str(),
            v["version"].as_u64(),
            v["members"].as_u64()
        ),
        (Some("solo"), Some(1), Some(1)),
        "{v}"
    );
    let export = tmp.path().join("audit");
    let v = json(&run(
        &[
            "audit",
            "export",
            "--dir",
            s(&dir),
            "-o",
            s(&export),
            "--json",
        ],
        Some(&node.url),
    ));
    assert_eq!(
        (v["name"].as_str(), v["policies"].as_u64()),
        (Some("Gent"), Some(1)),
        "{v}"
    );
    assert_eq!(
        // The entries include the catalog the node signs at start (`catalog_stored`).
        (v["entries"].as_u64(), v["checkpoints"].as_u64()),
        (Some(5), Some(1)),
        "{v}"
    );

    // A refusal says what to do next: a wrong token.
    let wrong = tmp.path().join("wrong");
    std::fs::create_dir(&wrong).unwrap();
    std::fs::write(wrong.join("admin.token"), "not-the-token\n").unwrap();
    let out = run(
        &["dataset", "create", "--dir", s(&wrong), s(&schema)],
        Some(&node.url),
    );
    code(&out, 1, "dataset create with a wrong token");
    assert!(
        text(&out.stderr).contains("next: admin calls need the node's token: pass --dir NODE_DIR"),
        "{}",
        text(&out.stderr)
    );
}

/// Kills the node when the test ends, whether it passed or not.
struct Stopped(Option<RunningNode>);

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(n) = self.0.take() {
            n.kill();
        }
    }
}

#[test]
fn policy_sign_builds_the_next_version_of_the_nodes_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let (gent, brugge) = (tmp.path().join("gent"), tmp.path().join("brugge"));
    common::init(&gent);
    code(
        &run(
            &[
                "init",
                "--dir",
                s(&brugge),
                "--nis",
                "31005",
                "--name",
                "Brugge",
            ],
            None,
        ),
        0,
        "init brugge",
    );
    let body = tmp.path().join("policy.json");
    std::fs::write(
        &body,
        r#"{"datasets": [{"name": "readings", "classification": "personal", "subjectField": "subject"}],
            "access": {"policy": [["p", "researcher", "r", "readings", "aggregate", "*"]]}, "disclosure": {"minGroupSize": 10}}"#,
    )
    .unwrap();
    let (v1, v2) = (tmp.path().join("v1.json"), tmp.path().join("v2.json"));
    code(
        &run(
            &["policy", "sign", "--dir", s(&gent), s(&body), "-o", s(&v1)],
            None,
        ),
        0,
        "policy sign v1",
    );
    let out = run(
        &[
            "policy",
            "sign",
            "--dir",
            s(&gent),
            s(&body),
            "--previous",
            s(&v1),
            "-o",
            s(&v2),
        ],
        None,
    );
    code(&out, 0, "policy sign v2");
    assert!(
        text(&out.stderr).contains("signed policy version 2 of Gent (44021)"),
        "{}",
        text(&out.stderr)
    );
    let v = json(&run(
        &["policy", "verify-chain", s(&v1), s(&v2), "--json"],
        None,
    ));
    assert_eq!(
        (v["ok"].as_bool(), v["head"]["version"].as_u64()),
        (Some(true), Some(2)),
        "{v}"
    );
    let signed: Value = serde_json::from_str(&std::fs::read_to_string(&v1).unwrap()).unwrap();
    assert_eq!(
        (
            signed["municipality"]["nis"].as_str(),
            signed["version"].as_u64()
        ),
        (Some("44021"), Some(1)),
        "{signed}"
    );
    // Another node's version is not this node's previous; a signed body is refused.
    let out = run(
        &[
            "policy",
            "sign",
            "--dir",
            s(&brugge),
            s(&body),
            "--previous",
            s(&v1),
        ],
        None,
    );
    code(&out, 1, "--previous of another node");
    assert!(
        text(&out.stderr).contains("not by this node"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["policy", "sign", "--dir", s(&gent), s(&v1)], None);
    code(&out, 1, "a signed body");
    assert!(
        text(&out.stderr).contains("already signed"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn demo_json_is_the_checked_steps() {
    let v = json(&run(&["demo", "--json"], None));
    let steps = v["steps"].as_array().unwrap();
    assert_eq!((v["ok"].as_bool(), steps.len()), (Some(true), 9), "{v}");
    assert_eq!(steps[0]["coverage"], serde_json::json!([5, 5]), "{v}");
    assert_eq!(
        steps[2]["reasons"][0].as_str(),
        Some("certificate.missing"),
        "{v}"
    );
}
