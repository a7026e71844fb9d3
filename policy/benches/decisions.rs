//! Decisions per second: the whole per-query path a node runs for a peer — verify the
//! query's signature (JCS + SHA-256 + Ed25519), casbin, charter and certificate checks —
//! and signed documents verified per second. Baseline in the same run: a bare Ed25519
//! verification, so the ratio shows what the decision adds to the signature check.
//!
//! `cargo bench -p regio-policy --bench decisions`
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, Criterion, Throughput};
use regio_policy::decision::{self, Decision};
use regio_policy::doc::cert::EthicsCertificate;
use regio_policy::Signed;
use support::*;

fn per_second(label: &str, n: u32, f: &mut dyn FnMut()) -> f64 {
    let mut rates = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        rates.push(f64::from(n) / t.elapsed().as_secs_f64());
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    let median = rates[2];
    println!("{label:<58} {median:>10.0} /s (median of 5 x {n})");
    median
}

fn bench(c: &mut Criterion) {
    let w = World::new();
    let query_json = w.query("ResearchAndDevelopment").raw().clone();
    let cert_json = w.cert.raw().clone();
    let shape = shape("readings");
    let ctx = w.ctx();

    let mut decide_full = || {
        let q = decision::verify_query(black_box(query_json.clone())).unwrap();
        assert!(matches!(
            decision::decide(&q, &shape, &ctx),
            Decision::Allow(_)
        ));
    };
    let verified = w.query("ResearchAndDevelopment");
    let mut decide_only = || {
        black_box(decision::decide(&verified, &shape, &ctx));
    };
    let mut verify_doc = || {
        black_box(Signed::<EthicsCertificate>::verify(black_box(cert_json.clone())).unwrap());
    };
    let msg = [7u8; 64];
    let sig = w.app.sign_bytes(&msg);
    let vk = *w.app.did().verifying_key();
    let mut bare_ed25519 = || {
        let s = ed25519_dalek::Signature::from_bytes(&sig);
        assert!(vk.verify_strict(black_box(&msg), &s).is_ok());
    };

    println!("\n== Regio decision throughput, one core (this process) ==");
    let baseline = per_second(
        "baseline: bare Ed25519 verify_strict",
        20_000,
        &mut bare_ed25519,
    );
    let full = per_second(
        "decisions (verify query + casbin + charter + cert)",
        10_000,
        &mut decide_full,
    );
    let only = per_second(
        "decision pipeline alone (query already verified)",
        20_000,
        &mut decide_only,
    );
    let docs = per_second(
        "signed documents verified (EthicsCertificate)",
        10_000,
        &mut verify_doc,
    );
    println!(
        "ratio decisions / bare Ed25519 verify: {:.2}",
        full / baseline
    );
    println!(
        "ratio documents / bare Ed25519 verify: {:.2}",
        docs / baseline
    );
    println!(
        "goal >= 10,000 decisions/s: {}",
        if full >= 10_000.0 { "met" } else { "NOT met" }
    );
    let _ = only;

    let mut g = c.benchmark_group("policy");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decision_with_signature", |b| b.iter(&mut decide_full));
    g.bench_function("decision_pipeline", |b| b.iter(&mut decide_only));
    g.bench_function("verify_certificate", |b| b.iter(&mut verify_doc));
    g.bench_function("baseline_ed25519_verify", |b| b.iter(&mut bare_ed25519));
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
