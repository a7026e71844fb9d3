//! Node startup and shutdown (owner: HTTP/operations), after mini-redis's `server.rs`:
//! [`Node::open`] loads a node directory (config, key, token) and opens the store;
//! [`Node::serve`] binds the API, prints `listening on http://ADDR did=DID` on stdout,
//! serves until the `shutdown` future resolves, lets in-flight requests finish, then
//! drops the store (every acknowledged write is already durable) and returns.
//! [`shutdown_signal`] resolves on SIGINT or SIGTERM.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::api::{self, AdminToken, AppState, Metrics};
use crate::config::{Config, ConfigError, CONFIG_FILE, KEY_FILE, TOKEN_FILE};
use crate::policy::Key;
use crate::store::{Store, StoreError};

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The config file is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file of the node directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file is not a valid key.
    #[error("{path} is not a valid key file: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The token file is not a valid token.
    #[error("{path}: {source}")]
    Token {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: api::auth::TokenError,
    },
    /// The store could not be opened.
    #[error("cannot open the store in {path}: {source}")]
    Store {
        /// The storage directory.
        path: PathBuf,
        /// The storage error.
        source: StoreError,
    },
    /// The API address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another node running? choose another `api` address or --api)")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the API server failed: {0}")]
    Serve(std::io::Error),
    /// The engine could not start.
    #[error("cannot start the engine: {0}")]
    Engine(#[from] crate::engine::OpenError),
    /// Metrics could not be set up.
    #[error(transparent)]
    Metrics(#[from] api::metrics::MetricsError),
}

/// A loaded node: its directory, config, key, token and open store.
#[derive(Debug)]
pub struct Node {
    /// The node directory.
    pub dir: PathBuf,
    /// What every API handler shares.
    pub state: AppState,
}

fn read(path: &Path) -> Result<String, ServerError> {
    std::fs::read_to_string(path).map_err(|source| ServerError::Read { path: path.to_path_buf(), source })
}

impl Node {
    /// Loads `dir` (config, key, token) and opens its store.
    pub fn open(dir: &Path) -> Result<Node, ServerError> {
        let config = Config::load(&dir.join(CONFIG_FILE))?;
        let key_path = dir.join(KEY_FILE);
        let key = Key::from_file_json(&read(&key_path)?).map_err(|e| ServerError::Key { path: key_path, message: e.to_string() })?;
        let token_path = dir.join(TOKEN_FILE);
        let token = AdminToken::parse(&read(&token_path)?).map_err(|source| ServerError::Token { path: token_path, source })?;
        let data = config.data_path(dir);
        let store = Store::open_sled(&data).map_err(|source| ServerError::Store { path: data, source })?;
        let engine = crate::engine::Engine::open(store.clone(), key.clone(), [], crate::policy::decision::Limits::default())?;
        let state = AppState {
            store,
            engine: Arc::new(engine),
            key: Arc::new(key),
            config: Arc::new(config),
            token: Arc::new(token),
            metrics: Arc::new(Metrics::new()?),
        };
        Ok(Node { dir: dir.to_path_buf(), state })
    }

    /// Serves the API on `api` (default: the config's) until `shutdown` resolves.
    pub async fn serve(self, api: Option<&str>, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let addr = api.unwrap_or(&self.state.config.api).to_string();
        let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|source| ServerError::Bind { addr: addr.clone(), source })?;
        let bound: SocketAddr = listener.local_addr().map_err(|source| ServerError::Bind { addr, source })?;
        let did = self.state.key.did().as_str().to_string();
        {
            let mut out = std::io::stdout().lock();
            // A closed stdout must not stop the node.
            let _ = writeln!(out, "listening on http://{bound} did={did} dir={}", self.dir.display());
            let _ = out.flush();
        }
        let app = api::router(self.state.clone());
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await.map_err(ServerError::Serve)?;
        let _ = self.state.store.checkpoint_now(chrono::Utc::now().timestamp_micros()); // clean shutdown: sign the audit head
        drop(self.state);
        Ok(())
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
