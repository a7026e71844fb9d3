//! The auditor, end to end, over a real three-node region (libp2p on loopback): a federated
//! answer verified from exported files alone (signatures, policy versions, log entries,
//! checkpoints, re-run decisions for an allowed and a refused query); one byte tampered in
//! a policy bundle, a log entry, a checkpoint or a PartialAnswer is detected and named; an
//! equivocating node is shown with both bundles. And the citizen: a subject whose consent is
//! withdrawn halfway sees exactly the queries that counted their rows, nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use regio_demo::cluster::LiveRegion;
use regio_demo::data::{self, MUNICIPALITIES};
use regio_demo::region::{self, Actors};
use regio_node::audit::decide;
use regio_node::audit::export::Export;
use regio_node::audit::files::{self, Loaded};
use regio_node::audit::verify::{self, Check};
use regio_node::engine::Engine;
use regio_node::federation::{FederatedResult, Status};
use regio_policy::decision::Limits;
use regio_policy::doc::bundle::PolicyBundle;
use regio_policy::Signed;
use regio_store::audit::Kind;
use regio_store::Store;
use serde_json::Value;

const N: usize = 3;
const SQL: &str = "SELECT count(*) AS n FROM readings";

async fn region() -> LiveRegion {
    let stores = (0..N).map(|_| Store::memory()).collect();
    LiveRegion::start(Actors::new(N), stores, 2, 20, Utc::now())
        .await
        .unwrap()
}

async fn ask(r: &LiveRegion, at: usize, certified: bool) -> FederatedResult {
    let app = if certified {
        &r.actors.app
    } else {
        &r.actors.uncertified
    };
    let q = region::query(
        app,
        r.nodes[at].engine.did(),
        "ResearchAndDevelopment",
        SQL,
        certified.then(|| r.docs.certificate.hash()),
        Utc::now(),
    )
    .unwrap();
    r.nodes[at]
        .coordinate(q, Duration::from_secs(10))
        .await
        .unwrap()
}

fn export(r: &LiveRegion, i: usize, dir: &Path) -> Loaded {
    let (nis, name) = MUNICIPALITIES[i];
    let e = Export::build(&r.nodes[i].engine, nis, name, Utc::now()).unwrap();
    files::write(dir, &e).unwrap();
    files::load(dir).unwrap()
}

fn failures(checks: &[Check]) -> Vec<&Check> {
    checks.iter().filter(|c| !c.ok).collect()
}

fn answers_of(path: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    verify::collect_answers(
        &serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap(),
        &mut out,
    );
    out
}

/// Replaces the first occurrence of `from` by `to` (same length: one-byte edits) in a file.
fn tamper(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_verifies_a_federated_answer_from_exported_files_alone() {
    let r = region().await;
    let answered = ask(&r, 1, true).await;
    assert_eq!(answered.coverage, (N, N), "{:#?}", answered.provenance);
    let refused = ask(&r, 0, false).await;
    assert!(refused.provenance.iter().all(
        |p| matches!(&p.status, Status::Refused { reason, .. } if reason == "certificate.missing")
    ));

    // Node 1 sees node 0's policy, then a second, different v1 signed by node 0: equivocation.
    r.nodes[1]
        .engine
        .observe_peer_policy(r.docs.policies[0].raw().clone(), Utc::now())
        .unwrap();
    let mut forged = r.docs.policies[0].doc().clone();
    forged.disclosure.min_group_size = 1;
    let forged = Signed::<PolicyBundle>::sign(forged, &r.actors.nodes[0], Utc::now()).unwrap();
    assert!(r.nodes[1]
        .engine
        .observe_peer_policy(forged.raw().clone(), Utc::now())
        .unwrap()
        .is_some());

    let tmp = tempfile::tempdir().unwrap();
    let result = tmp.path().join("result.json");
    std::fs::write(&result, serde_json::to_vec_pretty(&answered).unwrap()).unwrap();
    let dirs: Vec<_> = (0..N)
        .map(|i| tmp.path().join(format!("node{i}")))
        .collect();
    let exports: Vec<Loaded> = (0..N).map(|i| export(&r, i, &dirs[i])).collect();

    // Policies: every chain holds; node 1's view of node 0's head matches node 0's chain;
    // the equivocation is shown with both signed bundles.
    let (checks, evidence) = verify::policies(&exports);
    let bad = failures(&checks);
    assert_eq!(bad.len(), 1, "{bad:#?}");
    assert_eq!(
        (bad[0].subject.as_str(), bad[0].check.as_str()),
        ("Antwerpen", "equivocation")
    );
    assert!(
        bad[0]
            .detail
            .contains(&r.docs.policies[0].hash().to_string())
            && bad[0].detail.contains(&forged.hash().to_string()),
        "{}",
        bad[0].detail
    );
    assert_eq!(evidence.len(), 1);
    let pair = [evidence[0]["a"].clone(), evidence[0]["b"].clone()];
    assert!(pair.contains(r.docs.policies[0].raw()) && pair.contains(forged.raw()));
    assert!(
        checks
            .iter()
            .any(|c| c.ok && c.check == "peer head" && c.detail.contains("matches Gent's chain")),
        "{checks:#?}"
    );
    assert_eq!(failures(&verify::policies(&exports[..1]).0).len(), 0);

    // Log: chain and checkpoints (the export signs one over the head) hold at every node.
    for l in &exports {
        let checks = verify::log(l);
        assert!(failures(&checks).is_empty(), "{checks:#?}");
        assert!(
            checks
                .iter()
                .any(|c| c.check == "checkpoints" && c.detail.contains("the last covers the head")),
            "{checks:#?}"
        );
    }

    // Answer: each member's signature, policy version and log entry.
    let answers = answers_of(&result);
    assert_eq!(answers.len(), N);
    let checks = verify::answer(&answers, &exports);
    assert!(failures(&checks).is_empty(), "{checks:#?}");
    assert_eq!(checks.len(), 3 * N);
    let missing = verify::answer(&answers, &exports[..2]);
    assert_eq!(
        failures(&missing).len(),
        1,
        "the third node's export is required"
    );

    // Decide: the allowed and the refused query re-run to the same decisions everywhere.
    for l in &exports {
        let checks = decide::decide(l, None);
        assert!(failures(&checks).is_empty(), "{checks:#?}");
        let details: Vec<&str> = checks.iter().map(|c| c.detail.as_str()).collect();
        assert_eq!(checks.len(), 2, "{details:?}");
        assert!(
            details[0].starts_with("logged allow, re-run allow"),
            "{details:?}"
        );
        assert!(
            details[1].starts_with("logged certificate.missing, re-run certificate.missing"),
            "{details:?}"
        );
    }

    // One byte, four places: each detected and named.
    tamper(&dirs[0].join("policies/v1.json"), "\"Gent\"", "\"Hent\"");
    let l0 = files::load(&dirs[0]).unwrap();
    let bad = failures(&verify::policies(std::slice::from_ref(&l0)).0)
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert!(
        bad.iter().any(|c| c.check == "policy signature"
            && c.detail.contains("policies/v1.json")
            && c.detail.contains("signature")),
        "{bad:#?}"
    );

    let log = dirs[1].join("log.ndjson");
    let text = std::fs::read_to_string(&log).unwrap();
    let (line, _) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("\"query_answered\""))
        .unwrap();
    let seq = line as u64 + 1;
    let entry = text.lines().nth(line).unwrap();
    let edited = entry.replacen("\"rowsScanned\":", "\"rowsScanned\":1", 1);
    assert_ne!(edited, entry);
    std::fs::write(&log, text.replacen(entry, &edited, 1)).unwrap();
    let checks = verify::log(&files::load(&dirs[1]).unwrap());
    let bad = failures(&checks);
    assert_eq!(bad.len(), 1, "{checks:#?}");
    assert!(
        bad[0]
            .detail
            .starts_with(&format!("audit log broken at entry {seq}: HashMismatch")),
        "{}",
        bad[0].detail
    );

    let cps: Vec<_> = std::fs::read_dir(dirs[2].join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cps.len(), 1);
    tamper(&cps[0], "\"at\": \"2", "\"at\": \"1");
    let checks = verify::log(&files::load(&dirs[2]).unwrap());
    let bad = failures(&checks);
    assert_eq!(bad.len(), 1, "{checks:#?}");
    assert!(
        bad[0].check == "checkpoints"
            && bad[0].detail.contains(&cps[0].display().to_string())
            && bad[0].detail.contains("signature"),
        "{}",
        bad[0].detail
    );

    // The first PartialAnswer's row count (after `"answers"`: the provenance has one too).
    let text = std::fs::read_to_string(&result).unwrap();
    let at = text.find("\"answers\"").unwrap();
    let pos = at + text[at..].find("\"rowsScanned\": ").unwrap() + "\"rowsScanned\": ".len();
    let mut bytes = text.into_bytes();
    bytes[pos] = if bytes[pos] == b'9' { b'8' } else { b'9' };
    std::fs::write(&result, bytes).unwrap();
    let checks = verify::answer(&answers_of(&result), &exports);
    let bad = failures(&checks);
    assert_eq!(bad.len(), 1, "{checks:#?}");
    assert!(
        bad[0].subject.starts_with("answers[0]") && bad[0].check == "signature",
        "{:?}",
        bad[0]
    );
}

#[test]
fn a_citizen_sees_exactly_the_queries_that_counted_their_rows() {
    let actors = Actors::new(1);
    let docs = region::documents(&actors, &[vec![]], Utc::now()).unwrap();
    let engine = Engine::open(
        Store::memory(),
        actors.nodes[0].clone(),
        [],
        Limits::default(),
    )
    .unwrap();
    region::load(&engine, 0, &docs, 3, 20, Utc::now()).unwrap();
    let nis = MUNICIPALITIES[0].0;
    let (kept, withdrawn, never) = (
        data::subject(nis, 0),
        data::subject(nis, 1),
        data::subject(nis, 2),
    );
    let ask_sql = |sql: &str| {
        let q = region::query(
            &actors.app,
            engine.did(),
            "ResearchAndDevelopment",
            sql,
            Some(docs.certificate.hash()),
            Utc::now(),
        )
        .unwrap();
        let a = engine.answer(q, None, Utc::now()).unwrap();
        assert!(a.partial.is_some(), "{:?}", a.signed.doc().outcome);
        a.signed.hash().to_string()
    };
    let ask = || ask_sql(SQL);
    let first = ask();
    // `withdrawn` withdraws: the next query must not count their rows.
    let mut entry = engine
        .store()
        .consent(&format!("{withdrawn}/ResearchAndDevelopment"))
        .unwrap()
        .unwrap();
    entry.withdrawn_at = Some(Utc::now().timestamp_micros());
    engine
        .store()
        .put_consents(vec![entry], Utc::now().timestamp_micros())
        .unwrap();
    let second = ask();
    // A refused query counts nobody.
    let q = region::query(
        &actors.uncertified,
        engine.did(),
        "ResearchAndDevelopment",
        SQL,
        None,
        Utc::now(),
    )
    .unwrap();
    assert!(engine
        .answer(q, None, Utc::now())
        .unwrap()
        .partial
        .is_none());
    // Rows left out by WHERE do not count: subject 0 owns sensor s000.
    let third = ask_sql(&format!(
        "SELECT count(*) AS n FROM readings WHERE sensor_id <> '{nis}-s000'"
    ));

    let history = |s: &str| {
        engine
            .store()
            .subject_queries(s)
            .unwrap()
            .iter()
            .map(|e| (e.kind, e.body["answer"].as_str().unwrap().to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        history(&kept),
        vec![
            (Kind::QueryAnswered, first.clone()),
            (Kind::QueryAnswered, second.clone())
        ]
    );
    let other = data::subject(nis, 3);
    assert_eq!(
        history(&other),
        vec![
            (Kind::QueryAnswered, first.clone()),
            (Kind::QueryAnswered, second.clone()),
            (Kind::QueryAnswered, third)
        ]
    );
    assert_eq!(history(&withdrawn), vec![(Kind::QueryAnswered, first)]);
    assert_eq!(
        history(&never),
        vec![],
        "subject 2 never consented (two in three do)"
    );
    assert_eq!(history("subj-00000-000"), vec![]);
}
