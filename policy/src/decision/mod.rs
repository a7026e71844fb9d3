//! The decision engine: a pure function from a verified query, the planner's
//! [`QueryShape`], this node's policy, the region, charter, certificate, revocations, `now`
//! and quota state to [`Decision::Refuse`] with a stable [`Reason`] or
//! [`Decision::Allow`] with the obligations the executor must honour.
//!
//! Order of checks (the first failure is the reason): proof expiry → freshness → replay →
//! region and membership (this node's, the sending peer's, the origin: the peer that sent
//! it, or this node for its own API) → dataset → access rules (casbin) → raw disclosure → charter purpose → the
//! rules that hold in every mode (consent field, subject and sensitive fields, protected
//! attributes: `fields`) → certificate → quota → disclosure mode and budget. Signature verification comes before, in
//! [`verify_query`], so that nothing is decided for an unverified query.

pub mod access;
pub mod disclosure;
mod fields;
pub mod reason;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::did::Did;
use crate::doc::bundle::{Classification, PolicyBundle};
use crate::doc::cert::{self, EthicsCertificate, Revocation};
use crate::doc::charter::InclusionCharter;
use crate::doc::manifest::RegionManifest;
use crate::doc::query::Query;
use crate::purpose::Vocabulary;
use crate::shape::{QueryKind, QueryShape};
use crate::signed::Signed;

pub use disclosure::DpTerms;
pub use reason::Reason;

/// A refusal: stable reason and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The reason code.
    pub reason: Reason,
    /// What exactly, for people.
    pub message: String,
}

impl Refusal {
    /// A refusal for `reason`.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Refusal {
            reason,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

/// The consent filter the executor applies inside the scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentFilter {
    /// The field naming the subject.
    pub subject_field: String,
    /// A personal row counts only if its subject has current consent for one of these
    /// purposes (the query's purpose and every broader one) on the dataset.
    pub purposes: Vec<String>,
}

/// What an allowed query must respect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Obligations {
    /// Policy version applied.
    pub policy_version: u64,
    /// Consent filter (personal datasets).
    pub consent: Option<ConsentFilter>,
    /// Fields to mask in raw results.
    pub masked: Vec<String>,
    /// Groups smaller than this are suppressed locally.
    pub min_group_size: u32,
    /// Whether raw rows may leave.
    pub raw: bool,
    /// Count one query against this member's quota.
    pub quota_member: Did,
    /// The dataset is classified personal (its counters are withheld from the answer, a
    /// group with personal rows needs `min_group_size` distinct subjects).
    #[serde(default)]
    pub personal: bool,
    /// Differential privacy terms, when the dataset is personal and the charter (or the
    /// policy) answers personal data under DP. `None`: exact.
    #[serde(default)]
    pub dp: Option<DpTerms>,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Execute with these obligations.
    Allow(Box<Obligations>),
    /// Refuse.
    Refuse(Refusal),
}

/// Limits a node sets for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted `expires - issued`.
    pub max_query_lifetime: Duration,
    /// Tolerated clock skew for `issued`.
    pub clock_skew: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_lifetime: Duration::minutes(10),
            clock_skew: Duration::seconds(60),
        }
    }
}

/// Everything the decision depends on besides the query and its shape.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Now (the caller's clock).
    pub now: DateTime<Utc>,
    /// This node's current policy.
    pub policy: &'a Signed<PolicyBundle>,
    /// Its compiled access rules.
    pub rules: &'a access::Rules,
    /// The current manifest of the query's region, if this node is in it.
    pub region: Option<&'a Signed<RegionManifest>>,
    /// The region's signed charter, if this node holds it.
    pub charter: Option<&'a Signed<InclusionCharter>>,
    /// The certificate the query names, if this node holds it.
    pub certificate: Option<&'a Signed<EthicsCertificate>>,
    /// Revocations this node holds for that certificate.
    pub revocations: &'a [Signed<Revocation>],
    /// The peer that forwarded the query (`None`: the node's own API).
    pub sender: Option<&'a Did>,
    /// Whether the nonce was seen before.
    pub nonce_seen: bool,
    /// Queries of the origin member already served in the current quota window.
    pub quota_used: u32,
    /// Epsilon the query's application already spent in the query's region at this node in
    /// the current budget window.
    pub budget_spent: f64,
    /// This node's limits.
    pub limits: Limits,
}

/// Verifies a query document; any failure is `signature.invalid` with the precise cause.
/// The length limits ([`crate::doc::query::check_limits`]) are checked first, so an
/// oversized document costs no signature check.
pub fn verify_query(value: Value) -> Result<Signed<Query>, Refusal> {
    crate::doc::query::check_limits(&value)
        .map_err(|e| Refusal::new(Reason::SignatureInvalid, format!("invalid {e}")))?;
    Signed::<Query>::verify(value)
        .map_err(|e| Refusal::new(Reason::SignatureInvalid, e.to_string()))
}

fn refuse<T>(reason: Reason, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::new(reason, message))
}

/// Decides on a verified query.
pub fn decide(query: &Signed<Query>, shape: &QueryShape, ctx: &Context<'_>) -> Decision {
    match pipeline(query, shape, ctx) {
        Ok(o) => Decision::Allow(Box::new(o)),
        Err(r) => Decision::Refuse(r),
    }
}

/// The checks of a query that come before any dataset is looked at — proof expiry,
/// freshness, replay, region and this node's membership, the sending peer, the origin — in
/// the pipeline's order; the region's manifest when they pass. A coordinator runs them
/// before it fans a query out.
pub fn check_request<'a>(
    query: &Signed<Query>,
    ctx: &Context<'a>,
) -> Result<&'a Signed<RegionManifest>, Refusal> {
    let q = query.doc();
    if let Some(p) = query.proofs().iter().find(|p| p.expired(ctx.now)) {
        return refuse(
            Reason::ProofExpired,
            format!(
                "proof {} by {} expired at {}",
                p.index,
                p.signer.short(),
                p.expires
                    .map(|t| crate::time::format(&t))
                    .unwrap_or_default()
            ),
        );
    }
    if ctx.now >= q.expires {
        return refuse(
            Reason::QueryExpired,
            format!("expired at {}", crate::time::format(&q.expires)),
        );
    }
    if q.issued > ctx.now + ctx.limits.clock_skew {
        return refuse(
            Reason::QueryNotYetValid,
            format!(
                "issued at {}, in the future",
                crate::time::format(&q.issued)
            ),
        );
    }
    if q.expires - q.issued > ctx.limits.max_query_lifetime {
        return refuse(
            Reason::QueryLifetime,
            format!(
                "lifetime {} s exceeds {} s",
                (q.expires - q.issued).num_seconds(),
                ctx.limits.max_query_lifetime.num_seconds()
            ),
        );
    }
    if ctx.nonce_seen {
        return refuse(
            Reason::QueryReplayed,
            format!("nonce {} was already used", q.nonce),
        );
    }
    let Some(region) = ctx.region.filter(|r| r.doc().region == q.region) else {
        return refuse(
            Reason::RegionUnknown,
            format!("this node is not in region `{}`", q.region),
        );
    };
    let region_doc = region.doc();
    // This node's DID is its policy's municipality (a node publishes only its own policy).
    let me = &ctx.policy.doc().municipality.did;
    if region_doc.member(me).is_none() {
        return refuse(
            Reason::RegionNotMember,
            format!(
                "this node is not a member of `{}` (manifest version {})",
                q.region, region_doc.version
            ),
        );
    }
    match ctx.sender {
        Some(sender) if region_doc.member(sender).is_none() => {
            return refuse(
                Reason::PeerNotMember,
                format!("{sender} is not a member of `{}`", q.region),
            );
        }
        Some(sender) if sender != &q.origin => {
            return refuse(
                Reason::OriginNotSender,
                format!(
                    "sent by {}, but the query names {} as its origin",
                    sender.short(),
                    q.origin.short()
                ),
            );
        }
        None if &q.origin != me => {
            return refuse(
                Reason::OriginNotCoordinator,
                format!(
                    "sent to {}, but the query names {} as its origin",
                    me.short(),
                    q.origin.short()
                ),
            );
        }
        _ => {}
    }
    if region_doc.member(&q.origin).is_none() {
        return refuse(
            Reason::OriginNotMember,
            format!("origin {} is not a member of `{}`", q.origin, q.region),
        );
    }
    Ok(region)
}

fn pipeline(
    query: &Signed<Query>,
    shape: &QueryShape,
    ctx: &Context<'_>,
) -> Result<Obligations, Refusal> {
    let q = query.doc();
    let app = query.signer();
    let region_doc = check_request(query, ctx)?.doc();
    let policy = ctx.policy.doc();
    let Some(dataset) = policy.dataset(&shape.dataset) else {
        return refuse(
            Reason::DatasetUnknown,
            format!(
                "no dataset `{}` at {}",
                shape.dataset, policy.municipality.name
            ),
        );
    };
    let action = shape.kind.action();
    match ctx
        .rules
        .allows(app.as_str(), &q.region, &shape.dataset, action, &q.purpose)
    {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                Reason::AccessDenied,
                format!(
                    "no grant of `{action}` on `{}` for {} to {}",
                    shape.dataset,
                    q.purpose,
                    app.short()
                ),
            )
        }
        Err(e) => return refuse(Reason::AccessDenied, e.to_string()),
    }
    if shape.kind == QueryKind::Raw && !policy.disclosure.raw_datasets.contains(&shape.dataset) {
        return refuse(
            Reason::RawNotAllowed,
            format!(
                "raw rows of `{}` do not leave {}",
                shape.dataset, policy.municipality.name
            ),
        );
    }
    let charter = match ctx.charter {
        Some(c) if c.hash() == region_doc.charter => c.doc(),
        _ => {
            return refuse(
                Reason::CharterUnavailable,
                format!(
                    "charter {} of region `{}` is not held here",
                    region_doc.charter, q.region
                ),
            )
        }
    };
    let clauses = &charter.clauses;
    let vocab = Vocabulary::builtin();
    if !clauses
        .allowed_purposes
        .iter()
        .any(|p| vocab.covers(p, &q.purpose))
    {
        return refuse(
            Reason::PurposeNotAllowed,
            format!(
                "purpose {} is not allowed by charter {}",
                q.purpose, charter.id
            ),
        );
    }
    fields::check(shape, dataset, clauses)?;
    check_certificate(query, shape, ctx, region_doc)?;
    if ctx.quota_used >= clauses.quota.queries_per_member {
        return refuse(
            Reason::QuotaExceeded,
            format!(
                "{} has used {} of {} queries per {} s",
                q.origin.short(),
                ctx.quota_used,
                clauses.quota.queries_per_member,
                clauses.quota.window_seconds
            ),
        );
    }
    let dp = disclosure::check(shape, dataset, clauses, ctx.budget_spent)?;
    let consent = match (dataset.classification, &dataset.subject_field) {
        (Classification::Personal, Some(field)) => Some(ConsentFilter {
            subject_field: field.clone(),
            purposes: vocab.covering(&q.purpose),
        }),
        _ => None,
    };
    Ok(Obligations {
        policy_version: policy.version,
        consent,
        masked: dataset.sensitive_fields.clone(),
        min_group_size: policy.disclosure.min_group_size.max(clauses.min_group_size),
        raw: shape.kind == QueryKind::Raw,
        quota_member: q.origin.clone(),
        personal: dataset.classification == Classification::Personal,
        dp,
    })
}

fn check_certificate(
    query: &Signed<Query>,
    shape: &QueryShape,
    ctx: &Context<'_>,
    region: &RegionManifest,
) -> Result<(), Refusal> {
    let q = query.doc();
    let vocab = Vocabulary::builtin();
    let requirements: Vec<_> = ctx
        .policy
        .doc()
        .certification
        .iter()
        .filter(|r| {
            (r.dataset == "*" || r.dataset == shape.dataset)
                && (r.purpose == "*" || vocab.covers(&r.purpose, &q.purpose))
        })
        .collect();
    if requirements.is_empty() {
        return Ok(());
    }
    let Some(cert) = ctx.certificate.filter(|c| Some(c.hash()) == q.certificate) else {
        return refuse(
            Reason::CertificateMissing,
            match q.certificate {
                None => format!(
                    "`{}` for {} requires an ethics certificate; the query names none",
                    shape.dataset, q.purpose
                ),
                Some(h) => format!("certificate {h} is not held by this node"),
            },
        );
    };
    let c = cert.doc();
    let trusted = |issuer: &Did| {
        requirements.iter().all(|r| {
            if r.certifiers.is_empty() {
                region.certifiers.contains(issuer)
            } else {
                r.certifiers.contains(issuer)
            }
        })
    };
    if cert::check_issuer(cert).is_err() || !trusted(&c.issuer) {
        return refuse(
            Reason::CertificateUntrustedIssuer,
            format!(
                "issuer {} is not trusted for `{}`/{}",
                c.issuer.short(),
                shape.dataset,
                q.purpose
            ),
        );
    }
    if let Some(rev) = ctx
        .revocations
        .iter()
        .find(|r| cert::revokes(r, cert) && r.doc().revoked_at <= ctx.now)
    {
        return refuse(
            Reason::CertificateRevoked,
            format!(
                "revoked at {}: {}",
                crate::time::format(&rev.doc().revoked_at),
                rev.doc().reason
            ),
        );
    }
    if ctx.now >= c.valid_until {
        return refuse(
            Reason::CertificateExpired,
            format!("valid until {}", crate::time::format(&c.valid_until)),
        );
    }
    if ctx.now < c.valid_from {
        return refuse(
            Reason::CertificateNotYetValid,
            format!("valid from {}", crate::time::format(&c.valid_from)),
        );
    }
    if &c.credential_subject.id != query.signer() {
        return refuse(
            Reason::CertificateSubjectMismatch,
            format!(
                "issued to {}, the query is signed by {}",
                c.credential_subject.id.short(),
                query.signer().short()
            ),
        );
    }
    let s = &c.credential_subject;
    if !s.purposes.iter().any(|p| vocab.covers(p, &q.purpose)) {
        return refuse(
            Reason::CertificateScope,
            format!("certified for {:?}, not {}", s.purposes, q.purpose),
        );
    }
    if !s.datasets.iter().any(|d| d == "*" || d == &shape.dataset) {
        return refuse(
            Reason::CertificateScope,
            format!(
                "certified for datasets {:?}, not `{}`",
                s.datasets, shape.dataset
            ),
        );
    }
    Ok(())
}
