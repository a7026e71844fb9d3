//! What keeps an outsider or a flood from wearing the API down (owner: HTTP), configured by
//! `[http]` in `config.toml` ([`crate::config::HttpConfig`]); the connection-level limits (connection cap,
//! header and body read timeouts, concurrent requests) are in [`super::listen`]. Every limit
//! is a kept middleware:
//!
//! | limit | middleware | refusal |
//! |---|---|---|
//! | `request_timeout_ms` | tower-http `TimeoutLayer` | `408 request.timeout` |
//! | `rate_per_second`, `rate_burst` per client IP (an IPv6 client by its /64), requests without the admin token | `tower_governor` | `429 request.rate_limited`, `Retry-After` |
//! | `body_read_timeout_ms` between two pieces of a body | tower-http `TimeoutBody` ([`super::listen`]) | `408 request.timeout` |
//! | `max_concurrent_requests` | tower `GlobalConcurrencyLimitLayer` ([`super::listen`]) | waits for a slot |
//! | `query_max_body_bytes` on `POST /v1/query` | [`QueryBody`] (axum's `to_bytes` with a limit) | `413 request.too_large` |
//!
//! Requests that did not come over a socket (a router called in-process, as the API tests
//! do) have no client address and are not rate limited.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use governor::middleware::NoOpMiddleware;
use tower::{Layer, ServiceExt};
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};

use super::auth::{Admin, AdminToken};
use super::{ApiError, AppState};

/// The metric label of a request method: one of a fixed set, `other` for the rest (so a
/// client cannot create metric series by inventing methods).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Adds the request limits of `[http]` to the router (see the module doc), outermost first:
/// request timeout, rate limit.
pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let http = &state.config.http;
    router
        .layer(axum::middleware::from_fn_with_state(
            RateLimit::new(state),
            rate_limit,
        ))
        .layer(axum::middleware::map_response(timeout_as_json))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(http.request_timeout_ms),
        ))
}

/// The `408 request.timeout` reply.
fn timed_out() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request.timeout",
        "the request took longer than the node's http.request_timeout_ms, or its body paused longer than http.body_read_timeout_ms",
    )
}

/// The timeout layer's bare 408 as the API's JSON error (no handler answers 408 itself).
async fn timeout_as_json(response: Response) -> Response {
    if response.status() == StatusCode::REQUEST_TIMEOUT
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        return timed_out().into_response();
    }
    response
}

/// Whether `e` or one of its causes is a `T`.
fn caused_by<T: StdError + 'static>(e: &(dyn StdError + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<T>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The API error of a body that could not be read: `408 request.timeout` when it paused
/// longer than `body_read_timeout_ms`, else `None`.
pub(super) fn body_timeout(e: &(dyn StdError + 'static)) -> Option<ApiError> {
    caused_by::<tower_http::timeout::TimeoutError>(e).then(timed_out)
}

/// The signed Query of `POST /v1/query`, at most `http.query_max_body_bytes`; a larger body
/// is `413 request.too_large` (refused on its `Content-Length` before anything is read).
#[derive(Debug)]
pub struct QueryBody(pub Bytes);

impl FromRequest<AppState> for QueryBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<QueryBody, ApiError> {
        let limit = state.config.http.query_max_body_bytes;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request.too_large",
                format!("a signed query is at most {limit} bytes (the node's http.query_max_body_bytes)"),
            )
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        axum::body::to_bytes(req.into_body(), limit)
            .await
            .map(QueryBody)
            .map_err(|e| {
                if caused_by::<http_body_util::LengthLimitError>(&e) {
                    too_large()
                } else if let Some(timeout) = body_timeout(&e) {
                    timeout
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "request.bad_body",
                        format!("cannot read the request body: {e}"),
                    )
                }
            })
    }
}

/// The rate-limit key of a client: its IP address, an IPv6 address by its /64 prefix (one
/// subscriber's allocation, which a client can cycle through at will).
#[derive(Debug, Clone, Copy)]
struct ClientIp;

impl KeyExtractor for ClientIp {
    type Key = IpAddr;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<IpAddr, GovernorError> {
        let ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_canonical())
            .ok_or(GovernorError::UnableToExtractKey)?;
        Ok(match ip {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            v4 => v4,
        })
    }
}

/// Forget idle clients' rate-limit state every this many limited requests.
const RETAIN_EVERY: u64 = 4096;

/// The rate limiter of requests without the admin token.
#[derive(Clone)]
struct RateLimit {
    token: Arc<AdminToken>,
    /// `None` only if the limits were out of range (which `Config::check` refuses).
    config: Option<Arc<GovernorConfig<ClientIp, NoOpMiddleware>>>,
    seen: Arc<AtomicU64>,
}

impl RateLimit {
    fn new(state: &AppState) -> RateLimit {
        let http = &state.config.http;
        let period = Duration::from_secs(1) / http.rate_per_second.max(1);
        let mut builder = GovernorConfigBuilder::default().key_extractor(ClientIp);
        builder
            .period(period.max(Duration::from_nanos(1)))
            .burst_size(http.rate_burst.max(1));
        let config = builder.finish().map(Arc::new);
        if config.is_none() {
            tracing::error!(
                ?http,
                "the rate limit is out of range; requests are not rate limited"
            );
        }
        RateLimit {
            token: state.token.clone(),
            config,
            seen: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// Middleware: requests without the admin token, from a client over a socket, pass the
/// client's rate limit or are answered `429 request.rate_limited`.
async fn rate_limit(State(rl): State<RateLimit>, req: Request, next: Next) -> Response {
    let over_socket = req.extensions().get::<ConnectInfo<SocketAddr>>().is_some();
    let Some(config) = rl.config.as_ref().filter(|_| over_socket) else {
        return next.run(req).await;
    };
    if Admin::check(req.headers(), &rl.token).is_ok() {
        return next.run(req).await;
    }
    if rl.seen.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
        config.limiter().retain_recent();
    }
    let layer = GovernorLayer::<ClientIp, NoOpMiddleware, Body>::new(config.clone())
        .error_handler(|e| match e {
            GovernorError::TooManyRequests { wait_time, headers } => {
                let mut response = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "request.rate_limited",
                    format!("too many requests from this address without the admin token (the node's http.rate_per_second and http.rate_burst); retry in {wait_time} s"),
                )
                .into_response();
                if let Some(h) = headers {
                    response.headers_mut().extend(h);
                }
                response
            }
            other => ApiError::internal(format!("rate limit: {other}")).into_response(),
        });
    match layer.layer(next).oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
