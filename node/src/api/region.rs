//! Region routes (owner: federation): `GET /v1/regions` and `GET /v1/regions/{id}` — the
//! regions this node is in, as this node sees them:
//!
//! ```text
//! {"id","name","version","hash","threshold","charter","certifiers":[did…],
//!  "members":[{"did","nis","name","addresses":[…],"self","connected",
//!              "policyHead":{"version","hash"}|null,"equivocation":[hash…]}]}
//! ```
//!
//! `connected`: a live libp2p connection to the member now (always true for this node
//! itself). `policyHead`: the latest head gossiped by the member (this node's own head for
//! itself). `equivocation`: hashes of the conflicting signed bundles, when the member signed
//! two different bundles of one version.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::engine::Engine;
use crate::policy::doc::manifest::RegionManifest;
use crate::policy::{Did, Signed};

/// The DIDs this node has a live connection to (empty without a network).
pub async fn connected(s: &AppState) -> HashSet<Did> {
    match &s.net {
        Some(net) => net.connected_peers().await.unwrap_or_default().into_iter().collect(),
        None => HashSet::new(),
    }
}

/// One region as JSON.
pub fn region_json(engine: &Engine, m: &Signed<RegionManifest>, connected: &HashSet<Did>) -> Value {
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
                own.as_ref().map(|p| json!({ "version": p.doc().version, "hash": p.hash() }))
            } else {
                heads.get(&member.did).map(|(v, h)| json!({ "version": v, "hash": h }))
            };
            let evidence: Vec<Value> = equivocations
                .iter()
                .filter(|e| e.issuer == member.did)
                .flat_map(|e| [json!(e.a.hash()), json!(e.b.hash())])
                .collect();
            json!({
                "did": member.did,
                "nis": member.nis,
                "name": member.name,
                "addresses": member.addresses,
                "self": me,
                "connected": me || connected.contains(&member.did),
                "policyHead": head,
                "equivocation": evidence,
            })
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
    let connected = connected(&s).await;
    Json(Value::Array(s.engine.regions().iter().map(|m| region_json(&s.engine, m, &connected)).collect()))
}

/// `GET /v1/regions/{id}`: one region, `404 region.unknown` when this node is not in it.
pub async fn show(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let Some(m) = s.engine.regions().into_iter().find(|m| m.doc().region == id) else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "region.unknown", format!("this node is not a member of region `{id}` (`regio region members` lists its regions)")));
    };
    let connected = connected(&s).await;
    Ok(Json(region_json(&s.engine, &m, &connected)))
}
