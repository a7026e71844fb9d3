//! `regio audit`: what an auditor holds in their hands (owner: audit). `export` writes a
//! node's audit export as files; `policies`, `log`, `answer` and `decide` verify, offline,
//! from those files (or fetched from `--node URL`), and print a table of checks (`--json`
//! for scripts). Exit 0 only if every check holds, 1 otherwise.

//! The checks themselves live in `regio_node::audit::{verify, decide, files}` (shared with
//! the integration tests); this module parses arguments, fetches and prints.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use regio_node::audit::export::Export;
use regio_node::audit::verify::{self as check, Check};
use regio_node::audit::{decide, files};
use serde_json::json;

use crate::{client, io, Reported};

/// Fetches a node's export (admin token from `--dir` or REGIO_TOKEN).
fn fetch(node: &str, dir: Option<&Path>) -> Result<Export> {
    let c = client::Client::new(&client::NodeArgs {
        node: node.into(),
        dir: dir.map(Path::to_path_buf),
    })?;
    let value = c.call(&regio_http::audit::Export)?;
    serde_json::from_value(value).with_context(|| {
        format!("{node} answered /v1/audit/export with something that is not an audit export")
    })
}

/// Where the exports come from: directories or files, and/or nodes.
#[derive(Debug, Args)]
pub(crate) struct Sources {
    /// Export directories (`regio audit export -o DIR`) or export JSON files.
    #[arg(value_name = "DIR")]
    paths: Vec<PathBuf>,
    /// Fetch the export from this node's API instead (repeatable; admin token from --dir or REGIO_TOKEN).
    #[arg(long = "node", value_name = "URL")]
    nodes: Vec<String>,
    /// Node directory holding admin.token, for --node.
    #[arg(long, value_name = "NODE_DIR")]
    dir: Option<PathBuf>,
    /// Print one JSON object for scripts instead of the table.
    #[arg(long)]
    json: bool,
}

/// The `regio audit` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCmd {
    /// Write a node's audit export (log, checkpoints, policy chain, peer heads, equivocation evidence, documents, queries, quota and budget ledger) as files
    Export {
        /// The node's API URL.
        #[arg(long, env = "REGIO_NODE", default_value = client::DEFAULT_NODE, value_name = "URL")]
        node: String,
        /// Node directory holding admin.token (else REGIO_TOKEN).
        #[arg(long, value_name = "NODE_DIR")]
        dir: Option<PathBuf>,
        /// The directory to write (new or empty).
        #[arg(short = 'o', long = "out", value_name = "DIR")]
        out: PathBuf,
        /// Print one JSON object for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Verify policy chains (signatures, links, head), cross-check the heads nodes saw from each other, show equivocation with both bundles
    Policies(Sources),
    /// Verify the hash-chained audit log and its signed checkpoints; name the first broken link
    Log(Sources),
    /// Verify every PartialAnswer of a result: signature, policy version, matching entry in the node's exported log
    Answer {
        /// The result JSON (`regio query` output, a node's answer, or a list of answers).
        #[arg(value_name = "RESULT.json")]
        result: PathBuf,
        /// Export directories or files of the answering nodes (repeatable).
        #[arg(long = "export", value_name = "DIR", required = true)]
        exports: Vec<PathBuf>,
        /// Print one JSON object for scripts instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Re-run the decision of logged queries from the exported documents and check the logged decision comes out
    Decide {
        /// The node's export directory or file.
        #[arg(long = "export", value_name = "DIR")]
        export: PathBuf,
        /// Only the entry with this sequence number.
        #[arg(long, value_name = "N", conflicts_with = "all")]
        seq: Option<u64>,
        /// Every query entry of the log (the default).
        #[arg(long)]
        all: bool,
        /// Print one JSON object for scripts instead of the table.
        #[arg(long)]
        json: bool,
    },
}

fn load(s: &Sources) -> Result<Vec<files::Loaded>> {
    if s.paths.is_empty() && s.nodes.is_empty() {
        return Err(crate::Usage(
            "name at least one export directory (regio audit export -o DIR) or --node URL".into(),
        )
        .into());
    }
    let mut out = Vec::new();
    for p in &s.paths {
        out.push(files::load(p)?);
    }
    for n in &s.nodes {
        out.push(files::Loaded::from_export(n, fetch(n, s.dir.as_deref())?));
    }
    Ok(out)
}

fn report(command: &str, checks: &[Check], extra: serde_json::Value, json: bool) -> Result<()> {
    let ok = checks.iter().all(|c| c.ok);
    if json {
        println!(
            "{}",
            json!({ "command": command, "ok": ok, "checks": checks, "extra": extra })
        );
    } else {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        t.set_header(["", "subject", "check", "detail"]);
        for c in checks {
            t.add_row([
                if c.ok { "ok" } else { "FAIL" },
                &c.subject,
                &c.check,
                &c.detail,
            ]);
        }
        println!("{t}");
        let failed = checks.iter().filter(|c| !c.ok).count();
        if ok {
            println!("VERIFIED: {command}: all {} checks hold", checks.len());
        } else {
            println!(
                "FAILED: {command}: {failed} of {} checks do not hold",
                checks.len()
            );
        }
    }
    if ok {
        Ok(())
    } else {
        Err(Reported.into())
    }
}

fn export(node: &str, dir: Option<&Path>, out: &Path, json: bool) -> Result<()> {
    let spinner = crate::progress::spinner(&format!("fetching the audit export of {node}"), json);
    let e = fetch(node, dir);
    spinner.finish_and_clear();
    let e = e?;
    let n = files::write(out, &e)?;
    if json {
        println!(
            "{}",
            json!({"node": e.node.as_str(), "nis": e.nis, "name": e.name, "entries": e.entries.len(), "checkpoints": e.checkpoints.len(), "policies": e.policies.len(), "files": n, "out": out.display().to_string()})
        );
        return Ok(());
    }
    println!(
        "exported {} ({}): {} log entries, {} checkpoints, {} policy versions, {} files in {}",
        e.name,
        e.node,
        e.entries.len(),
        e.checkpoints.len(),
        e.policies.len(),
        n,
        out.display()
    );
    Ok(())
}

/// Runs one `regio audit` command.
pub(crate) fn run(cmd: AuditCmd) -> Result<()> {
    match cmd {
        AuditCmd::Export {
            node,
            dir,
            out,
            json,
        } => export(&node, dir.as_deref(), &out, json),
        AuditCmd::Policies(s) => {
            let sources = load(&s)?;
            let (checks, evidence) = check::policies(&sources);
            report(
                "policies",
                &checks,
                json!({ "equivocations": evidence }),
                s.json,
            )
        }
        AuditCmd::Log(s) => {
            let checks: Vec<Check> = load(&s)?.iter().flat_map(check::log).collect();
            report("log", &checks, json!(null), s.json)
        }
        AuditCmd::Answer {
            result,
            exports,
            json,
        } => {
            let value = io::read_json(&result)?;
            let mut answers = Vec::new();
            check::collect_answers(&value, &mut answers);
            let sources = exports
                .iter()
                .map(|p| files::load(p).map_err(anyhow::Error::from))
                .collect::<Result<Vec<_>>>()?;
            report(
                "answer",
                &check::answer(&answers, &sources),
                json!(null),
                json,
            )
        }
        AuditCmd::Decide {
            export,
            seq,
            all: _,
            json,
        } => {
            let l = files::load(&export)?;
            report("decide", &decide::decide(&l, seq), json!(null), json)
        }
    }
}
