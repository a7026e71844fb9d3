//! Arguments of the offline commands: key, sign, verify, policy, cert, charter, reasons.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use regio_policy::Did;

use super::{parse_did, parse_time};
use crate::client;

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCmd {
    /// Write a new Ed25519 key file (W3C Multikey JSON, mode 0600) and print its did:key
    New {
        /// Where to write the key file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Overwrite FILE if it exists (the old key is lost).
        #[arg(long)]
        force: bool,
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Print the did:key of a key file (never the secret)
    Show {
        /// The key file.
        file: PathBuf,
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// Your key file (see `regio key new`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The JSON document to sign (`-` for stdin).
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Where to write the signed document (default: stdout). May be IN itself.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The signed JSON document (`-` for stdin).
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Print one JSON object for scripts instead of the summary line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCmd {
    /// Verify signed PolicyBundle files as one chain: signer, links, no gap, no fork
    VerifyChain {
        /// Signed PolicyBundle files, in any order (a file may hold a JSON array of them).
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON object for scripts instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Sign a policy body as a node's next PolicyBundle (municipality from NODE_DIR/config.toml, signed with NODE_DIR/node.key)
    Sign {
        /// The node directory (see `regio init`).
        #[arg(long, value_name = "NODE_DIR")]
        dir: PathBuf,
        /// The policy body: datasets, access, certification, charters, disclosure (JSON).
        #[arg(value_name = "POLICY.json")]
        file: PathBuf,
        /// The version in force now: the new one is its version + 1 and names its hash (default: version 1).
        #[arg(long, value_name = "BUNDLE.json")]
        previous: Option<PathBuf>,
        /// Where to write the signed bundle (default: stdout).
        #[arg(short = 'o', long = "out", value_name = "OUT")]
        out: Option<PathBuf>,
    },
    /// Publish a signed PolicyBundle as the node's next policy version (admin)
    Publish {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The signed bundle.
        #[arg(value_name = "BUNDLE.json")]
        file: PathBuf,
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show the node's current policy
    Show {
        #[command(flatten)]
        node: client::NodeArgs,
        /// Print the signed bundle.
        #[arg(long)]
        json: bool,
    },
    /// List the node's policy versions and verify them as one chain
    History {
        #[command(flatten)]
        node: client::NodeArgs,
        /// Print one JSON object for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CertCmd {
    /// Sign an ethics certificate from an unsigned template (EthicsCertificate fields)
    Issue(CertIssueArgs),
    /// Verify an ethics certificate and whether it is valid at a given time
    Verify {
        /// The signed certificate.
        file: PathBuf,
        /// The time to check validity at (RFC 3339; default now).
        #[arg(long, value_name = "T", value_parser = parse_time)]
        at: Option<DateTime<Utc>>,
        /// Print one JSON object for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Sign a Revocation of a certificate you issued
    Revoke {
        /// The certifier's key file (the certificate's issuer).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The signed certificate to revoke.
        #[arg(value_name = "CERT")]
        cert: PathBuf,
        /// Why, in plain language.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Where to write the signed revocation (default: stdout).
        #[arg(short = 'o', long = "out", value_name = "OUT")]
        out: Option<PathBuf>,
        /// Also submit the signed revocation to the node of --node, else REGIO_NODE (admin).
        #[arg(long)]
        submit: bool,
        /// Submit the revocation to this node (implies --submit; token from --dir or REGIO_TOKEN).
        #[arg(long, value_name = "URL")]
        node: Option<String>,
        /// The node directory holding the admin token (with --submit or --node).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Store a signed certificate at a node (admin)
    Submit {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The signed certificate.
        #[arg(value_name = "CERT.json")]
        file: PathBuf,
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CertIssueArgs {
    /// The certifier's key file; its DID becomes the `issuer`.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The unsigned certificate body (JSON). `issuer` and `id` may be left out.
    #[arg(value_name = "TEMPLATE")]
    pub template: PathBuf,
    /// Where to write the signed certificate (default: stdout).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Start of validity (RFC 3339; default: the template's `validFrom`, else now).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub valid_from: Option<DateTime<Utc>>,
    /// End of validity (RFC 3339; default: the template's `validUntil`).
    #[arg(long, value_name = "T", value_parser = parse_time, conflicts_with = "valid_days")]
    pub valid_until: Option<DateTime<Utc>>,
    /// End of validity as a number of days after the start.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36600))]
    pub valid_days: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CharterCmd {
    /// Validate an inclusion charter and add your proof to its proof set
    Sign {
        /// Your key file (a member's node key).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The charter, unsigned or already signed by other members.
        file: PathBuf,
        /// Where to write the signed charter (default: stdout). May be FILE itself.
        #[arg(short = 'o', long = "out", value_name = "OUT")]
        out: Option<PathBuf>,
    },
    /// Store a signed charter at a node (admin); every member node needs the charter its region names
    Submit {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The signed charter.
        #[arg(value_name = "CHARTER.json")]
        file: PathBuf,
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Verify every proof of a charter and, with --members, that each member signed
    Verify {
        /// The signed charter.
        file: PathBuf,
        /// Members that must have signed (comma-separated did:key list).
        #[arg(long, value_name = "DID,DID…", value_delimiter = ',', value_parser = parse_did)]
        members: Vec<Did>,
        /// Print one JSON object for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ReasonsArgs {
    /// Print a JSON array of {code, meaning}.
    #[arg(long)]
    pub json: bool,
}

/// The shells a script is generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ShellName {
    /// bash (source it, or put it in /etc/bash_completion.d/regio)
    Bash,
    /// zsh (put it as `_regio` in a directory of $fpath)
    Zsh,
    /// fish (put it in ~/.config/fish/completions/regio.fish)
    Fish,
}

/// Arguments of `regio completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: ShellName,
}
