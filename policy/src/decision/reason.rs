//! Reason codes: stable dotted strings, one per way a node refuses a query. They appear in
//! PartialAnswers, audit entries, metrics and the CLI; never rename one.

use serde::{Deserialize, Serialize};

macro_rules! reasons {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal : $text:literal ),* $(,)?) => {
        /// Why a query was refused.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum Reason {
            $( $(#[$doc])* #[serde(rename = $code)] $variant, )*
        }

        impl Reason {
            /// Every reason, in table order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),*];

            /// The stable code, e.g. `certificate.revoked`.
            pub fn code(self) -> &'static str {
                match self { $(Reason::$variant => $code,)* }
            }

            /// What the code means, for the reason-code table.
            pub fn meaning(self) -> &'static str {
                match self { $(Reason::$variant => $text,)* }
            }

            /// The reason with this code.
            pub fn from_code(code: &str) -> Option<Reason> {
                match code { $($code => Some(Reason::$variant),)* _ => None }
            }
        }
    };
}

reasons! {
    /// The query's proof does not verify, or it is not a well-formed signed Query.
    SignatureInvalid = "signature.invalid": "the query's signature does not verify, or the signed document is malformed",
    /// A proof of the query carries an `expires` that has passed.
    ProofExpired = "proof.expired": "a proof of the query carries the Data Integrity option `expires`, and it has passed",
    /// The query's expiry has passed.
    QueryExpired = "query.expired": "the query's `expires` has passed",
    /// The query was issued in the future (beyond clock skew).
    QueryNotYetValid = "query.not_yet_valid": "the query's `issued` lies in the future beyond the allowed clock skew",
    /// The query's lifetime exceeds the node's maximum.
    QueryLifetime = "query.lifetime": "`expires` - `issued` exceeds the node's maximum query lifetime",
    /// The nonce was seen before.
    QueryReplayed = "query.replayed": "this query's nonce was already used (replay)",
    /// The SQL is outside Regio's subset.
    QueryUnsupported = "query.unsupported": "the SQL uses a construct outside Regio's read-only subset",
    /// The node is not in the query's region.
    RegionUnknown = "region.unknown": "this node is not a member of the query's region",
    /// The node holds the region's manifest but is not one of its members.
    RegionNotMember = "region.not_member": "this node holds the region's manifest but is not one of its members (it was removed, or never admitted)",
    /// The peer that forwarded the query is not a member of the region.
    PeerNotMember = "peer.not_member": "the peer that sent the query is not a member of the query's region",
    /// The query's origin is not a member of the region.
    OriginNotMember = "origin.not_member": "the query's `origin` is not a member of the query's region",
    /// The query was sent to a node other than its origin.
    OriginNotCoordinator = "origin.not_coordinator": "the query's `origin` is not the node it was sent to: an application sends a query to its origin, and only the origin fans it out",
    /// A peer forwarded a query that names another member as its origin.
    OriginNotSender = "origin.not_sender": "the peer that sent the query is not the query's `origin` (only the origin may fan a query out)",
    /// This node has published no policy yet.
    PolicyMissing = "policy.missing": "this node has published no policy bundle, so it answers no query",
    /// The dataset is not published by this node.
    DatasetUnknown = "dataset.unknown": "this node's policy publishes no dataset of that name",
    /// casbin denies the action.
    AccessDenied = "access.denied": "the access rules (casbin) grant the application no such action on the dataset for the purpose",
    /// Raw rows may not leave this node for this dataset.
    RawNotAllowed = "policy.raw_not_allowed": "the policy does not let raw rows of this dataset leave the node",
    /// The region's charter is not available to this node.
    CharterUnavailable = "charter.unavailable": "this node does not hold the signed charter the region manifest names (or not every member signed it)",
    /// The charter does not allow the purpose.
    PurposeNotAllowed = "charter.purpose_not_allowed": "the region's charter does not allow this purpose",
    /// A protected attribute is used below its allowed granularity.
    ProtectedAttribute = "charter.protected_attribute": "a protected attribute is filtered on off the charter's grid (judged by every edge of the WHERE), grouped on below its allowed granularity, used inside an aggregate, or used at all where the charter says never",
    /// The member's fair-share quota is used up.
    QuotaExceeded = "charter.quota_exceeded": "the origin member has used its fair-share quota at this node for the current window",
    /// A certificate is required and none was given or none is known.
    CertificateMissing = "certificate.missing": "an ethics certificate is required and the query names none this node holds",
    /// The certifier is not trusted for this dataset and purpose.
    CertificateUntrustedIssuer = "certificate.untrusted_issuer": "the certificate's issuer is not a certifier this node trusts for the dataset and purpose",
    /// The certificate was revoked.
    CertificateRevoked = "certificate.revoked": "the certificate was revoked by its issuer",
    /// The certificate's validity has ended.
    CertificateExpired = "certificate.expired": "the certificate's `validUntil` has passed",
    /// The certificate's validity has not started.
    CertificateNotYetValid = "certificate.not_yet_valid": "the certificate's `validFrom` lies in the future",
    /// The certificate does not cover the purpose or dataset.
    CertificateScope = "certificate.scope": "the certificate does not cover the query's purpose or dataset",
    /// The certificate was issued to another application.
    CertificateSubjectMismatch = "certificate.subject_mismatch": "the certificate was issued to another application than the query's signer",
    /// The application's privacy budget for the region is spent for this window.
    BudgetExhausted = "disclosure.budget_exhausted": "the application has spent its privacy budget (epsilon) for the region at this node for the current window",
    /// The subject field or a sensitive field is used in an aggregate query.
    SubjectField = "disclosure.subject_field": "the policy's subject field or a sensitive field appears in WHERE, GROUP BY, SELECT or inside an aggregate",
    /// An aggregate over a numeric field whose schema declares no bounds.
    UnboundedField = "disclosure.unbounded_field": "an aggregate under differential privacy reads a numeric field whose dataset schema declares no bounds (or a percentile one without bins)",
    /// min/max of personal values under differential privacy.
    ExtremeValue = "disclosure.extreme_value": "the minimum or maximum of personal values is not released under differential privacy",
    /// An aggregate that has no private release here.
    NotPrivate = "disclosure.not_private": "the aggregate cannot be released without giving away individual values (count(DISTINCT) of a column without declared categories, or an aggregate with no DP mechanism)",
    /// The consent filter cannot be applied: the policy's subject field and the schema disagree.
    SubjectMismatch = "disclosure.subject_mismatch": "the dataset is personal but its schema lacks the policy's subject field (or names another one): no consent filter can be applied, so it is not answered",
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// The reason-code table as Markdown (for docs and `regio reasons`).
pub fn table_markdown() -> String {
    let mut out = String::from("| code | meaning |\n|---|---|\n");
    for r in Reason::ALL {
        out.push_str(&format!("| `{}` | {} |\n", r.code(), r.meaning()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_dotted_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Reason::ALL {
            assert!(r.code().contains('.'), "{}", r.code());
            assert!(seen.insert(r.code()));
            assert_eq!(Reason::from_code(r.code()), Some(*r));
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::from(r.code())
            );
        }
    }
}
