//! "Every command in the README is run by a test": runs every ```sh block of README.md, in
//! order, as one bash session (`set -euo pipefail`) in a fresh directory, with the `regio`
//! just built first on PATH, the repository's `charters/` in that directory and `../shared`
//! beside it (as in a checkout), and the node ports 7480–7519 replaced by free ones.
//!
//! Not run (the rule the README states at its top):
//! - a block whose first line is `# not run by the README test: <why>`;
//! - a block whose every command starts with `cargo `, `deploy/` or `docker ` (the test
//!   command, the demo, benchmarks, the image and containers: CI runs the test command itself
//!   in `.ci/run`, which also builds the image; `integration-tests/tests/demo.rs` runs the demo;
//!   the container tests run the image).
//!
//! Set `REGIO_README_KEEP=1` to keep the working directory (its path is printed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The walkthrough must finish within this (the brief: < 60 s in debug; it takes about 3 s).
const LIMIT: Duration = Duration::from_secs(60);

const SKIP_MARKER: &str = "# not run by the README test:";
const CI_COMMANDS: [&str; 3] = ["cargo ", "deploy/", "docker "];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

/// A ```sh block: the README line of its first command, and its text.
#[derive(Debug)]
struct Block {
    line: usize,
    text: String,
}

fn sh_blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (i, l) in readme.lines().enumerate() {
        match &mut current {
            // Fences may be indented (a block inside a list item).
            None if l.trim() == "```sh" => {
                current = Some(Block {
                    line: i + 2,
                    text: String::new(),
                })
            }
            Some(b) if l.trim() == "```" => {
                out.push(std::mem::replace(
                    b,
                    Block {
                        line: 0,
                        text: String::new(),
                    },
                ));
                current = None;
            }
            Some(b) => {
                b.text.push_str(l);
                b.text.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "README.md: a ```sh block is not closed");
    out
}

/// The block's commands: continuation lines joined, comments and blank lines left out.
fn commands(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Why a block is not run, or `None` if it is.
fn skipped(b: &Block) -> Option<&'static str> {
    if b.text
        .lines()
        .next()
        .is_some_and(|l| l.trim_start().starts_with(SKIP_MARKER))
    {
        return Some("marked");
    }
    let cmds = commands(&b.text);
    (!cmds.is_empty()
        && cmds
            .iter()
            .all(|c| CI_COMMANDS.iter().any(|p| c.starts_with(p))))
    .then_some("cargo/deploy/docker: CI runs these")
}

/// A free loopback TCP port for each README port that appears in `script`.
fn free_ports(script: &str) -> Vec<(u16, u16)> {
    let used: Vec<u16> = (7480..7520)
        .filter(|p| script.contains(&format!(":{p}")) || script.contains(&format!("/tcp/{p}")))
        .collect();
    let listeners: Vec<std::net::TcpListener> = used
        .iter()
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    used.iter()
        .zip(&listeners)
        .map(|(p, l)| (*p, l.local_addr().unwrap().port()))
        .collect()
}

fn script(blocks: &[Block]) -> (String, Vec<(u16, u16)>) {
    let mut s = String::from("set -euo pipefail\n");
    for b in blocks.iter().filter(|b| skipped(b).is_none()) {
        s.push_str(&format!(
            "echo '== README.md line {}' >&2\n{}",
            b.line, b.text
        ));
    }
    let ports = free_ports(&s);
    for (from, to) in &ports {
        s = s
            .replace(&format!(":{from}"), &format!(":{to}"))
            .replace(&format!("/tcp/{from}"), &format!("/tcp/{to}"));
    }
    (s, ports)
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link)
        .unwrap_or_else(|e| panic!("symlink {} -> {}: {e}", link.display(), target.display()));
}

/// Sends `signal` to the process group `pgid`.
fn kill_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

#[test]
fn the_rules_skip_only_the_ci_blocks() {
    let text = readme();
    let blocks = sh_blocks(&text);
    let skipped: Vec<usize> = blocks
        .iter()
        .filter(|b| skipped(b).is_some())
        .map(|b| b.line)
        .collect();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    // The top block (cargo run … demo, cargo test), Deploy's two (image; compose region, run
    // by integration-tests/tests/compose.rs), Benchmarks', the adversarial suite's and the
    // load bench's (cargo), and the fuzzers' — nothing else.
    let mut expected = [
        line_of("cargo run --release -p regio-cli -- demo   #"),
        line_of("deploy/build-image.sh                  #"),
        line_of("# not run by the README test: integration-tests/tests/compose.rs"),
        line_of("# Reference query (../shared/bench/README.md)"),
        line_of("cargo test -p regio-integration-tests --test adversarial_http"),
        line_of("# a 3-node region of real processes: valid + refused queries"),
        line_of("# not run by the README test: the fuzzers"),
    ];
    expected.sort_unstable();
    assert_eq!(skipped, expected, "blocks skipped by the README test");
    assert!(blocks.len() >= skipped.len() + 6, "{} blocks", blocks.len());
    // A block that mixes a cargo command with others is run.
    assert_eq!(skipped_text("cargo build\nregio reasons\n"), None);
    assert_eq!(
        skipped_text("# not run by the README test: needs a cluster\nregio reasons\n"),
        Some("marked")
    );
    assert_eq!(
        skipped_text(
            "docker run --rm -v x:/data regio:dev init --dir /data \\\n    --api 0.0.0.0:7480\n"
        ),
        Some("cargo/deploy/docker: CI runs these")
    );
}

fn skipped_text(text: &str) -> Option<&'static str> {
    skipped(&Block {
        line: 1,
        text: text.into(),
    })
}

#[test]
fn the_reason_code_table_is_the_one_regio_prints() {
    let out = Command::new(env!("CARGO_BIN_EXE_regio"))
        .arg("reasons")
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().count() > 20, "{table}");
    assert!(
        readme().contains(&table),
        "README.md's reason-code table differs from `regio reasons`:\n{table}"
    );
}

#[test]
fn every_readme_command_runs() {
    let text = readme();
    let (script, ports) = script(&sh_blocks(&text));
    assert!(ports.len() >= 6, "{ports:?}");
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("regio");
    std::fs::create_dir(&work).unwrap();
    symlink(&repo().join("charters"), &work.join("charters"));
    let shared = repo().join("../shared");
    assert!(
        shared.join("conformance").is_dir(),
        "the README uses ../shared beside the repository; {} is missing",
        shared.display()
    );
    symlink(&shared.canonicalize().unwrap(), &tmp.path().join("shared"));
    std::fs::write(tmp.path().join("readme.sh"), &script).unwrap();

    let bin = Path::new(env!("CARGO_BIN_EXE_regio")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = tmp.path().join("readme.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let started = Instant::now();
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new("bash")
            .arg(tmp.path().join("readme.sh"))
            .current_dir(&work)
            .env("PATH", path)
            .env_remove("REGIO_NODE")
            .env_remove("REGIO_TOKEN")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let pgid = child.id();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if started.elapsed() > LIMIT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed();
    // Whatever the script left behind (nodes it started) goes with its process group.
    kill_group(pgid, "-TERM");
    std::thread::sleep(Duration::from_millis(200));
    kill_group(pgid, "-KILL");
    let _ = child.wait();
    let mut output = String::new();
    std::fs::File::open(&log)
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    let tail: Vec<&str> = output
        .lines()
        .rev()
        .take(120)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let read_json = |name: &str| -> serde_json::Value {
        std::fs::read(work.join(name))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    };
    let (result, audit_log, members) = (
        read_json("result.json"),
        read_json("audit-log.json"),
        read_json("members.json"),
    );
    let kept = if std::env::var_os("REGIO_README_KEEP").is_some() {
        format!("kept {}", tmp.keep().display())
    } else {
        String::new()
    };
    eprintln!(
        "README walkthrough: {:.1} s (ports {ports:?}) {kept}",
        elapsed.as_secs_f64()
    );
    match status {
        None => panic!(
            "the README walkthrough did not finish within {LIMIT:?}; last output:\n{}",
            tail.join("\n")
        ),
        Some(st) if !st.success() => panic!(
            "the README walkthrough failed ({st}); last output:\n{}",
            tail.join("\n")
        ),
        Some(_) => {}
    }

    // What the walkthrough produced: a few facts, so that a run that silently did nothing fails.
    for expected in [
        "exit 1: not valid then",
        "exit 1: refused (charter.purpose_not_allowed)",
        "exit 1: refused below the threshold",
        "VERIFIED: decide:",
        "VERIFIED: answer:",
    ] {
        assert!(
            output.contains(expected),
            "the walkthrough's output lacks {expected:?}:\n{}",
            tail.join("\n")
        );
    }
    assert_eq!(
        result["coverage"],
        serde_json::json!([3, 3]),
        "result.json: {result}"
    );
    assert!(
        result["result"]["rows"][0][0]
            .as_i64()
            .is_some_and(|n| n > 1000),
        "result.json: {result}"
    );
    assert_eq!(audit_log["ok"], true, "audit-log.json: {audit_log}");
    assert_eq!(
        (members[0]["id"].as_str(), members[0]["version"].as_u64()),
        (Some("leiestreek"), Some(2)),
        "members.json: {members}"
    );
}
