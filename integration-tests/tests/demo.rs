#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `regio demo` as a library call, under the default charter (differential privacy): every
//! step behaves, with the concrete figures — full coverage, noisy values with intervals, the
//! reason codes of each refusal, the differencing application refused once its budget is
//! spent, coverage 4/5 with a stopped member — and the nodes' databases are removed at the end.

use regio_demo::run::{run, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_region_behaves_at_every_step() {
    let mut out = Vec::new();
    let report = run(&Options::default(), &mut out)
        .await
        .expect("the demo runs");
    let text = String::from_utf8(out).unwrap();
    assert!(report.ok(), "{text}");
    let numbers: Vec<u8> = report.steps.iter().map(|s| s.number).collect();
    assert_eq!(numbers, (1..=9).collect::<Vec<u8>>());
    let step = |n: usize| &report.steps[n - 1];

    assert_eq!(step(1).coverage, Some((5, 5)));
    assert!(
        step(1)
            .seen
            .contains("10 groups released (the expected ones)"),
        "{}",
        step(1).seen
    );
    assert_eq!(step(2).coverage, Some((5, 5)));
    assert_eq!(step(3).coverage, Some((0, 5)));
    assert_eq!(step(3).reasons, vec!["certificate.missing"; 5]);
    assert_eq!(step(4).coverage, Some((0, 5)));
    assert_eq!(step(4).reasons, vec!["certificate.revoked"; 5]);
    assert_eq!(step(5).coverage, Some((0, 5)));
    assert_eq!(step(5).reasons, vec!["charter.purpose_not_allowed"; 5]);
    assert_eq!(step(6).coverage, Some((5, 5)));
    assert!(
        step(6).seen.contains(
            "the small groups absent; kept at home per member (audit log) [1, 1, 1, 1, 1]"
        ),
        "{}",
        step(6).seen
    );
    assert_eq!(step(7).coverage, Some((0, 5)));
    assert_eq!(step(7).reasons, vec!["disclosure.budget_exhausted"; 5]);
    assert!(
        step(7).seen.contains("; 10 answers, each with an interval"),
        "{}",
        step(7).seen
    );
    assert_eq!(step(8).coverage, Some((4, 5)));
    assert!(
        step(8).took < std::time::Duration::from_millis(2500),
        "{:?}",
        step(8).took
    );
    assert_eq!(step(9).seen, "5 chains and 5 answers verify");

    // The exact figures of the default data (see demo::expect's unit tests).
    assert_eq!(
        step(2).seen,
        "Gent's audit log: 10 citizens counted (was 11), 24 more readings left out; the query not in subj-44021-000's history"
    );
    for line in [
        "1. A federated query.",
        "(noisy)",
        "95 %:",
        "coverage: 5 of 5 members answered",
        "coverage: 4 of 5 members answered",
        "Summary: 9 of 9 steps",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    assert!(
        !report.storage.exists(),
        "{} was not removed",
        report.storage.display()
    );
}
