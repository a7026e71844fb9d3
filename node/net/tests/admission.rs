//! Outsiders against real libp2p swarms on loopback: a flood of outsider identities and
//! connections cannot keep a member out, an outsider's connection is closed once
//! established, and a peer whose gossip on a region topic is rejected loses standing
//! (gossipsub peer score below the graylist threshold: what it sends is then ignored).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use regio_net::{Handle, InboundHandler, Multiaddr, NetConfig, Protocol, Refusal};
use regio_policy::{Did, Key};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

struct Recorder {
    queries: AtomicUsize,
    gossip: mpsc::UnboundedSender<(String, Did, Vec<u8>)>,
}

struct Shared(Arc<Recorder>);

impl InboundHandler for Shared {
    async fn on_query(&self, _from: Did, bytes: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        self.0.queries.fetch_add(1, Ordering::SeqCst);
        Ok(bytes)
    }
    async fn on_chain(&self, _from: Did, bytes: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        Ok(bytes)
    }
    fn on_gossip(&self, region: &str, from: Did, bytes: Vec<u8>, _direct: bool) {
        let _ = self.0.gossip.send((region.to_owned(), from, bytes));
    }
}

struct Node {
    key: Key,
    handle: Handle,
    join: JoinHandle<()>,
    stop: oneshot::Sender<()>,
    recorder: Arc<Recorder>,
    gossip: Mutex<mpsc::UnboundedReceiver<(String, Did, Vec<u8>)>>,
    addrs: Vec<Multiaddr>,
}

/// A node on loopback TCP (`listen`: false for a node that only dials).
async fn node(listen: bool) -> Node {
    let key = Key::generate().unwrap();
    let (gtx, grx) = mpsc::unbounded_channel();
    let recorder = Arc::new(Recorder {
        queries: AtomicUsize::new(0),
        gossip: gtx,
    });
    let config = NetConfig::loopback().with_listen(if listen {
        vec![regio_net::tcp_loopback(0)]
    } else {
        vec![]
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let (handle, join) =
        regio_net::start(config, &key, Shared(Arc::clone(&recorder)), async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    let addrs = handle.listen_addrs().await.unwrap();
    Node {
        key,
        handle,
        join,
        stop,
        recorder,
        gossip: Mutex::new(grx),
        addrs,
    }
}

impl Node {
    fn did(&self) -> &Did {
        self.key.did()
    }
    fn member(&self) -> (Did, Vec<Multiaddr>) {
        (self.did().clone(), self.addrs.clone())
    }
    async fn shutdown(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(5), self.join)
            .await
            .expect("network task exits")
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_32_outsiders_with_8_connections_each_cannot_keep_a_member_out() {
    let target = node(true).await;
    let member = node(true).await;
    // The target knows the member (but not its addresses, so it does not dial it itself).
    target
        .handle
        .set_members(
            "kempen",
            vec![target.member(), (member.did().clone(), vec![])],
        )
        .await
        .unwrap();
    // 32 outsider identities open 8 connections each: the default cap is 256 in total.
    let mut outsiders = Vec::new();
    for _ in 0..32 {
        outsiders.push(node(false).await);
    }
    // In waves of 32 dials (the target takes at most 64 handshakes at once).
    let mut established = 0;
    for wave in outsiders.chunks(4) {
        let dials = wave
            .iter()
            .flat_map(|o| (0..8).map(|_| o.handle.dial(target.addrs[0].clone())));
        let dialled = futures::future::join_all(dials).await;
        established += dialled.iter().filter(|d| d.is_ok()).count();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let connected = target.handle.connected_peers().await.unwrap();
    let outsiders_connected = outsiders
        .iter()
        .filter(|o| connected.contains(o.did()))
        .count();
    // Now the member joins and asks the target: it is served.
    member
        .handle
        .set_members("kempen", vec![target.member(), member.member()])
        .await
        .unwrap();
    let answer = member
        .handle
        .request(
            target.did(),
            Protocol::Query,
            b"q".to_vec(),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(
        answer.as_deref().ok(),
        Some(b"q".as_slice()),
        "the member was kept out: {answer:?} ({established} outsider dials succeeded, {outsiders_connected} outsiders connected)"
    );
    assert_eq!(outsiders_connected, 0, "outsiders hold connections");
    assert!(
        target.handle.stats().connections_refused >= 256,
        "{:?}",
        target.handle.stats()
    );
    assert_eq!(target.recorder.queries.load(Ordering::SeqCst), 1);
    for o in outsiders {
        o.shutdown().await;
    }
    target.shutdown().await;
    member.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_an_outsiders_connection_is_closed_at_establishment() {
    let target = node(true).await;
    target
        .handle
        .set_members("kempen", vec![target.member()])
        .await
        .unwrap();
    let outsider = node(false).await;
    // The handshake completes (the outsider's side sees it), then the target closes it.
    let _ = outsider.handle.dial(target.addrs[0].clone()).await;
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let mine = outsider.handle.connected_peers().await.unwrap();
            let theirs = target.handle.connected_peers().await.unwrap();
            if !mine.contains(target.did()) && !theirs.contains(outsider.did()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the outsider's connection is still open 2 s after it was made"
    );
    // A request finds no connection to make: the target's handler never runs.
    let err = outsider
        .handle
        .request(
            target.did(),
            Protocol::Query,
            b"q".to_vec(),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(err.reason().is_none(), "{err:?}");
    assert_eq!(target.recorder.queries.load(Ordering::SeqCst), 0);
    assert_eq!(target.handle.stats().requests_refused, 0);
    assert!(target.handle.stats().connections_refused >= 1);
    outsider.shutdown().await;
    target.shutdown().await;
}

/// `peer` publishes on "duinen"; what the target's handler got within 300 ms.
async fn reaches(peer: &Node, target: &Node, round: usize) -> Option<(String, Did, Vec<u8>)> {
    let _ = peer
        .handle
        .publish("duinen", format!("valid {round}").into_bytes())
        .await;
    let mut rx = target.gossip.lock().await;
    tokio::time::timeout(Duration::from_millis(300), rx.recv())
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_rejected_gossip_on_a_region_topic_graylists_its_sender() {
    // The target is in two regions; the peer is a member of "duinen" only, and gossips on
    // "kempen"'s topic as if it were a member there.
    let target = node(true).await;
    let peer = node(true).await;
    target
        .handle
        .set_members("kempen", vec![target.member()])
        .await
        .unwrap();
    target
        .handle
        .set_members("duinen", vec![target.member(), peer.member()])
        .await
        .unwrap();
    peer.handle
        .set_members("duinen", vec![target.member(), peer.member()])
        .await
        .unwrap();
    for region in ["kempen", "duinen"] {
        target.handle.subscribe(region).await.unwrap();
        peer.handle.subscribe(region).await.unwrap();
    }
    // Gossip on its own region reaches the target at first.
    let mut round = 0;
    let first = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            round += 1;
            if let Some(got) = reaches(&peer, &target, round).await {
                return got;
            }
        }
    })
    .await
    .expect("the member's gossip never reached the target");
    assert_eq!((first.0.as_str(), &first.1), ("duinen", peer.did()));
    // Forged gossip on "kempen": every message rejected by the target.
    let rejected = tokio::time::timeout(Duration::from_secs(15), async {
        let mut n = 0;
        // Three rejected messages take the peer below the graylist threshold; after that
        // the target ignores what it sends (so it rejects nothing more).
        while target.handle.stats().gossip_rejected < 3 {
            n += 1;
            let _ = peer
                .handle
                .publish("kempen", format!("forged head {n}").into_bytes())
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        rejected.is_ok(),
        "the target saw {:?}",
        target.handle.stats()
    );
    let score = target.handle.gossip_score(peer.did()).await.unwrap();
    assert!(
        score.is_some_and(|s| s < regio_net::scoring::GRAYLIST_THRESHOLD),
        "score {score:?}"
    );
    // Graylisted: even its gossip on its own region is ignored now.
    let accepted = target.handle.stats().gossip_accepted;
    for _ in 0..5 {
        round += 1;
        assert_eq!(
            reaches(&peer, &target, round).await,
            None,
            "a graylisted peer's gossip was delivered"
        );
    }
    assert_eq!(target.handle.stats().gossip_accepted, accepted);
    peer.shutdown().await;
    target.shutdown().await;
}
