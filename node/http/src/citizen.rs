//! The citizen desk (admin: a clerk serves the citizen): which answered queries counted a
//! subject's rows and how their consent changed, and their current consent as a Kantara
//! Consent Receipt v1.1.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{encode, Endpoint, Method, Route};

/// `GET /v1/consent/history?subject=ID` (admin).
pub const HISTORY: Route = Route::new(Method::Get, "/v1/consent/history", true);
/// `GET /v1/consent/receipt?subject=ID` (admin).
pub const RECEIPT: Route = Route::new(Method::Get, "/v1/consent/receipt", true);

/// Query parameters: the subject (pseudonym, as in the datasets' subject field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubjectParams {
    /// The subject (not empty).
    #[param(min_length = 1, pattern = r"\S")]
    pub subject: String,
}

/// The request `GET /v1/consent/history?subject=ID`.
#[derive(Debug, Clone, PartialEq)]
pub struct History(pub SubjectParams);

impl Endpoint for History {
    const ROUTE: Route = HISTORY;
    type Reply = HistoryReply;
    fn target(&self) -> String {
        format!("{}?subject={}", HISTORY.path, encode(&self.0.subject))
    }
}

/// The request `GET /v1/consent/receipt?subject=ID`.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt(pub SubjectParams);

impl Endpoint for Receipt {
    const ROUTE: Route = RECEIPT;
    type Reply = ConsentReceipt;
    fn target(&self) -> String {
        format!("{}?subject={}", RECEIPT.path, encode(&self.0.subject))
    }
}

/// What happened to one subject's data at this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryReply {
    /// The subject.
    pub subject: String,
    /// This node's DID.
    pub node: String,
    /// Every answered query that counted a row of the subject, oldest first.
    pub queries: Vec<SubjectQuery>,
    /// Every consent change of the subject, oldest first.
    pub consent: Vec<ConsentView>,
}

/// One answered query that counted a row of the subject (never anything about other
/// subjects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SubjectQuery {
    /// Sequence number of its audit entry.
    pub seq: u64,
    /// When it was answered (RFC 3339, UTC).
    pub at: Option<String>,
    /// The query id.
    pub query: Option<String>,
    /// The application (DID) that asked.
    pub application: Option<String>,
    /// Its purpose.
    pub purpose: Option<String>,
    /// The region it was asked in.
    pub region: Option<String>,
    /// The dataset.
    pub dataset: Option<String>,
    /// Hash of the signed answer.
    pub answer: Option<String>,
}

/// One consent entry of the subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentView {
    /// The consent id.
    pub id: String,
    /// `given`, `withdrawn` or `refused`.
    pub status: String,
    /// The datasets it covers (`*`: all).
    pub datasets: Vec<String>,
    /// DPV purposes.
    pub purposes: Vec<String>,
    /// When it was given (RFC 3339).
    pub given_at: Option<String>,
    /// When it was withdrawn (RFC 3339), `null` if it was not.
    pub withdrawn_at: Option<String>,
    /// The channel (app, kiosk, desk, paper, phone, import …).
    pub channel: String,
    /// The signed ConsentRecord, when it came as one.
    pub record: Option<serde_json::Value>,
}

/// A Kantara Consent Receipt v1.1 of the subject's current consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentReceipt {
    /// `KI-CR-v1.1.0`.
    pub version: String,
    /// `BE`.
    pub jurisdiction: String,
    /// Seconds since the epoch of the latest consent (now if none).
    pub consent_timestamp: i64,
    /// The channel of the first active consent (`none` without one).
    pub collection_method: String,
    /// A UUID-shaped id derived from the node, the subject and the active consents.
    #[serde(rename = "consentReceiptID")]
    pub consent_receipt_id: String,
    /// The node's DID.
    pub public_key: String,
    /// `nl`.
    pub language: String,
    /// The subject.
    pub pii_principal_id: String,
    /// The municipality.
    pub pii_controllers: Vec<PiiController>,
    /// Where the node's policy is served.
    pub policy_url: String,
    /// One service per dataset scope of an active consent.
    pub services: Vec<ReceiptService>,
    /// Always false.
    pub sensitive: bool,
    /// Always empty.
    pub spi_cat: Vec<String>,
}

/// The controller of a receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PiiController {
    /// The municipality's name.
    pub pii_controller: String,
    /// Always false.
    pub on_behalf: bool,
    /// Who to contact.
    pub contact: String,
    /// The address.
    pub address: ReceiptAddress,
    /// Email (empty).
    pub email: String,
    /// Phone (empty).
    pub phone: String,
    /// The node's health URL.
    pub pii_controller_url: String,
}

/// An address of a receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptAddress {
    /// `BE`.
    pub address_country: String,
}

/// A service of a receipt: one dataset scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptService {
    /// The datasets, comma separated, or `all datasets of <municipality>`.
    pub service: String,
    /// One per consented purpose.
    pub purposes: Vec<ReceiptPurpose>,
}

/// A purpose of a receipt's service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptPurpose {
    /// The DPV purpose.
    pub purpose: String,
    /// The same, as a list.
    pub purpose_category: Vec<String>,
    /// `EXPLICIT`.
    pub consent_type: String,
    /// The datasets (`*`: all).
    pub pii_category: Vec<String>,
    /// Always true.
    pub primary_purpose: bool,
    /// When it ends.
    pub termination: String,
    /// Always false.
    pub third_party_disclosure: bool,
}
