//! `POST /v1/query` (owner: federation): a signed query, coordinated across the members of
//! its region — this node included — and answered with the merged result and its provenance.
//!
//! ```text
//! 200 | 403  {"query", "queryHash", "region", "result": {"columns","rows"} | null, "csv": str | null,
//!             "coverage": [answered, members], "provenance": [...], "answers": [signed PartialAnswer…],
//!             "error"?: {"code","message"}}
//! ```
//!
//! 200 when at least one member answered; 403 with `error` when none did (the code is the
//! members' common refusal reason when every refusal agrees, else `query.no_answer`). A query
//! that does not verify, or whose region this node is not in, is `403` with only the
//! `error` (`signature.invalid`, `region.unknown`). A body over `http.query_max_body_bytes`
//! is `413 request.too_large`; a field over its length limit (`regio_policy::doc::query::FIELD_LIMITS`)
//! is `400 query.too_long` naming it; neither is fanned out or audited. The deadline is the config's
//! `query_deadline_ms`, or `?deadline_ms=N` (1..=60000).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use regio_http::error::{BodyErrors, ServerErrors};
use regio_http::query::{QueryReply, ResultTable};
use regio_http::{ErrorBody, ErrorDetail};
use serde_json::Value;

use super::limits::QueryBody;
use super::{ApiError, AppState, Reply};
use crate::federation::p2p::NetTransport;
use crate::federation::{
    coordinate, FederatedResult, FederationError, Status, Transport, TransportError,
};
use regio_policy::decision::Reason;
use regio_policy::doc::query::check_limits;
use regio_policy::Did;

pub use regio_http::query::{QueryParams, MAX_DEADLINE_MS};

/// The transport of a node without a network: every other member is unreachable.
struct Offline;

impl Transport for Offline {
    fn request(
        &self,
        _member: &Did,
        _query: Vec<u8>,
        _deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, TransportError>> + Send + '_>> {
        Box::pin(async {
            Err(TransportError::Unreachable(
                "this node runs without a network".into(),
            ))
        })
    }
}

/// `POST /v1/query`: see the module documentation.
#[utoipa::path(post, path = "/v1/query", tag = "query",
    summary = "Ask a signed federated query",
    description = "The node coordinates the query across every member of its region, itself included, and answers by the deadline with the merged result, coverage and one provenance line per member.",
    params(QueryParams),
    request_body(content = regio_http::documents::SignedDocument, content_type = "application/json", description = "The signed Query"),
    responses(
        (status = 200, description = "At least one member answered", body = QueryReply),
        (status = 403, description = "No member answered (the reply with `error`: the members' common reason code, else `query.no_answer`); or the query does not verify or names a region this node is not in (only the error body: `signature.invalid`, `region.unknown`, …)", body = regio_http::query::QueryRefusal),
        (status = 400, description = "`request.bad_query`, `request.bad_json`, or `query.too_long` (a field of the Query, or the whole document, over its length limit; `details.field` names it)", body = ErrorBody),
        BodyErrors, ServerErrors))]
pub async fn query(
    State(s): State<AppState>,
    params: Result<Query<QueryParams>, QueryRejection>,
    QueryBody(body): QueryBody,
) -> Result<(StatusCode, Reply<QueryReply>), ApiError> {
    let Query(p) = params.map_err(ApiError::bad_query)?;
    let ms = p.deadline_ms.unwrap_or(s.config.query_deadline_ms);
    if ms == 0 || ms > MAX_DEADLINE_MS {
        return Err(ApiError::bad_query(format!(
            "deadline_ms must be 1..={MAX_DEADLINE_MS}, not {ms}"
        )));
    }
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_json("signed Query", &e))?;
    // Length limits before anything else: an oversized field is refused here, never fanned
    // out, and nothing is written.
    check_limits(&value).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "query.too_long",
            format!("the signed Query's `{}` is too long: {}", e.field, e.reason),
        )
        .with_details(serde_json::json!({ "field": e.field }))
    })?;
    let deadline = Duration::from_millis(ms);
    let now = chrono::Utc::now();
    let result = match &s.net {
        Some(net) => {
            coordinate(
                s.engine.clone(),
                &NetTransport(net.clone()),
                value,
                deadline,
                now,
            )
            .await
        }
        None => coordinate(s.engine.clone(), &Offline, value, deadline, now).await,
    };
    let r = match result {
        Ok(r) => r,
        Err(FederationError::Query(refusal)) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                refusal.reason.code(),
                refusal.message,
            ))
        }
        Err(FederationError::NotMember(region)) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                Reason::RegionUnknown.code(),
                format!("this node is not a member of region `{region}`"),
            ))
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    Ok(response(&r))
}

/// The response of a federated result: 200, or 403 with `error` when no member answered.
pub fn response(r: &FederatedResult) -> (StatusCode, Reply<QueryReply>) {
    let mut body = QueryReply {
        query: r.query.clone(),
        query_hash: r.query_hash,
        region: r.region.clone(),
        result: r.result.as_ref().and_then(|v| {
            serde_json::from_value::<ResultTable>(v.clone())
                .inspect_err(|e| tracing::error!(query = %r.query, error = %e, "the merged result is not a result table; answered without it"))
                .ok()
        }),
        csv: r.csv.clone(),
        coverage: (r.coverage.0 as u64, r.coverage.1 as u64),
        provenance: r.provenance.clone(),
        answers: r.answers.clone(),
        error: None,
    };
    if r.coverage.0 > 0 {
        return (StatusCode::OK, Reply(body));
    }
    // (reason, message) of every refusal.
    let refusals: Vec<(&str, &str)> = r
        .provenance
        .iter()
        .filter_map(|p| match &p.status {
            Status::Refused { reason, message } => Some((reason.as_str(), message.as_str())),
            _ => None,
        })
        .collect();
    let common = refusals
        .first()
        .map(|(reason, _)| *reason)
        .filter(|first| refusals.iter().all(|(r, _)| r == first));
    let summary: Vec<String> = r
        .provenance
        .iter()
        .map(|p| {
            let what = match &p.status {
                Status::Answered => "answered".to_string(),
                Status::Refused { reason, message } => format!("refused ({reason}: {message})"),
                Status::TimedOut => "timed out".to_string(),
                Status::Unreachable { .. } => "unreachable".to_string(),
                Status::Invalid { .. } => "invalid answer".to_string(),
            };
            format!("{}: {what}", p.name)
        })
        .collect();
    // Every member refused for the same reason with the same words: say it once.
    let unanimous = refusals.len() == r.provenance.len()
        && common.is_some()
        && refusals.windows(2).all(|w| w[0].1 == w[1].1);
    let message = match (unanimous, refusals.first()) {
        (true, Some((_, m))) => format!("{m} (refused by every member of region `{}`)", r.region),
        _ => format!(
            "no member of region `{}` answered: {}",
            r.region,
            summary.join("; ")
        ),
    };
    body.error = Some(ErrorDetail {
        code: common.unwrap_or("query.no_answer").to_string(),
        message,
        details: None,
    });
    (StatusCode::FORBIDDEN, Reply(body))
}
