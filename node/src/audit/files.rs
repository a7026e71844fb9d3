//! The audit export as files (`regio audit export -o DIR`), and loading an export back from
//! a directory, a single JSON file (the API's export document) or a node's API.
//!
//! Layout of DIR (every document is the signed JSON exactly as the node stored it):
//!
//! ```text
//! node.json                      format, node DID, NIS, name, exportedAt, peerHeads
//! log.ndjson                     the audit log, one entry per line, from entry 1
//! checkpoints/<seq>.json         signed AuditCheckpoints
//! policies/v<version>.json       the node's signed policy chain
//! equivocations/<n>-a.json, <n>-b.json   both signed bundles of each equivocation seen
//! certificates/ revocations/ charters/ manifests/ queries/   <hash hex>.json
//! datasets/<name>.json           dataset schemas (to re-plan logged queries)
//! ledger.json                    quota and privacy-budget counters (an array; absent: none)
//! ```

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::export::{Evidence, Export, PeerHead};
use regio_policy::{Did, DocHash};
use regio_query::schema::Schema;
use regio_store::audit::Entry;
use regio_store::ledger::Counter;

/// Why an export could not be written or read. Names the file and what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilesError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not what the layout says it is.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file (with `:line` for the log).
        path: String,
        /// What is wrong.
        reason: String,
    },
}

type Result<T> = std::result::Result<T, FilesError>;

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> FilesError + '_ {
    move |source| FilesError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn invalid(path: impl std::fmt::Display, reason: impl std::fmt::Display) -> FilesError {
    FilesError::Invalid {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        invalid(
            format!("{}:{}:{}", path.display(), e.line(), e.column()),
            format!("not valid JSON: {e}"),
        )
    })
}

fn pretty(value: &Value) -> String {
    // Cannot fail: a JSON value always serialises.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A document and where it was read from (`DIR/policies/v2.json`, `URL#policies[1]`).
#[derive(Debug, Clone)]
pub struct Item {
    /// Where it came from, for messages.
    pub origin: String,
    /// The JSON.
    pub value: Value,
}

/// One node's export, loaded, with the origin of every item.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The directory, file or URL.
    pub label: String,
    /// The node.
    pub node: Did,
    /// Its name.
    pub name: String,
    /// Where the log was read from.
    pub log_origin: String,
    /// The log.
    pub entries: Vec<Entry>,
    /// Signed checkpoints.
    pub checkpoints: Vec<Item>,
    /// Signed policy bundles.
    pub policies: Vec<Item>,
    /// Heads seen from peers.
    pub peer_heads: Vec<PeerHead>,
    /// Equivocation evidence: (origin of a, origin of b, evidence).
    pub equivocations: Vec<(String, String, Evidence)>,
    /// Certificates, revocations, charters, manifests, queries.
    pub certificates: Vec<Item>,
    /// Revocations.
    pub revocations: Vec<Item>,
    /// Charters.
    pub charters: Vec<Item>,
    /// Manifests.
    pub manifests: Vec<Item>,
    /// Queries as received.
    pub queries: Vec<Item>,
    /// Dataset schemas.
    pub datasets: Vec<Schema>,
    /// The node's quota and budget counters (budgets in micro-epsilon).
    pub ledger: Vec<Counter>,
}

fn items(origin: &str, list: &str, values: Vec<Value>) -> Vec<Item> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| Item {
            origin: format!("{origin}#{list}[{i}]"),
            value,
        })
        .collect()
}

impl Loaded {
    /// From the export document (API answer or a single file).
    pub fn from_export(label: &str, e: Export) -> Loaded {
        Loaded {
            label: label.into(),
            node: e.node,
            name: e.name,
            log_origin: format!("{label}#entries"),
            entries: e.entries,
            checkpoints: items(label, "checkpoints", e.checkpoints),
            policies: items(label, "policies", e.policies),
            peer_heads: e.peer_heads,
            equivocations: e
                .equivocations
                .into_iter()
                .enumerate()
                .map(|(i, ev)| {
                    (
                        format!("{label}#equivocations[{i}].a"),
                        format!("{label}#equivocations[{i}].b"),
                        ev,
                    )
                })
                .collect(),
            certificates: items(label, "certificates", e.certificates),
            revocations: items(label, "revocations", e.revocations),
            charters: items(label, "charters", e.charters),
            manifests: items(label, "manifests", e.manifests),
            queries: items(label, "queries", e.queries),
            datasets: e.datasets,
            ledger: e.ledger,
        }
    }
}

fn hex_name(value: &Value) -> String {
    hex::encode(DocHash::of(value).0)
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    std::fs::write(path, pretty(value) + "\n").map_err(io_err(path))
}

/// Writes `e` into `dir` (created; must be empty if it exists). Returns the files written.
pub fn write(dir: &Path, e: &Export) -> Result<usize> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(io_err(dir))?
            .next()
            .is_some()
    {
        return Err(invalid(
            dir.display(),
            "exists and is not empty: choose a new directory for the export",
        ));
    }
    let sub = |name: &str| -> Result<PathBuf> {
        let p = dir.join(name);
        std::fs::create_dir_all(&p).map_err(io_err(&p))?;
        Ok(p)
    };
    sub("")?;
    let mut n = 0;
    write_json(
        &dir.join("node.json"),
        &json!({ "format": e.format, "node": e.node, "nis": e.nis, "name": e.name, "exportedAt": regio_policy::time::format(&e.exported_at), "peerHeads": e.peer_heads }),
    )?;
    let mut log = String::new();
    for entry in &e.entries {
        log.push_str(&serde_json::to_string(entry).map_err(|e| invalid("log.ndjson", e))?);
        log.push('\n');
    }
    let log_path = dir.join("log.ndjson");
    std::fs::write(&log_path, log).map_err(io_err(&log_path))?;
    n += 2;
    let d = sub("checkpoints")?;
    for c in &e.checkpoints {
        write_json(
            &d.join(format!("{}.json", c["seq"].as_u64().unwrap_or(0))),
            c,
        )?;
        n += 1;
    }
    let d = sub("policies")?;
    for p in &e.policies {
        write_json(
            &d.join(format!("v{}.json", p["version"].as_u64().unwrap_or(0))),
            p,
        )?;
        n += 1;
    }
    let d = sub("equivocations")?;
    for (i, ev) in e.equivocations.iter().enumerate() {
        write_json(&d.join(format!("{i}-a.json")), &ev.a)?;
        write_json(&d.join(format!("{i}-b.json")), &ev.b)?;
        n += 2;
    }
    for (name, list) in [
        ("certificates", &e.certificates),
        ("revocations", &e.revocations),
        ("charters", &e.charters),
        ("manifests", &e.manifests),
        ("queries", &e.queries),
    ] {
        let d = sub(name)?;
        for v in list {
            write_json(&d.join(format!("{}.json", hex_name(v))), v)?;
            n += 1;
        }
    }
    let d = sub("datasets")?;
    for s in &e.datasets {
        write_json(
            &d.join(format!("{}.json", s.dataset)),
            &serde_json::to_value(s).map_err(|e| invalid(&s.dataset, e))?,
        )?;
        n += 1;
    }
    let ledger = serde_json::to_value(&e.ledger).map_err(|e| invalid("ledger.json", e))?;
    write_json(&dir.join("ledger.json"), &ledger)?;
    Ok(n + 1)
}

/// The JSON files of `dir/name`, sorted by name (none when the directory is absent).
fn files(dir: &Path, name: &str) -> Result<Vec<Item>> {
    let d = dir.join(name);
    if !d.is_dir() {
        return Ok(Vec::new());
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(&d).map_err(io_err(&d))? {
        let path = entry.map_err(io_err(&d))?.path();
        if path.extension().is_some_and(|x| x == "json") {
            paths.push(path);
        }
    }
    paths.sort_by_key(|p| {
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        (
            stem.trim_start_matches('v')
                .parse::<u64>()
                .unwrap_or(u64::MAX),
            stem,
        )
    });
    paths
        .into_iter()
        .map(|p| {
            Ok(Item {
                origin: p.display().to_string(),
                value: read_json(&p)?,
            })
        })
        .collect()
}

/// Loads an export from a directory (the layout above) or a single export JSON file.
pub fn load(path: &Path) -> Result<Loaded> {
    let label = path.display().to_string();
    if path.is_file() {
        let value = read_json(path)?;
        let e: Export = serde_json::from_value(value).map_err(|e| {
            invalid(
                &label,
                format!("not an audit export (`regio audit export` writes one): {e}"),
            )
        })?;
        return Ok(Loaded::from_export(&label, e));
    }
    let meta_path = path.join("node.json");
    if !meta_path.is_file() {
        return Err(invalid(&label, "not an audit export directory (no node.json; `regio audit export --node URL -o DIR` writes one)"));
    }
    let meta = read_json(&meta_path)?;
    let node: Did = serde_json::from_value(meta["node"].clone())
        .map_err(|e| invalid(meta_path.display(), format!("`node`: {e}")))?;
    let peer_heads: Vec<PeerHead> = serde_json::from_value(meta["peerHeads"].clone())
        .map_err(|e| invalid(meta_path.display(), format!("`peerHeads`: {e}")))?;
    let log_path = path.join("log.ndjson");
    let text = std::fs::read_to_string(&log_path).map_err(io_err(&log_path))?;
    let mut entries = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let e: Entry = serde_json::from_str(line).map_err(|e| {
            invalid(
                format!("{}:{}", log_path.display(), i + 1),
                format!("not an audit entry: {e}"),
            )
        })?;
        entries.push(e);
    }
    let eq = files(path, "equivocations")?;
    let mut equivocations = Vec::new();
    for pair in eq.chunks(2) {
        if let [a, b] = pair {
            let issuer: Did = serde_json::from_value(a.value["municipality"]["did"].clone())
                .map_err(|e| invalid(&a.origin, format!("municipality.did: {e}")))?;
            let version = a.value["version"].as_u64().unwrap_or(0);
            equivocations.push((
                a.origin.clone(),
                b.origin.clone(),
                Evidence {
                    issuer,
                    version,
                    a: a.value.clone(),
                    b: b.value.clone(),
                },
            ));
        }
    }
    let datasets = files(path, "datasets")?
        .into_iter()
        .map(|i| {
            serde_json::from_value(i.value)
                .map_err(|e| invalid(&i.origin, format!("not a dataset schema: {e}")))
        })
        .collect::<Result<Vec<Schema>>>()?;
    let ledger_path = path.join("ledger.json");
    let ledger: Vec<Counter> = if ledger_path.is_file() {
        serde_json::from_value(read_json(&ledger_path)?)
            .map_err(|e| invalid(ledger_path.display(), format!("not a ledger: {e}")))?
    } else {
        Vec::new()
    };
    Ok(Loaded {
        label,
        node,
        name: meta["name"].as_str().unwrap_or("").into(),
        log_origin: log_path.display().to_string(),
        entries,
        checkpoints: files(path, "checkpoints")?,
        policies: files(path, "policies")?,
        peer_heads,
        equivocations,
        certificates: files(path, "certificates")?,
        revocations: files(path, "revocations")?,
        charters: files(path, "charters")?,
        manifests: files(path, "manifests")?,
        queries: files(path, "queries")?,
        datasets,
        ledger,
    })
}
