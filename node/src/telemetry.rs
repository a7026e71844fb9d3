//! Tracing and OpenTelemetry export (owner: deploy/observability).
//!
//! [`Telemetry::init`] installs the process's tracing subscriber once, at startup (`regio
//! node run` does it before anything else):
//!
//! - **OTLP export** of Regio's spans over HTTP with JSON bodies (OTLP/HTTP, no gRPC, no
//!   protoc) when an endpoint is configured: the environment variable
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's base URL, e.g. `http://10.0.0.5:4318`;
//!   spans go to `/v1/traces` under it) wins over the config's `otlp_endpoint` (the same
//!   base URL). Nothing is set up, and nothing costs, when neither is set. Only plain
//!   `http://` endpoints are supported (no TLS client is compiled in); use IP literals or a
//!   name the node can resolve. `OTEL_SERVICE_NAME` names the service (default
//!   `regio-node`).
//! - **Log lines** on stderr, always: the events a node emits when something fails that it
//!   does not stop for (a peer that cannot be reached or answers something invalid, a
//!   member that failed to answer, gossip or a sync that could not be applied, a background
//!   task that failed, a checkpoint that could not be written), each with its cause and the
//!   peer, region or query it concerns. `RUST_LOG` (an `EnvFilter` directive) chooses what
//!   is printed; without it, [`DEFAULT_LOG_FILTER`]: `info` and above from Regio's crates,
//!   `warn` and above from every other (libp2p, hyper, sled …; Kademlia's `error` only).
//!   For example
//!   `RUST_LOG=regio=debug` adds Regio's debug events, `RUST_LOG=regio=debug,libp2p=info`
//!   libp2p's too, `RUST_LOG=off` prints nothing. Colours only when stderr is a terminal.
//!
//! Only spans of `regio_node` (level INFO and above) are exported, not those of libp2p,
//! hyper or sled. [`Telemetry::shutdown`] (also run on drop) flushes what is buffered.
//!
//! ## One trace per federated query
//!
//! A signed Query carries a W3C `traceparent` (set by the application; `regio query` sets
//! one). Every node makes it the parent of its spans for that query — the coordinator's
//! `regio.coordinate` span (one child `regio.member_request` per member) and each member's
//! `regio.answer` span — so the spans of every node that took part share the
//! application's trace id. Without a `traceparent` the coordinator's span is the root of
//! a new trace (its own answer joins it) and every other member starts a trace of its own:
//! the network request carries no trace context besides the signed Query.
//!
//! Span attributes (the same names on every node): `node.did`, `query.id`,
//! `query.decision` (`answered` / `refused` / `failed`), `query.reason` (the reason code of
//! a refusal), `query.rows_scanned`, `query.rows_excluded_by_consent`,
//! `query.groups_suppressed`; the coordinator adds `query.region`, `query.members`,
//! `query.answered` and `query.missing` (names of members that did not answer: timed out,
//! unreachable, invalid answer, or failed to answer), each
//! member request `member.did`, `member.name` and `member.reply`.

use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde_json::Value;
use tracing::field;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use regio_policy::Did;

/// The environment variable naming the OTLP collector (base URL).
pub const ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The environment variable naming the service.
pub const SERVICE_NAME_ENV: &str = "OTEL_SERVICE_NAME";
/// Default service name.
pub const DEFAULT_SERVICE_NAME: &str = "regio-node";
/// The log filter when `RUST_LOG` is unset or empty: Regio's crates (every target starting
/// with `regio`) from `info`, everything else from `warn`, except libp2p's Kademlia from
/// `error` (it warns "Failed to trigger bootstrap: No known peers" when a node starts, which
/// is normal until the node has joined its regions).
pub const DEFAULT_LOG_FILTER: &str = "warn,regio=info,libp2p_kad=error";
/// How long an export may take before it is abandoned.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why telemetry could not be set up or flushed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The OTLP exporter could not be built (e.g. a malformed endpoint).
    #[error("OTLP endpoint {endpoint} (from {from}): {message}")]
    Exporter {
        /// The endpoint as configured.
        endpoint: String,
        /// Where it came from: the environment variable or the config field.
        from: &'static str,
        /// What is wrong.
        message: String,
    },
    /// `RUST_LOG` is not a valid filter.
    #[error("RUST_LOG: {0}")]
    Filter(String),
    /// A tracing subscriber was already installed in this process.
    #[error("a tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
    /// Buffered spans could not be exported.
    #[error("exporting spans to {endpoint}: {message}")]
    Flush {
        /// The endpoint.
        endpoint: String,
        /// What failed.
        message: String,
    },
}

/// The installed telemetry of this process. Flushes its spans on [`Telemetry::shutdown`]
/// or drop.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    endpoint: Option<String>,
}

/// The endpoint to export to: the environment's, else the config's; an empty value is none.
/// Returns the traces URL and where it came from.
fn resolve(env: Option<String>, config: Option<&str>) -> Option<(String, &'static str)> {
    let traces = |base: &str| format!("{}/v1/traces", base.trim_end_matches('/'));
    match env.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => Some((traces(e), ENDPOINT_ENV)),
        None => config
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| (traces(c), "config otlp_endpoint")),
    }
}

/// The filter of the log lines: `rust_log` (the value of `RUST_LOG`) when it is set and not
/// blank, else [`DEFAULT_LOG_FILTER`]. A malformed `RUST_LOG` is an error, not ignored.
pub fn log_filter(rust_log: Option<String>) -> Result<EnvFilter, TelemetryError> {
    let directives = rust_log
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
    EnvFilter::builder()
        .with_regex(false)
        .parse(&directives)
        .map_err(|e| TelemetryError::Filter(format!("`{directives}`: {e}")))
}

impl Telemetry {
    /// Installs the global tracing subscriber: OTLP export when `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// or `config_endpoint` names a collector, and log lines on stderr filtered by
    /// `RUST_LOG` (default [`DEFAULT_LOG_FILTER`]).
    /// `instance` (e.g. the node's NIS code and name) is the exported resource's
    /// `service.instance.id`.
    pub fn init(
        config_endpoint: Option<&str>,
        instance: &str,
    ) -> Result<Telemetry, TelemetryError> {
        let endpoint = resolve(std::env::var(ENDPOINT_ENV).ok(), config_endpoint);
        let service = std::env::var(SERVICE_NAME_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.into());
        let provider = match &endpoint {
            None => None,
            Some((url, from)) => {
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpJson)
                    .with_endpoint(url.clone())
                    .with_timeout(EXPORT_TIMEOUT)
                    .build()
                    .map_err(|e| TelemetryError::Exporter {
                        endpoint: url.clone(),
                        from,
                        message: e.to_string(),
                    })?;
                let resource = Resource::builder()
                    .with_service_name(service)
                    .with_attribute(opentelemetry::KeyValue::new(
                        "service.instance.id",
                        instance.to_owned(),
                    ))
                    .build();
                Some(
                    SdkTracerProvider::builder()
                        .with_batch_exporter(exporter)
                        .with_resource(resource)
                        .build(),
                )
            }
        };
        let otel = provider.as_ref().map(|p| {
            tracing_opentelemetry::layer()
                .with_tracer(p.tracer("regio-node"))
                .with_filter(Targets::new().with_target("regio_node", LevelFilter::INFO))
        });
        let log = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(log_filter(std::env::var("RUST_LOG").ok())?);
        tracing_subscriber::registry()
            .with(otel)
            .with(log)
            .try_init()
            .map_err(|e| TelemetryError::AlreadyInstalled(e.to_string()))?;
        Ok(Telemetry {
            provider,
            endpoint: endpoint.map(|(url, _)| url),
        })
    }

    /// [`Telemetry::init`] for the node directory `dir`: its config's `otlp_endpoint`, its
    /// NIS code and name as the instance. A config that does not load is left to the node's
    /// own start to report (telemetry then follows the environment only).
    pub fn for_node_dir(dir: &std::path::Path) -> Result<Telemetry, TelemetryError> {
        let config = crate::config::Config::load(&dir.join(crate::config::CONFIG_FILE)).ok();
        let instance = config.as_ref().map_or_else(
            || dir.display().to_string(),
            |c| format!("{} {}", c.nis, c.name),
        );
        Telemetry::init(
            config.as_ref().and_then(|c| c.otlp_endpoint.as_deref()),
            &instance,
        )
    }

    /// The traces URL spans are exported to, if any.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Exports every span ended so far.
    pub fn flush(&self) -> Result<(), TelemetryError> {
        match (&self.provider, &self.endpoint) {
            (Some(p), Some(e)) => p.force_flush().map_err(|err| TelemetryError::Flush {
                endpoint: e.clone(),
                message: err.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Flushes and stops the exporter.
    pub fn shutdown(mut self) -> Result<(), TelemetryError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), TelemetryError> {
        match (self.provider.take(), &self.endpoint) {
            (Some(p), Some(e)) => p.shutdown().map_err(|err| TelemetryError::Flush {
                endpoint: e.clone(),
                message: err.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // `shutdown` reports the error to callers that want it; on drop, stderr is the only
        // place left (the subscriber may already be gone with the exporter).
        if let Err(e) = self.stop() {
            eprintln!("regio: {e}");
        }
    }
}

/// Makes the W3C `traceparent` (`00-TRACEID-SPANID-FLAGS`) the parent of `span`, which must
/// not have been entered yet. Ignored when it is absent or malformed, or when no
/// OpenTelemetry layer is installed (the span then keeps its ordinary parent).
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent else { return };
    let carrier = std::collections::HashMap::from([("traceparent".to_owned(), tp.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    if opentelemetry::trace::TraceContextExt::span(&cx)
        .span_context()
        .is_valid()
    {
        // Err when no OpenTelemetry layer is installed or the span is filtered out: it then
        // keeps its ordinary parent, as documented; nothing to report.
        let _ = span.set_parent(cx);
    }
}

/// A fresh W3C `traceparent` (random trace and span ids, sampled) for an application to put
/// in the Query it signs, so that every node's spans join one trace.
pub fn new_traceparent() -> String {
    let mut bytes = [0u8; 24];
    if getrandom::fill(&mut bytes).is_err()
        || bytes[..16].iter().all(|b| *b == 0)
        || bytes[16..].iter().all(|b| *b == 0)
    {
        // Never all zero (invalid): fall back on the clock.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos())
            | 1;
        bytes[..16].copy_from_slice(&t.to_be_bytes());
        bytes[16..].copy_from_slice(&(t as u64).to_be_bytes());
    }
    format!(
        "00-{}-{}-01",
        hex::encode(&bytes[..16]),
        hex::encode(&bytes[16..])
    )
}

/// The trace id (32 hex digits) of a `traceparent`, when it is well formed.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (version, id) = (parts.next()?, parts.next()?);
    (version.len() == 2 && id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(id)
}

/// A string field of the (not yet verified) query, or "".
fn text<'a>(query: &'a Value, field: &str) -> &'a str {
    query.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The span of one member's answer to one query (`Engine::answer`), its parent the Query's
/// `traceparent` when it has one (read before the signature is checked: it only places the
/// span). Record the outcome with `engine::Engine::answer`'s record of the outcome.
pub fn answer_span(node: &Did, query: &Value) -> tracing::Span {
    let id = text(query, "id");
    let span = tracing::info_span!(
        "regio.answer",
        "node.did" = node.as_str(),
        "query.id" = id,
        "query.decision" = field::Empty,
        "query.reason" = field::Empty,
        "query.rows_scanned" = field::Empty,
        "query.rows_excluded_by_consent" = field::Empty,
        "query.groups_suppressed" = field::Empty,
        "otel.status_code" = field::Empty,
    );
    set_parent(&span, query.get("traceparent").and_then(Value::as_str));
    span
}

/// The coordinator's span of one federated query, its parent the Query's `traceparent`.
/// Member requests are its children ([`member_span`]); record the result with
/// the coordinator's record of the result.
pub fn coordinate_span(node: &Did, query: &Value) -> tracing::Span {
    let (id, region) = (text(query, "id"), text(query, "region"));
    let span = tracing::info_span!(
        "regio.coordinate",
        "node.did" = node.as_str(),
        "query.id" = id,
        "query.region" = region,
        "query.decision" = field::Empty,
        "query.reason" = field::Empty,
        "query.members" = field::Empty,
        "query.answered" = field::Empty,
        "query.missing" = field::Empty,
        "query.rows_scanned" = field::Empty,
        "query.rows_excluded_by_consent" = field::Empty,
        "query.groups_suppressed" = field::Empty,
        "otel.status_code" = field::Empty,
    );
    set_parent(&span, query.get("traceparent").and_then(Value::as_str));
    span
}

/// The span of the request to one member, a child of the current (coordinator's) span.
/// Its `member.reply` is recorded when the reply arrives; it ends then, or at the deadline.
pub fn member_span(member: &Did, name: &str) -> tracing::Span {
    tracing::info_span!(
        "regio.member_request",
        "member.did" = member.as_str(),
        "member.name" = name,
        "member.reply" = field::Empty
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_wins_and_empty_is_none() {
        assert_eq!(
            resolve(Some("http://a:4318/".into()), Some("http://b:4318")),
            Some(("http://a:4318/v1/traces".into(), ENDPOINT_ENV))
        );
        assert_eq!(
            resolve(Some(" ".into()), Some("http://b:4318")),
            Some(("http://b:4318/v1/traces".into(), "config otlp_endpoint"))
        );
        assert_eq!(resolve(None, Some("")), None);
        assert_eq!(resolve(None, None), None);
    }

    #[test]
    fn the_log_filter_defaults_to_info_for_regio_and_refuses_garbage() {
        let default = log_filter(None).unwrap().to_string();
        assert!(
            default.contains("regio=info") && default.contains("warn"),
            "{default}"
        );
        assert_eq!(log_filter(Some("  ".into())).unwrap().to_string(), default);
        let custom = log_filter(Some("regio_node=debug".into())).unwrap();
        assert_eq!(custom.to_string(), "regio_node=debug");
        assert!(matches!(
            log_filter(Some("regio=loud".into())),
            Err(TelemetryError::Filter(_))
        ));
    }

    #[test]
    fn traceparents_are_well_formed_and_distinct() {
        let a = new_traceparent();
        let b = new_traceparent();
        assert_ne!(a, b);
        assert_eq!(a.len(), 55, "{a}");
        assert!(a.starts_with("00-") && a.ends_with("-01"), "{a}");
        assert_eq!(trace_id(&a), Some(&a[3..35]));
        assert_eq!(trace_id("00-zz-1-01"), None);
    }
}
