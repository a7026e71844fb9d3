//! Serving the API over TCP with connection-level limits (owner: HTTP):
//!
//! - at most `http.max_connections` client connections at once (further clients wait in the
//!   listen queue);
//! - a connection that has not sent a request's complete headers within
//!   `http.header_read_timeout_ms` — after it opened, or after its previous reply — is closed
//!   (slowloris). hyper's HTTP/1 server with a tokio timer does the reading and the timing;
//!   `axum::serve` sets no timer, so it would wait for headers forever;
//! - a request body that pauses longer than `http.body_read_timeout_ms` fails to read
//!   (tower-http's `TimeoutBody`; the handler answers `408 request.timeout`);
//! - at most `http.max_concurrent_requests` requests in the router at once (tower's
//!   `GlobalConcurrencyLimitLayer`; others wait for a slot).
//!
//! Each request carries the client's address (`ConnectInfo<SocketAddr>`) for the rate limit
//! ([`super::limits`]).
//!
//! Shutdown is graceful: once `shutdown` resolves no connection is accepted, requests in
//! flight finish, idle connections close, and [`serve`] returns when every connection is
//! closed.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{Layer, ServiceExt};
use tower_http::timeout::TimeoutBody;

use crate::config::HttpConfig;

/// Serves `app` on `listener` until `shutdown` resolves (see the module doc).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    http: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(http.max_connections.max(1)));
    let header_timeout = Duration::from_millis(http.header_read_timeout_ms);
    let body_timeout = Duration::from_millis(http.body_read_timeout_ms);
    let in_flight = GlobalConcurrencyLimitLayer::new(http.max_concurrent_requests.max(1));
    let (closing_tx, closing) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        // A slot first, then the connection: over the cap, clients wait in the listen queue.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break, // the semaphore is never closed
            },
        };
        let (stream, addr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let service =
            in_flight
                .layer(app.clone())
                .map_request(move |req: axum::http::Request<Incoming>| {
                    let mut req = req.map(|body| Body::new(TimeoutBody::new(body_timeout, body)));
                    req.extensions_mut().insert(ConnectInfo(addr));
                    req
                });
        let mut closing = closing.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let mut conn =
                pin!(builder
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = async {
                    // The guard `wait_for` returns must not live across an await.
                    let _closing = closing.wait_for(|c| *c).await.is_ok();
                } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                // A client that was too slow with its headers, or went away mid-request.
                tracing::debug!(client = %addr, error = %e, "HTTP connection closed with an error");
            }
        });
    }
    drop(listener);
    if closing_tx.send(true).is_err() {
        tracing::debug!("no HTTP connection was open at shutdown");
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// What to do when `accept` fails: per-connection errors are logged and skipped; running out
/// of file descriptors (or another resource) waits a moment before accepting again.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        tracing::debug!(error = %e, "a client connection failed before it was accepted");
    } else {
        tracing::warn!(error = %e, "cannot accept HTTP connections; retrying in 1 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
