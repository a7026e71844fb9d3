//! Signed documents: this node's policy chain (publish, show, history), and the documents a
//! node stores for its regions — ethics certificates, revocations, charters, region
//! manifests, single consent records — with lookups of certificates and revocations by hash.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{encode, Endpoint, Method, Route};

/// `GET /v1/policy` (anyone): the current signed PolicyBundle.
pub const POLICY_SHOW: Route = Route::new(Method::Get, "/v1/policy", false);
/// `POST /v1/policy` (admin): publish the next signed PolicyBundle.
pub const POLICY_PUBLISH: Route = Route::new(Method::Post, "/v1/policy", true);
/// `GET /v1/policy/history` (anyone): every stored bundle, oldest first.
pub const POLICY_HISTORY: Route = Route::new(Method::Get, "/v1/policy/history", false);
/// `POST /v1/certificates` (admin).
pub const CERTIFICATE_POST: Route = Route::new(Method::Post, "/v1/certificates", true);
/// `GET /v1/certificates/{hash}` (anyone).
pub const CERTIFICATE_GET: Route = Route::new(Method::Get, "/v1/certificates/{hash}", false);
/// `POST /v1/revocations` (admin).
pub const REVOCATION_POST: Route = Route::new(Method::Post, "/v1/revocations", true);
/// `GET /v1/revocations/{hash}` (anyone).
pub const REVOCATION_GET: Route = Route::new(Method::Get, "/v1/revocations/{hash}", false);
/// `POST /v1/charters` (admin).
pub const CHARTER_POST: Route = Route::new(Method::Post, "/v1/charters", true);
/// `POST /v1/regions` (admin): a region manifest version.
pub const MANIFEST_POST: Route = Route::new(Method::Post, "/v1/regions", true);
/// `POST /v1/consent` (admin): one signed ConsentRecord.
pub const CONSENT_POST: Route = Route::new(Method::Post, "/v1/consent", true);

/// A signed Regio document: a JSON object with a W3C Data Integrity `proof`
/// (cryptosuite `eddsa-jcs-2022`), of the type the route names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SignedDocument(pub serde_json::Map<String, serde_json::Value>);

/// What a stored document's `POST` answers (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stored {
    /// What was stored: `certificate`, `revocation`, `charter`, `manifest` or `consent`.
    pub stored: String,
    /// The document's hash, `sha256:<64 hex digits>`.
    pub hash: String,
}

/// What `POST /v1/policy` answers (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Published {
    /// The bundle's version.
    pub version: u64,
    /// The bundle's hash, `sha256:<64 hex digits>`.
    pub hash: String,
}

/// A stored document found by its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredDocument {
    /// Its hash, `sha256:<64 hex digits>`.
    pub hash: String,
    /// When this node stored it, microseconds since the Unix epoch.
    pub stored_at: i64,
    /// The signed document.
    #[schema(value_type = SignedDocument)]
    pub document: serde_json::Value,
}

/// The request `GET /v1/policy`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShowPolicy;

impl Endpoint for ShowPolicy {
    const ROUTE: Route = POLICY_SHOW;
    type Reply = serde_json::Value;
}

/// The request `GET /v1/policy/history`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyHistory;

impl Endpoint for PolicyHistory {
    const ROUTE: Route = POLICY_HISTORY;
    type Reply = Vec<serde_json::Value>;
}

/// The request `POST /v1/policy` (the body is the signed bundle).
#[derive(Debug, Clone, Copy, Default)]
pub struct PublishPolicy;

impl Endpoint for PublishPolicy {
    const ROUTE: Route = POLICY_PUBLISH;
    type Reply = Published;
}

macro_rules! submit {
    ($name:ident, $route:ident, $what:literal) => {
        #[doc = concat!("The request `POST` of a signed ", $what, " (the body is the document).")]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl Endpoint for $name {
            const ROUTE: Route = $route;
            type Reply = Stored;
        }
    };
}

submit!(SubmitCertificate, CERTIFICATE_POST, "EthicsCertificate");
submit!(SubmitRevocation, REVOCATION_POST, "Revocation");
submit!(SubmitCharter, CHARTER_POST, "InclusionCharter");
submit!(SubmitManifest, MANIFEST_POST, "RegionManifest");
submit!(SubmitConsent, CONSENT_POST, "ConsentRecord");

/// The request `GET /v1/certificates/{hash}`.
#[derive(Debug, Clone, PartialEq)]
pub struct GetCertificate {
    /// `sha256:<64 hex digits>`.
    pub hash: String,
}

impl Endpoint for GetCertificate {
    const ROUTE: Route = CERTIFICATE_GET;
    type Reply = StoredDocument;
    fn target(&self) -> String {
        format!("/v1/certificates/{}", encode(&self.hash))
    }
}

/// The request `GET /v1/revocations/{hash}`.
#[derive(Debug, Clone, PartialEq)]
pub struct GetRevocation {
    /// `sha256:<64 hex digits>`.
    pub hash: String,
}

impl Endpoint for GetRevocation {
    const ROUTE: Route = REVOCATION_GET;
    type Reply = StoredDocument;
    fn target(&self) -> String {
        format!("/v1/revocations/{}", encode(&self.hash))
    }
}
