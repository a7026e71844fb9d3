//! `GET /v1/regions` and `GET /v1/regions/{id}` (anyone): the regions this node is in, as
//! this node sees them — members, their reachability, their policy heads, equivocation.
//!
//! `connected`: a live libp2p connection to the member now. `neighbour`: a connection this
//! node keeps (every member in a region of up to 16; about `2·log2(n)` in larger ones).
//! `heardMsAgo`: when the member last authored gossip that reached this node. `reachable`:
//! connected, or heard within three anti-entropy intervals. All three are true for this node
//! itself.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{encode, Endpoint, Method, Route};

/// `GET /v1/regions` (anyone).
pub const LIST: Route = Route::new(Method::Get, "/v1/regions", false);
/// `GET /v1/regions/{id}` (anyone).
pub const SHOW: Route = Route::new(Method::Get, "/v1/regions/{id}", false);

/// The request `GET /v1/regions`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListRegions;

impl Endpoint for ListRegions {
    const ROUTE: Route = LIST;
    type Reply = Vec<RegionView>;
}

/// The request `GET /v1/regions/{id}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShowRegion {
    /// The region id.
    pub id: String,
}

impl Endpoint for ShowRegion {
    const ROUTE: Route = SHOW;
    type Reply = RegionView;
    fn target(&self) -> String {
        format!("/v1/regions/{}", encode(&self.id))
    }
}

/// One region as this node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegionView {
    /// The region id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The manifest version in effect.
    pub version: u64,
    /// The manifest's hash.
    pub hash: String,
    /// Signatures of current members a new version needs.
    pub threshold: u32,
    /// Hash of the charter the region signed.
    pub charter: String,
    /// DIDs of the trusted certifiers.
    pub certifiers: Vec<String>,
    /// The members.
    pub members: Vec<MemberView>,
}

/// One member of a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    /// Its DID.
    pub did: String,
    /// Its NIS code.
    pub nis: String,
    /// Its name.
    pub name: String,
    /// Its libp2p addresses from the manifest.
    pub addresses: Vec<String>,
    /// Whether it is this node.
    #[serde(rename = "self")]
    pub is_self: bool,
    /// The latest policy head it gossiped (this node's own head for itself).
    pub policy_head: Option<PolicyHead>,
    /// Hashes of two conflicting signed bundles of one version, when it equivocated.
    pub equivocation: Vec<String>,
    /// Connected, or heard within three anti-entropy intervals.
    pub reachable: bool,
    /// A live libp2p connection now.
    pub connected: bool,
    /// A connection this node keeps.
    pub neighbour: bool,
    /// Milliseconds since it last authored gossip that reached this node (`null`: never).
    pub heard_ms_ago: Option<u64>,
}

/// A policy chain head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyHead {
    /// The bundle's version.
    pub version: u64,
    /// The bundle's hash.
    pub hash: String,
}
