//! Benchmark support (owner: bench): real `regio node run` processes on loopback, driven over
//! HTTP, for `src/bin/reference-bench.rs` and `src/bin/revocation-bench.rs`.
//!
//! [`regio_binary`] builds (or takes) the release `regio`; [`start`] runs `regio init`
//! and `regio node run` per node (API `127.0.0.1:0`, libp2p `/ip4/127.0.0.1/tcp/0`) and reads
//! each node's `listening on` and `p2p` lines; every node is stopped (SIGTERM, then SIGKILL
//! after 5 s) when its [`Node`] drops — on success, on error and on panic — and on SIGINT or
//! SIGTERM of the benchmark ([`stop_nodes_on_signal`]). A node never outlives the process
//! that started it, even one that ends without dropping it (a test's shared fixture in a
//! `static`, a crash): it runs under a small `sh` that holds a pipe from this process and
//! sends the node SIGTERM when the pipe closes.

pub mod http;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use regio_policy::Key;

pub use self::http::Http;

/// Process ids of the running nodes, for the signal handler.
static PIDS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// The workspace root (this crate's parent directory).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/bench` next to the workspace.
pub fn shared_bench() -> PathBuf {
    workspace().join("../shared/bench")
}

/// The `regio` binary: `explicit` if given, else `cargo build --release -p regio-cli --bin
/// regio` in the workspace (a no-op when it is up to date) and its `target/release/regio`.
pub fn regio_binary(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let ws = workspace();
    eprintln!("building the release `regio` (cargo build --release -p regio-cli --bin regio)");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "regio-cli", "--bin", "regio"])
        .current_dir(&ws)
        .status()
        .context("cannot run cargo to build the release `regio`")?;
    if !status.success() {
        bail!("cargo build --release -p regio-cli failed ({status})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| ws.join("target"));
    Ok(target.join("release").join("regio"))
}

/// The debug `regio` for tests: `REGIO_BIN` if set, else `cargo build -p regio-cli --bin
/// regio` in the workspace (a no-op when it is up to date) and its `target/debug/regio`.
pub fn regio_debug() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("REGIO_BIN") {
        return Ok(p.into());
    }
    let ws = workspace();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-p", "regio-cli", "--bin", "regio"])
        .current_dir(&ws)
        .status()
        .context("cannot run cargo to build `regio`")?;
    if !status.success() {
        bail!("cargo build -p regio-cli failed ({status})");
    }
    Ok(std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| ws.join("target"))
        .join("debug/regio"))
}

/// One running `regio node run` process.
pub struct Node {
    /// The `sh` the node runs under (see the module docs).
    child: Child,
    /// Its stdin: closing it stops the node.
    tie: Option<ChildStdin>,
    pid: u32,
    /// The node directory.
    pub dir: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The node's p2p multiaddresses (with `/p2p/PEERID`).
    pub p2p: Vec<String>,
    /// The node's key (read from `node.key`).
    pub key: Key,
    /// The admin token.
    pub token: String,
}

impl Node {
    /// The node's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Resident set size (VmRSS of `/proc/PID/status`), KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        self.proc_kib("status", "VmRSS:")
    }

    /// A `KEY: N kB` line of `/proc/PID/FILE` (`status`, `smaps_rollup`), in KiB.
    pub fn proc_kib(&self, file: &str, key: &str) -> Result<u64> {
        let path = format!("/proc/{}/{file}", self.pid());
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no {key} in {path}"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let pid = self.pid;
        // The `sh` sends SIGTERM once its stdin closes, and exits when the node has.
        drop(self.tie.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(mut pids) = PIDS.lock() {
            pids.retain(|p| *p != pid);
        }
    }
}

/// Runs `regio init` for a node with free ports; `config` lines (`key = value`) replace
/// the generated lines with the same key, or are appended.
pub fn init(
    regio: &Path,
    dir: &Path,
    nis: &str,
    name: &str,
    config: &[(&str, &str)],
) -> Result<()> {
    let d = dir
        .to_str()
        .ok_or_else(|| anyhow!("node directory {} is not UTF-8", dir.display()))?;
    let out = Command::new(regio)
        .args([
            "init",
            "--dir",
            d,
            "--nis",
            nis,
            "--name",
            name,
            "--api",
            "127.0.0.1:0",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ])
        .env_remove("REGIO_TOKEN")
        .env_remove("REGIO_NODE")
        .output()
        .with_context(|| format!("cannot run {}", regio.display()))?;
    if !out.status.success() {
        bail!(
            "regio init --dir {d}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if !config.is_empty() {
        let path = dir.join("config.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (k, v) in config {
            let line = format!("{k} = {v}");
            match lines
                .iter_mut()
                .find(|l| l.split('=').next().map(str::trim) == Some(*k))
            {
                Some(l) => *l = line,
                None => lines.push(line),
            }
        }
        std::fs::write(&path, lines.join("\n") + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The `sh` a node runs under: starts it in the background, prints its pid, waits for its
/// stdin to close (this process dropping the [`Node`], or ending), then stops the node.
const TIE: &str = r#""$0" node run --dir "$1" </dev/null & n=$!; echo "pid $n"; read line; kill -TERM $n 2>/dev/null; wait $n"#;

/// Starts `regio node run --dir DIR` and reads its `listening on` and `p2p` lines; the
/// node's stderr goes to `DIR/node.log`.
pub fn start(regio: &Path, dir: &Path) -> Result<Node> {
    let log = std::fs::File::create(dir.join("node.log"))
        .with_context(|| format!("cannot create {}/node.log", dir.display()))?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(TIE)
        .arg(regio)
        .arg(dir)
        .env_remove("REGIO_TOKEN")
        .env_remove("REGIO_NODE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("cannot start {} node run", regio.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout of regio node run"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut node = Node {
        tie: child.stdin.take(),
        child,
        pid: 0,
        dir: dir.to_path_buf(),
        url: String::new(),
        p2p: Vec::new(),
        key: Key::from_secret([0; 32]),
        token: String::new(),
    };
    // `pid N` (from the sh) and `listening on URL` (from the node), in either order.
    let until = Instant::now() + Duration::from_secs(60);
    while node.pid == 0 || node.url.is_empty() {
        let wait = until.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(wait)
            .map_err(|_| anyhow!("{}: no `listening on` line within 60 s", dir.display()))?;
        if let Some(pid) = line.strip_prefix("pid ") {
            node.pid = pid
                .trim()
                .parse()
                .with_context(|| format!("{}: bad pid line `{line}`", dir.display()))?;
            if let Ok(mut pids) = PIDS.lock() {
                pids.push(node.pid);
            }
        } else {
            node.url = line
                .strip_prefix("listening on ")
                .and_then(|r| r.split_whitespace().next())
                .ok_or_else(|| anyhow!("{}: unexpected line `{line}`", dir.display()))?
                .to_string();
        }
    }
    // The p2p lines follow at once; wait longer only for the first.
    let mut wait = Duration::from_secs(2);
    while let Ok(line) = rx.recv_timeout(wait) {
        wait = Duration::from_millis(200);
        match line.strip_prefix("p2p ") {
            Some(a) => node.p2p.push(a.to_string()),
            None => break,
        }
    }
    let key_file = dir.join("node.key");
    let text = std::fs::read_to_string(&key_file)
        .with_context(|| format!("cannot read {}", key_file.display()))?;
    node.key = Key::from_file_json(&text).map_err(|e| anyhow!("{}: {e}", key_file.display()))?;
    let token_file = dir.join("admin.token");
    node.token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("cannot read {}", token_file.display()))?
        .trim()
        .to_string();
    Ok(node)
}

/// On SIGINT or SIGTERM: SIGTERM to every running node, then exit 130.
pub fn stop_nodes_on_signal() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(regio_node::server::shutdown_signal());
        let pids = PIDS.lock().map(|p| p.clone()).unwrap_or_default();
        eprintln!("interrupted: stopping {} node(s)", pids.len());
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        std::process::exit(130);
    });
}

/// Polls `f` every `every` until it returns `Ok`, at most `limit`; the error names `what`
/// and the last answer.
pub fn poll<T>(
    limit: Duration,
    every: Duration,
    what: &str,
    mut f: impl FnMut() -> Result<T, String>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        match f() {
            Ok(t) => return Ok(t),
            Err(last) if start.elapsed() > limit => {
                bail!("{what}: not within {limit:?}; last: {last}")
            }
            Err(_) => std::thread::sleep(every),
        }
    }
}

/// The median of `v` (upper median for an even count).
pub fn median(v: &[f64]) -> f64 {
    percentile(v, 50.0)
}

/// Nearest-rank percentile `p` (0–100) of `v`; 0 for an empty `v`.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// `ms` values with three decimals, space-separated.
pub fn list(ms: &[f64]) -> String {
    ms.iter()
        .map(|t| format!("{t:.3}"))
        .collect::<Vec<_>>()
        .join(" ")
}
