//! Datasets and bulk loading: list and create datasets, ingest a file of records
//! (NDJSON, CSV or NGSI-LD) into one, import a consent file.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{encode, Endpoint, Method, Route};

/// `GET /v1/datasets` (anyone).
pub const LIST: Route = Route::new(Method::Get, "/v1/datasets", false);
/// `POST /v1/datasets` (admin): body is a dataset schema.
pub const CREATE: Route = Route::new(Method::Post, "/v1/datasets", true);
/// `POST /v1/datasets/{name}/records` (admin): body is the file.
pub const INGEST: Route = Route::new(Method::Post, "/v1/datasets/{name}/records", true);
/// `POST /v1/consent/import` (admin): body is the consent file.
pub const CONSENT_IMPORT: Route = Route::new(Method::Post, "/v1/consent/import", true);

/// The request `GET /v1/datasets`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListDatasets;

impl Endpoint for ListDatasets {
    const ROUTE: Route = LIST;
    type Reply = Vec<DatasetInfo>;
}

/// The request `POST /v1/datasets` (the body is the schema's JSON).
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateDataset;

impl Endpoint for CreateDataset {
    const ROUTE: Route = CREATE;
    type Reply = DatasetInfo;
}

/// A dataset as listed (and as created: with zero records).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DatasetInfo {
    /// Its schema.
    pub schema: DatasetSchema,
    /// Records stored; for a personal dataset asked without the admin token, rounded down
    /// to a multiple of 1,000 (`countsWithheld`).
    pub records: u64,
    /// Chunks they are stored in; 0 for a personal dataset asked without the admin token.
    pub chunks: u64,
    /// The dataset holds personal rows and the request carried no admin token: `records` is
    /// rounded down to a multiple of 1,000 and `chunks` withheld, as a signed answer's
    /// counters are (exact counts would tell one citizen's rows by differencing).
    #[serde(
        rename = "countsWithheld",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub counts_withheld: bool,
}

/// The JSON form of a dataset schema. The node parses and validates a schema it is sent as
/// its own `regio_query::schema::Schema` (names, types, that `subject` and `time` name
/// fields), which has this very JSON form; replies carry this type ([`DatasetInfo::schema`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetSchema {
    /// Dataset name (`[a-z_][a-z0-9_]*`, at most 63 characters).
    #[schema(pattern = "^[a-z_][a-z0-9_]{0,62}$")]
    pub dataset: String,
    /// Fields, in column order.
    pub fields: Vec<SchemaField>,
    /// The field that names the data subject (pseudonym); `null`: no personal rows.
    #[serde(default)]
    pub subject: Option<String>,
    /// The timestamp field records are ordered and pruned by.
    #[serde(default)]
    pub time: Option<String>,
}

/// One field of a dataset schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaField {
    /// Column name (`[a-z_][a-z0-9_]*`).
    #[schema(pattern = "^[a-z_][a-z0-9_]{0,62}$")]
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Whether it may be absent or null (default false).
    #[serde(default)]
    #[schema(default = false)]
    pub nullable: bool,
    /// Numeric fields: `[lo, hi]`, the clamping bounds of personal values under
    /// differential privacy and the range of its percentile bins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<[f64; 2]>,
    /// Numeric fields with bounds: percentile bins (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1000)]
    pub bins: Option<u32>,
    /// String fields: the public domain of values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
}

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// UTF-8 text.
    String,
    /// 64-bit signed integer.
    Integer,
    /// 64-bit float.
    Float,
    /// Instant, RFC 3339.
    Timestamp,
    /// WGS84 point, `{"lat", "lon"}` or a GeoJSON `Point`.
    GeoPoint,
}

/// The body of an ingest or a consent import: the file's bytes, in the format the query
/// string names (NDJSON, CSV or NGSI-LD text). Documentation only: the node reads the raw
/// body.
#[derive(Debug, Clone, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FileBody(pub Vec<u8>);

/// Input formats of records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Format {
    /// One JSON object per line.
    #[default]
    #[serde(rename = "ndjson")]
    Ndjson,
    /// CSV with a header line.
    #[serde(rename = "csv")]
    Csv,
    /// NGSI-LD entities (array, single entity, or NDJSON).
    #[serde(rename = "ngsi-ld")]
    NgsiLd,
}

impl Format {
    /// The name in the query string.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::NgsiLd => "ngsi-ld",
        }
    }
}

/// Query parameters of an ingest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IngestParams {
    /// Body format (default `ndjson`).
    #[serde(default)]
    #[param(inline)]
    pub format: Format,
    /// Store the valid lines and report the rejected ones (default false: all-or-nothing).
    #[serde(default)]
    pub skip_invalid: bool,
}

/// The request `POST /v1/datasets/{name}/records?format=…&skip_invalid=…`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingest {
    /// The dataset.
    pub dataset: String,
    /// Format and mode.
    pub params: IngestParams,
}

impl Endpoint for Ingest {
    const ROUTE: Route = INGEST;
    type Reply = IngestReply;
    fn target(&self) -> String {
        format!(
            "/v1/datasets/{}/records?format={}&skip_invalid={}",
            encode(&self.dataset),
            self.params.format.as_str(),
            self.params.skip_invalid
        )
    }
}

/// What an ingest did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IngestReply {
    /// The dataset.
    pub dataset: String,
    /// Records stored (durably) by this request.
    pub stored: u64,
    /// Every rejected line (only with `skip_invalid`).
    pub rejected: Vec<RejectedLine>,
}

/// A line of an input file that was not stored, and why. Also the `details` of an
/// `ingest.invalid_line` error. (Fields in alphabetical order: the order this object has
/// always had on the wire.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RejectedLine {
    /// What was expected.
    pub expected: String,
    /// The field, when the problem is one field's.
    pub field: Option<String>,
    /// What was found.
    pub found: String,
    /// 1-based line (CSV: the header is line 1) or entity position.
    pub line: u64,
    /// The whole explanation, for people.
    pub message: String,
}

/// Consent file formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConsentFormat {
    /// CSV with a header line (`subject,purpose,granted,given_at,withdrawn_at`).
    Csv,
    /// One JSON object per line.
    #[default]
    Ndjson,
}

/// Query parameters of a consent import.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsentImportParams {
    /// Body format (default `ndjson`).
    #[serde(default)]
    #[param(inline)]
    pub format: ConsentFormat,
    /// Import the valid lines and report the rejected ones (default false).
    #[serde(default)]
    pub skip_invalid: bool,
}

/// The request `POST /v1/consent/import?format=…&skip_invalid=…`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsentImport {
    /// Format and mode.
    pub params: ConsentImportParams,
}

impl Endpoint for ConsentImport {
    const ROUTE: Route = CONSENT_IMPORT;
    type Reply = ConsentImportReply;
    fn target(&self) -> String {
        let format = match self.params.format {
            ConsentFormat::Csv => "csv",
            ConsentFormat::Ndjson => "ndjson",
        };
        format!(
            "/v1/consent/import?format={format}&skip_invalid={}",
            self.params.skip_invalid
        )
    }
}

/// What a consent import did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsentImportReply {
    /// Consent entries stored (durably).
    pub imported: u64,
    /// Sequence number of the audit entry recording the import (`null` when nothing was
    /// imported).
    pub audit_seq: Option<u64>,
    /// Every rejected line (only with `skip_invalid`).
    pub rejected: Vec<RejectedLine>,
}
