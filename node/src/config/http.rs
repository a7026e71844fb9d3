//! The `[http]` section of `config.toml`: the limits that keep an outsider or a flood from
//! wearing the node's HTTP API down (enforced by [`crate::api::limits`] and
//! [`crate::api::listen`]). Every field is optional; the defaults suit a municipal node
//! behind no proxy.

use serde::{Deserialize, Serialize};

/// Default time a client has to send a request's headers, milliseconds.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default longest pause between two pieces of a request body, milliseconds.
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// Default time a request may take from its headers to the end of its reply, milliseconds
/// (above the longest query deadline, 60 s).
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 120_000;
/// Default number of client connections open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default number of requests served at once (others wait, within their timeout).
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 64;
/// Default requests a client (IP address) may make per second without the admin token.
pub const DEFAULT_RATE_PER_SECOND: u32 = 50;
/// Default burst of requests a client may make at once without the admin token.
pub const DEFAULT_RATE_BURST: u32 = 200;
/// Default largest body of `POST /v1/query`, bytes (a signed query is a few KiB).
pub const DEFAULT_QUERY_MAX_BODY_BYTES: usize = 64 * 1024;

/// The HTTP API's limits (`[http]` in `config.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A connection that has not sent a request's complete headers this many milliseconds
    /// after it opened (or after its previous reply) is closed (slowloris). Default 10000.
    pub header_read_timeout_ms: u64,
    /// A request whose body pauses longer than this many milliseconds between two pieces is
    /// answered `408 request.timeout`. Default 30000.
    pub body_read_timeout_ms: u64,
    /// A request not answered this many milliseconds after its headers arrived is answered
    /// `408 request.timeout` (body upload and the work included). Default 120000.
    pub request_timeout_ms: u64,
    /// Client connections open at once; further clients wait in the listen queue until one
    /// closes. Default 512.
    pub max_connections: usize,
    /// Requests served at once; further requests wait (within `request_timeout_ms`).
    /// Default 64.
    pub max_concurrent_requests: usize,
    /// Requests without the admin token one client IP address may make per second, on
    /// average; beyond it the node answers `429 request.rate_limited`. Requests carrying the
    /// admin token are never limited. Default 50.
    pub rate_per_second: u32,
    /// Requests without the admin token one client IP address may make at once before the
    /// per-second rate applies. Default 200.
    pub rate_burst: u32,
    /// Largest body of `POST /v1/query` (a signed Query), bytes; a larger one is
    /// `413 request.too_large`. Default 65536 (64 KiB).
    pub query_max_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            body_read_timeout_ms: DEFAULT_BODY_READ_TIMEOUT_MS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            rate_per_second: DEFAULT_RATE_PER_SECOND,
            rate_burst: DEFAULT_RATE_BURST,
            query_max_body_bytes: DEFAULT_QUERY_MAX_BODY_BYTES,
        }
    }
}

impl HttpConfig {
    /// The first field out of range, and why.
    pub(super) fn invalid(&self) -> Option<(&'static str, &'static str)> {
        let checks: [(bool, &'static str, &'static str); 8] = [
            (
                self.header_read_timeout_ms == 0,
                "http.header_read_timeout_ms",
                "must be at least 1",
            ),
            (
                self.body_read_timeout_ms == 0,
                "http.body_read_timeout_ms",
                "must be at least 1",
            ),
            (
                self.request_timeout_ms == 0,
                "http.request_timeout_ms",
                "must be at least 1",
            ),
            (
                self.max_connections == 0,
                "http.max_connections",
                "must be at least 1",
            ),
            (
                self.max_concurrent_requests == 0,
                "http.max_concurrent_requests",
                "must be at least 1",
            ),
            (
                self.rate_per_second == 0,
                "http.rate_per_second",
                "must be at least 1",
            ),
            (
                self.rate_burst == 0,
                "http.rate_burst",
                "must be at least 1",
            ),
            (
                self.query_max_body_bytes < 1024,
                "http.query_max_body_bytes",
                "must be at least 1024",
            ),
        ];
        checks
            .into_iter()
            .find(|(bad, _, _)| *bad)
            .map(|(_, field, why)| (field, why))
    }

    /// The commented `[http]` section `regio init` writes.
    pub(super) fn render(&self) -> String {
        format!(
            "\n# Limits of the HTTP API against slow clients and floods.\n\
             [http]\n\
             # Close a connection that has not sent a request's headers within this many ms (default {DEFAULT_HEADER_READ_TIMEOUT_MS}).\n\
             header_read_timeout_ms = {}\n\
             # 408 when a request body pauses longer than this many ms (default {DEFAULT_BODY_READ_TIMEOUT_MS}).\n\
             body_read_timeout_ms = {}\n\
             # 408 when a request is not answered within this many ms (default {DEFAULT_REQUEST_TIMEOUT_MS}).\n\
             request_timeout_ms = {}\n\
             # Client connections open at once (default {DEFAULT_MAX_CONNECTIONS}).\n\
             max_connections = {}\n\
             # Requests served at once; others wait (default {DEFAULT_MAX_CONCURRENT_REQUESTS}).\n\
             max_concurrent_requests = {}\n\
             # Requests per second and burst per client IP without the admin token; 429 beyond\n\
             # (defaults {DEFAULT_RATE_PER_SECOND} and {DEFAULT_RATE_BURST}).\n\
             rate_per_second = {}\n\
             rate_burst = {}\n\
             # Largest body of POST /v1/query in bytes (default {DEFAULT_QUERY_MAX_BODY_BYTES} = 64 KiB).\n\
             query_max_body_bytes = {}\n",
            self.header_read_timeout_ms,
            self.body_read_timeout_ms,
            self.request_timeout_ms,
            self.max_connections,
            self.max_concurrent_requests,
            self.rate_per_second,
            self.rate_burst,
            self.query_max_body_bytes,
        )
    }
}
