//! What the demo's steps share: its [`Options`], the [`Step`]s and [`Report`] it produces,
//! [`DemoError`], and the running session (`Demo`: the region, the narration, what the
//! steps learnt so far).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use super::cluster::{ClusterError, LiveRegion};
use super::region::{self, BuildError};
use regio_net::NetError;
use regio_node::engine::DocError;
use regio_node::federation::{FederatedResult, FederationError};
use regio_policy::key::KeyError;
use regio_policy::signed::SignDocError;
use regio_policy::{DocHash, Key};
use regio_store::StoreError;

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct Options {
    /// Days of readings per municipality (at least 3: the sensor roll-out takes two days).
    pub days: usize,
    /// Sensors per municipality (two in five are citizens' sensors; at least 10). With fewer
    /// than 50, a municipality has fewer consenting citizens than the minimum group size.
    pub sensors: usize,
    /// How long the region waits for a stopped member in step 8.
    pub deadline: Duration,
    /// Fresh random keys for every actor instead of the demo's fixed keys.
    pub seedless: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            days: 3,
            sensors: super::data::SENSORS,
            deadline: Duration::from_secs(2),
            seedless: false,
        }
    }
}

/// One step of the demo, checked.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its number (1–9).
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

/// The deadline of every query but step 8's.
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

    /// The body of member `i`'s own audit entry for its signed answer `answer` (exact
    /// counters, subjects counted), if it has one.
    pub(super) fn audit_entry(&self, i: usize, answer: Option<DocHash>) -> Option<Value> {
        let answer = answer?.to_string();
        let log = self.region.nodes[i]
            .engine
            .store()
            .audit_range(1, u64::MAX)
            .ok()?;
        log.into_iter()
            .rev()
            .find(|e| e.body["answer"].as_str() == Some(answer.as_str()))
            .map(|e| e.body)
    }

    /// The name of member `i`.
    pub(super) fn name(&self, i: usize) -> &str {
        &self.region.docs.manifest.doc().members[i].name
    }
}
