//! Idle memory of one network node (ignored by default; run with
//! `cargo test -p regio-node --test net_rss -- --ignored --nocapture`). Reports the process's
//! resident set before and after starting a node with TCP + QUIC listeners in a 2-member region,
//! after it has been idle for a few seconds. The test process itself is a few MB of it.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use regio_net::{InboundHandler, NetConfig, Protocol, Refusal};
use regio_policy::{Did, Key};

struct Echo;
impl InboundHandler for Echo {
    async fn on_query(&self, _from: Did, bytes: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        Ok(bytes)
    }
    async fn on_chain(&self, _from: Did, bytes: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        Ok(bytes)
    }
    fn on_gossip(&self, _region: &str, _from: Did, _bytes: Vec<u8>, _direct: bool) {}
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check; run by hand"]
async fn net_idle_rss_of_one_node() {
    let before = rss_kib();
    let (ka, kb) = (Key::generate().unwrap(), Key::generate().unwrap());
    let (a, ja) = regio_net::start(NetConfig::loopback(), &ka, Echo, std::future::pending())
        .await
        .unwrap();
    let after_one = rss_kib();
    let (b, jb) = regio_net::start(NetConfig::loopback(), &kb, Echo, std::future::pending())
        .await
        .unwrap();
    let members = vec![
        (ka.did().clone(), a.listen_addrs().await.unwrap()),
        (kb.did().clone(), b.listen_addrs().await.unwrap()),
    ];
    for h in [&a, &b] {
        h.set_members("r", members.clone()).await.unwrap();
        h.subscribe("r").await.unwrap();
    }
    a.request(
        kb.did(),
        Protocol::Query,
        b"x".to_vec(),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_two = rss_kib();
    println!(
        "RSS: test process {before} KiB; +1 idle node {} KiB; +2 connected nodes in a region, idle 5 s: {} KiB ({} KiB per node)",
        after_one - before,
        after_two - before,
        (after_two - before) / 2
    );
    ja.abort();
    jb.abort();
}
