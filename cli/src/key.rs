//! `regio key new|show`.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use regio_policy::Key;

/// Creates `path` with mode 0600 from the start; never overwrites unless `force`.
fn create_secret_file(path: &Path, force: bool) -> Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    if path.exists() {
        if !force {
            bail!(
                "{} already exists: refusing to overwrite a key (choose another --out, or add --force to replace it; the old key is then lost)",
                path.display()
            );
        }
        if path.is_dir() {
            bail!("{} is a directory, not a key file", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("cannot replace {}", path.display()))?;
    }
    opts.open(path)
        .with_context(|| format!("cannot create key file {}", path.display()))
}

/// `regio key new --out FILE [--force]`.
pub(crate) fn new(out: &Path, force: bool, json: bool) -> Result<()> {
    let key = Key::generate().context("cannot generate a key")?;
    let mut file = create_secret_file(out, force)?;
    file.write_all(key.to_file_json().as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .and_then(|_| file.sync_all())
        .with_context(|| format!("cannot write key file {}", out.display()))?;
    print_did(key.did(), out, json);
    eprintln!(
        "wrote {} (mode 0600): keep it secret, and back it up",
        out.display()
    );
    Ok(())
}

/// `regio key show FILE`.
pub(crate) fn show(file: &Path, json: bool) -> Result<()> {
    let key = crate::io::read_key(file)?;
    print_did(key.did(), file, json);
    Ok(())
}

/// The DID alone (so that `APP=$(regio key show app.key)` works), or `{did, file}`.
fn print_did(did: &regio_policy::Did, file: &Path, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"did": did.as_str(), "file": file.display().to_string()})
        );
    } else {
        println!("{did}");
    }
}
