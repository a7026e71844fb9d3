//! Durable ingest and consent-view benchmark (not a test).
//!
//! ```sh
//! python3 ../shared/bench/gen_airquality.py --municipalities 5 --rows-per-municipality 200000 \
//!     --seed 42 --out /tmp/bench-scratch/data-n5-r200000-s42
//! cargo bench -p regio-node --bench ingest   # REGIO_BENCH_DATA=DIR to point elsewhere
//! ```
//!
//! Prints records/s for NDJSON and CSV into sled (parse + chunk + one transaction and
//! `flush()` per batch), and the time to build a consent view from the municipality's
//! consent file and from 100,000 synthetic consent entries.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "../tests/support/mod.rs"]
mod support;

use regio_store::consent::Entry;
use regio_store::ingest::{self, Mode};
use regio_store::Store;

/// Cuts `text` into pieces of about `lines` lines, at line ends; CSV pieces repeat the header.
fn batches(text: &[u8], lines: usize, csv: bool) -> Vec<Vec<u8>> {
    let (header, body) = if csv {
        let end = text
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |i| i + 1);
        (&text[..end], &text[end..])
    } else {
        (&text[..0], text)
    };
    let mut out = Vec::new();
    let mut piece = header.to_vec();
    let mut n = 0;
    for line in body.split_inclusive(|&b| b == b'\n') {
        piece.extend_from_slice(line);
        n += 1;
        if n == lines {
            out.push(std::mem::replace(&mut piece, header.to_vec()));
            n = 0;
        }
    }
    if n > 0 {
        out.push(piece);
    }
    out
}

fn ingest(file: &Path, batch_lines: usize) {
    let text = std::fs::read(file).unwrap();
    let csv = file.extension().is_some_and(|e| e == "csv");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sled(dir.path()).unwrap();
    store.create_dataset(&support::readings_schema()).unwrap();
    let pieces = batches(&text, batch_lines, csv);
    let start = Instant::now();
    let (mut parse, mut chunk, mut append) = (0.0, 0.0, 0.0);
    let mut records = 0;
    for piece in &pieces {
        let t = Instant::now();
        let parsed = if csv {
            ingest::parse_csv(&support::readings_schema(), piece, Mode::AllOrNothing)
        } else {
            ingest::parse_ndjson(&support::readings_schema(), piece, Mode::AllOrNothing)
        }
        .unwrap();
        parse += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let chunks = ingest::into_chunks(&support::readings_schema(), parsed.rows).unwrap();
        chunk += t.elapsed().as_secs_f64();
        let t = Instant::now();
        records += store.append_chunks("readings", &chunks).unwrap().records;
        append += t.elapsed().as_secs_f64();
    }
    let total = start.elapsed().as_secs_f64();
    let scan = Instant::now();
    let scanned: u32 = store
        .scan("readings", None, None)
        .unwrap()
        .iter()
        .map(|c| c.rows)
        .sum();
    let scan = scan.elapsed().as_secs_f64();
    assert_eq!(u64::from(scanned), records);
    println!(
        "ingest {:<22} batches of {:>6} lines: {records} records in {total:.3} s = {:>8.0} records/s (parse {parse:.3} s, chunk {chunk:.3} s, store+flush {append:.3} s); full scan+decode {scan:.3} s",
        file.file_name().and_then(|f| f.to_str()).unwrap_or("?"),
        batch_lines,
        records as f64 / total
    );
}

/// Small durable appends from several writers at once: sled coalesces their flushes.
fn concurrent_small_appends(file: &Path) {
    let text = std::fs::read(file).unwrap();
    let rows = ingest::parse_ndjson(&support::readings_schema(), &text, Mode::AllOrNothing)
        .unwrap()
        .rows;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sled(dir.path()).unwrap();
    store.create_dataset(&support::readings_schema()).unwrap();
    for writers in [1usize, 4] {
        let per_writer = 25;
        let start = Instant::now();
        std::thread::scope(|s| {
            for w in 0..writers {
                let store = store.clone();
                let rows = &rows;
                s.spawn(move || {
                    for b in 0..per_writer {
                        let at = (w * per_writer + b) * 1000;
                        let chunks = ingest::into_chunks(
                            &support::readings_schema(),
                            rows[at..at + 1000].to_vec(),
                        )
                        .unwrap();
                        store.append_chunks("readings", &chunks).unwrap();
                    }
                });
            }
        });
        let secs = start.elapsed().as_secs_f64();
        let commits = writers * per_writer;
        let start_nonces = Instant::now();
        std::thread::scope(|s| {
            for w in 0..writers {
                let store = store.clone();
                s.spawn(move || {
                    for i in 0..200 {
                        assert!(store
                            .check_and_insert_nonce(
                                "did:key:bench",
                                &format!("{writers}-{w}-{i}"),
                                i64::MAX,
                                0
                            )
                            .unwrap());
                    }
                });
            }
        });
        let nonce_secs = start_nonces.elapsed().as_secs_f64();
        println!(
            "{writers} writer(s) x 200 durable nonce inserts (one per query): {:.0} commits/s",
            (writers * 200) as f64 / nonce_secs
        );
        println!(
            "{writers} writer(s) x {per_writer} durable appends of 1000 rows: {:.0} commits/s, {:.0} records/s, {:.2} ms per commit per writer",
            commits as f64 / secs,
            commits as f64 * 1000.0 / secs,
            secs * 1e3 / per_writer as f64
        );
    }
}

fn consent_view(file: &Path) {
    let text = std::fs::read(file).unwrap();
    let entries = ingest::parse_consent_ndjson(&text, Mode::AllOrNothing)
        .unwrap()
        .rows;
    let n = entries.len();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sled(dir.path()).unwrap();
    store.put_consents(entries, 0).unwrap();
    let purposes = vec!["ResearchAndDevelopment".to_string()];
    let now = 1_735_689_600_000_000; // 2025-01-01
    let t = Instant::now();
    let view = store.consent_view("readings", &purposes, now).unwrap();
    println!(
        "consent view from {n} entries ({}): {} subjects consent, built in {:.3} ms",
        file.display(),
        view.len(),
        t.elapsed().as_secs_f64() * 1e3
    );

    // 100,000 synthetic entries over 25,000 subjects and 4 purposes, a fifth withdrawn.
    let purposes4 = [
        "ResearchAndDevelopment",
        "PublicBenefit",
        "ServiceProvision",
        "Marketing",
    ];
    let synthetic: Vec<Entry> = (0..100_000u64)
        .map(|i| Entry {
            id: format!("c{i}"),
            subject: format!("subj-{}", i / 4),
            datasets: if i % 3 == 0 {
                vec!["readings".into()]
            } else {
                vec![]
            },
            purposes: vec![purposes4[(i % 4) as usize].into()],
            given: i % 10 != 0,
            given_at: 1_600_000_000_000_000 + i as i64,
            withdrawn_at: (i % 5 == 0).then_some(1_700_000_000_000_000),
            channel: "import".into(),
            raw: None,
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sled(dir.path()).unwrap();
    let t = Instant::now();
    store.put_consents(synthetic, 0).unwrap();
    let put = t.elapsed().as_secs_f64();
    drop(store);
    let t = Instant::now();
    let store = Store::open_sled(dir.path()).unwrap();
    let reopen = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let log = store.backend().consent_log().unwrap();
    let read_log = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let rebuilt = regio_store::consent::ConsentIndex::from_entries(log);
    let rebuild = t.elapsed().as_secs_f64();
    assert_eq!(rebuilt.len(), 100_000);
    let mut times = Vec::new();
    let mut subjects = 0;
    for _ in 0..5 {
        let t = Instant::now();
        subjects = store
            .consent_view("readings", &purposes, now)
            .unwrap()
            .len();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "consent view from 100000 synthetic entries: {subjects} subjects, built in {:.3} ms (first), {:.3} ms (best of 5); \
         durable put of all {put:.3} s; reopen {reopen:.3} s, of which reading the log {read_log:.3} s and indexing {rebuild:.3} s (measured again after open)",
        times[0],
        times.iter().cloned().fold(f64::MAX, f64::min),
    );
}

fn main() {
    let dir = PathBuf::from(
        std::env::var("REGIO_BENCH_DATA")
            .unwrap_or_else(|_| "/tmp/bench-scratch/data-n5-r200000-s42".into()),
    );
    let nd = dir.join("readings_44021.ndjson");
    if !nd.exists() {
        println!(
            "no data at {} (see this bench's doc comment for how to generate it)",
            dir.display()
        );
        return;
    }
    for lines in [200_000, 20_000] {
        ingest(&nd, lines);
    }
    ingest(&dir.join("readings_44021.csv"), 200_000);
    let from_nd = ingest::parse_ndjson(
        &support::readings_schema(),
        &std::fs::read(&nd).unwrap(),
        Mode::AllOrNothing,
    )
    .unwrap()
    .rows;
    let from_csv = ingest::parse_csv(
        &support::readings_schema(),
        &std::fs::read(dir.join("readings_44021.csv")).unwrap(),
        Mode::AllOrNothing,
    )
    .unwrap()
    .rows;
    println!(
        "NDJSON and CSV of the same readings parse to identical rows: {}",
        from_nd == from_csv
    );
    concurrent_small_appends(&nd);
    consent_view(&dir.join("consent_44021.ndjson"));
}
