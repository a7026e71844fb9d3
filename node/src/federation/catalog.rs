//! Catalogs in the region: this node's catalog is gossiped to every region it is in when a
//! new version is signed; members' catalogs arrive as [`Gossip::Catalog`] and by sync, and
//! are taken in by [`crate::catalog::Catalogs::receive`] (verified, signed by a member,
//! newer than the one held) — a refused one leaves a log event naming why.

use regio_policy::doc::catalog::Catalog;
use regio_policy::Signed;

use super::gossip::Gossip;
use super::run;
use crate::api::AppState;

/// Gossips a new version of this node's catalog to every region (nothing without a network).
pub async fn spread(s: &AppState, signed: &Signed<Catalog>) {
    if let Some(net) = &s.net {
        let sent = run::broadcast(
            &s.engine,
            net,
            &Gossip::Catalog {
                doc: signed.raw().clone(),
            },
        )
        .await;
        tracing::debug!(
            version = signed.doc().version,
            regions = sent,
            "catalog gossiped"
        );
    }
}
