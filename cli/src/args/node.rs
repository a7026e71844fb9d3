//! Arguments of the commands that run or talk to a node: init, node, dataset, ingest,
//! consent, query, region.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use regio_policy::Did;

use super::parse_did;
use crate::{client, consent, ingest, query};

/// Members of a manifest version (each `--member-node` is asked for its `/health`).
#[derive(Debug, Args)]
pub(crate) struct MemberArgs {
    /// A member node's API URL; its DID, NIS, name and p2p addresses are read from /health. Repeatable.
    #[arg(long = "member-node", value_name = "URL")]
    pub member_node: Vec<String>,
    /// A member given by hand: DID,NIS,NAME[,MULTIADDR…]. Repeatable.
    #[arg(long, value_name = "DID,NIS,NAME,MULTIADDR")]
    pub member: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RegionCmd {
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
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
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
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
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
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Hand a manifest version to a node (admin); refused unless enough members signed it
    Join {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The signed manifest.
        #[arg(value_name = "MANIFEST.json")]
        file: PathBuf,
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
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
pub(crate) struct InitArgs {
    /// The node directory to create (must be new or empty).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// NIS code of the municipality.
    #[arg(long, value_name = "CODE")]
    pub nis: String,
    /// Name of the municipality.
    #[arg(long)]
    pub name: String,
    /// HTTP API address (default 127.0.0.1:7480).
    #[arg(long, value_name = "ADDR")]
    pub api: Option<String>,
    /// libp2p listen multiaddress, repeatable (default /ip4/127.0.0.1/tcp/7481).
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// A clerk (did:key) whose signature the node accepts on consent records; repeatable.
    #[arg(long, value_name = "DID", value_parser = parse_did)]
    pub clerk: Vec<Did>,
    /// Print one JSON document for scripts.
    #[arg(long)]
    pub json: bool,
}

/// The environment `regio node run` reads, shown after its options.
const NODE_RUN_ENV: &str = "\
Environment:
  RUST_LOG                     which log events go to stderr (tracing EnvFilter directives);
                               default `warn,regio=info,libp2p_kad=error`: Regio's info,
                               warnings and errors (a member that failed to answer, with its
                               DID and the cause; gossip or a sync not applied; a failed
                               background task) and other libraries' warnings and errors.
                               E.g. RUST_LOG=regio=debug, RUST_LOG=regio=info,libp2p=debug,
                               RUST_LOG=off.
  OTEL_EXPORTER_OTLP_ENDPOINT  export spans over OTLP/HTTP (JSON) to this collector base URL,
                               e.g. http://10.0.0.5:4318 (wins over `otlp_endpoint` in config.toml)
  OTEL_SERVICE_NAME            the exported service name (default regio-node)
  MALLOC_ARENA_MAX             glibc malloc arenas (default here: 1)";

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCmd {
    /// Run the node of DIR until SIGINT or SIGTERM (prints `listening on http://ADDR …`, then one `p2p MULTIADDR/p2p/PEERID` line per libp2p address)
    #[command(after_help = NODE_RUN_ENV)]
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
    /// Wait until a node answers /health (after `regio node run … &`); exit 3 if it does not in time
    Wait {
        /// The node's API URL.
        #[arg(long, env = "REGIO_NODE", default_value = client::DEFAULT_NODE, value_name = "URL")]
        node: String,
        /// How long to wait: 10s, 500ms, 2m (a bare number is seconds).
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::node::parse_duration)]
        timeout: std::time::Duration,
        /// Also wait until every member of the node's regions is reachable from it (connected, or
        /// heard from by gossip within three anti-entropy intervals).
        #[arg(long)]
        members: bool,
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CatalogCmd {
    /// Publish the node's catalog entries from a TOML (or JSON) file: dataset titles and descriptions (nl, en), keywords, EU themes, update frequency, licence, contact point, initiatives (admin)
    Import {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The entries file (see `charters/catalog-example.toml`).
        #[arg(value_name = "FILE.toml")]
        file: PathBuf,
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Print the node's catalog, or a region's merged catalog, as DCAT-AP 3 (JSON-LD or Turtle), or the node's signed catalog document
    Show {
        #[command(flatten)]
        node: client::NodeArgs,
        /// A region the node is in: every member's catalog, merged.
        #[arg(long, value_name = "ID")]
        region: Option<String>,
        /// jsonld, turtle or signed.
        #[arg(long, value_enum, default_value = "jsonld")]
        form: crate::catalog::Form,
        /// Write to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Search every member's catalog of the node's region for datasets and initiatives
    Search {
        #[command(flatten)]
        node: client::NodeArgs,
        /// Words that must all occur (titles, descriptions, keywords; Dutch or English).
        #[arg(value_name = "TEXT")]
        text: Option<String>,
        /// The region (default: the node's only region).
        #[arg(long, value_name = "ID")]
        region: Option<String>,
        /// An EU data theme: AGRI ECON EDUC ENER ENVI GOVE HEAL INTR JUST REGI SOCI TECH TRAN.
        #[arg(long, value_name = "THEME")]
        theme: Option<String>,
        /// A municipality: NIS code or name.
        #[arg(long, value_name = "NIS|NAME")]
        municipality: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DatasetCmd {
    /// Create a dataset from a schema JSON file (admin)
    Create {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The schema: {"dataset", "fields": [{"name","type","nullable"}], "subject", "time"}.
        #[arg(value_name = "SCHEMA.json")]
        schema: PathBuf,
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
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
pub(crate) struct IngestArgs {
    #[command(flatten)]
    pub node: client::NodeArgs,
    /// The dataset to load into.
    #[arg(long, value_name = "NAME")]
    pub dataset: String,
    /// The file to load.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Its format (default: from the extension: .ndjson/.jsonl, .csv, .json/.jsonld).
    #[arg(long, value_enum)]
    pub format: Option<ingest::Format>,
    /// Store the valid lines and list every rejected one (exit 1 if any). Without it, a
    /// bad line anywhere in the file stores nothing (the file is validated first).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Lines per request; each batch is stored atomically and durably.
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    pub batch_rows: usize,
    /// Print one JSON document for scripts (no progress bar).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConsentCmd {
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
        /// Print one JSON document for scripts.
        #[arg(long)]
        json: bool,
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
pub(crate) struct ConsentArgs {
    #[command(flatten)]
    pub node: client::NodeArgs,
    /// The data subject's pseudonym (as in the datasets' subject field).
    #[arg(long, value_name = "ID")]
    pub subject: String,
    /// Datasets covered (`*` for all); repeatable.
    #[arg(long, value_name = "D", required = true, num_args = 1..)]
    pub dataset: Vec<String>,
    /// DPV purposes; repeatable.
    #[arg(long, value_name = "P", required = true, num_args = 1..)]
    pub purpose: Vec<String>,
    /// The subject's own key file (channel app by default).
    #[arg(long, value_name = "SUBJECT.key")]
    pub key: Option<PathBuf>,
    /// A clerk's key file (the node must list the clerk: `regio init --clerk`); channel desk by default.
    #[arg(long, value_name = "CLERK.key")]
    pub clerk_key: Option<PathBuf>,
    /// How the consent was given: desk, paper, phone, kiosk, app, web.
    #[arg(long, value_parser = consent::parse_channel)]
    pub channel: Option<regio_policy::doc::consent::Channel>,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    pub node: client::NodeArgs,
    /// The application's key file (signs the query).
    #[arg(long, value_name = "APP.key")]
    pub key: PathBuf,
    /// The signed ethics certificate the application relies on.
    #[arg(long, value_name = "CERT.json")]
    pub cert: Option<PathBuf>,
    /// DPV purpose of the query.
    #[arg(long, value_name = "P")]
    pub purpose: String,
    /// Region id (default: the node's only region).
    #[arg(long, value_name = "ID")]
    pub region: Option<String>,
    /// Deadline for the members' answers, milliseconds (default: the node's).
    #[arg(long, value_name = "N")]
    pub deadline_ms: Option<u64>,
    /// Output: tables with provenance, the whole JSON answer, or the result as CSV.
    #[arg(long, value_enum, default_value_t = query::Format::Table)]
    pub format: query::Format,
    /// The whole JSON answer (same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// The SQL text (Regio's read-only subset).
    #[arg(value_name = "SQL")]
    pub sql: String,
}
