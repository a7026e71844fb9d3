//! The coordinator's checks before it fans a query out (issue 14): no member signs, fsyncs
//! or spends anything for a query its origin does not vouch for. The query must verify, be
//! fresh (its proofs unexpired too), not replay a nonce this node recorded for its signer,
//! name a region this node is a member of and this node as its origin; and when this node
//! holds the dataset, its own access rules must grant the application the query
//! ([`BEFORE_FAN_OUT`]: an application the origin does not know is not its to relay).
//! Everything else (certificates, charter, disclosure, SQL) each member judges for itself,
//! so that provenance shows every member's own refusal. Nothing is written here: a refusal
//! is logged, not audited.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::answer::Gathered;
use super::Engine;
use regio_policy::decision::{self, Context, Decision, Reason, Refusal};
use regio_policy::doc::query::Query;
use regio_policy::Signed;
use regio_store::StoreError;

/// Refusals of the coordinator's own decision that stop a query before fan-out (beyond
/// [`decision::check_request`]): the origin does not grant the application the query.
pub const BEFORE_FAN_OUT: &[Reason] = &[Reason::AccessDenied];

/// Why a query is not fanned out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrecheckError {
    /// Refused, with the reason code.
    #[error("{0}")]
    Refused(Refusal),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Refusal> for PrecheckError {
    fn from(r: Refusal) -> Self {
        PrecheckError::Refused(r)
    }
}

impl Engine {
    /// Checks a query this node was asked to coordinate, at `now` (see the module doc).
    /// Returns the verified query; writes nothing.
    pub fn precheck(
        &self,
        value: Value,
        now: DateTime<Utc>,
    ) -> Result<Signed<Query>, PrecheckError> {
        let query = decision::verify_query(value)?;
        let q = query.doc();
        let Some(g) = self.gather(q) else {
            return Err(Refusal::new(
                Reason::PolicyMissing,
                format!(
                    "{} has published no policy, so it coordinates no query",
                    self.did()
                ),
            )
            .into());
        };
        let Gathered {
            policy,
            rules,
            region,
            charter,
            certificate,
            revocations,
        } = &g;
        let nonce_seen =
            self.store
                .nonce_seen(query.signer().as_str(), &q.nonce, now.timestamp_micros())?;
        let ctx = Context {
            now,
            policy,
            rules,
            region: region.as_ref(),
            charter: charter.as_ref(),
            certificate: certificate.as_ref(),
            revocations,
            sender: None,
            nonce_seen,
            quota_used: 0,
            budget_spent: 0.0,
            limits: self.limits,
        };
        decision::check_request(&query, &ctx)?;
        let store = &self.store;
        // A dataset not held here, or SQL outside the subset: the members judge it.
        if let Ok((_, shape)) =
            regio_query::plan(&q.sql, |d| store.dataset(d).ok().map(|i| i.schema))
        {
            if let Decision::Refuse(r) = decision::decide(&query, &shape, &ctx) {
                if BEFORE_FAN_OUT.contains(&r.reason) {
                    return Err(r.into());
                }
            }
        }
        Ok(query)
    }
}
