//! Files in and out: JSON with line:column errors, key files, atomic writes.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use regio_policy::Key;
use serde_json::Value;

/// How a path is shown in messages (`-` is stdin).
pub(crate) fn show(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

/// Reads a file (or stdin for `-`).
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read stdin")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| match std::fs::metadata(path) {
        Err(_) => format!(
            "cannot read {}: no such file (check the path)",
            path.display()
        ),
        Ok(_) => format!("cannot read {}", path.display()),
    })
}

/// The message of a serde_json error without its trailing ` at line L column C`.
fn bare_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Parses JSON text; an error names `file:line:column`.
pub(crate) fn parse_json(path: &Path, bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: not valid JSON: {} (fix the file and run again)",
            show(path),
            e.line(),
            e.column(),
            bare_message(&e)
        )
    })
}

/// Reads and parses a JSON file.
pub(crate) fn read_json(path: &Path) -> Result<Value> {
    parse_json(path, &read(path)?)
}

/// Reads a key file. Warns when others may read it.
pub(crate) fn read_key(path: &Path) -> Result<Key> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read key file {} (create one with `regio key new --out {}`)",
            path.display(),
            path.display()
        )
    })?;
    warn_if_readable_by_others(path);
    Key::from_file_json(&text)
        .with_context(|| format!("key file {} is not a Regio key", path.display()))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: key file {} has mode {mode:o}: others may read your secret (run `chmod 600 {}`)",
                path.display(),
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Writes `text` (plus a newline) to `out`, or to stdout when `out` is `None`. A file is
/// written to a temporary sibling first and renamed, so a failure never leaves half a file.
pub(crate) fn write_output(out: Option<&Path>, text: &str) -> Result<()> {
    let Some(path) = out else {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        stdout.write_all(b"\n")?;
        return Ok(());
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot write {}: directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.regio-{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        // The write's error is what the user needs; a leftover temporary file is named.
        if let Err(rm) = std::fs::remove_file(&tmp) {
            if rm.kind() != std::io::ErrorKind::NotFound {
                eprintln!("warning: could not remove {}: {rm}", tmp.display());
            }
        }
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// Pretty JSON of a value.
pub(crate) fn pretty(value: &Value) -> String {
    // Cannot fail: a JSON value always serialises.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A reply of the node as a JSON value, for `--json` output: keys in the order `Value`
/// keeps them (sorted), as the CLI printed replies before they were typed.
pub(crate) fn json_value<T: serde::Serialize>(reply: &T) -> Value {
    serde_json::to_value(reply).unwrap_or_default()
}
