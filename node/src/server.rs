//! Node startup and shutdown (owner: HTTP/operations), after mini-redis's `server.rs`:
//! [`Node::open`] loads a node directory (config, key, token) and opens the store;
//! [`Node::serve`] starts the network (libp2p on the config's `listen` addresses; joins the
//! regions the node is in; applies gossip; anti-entropy every `gossip_interval_ms`), binds
//! the API, prints `listening on http://ADDR did=DID` and then one `p2p MULTIADDR/p2p/PEERID`
//! line per listen address on stdout, serves until the `shutdown` future resolves, and then
//! stops in order: the API (in-flight requests finish), the network task (awaited), and
//! last the store (every acknowledged write is already durable).
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
    /// The network could not start (a `listen` address that is not a multiaddr, or in use).
    #[error("cannot start the network: {0} (check `listen` in config.toml)")]
    Net(String),
    /// Metrics could not be set up.
    #[error(transparent)]
    Metrics(#[from] api::metrics::MetricsError),
    /// The signed audit checkpoint of a clean shutdown could not be written (the node has
    /// stopped; every acknowledged write is durable, but the log's head is not covered by a
    /// checkpoint until the next start writes one).
    #[error("the audit checkpoint at shutdown could not be written: {0}")]
    Checkpoint(StoreError),
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
    std::fs::read_to_string(path).map_err(|source| ServerError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl Node {
    /// Loads `dir` (config, key, token) and opens its store.
    pub fn open(dir: &Path) -> Result<Node, ServerError> {
        let config = Config::load(&dir.join(CONFIG_FILE))?;
        let key_path = dir.join(KEY_FILE);
        let key = Key::from_file_json(&read(&key_path)?).map_err(|e| ServerError::Key {
            path: key_path,
            message: e.to_string(),
        })?;
        let token_path = dir.join(TOKEN_FILE);
        let token =
            AdminToken::parse(&read(&token_path)?).map_err(|source| ServerError::Token {
                path: token_path,
                source,
            })?;
        let data = config.data_path(dir);
        let store =
            Store::open_sled(&data).map_err(|source| ServerError::Store { path: data, source })?;
        let engine = crate::engine::Engine::open(
            store.clone(),
            key.clone(),
            config.clerks.clone(),
            crate::policy::decision::Limits::default(),
        )?;
        let state = AppState {
            store,
            engine: Arc::new(engine),
            key: Arc::new(key),
            config: Arc::new(config),
            token: Arc::new(token),
            metrics: Arc::new(Metrics::new()?),
            net: None,
        };
        Ok(Node {
            dir: dir.to_path_buf(),
            state,
        })
    }

    /// Starts the network, then serves the API on `api` (default: the config's) until
    /// `shutdown` resolves; then stops the API, the network, and drops the store.
    pub async fn serve(
        mut self,
        api: Option<&str>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let addr = api.unwrap_or(&self.state.config.api).to_string();
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let bound: SocketAddr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let running = self.start_net().await?;
        self.state.net = Some(running.net.clone());
        let did = self.state.key.did().as_str().to_string();
        let p2p = match running.net.listen_addrs().await {
            Ok(addrs) => addrs,
            Err(e) => {
                tracing::error!(error = %e, "could not list the p2p listen addresses");
                Vec::new()
            }
        };
        {
            let mut out = std::io::stdout().lock();
            let mut lines = format!(
                "listening on http://{bound} did={did} dir={}\n",
                self.dir.display()
            );
            for a in &p2p {
                lines.push_str(&format!("p2p {a}/p2p/{}\n", running.net.peer_id()));
            }
            // A closed stdout must not stop the node; the log says so.
            if let Err(e) = out.write_all(lines.as_bytes()).and_then(|()| out.flush()) {
                tracing::warn!(error = %e, "could not print the listening lines on stdout");
            }
        }
        let app = api::router(self.state.clone());
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServerError::Serve);
        running.stop().await;
        // Clean shutdown: sign the audit head.
        let checkpoint = self
            .state
            .store
            .checkpoint_now(chrono::Utc::now().timestamp_micros());
        drop(self.state);
        match (served, checkpoint) {
            (Err(e), Err(c)) => {
                tracing::error!(error = %c, "the audit checkpoint at shutdown could not be written");
                Err(e)
            }
            (Err(e), Ok(_)) => Err(e),
            (Ok(()), Err(c)) => Err(ServerError::Checkpoint(c)),
            (Ok(()), Ok(_)) => Ok(()),
        }
    }

    async fn start_net(&self) -> Result<crate::federation::run::Running, ServerError> {
        let c = &self.state.config;
        let listen = c
            .listen
            .iter()
            .map(|l| {
                l.parse::<crate::net::Multiaddr>()
                    .map_err(|e| ServerError::Net(format!("listen address `{l}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let net_config = crate::net::NetConfig::default()
            .with_listen(listen)
            .with_mdns(c.mdns)
            .with_full_mesh_up_to(c.full_mesh_up_to);
        let interval = std::time::Duration::from_millis(c.gossip_interval_ms);
        crate::federation::run::start(
            self.state.engine.clone(),
            &self.state.key,
            net_config,
            interval,
        )
        .await
        .map_err(|e| ServerError::Net(e.to_string()))
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for SIGINT; only SIGTERM stops the node");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the node");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
