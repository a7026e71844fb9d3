//! The CLI's HTTP client for a node's API (blocking, ureq 3): admin token handling,
//! JSON errors turned into [`ApiFailure`] (exit 1) and transport failures into
//! [`Unreachable`] (exit 3). Requests and replies are the types of the HTTP contract
//! (`regio_http`): [`Client::call`] and [`Client::send`] take a request that knows its route
//! and return its typed reply.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use regio_http::{Endpoint, ErrorBody, Method};

/// The node URL when neither --node nor REGIO_NODE is given.
pub(crate) const DEFAULT_NODE: &str = "http://127.0.0.1:7480";

/// Largest response body read (rejected-line lists can be long).
const MAX_RESPONSE: u64 = 1 << 30;

/// The node could not be reached: exit 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Unreachable(pub String);

/// The node answered with an error: exit 1.
#[derive(Debug, thiserror::Error)]
#[error("the node refused ({status} {code}): {message}")]
pub(crate) struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// The stable error code.
    pub code: String,
    /// The node's message.
    pub message: String,
    /// Structured details.
    pub details: serde_json::Value,
}

impl ApiFailure {
    /// What to do about a refusal of the node, by its code, when there is a clear next step.
    pub(crate) fn next_step(&self) -> Option<&'static str> {
        Some(match self.code.as_str() {
            "auth.missing_token" | "auth.bad_token" => {
                "admin calls need the node's token: pass --dir NODE_DIR (the node's directory, holding admin.token) or set REGIO_TOKEN"
            }
            "dataset.exists" => "the dataset already exists (`regio dataset list`); load records into it with `regio ingest`",
            "dataset.unknown" => "create the dataset first with `regio dataset create SCHEMA.json` (`regio dataset list` shows what exists)",
            "dataset.invalid_schema" => "fix the schema file: {\"dataset\", \"fields\": [{\"name\", \"type\", \"nullable\"}], \"subject\", \"time\"}",
            "request.too_large" => "send less at once (`regio ingest --batch-rows N`) or raise `max_body_bytes` in the node's config.toml",
            "manifest.refused" => "more members must sign the manifest first (`regio region approve`)",
            _ => return None,
        })
    }
}

/// Where the node is and how to authenticate.
#[derive(Debug, Clone, Args)]
pub(crate) struct NodeArgs {
    /// The node's API URL.
    #[arg(long, env = "REGIO_NODE", default_value = DEFAULT_NODE, value_name = "URL")]
    pub node: String,
    /// The node directory, to read the admin token from DIR/admin.token (else REGIO_TOKEN).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// A client of one node.
pub(crate) struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

fn read_token(dir: &Path) -> Result<String> {
    let path = dir.join(regio_node::config::TOKEN_FILE);
    let t = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the admin token {}", path.display()))?;
    Ok(t.trim().to_string())
}

impl Client {
    /// A client for `args`; the token comes from `--dir` or `REGIO_TOKEN` (may be absent).
    pub(crate) fn new(args: &NodeArgs) -> Result<Client> {
        check_url(&args.node)?;
        let token = match &args.dir {
            Some(dir) => Some(read_token(dir)?),
            None => std::env::var("REGIO_TOKEN")
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(3600)))
            .build()
            .into();
        Ok(Client {
            base: args.node.trim_end_matches('/').to_string(),
            token,
            agent,
        })
    }

    /// The token or an error telling where to put it.
    fn token(&self) -> Result<&str> {
        match &self.token {
            Some(t) => Ok(t),
            None => bail!("this command needs the node's admin token: pass --dir NODE_DIR (reads NODE_DIR/admin.token) or set REGIO_TOKEN"),
        }
    }

    /// Sends `request` (a `GET`, or a `POST` without a body) and reads its typed reply.
    pub(crate) fn call<E: Endpoint>(&self, request: &E) -> Result<E::Reply> {
        self.exchange(request, None)
    }

    /// Sends `request` with `body` and reads its typed reply.
    pub(crate) fn send<E: Endpoint>(
        &self,
        request: &E,
        content_type: &str,
        body: &[u8],
    ) -> Result<E::Reply> {
        self.exchange(request, Some((content_type, body)))
    }

    /// Checks the admin token with a cheap admin call, so that a wrong token is reported
    /// as such before a large body is sent.
    pub(crate) fn check_admin(&self) -> Result<()> {
        let one = regio_http::audit::AuditParams { from: 1, limit: 1 };
        self.call(&one).map(drop)
    }

    /// Sends `request` with a JSON `body`, and returns the status and the answer's text,
    /// whatever the status: the caller reads refusals that carry a body (a query's 403).
    pub(crate) fn send_raw<E: Endpoint>(&self, request: &E, body: &[u8]) -> Result<(u16, String)> {
        let url = format!("{}{}", self.base, request.target());
        let resp = self.request(&url, E::ROUTE, Some(("application/json", body)))?;
        self.read(&url, resp)
    }

    /// `GET` of `request`'s target with an `Accept` header: the text of a 2xx answer (any
    /// other status is an [`ApiFailure`]).
    pub(crate) fn get_text<E: Endpoint>(&self, request: &E, accept: &str) -> Result<String> {
        let url = format!("{}{}", self.base, request.target());
        let resp = self.agent.get(&url).header("Accept", accept).call();
        let (status, text) = self.read(&url, resp)?;
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err(failure(status, &text).into())
        }
    }

    /// The node's `/health`.
    pub(crate) fn health(&self) -> Result<regio_http::node::HealthReply> {
        self.call(&regio_http::node::Health)
    }

    /// The node's DID, from `/health`.
    pub(crate) fn did(&self) -> Result<regio_policy::Did> {
        let h = self.health()?;
        regio_policy::Did::parse(&h.did).with_context(|| {
            format!(
                "{}/health names no valid did:key (got {:?})",
                self.base, h.did
            )
        })
    }

    fn request(
        &self,
        url: &str,
        route: regio_http::Route,
        body: Option<(&str, &[u8])>,
    ) -> Result<std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>> {
        let auth = if route.admin {
            Some(format!("Bearer {}", self.token()?))
        } else {
            None
        };
        Ok(match route.method {
            Method::Get => {
                // Routes with several representations (the catalog) answer JSON for this.
                let mut req = self.agent.get(url).header("Accept", "application/json");
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            Method::Post => {
                let mut req = self.agent.post(url);
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                match body {
                    Some((content_type, bytes)) => req.content_type(content_type).send(bytes),
                    None => req.send_empty(),
                }
            }
        })
    }

    fn exchange<E: Endpoint>(&self, request: &E, body: Option<(&str, &[u8])>) -> Result<E::Reply> {
        let url = format!("{}{}", self.base, request.target());
        let resp = self.request(&url, E::ROUTE, body)?;
        let text = self.finish(&url, resp)?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} {url} answered JSON that is not the reply the API documents (see {}/v1/openapi.json)",
                E::ROUTE.method.as_str(),
                self.base
            )
        })
    }

    fn read(
        &self,
        url: &str,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, String)> {
        let mut resp = resp.map_err(|e| Unreachable(format!("cannot reach the node at {url}: {e} (is `regio node run` running there? check --node / REGIO_NODE)")))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_string()
            .map_err(|e| {
                Unreachable(format!(
                    "the connection to {url} broke while reading the answer: {e}"
                ))
            })?;
        Ok((status, text))
    }

    /// The text of a 2xx answer; any other status is an [`ApiFailure`].
    fn finish(
        &self,
        url: &str,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String> {
        let (status, text) = self.read(url, resp)?;
        if (200..300).contains(&status) {
            if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_err() {
                bail!(
                    "{url} answered {status} with something that is not JSON: {}",
                    text.chars().take(200).collect::<String>()
                );
            }
            return Ok(text);
        }
        Err(failure(status, &text).into())
    }
}

/// A usage error unless `url` is an http(s) URL (`127.0.0.1:7480` alone is a common slip).
pub(crate) fn check_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(()),
        _ => Err(crate::Usage(format!(
            "--node / REGIO_NODE must be a node's API URL such as http://127.0.0.1:7480 (got {url:?}); `regio node run` prints it on its `listening on` line"
        ))
        .into()),
    }
}

/// The [`ApiFailure`] of an error answer: [`ErrorBody`], or `http.STATUS` and the text when
/// the body is not that (e.g. a 405 without a body).
pub(crate) fn failure(status: u16, text: &str) -> ApiFailure {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(ErrorBody { error }) => ApiFailure {
            status,
            code: error.code,
            message: error.message,
            details: error.details.unwrap_or_default(),
        },
        Err(_) => ApiFailure {
            status,
            code: format!("http.{status}"),
            message: text.chars().take(200).collect(),
            details: serde_json::Value::Null,
        },
    }
}
