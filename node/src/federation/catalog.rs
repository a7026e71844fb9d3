//! Catalogs in the region: this node's catalog is gossiped to every region it is in when a
//! new version is signed; members' catalogs arrive as [`Gossip::Catalog`] and by sync, and
//! are taken in by [`crate::catalog::Catalogs::receive`] (verified, signed by a member,
//! newer than the one held) — a refused one leaves a log event naming why.

use regio_net::Handle;
use regio_policy::doc::catalog::Catalog;
use regio_policy::Signed;

use super::gossip::Gossip;
use super::run;
use crate::api::AppState;
use crate::engine::Engine;

/// Re-signs this node's catalog when it is due (see [`crate::catalog::Catalogs::current`])
/// and gossips a new version; called at every anti-entropy round.
pub async fn refresh(engine: &Engine, net: &Handle) {
    let Some(catalogs) = engine.catalogs() else {
        return;
    };
    let before = catalogs.version();
    match catalogs.current(engine, chrono::Utc::now()) {
        Ok(signed) if Some(signed.doc().version) != before => {
            let msg = Gossip::Catalog {
                doc: signed.raw().clone(),
            };
            run::broadcast(engine, net, &msg).await;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "the catalog could not be re-signed"),
    }
}

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
