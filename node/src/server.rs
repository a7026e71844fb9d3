//! Assembling, running and stopping a node (after mini-redis's `server.rs`). **[`start`] is
//! the one function that puts a running node together**: production (`regio node run`
//! through [`Node::serve`]), `regio demo`, every multi-node test and the benches call it;
//! they choose its [`Spec`] (ports, intervals, data, limits), never its wiring.
//!
//! [`start`], in order: opens the engine on the store (verifying what is stored), starts the
//! network (libp2p on the spec's listen addresses) with federation — peers answered by the
//! engine, gossip applied and regions re-joined when a manifest version takes effect,
//! anti-entropy every `gossip_interval_ms` (see [`crate::federation::run`]) — binds the API
//! and serves it with the limits of `[http]` ([`crate::api::listen`]). [`Running::stop`] takes it down in order: the API (in-flight requests
//! finish), federation and the network task (awaited), then a signed audit checkpoint of the
//! log's head, then the store is dropped (every acknowledged write is already durable).
//!
//! [`Node::open`] loads a node directory (config, key, token, sled store) into a [`Spec`];
//! [`Node::serve`] runs it until a shutdown future resolves, printing
//! `listening on http://ADDR did=DID dir=DIR` and one `p2p MULTIADDR/p2p/PEERID` line per
//! listen address on stdout. [`shutdown_signal`] resolves on SIGINT or SIGTERM.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::{self, AdminToken, AppState, Metrics};
use crate::config::{Config, ConfigError, CONFIG_FILE, KEY_FILE, TOKEN_FILE};
use crate::engine::Engine;
use crate::federation;
use regio_net::{Handle, Multiaddr, NetConfig};
use regio_policy::decision::Limits;
use regio_policy::Key;
use regio_store::{Store, StoreError};

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

/// Everything a running node is made of and configured with. Build it with [`Spec::new`]
/// (or [`Node::open`]) and adjust fields before [`start`].
pub struct Spec {
    /// The node's configuration: API address, libp2p listen addresses, gossip interval,
    /// deadlines, clerks, …
    pub config: Config,
    /// The node's key (its DID and its libp2p identity).
    pub key: Key,
    /// The admin bearer token.
    pub token: AdminToken,
    /// The open store.
    pub store: Store,
    /// The network's transport tunables (idle timeout, size caps, connection limits); its
    /// listen addresses, mDNS and mesh size are always those of `config`.
    pub net: NetConfig,
    /// Limits of the decision engine.
    pub limits: Limits,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec")
            .field("did", &self.key.did().as_str())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Spec {
    /// A spec for `config` with the default network tunables and decision limits.
    pub fn new(config: Config, key: Key, token: AdminToken, store: Store) -> Spec {
        Spec {
            config,
            key,
            token,
            store,
            net: NetConfig::default(),
            limits: Limits::default(),
        }
    }

    /// The network configuration: the transport tunables of `net`, with the listen
    /// addresses, mDNS and mesh size of `config`.
    fn net_config(&self) -> Result<NetConfig, ServerError> {
        let c = &self.config;
        let listen = c
            .listen
            .iter()
            .map(|l| {
                l.parse::<Multiaddr>()
                    .map_err(|e| ServerError::Net(format!("listen address `{l}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self
            .net
            .clone()
            .with_listen(listen)
            .with_mdns(c.mdns)
            .with_full_mesh_up_to(c.full_mesh_up_to))
    }
}

/// A running node. Stop it with [`Running::stop`]; dropped without it, its tasks run on
/// until the runtime ends.
pub struct Running {
    /// What every API handler shares: store, engine, key, config, token, metrics, network.
    pub state: AppState,
    /// The address the API is bound to.
    pub api: SocketAddr,
    federation: federation::run::Running,
    api_stop: oneshot::Sender<()>,
    api_task: JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("did", &self.state.key.did().as_str())
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

/// Assembles and starts a node from `spec`: engine, network with federation (gossip,
/// re-join, anti-entropy), API. See the module doc.
pub async fn start(spec: Spec) -> Result<Running, ServerError> {
    let net = spec.net_config()?;
    let Spec {
        config,
        key,
        token,
        store,
        limits,
        ..
    } = spec;
    let engine = Arc::new(Engine::open(
        store.clone(),
        key.clone(),
        config.clerks.clone(),
        limits,
    )?);
    engine.set_caps(config.documents);
    engine
        .open_catalogs(crate::engine::catalog::Settings {
            nis: config.nis.clone(),
            name: config.name.clone(),
            homepage: config.public_url.clone(),
            refresh_secs: config.catalog_refresh_secs,
        })
        .map_err(|e| ServerError::Net(format!("catalog: {e}")))?;
    if let Some(c) = engine.catalogs() {
        // A first version (or one with today's facts) before the region asks for it.
        if let Err(e) = c.current(&engine, chrono::Utc::now()) {
            tracing::warn!(error = %e, "the catalog could not be signed at start");
        }
    }
    let listener = tokio::net::TcpListener::bind(&config.api)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.api.clone(),
            source,
        })?;
    let api_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.api.clone(),
        source,
    })?;
    let interval = Duration::from_millis(config.gossip_interval_ms);
    let fed = federation::run::start(engine.clone(), &key, net, interval)
        .await
        .map_err(|e| ServerError::Net(e.to_string()))?;
    let state = AppState {
        store,
        engine,
        key: Arc::new(key),
        config: Arc::new(config),
        token: Arc::new(token),
        metrics: Arc::new(Metrics::new()?),
        net: Some(fed.net.clone()),
    };
    let (api_stop, stopped) = oneshot::channel::<()>();
    let app = api::router(state.clone());
    let http = state.config.http.clone();
    let api_task = tokio::spawn(async move {
        api::listen::serve(listener, app, &http, async move {
            // A dropped sender (the Running was dropped) also stops the API.
            let _ = stopped.await;
        })
        .await
    });
    Ok(Running {
        state,
        api: api_addr,
        federation: fed,
        api_stop,
        api_task,
    })
}

impl Running {
    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.state.engine
    }

    /// The network handle.
    pub fn net(&self) -> &Handle {
        &self.federation.net
    }

    /// The API's base URL, `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// Stops the node in order (see the module doc). The engine and store stay readable
    /// through any `Arc<Engine>` the caller kept. Returns the API server's error if it
    /// failed while serving, else the checkpoint's if the audit head could not be signed.
    pub async fn stop(self) -> Result<(), ServerError> {
        let Running {
            state,
            api: _,
            federation,
            api_stop,
            api_task,
        } = self;
        if api_stop.send(()).is_err() {
            tracing::debug!("the API server had already stopped");
        }
        let served = match api_task.await {
            Ok(r) => r.map_err(ServerError::Serve),
            Err(e) => Err(ServerError::Serve(std::io::Error::other(format!(
                "the API task failed: {e}"
            )))),
        };
        federation.stop().await;
        // Clean shutdown: sign the audit head, so that the log up to here cannot be rewritten.
        let checkpoint = state
            .store
            .checkpoint_now(chrono::Utc::now().timestamp_micros());
        drop(state);
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
}

/// A node directory, loaded: its path and the [`Spec`] of its node.
#[derive(Debug)]
pub struct Node {
    /// The node directory.
    pub dir: PathBuf,
    /// What the node is made of.
    pub spec: Spec,
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
        Ok(Node {
            dir: dir.to_path_buf(),
            spec: Spec::new(config, key, token, store),
        })
    }

    /// Starts the node ([`start`]), with the API on `api` (default: the config's), prints
    /// where it listens, serves until `shutdown` resolves, then stops it in order.
    pub async fn serve(
        mut self,
        api: Option<&str>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        if let Some(a) = api {
            self.spec.config.api = a.to_string();
        }
        let running = start(self.spec).await?;
        let did = running.state.key.did().as_str().to_string();
        let p2p = match running.net().listen_addrs().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the p2p listen addresses to print them");
                Vec::new()
            }
        };
        {
            let mut out = std::io::stdout().lock();
            let mut lines = vec![format!(
                "listening on {} did={did} dir={}",
                running.url(),
                self.dir.display()
            )];
            lines.extend(
                p2p.iter()
                    .map(|a| format!("p2p {a}/p2p/{}", running.net().peer_id())),
            );
            for line in lines {
                if let Err(e) = writeln!(out, "{line}") {
                    // A closed stdout must not stop the node.
                    tracing::warn!(error = %e, "could not print to stdout: {line}");
                }
            }
            if let Err(e) = out.flush() {
                tracing::warn!(error = %e, "could not flush stdout");
            }
        }
        shutdown.await;
        running.stop().await
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
