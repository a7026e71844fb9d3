//! The coordinator of a federated query (owner: lead). The node that receives a signed
//! Query checks it first ([`Engine::precheck`]: nothing is fanned out, signed or written for
//! a query that does not verify, is stale or replayed, names a region this node is not in or
//! another node as its `origin`, or whose application this node's own access rules do not
//! grant), then fans it out to every member of the query's region — itself included — over a
//! [`Transport`] (libp2p request-response in a running node), collects the signed
//! PartialAnswers until the deadline, verifies each one (on the blocking pool as soon as it
//! arrives, so checking overlaps the other members' work), merges the partial states and
//! returns the result with its **provenance**: for every member, answered / refused (with
//! the reason) / timed out / unreachable / invalid, the policy version it applied and what
//! it filtered. A slow or partitioned member never delays the answer past the deadline.
//! A member that took the query but could not answer it (its store or engine failed) is
//! `refused` with reason `node.error` and its error as the message, without a signed
//! answer. Every member that did not answer is logged as a warning naming it (`peer` = its
//! DID, `member` = its name) and the cause; a signed refusal is logged at debug level.

pub mod gossip;
pub mod p2p;
pub mod run;
pub mod sync;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::Instrument;

use crate::engine::{Engine, PrecheckError};
use crate::telemetry;
use regio_net::NODE_ERROR;
use regio_policy::decision;
use regio_policy::doc::query::{self as qdoc, Outcome, PartialAnswer};
use regio_policy::{Did, DocHash, Signed};
use regio_query::schema::Schema;
use regio_query::{self, PartialResult, Plan, ResultSet};

/// Why a member's answer did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No answer within the deadline.
    #[error("no answer within the deadline")]
    Timeout,
    /// The member could not be reached.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The member's network layer refused before answering (e.g. `peer.not_member`).
    #[error("refused by the network layer: {0}")]
    Refused(String),
    /// The member (or this node's own engine) took the query but could not answer it: its
    /// engine or store failed. Reported as [`Status::Refused`] with this reason
    /// (`node.error`) and message, without a signed answer.
    #[error("failed to answer ({reason}): {message}")]
    Failed {
        /// The reason code, `node.error`.
        reason: String,
        /// The cause, as the member stated it.
        message: String,
    },
}

/// Carries a signed query to a member and its signed answer back.
pub trait Transport: Send + Sync {
    /// Sends `query` (signed JSON bytes) to `member`; returns its signed answer bytes.
    fn request(
        &self,
        member: &Did,
        query: Vec<u8>,
        deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, TransportError>> + Send + '_>>;
}

// What happened at one member, and its provenance line: types of the HTTP contract
// (`POST /v1/query` answers them).
pub use regio_http::query::{Provenance, Status};

/// A federated result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FederatedResult {
    /// Query id.
    pub query: String,
    /// Hash of the signed query.
    pub query_hash: DocHash,
    /// Region.
    pub region: String,
    /// Column names and rows (JSON), when at least one member answered.
    pub result: Option<Value>,
    /// The same as CSV.
    #[serde(skip)]
    pub csv: Option<String>,
    /// Members that answered / members in the region.
    pub coverage: (usize, usize),
    /// One line per member.
    pub provenance: Vec<Provenance>,
    /// Every signed PartialAnswer received (for auditors).
    pub answers: Vec<Value>,
}

/// Why no federated result could be produced at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FederationError {
    /// The query was refused before it was fanned out (it does not verify, is stale or
    /// replayed, names a region this node is not in or another origin, or this node's own
    /// access rules do not grant its application the query).
    #[error("{0}")]
    Query(decision::Refusal),
    /// This node is not in the query's region.
    #[error("this node is not a member of region `{0}`")]
    NotMember(String),
    /// The local engine failed.
    #[error("local answer: {0}")]
    Local(String),
    /// Answers verified but could not be merged into one result.
    #[error("merging: {0}")]
    Merge(String),
}

/// A member's reply on its way.
type Pending<'a> = Pin<Box<dyn Future<Output = (usize, Reply)> + Send + 'a>>;

enum Reply {
    /// An answer arrived; it is being checked on the blocking pool (verified and decoded as
    /// soon as it arrives, while other members are still working).
    Arrived(tokio::task::JoinHandle<Result<Checked, String>>),
    Failed(TransportError),
}

/// A member's answer, verified and decoded.
struct Checked {
    signed: Signed<PartialAnswer>,
    /// The partial result of an answer (`None` for a refusal), or why it does not decode.
    partial: Option<Result<(Schema, PartialResult), String>>,
}

/// Records how a member's reply came on its `regio.member_request` span (the current one).
fn traced(reply: (usize, Reply)) -> (usize, Reply) {
    let what = match &reply.1 {
        Reply::Arrived(_) => "answer".to_owned(),
        Reply::Failed(e) => e.to_string(),
    };
    tracing::Span::current().record("member.reply", what.as_str());
    reply
}

/// Runs a federated query from this node. Traced as a `regio.coordinate` span with one
/// `regio.member_request` child per member (see [`crate::telemetry`]).
pub async fn coordinate(
    engine: Arc<Engine>,
    transport: &dyn Transport,
    query_value: Value,
    deadline: Duration,
    now: DateTime<Utc>,
) -> Result<FederatedResult, FederationError> {
    let span = telemetry::coordinate_span(engine.did(), &query_value);
    let result = coordinate_untraced(engine, transport, query_value, deadline, now)
        .instrument(span.clone())
        .await;
    record_coordinate(&span, &result);
    result
}

async fn coordinate_untraced(
    engine: Arc<Engine>,
    transport: &dyn Transport,
    query_value: Value,
    deadline: Duration,
    now: DateTime<Utc>,
) -> Result<FederatedResult, FederationError> {
    // Checked before any member works for it (signature, freshness, replay, region, origin,
    // this node's own access rules): a refusal here writes nothing anywhere.
    let (e, v) = (engine.clone(), query_value.clone());
    let query = match tokio::task::spawn_blocking(move || e.precheck(v, now)).await {
        Ok(Ok(query)) => query,
        Ok(Err(PrecheckError::Refused(r))) => {
            tracing::info!(reason = %r.reason, message = %r.message, "query refused before fan-out");
            return Err(FederationError::Query(r));
        }
        Ok(Err(e)) => return Err(FederationError::Local(e.to_string())),
        Err(e) => return Err(FederationError::Local(format!("checking the query: {e}"))),
    };
    let q = query.doc().clone();
    let query_hash = query.hash();
    let region = engine
        .regions()
        .into_iter()
        .find(|r| r.doc().region == q.region)
        .ok_or_else(|| FederationError::NotMember(q.region.clone()))?;
    let members = region.doc().members.clone();
    if !members.iter().any(|m| &m.did == engine.did()) {
        return Err(FederationError::NotMember(q.region.clone()));
    }
    // Cannot fail: a JSON value always serialises.
    let bytes = serde_json::to_vec(&query_value).unwrap_or_default();
    let expect = Expected {
        hash: query_hash,
        id: q.id.clone(),
        region: q.region.clone(),
    };
    let mut pending: FuturesUnordered<Pending<'_>> = FuturesUnordered::new();
    for (i, m) in members.iter().enumerate() {
        let span = telemetry::member_span(&m.did, &m.name);
        if &m.did == engine.did() {
            let (engine, value, engine_did) = (engine.clone(), query_value.clone(), m.did.clone());
            let expect = expect.clone();
            pending.push(Box::pin(
                async move {
                    let span = tracing::Span::current();
                    let local = tokio::task::spawn_blocking(move || {
                        span.in_scope(|| engine.answer(value, None, now))
                    })
                    .await;
                    let failed = |message: String| {
                        Reply::Failed(TransportError::Failed {
                            reason: NODE_ERROR.to_owned(),
                            message,
                        })
                    };
                    traced(match local {
                        // Checked like any member's answer: the bytes it would have sent.
                        Ok(Ok(a)) => match serde_json::to_vec(a.signed.raw()) {
                            Ok(bytes) => (i, arrived(bytes, engine_did, expect)),
                            Err(e) => (i, failed(format!("encoding the signed answer: {e}"))),
                        },
                        Ok(Err(e)) => (i, failed(e.to_string())),
                        Err(e) => (i, failed(format!("the answering task failed: {e}"))),
                    })
                }
                .instrument(span),
            ));
        } else {
            let (did, bytes, expect) = (m.did.clone(), bytes.clone(), expect.clone());
            pending.push(Box::pin(
                async move {
                    traced(match transport.request(&did, bytes, deadline).await {
                        Ok(b) => (i, arrived(b, did, expect)),
                        Err(e) => (i, Reply::Failed(e)),
                    })
                }
                .instrument(span),
            ));
        }
    }
    let mut replies: Vec<Option<Reply>> = members.iter().map(|_| None).collect();
    let collect = async {
        while let Some((i, reply)) = pending.next().await {
            replies[i] = Some(reply);
        }
    };
    if tokio::time::timeout(deadline, collect).await.is_err() {
        // Members still silent are reported as timed out (and logged below).
        tracing::debug!(query = %q.id, "deadline passed before every member replied");
    }

    let mut provenance = Vec::with_capacity(members.len());
    let mut answers = Vec::new();
    // The coordinator's own plan, from its stored schema when it holds the dataset (else
    // from the first answer's): every member's partial result is checked against it.
    let mut merged = Merged {
        plan: own_plan(&engine, &q.sql),
        partial: None,
    };
    for (m, reply) in members.iter().zip(replies) {
        let mut line = Provenance {
            member: m.did.clone(),
            name: m.name.clone(),
            nis: m.nis.clone(),
            status: Status::TimedOut,
            policy_version: None,
            rows_scanned: 0,
            rows_excluded_by_consent: 0,
            groups_suppressed: 0,
            answer: None,
        };
        match reply {
            None | Some(Reply::Failed(TransportError::Timeout)) => {}
            Some(Reply::Failed(TransportError::Failed { reason, message })) => {
                line.status = Status::Refused { reason, message }
            }
            Some(Reply::Failed(e)) => {
                line.status = Status::Unreachable {
                    error: e.to_string(),
                }
            }
            Some(Reply::Arrived(checking)) => match checking
                .await
                .unwrap_or_else(|e| Err(format!("checking the answer: {e}")))
            {
                Err(error) => line.status = Status::Invalid { error },
                Ok(Checked { signed, partial }) => {
                    answers.push(signed.raw().clone());
                    let doc = signed.doc();
                    line.answer = Some(signed.hash());
                    line.policy_version = Some(doc.policy_version);
                    match &doc.outcome {
                        Outcome::Refused { reason, message } => {
                            line.status = Status::Refused {
                                reason: reason.clone(),
                                message: message.clone(),
                            }
                        }
                        Outcome::Answered {
                            rows_scanned,
                            rows_excluded_by_consent,
                            groups_suppressed,
                            ..
                        } => {
                            line.rows_scanned = *rows_scanned;
                            line.rows_excluded_by_consent = *rows_excluded_by_consent;
                            line.groups_suppressed = *groups_suppressed;
                            let absorbed = match partial {
                                Some(Ok(part)) => absorb(&mut merged, &q.sql, part),
                                Some(Err(error)) => Err(error),
                                None => Err("an answer without its partial result".to_owned()),
                            };
                            match absorbed {
                                Ok(()) => line.status = Status::Answered,
                                Err(error) => line.status = Status::Invalid { error },
                            }
                        }
                    }
                }
            },
        }
        log_member(&q, &line);
        provenance.push(line);
    }
    let answered = provenance
        .iter()
        .filter(|p| p.status == Status::Answered)
        .count();
    let (result, csv) = match merged {
        Merged {
            plan: Some(plan),
            partial: Some(partial),
        } => {
            let rs: ResultSet = regio_query::finalize(&plan, &partial)
                .map_err(|e| FederationError::Merge(e.to_string()))?;
            (Some(rs.to_json()), Some(rs.to_csv()))
        }
        _ => (None, None),
    };
    Ok(FederatedResult {
        query: q.id,
        query_hash,
        region: q.region,
        result,
        csv,
        coverage: (answered, members.len()),
        provenance,
        answers,
    })
}

/// Logs what happened at a member that did not answer: a failure (unreachable, invalid
/// answer, failed to answer, timed out) as a warning with its cause, a signed refusal (a
/// policy decision, not a fault) at debug level.
fn log_member(q: &qdoc::Query, line: &Provenance) {
    let (peer, member, query, region) = (&line.member, &line.name, &q.id, &q.region);
    match &line.status {
        Status::Answered => {}
        Status::Refused { reason, message } if line.answer.is_some() => {
            tracing::debug!(%peer, %member, %query, %region, %reason, %message, "member refused the query");
        }
        Status::Refused { reason, message } => {
            tracing::warn!(%peer, %member, %query, %region, %reason, error = %message, "member failed to answer the query");
        }
        Status::TimedOut => {
            tracing::warn!(%peer, %member, %query, %region, "member did not answer by the deadline");
        }
        Status::Unreachable { error } => {
            tracing::warn!(%peer, %member, %query, %region, %error, "member unreachable");
        }
        Status::Invalid { error } => {
            tracing::warn!(%peer, %member, %query, %region, %error, "member's answer is invalid");
        }
    }
}

/// What a member's answer must name: the query's hash, id and region.
#[derive(Debug, Clone)]
struct Expected {
    hash: DocHash,
    id: String,
    region: String,
}

fn check_answer(
    bytes: &[u8],
    member: &Did,
    expect: &Expected,
) -> Result<Signed<PartialAnswer>, String> {
    let signed = Signed::<PartialAnswer>::from_json(bytes).map_err(|e| e.to_string())?;
    qdoc::check_answer_signer(&signed).map_err(|e| e.to_string())?;
    let doc = signed.doc();
    if &doc.node != member {
        return Err(format!(
            "answer signed by {}, expected {}",
            doc.node, member
        ));
    }
    if doc.query_hash != expect.hash {
        return Err(format!(
            "answer is for query {}, not {}",
            doc.query_hash, expect.hash
        ));
    }
    // A signed answer names the query it answers by id and region too: an answer that names
    // another one is not this query's (an auditor holding it would be misled).
    if doc.query != expect.id {
        return Err(format!(
            "answer names query `{}`, the query is `{}`",
            doc.query, expect.id
        ));
    }
    if doc.region != expect.region {
        return Err(format!(
            "answer names region `{}`, the query's is `{}`",
            doc.region, expect.region
        ));
    }
    Ok(signed)
}

/// Starts checking an answer that arrived from `member` on the blocking pool.
fn arrived(bytes: Vec<u8>, member: Did, expect: Expected) -> Reply {
    Reply::Arrived(tokio::task::spawn_blocking(move || {
        check(&bytes, &member, &expect)
    }))
}

/// Verifies an answer ([`check_answer`]) and decodes its partial result.
fn check(bytes: &[u8], member: &Did, expect: &Expected) -> Result<Checked, String> {
    let signed = check_answer(bytes, member, expect)?;
    let partial = match &signed.doc().outcome {
        Outcome::Answered { result, .. } => Some(decode(result)),
        Outcome::Refused { .. } => None,
    };
    Ok(Checked { signed, partial })
}

/// The schema and partial result of an answer (read in place, not copied).
fn decode(result: &Value) -> Result<(Schema, PartialResult), String> {
    let schema =
        Schema::deserialize(&result["schema"]).map_err(|e| format!("result schema: {e}"))?;
    let partial = PartialResult::deserialize(&result["partial"])
        .map_err(|e| format!("partial result: {e}"))?;
    Ok((schema, partial))
}

/// The plan partial results are checked against and merged for, and their merge so far.
struct Merged {
    plan: Option<Plan>,
    partial: Option<PartialResult>,
}

/// The query planned with this node's own stored schema; `None` when this node does not
/// hold the dataset (or cannot plan the query: then every member refuses it too).
fn own_plan(engine: &Engine, sql: &str) -> Option<Plan> {
    regio_query::plan(sql, |d| engine.store().dataset(d).ok().map(|i| i.schema))
        .ok()
        .map(|(plan, _)| plan)
}

/// Checks a member's partial result against the coordinator's plan (planned from this
/// answer's schema when the coordinator holds no schema of its own) and merges it. On
/// error nothing is merged: the member is invalid and the others' totals stay exact.
fn absorb(
    merged: &mut Merged,
    sql: &str,
    (schema, partial): (Schema, PartialResult),
) -> Result<(), String> {
    let plan = match &merged.plan {
        Some(plan) => plan,
        None => {
            let (plan, _) =
                regio_query::plan(sql, |d| (d == schema.dataset).then(|| schema.clone())).map_err(
                    |e| format!("the query does not plan over the answer's schema: {e}"),
                )?;
            merged.plan.insert(plan)
        }
    };
    if schema.dataset != plan.schema.dataset {
        return Err(format!(
            "an answer about dataset `{}`, the query reads `{}`",
            schema.dataset, plan.schema.dataset
        ));
    }
    partial.check(plan).map_err(|e| e.to_string())?;
    match &mut merged.partial {
        None => merged.partial = Some(partial),
        Some(m) => m.merge(partial).map_err(|e| e.to_string())?,
    }
    Ok(())
}

/// Records the federated result (coverage, who is missing, what was filtered) on `span`.
fn record_coordinate(span: &tracing::Span, result: &Result<FederatedResult, FederationError>) {
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            span.record("query.decision", "failed");
            span.record("query.reason", e.to_string().as_str());
            span.record("otel.status_code", "ERROR");
            return;
        }
    };
    let (answered, members) = r.coverage;
    span.record("query.members", members as u64);
    span.record("query.answered", answered as u64);
    span.record(
        "query.decision",
        if answered > 0 {
            "answered"
        } else {
            "unanswered"
        },
    );
    let mut reasons = r.provenance.iter().filter_map(|p| match &p.status {
        Status::Refused { reason, .. } => Some(reason.as_str()),
        _ => None,
    });
    if let Some(first) = reasons.next() {
        span.record("query.reason", first);
    }
    let missing: Vec<&str> = r
        .provenance
        .iter()
        .filter(|p| {
            matches!(
                p.status,
                Status::TimedOut | Status::Unreachable { .. } | Status::Invalid { .. }
            ) || (matches!(p.status, Status::Refused { .. }) && p.answer.is_none())
        })
        .map(|p| p.name.as_str())
        .collect();
    span.record("query.missing", missing.join(",").as_str());
    span.record(
        "query.rows_scanned",
        r.provenance.iter().map(|p| p.rows_scanned).sum::<u64>(),
    );
    span.record(
        "query.rows_excluded_by_consent",
        r.provenance
            .iter()
            .map(|p| p.rows_excluded_by_consent)
            .sum::<u64>(),
    );
    span.record(
        "query.groups_suppressed",
        r.provenance
            .iter()
            .map(|p| p.groups_suppressed)
            .sum::<u64>(),
    );
}
