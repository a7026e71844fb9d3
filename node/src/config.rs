//! The node directory and its typed configuration (owner: HTTP/operations). A node
//! directory, made by `regio init`, holds:
//!
//! ```text
//! DIR/config.toml   this module's [`Config`], every field documented
//! DIR/node.key      the node's Ed25519 key (W3C Multikey JSON, mode 0600)
//! DIR/admin.token   the admin bearer token (64 hex digits, mode 0600)
//! DIR/data/         the sled database (`data_dir`)
//! ```
//!
//! [`Config::load`] refuses unknown fields and names the file, line and field of any
//! error; [`Config::render`] writes the commented file `regio init` creates.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Name of the config file inside a node directory.
pub const CONFIG_FILE: &str = "config.toml";
/// Name of the key file inside a node directory.
pub const KEY_FILE: &str = "node.key";
/// Name of the admin token file inside a node directory.
pub const TOKEN_FILE: &str = "admin.token";

/// Default API address: loopback only.
pub const DEFAULT_API: &str = "127.0.0.1:7480";
/// Default libp2p listen address.
pub const DEFAULT_LISTEN: &str = "/ip4/127.0.0.1/tcp/7481";
/// Default request body limit: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Default query deadline, milliseconds.
pub const DEFAULT_QUERY_DEADLINE_MS: u64 = 5000;
/// Default anti-entropy interval (a digest of the region's documents to the region), milliseconds.
pub const DEFAULT_GOSSIP_INTERVAL_MS: u64 = 5000;
/// Default age, seconds, after which a catalog whose facts changed is re-signed.
pub const DEFAULT_CATALOG_REFRESH_SECS: u64 = 900;
/// Default size up to which a region is a full mesh (every member connected to every other).
pub const DEFAULT_FULL_MESH_UP_TO: usize = 16;

/// A node's configuration (`DIR/config.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// NIS code of the municipality this node serves (e.g. `"44021"`). Required.
    pub nis: String,
    /// Name of the municipality (e.g. `"Gent"`). Required.
    pub name: String,
    /// Address of the HTTP API. Default `"127.0.0.1:7480"` (loopback only).
    #[serde(default = "default_api")]
    pub api: String,
    /// libp2p listen multiaddresses, for federation. Default `["/ip4/127.0.0.1/tcp/7481"]`.
    #[serde(default = "default_listen")]
    pub listen: Vec<String>,
    /// Discover peers on the local network with mDNS. Default `false`.
    #[serde(default)]
    pub mdns: bool,
    /// Storage directory, relative to the node directory unless absolute. Default `"data"`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Largest accepted HTTP request body, bytes. Default 67108864 (64 MiB).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Deadline of a query, milliseconds. Default 5000.
    #[serde(default = "default_deadline")]
    pub query_deadline_ms: u64,
    /// Base URL of an OTLP/HTTP collector that receives the node's trace spans (JSON bodies,
    /// sent to `/v1/traces` under it; plain `http://`, e.g. `"http://127.0.0.1:4318"`).
    /// Metrics are not exported: they are served at `/metrics`. `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// wins over it. Default: none (no export).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// Anti-entropy: every this many milliseconds (jittered 0.5–1.5×) the node publishes a
    /// digest of the region's documents it holds (manifest, charter, policy heads,
    /// certificates, revocations); a member whose digest differs pulls what it lacks.
    /// Default 5000.
    #[serde(default = "default_gossip_interval")]
    pub gossip_interval_ms: u64,
    /// In a region of at most this many members the node keeps a connection to every member.
    /// In a larger region it keeps connections to about `2·log2(n)` neighbours only (12 of
    /// 50, 18 of 300), gossip crosses the region over them, and other members are dialled
    /// when a query needs them (that connection closes after 60 s without requests).
    /// Default 16.
    #[serde(default = "default_full_mesh_up_to")]
    pub full_mesh_up_to: usize,
    /// DIDs (`did:key:…`) of the clerks whose signature this node accepts on a consent record
    /// registered at a desk, on paper or by phone. Default none (the node's own key always counts).
    #[serde(default)]
    pub clerks: Vec<regio_policy::Did>,
    /// The node's public web address (e.g. `"https://regio.gent.be"`): the catalog links to
    /// it, and region-wide search results point to it. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// The catalog's facts (record counts, time coverage, policy version) are re-signed when
    /// they changed and the current catalog version is older than this many seconds.
    /// Default 900.
    #[serde(default = "default_catalog_refresh")]
    pub catalog_refresh_secs: u64,
}

fn default_api() -> String {
    DEFAULT_API.into()
}
fn default_listen() -> Vec<String> {
    vec![DEFAULT_LISTEN.into()]
}
fn default_data_dir() -> PathBuf {
    "data".into()
}
fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}
fn default_deadline() -> u64 {
    DEFAULT_QUERY_DEADLINE_MS
}
fn default_gossip_interval() -> u64 {
    DEFAULT_GOSSIP_INTERVAL_MS
}
fn default_catalog_refresh() -> u64 {
    DEFAULT_CATALOG_REFRESH_SECS
}
fn default_full_mesh_up_to() -> usize {
    DEFAULT_FULL_MESH_UP_TO
}

/// Why a config file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source} (is this a node directory made by `regio init`?)")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid config.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error (0 when unknown).
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A value is out of range.
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// A config with the defaults for a municipality.
    pub fn new(nis: &str, name: &str) -> Config {
        Config {
            nis: nis.into(),
            name: name.into(),
            api: default_api(),
            listen: default_listen(),
            mdns: false,
            data_dir: default_data_dir(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            query_deadline_ms: DEFAULT_QUERY_DEADLINE_MS,
            otlp_endpoint: None,
            gossip_interval_ms: DEFAULT_GOSSIP_INTERVAL_MS,
            full_mesh_up_to: DEFAULT_FULL_MESH_UP_TO,
            clerks: Vec::new(),
            public_url: None,
            catalog_refresh_secs: DEFAULT_CATALOG_REFRESH_SECS,
        }
    }

    /// Parses config text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
            let mut message = e.message().trim().to_string();
            let key = text
                .lines()
                .nth(line.saturating_sub(1))
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim());
            if let Some(k) = key.filter(|k| !k.is_empty() && !message.contains(k)) {
                message = format!("field `{k}`: {message}");
            }
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        })?;
        config.check(path)?;
        Ok(config)
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field, message: &str| {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                field,
                message: message.into(),
            })
        };
        if self.nis.trim().is_empty() {
            return invalid("nis", "must not be empty");
        }
        if self.api.parse::<std::net::SocketAddr>().is_err() {
            return invalid(
                "api",
                "must be an IP address and port, e.g. \"127.0.0.1:7480\"",
            );
        }
        if self.max_body_bytes < 1024 {
            return invalid("max_body_bytes", "must be at least 1024");
        }
        if self.query_deadline_ms == 0 {
            return invalid("query_deadline_ms", "must be at least 1");
        }
        if self.gossip_interval_ms < 50 {
            return invalid("gossip_interval_ms", "must be at least 50");
        }
        if let Some(u) = &self.public_url {
            let ok = (u.starts_with("https://") || u.starts_with("http://"))
                && !u
                    .chars()
                    .any(|c| c.is_whitespace() || "<>\"{}|\\^`".contains(c));
            if !ok {
                return invalid(
                    "public_url",
                    "must be an absolute http(s) address, e.g. \"https://regio.gent.be\"",
                );
            }
        }
        Ok(())
    }

    /// The storage directory, resolved against the node directory `dir`.
    pub fn data_path(&self, dir: &Path) -> PathBuf {
        if self.data_dir.is_absolute() {
            self.data_dir.clone()
        } else {
            dir.join(&self.data_dir)
        }
    }

    /// The commented TOML file `regio init` writes; [`Config::parse`] reads it back equal.
    pub fn render(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let listen: Vec<String> = self.listen.iter().map(|l| q(l)).collect();
        let clerks: Vec<String> = self.clerks.iter().map(|d| q(d.as_str())).collect();
        let otlp = match &self.otlp_endpoint {
            Some(e) => format!("otlp_endpoint = {}\n", q(e)),
            None => "# otlp_endpoint = \"http://127.0.0.1:4318\"\n".into(),
        };
        let public_url = match &self.public_url {
            Some(u) => format!("public_url = {}\n", q(u)),
            None => "# public_url = \"https://regio.example.be\"\n".into(),
        };
        format!(
            "# Regio node configuration. Unknown fields are refused.\n\n\
             # NIS code of the municipality this node serves. Required.\n\
             nis = {}\n\
             # Name of the municipality. Required.\n\
             name = {}\n\
             # Address of the HTTP API (default \"{DEFAULT_API}\": loopback only).\n\
             api = {}\n\
             # libp2p listen multiaddresses for federation (default [\"{DEFAULT_LISTEN}\"]).\n\
             listen = [{}]\n\
             # Discover peers on the local network with mDNS (default false).\n\
             mdns = {}\n\
             # Storage directory, relative to this directory unless absolute (default \"data\").\n\
             data_dir = {}\n\
             # Largest accepted HTTP request body in bytes (default {DEFAULT_MAX_BODY_BYTES} = 64 MiB).\n\
             max_body_bytes = {}\n\
             # Deadline of a query in milliseconds (default {DEFAULT_QUERY_DEADLINE_MS}).\n\
             query_deadline_ms = {}\n\
             # OTLP/HTTP collector for trace spans (base URL, http:// only; spans go to /v1/traces;\n\
             # OTEL_EXPORTER_OTLP_ENDPOINT wins). Metrics are at /metrics. Default: none, nothing is exported.\n\
             {otlp}\
             # Anti-entropy: publish a digest of the region's documents every this many\n\
             # milliseconds; a member that lacks some pulls them (default {DEFAULT_GOSSIP_INTERVAL_MS}).\n\
             gossip_interval_ms = {}\n\
             # Regions of at most this many members are a full mesh; in larger ones the node\n\
             # keeps about 2*log2(n) neighbours and dials other members when a query needs\n\
             # them (default {DEFAULT_FULL_MESH_UP_TO}).\n\
             full_mesh_up_to = {}\n\
             # Clerks (did:key) whose signature is accepted on desk/paper/phone consent records\n\
             # (default none; `regio init --clerk DID`).\n\
             clerks = [{}]\n\
             # The node's public web address: the catalog links to it (default: none).\n\
             {public_url}\
             # Re-sign the catalog's facts (record counts, time coverage) when they changed and\n\
             # the current version is older than this many seconds (default {DEFAULT_CATALOG_REFRESH_SECS}).\n\
             catalog_refresh_secs = {}\n",
            q(&self.nis),
            q(&self.name),
            q(&self.api),
            listen.join(", "),
            self.mdns,
            q(&self.data_dir.to_string_lossy()),
            self.max_body_bytes,
            self.query_deadline_ms,
            self.gossip_interval_ms,
            self.full_mesh_up_to,
            clerks.join(", "),
            self.catalog_refresh_secs,
        )
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_parses_back_equal() {
        let mut c = Config::new("44021", "Gent \"centrum\"");
        c.otlp_endpoint = Some("http://127.0.0.1:4318".into());
        c.public_url = Some("https://regio.gent.be".into());
        c.catalog_refresh_secs = 60;
        assert_eq!(Config::parse(&c.render(), Path::new("x.toml")).unwrap(), c);
        let c = Config::new("11002", "Antwerpen");
        assert_eq!(Config::parse(&c.render(), Path::new("x.toml")).unwrap(), c);
        let mut c = Config::new("11002", "Antwerpen");
        c.clerks = vec![
            regio_policy::Key::from_secret([7; 32]).did().clone(),
            regio_policy::Key::from_secret([8; 32]).did().clone(),
        ];
        assert_eq!(Config::parse(&c.render(), Path::new("x.toml")).unwrap(), c);
    }

    #[test]
    fn clerks_default_empty_and_bad_did_named() {
        assert!(
            Config::parse("nis = \"1\"\nname = \"x\"\n", Path::new("c.toml"))
                .unwrap()
                .clerks
                .is_empty()
        );
        let e = Config::parse(
            "nis = \"1\"\nname = \"x\"\nclerks = [\"did:web:x\"]\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("c.toml:3:") && e.contains("clerks"), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let text = "nis = \"1\"\nname = \"x\"\nmax_body_bytes = \"big\"\n";
        let e = Config::parse(text, Path::new("/n/config.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/n/config.toml:3:"), "{e}");
        assert!(e.contains("field `max_body_bytes`"), "{e}");
        let e = Config::parse(
            "nis = \"1\"\nname = \"x\"\nbogus = 1\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("c.toml:3") && e.contains("bogus"), "{e}");
        let e = Config::parse("name = \"x\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nis"), "{e}");
        let e = Config::parse(
            "nis = \"1\"\nname = \"x\"\napi = \"nope\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`api`"), "{e}");
    }
}
