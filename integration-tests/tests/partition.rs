//! A partitioned member, in containers (issue 6), on the image `regio:dev` that `.ci/run`
//! builds first (`deploy/build-image.sh`). Without Docker or the image this test fails in CI
//! and is skipped locally, saying why (`regio_integration_tests::containers::require_docker`).
//!
//! Three node containers (Gent, Antwerpen, Brugge) on a user-defined network with a subnet
//! of its own, `gossip_interval_ms = 500` in each node's config. The region manifest names
//! each member by its DID and its container IP (`/ip4/IP/tcp/7481`); data, consent, policy,
//! charter and manifest go to every node through its API, the certificate to Gent only
//! (gossip carries it). Then:
//!
//! 1. a federated query through Gent's API: coverage [3,3] and the exact merged count;
//! 2. Brugge disconnected from the network: the next query at Gent answers by its deadline
//!    (2 s) with coverage [2,3], the count of the two others, and Brugge `timed_out` or
//!    `unreachable`;
//! 3. while Brugge is cut off, a revocation of the certificate is published at Gent and a
//!    policy version 2 at Antwerpen;
//! 4. Brugge reconnected with the same IP: anti-entropy brings both to it — Brugge's own API
//!    refuses the certificate on every provenance line (`certificate.revoked`), and its view
//!    of the region shows Antwerpen's policy head at version 2.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::Utc;
use regio_demo::data;
use regio_demo::region::{self, Actors};
use regio_integration_tests::containers::{
    self, demo_consent_ndjson, demo_expected_count, demo_rows_ndjson, http, ok_json,
    require_docker, NodeContainer,
};
use regio_policy::doc::cert::EthicsCertificate;
use regio_policy::Signed;
use serde_json::{json, Value};

const DAYS: usize = 2;
/// Enough citizens per node for the whole-dataset count (k counts distinct citizens).
const SENSORS: usize = regio_demo::data::SENSORS;
const SQL: &str = "SELECT count(*) AS n FROM readings";

/// Runs `attempt` every 250 ms until it returns `Ok`, at most `limit`; panics naming `what`
/// and the last `Err` otherwise.
async fn poll<T, F: Future<Output = Result<T, String>>>(
    what: &str,
    limit: Duration,
    mut attempt: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        match attempt().await {
            Ok(v) => return v,
            Err(last) if start.elapsed() > limit => {
                panic!("{what}: not within {limit:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The certified application's signed count query, POSTed to `node`: (status, body).
async fn ask(
    node: &NodeContainer,
    actors: &Actors,
    cert: &Signed<EthicsCertificate>,
    deadline_ms: u64,
) -> (u16, Value) {
    let q = region::query(
        &actors.app,
        node.files.key.did(),
        "ResearchAndDevelopment",
        SQL,
        Some(cert.hash()),
        Utc::now(),
    )
    .unwrap();
    let url = format!("{}/v1/query?deadline_ms={deadline_ms}", node.url().await);
    let (status, text) = http("POST", &url, None, serde_json::to_vec(&q).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}")),
    )
}

/// Each provenance line's status, or its refusal reason.
fn statuses(v: &Value) -> Vec<String> {
    let lines = v["provenance"]
        .as_array()
        .unwrap_or_else(|| panic!("no provenance in {v}"));
    lines
        .iter()
        .map(|p| {
            p["reason"]
                .as_str()
                .or(p["status"].as_str())
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

/// POSTs a signed document to an admin route of `node` (201 expected).
async fn post_doc(node: &NodeContainer, route: &str, doc: &Value) {
    ok_json(
        "POST",
        &format!("{}/v1/{route}", node.url().await),
        Some(&node.files.token),
        serde_json::to_vec(doc).unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_member_is_named_by_the_deadline_and_catches_up_when_it_heals() {
    if require_docker("a_partitioned_member_is_named_by_the_deadline_and_catches_up_when_it_heals")
        .is_none()
    {
        return;
    }
    let trio = containers::Trio::start("partition").await;
    let fast_gossip = |config: &str| {
        assert!(config.contains("gossip_interval_ms = 5000"), "{config}");
        config.replace("gossip_interval_ms = 5000", "gossip_interval_ms = 500")
    };
    tokio::join!(
        trio.nodes[0].edit_config(fast_gossip),
        trio.nodes[1].edit_config(fast_gossip),
        trio.nodes[2].edit_config(fast_gossip)
    );
    // The region: members named by DID and container IP.
    let (ips, actors, addresses) = trio.members().await;
    let containers::Trio {
        network,
        volumes,
        nodes,
        ..
    } = trio;
    let docs = region::documents(&actors, &addresses, Utc::now()).unwrap();
    for (i, n) in nodes.iter().enumerate() {
        let (url, t) = (n.url().await, Some(n.files.token.as_str()));
        ok_json(
            "POST",
            &format!("{url}/v1/datasets"),
            t,
            serde_json::to_vec(&data::readings_schema()).unwrap(),
        )
        .await;
        ok_json(
            "POST",
            &format!("{url}/v1/datasets/readings/records?format=ndjson"),
            t,
            demo_rows_ndjson(i, DAYS, SENSORS).into_bytes(),
        )
        .await;
        ok_json(
            "POST",
            &format!("{url}/v1/consent/import?format=ndjson"),
            t,
            demo_consent_ndjson(i, DAYS, SENSORS).into_bytes(),
        )
        .await;
        post_doc(n, "policy", docs.policies[i].raw()).await;
        post_doc(n, "charters", docs.charter.raw()).await;
        post_doc(n, "regions", docs.manifest.raw()).await;
    }
    post_doc(&nodes[0], "certificates", docs.certificate.raw()).await;
    let expected: Vec<u64> = (0..3)
        .map(|i| demo_expected_count(i, DAYS, SENSORS))
        .collect();

    // 1. Whole region: [3,3] and the exact merged count (once the certificate has spread).
    let v = poll(
        "coverage [3,3] at Gent",
        Duration::from_secs(60),
        || async {
            let (st, v) = ask(&nodes[0], &actors, &docs.certificate, 5000).await;
            if st == 200 && v["coverage"] == json!([3, 3]) {
                Ok(v)
            } else {
                Err(format!("{st} {v}"))
            }
        },
    )
    .await;
    assert_eq!(
        v["result"]["rows"][0][0].as_u64(),
        Some(expected.iter().sum()),
        "{v}"
    );
    assert_eq!(statuses(&v), ["answered"; 3], "{v}");
    let names: Vec<&str> = v["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Gent", "Antwerpen", "Brugge"], "{v}");

    // 2. Brugge cut off: the query answers by its deadline, naming Brugge.
    nodes[2].disconnect(&network).await;
    let t = Instant::now();
    let (st, v) = ask(&nodes[0], &actors, &docs.certificate, 2000).await;
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(3500),
        "a 2 s deadline took {took:?}: {v}"
    );
    assert_eq!((st, v["coverage"].clone()), (200, json!([2, 3])), "{v}");
    assert_eq!(
        v["result"]["rows"][0][0].as_u64(),
        Some(expected[0] + expected[1]),
        "{v}"
    );
    let s = statuses(&v);
    assert_eq!(&s[..2], ["answered", "answered"], "{v}");
    assert!(
        s[2] == "timed_out" || s[2] == "unreachable",
        "Brugge is {}: {v}",
        s[2]
    );
    assert_eq!(v["provenance"][2]["name"], "Brugge", "{v}");
    eprintln!("partitioned query answered in {took:?}: Brugge {}", s[2]);

    // 3. During the partition: the board's revocation at Gent, policy version 2 at Antwerpen.
    let rev = region::revocation(&actors, &docs, "changed without review", Utc::now()).unwrap();
    post_doc(&nodes[0], "revocations", rev.raw()).await;
    let mut v2 = region::policy(1, &actors, Utc::now());
    v2.version = 2;
    v2.previous = Some(docs.policies[1].hash());
    v2.disclosure.min_group_size = 12;
    let v2 = Signed::sign(v2, &actors.nodes[1], Utc::now()).unwrap();
    post_doc(&nodes[1], "policy", v2.raw()).await;
    // Gent and Antwerpen refuse (once gossip has carried the revocation to Antwerpen);
    // Brugge, cut off, is not reached.
    let v = poll(
        "Gent and Antwerpen refuse",
        Duration::from_secs(20),
        || async {
            let (st, v) = ask(&nodes[0], &actors, &docs.certificate, 2000).await;
            if st == 403 && statuses(&v)[..2] == ["certificate.revoked", "certificate.revoked"] {
                Ok(v)
            } else {
                Err(format!("{st} {v}"))
            }
        },
    )
    .await;
    assert_eq!(v["coverage"], json!([0, 3]), "{v}");
    assert!(
        matches!(statuses(&v)[2].as_str(), "timed_out" | "unreachable"),
        "{v}"
    );

    // 4. Healed: anti-entropy brings the revocation and the policy head to Brugge.
    nodes[2].connect(&network, &ips[2]).await;
    let t = Instant::now();
    let v = poll(
        "Brugge refuses the revoked certificate",
        Duration::from_secs(60),
        || async {
            let (st, v) = ask(&nodes[2], &actors, &docs.certificate, 2000).await;
            if st == 403 && statuses(&v) == ["certificate.revoked"; 3] {
                Ok(v)
            } else {
                Err(format!("{st} {v}"))
            }
        },
    )
    .await;
    assert_eq!(
        (v["error"]["code"].as_str(), v["coverage"].clone()),
        (Some("certificate.revoked"), json!([0, 3])),
        "{v}"
    );
    let head = json!({"version": 2, "hash": v2.hash().to_string()});
    let c_url = nodes[2].url().await;
    poll(
        "Antwerpen's policy version 2 known at Brugge",
        Duration::from_secs(30),
        || async {
            let (_, text) = http(
                "GET",
                &format!("{c_url}/v1/regions/{}", region::REGION),
                None,
                Vec::new(),
            )
            .await?;
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
            let member = v["members"]
                .as_array()
                .and_then(|ms| ms.iter().find(|m| m["name"] == "Antwerpen"))
                .cloned()
                .unwrap_or(Value::Null);
            if member["policyHead"] == head {
                Ok(())
            } else {
                Err(v.to_string())
            }
        },
    )
    .await;
    eprintln!("healed: Brugge caught up in {:?}", t.elapsed());

    drop(nodes);
    // The network goes once the containers are gone (removed in the background), then the volumes.
    containers::remove_network(&network).await;
    containers::remove_volumes(&volumes).await;
}
