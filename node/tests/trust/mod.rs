//! Shared by the trust tests (issue 14): a live region on sled stores, and a region a
//! member makes up with keys of its own.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use regio_demo::cluster::LiveRegion;
use regio_demo::region::{self, Actors};
use regio_policy::doc::charter::InclusionCharter;
use regio_policy::doc::manifest::{Member, RegionManifest};
use regio_policy::signed::decode_body;
use regio_policy::{Key, Signed};
use regio_store::Store;
use tempfile::TempDir;

/// Anti-entropy interval of the test nodes, milliseconds.
pub(crate) const GOSSIP_MS: u64 = 300;

/// A three-node demo region on sled stores in `dirs`, digests every [`GOSSIP_MS`].
pub(crate) async fn live_region(dirs: &[TempDir]) -> LiveRegion {
    live_region_tuned(dirs, |_| {}).await
}

/// [`live_region`], with `tune` adjusting each node's spec further.
pub(crate) async fn live_region_tuned(
    dirs: &[TempDir],
    tune: impl Fn(&mut regio_node::server::Spec),
) -> LiveRegion {
    let stores = dirs
        .iter()
        .map(|d| Store::open_sled(d.path()).unwrap())
        .collect();
    LiveRegion::start_with(
        region::REGION,
        Actors::new(dirs.len()),
        stores,
        1,
        5,
        Utc::now(),
        |_, s| {
            s.config.gossip_interval_ms = GOSSIP_MS;
            tune(s);
        },
    )
    .await
    .unwrap()
}

/// A permissive charter (groups of one, nothing protected, a huge quota, exact answers).
pub(crate) fn permissive_charter() -> serde_json::Value {
    let mut c = region::exact_charter();
    c["id"] = "urn:regio:charter:anything-goes".into();
    c["clauses"]["minGroupSize"] = 1.into();
    c["clauses"]["protectedAttributes"] = serde_json::json!([]);
    c["clauses"]["quota"]["queriesPerMember"] = 1_000_000.into();
    c
}

/// A region `id` founded by `attacker` with `fakes`, keys it just made: the permissive
/// charter and the version-1 manifest, each signed by every "founder".
pub(crate) fn fake_region(
    id: &str,
    attacker: &Key,
    fakes: &[Key],
) -> (Signed<InclusionCharter>, Signed<RegionManifest>) {
    let now = Utc::now();
    let body = decode_body::<InclusionCharter>(&permissive_charter()).unwrap();
    let mut charter = Signed::sign(body, attacker, now).unwrap();
    for k in fakes {
        charter = charter.cosign(k, now).unwrap();
    }
    let members = std::iter::once(attacker)
        .chain(fakes)
        .enumerate()
        .map(|(i, k)| Member {
            did: k.did().clone(),
            nis: format!("9900{i}"),
            name: format!("founder {i}"),
            addresses: vec![],
        })
        .collect();
    let manifest = RegionManifest {
        region: id.into(),
        name: "a region nobody agreed to".into(),
        version: 1,
        previous: None,
        issued: now,
        members,
        charter: charter.hash(),
        certifiers: vec![attacker.did().clone()],
        threshold: 1,
    };
    let mut manifest = Signed::sign(manifest, attacker, now).unwrap();
    for k in fakes {
        manifest = manifest.cosign(k, now).unwrap();
    }
    (charter, manifest)
}

/// A signed query of `app` in `region`, sent to `origin`, with the given `nonce`, issued at
/// `issued` for a minute; its proof carries `proof_expires` when given.
#[allow(clippy::too_many_arguments)]
pub(crate) fn query(
    app: &Key,
    origin: &regio_policy::Did,
    region: &str,
    nonce: &str,
    issued: chrono::DateTime<Utc>,
    certificate: Option<regio_policy::DocHash>,
    proof_expires: Option<chrono::DateTime<Utc>>,
) -> serde_json::Value {
    let q = regio_policy::doc::query::Query {
        id: format!("urn:uuid:{nonce}"),
        region: region.into(),
        origin: origin.clone(),
        purpose: "ResearchAndDevelopment".into(),
        sql: SQL.into(),
        certificate,
        issued,
        expires: issued + chrono::Duration::seconds(60),
        nonce: nonce.into(),
        traceparent: None,
    };
    let mut v = Signed::sign(q, app, issued).unwrap().raw().clone();
    if let Some(expires) = proof_expires {
        v.as_object_mut().unwrap().remove("proof");
        regio_policy::proof::add_proof_until(&mut v, app, issued, Some(expires)).unwrap();
    }
    v
}

/// The query the trust tests ask.
pub(crate) const SQL: &str = "SELECT count(*) AS n FROM readings";

/// A fresh random nonce (hex).
pub(crate) fn nonce() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    hex::encode(b)
}

/// The number of audit entries of each node.
pub(crate) fn audit_lengths(r: &LiveRegion) -> Vec<usize> {
    r.nodes
        .iter()
        .map(|n| n.engine.store().audit_range(1, u64::MAX).unwrap().len())
        .collect()
}

/// Queries `origin` has been charged in `region`'s current quota window (an hour) at each node.
pub(crate) fn quota_used(r: &LiveRegion, origin: &regio_policy::Did) -> Vec<u64> {
    let key = regio_store::ledger::Key {
        kind: regio_store::ledger::Kind::Quota,
        region: region::REGION.into(),
        party: origin.to_string(),
        window: Utc::now().timestamp().div_euclid(3600),
    };
    r.nodes
        .iter()
        .map(|n| n.engine.store().spent(&key).unwrap())
        .collect()
}

/// The cross-border region's id.
pub(crate) const BORDER: &str = "grensregio";

/// A node in two regions: the demo region (nodes 0–2, [`live_region`]) and [`BORDER`],
/// which node 0 shares with node 3 (a Dutch municipality). The border region has its own
/// certifier and a charter that allows one query per member per hour; node 0's policy v2
/// grants the application in both. Returns the demo region, node 3, the border region's
/// actors (node 0 and node 3 as its nodes) and documents.
pub(crate) async fn two_regions(
    dirs: &[TempDir],
) -> (
    LiveRegion,
    regio_demo::cluster::LiveNode,
    Actors,
    region::Documents,
) {
    let r = live_region(&dirs[..3]).await;
    let now = Utc::now();
    let key3 = Key::from_secret([50; 32]);
    let node3 = regio_demo::cluster::LiveNode::start_with(
        &key3,
        Store::open_sled(dirs[3].path()).unwrap(),
        vec![],
        |s| s.config.gossip_interval_ms = GOSSIP_MS,
    )
    .await
    .unwrap();
    let a = &r.actors;
    let border = Actors {
        nodes: vec![a.nodes[0].clone(), key3],
        certifier: Key::from_secret([51; 32]),
        app: a.app.clone(),
        uncertified: a.uncertified.clone(),
        clerk: a.clerk.clone(),
        curious: a.curious.clone(),
    };
    let mut charter = region::exact_charter();
    charter["id"] = "urn:regio:charter:grensregio:1".into();
    charter["clauses"]["quota"]["queriesPerMember"] = 1.into();
    let addresses = vec![
        r.nodes[0].addresses().await.unwrap(),
        node3.addresses().await.unwrap(),
    ];
    let docs = region::documents_with(BORDER, &charter, &border, &addresses, now).unwrap();
    // Node 3: data, policy, the border region's documents.
    region::load(&node3.engine, 1, &docs, 1, 5, now).unwrap();
    // Node 0: policy v2 granting the application in both regions, then the border region.
    let mut v2 = region::policy(0, a, now);
    v2.version = 2;
    v2.previous = Some(r.docs.policies[0].hash());
    let extra: Vec<Vec<String>> = region::policy_in(BORDER, 0, a, now).access.policy;
    v2.access.policy.extend(extra);
    let v2 = Signed::sign(v2, &a.nodes[0], now).unwrap();
    let e0 = &r.nodes[0].engine;
    e0.publish_policy(v2.raw().clone(), now).unwrap();
    e0.put_charter(docs.charter.raw().clone(), now).unwrap();
    e0.put_manifest(docs.manifest.raw().clone(), now).unwrap();
    e0.put_certificate(docs.certificate.raw().clone(), now)
        .unwrap();
    r.nodes[0].join_regions().await.unwrap();
    node3.join_regions().await.unwrap();
    (r, node3, border, docs)
}

/// A revocation by the demo region's certifier of its certificate number `serial`: a control
/// document every member takes in (once it arrived, what was published before it did too).
pub(crate) fn control_revocation(
    actors: &Actors,
    serial: u32,
) -> Signed<regio_policy::doc::cert::Revocation> {
    let c = region::certificate(actors, serial, Utc::now()).unwrap();
    let rev = regio_policy::doc::cert::Revocation {
        certificate: c.hash(),
        certificate_id: c.doc().id.clone(),
        issuer: actors.certifier.did().clone(),
        reason: "control".into(),
        revoked_at: Utc::now(),
    };
    Signed::sign(rev, &actors.certifier, Utc::now()).unwrap()
}

/// Sends `q` from `from` straight to the node `to` over libp2p (as a coordinator would);
/// the reason code of its signed refusal, or `answered`.
pub(crate) async fn relay(
    from: &regio_demo::cluster::LiveNode,
    to: &regio_policy::Did,
    q: &serde_json::Value,
) -> String {
    use regio_policy::doc::query::{Outcome, PartialAnswer};
    let bytes = from
        .net
        .request(
            to,
            regio_net::Protocol::Query,
            serde_json::to_vec(q).unwrap(),
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap();
    match &Signed::<PartialAnswer>::from_json(&bytes)
        .unwrap()
        .doc()
        .outcome
    {
        Outcome::Refused { reason, .. } => reason.clone(),
        Outcome::Answered { .. } => "answered".into(),
    }
}
