//! `regio`: the command line of Regio.
//!
//! Offline commands: keys, signing and verifying documents, policy chains, ethics
//! certificates and charters; every verification runs locally, without a node. Node
//! commands: `init` and `node run` (a node directory and its server), and `dataset`,
//! `ingest`, `consent import`, which talk to a node's HTTP API.
//!
//! Exit codes: 0 ok, 1 a verification or policy failure (or an input that cannot be read),
//! 2 usage (clap), 3 unreachable (reserved for the commands that talk to a node).

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use regio_policy::Did;

mod audit;
mod cert;
mod charter;
mod citizen;
mod client;
mod consent;
mod dataset;
mod ingest;
mod init;
mod io;
mod key;
mod node;
mod policy;
mod sign;
mod typed;

/// Exit code of a verification or policy failure.
const EXIT_FAILED: u8 = 1;
/// Exit code when the node cannot be reached.
const EXIT_UNREACHABLE: u8 = 3;

/// Regio: share municipal data across a region without pooling it.
///
/// Offline commands work on files; `dataset`, `ingest` and `consent` talk to a node
/// (--node URL or REGIO_NODE; admin token from --dir NODE_DIR or REGIO_TOKEN).
#[derive(Debug, Parser)]
#[command(name = "regio", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    /// Import consent files into a node
    #[command(subcommand)]
    Consent(ConsentCmd),
    /// Create a signing key (did:key) or show the DID of a key file
    #[command(subcommand)]
    Key(KeyCmd),
    /// Add your proof (eddsa-jcs-2022) to a JSON document, validating Regio types first
    Sign(SignArgs),
    /// Verify every proof of a signed document (and, for Regio types, its content and signer)
    Verify(VerifyArgs),
    /// Verify a municipality's chain of signed policy bundles
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Issue, verify and revoke ethics certificates
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
}

#[derive(Debug, Args)]
struct InitArgs {
    /// The node directory to create (must be new or empty).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// NIS code of the municipality.
    #[arg(long, value_name = "CODE")]
    nis: String,
    /// Name of the municipality.
    #[arg(long)]
    name: String,
    /// HTTP API address (default 127.0.0.1:7480).
    #[arg(long, value_name = "ADDR")]
    api: Option<String>,
    /// libp2p listen multiaddress, repeatable (default /ip4/127.0.0.1/tcp/7481).
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum NodeCmd {
    /// Run the node of DIR until SIGINT or SIGTERM (prints `listening on http://ADDR …`)
    Run {
        /// The node directory (see `regio init`).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Override the config's API address (e.g. 127.0.0.1:0 for any free port).
        #[arg(long, value_name = "ADDR")]
        api: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DatasetCmd {
    /// Create a dataset from a schema JSON file (admin)
    Create {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The schema: {"dataset", "fields": [{"name","type","nullable"}], "subject", "time"}.
        #[arg(value_name = "SCHEMA.json")]
        schema: PathBuf,
    },
    /// List datasets with their record and chunk counts
    List {
        #[command(flatten)]
        node: client::NodeArgs,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct IngestArgs {
    #[command(flatten)]
    node: client::NodeArgs,
    /// The dataset to load into.
    #[arg(long, value_name = "NAME")]
    dataset: String,
    /// The file to load.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Its format (default: from the extension: .ndjson/.jsonl, .csv, .json/.jsonld).
    #[arg(long, value_enum)]
    format: Option<ingest::Format>,
    /// Store the valid lines and list every rejected one (exit 1 if any). Without it, a
    /// bad line anywhere in the file stores nothing (the file is validated first).
    #[arg(long)]
    skip_invalid: bool,
    /// Lines per request; each batch is stored atomically and durably.
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    batch_rows: usize,
}

#[derive(Debug, Subcommand)]
enum ConsentCmd {
    /// Import a consent file (subject,purpose,granted,given_at,withdrawn_at; CSV or NDJSON)
    Import {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Its format (default: from the extension).
        #[arg(long, value_parser = ["csv", "ndjson"])]
        format: Option<String>,
        /// Import the valid lines and list every rejected one (exit 1 if any).
        #[arg(long)]
        skip_invalid: bool,
    },
    /// Citizen desk: the queries that counted a subject's rows, and the subject's consent changes (admin)
    History {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The subject (pseudonym, as in the datasets).
        #[arg(long, value_name = "ID")]
        subject: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Citizen desk: the subject's current consent as a Kantara Consent Receipt v1.1 JSON (admin)
    Receipt {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The subject.
        #[arg(long, value_name = "ID")]
        subject: String,
        /// Where to write the receipt (default: stdout).
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCmd {
    /// Write a new Ed25519 key file (W3C Multikey JSON, mode 0600) and print its did:key
    New {
        /// Where to write the key file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Overwrite FILE if it exists (the old key is lost).
        #[arg(long)]
        force: bool,
    },
    /// Print the did:key of a key file (never the secret)
    Show {
        /// The key file.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
struct SignArgs {
    /// Your key file (see `regio key new`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The JSON document to sign (`-` for stdin).
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// Where to write the signed document (default: stdout). May be IN itself.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The signed JSON document (`-` for stdin).
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// Print one JSON object for scripts instead of the summary line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum PolicyCmd {
    /// Verify signed PolicyBundle files as one chain: signer, links, no gap, no fork
    VerifyChain {
        /// Signed PolicyBundle files, in any order (a file may hold a JSON array of them).
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON object for scripts instead of the table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CertCmd {
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
    },
}

#[derive(Debug, Args)]
struct CertIssueArgs {
    /// The certifier's key file; its DID becomes the `issuer`.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The unsigned certificate body (JSON). `issuer` and `id` may be left out.
    #[arg(value_name = "TEMPLATE")]
    template: PathBuf,
    /// Where to write the signed certificate (default: stdout).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: Option<PathBuf>,
    /// Start of validity (RFC 3339; default: the template's `validFrom`, else now).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    valid_from: Option<DateTime<Utc>>,
    /// End of validity (RFC 3339; default: the template's `validUntil`).
    #[arg(long, value_name = "T", value_parser = parse_time, conflicts_with = "valid_days")]
    valid_until: Option<DateTime<Utc>>,
    /// End of validity as a number of days after the start.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36600))]
    valid_days: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum CharterCmd {
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
struct ReasonsArgs {
    /// Print a JSON array of {code, meaning}.
    #[arg(long)]
    json: bool,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    regio_policy::time::parse(s)
}

fn parse_did(s: &str) -> Result<Did, String> {
    Did::parse(s.trim()).map_err(|e| e.to_string())
}

/// A verification or policy failure: printed as `FAILED: …`, exit 1.
#[derive(Debug)]
pub struct Failed(pub String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Failed {}

/// A failure the command already reported (e.g. as JSON): exit 1, print nothing more.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failure already reported")
    }
}
impl std::error::Error for Reported {}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init(a) => init::init(&init::InitOptions { dir: &a.dir, nis: &a.nis, name: &a.name, api: a.api.as_deref(), listen: &a.listen }),
        Command::Node(NodeCmd::Run { dir, api }) => node::run(&dir, api.as_deref()),
        Command::Dataset(DatasetCmd::Create { node, schema }) => dataset::create(&client::Client::new(&node)?, &schema),
        Command::Dataset(DatasetCmd::List { node, json }) => dataset::list(&client::Client::new(&node)?, json),
        Command::Ingest(a) => ingest::run(
            &client::Client::new(&a.node)?,
            &ingest::IngestOptions { dataset: &a.dataset, file: &a.file, format: a.format, skip_invalid: a.skip_invalid, batch_rows: a.batch_rows },
        ),
        Command::Consent(ConsentCmd::Import { node, file, format, skip_invalid }) => {
            consent::import(&client::Client::new(&node)?, &file, format.map(|f| f == "csv"), skip_invalid)
        }
        Command::Consent(ConsentCmd::History { node, subject, json }) => citizen::history(&client::Client::new(&node)?, &subject, json),
        Command::Consent(ConsentCmd::Receipt { node, subject, out }) => citizen::receipt(&client::Client::new(&node)?, &subject, out.as_deref()),
        Command::Key(KeyCmd::New { out, force }) => key::new(&out, force),
        Command::Key(KeyCmd::Show { file }) => key::show(&file),
        Command::Sign(a) => sign::sign(&a.key, &a.input, a.out.as_deref()),
        Command::Verify(a) => sign::verify(&a.input, a.json),
        Command::Policy(PolicyCmd::VerifyChain { files, json }) => policy::verify_chain(&files, json),
        Command::Cert(CertCmd::Issue(a)) => cert::issue(&cert::IssueOptions {
            key: a.key,
            template: a.template,
            out: a.out,
            valid_from: a.valid_from,
            valid_until: a.valid_until,
            valid_days: a.valid_days,
        }),
        Command::Cert(CertCmd::Verify { file, at, json }) => cert::verify(&file, at, json),
        Command::Cert(CertCmd::Revoke { key, cert, reason, out }) => cert::revoke(&key, &cert, &reason, out.as_deref()),
        Command::Charter(CharterCmd::Sign { key, file, out }) => charter::sign(&key, &file, out.as_deref()),
        Command::Charter(CharterCmd::Verify { file, members, json }) => charter::verify(&file, &members, json),
        Command::Audit(c) => audit::run(c),
        Command::Reasons(a) => {
            reasons(a.json);
            Ok(())
        }
    }
}

fn reasons(json: bool) {
    use regio_policy::decision::reason::{table_markdown, Reason};
    if json {
        let rows: Vec<_> = Reason::ALL
            .iter()
            .map(|r| serde_json::json!({"code": r.code(), "meaning": r.meaning()}))
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        print!("{}", table_markdown());
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Reported>() => ExitCode::from(EXIT_FAILED),
        Err(e) if e.is::<client::Unreachable>() => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_UNREACHABLE)
        }
        Err(e) if e.is::<Failed>() => {
            eprintln!("FAILED: {e}");
            ExitCode::from(EXIT_FAILED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
