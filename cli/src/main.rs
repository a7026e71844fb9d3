//! `regio`: the command line of Regio.
//!
//! Offline commands: keys, signing and verifying documents, policy chains, ethics
//! certificates and charters; every verification runs locally, without a node. Node
//! commands: `init` and `node run|wait` (a node directory, its server, waiting for it), and
//! `dataset`, `ingest`, `consent`, `policy publish|show|history`, `cert submit`, `region
//! join|members`, `query` and `audit export`, which talk to a node's HTTP API (`--node URL`,
//! default from `REGIO_NODE`). The clap definition lives in [`args`]; each command's work in
//! its own module.
//!
//! Exit codes (documented in `regio --help`, [`args::AFTER_HELP`]): 0 ok, 1 a verification
//! or policy failure (or an input that cannot be read), 2 usage (clap, or [`Usage`]), 3 the
//! node cannot be reached ([`client::Unreachable`]).

use std::process::ExitCode;

use clap::Parser;

mod args;
mod audit;
mod catalog;
mod cert;
mod charter;
mod citizen;
mod client;
mod completions;
mod consent;
mod dataset;
mod demo;
mod ingest;
mod init;
mod io;
mod key;
mod node;
mod policy;
mod progress;
mod query;
mod region;
mod sign;
mod typed;

use args::*;

/// Exit code of a verification or policy failure.
const EXIT_FAILED: u8 = 1;
/// Exit code of a usage error.
const EXIT_USAGE: u8 = 2;
/// Exit code when the node cannot be reached.
const EXIT_UNREACHABLE: u8 = 3;

/// A verification or policy failure: printed as `FAILED: …`, exit 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Failed(pub String);

/// A failure the command already reported (e.g. as JSON): exit 1, print nothing more.
#[derive(Debug, thiserror::Error)]
#[error("failure already reported")]
pub struct Reported;

/// A usage error clap cannot see (e.g. a file format it cannot tell, an option value that
/// is not a URL): printed as `error: …`, exit 2, like clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init(a) => init::init(&init::InitOptions {
            dir: &a.dir,
            nis: &a.nis,
            name: &a.name,
            api: a.api.as_deref(),
            listen: &a.listen,
            clerks: &a.clerk,
            json: a.json,
        }),
        Command::Node(NodeCmd::Run { dir, api, listen }) => {
            node::run(&dir, api.as_deref(), &listen)
        }
        Command::Node(NodeCmd::Wait {
            node,
            timeout,
            members,
            json,
        }) => node::wait(&node, timeout, members, json),
        Command::Dataset(DatasetCmd::Create { node, schema, json }) => {
            dataset::create(&client::Client::new(&node)?, &schema, json)
        }
        Command::Dataset(DatasetCmd::List { node, json }) => {
            dataset::list(&client::Client::new(&node)?, json)
        }
        Command::Ingest(a) => ingest::run(
            &client::Client::new(&a.node)?,
            &ingest::IngestOptions {
                dataset: &a.dataset,
                file: &a.file,
                format: a.format,
                skip_invalid: a.skip_invalid,
                batch_rows: a.batch_rows,
                json: a.json,
            },
        ),
        Command::Consent(ConsentCmd::Import {
            node,
            file,
            format,
            skip_invalid,
            json,
        }) => consent::import(
            &client::Client::new(&node)?,
            &file,
            format.map(|f| f == "csv"),
            skip_invalid,
            json,
        ),
        Command::Consent(ConsentCmd::History {
            node,
            subject,
            json,
        }) => citizen::history(&client::Client::new(&node)?, &subject, json),
        Command::Consent(ConsentCmd::Receipt { node, subject, out }) => {
            citizen::receipt(&client::Client::new(&node)?, &subject, out.as_deref())
        }
        Command::Consent(ConsentCmd::Grant(a)) => consent_record(a, false),
        Command::Consent(ConsentCmd::Withdraw(a)) => consent_record(a, true),
        Command::Query(a) => query::run(
            &client::Client::new(&a.node)?,
            &query::QueryOptions {
                key: &a.key,
                cert: a.cert.as_deref(),
                purpose: &a.purpose,
                region: a.region.as_deref(),
                deadline_ms: a.deadline_ms,
                format: if a.json {
                    query::Format::Json
                } else {
                    a.format
                },
                sql: &a.sql,
            },
        ),
        Command::Key(KeyCmd::New { out, force, json }) => key::new(&out, force, json),
        Command::Key(KeyCmd::Show { file, json }) => key::show(&file, json),
        Command::Sign(a) => sign::sign(&a.key, &a.input, a.out.as_deref()),
        Command::Verify(a) => sign::verify(&a.input, a.json),
        Command::Policy(cmd) => policy_cmd(cmd),
        Command::Cert(cmd) => cert_cmd(cmd),
        Command::Charter(CharterCmd::Sign { key, file, out }) => {
            charter::sign(&key, &file, out.as_deref())
        }
        Command::Charter(CharterCmd::Verify {
            file,
            members,
            json,
        }) => charter::verify(&file, &members, json),
        Command::Charter(CharterCmd::Submit { node, file, json }) => {
            charter::submit(&client::Client::new(&node)?, &file, json)
        }
        Command::Audit(c) => audit::run(c),
        Command::Region(cmd) => region_cmd(cmd),
        Command::Catalog(CatalogCmd::Import { node, file, json }) => {
            catalog::import(&client::Client::new(&node)?, &file, json)
        }
        Command::Catalog(CatalogCmd::Show {
            node,
            region,
            form,
            out,
        }) => catalog::show(
            &client::Client::new(&node)?,
            region.as_deref(),
            form,
            out.as_deref(),
        ),
        Command::Catalog(CatalogCmd::Search {
            node,
            text,
            region,
            theme,
            municipality,
            json,
        }) => catalog::search(
            &client::Client::new(&node)?,
            &catalog::Search {
                text: text.as_deref(),
                region: region.as_deref(),
                theme: theme.as_deref(),
                municipality: municipality.as_deref(),
            },
            json,
        ),
        Command::Demo(a) => demo::run(&a),
        Command::Completions(a) => completions::run(&a),
        Command::Reasons(a) => {
            reasons(a.json);
            Ok(())
        }
    }
}

fn policy_cmd(cmd: PolicyCmd) -> anyhow::Result<()> {
    match cmd {
        PolicyCmd::VerifyChain { files, json } => policy::verify_chain(&files, json),
        PolicyCmd::Sign {
            dir,
            file,
            previous,
            out,
        } => policy::sign(&dir, &file, previous.as_deref(), out.as_deref()),
        PolicyCmd::Publish { node, file, json } => {
            policy::publish(&client::Client::new(&node)?, &file, json)
        }
        PolicyCmd::Show { node, json } => policy::show(&client::Client::new(&node)?, json),
        PolicyCmd::History { node, json } => policy::history(&client::Client::new(&node)?, json),
    }
}

fn cert_cmd(cmd: CertCmd) -> anyhow::Result<()> {
    match cmd {
        CertCmd::Issue(a) => cert::issue(&cert::IssueOptions {
            key: a.key,
            template: a.template,
            out: a.out,
            valid_from: a.valid_from,
            valid_until: a.valid_until,
            valid_days: a.valid_days,
        }),
        CertCmd::Verify { file, at, json } => cert::verify(&file, at, json),
        CertCmd::Revoke {
            key,
            cert,
            reason,
            out,
            submit,
            node,
            dir,
        } => {
            let client = if submit || node.is_some() {
                let node = node
                    .or_else(|| std::env::var("REGIO_NODE").ok().filter(|n| !n.is_empty()))
                    .unwrap_or_else(|| client::DEFAULT_NODE.to_owned());
                Some(client::Client::new(&client::NodeArgs { node, dir })?)
            } else if dir.is_some() {
                return Err(Usage("--dir is the node directory of the node the revocation is submitted to: add --submit (to REGIO_NODE) or --node URL".into()).into());
            } else {
                None
            };
            cert::revoke(&key, &cert, &reason, out.as_deref(), client.as_ref())
        }
        CertCmd::Submit { node, file, json } => {
            cert::submit(&client::Client::new(&node)?, &file, json)
        }
    }
}

fn region_cmd(cmd: RegionCmd) -> anyhow::Result<()> {
    let sources = |m: MemberArgs| region::MemberSources {
        nodes: m.member_node,
        manual: m.member,
    };
    match cmd {
        RegionCmd::Create {
            id,
            name,
            charter,
            certifiers,
            threshold,
            members,
            key,
            out,
            json,
        } => region::create(&region::CreateOptions {
            id,
            name,
            charter,
            certifiers,
            threshold,
            members: sources(members),
            key,
            out,
            json,
        }),
        RegionCmd::Approve {
            file,
            key,
            current,
            out,
            json,
        } => region::approve(&file, &key, &out, current.as_deref(), json),
        RegionCmd::Invite {
            current,
            members,
            remove,
            key,
            out,
            json,
        } => region::invite(&current, &sources(members), &remove, &key, &out, json),
        RegionCmd::Join { node, file, json } => region::join(&node, &file, json),
        RegionCmd::Members { node, region, json } => {
            region::members_cmd(&node, region.as_deref(), json)
        }
    }
}

fn consent_record(a: ConsentArgs, withdraw: bool) -> anyhow::Result<()> {
    let signer = match (a.key, a.clerk_key) {
        (Some(k), _) => consent::Signer::Subject(k),
        (None, Some(c)) => consent::Signer::Clerk(c),
        (None, None) => {
            return Err(Usage("pass --key SUBJECT.key or --clerk-key CLERK.key".into()).into())
        }
    };
    let o = consent::RecordOptions {
        withdraw,
        subject: &a.subject,
        datasets: &a.dataset,
        purposes: &a.purpose,
        signer,
        channel: a.channel,
        json: a.json,
    };
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
        Err(e) if e.is::<Usage>() => {
            eprintln!("error: {e}\n\nFor more information, try '--help'.");
            ExitCode::from(EXIT_USAGE)
        }
        Err(e) if e.is::<client::ApiFailure>() => {
            eprintln!("error: {e:#}");
            if let Some(next) = e
                .downcast_ref::<client::ApiFailure>()
                .and_then(client::ApiFailure::next_step)
            {
                eprintln!("next: {next}");
            }
            ExitCode::from(EXIT_FAILED)
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
