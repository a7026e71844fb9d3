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
use regio_http::region::{MemberView, PolicyHead, RegionView};
use regio_http::ErrorBody;

use super::{ApiError, AppState, Reply};
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

    /// `(reachable, connected, neighbour, heardMsAgo)` of a member.
    fn of_member(&self, did: &Did, me: bool) -> (bool, bool, bool, Option<u64>) {
        let p = self.peers.get(did);
        let connected = me || p.is_some_and(|p| p.connected);
        let heard = if me {
            Some(Duration::ZERO)
        } else {
            p.and_then(|p| p.heard)
        };
        (
            connected || heard.is_some_and(|h| h <= self.window),
            connected,
            me || p.is_some_and(|p| p.neighbour),
            heard.map(|h| h.as_millis() as u64),
        )
    }
}

/// One region as this node sees it.
pub fn region_view(engine: &Engine, m: &Signed<RegionManifest>, seen: &Seen) -> RegionView {
    let doc = m.doc();
    let heads = engine.peer_heads();
    let own = engine.policy();
    let equivocations = engine.equivocations();
    let members = doc
        .members
        .iter()
        .map(|member| {
            let me = &member.did == engine.did();
            let policy_head = if me {
                own.as_ref().map(|p| PolicyHead {
                    version: p.doc().version,
                    hash: p.hash().to_string(),
                })
            } else {
                heads.get(&member.did).map(|(v, h)| PolicyHead {
                    version: *v,
                    hash: h.to_string(),
                })
            };
            let equivocation = equivocations
                .iter()
                .filter(|e| e.issuer == member.did)
                .flat_map(|e| [e.a.hash().to_string(), e.b.hash().to_string()])
                .collect();
            let (reachable, connected, neighbour, heard_ms_ago) = seen.of_member(&member.did, me);
            MemberView {
                did: member.did.as_str().to_string(),
                nis: member.nis.clone(),
                name: member.name.clone(),
                addresses: member.addresses.clone(),
                is_self: me,
                policy_head,
                equivocation,
                reachable,
                connected,
                neighbour,
                heard_ms_ago,
            }
        })
        .collect();
    RegionView {
        id: doc.region.clone(),
        name: doc.name.clone(),
        version: doc.version,
        hash: m.hash().to_string(),
        threshold: doc.threshold,
        charter: doc.charter.to_string(),
        certifiers: doc
            .certifiers
            .iter()
            .map(|d| d.as_str().to_string())
            .collect(),
        members,
    }
}

/// `GET /v1/regions`: every region this node is in.
#[utoipa::path(get, path = "/v1/regions", tag = "regions",
    summary = "The regions this node is in, as this node sees them",
    responses((status = 200, description = "Every region of this node (empty when none)", body = Vec<RegionView>)))]
pub async fn list(State(s): State<AppState>) -> Reply<Vec<RegionView>> {
    let seen = Seen::of(&s).await;
    Reply(
        s.engine
            .regions()
            .iter()
            .map(|m| region_view(&s.engine, m, &seen))
            .collect(),
    )
}

/// `GET /v1/regions/{id}`: one region, `404 region.unknown` when this node is not in it.
#[utoipa::path(get, path = "/v1/regions/{id}", tag = "regions",
    summary = "One region this node is in",
    params(("id" = String, Path, description = "The region id")),
    responses(
        (status = 200, description = "The region", body = RegionView),
        (status = 404, description = "`region.unknown`: this node is not in it", body = ErrorBody)))]
pub async fn show(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Reply<RegionView>, ApiError> {
    let Some(m) = s
        .engine
        .regions()
        .into_iter()
        .find(|m| m.doc().region == id)
    else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "region.unknown", format!("this node is not a member of region `{id}` (`regio region members` lists its regions)")));
    };
    let seen = Seen::of(&s).await;
    Ok(Reply(region_view(&s.engine, &m, &seen)))
}
