//! Container test support (owner: deploy): Regio nodes in Docker containers of the image
//! `regio:dev` (`deploy/build-image.sh`; `REGIO_IMAGE` names another), driven with
//! testcontainers.
//!
//! - [`require_docker`]: the gate. Without a reachable Docker engine or without the image,
//!   a test **fails** when the `CI` environment variable is set and is **skipped** (with the
//!   reason printed) otherwise.
//! - **Engine API version.** testcontainers 0.28 speaks Docker Engine API 1.53 and does not
//!   negotiate; an older engine (Debian 12's Docker 20.10 answers 1.41 at most) refuses
//!   every such request. When the engine is older, [`require_docker`] starts a small
//!   in-process relay (127.0.0.1, a thread of its own) that forwards to the engine's unix
//!   socket and rewrites the version prefix `/v1.53/` of each request path to the engine's
//!   own (same length, so no framing changes), and points `DOCKER_HOST` at it. Responses
//!   pass unchanged. Nothing is relayed when the engine is recent enough.
//! - [`NodeContainer`]: one node — `regio init` as a one-shot container on a named volume
//!   (the image has no shell), then `regio node run`; its key and token copied out of the
//!   volume; SIGKILL, or a graceful stop (SIGTERM), and restart on the same volume (with
//!   the same address on its network: [`NodeContainer::pin_ip`]); the API reached through
//!   the port Docker publishes on 127.0.0.1.
//! - [`require_compose`]: the gate for `deploy/compose.yaml` (also needs `docker-compose`);
//!   [`compose_engine_host`] is the `DOCKER_HOST` to give it (never the relay).
// Test support: a failed unwrap fails the test that called it, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use regio_policy::Key;
use testcontainers::bollard;
use testcontainers::core::wait::ExitWaitStrategy;
use testcontainers::core::{IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// The node's API port inside the container.
pub const API_PORT: u16 = 7480;
/// The node's libp2p port inside the container.
pub const P2P_PORT: u16 = 7481;
const SOCKET: &str = "/var/run/docker.sock";

/// The image under test: `REGIO_IMAGE` or `regio:dev`, as (name, tag).
pub fn image() -> (String, String) {
    let full = std::env::var("REGIO_IMAGE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "regio:dev".into());
    match full.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n.to_owned(), t.to_owned()),
        _ => (full, "latest".into()),
    }
}

/// One HTTP/1.0 GET on the engine's unix socket: (status, body).
fn engine_get(path: &str) -> Result<(u16, String), String> {
    let mut s = std::os::unix::net::UnixStream::connect(SOCKET)
        .map_err(|e| format!("no Docker engine at {SOCKET}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|e| format!("Docker engine at {SOCKET}: {e}"))?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .map_err(|e| format!("Docker engine at {SOCKET}: {e}"))?;
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Checks the engine and the image; sets up the API relay when needed. `Err` is the reason.
fn check() -> Result<(), String> {
    let _ = ORIGINAL_DOCKER_HOST.set(std::env::var("DOCKER_HOST").ok());
    if std::env::var("DOCKER_HOST").is_ok_and(|h| !h.starts_with("unix://")) {
        return Ok(()); // the user's own engine: used as it is
    }
    let (_, body) = engine_get("/version")?;
    let version: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("Docker engine /version: {e}: {body}"))?;
    let engine = version["ApiVersion"]
        .as_str()
        .ok_or_else(|| format!("Docker engine /version has no ApiVersion: {body}"))?
        .to_owned();
    let (name, tag) = image();
    let (status, _) = engine_get(&format!("/v{engine}/images/{name}:{tag}/json"))?;
    if status != 200 {
        return Err(format!(
            "image {name}:{tag} not found: build it with deploy/build-image.sh"
        ));
    }
    let client = bollard::API_DEFAULT_VERSION;
    let client = format!("{}.{}", client.major_version, client.minor_version);
    let parse = |v: &str| {
        v.split_once('.')
            .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
    };
    if parse(&engine) >= parse(&client) {
        return Ok(());
    }
    if engine.len() != client.len() {
        return Err(format!("Docker engine API {engine} is older than testcontainers' {client} and cannot be relayed"));
    }
    let port = relay(
        format!("/v{client}/").into_bytes(),
        format!("/v{engine}/").into_bytes(),
    )?;
    // Before any testcontainers client exists (this runs once, first).
    std::env::set_var("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"));
    Ok(())
}

/// `DOCKER_HOST` as it was before [`require_docker`] (which may point it at the relay).
static ORIGINAL_DOCKER_HOST: OnceLock<Option<String>> = OnceLock::new();

/// The `DOCKER_HOST` for other Docker clients (docker-compose negotiates its API version
/// itself, so it gets the engine, not the relay): the user's own, or none.
pub fn compose_engine_host() -> Option<String> {
    ORIGINAL_DOCKER_HOST.get().cloned().flatten()
}

/// [`require_docker`], and `docker-compose` (1.29+) runs. `None`: skip (not in CI).
pub fn require_compose(test: &str) -> Option<()> {
    require_docker(test)?;
    let mut version = std::process::Command::new("docker-compose");
    version.arg("version").arg("--short");
    match compose_engine_host() {
        Some(h) => version.env("DOCKER_HOST", h),
        None => version.env_remove("DOCKER_HOST"),
    };
    let reason = match version.output() {
        Ok(o) if o.status.success() => return Some(()),
        Ok(o) => format!(
            "docker-compose version failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("docker-compose not found: {e}"),
    };
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
        panic!("{test}: compose tests cannot run: {reason} (CI is set, so this is a failure)");
    }
    eprintln!("skipping {test}: {reason}");
    None
}

/// Whether container tests can run here. `None`: the reason why not was printed and the
/// test should return (not in CI: there it panics instead).
pub fn require_docker(test: &str) -> Option<()> {
    static STATE: OnceLock<Result<(), String>> = OnceLock::new();
    match STATE.get_or_init(check) {
        Ok(()) => Some(()),
        Err(reason) if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") => {
            panic!("{test}: container tests cannot run: {reason} (CI is set, so this is a failure)")
        }
        Err(reason) => {
            eprintln!("skipping {test}: {reason}");
            None
        }
    }
}

/// Starts the version-rewriting relay; returns its TCP port.
fn relay(from: Vec<u8>, to: Vec<u8>) -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("relay: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("relay: {e}"))?
        .port();
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("relay: {e}"))?;
    std::thread::Builder::new()
        .name("docker-api-relay".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((client, _)) = listener.accept().await {
                    let (from, to) = (from.clone(), to.clone());
                    tokio::spawn(async move {
                        let Ok(engine) = tokio::net::UnixStream::connect(SOCKET).await else {
                            return;
                        };
                        let (mut cr, mut cw) = client.into_split();
                        let (mut er, mut ew) = engine.into_split();
                        let up = rewrite(&mut cr, &mut ew, &from, &to);
                        let down = tokio::io::copy(&mut er, &mut cw);
                        let _ = tokio::join!(up, down);
                    });
                }
            });
        })
        .map_err(|e| format!("relay: {e}"))?;
    Ok(port)
}

/// Copies `r` to `w`, replacing `from` by `to` (same length). A tail that could begin
/// `from` is held back until more bytes come, or 20 ms pass.
async fn rewrite<R, W>(r: &mut R, w: &mut W, from: &[u8], to: &[u8]) -> std::io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let read = if pending.is_empty() {
            r.read(&mut buf).await
        } else {
            match tokio::time::timeout(Duration::from_millis(20), r.read(&mut buf)).await {
                Ok(n) => n,
                Err(_) => {
                    w.write_all(&std::mem::take(&mut pending)).await?;
                    continue;
                }
            }
        };
        let n = read?;
        if n == 0 {
            w.write_all(&pending).await?;
            return w.shutdown().await;
        }
        pending.extend_from_slice(&buf[..n]);
        let mut i = 0;
        while i + from.len() <= pending.len() {
            if &pending[i..i + from.len()] == from {
                pending[i..i + from.len()].copy_from_slice(to);
                i += from.len();
            } else {
                i += 1;
            }
        }
        // Hold back the longest tail that is a proper prefix of `from`.
        let keep = (1..from.len())
            .rev()
            .find(|&k| k <= pending.len() && pending.ends_with(&from[..k]))
            .unwrap_or(0);
        let send: Vec<u8> = pending.drain(..pending.len() - keep).collect();
        w.write_all(&send).await?;
    }
}

/// A name unique to this test run: `regio-test-PID-NANOS-what`.
pub fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("regio-test-{}-{nanos:09}-{what}", std::process::id())
}

/// What `regio init` made on a node's volume.
#[derive(Clone)]
pub struct NodeFiles {
    /// The node's key (its did:key and libp2p identity).
    pub key: Key,
    /// The admin token.
    pub token: String,
}

/// One node in a container: its volume, network and published API.
pub struct NodeContainer {
    /// The container (removed on drop; the volume is not).
    pub container: ContainerAsync<GenericImage>,
    /// The container's name (its host name on the network).
    pub name: String,
    /// The named volume holding the node directory.
    pub volume: String,
    /// Key and token.
    pub files: NodeFiles,
}

fn regio_image() -> GenericImage {
    let (name, tag) = image();
    GenericImage::new(name, tag)
}

impl NodeContainer {
    /// Runs `regio init` on the named volume `volume` (created if missing) in a one-shot
    /// container, then starts `regio node run` on it in the container `name` on `network`,
    /// and waits until it listens.
    pub async fn start(
        name: &str,
        network: &str,
        volume: &str,
        nis: &str,
        municipality: &str,
    ) -> NodeContainer {
        let init = regio_image()
            .with_wait_for(WaitFor::exit(ExitWaitStrategy::new().with_exit_code(0)))
            .with_cmd([
                "init",
                "--dir",
                "/data",
                "--nis",
                nis,
                "--name",
                municipality,
                "--api",
                "0.0.0.0:7480",
                "--listen",
                "/ip4/0.0.0.0/tcp/7481",
            ])
            .with_mount(Mount::volume_mount(volume, "/data"))
            .with_container_name(format!("{name}-init"))
            .start()
            .await
            .unwrap_or_else(|e| panic!("regio init in a container for {name}: {e}"));
        let key = init
            .copy_file_from("/data/node.key", Vec::<u8>::new())
            .await
            .expect("copy node.key out of the volume");
        let token = init
            .copy_file_from("/data/admin.token", Vec::<u8>::new())
            .await
            .expect("copy admin.token out of the volume");
        drop(init);
        let key = Key::from_file_json(&String::from_utf8_lossy(&key)).expect("node.key");
        let token = String::from_utf8_lossy(&token).trim().to_owned();
        let container = regio_image()
            .with_exposed_port(API_PORT.tcp())
            .with_wait_for(WaitFor::message_on_stdout("listening on http://"))
            .with_network(network)
            .with_mount(Mount::volume_mount(volume, "/data"))
            .with_container_name(name)
            .with_startup_timeout(Duration::from_secs(60))
            .start()
            .await
            .unwrap_or_else(|e| panic!("regio node run in container {name}: {e}"));
        NodeContainer {
            container,
            name: name.to_owned(),
            volume: volume.to_owned(),
            files: NodeFiles { key, token },
        }
    }

    /// The API's URL on the host (the published port can change on restart).
    pub async fn url(&self) -> String {
        let port = self
            .container
            .get_host_port_ipv4(API_PORT)
            .await
            .expect("published API port");
        format!("http://127.0.0.1:{port}")
    }

    /// Kills the node with SIGKILL (no shutdown at all).
    pub async fn kill(&self) {
        let docker = testcontainers::core::client::docker_client_instance()
            .await
            .expect("docker client");
        let opts = bollard::query_parameters::KillContainerOptionsBuilder::default()
            .signal("SIGKILL")
            .build();
        docker
            .kill_container(self.container.id(), Some(opts))
            .await
            .expect("kill the container");
        let started = Instant::now();
        while self.container.is_running().await.unwrap_or(false) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{} still runs 20 s after SIGKILL",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts the stopped container again (same volume) and waits until `/health` answers.
    pub async fn restart(&self) -> String {
        self.container.start().await.expect("restart the container");
        let url = self.url().await;
        wait_healthy(&url, Duration::from_secs(30)).await;
        url
    }
}

/// Removes named volumes (after their containers are gone).
pub async fn remove_volumes(names: &[String]) {
    let Ok(docker) = testcontainers::core::client::docker_client_instance().await else {
        return;
    };
    for n in names {
        let opts = bollard::query_parameters::RemoveVolumeOptionsBuilder::default()
            .force(true)
            .build();
        let _ = docker.remove_volume(n, Some(opts)).await;
    }
}

/// Polls `GET url/health` until it answers 200, or panics after `within`.
pub async fn wait_healthy(url: &str, within: Duration) {
    let started = Instant::now();
    loop {
        if let Ok((200, _)) = http("GET", &format!("{url}/health"), None, Vec::new()).await {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{url} not healthy after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One HTTP request (on a blocking thread): (status, body). `token` is sent as bearer.
pub async fn http(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> Result<(u16, String), String> {
    let (method, url, token) = (method.to_owned(), url.to_owned(), token.map(str::to_owned));
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = if method == "GET" {
            let mut r = agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        } else {
            let mut r = agent.post(&url).header("Content-Type", "application/json");
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send(&body[..])
        };
        let mut response = response.map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(|e| format!("{method} {url}: body: {e}"))?;
        Ok((status, text))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// [`http`] that must answer 2xx with JSON.
pub async fn ok_json(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> serde_json::Value {
    let (status, text) = http(method, url, token, body)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        (200..300).contains(&status),
        "{method} {url}: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {url}: not JSON ({e}): {text}"))
}

/// Creates the user-defined bridge network `name` with a /24 subnet of its own in
/// 10.128.0.0/9 (tried until Docker accepts one), so that a container can be reconnected
/// with the IP it had; returns the subnet. Remove it with [`remove_network`].
pub async fn create_network(name: &str) -> String {
    use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .expect("docker client");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    let mut last = String::new();
    for k in 0..16u32 {
        let n = seed.wrapping_add(k.wrapping_mul(2_654_435_761)) % (128 * 256);
        let subnet = format!("10.{}.{}.0/24", 128 + n / 256, n % 256);
        let ipam = Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.clone()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let request = NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some("bridge".into()),
            ipam: Some(ipam),
            ..Default::default()
        };
        match docker.create_network(request).await {
            Ok(_) => return subnet,
            Err(e) => last = e.to_string(),
        }
    }
    panic!("network {name}: no free subnet in 10.128.0.0/9 after 16 tries; last: {last}")
}

/// Removes the network `name`, waiting (at most 30 s) until its containers are gone —
/// testcontainers removes dropped containers in the background.
pub async fn remove_network(name: &str) {
    let Ok(docker) = testcontainers::core::client::docker_client_instance().await else {
        return;
    };
    let started = Instant::now();
    loop {
        match docker.remove_network(name).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return,
            Err(e) if started.elapsed() > Duration::from_secs(30) => {
                eprintln!("network {name} not removed: {e}");
                return;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

impl NodeContainer {
    /// The container's IPv4 address on `network`.
    pub async fn ip(&self, network: &str) -> String {
        let docker = testcontainers::core::client::docker_client_instance()
            .await
            .expect("docker client");
        let info = docker
            .inspect_container(self.container.id(), None)
            .await
            .expect("inspect the container");
        let networks = info
            .network_settings
            .and_then(|s| s.networks)
            .unwrap_or_default();
        let ip = networks
            .get(network)
            .and_then(|e| e.ip_address.clone())
            .filter(|ip| !ip.is_empty());
        ip.unwrap_or_else(|| {
            panic!(
                "{} has no address on {network}: {:?}",
                self.name,
                networks.keys().collect::<Vec<_>>()
            )
        })
    }

    /// Cuts the container off `network` (a partition: its peers' connections break).
    pub async fn disconnect(&self, network: &str) {
        let docker = testcontainers::core::client::docker_client_instance()
            .await
            .expect("docker client");
        let request = bollard::models::NetworkDisconnectRequest {
            container: self.container.id().to_owned(),
            force: Some(true),
        };
        docker
            .disconnect_network(network, request)
            .await
            .unwrap_or_else(|e| panic!("disconnect {} from {network}: {e}", self.name));
    }

    /// Connects the container to `network` again with the address `ip` (the one its region
    /// manifest names).
    pub async fn connect(&self, network: &str, ip: &str) {
        use bollard::models::{EndpointIpamConfig, EndpointSettings, NetworkConnectRequest};
        let docker = testcontainers::core::client::docker_client_instance()
            .await
            .expect("docker client");
        let endpoint = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(ip.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let request = NetworkConnectRequest {
            container: self.container.id().to_owned(),
            endpoint_config: Some(endpoint),
        };
        docker
            .connect_network(network, request)
            .await
            .unwrap_or_else(|e| panic!("connect {} to {network} as {ip}: {e}", self.name));
    }

    /// Stops the node gracefully: `docker stop` sends SIGTERM and SIGKILL only after
    /// `grace`. Returns the exit code (0: the node shut down by itself) and the time taken.
    pub async fn stop_gracefully(&self, grace: Duration) -> (i64, Duration) {
        let started = Instant::now();
        let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        self.container
            .stop_with_timeout(Some(seconds))
            .await
            .unwrap_or_else(|e| panic!("stop {}: {e}", self.name));
        let took = started.elapsed();
        let code = self
            .container
            .exit_code()
            .await
            .unwrap_or_else(|e| panic!("exit code of {}: {e}", self.name));
        (
            code.unwrap_or_else(|| panic!("{} still runs after docker stop", self.name)),
            took,
        )
    }

    /// While the container is stopped: gives it the address `ip` on `network` again when it
    /// starts (Docker may hand a restarted container another one; the region manifest names
    /// this one).
    pub async fn pin_ip(&self, network: &str, ip: &str) {
        self.disconnect(network).await;
        self.connect(network, ip).await;
    }

    /// Rewrites the node's `config.toml` with `edit` and restarts the node on it: the
    /// container is stopped (SIGTERM), a one-shot container writes the edited file into the
    /// volume (the image has no shell), and the node starts again. Returns the API's URL.
    pub async fn edit_config(&self, edit: impl FnOnce(&str) -> String) -> String {
        self.container.stop().await.expect("stop the container");
        let text = self
            .container
            .copy_file_from("/data/config.toml", Vec::<u8>::new())
            .await
            .expect("copy config.toml out of the volume");
        let text = edit(&String::from_utf8_lossy(&text));
        let writer = regio_image()
            .with_wait_for(WaitFor::exit(ExitWaitStrategy::new().with_exit_code(0)))
            .with_cmd(["--version"])
            .with_mount(Mount::volume_mount(&self.volume, "/data"))
            .with_copy_to("/data/config.toml", text.into_bytes())
            .with_container_name(format!("{}-config", self.name))
            .start()
            .await
            .unwrap_or_else(|e| panic!("write config.toml for {}: {e}", self.name));
        drop(writer);
        self.restart().await
    }
}

/// Municipality `i`'s demo rows (`regio_demo::data`, `days` × `sensors`) as the
/// NDJSON `POST /v1/datasets/readings/records?format=ndjson` takes.
pub fn demo_rows_ndjson(i: usize, days: usize, sensors: usize) -> String {
    use regio_query::schema::Value as Cell;
    use serde_json::{json, Value};
    let ts = |micros: i64| {
        chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    };
    let schema = regio_demo::data::readings_schema();
    let mut out = String::new();
    for row in regio_demo::data::municipality(i, days, sensors).rows {
        let obj: serde_json::Map<String, Value> = schema
            .fields
            .iter()
            .zip(row)
            .map(|(f, v)| {
                let v = match v {
                    Cell::Str(s) => Value::String(s),
                    Cell::Float(x) => json!(x),
                    Cell::Int(n) => json!(n),
                    Cell::Ts(t) => json!(ts(t)),
                    _ => Value::Null,
                };
                (f.name.clone(), v)
            })
            .collect();
        out.push_str(&Value::Object(obj).to_string());
        out.push('\n');
    }
    out
}

/// Municipality `i`'s demo consent as the NDJSON `POST /v1/consent/import?format=ndjson` takes.
pub fn demo_consent_ndjson(i: usize, days: usize, sensors: usize) -> String {
    let ts = |micros: i64| {
        chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    };
    regio_demo::data::municipality(i, days, sensors)
        .consent
        .iter()
        .map(|c| {
            let line = serde_json::json!({"subject": c.subject, "purpose": c.purposes.first(), "granted": c.given, "given_at": ts(c.given_at), "withdrawn_at": c.withdrawn_at.and_then(ts)});
            line.to_string() + "\n"
        })
        .collect()
}

/// How many of municipality `i`'s demo rows count for `ResearchAndDevelopment` now: city
/// sensors, and citizens whose consent is in force.
pub fn demo_expected_count(i: usize, days: usize, sensors: usize) -> u64 {
    use regio_query::schema::Value as Cell;
    let d = regio_demo::data::municipality(i, days, sensors);
    let now = chrono::Utc::now().timestamp_micros();
    let consenting: std::collections::HashSet<&str> = d
        .consent
        .iter()
        .filter(|c| c.active_at(now))
        .map(|c| c.subject.as_str())
        .collect();
    d.rows
        .iter()
        .filter(|r| !matches!(&r[3], Cell::Str(s) if !consenting.contains(s.as_str())))
        .count() as u64
}

/// Three node containers (the first three demo municipalities: Gent, Antwerpen, Brugge), each
/// on a volume of its own, on a new user-defined network — what the partition and rolling
/// tests start from. Remove the network and volumes with [`remove_network`] and
/// [`remove_volumes`] once the containers are gone.
pub struct Trio {
    /// The network's name.
    pub network: String,
    /// Its subnet.
    pub subnet: String,
    /// The data volume of each node.
    pub volumes: Vec<String>,
    /// The nodes, started (`regio node run`), in municipality order.
    pub nodes: [NodeContainer; 3],
}

impl Trio {
    /// Creates the network `<prefix>-net-…` and starts the three nodes on it concurrently.
    pub async fn start(prefix: &str) -> Trio {
        use regio_demo::data::MUNICIPALITIES;
        let network = unique(&format!("{prefix}-net"));
        let subnet = create_network(&network).await;
        let volumes: Vec<String> = MUNICIPALITIES[..3]
            .iter()
            .map(|(_, name)| unique(&format!("{}-data", name.to_lowercase())))
            .collect();
        let start = |i: usize| {
            let (nis, name) = MUNICIPALITIES[i];
            let (network, volume) = (network.clone(), volumes[i].clone());
            async move {
                NodeContainer::start(&unique(&name.to_lowercase()), &network, &volume, nis, name)
                    .await
            }
        };
        let (a, b, c) = tokio::join!(start(0), start(1), start(2));
        Trio {
            network,
            subnet,
            volumes,
            nodes: [a, b, c],
        }
    }

    /// The region's members as they are now: each node's IP on the network, the demo actors
    /// with the nodes' own keys, and each member's p2p address (`/ip4/IP/tcp/P2P_PORT`).
    pub async fn members(&self) -> (Vec<String>, regio_demo::region::Actors, Vec<Vec<String>>) {
        let mut ips = Vec::new();
        for n in &self.nodes {
            ips.push(n.ip(&self.network).await);
        }
        eprintln!("network {} ({}): {ips:?}", self.network, self.subnet);
        let mut actors = regio_demo::region::Actors::new(3);
        actors.nodes = self.nodes.iter().map(|n| n.files.key.clone()).collect();
        let addresses = ips
            .iter()
            .map(|ip| vec![format!("/ip4/{ip}/tcp/{P2P_PORT}")])
            .collect();
        (ips, actors, addresses)
    }
}
