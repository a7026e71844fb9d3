//! The CLI's HTTP client for a node's API (blocking, ureq 3): admin token handling,
//! JSON errors turned into [`ApiFailure`] (exit 1) and transport failures into
//! [`Unreachable`] (exit 3).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

/// The node URL when neither --node nor REGIO_NODE is given.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:7480";

/// Largest response body read (rejected-line lists can be long).
const MAX_RESPONSE: u64 = 1 << 30;

/// The node could not be reached: exit 3.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Unreachable {}

/// The node answered with an error: exit 1.
#[derive(Debug)]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// The stable error code.
    pub code: String,
    /// The node's message.
    pub message: String,
    /// Structured details.
    pub details: serde_json::Value,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the node refused ({} {}): {}",
            self.status, self.code, self.message
        )
    }
}
impl std::error::Error for ApiFailure {}

impl ApiFailure {
    /// What to do about a refusal of the node, by its code, when there is a clear next step.
    pub fn next_step(&self) -> Option<&'static str> {
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
pub struct NodeArgs {
    /// The node's API URL.
    #[arg(long, env = "REGIO_NODE", default_value = DEFAULT_NODE, value_name = "URL")]
    pub node: String,
    /// The node directory, to read the admin token from DIR/admin.token (else REGIO_TOKEN).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// A client of one node.
pub struct Client {
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
    pub fn new(args: &NodeArgs) -> Result<Client> {
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

    /// GET `path`, JSON response.
    pub fn get(&self, path: &str, admin: bool) -> Result<serde_json::Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url);
        if admin {
            req = req.header("Authorization", &format!("Bearer {}", self.token()?));
        }
        self.finish(&url, req.call())
    }

    /// Checks the admin token with a cheap admin call, so that a wrong token is reported
    /// as such before a large body is sent.
    pub fn check_admin(&self) -> Result<()> {
        self.get("/v1/audit?from=1&limit=1", true).map(|_| ())
    }

    /// POST `body` to `path` (admin), JSON response.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<serde_json::Value> {
        let url = format!("{}{path}", self.base);
        let req = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.token()?))
            .content_type(content_type);
        self.finish(&url, req.send(body))
    }

    /// POST a JSON `body` to `path` without the admin token (a signed document carries its
    /// own signature) and return the status with the JSON answer, whatever the status:
    /// the caller reads refusals that carry a body (e.g. a query's 403).
    pub fn post_public(&self, path: &str, body: &[u8]) -> Result<(u16, serde_json::Value)> {
        let url = format!("{}{path}", self.base);
        let req = self.agent.post(&url).content_type("application/json");
        let (status, text) = self.read(&url, req.send(body))?;
        match serde_json::from_str(&text) {
            Ok(json) => Ok((status, json)),
            Err(_) => Err(failure(status, serde_json::Value::Null, &text).into()),
        }
    }

    /// The node's `/health`: `{status, did, nis, name, version}`.
    pub fn health(&self) -> Result<serde_json::Value> {
        self.get("/health", false)
    }

    /// The node's DID, from `/health`.
    pub fn did(&self) -> Result<regio_policy::Did> {
        let h = self.health()?;
        let did = h["did"].as_str().unwrap_or_default();
        regio_policy::Did::parse(did).with_context(|| {
            format!(
                "{}/health names no valid did:key (got {:?})",
                self.base, h["did"]
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

    fn finish(
        &self,
        url: &str,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<serde_json::Value> {
        let (status, text) = self.read(url, resp)?;
        let json: serde_json::Value = match serde_json::from_str(&text) {
            Ok(j) => j,
            // An error status without a JSON body (e.g. 405 from a route that exists for another method).
            Err(_) if !(200..300).contains(&status) => {
                return Err(failure(status, serde_json::Value::Null, &text).into())
            }
            Err(_) => bail!(
                "{url} answered {status} with something that is not JSON: {}",
                text.chars().take(200).collect::<String>()
            ),
        };
        if (200..300).contains(&status) {
            return Ok(json);
        }
        Err(failure(status, json, &text).into())
    }
}

/// A usage error unless `url` is an http(s) URL (`127.0.0.1:7480` alone is a common slip).
pub fn check_url(url: &str) -> Result<()> {
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

/// The [`ApiFailure`] of an error answer: `{"error":{"code","message","details"}}`, or
/// `http.STATUS` and the text when the body is not that.
fn failure(status: u16, json: serde_json::Value, text: &str) -> ApiFailure {
    let err = &json["error"];
    let code = err["code"]
        .as_str()
        .map_or_else(|| format!("http.{status}"), str::to_string);
    let message = err["message"]
        .as_str()
        .map_or_else(|| text.chars().take(200).collect(), str::to_string);
    ApiFailure {
        status,
        code,
        message,
        details: err["details"].clone(),
    }
}
