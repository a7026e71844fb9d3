//! Load and soak benchmark (issue 14): real `regio node run` processes on loopback.
//!
//! **Load**: a three-node region answers a mix of valid queries (and, every fourth, a query
//! every member refuses) from `--clients` threads, first alone for a third of `--secs`, then
//! under an unauthenticated flood for the rest: `--flood` connections from another loopback
//! address (127.0.0.2, so that a per-client limit sees a different client) post signed
//! queries of self-made did:keys (the expensive kind: valid signature, fanned out, refused
//! by every member), forged signatures and malformed JSON, as fast as the node takes them.
//! Prints p50/p99 of the valid queries in both phases, what the flood got, every node's RSS
//! sampled each second (start, max, end) and how many requests came back after their
//! deadline (goal: none); exits 1 if any did or if no valid query was answered under flood.
//!
//! **Soak** (`--soak N`): one node is killed with SIGKILL N times while a writer ingests
//! record batches and imports consent; after each restart the node must hold every
//! acknowledged batch (records and `consent_changed` audit entries; an unacknowledged batch
//! in flight may or may not be there, never half of it). Exits 1 on any loss.
//!
//! ```sh
//! cargo run --release -p regio-integration-tests --bin load-bench -- --secs 150 --soak 50
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use chrono::Utc;
use clap::Parser;
use regio_integration_tests::adversary::{self, ProcRegion, Spec, COUNT_SQL, PURPOSE};
use regio_integration_tests::bench::{self, Http, Node};
use regio_integration_tests::containers::{demo_consent_ndjson, demo_rows_ndjson};
use regio_policy::Key;

/// Load (valid, refused and flood traffic) and SIGKILL soak over real node processes.
#[derive(Debug, Parser)]
#[command(name = "load-bench")]
struct Args {
    /// Seconds of load: the first third without the flood, the rest with it (0: no load).
    #[arg(long, default_value_t = 150)]
    secs: u64,
    /// Threads sending valid and refused queries.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Flood connections (threads) from 127.0.0.2.
    #[arg(long, default_value_t = 8)]
    flood: usize,
    /// Deadline of every query, ms; a reply later than this plus 1 s counts as overdue.
    #[arg(long, default_value_t = 5000)]
    deadline_ms: u64,
    /// SIGKILLs of the soak (0: no soak).
    #[arg(long, default_value_t = 0)]
    soak: usize,
    /// The `regio` binary (default: build the workspace's release binary).
    #[arg(long)]
    regio: Option<PathBuf>,
}

fn main() -> Result<()> {
    let a = Args::parse();
    bench::stop_nodes_on_signal();
    let regio = bench::regio_binary(a.regio.clone())?;
    let mut failed = false;
    if a.secs > 0 {
        failed |= load(&a, regio.clone())?;
    }
    if a.soak > 0 {
        failed |= soak(&a, &regio)?;
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

/// What the query clients saw in one phase.
#[derive(Default)]
struct Seen {
    valid_ms: Vec<f64>,
    valid_partial: u64,
    refused_ok: u64,
    unexpected: Vec<String>,
    overdue: u64,
}

fn load(a: &Args, regio: PathBuf) -> Result<bool> {
    let mut spec = Spec::new(3, false);
    spec.regio = Some(regio);
    // The fair-share quota is not what is measured: room for every valid query of the run.
    spec.charter["clauses"]["quota"]["queriesPerMember"] = 10_000_000.into();
    let t = Instant::now();
    let r = Arc::new(ProcRegion::start(spec)?);
    println!(
        "load: region of 3 node processes formed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let stop_rss = Arc::new(AtomicBool::new(false));
    let rss = {
        let pids: Vec<u32> = r.nodes.iter().map(Node::pid).collect();
        let stop = stop_rss.clone();
        std::thread::spawn(move || {
            let mut samples: Vec<Vec<u64>> = vec![Vec::new(); pids.len()];
            while !stop.load(Ordering::SeqCst) {
                for (i, pid) in pids.iter().enumerate() {
                    samples[i].push(rss_kib(*pid).unwrap_or(0));
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            samples
        })
    };
    let quiet = Duration::from_secs(a.secs / 3);
    let loud = Duration::from_secs(a.secs) - quiet;
    let calm = phase(a, &r, quiet, None);
    let flood = Arc::new(Flood::default());
    let stormy = phase(a, &r, loud, Some(flood.clone()));
    stop_rss.store(true, Ordering::SeqCst);
    let samples = rss
        .join()
        .map_err(|_| anyhow!("the RSS sampler panicked"))?;

    println!("valid queries ({} client threads, deadline {} ms; every 4th query is one every member refuses):", a.clients, a.deadline_ms);
    for (what, s, d) in [
        ("without flood", &calm, quiet),
        ("under flood  ", &stormy, loud),
    ] {
        println!(
            "  {what}: {} answered by 3/3 in {:.0} s ({:.1}/s), p50 {:.1} ms, p99 {:.1} ms; answered by fewer: {}; refused as expected: {}; unexpected: {}; overdue: {}",
            s.valid_ms.len(),
            d.as_secs_f64(),
            s.valid_ms.len() as f64 / d.as_secs_f64(),
            bench::percentile(&s.valid_ms, 50.0),
            bench::percentile(&s.valid_ms, 99.0),
            s.valid_partial,
            s.refused_ok,
            s.unexpected.len(),
            s.overdue
        );
        for u in s.unexpected.iter().take(3) {
            println!("    unexpected: {u}");
        }
    }
    let f = &flood;
    let sent = f.sent.load(Ordering::SeqCst);
    println!(
        "flood ({} connections from 127.0.0.2, {:.0} s): {sent} requests ({:.0}/s): 403 {}, 400 {}, 429 {}, other status {}, no reply {}; overdue {}",
        a.flood,
        loud.as_secs_f64(),
        sent as f64 / loud.as_secs_f64(),
        f.forbidden.load(Ordering::SeqCst),
        f.bad.load(Ordering::SeqCst),
        f.limited.load(Ordering::SeqCst),
        f.other.load(Ordering::SeqCst),
        f.failed.load(Ordering::SeqCst),
        f.overdue.load(Ordering::SeqCst),
    );
    for (i, s) in samples.iter().enumerate() {
        let mb = |k: u64| k as f64 / 1024.0;
        println!(
            "RSS node {i} (MB, {} samples): start {:.1}, max {:.1}, end {:.1}",
            s.len(),
            mb(s.first().copied().unwrap_or(0)),
            mb(s.iter().copied().max().unwrap_or(0)),
            mb(s.last().copied().unwrap_or(0))
        );
    }
    let overdue = calm.overdue + stormy.overdue + f.overdue.load(Ordering::SeqCst);
    println!("requests past their deadline (+1 s): {overdue} (goal: 0)");
    Ok(overdue > 0 || stormy.valid_ms.is_empty())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs the query clients (and the flood, if given) for `d`.
fn phase(a: &Args, r: &Arc<ProcRegion>, d: Duration, flood: Option<Arc<Flood>>) -> Seen {
    let until = Instant::now() + d;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut threads = Vec::new();
    if let Some(f) = &flood {
        for t in 0..a.flood {
            let (f, url, deadline) = (f.clone(), r.nodes[t % 3].url.clone(), a.deadline_ms);
            threads.push(std::thread::spawn(move || f.run(&url, deadline, until)));
        }
    }
    for c in 0..a.clients {
        let (r, seen, deadline) = (r.clone(), seen.clone(), a.deadline_ms);
        threads.push(std::thread::spawn(move || {
            client(&r, c, deadline, until, &seen)
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    Arc::try_unwrap(seen)
        .map(|m| m.into_inner().unwrap_or_default())
        .unwrap_or_default()
}

fn client(r: &ProcRegion, c: usize, deadline_ms: u64, until: Instant, seen: &Mutex<Seen>) {
    let http = Http::new(Duration::from_millis(deadline_ms + 30_000));
    let mut i = 0usize;
    while Instant::now() < until {
        i += 1;
        let at = (c + i) % 3;
        let refused = i.is_multiple_of(4);
        let q = if refused {
            r.query_by(
                &r.actors.uncertified,
                r.did(at),
                PURPOSE,
                COUNT_SQL,
                None,
                Utc::now(),
            )
        } else {
            r.query(at, COUNT_SQL)
        };
        let url = format!("{}/v1/query?deadline_ms={deadline_ms}", r.nodes[at].url);
        let t = Instant::now();
        let res = http.post(&url, None, &q);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut s = seen.lock().unwrap();
        if ms > (deadline_ms + 1000) as f64 {
            s.overdue += 1;
        }
        match res {
            Ok((200, v)) if !refused && v["coverage"][0] == 3 => s.valid_ms.push(ms),
            Ok((200, _)) if !refused => s.valid_partial += 1,
            Ok((403, v)) if refused && adversary::code(&v) == "certificate.missing" => {
                s.refused_ok += 1
            }
            Ok((st, v)) => s.unexpected.push(format!("{st} {}", adversary::code(&v))),
            Err(e) => s.unexpected.push(format!("{e:#}")),
        }
    }
}

/// Counters of the flood.
#[derive(Default)]
struct Flood {
    sent: AtomicU64,
    forbidden: AtomicU64,
    bad: AtomicU64,
    limited: AtomicU64,
    other: AtomicU64,
    failed: AtomicU64,
    overdue: AtomicU64,
}

impl Flood {
    /// Posts flood requests to `url` from 127.0.0.2, one connection at a time, until `until`.
    fn run(&self, url: &str, deadline_ms: u64, until: Instant) {
        let Ok(addr) = url.trim_start_matches("http://").parse::<SocketAddr>() else {
            return;
        };
        let mut i = 0u64;
        while Instant::now() < until {
            i += 1;
            let body = match i % 3 {
                0 => b"{\"type\": \"Query\", \"proof\": ".to_vec(),
                1 => {
                    let mut q = stranger_query(addr);
                    adversary::tamper_proof(&mut q);
                    q.to_string().into_bytes()
                }
                _ => stranger_query(addr).to_string().into_bytes(),
            };
            let t = Instant::now();
            let status = post_from(addr, deadline_ms, &body);
            self.sent.fetch_add(1, Ordering::SeqCst);
            if t.elapsed() > Duration::from_millis(deadline_ms + 1000) {
                self.overdue.fetch_add(1, Ordering::SeqCst);
            }
            let counter = match status {
                Some(403) => &self.forbidden,
                Some(400) => &self.bad,
                Some(429) => &self.limited,
                Some(_) => &self.other,
                None => &self.failed,
            };
            counter.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A query signed by a did:key made up on the spot, its origin a made-up member too.
fn stranger_query(_to: SocketAddr) -> serde_json::Value {
    let key = Key::generate().expect("a random key");
    regio_demo::region::query(&key, key.did(), PURPOSE, COUNT_SQL, None, Utc::now())
        .expect("a query signs")
}

/// `POST /v1/query` with `body` over a fresh connection from 127.0.0.2: the status.
fn post_from(addr: SocketAddr, deadline_ms: u64, body: &[u8]) -> Option<u16> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    let local: SocketAddr = "127.0.0.2:0".parse().ok()?;
    socket.bind(&local.into()).ok()?;
    socket
        .connect_timeout(&addr.into(), Duration::from_secs(5))
        .ok()?;
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_millis(deadline_ms + 30_000)))
        .ok()?;
    let head = format!(
        "POST /v1/query?deadline_ms={deadline_ms} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Rows per ingest batch, consent lines per import, in the soak.
const BATCH_ROWS: usize = 20;
const BATCH_CONSENTS: usize = 5;

/// Records and `consent_changed` audit entries a node holds.
fn held(http: &Http, n: &Node) -> Result<(u64, u64)> {
    let s = adversary::Snapshot::take(http, n)?;
    let records = s.records.get("readings").copied().unwrap_or(0);
    let consents = s.entries.iter().filter(|k| *k == "consent_changed").count() as u64;
    Ok((records, consents))
}

fn soak(a: &Args, regio: &std::path::Path) -> Result<bool> {
    let tmp = tempfile::Builder::new().prefix("regio-soak-").tempdir()?;
    let dir = tmp.path().join("node");
    bench::init(regio, &dir, "44021", "Gent", &[])?;
    let http = Http::new(Duration::from_secs(30));
    let mut node = bench::start(regio, &dir)?;
    let schema = serde_json::to_value(regio_demo::data::readings_schema())?;
    adversary::admin(&http, &node, "/v1/datasets", &schema)?;
    let rows: Vec<String> = demo_rows_ndjson(0, 1, 30)
        .lines()
        .map(str::to_owned)
        .collect();
    let consents: Vec<String> = demo_consent_ndjson(0, 1, 30)
        .lines()
        .map(str::to_owned)
        .collect();
    let (mut lost_rows, mut lost_consents, mut in_flight_kept) = (0u64, 0u64, 0u64);
    let (mut acked_batches, mut acked_imports) = (0u64, 0u64);
    let mut restarts_ms = Vec::new();
    let mut seed = Utc::now().timestamp_subsec_nanos() as u64 | 1;
    for kill in 0..a.soak {
        let (base_rows, base_consents) = held(&http, &node)?;
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (url, token, stop) = (node.url.clone(), node.token.clone(), stop.clone());
            let (rows, consents) = (rows.clone(), consents.clone());
            std::thread::spawn(move || write_until_killed(&url, &token, &rows, &consents, &stop))
        };
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(150 + seed % 500));
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &node.pid().to_string()])
            .status()?;
        if !killed.success() {
            bail!("kill -KILL {} failed", node.pid());
        }
        stop.store(true, Ordering::SeqCst);
        let w = writer.join().map_err(|_| anyhow!("the writer panicked"))?;
        drop(node);
        let t = Instant::now();
        node = bench::start(regio, &dir)?;
        restarts_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let (rows_now, consents_now) = held(&http, &node)?;
        let want_rows = base_rows + w.rows_acked;
        let want_consents = base_consents + w.imports_acked;
        lost_rows += want_rows.saturating_sub(rows_now);
        lost_consents += want_consents.saturating_sub(consents_now);
        let extra_rows = rows_now.saturating_sub(want_rows);
        let extra_consents = consents_now.saturating_sub(want_consents);
        if extra_rows != 0 && extra_rows != w.rows_in_flight || extra_consents > w.import_in_flight
        {
            bail!("kill {kill}: partial batch after restart: {extra_rows} rows / {extra_consents} imports beyond the acknowledged ones (in flight: {} rows, {} import)", w.rows_in_flight, w.import_in_flight);
        }
        in_flight_kept += u64::from(extra_rows > 0) + extra_consents;
        acked_batches += w.rows_acked / BATCH_ROWS as u64;
        acked_imports += w.imports_acked;
    }
    println!(
        "soak: {} SIGKILLs of one node during ingest ({BATCH_ROWS}-row batches) and consent imports ({BATCH_CONSENTS} lines): acknowledged {acked_batches} batches and {acked_imports} imports; lost after restart: {lost_rows} rows, {lost_consents} imports (goal: 0); unacknowledged writes found whole after the restart: {in_flight_kept}; restart to `listening on` p50 {:.0} ms, max {:.0} ms",
        a.soak,
        bench::percentile(&restarts_ms, 50.0),
        bench::percentile(&restarts_ms, 100.0)
    );
    Ok(lost_rows > 0 || lost_consents > 0)
}

/// What a writer got acknowledged before its node was killed.
struct Written {
    rows_acked: u64,
    imports_acked: u64,
    rows_in_flight: u64,
    import_in_flight: u64,
}

/// Alternates record batches and consent imports until a request fails (the node killed).
fn write_until_killed(
    url: &str,
    token: &str,
    rows: &[String],
    consents: &[String],
    stop: &AtomicBool,
) -> Written {
    let http = Http::new(Duration::from_secs(10));
    let mut w = Written {
        rows_acked: 0,
        imports_acked: 0,
        rows_in_flight: 0,
        import_in_flight: 0,
    };
    let mut i = 0usize;
    loop {
        let batch: String = (0..BATCH_ROWS)
            .map(|j| rows[(i * BATCH_ROWS + j) % rows.len()].clone() + "\n")
            .collect();
        w.rows_in_flight = BATCH_ROWS as u64;
        let route = format!("{url}/v1/datasets/readings/records?format=ndjson");
        match http.post_bytes(&route, Some(token), batch.as_bytes()) {
            Ok((st, _)) if (200..300).contains(&st) => w.rows_acked += BATCH_ROWS as u64,
            _ => return w,
        }
        w.rows_in_flight = 0;
        let lines: String = (0..BATCH_CONSENTS)
            .map(|j| consents[(i * BATCH_CONSENTS + j) % consents.len()].clone() + "\n")
            .collect();
        w.import_in_flight = 1;
        match http.post_bytes(
            &format!("{url}/v1/consent/import?format=ndjson"),
            Some(token),
            lines.as_bytes(),
        ) {
            Ok((st, _)) if (200..300).contains(&st) => w.imports_acked += 1,
            _ => return w,
        }
        w.import_in_flight = 0;
        i += 1;
        if stop.load(Ordering::SeqCst) {
            return w;
        }
    }
}
