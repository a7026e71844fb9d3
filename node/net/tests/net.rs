//! Networking on loopback, in one process: membership gating, request-response, gossip,
//! shutdown and size limits. No mDNS. Every wait is bounded by a timeout.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use regio_net::{Handle, InboundHandler, Multiaddr, NetConfig, NetError, Protocol, Refusal};
use regio_policy::decision::Reason;
use regio_policy::{Did, Key};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

const REGION: &str = "kempen";

/// Counts invocations and answers with something recognisable.
struct Recorder {
    me: String,
    queries: AtomicUsize,
    chains: AtomicUsize,
    gossip: mpsc::UnboundedSender<(String, Did, Vec<u8>)>,
}

impl InboundHandler for Recorder {
    async fn on_query(&self, from: Did, bytes: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        if bytes == b"fail" {
            return Err(Refusal::node_error("storage engine: disk full"));
        }
        Ok(format!(
            "{} answers {} to {}",
            self.me,
            String::from_utf8_lossy(&bytes),
            from
        )
        .into_bytes())
    }
    async fn on_chain(&self, _from: Did, bytes: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        self.chains.fetch_add(1, Ordering::SeqCst);
        Ok([b"chain:".as_slice(), &bytes].concat())
    }
    fn on_gossip(&self, region: &str, from: Did, bytes: Vec<u8>, _direct: bool) {
        let _ = self.gossip.send((region.to_owned(), from, bytes));
    }
}

struct Node {
    key: Key,
    handle: Handle,
    join: JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
    recorder: Arc<Recorder>,
    gossip: Mutex<mpsc::UnboundedReceiver<(String, Did, Vec<u8>)>>,
    addrs: Vec<Multiaddr>,
}

/// Lets the test keep the handler's counters while the network owns the handler.
struct Shared(Arc<Recorder>);
impl InboundHandler for Shared {
    async fn on_query(&self, from: Did, bytes: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        self.0.on_query(from, bytes).await
    }
    async fn on_chain(&self, from: Did, bytes: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        self.0.on_chain(from, bytes).await
    }
    fn on_gossip(&self, region: &str, from: Did, bytes: Vec<u8>, direct: bool) {
        self.0.on_gossip(region, from, bytes, direct)
    }
}

async fn node(name: &str, config: NetConfig) -> Node {
    let key = Key::generate().unwrap();
    let (gtx, grx) = mpsc::unbounded_channel();
    let recorder = Arc::new(Recorder {
        me: name.into(),
        queries: AtomicUsize::new(0),
        chains: AtomicUsize::new(0),
        gossip: gtx,
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let (handle, join) =
        regio_net::start(config, &key, Shared(Arc::clone(&recorder)), async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    let addrs = handle.listen_addrs().await.unwrap();
    assert!(!addrs.is_empty());
    Node {
        key,
        handle,
        join,
        stop: Some(stop),
        recorder,
        gossip: Mutex::new(grx),
        addrs,
    }
}

impl Node {
    fn did(&self) -> &Did {
        self.key.did()
    }
    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(5), self.join)
            .await
            .expect("network task exits")
            .unwrap();
    }
    /// The next gossip message authored by `from`, within `within`.
    async fn gossip_from(&self, from: &Did, within: Duration) -> Option<(String, Vec<u8>)> {
        let mut rx = self.gossip.lock().await;
        tokio::time::timeout(within, async {
            while let Some((region, author, bytes)) = rx.recv().await {
                if &author == from {
                    return Some((region, bytes));
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }
}

async fn form_region(nodes: &[&Node]) {
    let members: Vec<(Did, Vec<Multiaddr>)> = nodes
        .iter()
        .map(|n| (n.did().clone(), n.addrs.clone()))
        .collect();
    for n in nodes {
        n.handle.set_members(REGION, members.clone()).await.unwrap();
        n.handle.subscribe(REGION).await.unwrap();
    }
}

/// Publishes until `receivers` all got a message from `sender` (gossipsub needs the
/// subscriptions exchanged first), bounded by `within`.
async fn gossip_reaches(sender: &Node, receivers: &[&Node], within: Duration) {
    let deadline = Instant::now() + within;
    let mut pending: Vec<&Node> = receivers.to_vec();
    let mut round = 0;
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "gossip did not reach every member within {within:?}"
        );
        round += 1;
        let _ = sender
            .handle
            .publish(REGION, format!("head v{round}").into_bytes())
            .await;
        let mut still = Vec::new();
        for r in pending {
            match r
                .gossip_from(sender.did(), Duration::from_millis(300))
                .await
            {
                Some((region, bytes)) => {
                    assert_eq!(region, REGION);
                    assert!(bytes.starts_with(b"head v"));
                }
                None => still.push(r),
            }
        }
        pending = still;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_members_are_served_outsider_is_refused_before_any_work() {
    let (a, b, c) = (
        node("a", NetConfig::loopback()).await,
        node("b", NetConfig::loopback()).await,
        node("c", NetConfig::loopback()).await,
    );
    let outsider = node("o", NetConfig::loopback()).await;
    assert_eq!(a.handle.peer_id(), regio_net::peer_id_of(a.did()));
    form_region(&[&a, &b, &c]).await;

    // Members answer each other with what their handler produced; the coordinator asks itself too.
    let deadline = Duration::from_secs(10);
    for target in [&a, &b, &c] {
        let answer = a
            .handle
            .request(target.did(), Protocol::Query, b"q1".to_vec(), deadline)
            .await
            .unwrap();
        let expected = format!("{} answers q1 to {}", target.recorder.me, a.did());
        assert_eq!(String::from_utf8(answer).unwrap(), expected);
    }
    // A handler that cannot answer refuses with `node.error` and its cause; the requester
    // (a peer, or the node itself over loopback) gets both.
    for target in [&b, &a] {
        let failed = a
            .handle
            .request(target.did(), Protocol::Query, b"fail".to_vec(), deadline)
            .await
            .unwrap_err();
        assert_eq!(
            failed,
            NetError::Failed {
                reason: "node.error".into(),
                message: "storage engine: disk full".into()
            }
        );
    }
    let chain = c
        .handle
        .request(b.did(), Protocol::Chain, b"head:did".to_vec(), deadline)
        .await
        .unwrap();
    assert_eq!(chain, b"chain:head:did");
    assert_eq!(b.recorder.chains.load(Ordering::SeqCst), 1);
    let connected = a.handle.connected_peers().await.unwrap();
    assert!(connected.contains(b.did()) && connected.contains(c.did()));

    // The outsider's connection is refused once established (admission): its requests
    // find no connection, and a's handler never runs for it.
    let before = a.recorder.queries.load(Ordering::SeqCst);
    let _ = outsider.handle.dial(a.addrs[0].clone()).await;
    for protocol in [Protocol::Query, Protocol::Chain] {
        let err = outsider
            .handle
            .request(a.did(), protocol, b"q-out".to_vec(), deadline)
            .await
            .unwrap_err();
        assert!(matches!(err, NetError::Unreachable { .. }), "{err:?}");
    }
    assert_eq!(a.recorder.queries.load(Ordering::SeqCst), before);
    assert_eq!(a.recorder.chains.load(Ordering::SeqCst), 0);
    assert_eq!(a.handle.stats().requests_refused, 0);
    assert!(a.handle.stats().connections_refused >= 1);

    // Gossip from a member reaches the other two, bounded in time.
    gossip_reaches(&a, &[&b, &c], Duration::from_secs(15)).await;
    gossip_reaches(&c, &[&a, &b], Duration::from_secs(15)).await;

    // The outsider's gossip never reaches a member: it has no connection to carry it.
    outsider.handle.subscribe(REGION).await.unwrap();
    for n in 0..5 {
        let _ = outsider
            .handle
            .publish(REGION, format!("forged head {n}").into_bytes())
            .await;
    }
    assert!(a
        .gossip_from(outsider.did(), Duration::from_millis(300))
        .await
        .is_none());
    assert!(b
        .gossip_from(outsider.did(), Duration::from_millis(10))
        .await
        .is_none());

    for n in [a, b, c, outsider] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_request_to_stopped_node_fails_within_deadline() {
    let (a, b) = (
        node("a", NetConfig::loopback()).await,
        node("b", NetConfig::loopback()).await,
    );
    form_region(&[&a, &b]).await;
    let ok = a
        .handle
        .request(
            b.did(),
            Protocol::Query,
            b"ping".to_vec(),
            Duration::from_secs(10),
        )
        .await;
    assert!(ok.is_ok(), "{ok:?}");

    let (b_did, b_handle) = (b.did().clone(), b.handle.clone());
    b.shutdown().await;
    assert_eq!(
        b_handle.listen_addrs().await.unwrap_err(),
        NetError::Shutdown
    );

    for deadline in [Duration::from_millis(300), Duration::from_millis(1500)] {
        let started = Instant::now();
        let err = a
            .handle
            .request(&b_did, Protocol::Query, b"ping".to_vec(), deadline)
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            matches!(err, NetError::Unreachable { .. } | NetError::Timeout(_)),
            "{err:?}"
        );
        assert!(
            elapsed <= deadline + Duration::from_millis(250),
            "took {elapsed:?} for a deadline of {deadline:?}"
        );
    }
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_oversize_request_is_refused() {
    let mut big = NetConfig::loopback();
    big.max_request_bytes = 4 * 1024 * 1024;
    let (small, sender) = (
        node("small", NetConfig::loopback()).await,
        node("big", big).await,
    );
    form_region(&[&small, &sender]).await;
    let deadline = Duration::from_secs(10);

    // Over our own limit: refused locally, nothing sent.
    let err = small
        .handle
        .request(
            sender.did(),
            Protocol::Query,
            vec![0; 1024 * 1024 + 1],
            deadline,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, NetError::TooLarge { max: 1_048_576, .. }),
        "{err:?}"
    );

    // Over the receiver's limit: the stream fails and the receiver's handler never runs.
    let err = sender
        .handle
        .request(
            small.did(),
            Protocol::Query,
            vec![1; 2 * 1024 * 1024],
            deadline,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, NetError::Io(_) | NetError::Unreachable { .. }),
        "{err:?}"
    );
    assert_eq!(small.recorder.queries.load(Ordering::SeqCst), 0);

    // A request just under the limit still goes through.
    let ok = sender
        .handle
        .request(
            small.did(),
            Protocol::Query,
            vec![b'x'; 1000 * 1000],
            deadline,
        )
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(small.recorder.queries.load(Ordering::SeqCst), 1);

    sender.shutdown().await;
    small.shutdown().await;
}

#[test]
fn net_peer_id_did_round_trip() {
    for _ in 0..8 {
        let key = Key::generate().unwrap();
        let peer = regio_net::keypair_of(&key).unwrap().public().to_peer_id();
        assert_eq!(regio_net::peer_id_of(key.did()), peer);
        assert_eq!(regio_net::did_of(&peer).as_ref(), Some(key.did()));
    }
    let hashed =
        regio_net::PeerId::from_bytes(&[[0x12, 0x20].as_slice(), &[7u8; 32]].concat()).unwrap();
    assert_eq!(regio_net::did_of(&hashed), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_member_removed_from_region_is_refused_from_then_on() {
    let (a, b) = (
        node("a", NetConfig::loopback()).await,
        node("b", NetConfig::loopback()).await,
    );
    form_region(&[&a, &b]).await;
    let deadline = Duration::from_secs(10);
    assert!(b
        .handle
        .request(a.did(), Protocol::Query, b"1".to_vec(), deadline)
        .await
        .is_ok());

    // a's new manifest no longer lists b: b's next request is refused, a's handler not called.
    a.handle
        .set_members(REGION, vec![(a.did().clone(), a.addrs.clone())])
        .await
        .unwrap();
    let err = b
        .handle
        .request(a.did(), Protocol::Query, b"2".to_vec(), deadline)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Some(Reason::PeerNotMember));
    assert_eq!(a.recorder.queries.load(Ordering::SeqCst), 1);

    // Membership in another region of a's is enough to be served again.
    a.handle
        .set_members("other", vec![(b.did().clone(), b.addrs.clone())])
        .await
        .unwrap();
    assert!(b
        .handle
        .request(a.did(), Protocol::Query, b"3".to_vec(), deadline)
        .await
        .is_ok());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_tcp_only_and_quic_only_regions_work_and_a_dead_tcp_member_fails_fast() {
    for listen in [regio_net::tcp_loopback(0), regio_net::quic_loopback(0)] {
        let config = || NetConfig::loopback().with_listen(vec![listen.clone()]);
        let (a, b) = (node("a", config()).await, node("b", config()).await);
        assert_eq!(a.addrs.len(), 1);
        form_region(&[&a, &b]).await;
        let answer = a
            .handle
            .request(
                b.did(),
                Protocol::Query,
                b"t".to_vec(),
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(
            answer.unwrap(),
            format!("b answers t to {}", a.did()).into_bytes(),
            "over {listen}"
        );
        gossip_reaches(&b, &[&a], Duration::from_secs(15)).await;

        let b_did = b.did().clone();
        b.shutdown().await;
        let deadline = Duration::from_secs(3);
        let started = Instant::now();
        let err = a
            .handle
            .request(&b_did, Protocol::Query, b"t".to_vec(), deadline)
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            matches!(err, NetError::Unreachable { .. } | NetError::Timeout(_)),
            "{err:?}"
        );
        assert!(
            elapsed <= deadline + Duration::from_millis(250),
            "{elapsed:?}"
        );
        if listen.to_string().contains("/tcp/") {
            // A closed TCP port answers at once: the coordinator learns it long before the deadline.
            assert!(matches!(err, NetError::Unreachable { .. }), "{err:?}");
            assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
        }
        a.shutdown().await;
    }
}
