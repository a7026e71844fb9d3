//! The coordinator's checks before it fans a query out (issue 14): no member signs, fsyncs
//! or spends anything for a query its origin would not vouch for. The query must verify, be
//! fresh (its proofs unexpired too), not replay a nonce this node recorded for its signer,
//! name a region this node is a member of and this node as its origin; and when this node
//! holds the dataset, its own decision must not refuse the application for a reason that
//! holds region-wide ([`REGION_WIDE`]: access rules, the charter's purposes, certificates,
//! SQL outside the subset). Nothing is written: a refusal here is logged, not audited.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::answer::Gathered;
use super::Engine;
use regio_policy::decision::{self, Context, Decision, Reason, Refusal};
use regio_policy::doc::query::Query;
use regio_policy::Signed;
use regio_query::PlanError;
use regio_store::StoreError;

/// Refusals of the coordinator's own decision that stop a query before fan-out: about the
/// application or the query itself, not about this node's data or counters.
pub const REGION_WIDE: &[Reason] = &[
    Reason::QueryUnsupported,
    Reason::AccessDenied,
    Reason::PurposeNotAllowed,
    Reason::CertificateMissing,
    Reason::CertificateUntrustedIssuer,
    Reason::CertificateRevoked,
    Reason::CertificateExpired,
    Reason::CertificateNotYetValid,
    Reason::CertificateScope,
    Reason::CertificateSubjectMismatch,
];

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
        match regio_query::plan(&q.sql, |d| store.dataset(d).ok().map(|i| i.schema)) {
            Ok((_, shape)) => {
                if let Decision::Refuse(r) = decision::decide(&query, &shape, &ctx) {
                    if REGION_WIDE.contains(&r.reason) {
                        return Err(r.into());
                    }
                }
            }
            // Not held here: the members judge it.
            Err(PlanError::UnknownDataset { .. }) => {}
            Err(e) => return Err(Refusal::new(Reason::QueryUnsupported, e.to_string()).into()),
        }
        Ok(query)
    }
}
