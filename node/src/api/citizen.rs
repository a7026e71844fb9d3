//! Citizen desk routes (owner: audit): what happened to one subject's data. Both need the
//! admin token — the desk clerk serves the citizen — and answer about that subject only.
//!
//! - `GET /v1/consent/history?subject=ID`: every answered query that counted a row of the
//!   subject (time, application, purpose, region, dataset, answer hash; never anything
//!   about other subjects), and every consent change of the subject.
//! - `GET /v1/consent/receipt?subject=ID`: the subject's current consent as a Kantara
//!   Consent Receipt v1.1 JSON.
//!
//! Requests and replies: `regio_http::citizen`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use regio_http::citizen::{
    ConsentReceipt, ConsentView, HistoryReply, PiiController, ReceiptAddress, ReceiptPurpose,
    ReceiptService, SubjectParams, SubjectQuery,
};
use regio_http::error::{AdminErrors, ServerErrors};
use regio_http::ErrorBody;
use sha2::{Digest, Sha256};

use super::auth::Admin;
use super::{blocking, now_micros, ApiError, AppState, Reply};
use regio_store::consent;

fn subject(params: Result<Query<SubjectParams>, QueryRejection>) -> Result<String, ApiError> {
    let Query(p) = params.map_err(ApiError::bad_query)?;
    if p.subject.trim().is_empty() {
        return Err(ApiError::bad_query("`subject` must not be empty"));
    }
    Ok(p.subject)
}

fn time(micros: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_micros(micros).map(|t| regio_policy::time::format(&t))
}

fn consent_view(e: &consent::Entry) -> ConsentView {
    let status = if !e.given {
        "refused"
    } else if e.withdrawn_at.is_some() {
        "withdrawn"
    } else {
        "given"
    };
    ConsentView {
        id: e.id.clone(),
        status: status.into(),
        datasets: scope(e),
        purposes: e.purposes.clone(),
        given_at: time(e.given_at),
        withdrawn_at: e.withdrawn_at.and_then(time),
        channel: e.channel.clone(),
        record: e
            .raw
            .as_deref()
            .and_then(|r| match serde_json::from_slice(r) {
                Ok(v) => Some(v),
                Err(err) => {
                    tracing::warn!(consent = %e.id, error = %err, "stored consent record is not JSON; answered without it");
                    None
                }
            }),
    }
}

/// The datasets a consent entry covers (`*`: all).
fn scope(e: &consent::Entry) -> Vec<String> {
    if e.datasets.is_empty() {
        vec!["*".to_string()]
    } else {
        e.datasets.clone()
    }
}

/// A text field of an audit entry's body.
fn field(body: &serde_json::Value, key: &str) -> Option<String> {
    body.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

/// `GET /v1/consent/history?subject=ID` (admin/desk).
#[utoipa::path(get, path = "/v1/consent/history", tag = "citizen",
    summary = "Which answered queries counted a subject's rows, and the subject's consent changes",
    security(("admin_token" = [])),
    params(SubjectParams),
    responses(
        (status = 200, description = "The subject's history at this node", body = HistoryReply),
        (status = 400, description = "`request.bad_query` (no or empty `subject`)", body = ErrorBody),
        AdminErrors, ServerErrors))]
pub async fn history(
    State(s): State<AppState>,
    _: Admin,
    params: Result<Query<SubjectParams>, QueryRejection>,
) -> Result<Reply<HistoryReply>, ApiError> {
    let subject = subject(params)?;
    let store = s.store.clone();
    let who = subject.clone();
    let (queries, consents) =
        blocking(move || Ok((store.subject_queries(&who)?, store.consent_history(&who)?))).await?;
    let queries = queries
        .iter()
        .map(|e| {
            let b = &e.body;
            SubjectQuery {
                seq: e.seq,
                at: time(e.at),
                query: field(b, "query"),
                application: field(b, "requester"),
                purpose: field(b, "purpose"),
                region: field(b, "region"),
                dataset: field(b, "dataset"),
                answer: field(b, "answer"),
            }
        })
        .collect();
    Ok(Reply(HistoryReply {
        subject,
        node: s.key.did().as_str().to_string(),
        queries,
        consent: consents.iter().map(consent_view).collect(),
    }))
}

/// `GET /v1/consent/receipt?subject=ID` (admin/desk): Kantara Consent Receipt v1.1 of the
/// subject's consent current now (one service per dataset scope, one purpose per purpose).
#[utoipa::path(get, path = "/v1/consent/receipt", tag = "citizen",
    summary = "The subject's current consent as a Kantara Consent Receipt v1.1",
    security(("admin_token" = [])),
    params(SubjectParams),
    responses(
        (status = 200, description = "The receipt", body = ConsentReceipt),
        (status = 400, description = "`request.bad_query` (no or empty `subject`)", body = ErrorBody),
        AdminErrors, ServerErrors))]
pub async fn receipt(
    State(s): State<AppState>,
    _: Admin,
    params: Result<Query<SubjectParams>, QueryRejection>,
) -> Result<Reply<ConsentReceipt>, ApiError> {
    let subject = subject(params)?;
    let store = s.store.clone();
    let who = subject.clone();
    let history = blocking(move || Ok(store.consent_history(&who)?)).await?;
    // The current entry of each consent id (later writes of an id replace earlier ones).
    let mut current: Vec<consent::Entry> = Vec::new();
    for e in history {
        match current.iter_mut().find(|c| c.id == e.id) {
            Some(c) if e.supersedes(c) => *c = e,
            Some(_) => {}
            None => current.push(e),
        }
    }
    let now = now_micros();
    let active: Vec<&consent::Entry> = current.iter().filter(|e| e.active_at(now)).collect();
    let mut services = Vec::new();
    for e in &active {
        let service = if e.datasets.is_empty() {
            format!("all datasets of {}", s.config.name)
        } else {
            e.datasets.join(", ")
        };
        let purposes = e
            .purposes
            .iter()
            .map(|p| ReceiptPurpose {
                purpose: p.clone(),
                purpose_category: vec![p.clone()],
                consent_type: "EXPLICIT".into(),
                pii_category: scope(e),
                primary_purpose: true,
                termination: "until withdrawn: withdrawal takes effect for every query that starts after it is stored".into(),
                third_party_disclosure: false,
            })
            .collect();
        services.push(ReceiptService { service, purposes });
    }
    let latest = active.iter().map(|e| e.given_at).max().unwrap_or(now);
    let mut h = Sha256::new();
    h.update(s.key.did().as_str().as_bytes());
    h.update([0]);
    h.update(subject.as_bytes());
    for e in &active {
        h.update([0]);
        h.update(e.id.as_bytes());
        h.update(e.given_at.to_be_bytes());
    }
    let d = hex::encode(h.finalize());
    let id = format!(
        "{}-{}-{}-{}-{}",
        &d[0..8],
        &d[8..12],
        &d[12..16],
        &d[16..20],
        &d[20..32]
    );
    Ok(Reply(ConsentReceipt {
        version: "KI-CR-v1.1.0".into(),
        jurisdiction: "BE".into(),
        consent_timestamp: latest / 1_000_000,
        collection_method: active
            .iter()
            .map(|e| e.channel.clone())
            .next()
            .unwrap_or_else(|| "none".into()),
        consent_receipt_id: id,
        public_key: s.key.did().as_str().to_string(),
        language: "nl".into(),
        pii_principal_id: subject,
        pii_controllers: vec![PiiController {
            pii_controller: s.config.name.clone(),
            on_behalf: false,
            contact: format!(
                "data protection officer, municipality {} (NIS {})",
                s.config.name, s.config.nis
            ),
            address: ReceiptAddress {
                address_country: "BE".into(),
            },
            email: String::new(),
            phone: String::new(),
            pii_controller_url: format!("http://{}/health", s.config.api),
        }],
        policy_url: format!("http://{}/v1/policy", s.config.api),
        services,
        sensitive: false,
        spi_cat: Vec::new(),
    }))
}
