//! `regio demo` (owner: demo): a whole region in one process. Five municipality nodes, each
//! with its own sled database in a fresh temporary directory and its own libp2p endpoint on
//! loopback, an ethics board, a certified and an uncertified application, a desk clerk and
//! the signed inclusion charter. [`run`] plays eight steps, narrates each in plain language
//! and checks each against figures computed from the generated data; the [`Report`] says,
//! step by step, what was expected and what was seen.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;

use super::cluster::{ClusterError, LiveRegion};
use super::region::{self, Actors, BuildError};
use super::{checks, steps};
use crate::engine::DocError;
use crate::federation::{FederatedResult, FederationError};
use crate::net::NetError;
use crate::policy::key::KeyError;
use crate::policy::signed::SignDocError;
use crate::policy::{DocHash, Key};
use crate::store::{Store, StoreError};

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct Options {
    /// Days of readings per municipality (at least 3: the sensor roll-out takes two days).
    pub days: usize,
    /// Sensors per municipality (two in five are citizens' sensors; at least 10).
    pub sensors: usize,
    /// How long the region waits for a stopped member in step 7.
    pub deadline: Duration,
    /// Fresh random keys for every actor instead of the demo's fixed keys.
    pub seedless: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            days: 3,
            sensors: 20,
            deadline: Duration::from_secs(2),
            seedless: false,
        }
    }
}

/// One step of the demo, checked.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its number (1–8).
    pub number: u8,
    /// What it shows.
    pub title: String,
    /// Whether what was seen is what was expected.
    pub ok: bool,
    /// What was expected.
    pub expected: String,
    /// What was seen.
    pub seen: String,
    /// Members that answered / members, when the step ran a federated query.
    pub coverage: Option<(usize, usize)>,
    /// The reason codes of the members' refusals (member order), when the step expected refusals.
    pub reasons: Vec<String>,
    /// How long the step's decisive part took.
    pub took: Duration,
}

/// What the demo did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every step, in order.
    pub steps: Vec<Step>,
    /// The temporary directory that held the nodes' databases (removed at the end).
    pub storage: PathBuf,
    /// Wall-clock time of the whole run.
    pub elapsed: Duration,
}

impl Report {
    /// Whether every step behaved.
    pub fn ok(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.ok)
    }
}

/// Why the demo could not run (a step that misbehaves is a failed [`Step`], not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The options cannot make a meaningful demo.
    #[error("options: {0}")]
    Options(String),
    /// Fresh keys could not be made.
    #[error("keys: {0}")]
    Keys(#[from] KeyError),
    /// Writing the narration or managing the temporary directory failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A node's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The region could not be started.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A document could not be signed.
    #[error("signing: {0}")]
    Sign(#[from] SignDocError),
    /// A node refused a document the demo hands it.
    #[error(transparent)]
    Doc(#[from] DocError),
    /// A federated query produced no result at all.
    #[error("federated query: {0}")]
    Federation(#[from] FederationError),
    /// The network failed.
    #[error("network: {0}")]
    Net(#[from] NetError),
}

impl From<BuildError> for DemoError {
    fn from(e: BuildError) -> Self {
        DemoError::Cluster(ClusterError::Build(e))
    }
}

/// The temporary directory of the nodes' databases; removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, DemoError> {
        let mut tag = [0u8; 6];
        getrandom::fill(&mut tag).map_err(|e| DemoError::Io {
            what: "choosing a name for the temporary directory".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let dir = std::env::temp_dir().join(format!("regio-demo-{}", hex::encode(tag)));
        std::fs::create_dir_all(&dir).map_err(|source| DemoError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // The demo has no log subscriber: stderr is where the operator looks.
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("regio demo: could not remove {}: {e}", self.0.display());
        }
    }
}

/// The state the steps share.
pub(super) struct Demo<'a> {
    pub(super) region: LiveRegion,
    pub(super) opts: &'a Options,
    pub(super) out: &'a mut dyn Write,
    /// Subjects who withdrew at the desk during the demo.
    pub(super) withdrawn: Vec<String>,
    /// The certificate the application currently presents.
    pub(super) cert: DocHash,
    /// Step 1's result, for the auditor.
    pub(super) first: Option<FederatedResult>,
}

/// The deadline of every query but step 7's.
pub(super) const QUERY_DEADLINE: Duration = Duration::from_secs(10);

impl Demo<'_> {
    /// Writes a line of narration.
    pub(super) fn say(&mut self, text: impl AsRef<str>) -> Result<(), DemoError> {
        writeln!(self.out, "{}", text.as_ref()).map_err(|source| DemoError::Io {
            what: "writing the narration".into(),
            source,
        })
    }

    /// Signs a query of `app` for `purpose` and coordinates it from node `at`.
    pub(super) async fn ask(
        &self,
        at: usize,
        app: &Key,
        purpose: &str,
        sql: &str,
        cert: Option<DocHash>,
        deadline: Duration,
    ) -> Result<FederatedResult, DemoError> {
        let q = self.query(at, app, purpose, sql, cert)?;
        Ok(self.region.nodes[at].coordinate(q, deadline).await?)
    }

    /// A signed query of `app` addressed to node `at`.
    pub(super) fn query(
        &self,
        at: usize,
        app: &Key,
        purpose: &str,
        sql: &str,
        cert: Option<DocHash>,
    ) -> Result<Value, DemoError> {
        Ok(region::query(
            app,
            self.region.nodes[at].engine.did(),
            purpose,
            sql,
            cert,
            Utc::now(),
        )?)
    }

    /// The name of member `i`.
    pub(super) fn name(&self, i: usize) -> &str {
        &self.region.docs.manifest.doc().members[i].name
    }
}

fn open_stores(dir: &Path, n: usize) -> Result<Vec<Store>, DemoError> {
    (0..n)
        .map(|i| Ok(Store::open_sled(&dir.join(format!("node-{i}")))?))
        .collect()
}

/// Runs the demo region, narrating to `out`. Returns the report of every step; an `Err` only
/// when the region could not be set up or a node failed internally.
pub async fn run(opts: &Options, out: &mut dyn Write) -> Result<Report, DemoError> {
    if opts.days < 3 || opts.sensors < 10 {
        return Err(DemoError::Options(format!(
            "need at least 3 days and 10 sensors (got {} days, {} sensors)",
            opts.days, opts.sensors
        )));
    }
    let started = Instant::now();
    let scratch = Scratch::new()?;
    let n = super::data::MUNICIPALITIES.len();
    let actors = if opts.seedless {
        Actors::random(n)?
    } else {
        Actors::new(n)
    };
    let region = LiveRegion::start(
        actors,
        open_stores(&scratch.0, n)?,
        opts.days,
        opts.sensors,
        Utc::now(),
    )
    .await?;
    let cert = region.docs.certificate.hash();
    let mut demo = Demo {
        region,
        opts,
        out,
        withdrawn: Vec::new(),
        cert,
        first: None,
    };
    demo.say(format!(
        "Regio demo: the region `{}` of {} municipalities, each node on its own database under {}\n\
         and its own network endpoint on this machine; {} days of air-quality readings from {} sensors each.\n",
        region::REGION,
        n,
        scratch.0.display(),
        opts.days,
        opts.sensors
    ))?;
    let mut report = Report {
        steps: Vec::new(),
        storage: scratch.0.clone(),
        elapsed: Duration::ZERO,
    };
    report.steps.push(steps::federated_query(&mut demo).await?);
    report.steps.push(steps::withdraw_consent(&mut demo).await?);
    report.steps.push(steps::uncertified(&mut demo).await?);
    report.steps.push(steps::revocation(&mut demo).await?);
    checks::recertify(&mut demo)?;
    report
        .steps
        .push(checks::forbidden_purpose(&mut demo).await?);
    report.steps.push(checks::small_group(&mut demo).await?);
    report.steps.push(checks::stopped_member(&mut demo).await?);
    report.steps.push(checks::auditor(&mut demo).await?);
    demo.region.stop().await;
    let Demo { region, out, .. } = demo;
    drop(region);
    drop(scratch);
    report.elapsed = started.elapsed();
    let passed = report.steps.iter().filter(|s| s.ok).count();
    let mut summary = format!(
        "\nSummary: {passed} of {} steps behaved as expected.\n",
        report.steps.len()
    );
    for s in &report.steps {
        summary.push_str(&format!(
            "  {} {}. {}\n",
            if s.ok { "ok  " } else { "FAIL" },
            s.number,
            s.title
        ));
        if !s.ok {
            summary.push_str(&format!(
                "       expected: {}\n       seen:     {}\n",
                s.expected, s.seen
            ));
        }
    }
    summary.push_str(&format!(
        "Databases removed: {}. Total time {:.1} s.",
        report.storage.display(),
        report.elapsed.as_secs_f64()
    ));
    writeln!(out, "{summary}").map_err(|source| DemoError::Io {
        what: "writing the narration".into(),
        source,
    })?;
    Ok(report)
}
