//! Answering one signed query at this node: verify → plan → decide → execute with the
//! obligations → sign the PartialAnswer → append the audit entry. A refusal writes nothing
//! but its audit entry (the nonce is recorded only when the query is allowed; a replay of
//! an allowed query is caught by the atomic nonce insert before any data is read).

use std::collections::HashSet;
use std::convert::Infallible;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::charge::{self, Charge};
use super::Engine;
use crate::telemetry;
use regio_policy::decision::{self, Context, Decision, Obligations, Reason, Refusal};
use regio_policy::doc::query::{self, Outcome, PartialAnswer, Query, Release};
use regio_policy::signed::SignDocError;
use regio_policy::{Did, DocHash, Signed};
use regio_query::{self, DpOptions, ExecOptions, PartialResult, Plan, PlanError};
use regio_store::audit;
use regio_store::{QueryRecord, StoreError};

/// Longest refusal message a node signs and records (bytes): a message may quote the input.
const MAX_MESSAGE_BYTES: usize = 1024;

/// This node's answer to one query.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The signed PartialAnswer (answered or refused).
    pub signed: Signed<PartialAnswer>,
    /// The plan, when the query could be planned (to merge and finalize results).
    pub plan: Option<Plan>,
    /// The partial result, when answered.
    pub partial: Option<PartialResult>,
}

/// Why no signed answer could be produced at all (internal failures only: every policy
/// outcome is an [`Answer`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The answer could not be signed.
    #[error("signing the answer: {0}")]
    Sign(#[from] SignDocError),
    /// Execution failed (a damaged chunk).
    #[error("executing: {0}")]
    Exec(String),
}

/// Why `run` stopped before producing an answer.
#[allow(clippy::large_enum_variant)] // always boxed
enum Stop {
    /// A policy refusal (answered with a signed refusal).
    Refused(Refused),
    /// An internal failure.
    Failed(AnswerError),
}

/// What the audit entry records besides the outcome: the inputs of the decision (so that
/// an auditor can re-run it, `regio audit decide`) and the subjects whose rows counted.
#[derive(Default)]
struct Trail {
    inputs: serde_json::Map<String, Value>,
    subjects: HashSet<String>,
}

struct Refused {
    refusal: Refusal,
    plan: Option<Plan>,
    requester: Option<Did>,
    policy_version: u64,
}

impl Engine {
    /// Answers a signed query (the JSON as received). `sender` is the peer that forwarded
    /// it (`None` for this node's own API). Traced as a `regio.answer` span (see
    /// [`crate::telemetry`]).
    pub fn answer(
        &self,
        value: Value,
        sender: Option<&Did>,
        now: DateTime<Utc>,
    ) -> Result<Answer, AnswerError> {
        let span = telemetry::answer_span(self.did(), &value);
        let answer = span.in_scope(|| self.answer_untraced(value, sender, now));
        record_answer(&span, &answer);
        answer
    }

    fn answer_untraced(
        &self,
        value: Value,
        sender: Option<&Did>,
        now: DateTime<Utc>,
    ) -> Result<Answer, AnswerError> {
        let query_hash = DocHash::of(&value);
        // What the audit entry and the signed answer keep of the query is bounded by the
        // Query's limits, also when the query breaks them (and is refused).
        let text = |field: &str, max: usize| {
            query::clip(value.get(field).and_then(Value::as_str).unwrap_or(""), max)
        };
        let query_id = text("id", query::MAX_ID_BYTES);
        let region = text("region", query::MAX_REGION_BYTES);
        let raw = serde_json::to_vec(&value).unwrap_or_default(); // cannot fail: a JSON value
        let raw = if raw.len() <= query::MAX_QUERY_BYTES {
            raw
        } else {
            tracing::warn!(
                bytes = raw.len(),
                "an oversized query is refused; its audit entry keeps its hash, not its text"
            );
            serde_json::to_vec(&json!({ "omitted": format!("{} bytes, over the limit of {}", raw.len(), query::MAX_QUERY_BYTES) })).unwrap_or_default()
        };
        let record = QueryRecord {
            hash: query_hash.0,
            raw,
        };
        let mut trail = Trail::default();
        trail
            .inputs
            .insert("at".into(), json!(regio_policy::time::format(&now)));
        trail.inputs.insert("sender".into(), json!(sender));
        trail.inputs.insert("limits".into(), json!({ "maxQueryLifetimeSeconds": self.limits.max_query_lifetime.num_seconds(), "clockSkewSeconds": self.limits.clock_skew.num_seconds() }));
        match self.run(value, sender, now, &mut trail) {
            Ok((query, plan, partial, o, charge)) => {
                let q = query.doc();
                // The privacy budget this answer spent (None: answered exactly).
                let charge: Option<Charge> = charge;
                // What the application receives: counters of a personal dataset withheld or
                // coarsened (the audit entry below keeps them exact). Only the three counters
                // change, so they are swapped in and out rather than the result copied.
                let mut partial = partial;
                let release = release_of(&o, charge.as_ref().map(Charge::left));
                let exact = (
                    partial.rows_scanned,
                    partial.rows_excluded_by_consent,
                    partial.groups_suppressed,
                );
                if o.personal {
                    partial.rows_scanned -= partial.rows_scanned % 1000;
                    partial.rows_excluded_by_consent = 0;
                    partial.groups_suppressed = 0;
                }
                let outcome = Outcome::Answered {
                    rows_scanned: partial.rows_scanned,
                    rows_excluded_by_consent: partial.rows_excluded_by_consent,
                    groups_suppressed: partial.groups_suppressed,
                    disclosure: release.clone(),
                    result: json!({ "schema": plan.schema, "partial": partial }),
                };
                (
                    partial.rows_scanned,
                    partial.rows_excluded_by_consent,
                    partial.groups_suppressed,
                ) = exact;
                let signed = self.sign_answer(
                    &query_id,
                    query_hash,
                    &q.region,
                    o.policy_version,
                    outcome,
                    now,
                )?;
                let mut subjects: Vec<String> = trail.subjects.into_iter().collect();
                subjects.sort_unstable();
                self.store.audit_query(
                    audit::Kind::QueryAnswered,
                    now.timestamp_micros(),
                    json!({
                        "query": query_id, "queryHash": query_hash, "requester": query.signer(), "purpose": q.purpose,
                        "region": q.region, "origin": q.origin, "sender": sender, "dataset": plan.schema.dataset,
                        "policyVersion": o.policy_version, "rowsScanned": partial.rows_scanned,
                        "rowsExcludedByConsent": partial.rows_excluded_by_consent, "groupsSuppressed": partial.groups_suppressed,
                        "subjectsCounted": subjects.len(), "answer": signed.hash(), "decision": trail.inputs,
                        "disclosure": release,
                        "budget": charge::audit_json(charge.as_ref()),
                    }),
                    record,
                    &subjects,
                )?;
                Ok(Answer {
                    signed,
                    plan: Some(plan),
                    partial: Some(partial),
                })
            }
            Err(stop) => {
                let r = match *stop {
                    Stop::Failed(e) => return Err(e),
                    Stop::Refused(r) => r,
                };
                let message = query::clip(&r.refusal.message, MAX_MESSAGE_BYTES);
                let outcome = Outcome::Refused {
                    reason: r.refusal.reason.code().to_owned(),
                    message: message.clone(),
                };
                let signed = self.sign_answer(
                    &query_id,
                    query_hash,
                    &region,
                    r.policy_version,
                    outcome,
                    now,
                )?;
                self.store.audit_query(
                    audit::Kind::QueryRefused,
                    now.timestamp_micros(),
                    json!({
                        "query": query_id, "queryHash": query_hash, "requester": r.requester, "region": region,
                        "sender": sender, "policyVersion": r.policy_version, "reason": r.refusal.reason.code(),
                        "message": message, "answer": signed.hash(), "decision": trail.inputs,
                    }),
                    record,
                    &[],
                )?;
                Ok(Answer {
                    signed,
                    plan: r.plan,
                    partial: None,
                })
            }
        }
    }

    fn sign_answer(
        &self,
        id: &str,
        hash: DocHash,
        region: &str,
        policy_version: u64,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<Signed<PartialAnswer>, SignDocError> {
        let policy_hash = self.read().policy.as_ref().map(|(p, _)| p.hash());
        let doc = PartialAnswer {
            query: if id.is_empty() {
                "unknown".into()
            } else {
                id.to_owned()
            },
            query_hash: hash,
            region: region.to_owned(),
            node: self.did().clone(),
            policy_version,
            policy_hash,
            answered_at: now,
            outcome,
        };
        Signed::sign(doc, &self.key, now)
    }

    #[allow(clippy::type_complexity)]
    fn run(
        &self,
        value: Value,
        sender: Option<&Did>,
        now: DateTime<Utc>,
        trail: &mut Trail,
    ) -> Result<
        (
            Signed<Query>,
            Plan,
            PartialResult,
            Obligations,
            Option<Charge>,
        ),
        Box<Stop>,
    > {
        let refused =
            |refusal: Refusal, plan: Option<Plan>, requester: Option<Did>, policy_version: u64| {
                Err(Box::new(Stop::Refused(Refused {
                    refusal,
                    plan,
                    requester,
                    policy_version,
                })))
            };
        let query = match decision::verify_query(value) {
            Ok(q) => q,
            Err(r) => return refused(r, None, None, 0),
        };
        let requester = Some(query.signer().clone());
        let q = query.doc();
        // Everything the decision needs, cloned out of the state so no lock is held while executing.
        let Some(Gathered {
            policy,
            rules,
            region,
            charter,
            certificate,
            revocations,
        }) = self.gather(q)
        else {
            return refused(
                Refusal::new(
                    Reason::PolicyMissing,
                    format!("{} has published no policy", self.did()),
                ),
                None,
                requester,
                0,
            );
        };
        // The quota and budget counters, from the store's durable ledger.
        let counters =
            charge::counters(&q.region, &q.origin, query.signer(), charter.as_ref(), now);
        let (quota_used, budget_spent) = charge::read(&self.store, counters.as_ref())
            .map_err(|e| Box::new(Stop::Failed(e.into())))?;
        let version = policy.doc().version;
        let inputs = &mut trail.inputs;
        inputs.insert("policyVersion".into(), json!(version));
        inputs.insert("policyHash".into(), json!(policy.hash()));
        inputs.insert(
            "manifest".into(),
            json!(region
                .as_ref()
                .map(|m| json!({ "version": m.doc().version, "hash": m.hash() }))),
        );
        inputs.insert("charter".into(), json!(charter.as_ref().map(|c| c.hash())));
        inputs.insert(
            "certificate".into(),
            json!(certificate.as_ref().map(|c| c.hash())),
        );
        inputs.insert(
            "revocations".into(),
            json!(revocations.iter().map(|r| r.hash()).collect::<Vec<_>>()),
        );
        inputs.insert("quotaUsed".into(), json!(quota_used));
        inputs.insert("budgetSpent".into(), json!(budget_spent));
        let store = &self.store;
        // A dataset the store lacks is the planner's `UnknownDataset`; any other store error
        // is this node failing, not a refusal: kept aside and returned.
        let failed = std::cell::RefCell::new(None);
        let planned = regio_query::plan(&q.sql, |name| match store.dataset(name) {
            Ok(d) => Some(d.schema),
            Err(StoreError::NoSuchDataset(_)) => None,
            Err(e) => {
                let mut first = failed.borrow_mut();
                if first.is_none() {
                    *first = Some(e);
                }
                None
            }
        });
        if let Some(e) = failed.into_inner() {
            return Err(Box::new(Stop::Failed(e.into())));
        }
        let (plan, shape) = match planned {
            Ok(p) => p,
            Err(PlanError::UnknownDataset { name, .. }) => {
                return refused(
                    Refusal::new(
                        Reason::DatasetUnknown,
                        format!("no dataset `{name}` at this node"),
                    ),
                    None,
                    requester,
                    version,
                )
            }
            Err(e) => {
                return refused(
                    Refusal::new(Reason::QueryUnsupported, e.to_string()),
                    None,
                    requester,
                    version,
                )
            }
        };
        let ctx = Context {
            now,
            policy: &policy,
            rules: &rules,
            region: region.as_ref(),
            charter: charter.as_ref(),
            certificate: certificate.as_ref(),
            revocations: &revocations,
            sender,
            nonce_seen: false,
            quota_used,
            budget_spent,
            limits: self.limits,
        };
        let obligations = match decision::decide(&query, &shape, &ctx) {
            Decision::Allow(o) => *o,
            Decision::Refuse(r) => return refused(r, Some(plan), requester, version),
        };
        match self.store.check_and_insert_nonce(
            query.signer().as_str(),
            &q.nonce,
            q.expires.timestamp_micros(),
            now.timestamp_micros(),
        ) {
            Ok(true) => {}
            Ok(false) => {
                return refused(
                    Refusal::new(
                        Reason::QueryReplayed,
                        format!(
                            "nonce {} was already used by {}",
                            q.nonce,
                            query.signer().short()
                        ),
                    ),
                    Some(plan),
                    requester,
                    version,
                )
            }
            Err(e) => return Err(Box::new(Stop::Failed(e.into()))),
        }
        // Reserve the quota slot and the budget before any data is read; a concurrent query
        // that took what was left makes this a refusal, logged with the fresh counters.
        let charge = match charge::reserve(&self.store, counters.as_ref(), &obligations) {
            Ok(Ok(charge)) => charge,
            Ok(Err(lost)) => {
                trail
                    .inputs
                    .insert("quotaUsed".into(), json!(lost.quota_used));
                trail
                    .inputs
                    .insert("budgetSpent".into(), json!(lost.budget_spent));
                return refused(lost.refusal, Some(plan), requester, version);
            }
            Err(e) => return Err(Box::new(Stop::Failed(e.into()))),
        };
        let partial = self
            .execute(&plan, &obligations, now, &mut trail.subjects)
            .map_err(|e| Box::new(Stop::Failed(e)))?;
        Ok((query, plan, partial, obligations, charge))
    }

    fn execute(
        &self,
        plan: &Plan,
        o: &Obligations,
        now: DateTime<Utc>,
        subjects: &mut HashSet<String>,
    ) -> Result<PartialResult, AnswerError> {
        let chunks =
            self.store
                .scan_shared(&plan.schema.dataset, plan.time_range.0, plan.time_range.1)?;
        let view = match &o.consent {
            Some(filter) => Some(self.store.consent_view(
                &plan.schema.dataset,
                &filter.purposes,
                now.timestamp_micros(),
            )?),
            None => None,
        };
        let allows = |subject: &str| view.as_ref().is_some_and(|v| v.allows(subject));
        // The consent filter's subject column is the policy's subject field; a personal
        // dataset whose schema lacks it is never answered (fail closed).
        let subject = o
            .consent
            .as_ref()
            .and_then(|c| plan.schema.index(&c.subject_field));
        if o.personal && subject.is_none() {
            return Err(AnswerError::Exec(format!(
                "`{}` is personal but its schema has no subject column the policy names: not answered",
                plan.schema.dataset
            )));
        }
        let opts = ExecOptions {
            consent: view.as_ref().map(|_| &allows as &dyn Fn(&str) -> bool),
            masked: &o.masked,
            min_group_size: u64::from(o.min_group_size),
            subject: if o.personal { subject } else { None },
            dp: o.dp.map(|d| DpOptions {
                epsilon: d.epsilon,
                delta: d.delta,
                rows_per_group: d.rows_per_group,
                groups_per_subject: d.groups_per_subject,
            }),
        };
        regio_query::execute_counting(
            plan,
            chunks.into_iter().map(Ok::<_, Infallible>),
            &opts,
            subjects,
        )
        .map_err(|e| AnswerError::Exec(e.to_string()))
    }
}

/// Everything the decision needs from the engine's state, cloned out of it.
pub(super) struct Gathered {
    pub(super) policy: Signed<regio_policy::doc::bundle::PolicyBundle>,
    pub(super) rules: std::sync::Arc<regio_policy::decision::access::Rules>,
    pub(super) region: Option<Signed<regio_policy::doc::manifest::RegionManifest>>,
    pub(super) charter: Option<Signed<regio_policy::doc::charter::InclusionCharter>>,
    pub(super) certificate: Option<Signed<regio_policy::doc::cert::EthicsCertificate>>,
    pub(super) revocations: Vec<Signed<regio_policy::doc::cert::Revocation>>,
}

impl Engine {
    /// What deciding on `q` needs (`None` when this node has published no policy): the
    /// query's region, its charter when every member signed it, the certificate the query
    /// names and its revocations.
    pub(super) fn gather(&self, q: &Query) -> Option<Gathered> {
        let state = self.read();
        let (policy, rules) = state.policy.clone()?;
        let region = state.regions.get(&q.region).cloned();
        let charter = region
            .as_ref()
            .and_then(|r| state.charters.get(&r.doc().charter))
            .filter(|c| {
                region
                    .as_ref()
                    .is_some_and(|r| r.doc().members.iter().all(|m| c.signed_by(&m.did)))
            })
            .cloned();
        let certificate = q
            .certificate
            .and_then(|h| state.certificates.get(&h).cloned());
        let revocations = q
            .certificate
            .and_then(|h| state.revocations.get(&h).cloned())
            .unwrap_or_default();
        Some(Gathered {
            policy,
            rules,
            region,
            charter,
            certificate,
            revocations,
        })
    }
}

/// Records what the node decided on `span` (from [`telemetry::answer_span`]).
fn record_answer<E: std::fmt::Display>(span: &tracing::Span, answer: &Result<Answer, E>) {
    match answer.as_ref().map(|a| &a.signed.doc().outcome) {
        Ok(Outcome::Answered {
            rows_scanned,
            rows_excluded_by_consent,
            groups_suppressed,
            ..
        }) => {
            span.record("query.decision", "answered");
            span.record("query.rows_scanned", rows_scanned);
            span.record("query.rows_excluded_by_consent", rows_excluded_by_consent);
            span.record("query.groups_suppressed", groups_suppressed);
        }
        Ok(Outcome::Refused { reason, .. }) => {
            span.record("query.decision", "refused");
            span.record("query.reason", reason.as_str());
        }
        Err(e) => {
            span.record("query.decision", "failed");
            span.record("query.reason", e.to_string().as_str());
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// How an answer over a personal dataset is released (`None` for other datasets).
fn release_of(o: &Obligations, left: Option<f64>) -> Option<Release> {
    if !o.personal {
        return None;
    }
    Some(match &o.dp {
        Some(d) => Release {
            mode: "differentialPrivacy".into(),
            note: format!(
                "differential privacy: epsilon {} per query at this node, at most {} rows per citizen per group and {} groups per citizen; each value carries noise and a 95 % interval",
                d.epsilon, d.rows_per_group, d.groups_per_subject
            ),
            epsilon_spent: Some(d.epsilon),
            epsilon_left: left,
            window_seconds: Some(d.budget.window_seconds),
            counters_withheld: true,
        },
        None => Release {
            mode: "exact".into(),
            note: "exact mode, chosen explicitly by the region's charter: small groups are suppressed, but exact answers do NOT resist differencing (two queries that differ by one citizen reveal that citizen's contribution)".into(),
            epsilon_spent: None,
            epsilon_left: None,
            window_seconds: None,
            counters_withheld: true,
        },
    })
}
