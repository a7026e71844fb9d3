//! Region routes (owner: federation): `GET /v1/regions` and `GET /v1/regions/{id}` — the
//! regions this node is in, as this node sees them:
//!
//! ```text
//! {"id","name","version","hash","threshold","charter","certifiers":[did…],
//!  "members":[{"did","nis","name","addresses":[…],"self","reachable","connected",
//!              "neighbour","heardMsAgo","policyHead":{"version","hash"}|null,
//!              "equivocation":[hash…]}]}
//! ```
//!
//! `connected`: a live libp2p connection to the member now. `neighbour`: a connection this
//! node keeps (every member in a region of up to 16; about `2·log2(n)` in larger ones, the
//! others are dialled when a query needs them). `heardMsAgo`: when the member last authored
//! gossip that reached this node (`null` if never). `reachable`: connected, or heard within
//! three anti-entropy intervals (every member publishes a digest each interval). All three
//! are true for this node itself. `policyHead`: the latest head gossiped by the member (this
//! node's own head for itself). `equivocation`: hashes of the conflicting signed bundles, when the member signed
//! two different bundles of one version.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::engine::Engine;
use regio_net::PeerSeen;
use regio_policy::doc::manifest::RegionManifest;
use regio_policy::{Did, Signed};

/// What the network knows of every member, and how recently a member must have been heard
/// from to count as reachable (three anti-entropy intervals).
pub struct Seen {
    peers: HashMap<Did, PeerSeen>,
    window: Duration,
}

impl Seen {
    /// Asks the network (nothing is known without one).
    pub async fn of(s: &AppState) -> Seen {
        let peers = match &s.net {
            Some(net) => net
                .peers()
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "could not ask the network which members it sees");
                    Vec::new()
                })
                .into_iter()
                .map(|p| (p.did.clone(), p))
                .collect(),
            None => HashMap::new(),
        };
        Seen {
            peers,
            window: Duration::from_millis(s.config.gossip_interval_ms.saturating_mul(3)),
        }
    }

    fn json(&self, did: &Did, me: bool) -> [(&'static str, Value); 4] {
        let p = self.peers.get(did);
        let connected = me || p.is_some_and(|p| p.connected);
        let heard = if me {
            Some(Duration::ZERO)
        } else {
            p.and_then(|p| p.heard)
        };
        [
            (
                "reachable",
                json!(connected || heard.is_some_and(|h| h <= self.window)),
            ),
            ("connected", json!(connected)),
            ("neighbour", json!(me || p.is_some_and(|p| p.neighbour))),
            ("heardMsAgo", json!(heard.map(|h| h.as_millis() as u64))),
        ]
    }
}

/// One region as JSON.
pub fn region_json(engine: &Engine, m: &Signed<RegionManifest>, seen: &Seen) -> Value {
    let doc = m.doc();
    let heads = engine.peer_heads();
    let own = engine.policy();
    let equivocations = engine.equivocations();
    let members: Vec<Value> = doc
        .members
        .iter()
        .map(|member| {
            let me = &member.did == engine.did();
            let head = if me {
                own.as_ref()
                    .map(|p| json!({ "version": p.doc().version, "hash": p.hash() }))
            } else {
                heads
                    .get(&member.did)
                    .map(|(v, h)| json!({ "version": v, "hash": h }))
            };
            let evidence: Vec<Value> = equivocations
                .iter()
                .filter(|e| e.issuer == member.did)
                .flat_map(|e| [json!(e.a.hash()), json!(e.b.hash())])
                .collect();
            let mut line = json!({
                "did": member.did,
                "nis": member.nis,
                "name": member.name,
                "addresses": member.addresses,
                "self": me,
                "policyHead": head,
                "equivocation": evidence,
            });
            for (k, v) in seen.json(&member.did, me) {
                line[k] = v;
            }
            line
        })
        .collect();
    json!({
        "id": doc.region,
        "name": doc.name,
        "version": doc.version,
        "hash": m.hash(),
        "threshold": doc.threshold,
        "charter": doc.charter,
        "certifiers": doc.certifiers,
        "members": members,
    })
}

/// `GET /v1/regions`: every region this node is in.
pub async fn list(State(s): State<AppState>) -> Json<Value> {
    let seen = Seen::of(&s).await;
    Json(Value::Array(
        s.engine
            .regions()
            .iter()
            .map(|m| region_json(&s.engine, m, &seen))
            .collect(),
    ))
}

/// `GET /v1/regions/{id}`: one region, `404 region.unknown` when this node is not in it.
pub async fn show(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let Some(m) = s
        .engine
        .regions()
        .into_iter()
        .find(|m| m.doc().region == id)
    else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "region.unknown", format!("this node is not a member of region `{id}` (`regio region members` lists its regions)")));
    };
    let seen = Seen::of(&s).await;
    Ok(Json(region_json(&s.engine, &m, &seen)))
}
