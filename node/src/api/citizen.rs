//! Citizen desk routes (owner: audit): what happened to one subject's data. Both need the
//! admin token — the desk clerk serves the citizen — and answer about that subject only.
//!
//! - `GET /v1/consent/history?subject=ID`: every answered query that counted a row of the
//!   subject (time, application, purpose, region, dataset, answer hash; never anything
//!   about other subjects), and every consent change of the subject.
//! - `GET /v1/consent/receipt?subject=ID`: the subject's current consent as a Kantara
//!   Consent Receipt v1.1 JSON.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::auth::Admin;
use super::{blocking, now_micros, ApiError, AppState};
use regio_store::consent;

/// The routes, merged into [`super::router`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/consent/history", get(history))
        .route("/v1/consent/receipt", get(receipt))
}

/// Query parameters: the subject (pseudonym, as in the datasets' subject field).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectParams {
    /// The subject.
    pub subject: String,
}

fn subject(params: Result<Query<SubjectParams>, QueryRejection>) -> Result<String, ApiError> {
    let Query(p) = params.map_err(ApiError::bad_query)?;
    if p.subject.trim().is_empty() {
        return Err(ApiError::bad_query("`subject` must not be empty"));
    }
    Ok(p.subject)
}

fn time(micros: i64) -> Value {
    chrono::DateTime::from_timestamp_micros(micros)
        .map_or(Value::Null, |t| json!(regio_policy::time::format(&t)))
}

fn consent_json(e: &consent::Entry) -> Value {
    json!({
        "id": e.id,
        "status": if !e.given { "refused" } else if e.withdrawn_at.is_some() { "withdrawn" } else { "given" },
        "datasets": if e.datasets.is_empty() { vec!["*".to_string()] } else { e.datasets.clone() },
        "purposes": e.purposes,
        "givenAt": time(e.given_at),
        "withdrawnAt": e.withdrawn_at.map_or(Value::Null, time),
        "channel": e.channel,
        "record": e.raw.as_deref().and_then(|r| match serde_json::from_slice::<Value>(r) {
            Ok(v) => Some(v),
            Err(err) => {
                tracing::warn!(consent = %e.id, error = %err, "stored consent record is not JSON; answered without it");
                None
            }
        }),
    })
}

/// `GET /v1/consent/history?subject=ID` (admin/desk).
pub async fn history(
    State(s): State<AppState>,
    _: Admin,
    params: Result<Query<SubjectParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let subject = subject(params)?;
    let store = s.store.clone();
    let who = subject.clone();
    let (queries, consents) =
        blocking(move || Ok((store.subject_queries(&who)?, store.consent_history(&who)?))).await?;
    let queries: Vec<Value> = queries
        .iter()
        .map(|e| {
            let b = &e.body;
            json!({
                "seq": e.seq, "at": time(e.at), "query": b["query"], "application": b["requester"], "purpose": b["purpose"],
                "region": b["region"], "dataset": b["dataset"], "answer": b["answer"],
            })
        })
        .collect();
    let consent: Vec<Value> = consents.iter().map(consent_json).collect();
    Ok(Json(
        json!({ "subject": subject, "node": s.key.did(), "queries": queries, "consent": consent }),
    ))
}

/// `GET /v1/consent/receipt?subject=ID` (admin/desk): Kantara Consent Receipt v1.1 of the
/// subject's consent current now (one service per dataset scope, one purpose per purpose).
pub async fn receipt(
    State(s): State<AppState>,
    _: Admin,
    params: Result<Query<SubjectParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
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
    let mut services: Vec<Value> = Vec::new();
    for e in &active {
        let service = if e.datasets.is_empty() {
            format!("all datasets of {}", s.config.name)
        } else {
            e.datasets.join(", ")
        };
        let purposes: Vec<Value> = e
            .purposes
            .iter()
            .map(|p| {
                json!({
                    "purpose": p,
                    "purposeCategory": [p],
                    "consentType": "EXPLICIT",
                    "piiCategory": if e.datasets.is_empty() { vec!["*".to_string()] } else { e.datasets.clone() },
                    "primaryPurpose": true,
                    "termination": "until withdrawn: withdrawal takes effect for every query that starts after it is stored",
                    "thirdPartyDisclosure": false,
                })
            })
            .collect();
        services.push(json!({ "service": service, "purposes": purposes }));
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
    Ok(Json(json!({
        "version": "KI-CR-v1.1.0",
        "jurisdiction": "BE",
        "consentTimestamp": latest / 1_000_000,
        "collectionMethod": active.iter().map(|e| e.channel.as_str()).next().unwrap_or("none"),
        "consentReceiptID": id,
        "publicKey": s.key.did(),
        "language": "nl",
        "piiPrincipalId": subject,
        "piiControllers": [{
            "piiController": s.config.name,
            "onBehalf": false,
            "contact": format!("data protection officer, municipality {} (NIS {})", s.config.name, s.config.nis),
            "address": { "addressCountry": "BE" },
            "email": "",
            "phone": "",
            "piiControllerUrl": format!("http://{}/health", s.config.api),
        }],
        "policyUrl": format!("http://{}/v1/policy", s.config.api),
        "services": services,
        "sensitive": false,
        "spiCat": [],
    })))
}
