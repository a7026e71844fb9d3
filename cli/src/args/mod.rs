//! The command line, as clap types: [`Cli`] and its [`Command`]s. The arguments of each
//! group live in [`node`] (commands that run or talk to a node) and [`offline`].

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use regio_policy::Did;

mod node;
mod offline;

pub(crate) use node::*;
pub(crate) use offline::*;

use crate::{audit, demo};

/// What `regio --help` says after the commands: exit codes and environment.
pub(crate) const AFTER_HELP: &str = "\
Exit codes (every command):
  0  ok
  1  a verification failed, a node or policy refused, or an input was rejected
  2  usage: unknown command or option, missing or conflicting arguments
  3  the node could not be reached (commands that talk to a node)

Environment:
  REGIO_NODE   the node's API URL for --node (default http://127.0.0.1:7480)
  REGIO_TOKEN  the node's admin token when --dir NODE_DIR is not given

Every command that prints a result for people also takes --json: one JSON document on
stdout, no progress bars. Shell completions: `regio completions bash|zsh|fish`.";

/// Regio: share municipal data across a region without pooling it.
///
/// Offline commands work on files. Node commands (dataset, ingest, consent, policy
/// publish|show|history, cert submit, region join|members, query, audit export) talk to a
/// node's HTTP API: --node URL or REGIO_NODE; admin token from --dir NODE_DIR or REGIO_TOKEN.
#[derive(Debug, Parser)]
#[command(name = "regio", version, propagate_version = true, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a node directory: key, admin token and a commented config.toml
    Init(InitArgs),
    /// Run a node
    #[command(subcommand)]
    Node(NodeCmd),
    /// Create and list a node's datasets
    #[command(subcommand)]
    Dataset(DatasetCmd),
    /// Load a records file (NDJSON, CSV, NGSI-LD) into a node's dataset, in batches
    Ingest(IngestArgs),
    /// Record consent at a node: import files, or grant / withdraw one subject's consent
    #[command(subcommand)]
    Consent(ConsentCmd),
    /// Sign a query with your application's key, send it to a node and print the result
    Query(QueryArgs),
    /// Create a signing key (did:key) or show the DID of a key file
    #[command(subcommand)]
    Key(KeyCmd),
    /// Add your proof (eddsa-jcs-2022) to a JSON document, validating Regio types first
    Sign(SignArgs),
    /// Verify every proof of a signed document (and, for Regio types, its content and signer)
    Verify(VerifyArgs),
    /// Verify policy chains offline; publish, show and list a node's policy
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Issue, verify, revoke and submit ethics certificates
    #[command(subcommand)]
    Cert(CertCmd),
    /// Co-sign an inclusion charter and check that every member signed it
    #[command(subcommand)]
    Charter(CharterCmd),
    /// Print the table of reason codes a node uses when it refuses a query
    Reasons(ReasonsArgs),
    /// Export a node's audit trail and verify it offline: policies, log, answers, decisions
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Form a region: create, co-sign and extend manifests, hand them to nodes, list members
    #[command(subcommand)]
    Region(RegionCmd),
    /// Publish a node's catalog of datasets and initiatives; show it as DCAT-AP; search a region's
    #[command(subcommand)]
    Catalog(CatalogCmd),
    /// Run a demo region of five municipalities in this process and check each step
    Demo(demo::DemoArgs),
    /// Print a shell completion script: `regio completions bash > /etc/bash_completion.d/regio`
    Completions(CompletionsArgs),
}

pub(crate) fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    regio_policy::time::parse(s)
}

pub(crate) fn parse_did(s: &str) -> Result<Did, String> {
    Did::parse(s.trim()).map_err(|e| e.to_string())
}
