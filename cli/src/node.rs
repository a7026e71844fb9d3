//! `regio node run`: runs a node (API and federation) until SIGINT or SIGTERM.
//! `regio node wait`: waits until a node answers `/health` (scripts start a node in the
//! background, then wait for it; the README does).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use regio_http::node::HealthReply;
use regio_http::region::{ListRegions, RegionView};
use regio_http::Endpoint;
use regio_node::server::{shutdown_signal, Node};

use crate::client::{self, Unreachable};

/// `regio node run --dir DIR [--api ADDR] [--listen MULTIADDR…]`.
pub(crate) fn run(dir: &Path, api: Option<&str>, listen: &[String]) -> Result<()> {
    one_malloc_arena();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Log events on stderr (`RUST_LOG`, default `warn,regio=info,libp2p_kad=error`) and traces over OTLP when
    // configured (`regio_node::telemetry`); dropped on return, it flushes them.
    let _telemetry = regio_node::telemetry::Telemetry::for_node_dir(dir)?;
    runtime.block_on(async {
        let mut node = Node::open(dir)?;
        if !listen.is_empty() {
            node.spec.config.listen = listen.to_vec();
        }
        node.serve(api, shutdown_signal()).await?;
        eprintln!("node stopped cleanly");
        Ok(())
    })
}

/// glibc gives a thread that allocates while another holds the lock its own malloc arena (up
/// to 8 per core), and a node has a dozen threads (tokio workers, sled's I/O pool); freed
/// memory then sits in several arenas. One arena keeps an idle node's resident memory about
/// 1 MB lower (50-node region, `revocation-bench`: median 28.5 → 27.7 MB, largest 30.4 →
/// 28.7 MB) and did not change the reference benchmark's time. `MALLOC_ARENA_MAX` or
/// `GLIBC_TUNABLES` in the environment take precedence.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && std::env::var_os("GLIBC_TUNABLES").is_none()
    {
        // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// Parses a duration with `humantime` (`10s`, `500ms`, `2m`, `1h 30m`, …), or a bare
/// number of seconds.
pub(crate) fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}): write e.g. 10s, 500ms or 2m"))
}

/// `regio node wait [--node URL] [--timeout D] [--members] [--json]`: polls `/health` every
/// 100 ms until it answers `status: ok` (with `--members`, also `/v1/regions` until every
/// member of every region is reachable: connected, or heard from by gossip lately); exit 3 if that does not happen within the timeout.
pub(crate) fn wait(url: &str, timeout: Duration, members: bool, json: bool) -> Result<()> {
    client::check_url(url)?;
    let base = url.trim_end_matches('/');
    let health = format!("{base}/health");
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last: String;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(
                left.clamp(Duration::from_millis(50), Duration::from_secs(2)),
            ))
            .build()
            .into();
        match agent.get(&health).call() {
            Ok(mut resp) if resp.status().as_u16() == 200 => {
                let text = resp.body_mut().read_to_string().unwrap_or_default();
                let body = serde_json::from_str::<HealthReply>(&text)
                    .ok()
                    .filter(|h| h.status == "ok");
                let missing = match (&body, members) {
                    (Some(_), true) => unreachable(&agent, base),
                    _ => Ok(Vec::new()),
                };
                match (&body, &missing) {
                    (Some(h), Ok(m)) if m.is_empty() => {
                        let waited = started.elapsed();
                        if json {
                            println!(
                                "{}",
                                serde_json::json!({"node": base, "did": h.did, "name": h.name, "nis": h.nis, "waitedMs": waited.as_millis() as u64})
                            );
                        } else {
                            let all = if members {
                                ", every region member reachable"
                            } else {
                                ""
                            };
                            println!(
                                "{} ({}) is up at {base} after {:.1} s{all}",
                                h.name,
                                h.nis,
                                waited.as_secs_f64()
                            );
                        }
                        return Ok(());
                    }
                    (_, Ok(m)) if !m.is_empty() => {
                        last = format!("not yet reaching {}", m.join(", "))
                    }
                    (_, Err(e)) => last = format!("/v1/regions: {e}"),
                    _ => last = format!("/health answered {text}"),
                }
            }
            Ok(resp) => last = format!("/health answered HTTP {}", resp.status()),
            Err(e) => last = e.to_string(),
        }
        if Instant::now() + Duration::from_millis(100) > deadline {
            return Err(Unreachable(format!(
                "the node at {base} was not ready within {:.1} s (last: {last}); is `regio node run` running there? look at its log, or raise --timeout",
                timeout.as_secs_f64()
            ))
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The members of the node's regions it does not reach (`name (region)`).
fn unreachable(agent: &ureq::Agent, base: &str) -> std::result::Result<Vec<String>, String> {
    let mut resp = agent
        .get(&format!("{base}{}", ListRegions.target()))
        .call()
        .map_err(|e| e.to_string())?;
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    let regions: Vec<RegionView> = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for r in &regions {
        for m in r.members.iter().filter(|m| !m.reachable) {
            out.push(format!("{} ({})", m.name, r.id));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("3 fortnights")
            .unwrap_err()
            .contains("is not a duration"));
        assert!(parse_duration("soon").is_err());
    }
}
