//! Cost of recording which subjects' rows counted (the citizen's query history), measured on
//! the query bench's 200,000 rows of one municipality: the reference query with and without
//! subject collection, and the sled audit append with and without the subject index.
//! Not a test of behaviour; run by hand (debug or release):
//!
//! ```sh
//! python3 ../shared/bench/gen_airquality.py --municipalities 1 --rows-per-municipality 200000 --seed 42 --out /tmp/audit-bench-n1
//! REGIO_BENCH_DATA=/tmp/audit-bench-n1 cargo test -p regio-node --test subject_cost -- --ignored --nocapture
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use regio_query::{execute, execute_counting, plan, ExecOptions};
use regio_store::audit::Kind;
use regio_store::{QueryRecord, Store};
use support::*;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
#[ignore = "measurement, run by hand with REGIO_BENCH_DATA"]
fn subject_collection_cost() {
    let data = PathBuf::from(
        std::env::var("REGIO_BENCH_DATA").unwrap_or_else(|_| "/tmp/audit-bench-n1".into()),
    );
    let chunks = load_readings(&data.join("readings_44021.ndjson"));
    let consenting = load_consent(
        &data.join("consent_44021.ndjson"),
        "ResearchAndDevelopment",
        chrono::Utc::now().timestamp_micros(),
    );
    let schema = readings_schema();
    let (plan, _) = plan(REFERENCE_SQL, |d| (d == "readings").then(|| schema.clone())).unwrap();
    let consent = |s: &str| consenting.contains(s);
    let opts = ExecOptions {
        consent: Some(&consent),
        masked: &[],
        min_group_size: 10,
        subject: None,
        dp: None,
    };
    let rows: u64 = chunks.iter().map(|c| u64::from(c.rows)).sum();
    let (mut plain, mut counting) = (Vec::new(), Vec::new());
    let mut subjects = HashSet::new();
    for i in 0..7 {
        let t = Instant::now();
        let a = execute(&plan, chunks.iter().map(Ok::<_, std::io::Error>), &opts).unwrap();
        let p = t.elapsed().as_secs_f64() * 1e3;
        subjects.clear();
        let t = Instant::now();
        let b = execute_counting(
            &plan,
            chunks.iter().map(Ok::<_, std::io::Error>),
            &opts,
            &mut subjects,
        )
        .unwrap();
        let c = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(a, b, "collecting subjects changes nothing in the result");
        if i > 0 {
            plain.push(p);
            counting.push(c);
        }
    }
    println!("rows {rows}, subjects counted {}: execute {:.2} ms, execute_counting {:.2} ms (median of 6)", subjects.len(), median(plain), median(counting));

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sled(dir.path()).unwrap();
    let list: Vec<String> = subjects.into_iter().collect();
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for i in 0..21u8 {
        let body = serde_json::json!({ "query": i });
        let t = Instant::now();
        store
            .audit_query(
                Kind::QueryAnswered,
                1,
                body.clone(),
                QueryRecord {
                    hash: [i; 32],
                    raw: vec![b'{', b'}'],
                },
                &[],
            )
            .unwrap();
        without.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        store
            .audit_query(
                Kind::QueryAnswered,
                1,
                body,
                QueryRecord {
                    hash: [i; 32],
                    raw: vec![b'{', b'}'],
                },
                &list,
            )
            .unwrap();
        with.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("sled audit append (fsync): without subjects {:.2} ms, with {} subjects {:.2} ms (median of 21)", median(without), list.len(), median(with));
}
