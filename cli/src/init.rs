//! `regio init`: creates a node directory — key, admin token, commented config.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use regio_node::api::AdminToken;
use regio_node::config::{Config, CONFIG_FILE, KEY_FILE, TOKEN_FILE};
use regio_policy::Key;

/// Options of `regio init`.
pub(crate) struct InitOptions<'a> {
    /// The node directory.
    pub dir: &'a Path,
    /// NIS code.
    pub nis: &'a str,
    /// Municipality name.
    pub name: &'a str,
    /// API address override.
    pub api: Option<&'a str>,
    /// libp2p listen addresses (empty: the default).
    pub listen: &'a [String],
    /// Clerks whose signature the node accepts on consent records.
    pub clerks: &'a [regio_policy::Did],
    /// Print JSON instead of the DID line.
    pub json: bool,
}

/// Writes `contents` to a new file (never overwriting), mode `mode` from creation.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `regio init --dir DIR --nis CODE --name NAME [--api ADDR] [--listen MULTIADDR]… [--clerk DID]…`.
pub(crate) fn init(o: &InitOptions<'_>) -> Result<()> {
    if o.dir.exists() {
        let mut entries = std::fs::read_dir(o.dir).with_context(|| {
            format!("{} exists and is not a readable directory", o.dir.display())
        })?;
        if entries.next().is_some() {
            let what = if o.dir.join(CONFIG_FILE).exists() {
                "already holds a node"
            } else {
                "is not empty"
            };
            bail!(
                "{} {what}: refusing to initialise it (choose a new or empty directory)",
                o.dir.display()
            );
        }
    }
    let mut config = Config::new(o.nis, o.name);
    if let Some(api) = o.api {
        config.api = api.to_string();
    }
    if !o.listen.is_empty() {
        config.listen = o.listen.to_vec();
    }
    config.clerks = o.clerks.to_vec();
    let text = config.render();
    Config::parse(&text, &o.dir.join(CONFIG_FILE)).context("invalid option")?;

    std::fs::create_dir_all(o.dir).with_context(|| format!("cannot create {}", o.dir.display()))?;
    let key = Key::generate().context("cannot generate the node key")?;
    let token = AdminToken::random()
        .map_err(|e| anyhow::anyhow!("cannot draw random bytes for the admin token: {e}"))?;
    write_new(&o.dir.join(KEY_FILE), key.to_file_json().as_bytes(), 0o600)?;
    write_new(
        &o.dir.join(TOKEN_FILE),
        format!("{}\n", token.as_str()).as_bytes(),
        0o600,
    )?;
    write_new(&o.dir.join(CONFIG_FILE), text.as_bytes(), 0o644)?;

    let (key_file, token_file, config_file) = (
        o.dir.join(KEY_FILE),
        o.dir.join(TOKEN_FILE),
        o.dir.join(CONFIG_FILE),
    );
    if o.json {
        println!(
            "{}",
            serde_json::json!({
                "did": key.did().as_str(), "nis": config.nis, "name": config.name, "dir": o.dir.display().to_string(),
                "api": format!("http://{}", config.api), "listen": config.listen,
                "key": key_file.display().to_string(), "token": token_file.display().to_string(), "config": config_file.display().to_string(),
            })
        );
        return Ok(());
    }
    println!("{}", key.did().as_str());
    eprintln!(
        "initialised node {} ({}) in {}",
        config.name,
        config.nis,
        o.dir.display()
    );
    eprintln!("  key:    {} (keep it secret)", key_file.display());
    eprintln!(
        "  token:  {} (admin token; keep it secret)",
        token_file.display()
    );
    eprintln!("  config: {}", config_file.display());
    eprintln!("  data:   {}", config.data_path(o.dir).display());
    eprintln!("start it with: regio node run --dir {}  (API on http://{}; `regio node wait --node http://{}` waits for it)", o.dir.display(), config.api, config.api);
    Ok(())
}
