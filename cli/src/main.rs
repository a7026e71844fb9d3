//! `regio`: the command line of Regio.
//!
//! Offline commands: keys, signing and verifying documents, policy chains, ethics
//! certificates and charters; every verification runs locally, without a node. Node
//! commands: `init` and `node run` (a node directory and its server), and `dataset`,
//! `ingest`, `consent`, `policy publish|show|history`, `cert submit` and `query`, which
//! talk to a node's HTTP API.
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
mod demo;
mod ingest;
mod init;
mod io;
mod key;
mod node;
mod policy;
mod query;
mod region;
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
    /// Run a demo region of five municipalities in this process and check each step
    Demo(demo::DemoArgs),
}

/// Members of a manifest version (each `--member-node` is asked for its `/health`).
#[derive(Debug, Args)]
struct MemberArgs {
    /// A member node's API URL; its DID, NIS, name and p2p addresses are read from /health. Repeatable.
    #[arg(long = "member-node", value_name = "URL")]
    member_node: Vec<String>,
    /// A member given by hand: DID,NIS,NAME[,MULTIADDR…]. Repeatable.
    #[arg(long, value_name = "DID,NIS,NAME,MULTIADDR")]
    member: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum RegionCmd {
    /// Build version 1 of a region manifest and sign it as a founder (every founder must sign)
    Create {
        /// Region id ([a-z0-9-]+).
        #[arg(long)]
        id: String,
        /// Human name of the region.
        #[arg(long)]
        name: String,
        /// The inclusion charter, signed by the members.
        #[arg(long, value_name = "SIGNED_CHARTER.json")]
        charter: PathBuf,
        /// A certifier (ethics board) the region trusts, did:key. Repeatable.
        #[arg(long = "certifier", value_name = "DID", value_parser = parse_did)]
        certifiers: Vec<Did>,
        /// Signatures of current members a later version needs.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        threshold: u32,
        #[command(flatten)]
        members: MemberArgs,
        /// The founder's key file (a founding node's node.key).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where to write the signed manifest.
        #[arg(short = 'o', long = "out", value_name = "MANIFEST.json")]
        out: PathBuf,
    },
    /// Co-sign a manifest version; prints how many of the required signatures it has
    Approve {
        /// The manifest.
        #[arg(value_name = "MANIFEST.json")]
        file: PathBuf,
        /// Your key file (a member node's node.key).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The version in effect now, to count against its members and threshold (versions > 1).
        #[arg(long, value_name = "CURRENT.json")]
        current: Option<PathBuf>,
        /// Where to write the co-signed manifest (may be the input).
        #[arg(short = 'o', long = "out", value_name = "OUT")]
        out: PathBuf,
    },
    /// Propose the next version: admit members (and/or --remove one), signed by you
    Invite {
        /// The version in effect now.
        #[arg(long, value_name = "MANIFEST.json")]
        current: PathBuf,
        #[command(flatten)]
        members: MemberArgs,
        /// A member who leaves, did:key. Repeatable.
        #[arg(long, value_name = "DID", value_parser = parse_did)]
        remove: Vec<Did>,
        /// Your key file (a current member's node.key).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where to write the proposed version.
        #[arg(short = 'o', long = "out", value_name = "NEXT.json")]
        out: PathBuf,
    },
    /// Hand a manifest version to a node (admin); refused unless enough members signed it
    Join {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The signed manifest.
        #[arg(value_name = "MANIFEST.json")]
        file: PathBuf,
    },
    /// List a region's members as a node sees them: reachable, policy head, equivocation
    Members {
        #[command(flatten)]
        node: client::NodeArgs,
        /// Only this region.
        #[arg(long, value_name = "ID")]
        region: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
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
    /// A clerk (did:key) whose signature the node accepts on consent records; repeatable.
    #[arg(long, value_name = "DID", value_parser = parse_did)]
    clerk: Vec<Did>,
}

#[derive(Debug, Subcommand)]
enum NodeCmd {
    /// Run the node of DIR until SIGINT or SIGTERM (prints `listening on http://ADDR …`, then one `p2p MULTIADDR/p2p/PEERID` line per libp2p address)
    Run {
        /// The node directory (see `regio init`).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Override the config's API address (e.g. 127.0.0.1:0 for any free port).
        #[arg(long, value_name = "ADDR")]
        api: Option<String>,
        /// Override the config's libp2p listen addresses, repeatable (e.g. /ip4/127.0.0.1/tcp/0).
        #[arg(long, value_name = "MULTIADDR")]
        listen: Vec<String>,
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
    /// Sign and store a subject's consent (one record per purpose, id SUBJECT/PURPOSE)
    Grant(ConsentArgs),
    /// Sign and store the withdrawal of a subject's consent (replaces SUBJECT/PURPOSE)
    Withdraw(ConsentArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("signer").required(true).args(["key", "clerk_key"])))]
struct ConsentArgs {
    #[command(flatten)]
    node: client::NodeArgs,
    /// The data subject's pseudonym (as in the datasets' subject field).
    #[arg(long, value_name = "ID")]
    subject: String,
    /// Datasets covered (`*` for all); repeatable.
    #[arg(long, value_name = "D", required = true, num_args = 1..)]
    dataset: Vec<String>,
    /// DPV purposes; repeatable.
    #[arg(long, value_name = "P", required = true, num_args = 1..)]
    purpose: Vec<String>,
    /// The subject's own key file (channel app by default).
    #[arg(long, value_name = "SUBJECT.key")]
    key: Option<PathBuf>,
    /// A clerk's key file (the node must list the clerk: `regio init --clerk`); channel desk by default.
    #[arg(long, value_name = "CLERK.key")]
    clerk_key: Option<PathBuf>,
    /// How the consent was given: desk, paper, phone, kiosk, app, web.
    #[arg(long, value_parser = consent::parse_channel)]
    channel: Option<regio_policy::doc::consent::Channel>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct QueryArgs {
    #[command(flatten)]
    node: client::NodeArgs,
    /// The application's key file (signs the query).
    #[arg(long, value_name = "APP.key")]
    key: PathBuf,
    /// The signed ethics certificate the application relies on.
    #[arg(long, value_name = "CERT.json")]
    cert: Option<PathBuf>,
    /// DPV purpose of the query.
    #[arg(long, value_name = "P")]
    purpose: String,
    /// Region id (default: the node's only region).
    #[arg(long, value_name = "ID")]
    region: Option<String>,
    /// Deadline for the members' answers, milliseconds (default: the node's).
    #[arg(long, value_name = "N")]
    deadline_ms: Option<u64>,
    /// Output: tables with provenance, the whole JSON answer, or the result as CSV.
    #[arg(long, value_enum, default_value_t = query::Format::Table)]
    format: query::Format,
    /// The SQL text (Regio's read-only subset).
    #[arg(value_name = "SQL")]
    sql: String,
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
    /// Publish a signed PolicyBundle as the node's next policy version (admin)
    Publish {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The signed bundle.
        #[arg(value_name = "BUNDLE.json")]
        file: PathBuf,
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
        /// Also submit the signed revocation to this node (admin; token from --dir or REGIO_TOKEN).
        #[arg(long, value_name = "URL")]
        node: Option<String>,
        /// The node directory holding the admin token (with --node).
        #[arg(long, value_name = "DIR", requires = "node")]
        dir: Option<PathBuf>,
    },
    /// Store a signed certificate at a node (admin)
    Submit {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The signed certificate.
        #[arg(value_name = "CERT.json")]
        file: PathBuf,
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
    /// Store a signed charter at a node (admin); the region manifest names it by hash
    Submit {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The signed charter.
        #[arg(value_name = "CHARTER.json")]
        file: PathBuf,
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
        Command::Init(a) => init::init(&init::InitOptions { dir: &a.dir, nis: &a.nis, name: &a.name, api: a.api.as_deref(), listen: &a.listen, clerks: &a.clerk }),
        Command::Node(NodeCmd::Run { dir, api, listen }) => node::run(&dir, api.as_deref(), &listen),
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
        Command::Consent(ConsentCmd::Grant(a)) => consent_record(a, false),
        Command::Consent(ConsentCmd::Withdraw(a)) => consent_record(a, true),
        Command::Query(a) => query::run(
            &client::Client::new(&a.node)?,
            &query::QueryOptions { key: &a.key, cert: a.cert.as_deref(), purpose: &a.purpose, region: a.region.as_deref(), deadline_ms: a.deadline_ms, format: a.format, sql: &a.sql },
        ),
        Command::Key(KeyCmd::New { out, force }) => key::new(&out, force),
        Command::Key(KeyCmd::Show { file }) => key::show(&file),
        Command::Sign(a) => sign::sign(&a.key, &a.input, a.out.as_deref()),
        Command::Verify(a) => sign::verify(&a.input, a.json),
        Command::Policy(PolicyCmd::VerifyChain { files, json }) => policy::verify_chain(&files, json),
        Command::Policy(PolicyCmd::Publish { node, file }) => policy::publish(&client::Client::new(&node)?, &file),
        Command::Policy(PolicyCmd::Show { node, json }) => policy::show(&client::Client::new(&node)?, json),
        Command::Policy(PolicyCmd::History { node, json }) => policy::history(&client::Client::new(&node)?, json),
        Command::Cert(CertCmd::Issue(a)) => cert::issue(&cert::IssueOptions {
            key: a.key,
            template: a.template,
            out: a.out,
            valid_from: a.valid_from,
            valid_until: a.valid_until,
            valid_days: a.valid_days,
        }),
        Command::Cert(CertCmd::Verify { file, at, json }) => cert::verify(&file, at, json),
        Command::Cert(CertCmd::Revoke { key, cert, reason, out, node, dir }) => {
            let client = node.map(|node| client::Client::new(&client::NodeArgs { node, dir })).transpose()?;
            cert::revoke(&key, &cert, &reason, out.as_deref(), client.as_ref())
        }
        Command::Cert(CertCmd::Submit { node, file }) => cert::submit(&client::Client::new(&node)?, &file),
        Command::Charter(CharterCmd::Sign { key, file, out }) => charter::sign(&key, &file, out.as_deref()),
        Command::Charter(CharterCmd::Verify { file, members, json }) => charter::verify(&file, &members, json),
        Command::Charter(CharterCmd::Submit { node, file }) => charter::submit(&client::Client::new(&node)?, &file),
        Command::Audit(c) => audit::run(c),
        Command::Region(cmd) => region_cmd(cmd),
        Command::Demo(a) => demo::run(&a),
        Command::Reasons(a) => {
            reasons(a.json);
            Ok(())
        }
    }
}

fn region_cmd(cmd: RegionCmd) -> anyhow::Result<()> {
    let sources = |m: MemberArgs| region::MemberSources { nodes: m.member_node, manual: m.member };
    match cmd {
        RegionCmd::Create { id, name, charter, certifiers, threshold, members, key, out } => {
            region::create(&region::CreateOptions { id, name, charter, certifiers, threshold, members: sources(members), key, out })
        }
        RegionCmd::Approve { file, key, current, out } => region::approve(&file, &key, &out, current.as_deref()),
        RegionCmd::Invite { current, members, remove, key, out } => region::invite(&current, &sources(members), &remove, &key, &out),
        RegionCmd::Join { node, file } => region::join(&node, &file),
        RegionCmd::Members { node, region, json } => region::members_cmd(&node, region.as_deref(), json),
    }
}

fn consent_record(a: ConsentArgs, withdraw: bool) -> anyhow::Result<()> {
    let signer = match (a.key, a.clerk_key) {
        (Some(k), _) => consent::Signer::Subject(k),
        (None, Some(c)) => consent::Signer::Clerk(c),
        (None, None) => anyhow::bail!("pass --key SUBJECT.key or --clerk-key CLERK.key"),
    };
    let o = consent::RecordOptions { withdraw, subject: &a.subject, datasets: &a.dataset, purposes: &a.purpose, signer, channel: a.channel, json: a.json };
    consent::record(&client::Client::new(&a.node)?, &o)
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
