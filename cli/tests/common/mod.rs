//! Shared helpers of the CLI tests that run the real `regio` binary against a real node.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub(crate) const REGIO: &str = env!("CARGO_BIN_EXE_regio");

/// The checked-in fixture of the generated air-quality data.
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../node/tests/fixtures/airquality-n2-r1200-s7")
        .join(name)
}

/// The readings schema (see node/tests/support).
pub(crate) const READINGS_SCHEMA: &str = r#"{
  "dataset": "readings",
  "fields": [
    {"name": "id", "type": "string"},
    {"name": "municipality", "type": "string"},
    {"name": "sensor_id", "type": "string"},
    {"name": "subject", "type": "string", "nullable": true},
    {"name": "observed_at", "type": "timestamp"},
    {"name": "no2", "type": "float", "nullable": true},
    {"name": "pm25", "type": "float", "nullable": true},
    {"name": "pm10", "type": "float", "nullable": true},
    {"name": "lat", "type": "float", "nullable": true},
    {"name": "lon", "type": "float", "nullable": true}
  ],
  "subject": "subject",
  "time": "observed_at"
}"#;

/// Runs `regio ARGS` to completion.
pub(crate) fn regio(args: &[&str]) -> Output {
    Command::new(REGIO)
        .args(args)
        .env_remove("REGIO_TOKEN")
        .env_remove("REGIO_NODE")
        .output()
        .expect("run regio")
}

/// `regio init` into `dir`.
pub(crate) fn init(dir: &Path) {
    let out = regio(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--nis",
        "44021",
        "--name",
        "Gent",
    ]);
    assert!(
        out.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running node: the child and its API URL.
pub(crate) struct RunningNode {
    /// The `regio node run` process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl RunningNode {
    /// Starts `regio node run --dir DIR --api 127.0.0.1:0` and waits for its address.
    pub(crate) fn start(dir: &Path) -> RunningNode {
        let mut child = Command::new(REGIO)
            .args([
                "node",
                "run",
                "--dir",
                dir.to_str().unwrap(),
                "--api",
                "127.0.0.1:0",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("listening on ") {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(url);
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the node printed no `listening on` line");
        RunningNode { child, url }
    }

    /// Sends SIGTERM and returns the exit code.
    pub(crate) fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        self.child.wait().unwrap().code()
    }

    /// SIGKILL, no clean-up.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The record count of `dataset` from `regio dataset list --json`, as the node's admin (the
/// node directory `dir`; without the token a personal dataset's count is rounded).
pub(crate) fn count(url: &str, dir: &std::path::Path, dataset: &str) -> u64 {
    let dir = dir.to_str().unwrap();
    let out = regio(&["dataset", "list", "--node", url, "--dir", dir, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|d| d["dataset"] == dataset)
        .map_or(0, |d| d["records"].as_u64().unwrap())
}
