//! The node commands end to end on the real binary: init → node run → dataset create →
//! ingest the fixture → dataset list → SIGTERM (exit 0) → restart → the count is kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{count, fixture, init, regio, RunningNode, READINGS_SCHEMA};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn init_run_ingest_list_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gent");
    let d = dir.to_str().unwrap();
    let out = regio(&["init", "--dir", d, "--nis", "44021", "--name", "Gent"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("did:key:z6Mk"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["node.key", "admin.token"] {
            assert_eq!(
                std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777,
                0o600,
                "{f}"
            );
        }
    }
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(
        config.contains("api = \"127.0.0.1:7480\"") && config.contains("# Largest accepted"),
        "{config}"
    );
    let again = regio(&["init", "--dir", d, "--nis", "44021", "--name", "Gent"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already holds a node"),
        "{}",
        text(&again.stderr)
    );

    let node = RunningNode::start(&dir);
    let url = node.url.clone();
    let schema = tmp.path().join("readings.json");
    std::fs::write(&schema, READINGS_SCHEMA).unwrap();
    let no_token = regio(&[
        "dataset",
        "create",
        "--node",
        &url,
        schema.to_str().unwrap(),
    ]);
    assert_eq!(no_token.status.code(), Some(1));
    assert!(
        text(&no_token.stderr).contains("admin token"),
        "{}",
        text(&no_token.stderr)
    );
    let out = regio(&[
        "dataset",
        "create",
        "--node",
        &url,
        "--dir",
        d,
        schema.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let file = fixture("readings_44021.ndjson");
    let wrong = std::process::Command::new(common::REGIO)
        .args([
            "ingest",
            "--node",
            &url,
            "--dataset",
            "readings",
            file.to_str().unwrap(),
        ])
        .env("REGIO_TOKEN", "0".repeat(64))
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        text(&wrong.stderr).contains("auth.bad_token"),
        "{}",
        text(&wrong.stderr)
    );
    assert_eq!(count(&url, &dir, "readings"), 0);
    let lines = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .count() as u64;
    let out = regio(&[
        "ingest",
        "--node",
        &url,
        "--dir",
        d,
        "--dataset",
        "readings",
        "--batch-rows",
        "250",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("stored {lines} records")),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(count(&url, &dir, "readings"), lines);

    // A bad line in the last batch: nothing of the file is stored, the line is named.
    let good = std::fs::read_to_string(&file).unwrap();
    let mut rows: Vec<String> = good.lines().take(600).map(String::from).collect();
    let mut obj: serde_json::Value = serde_json::from_str(&rows[579]).unwrap();
    obj["no2"] = "x".into();
    rows[579] = obj.to_string();
    let bad = tmp.path().join("bad.ndjson");
    std::fs::write(&bad, rows.join("\n")).unwrap();
    let out = regio(&[
        "ingest",
        "--node",
        &url,
        "--dir",
        d,
        "--dataset",
        "readings",
        "--batch-rows",
        "100",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("line 580, field no2: expected a number, found \"x\""),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(count(&url, &dir, "readings"), lines);
    // With --skip-invalid the other 599 are stored and line 580 is listed; exit 1.
    let out = regio(&[
        "ingest",
        "--node",
        &url,
        "--dir",
        d,
        "--dataset",
        "readings",
        "--batch-rows",
        "100",
        "--skip-invalid",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("line 580, field no2"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(count(&url, &dir, "readings"), lines + 599);

    let out = regio(&[
        "consent",
        "import",
        "--node",
        &url,
        "--dir",
        d,
        fixture("consent_44021.ndjson").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = regio(&["dataset", "list", "--node", &url]);
    assert!(
        text(&table.stdout).contains("readings"),
        "{}",
        text(&table.stdout)
    );

    assert_eq!(node.terminate(), Some(0));
    let node = RunningNode::start(&dir);
    assert_eq!(count(&node.url, &dir, "readings"), lines + 599);
    assert_eq!(node.terminate(), Some(0));
}

#[test]
fn unreachable_node_exits_3() {
    let out = regio(&["dataset", "list", "--node", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cannot reach the node"));
}

#[test]
fn init_refuses_non_empty_dir() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("x"), "x").unwrap();
    let out = regio(&[
        "init",
        "--dir",
        tmp.path().to_str().unwrap(),
        "--nis",
        "1",
        "--name",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not empty"));
    let _ = init;
}
