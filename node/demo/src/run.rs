//! `regio demo` (owner: demo): a whole region in one process. Five municipality nodes, each
//! with its own sled database in a fresh temporary directory and its own libp2p endpoint on
//! loopback, an ethics board, a certified and an uncertified application, a desk clerk and
//! the signed inclusion charter (the default one: differential privacy for personal data).
//! [`run`] plays nine steps, narrates each in plain language
//! and checks each against figures computed from the generated data; the [`Report`] says,
//! step by step, what was expected and what was seen.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::cluster::LiveRegion;
use super::region::{self, Actors};
use super::session::Demo;
use super::{checks, differencing, steps};
use regio_store::Store;

pub use super::session::{DemoError, Options, Report, Step};

/// The temporary directory of the nodes' databases (`regio-demo-XXXXXX` under the system's
/// temporary directory); removed when dropped.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Result<Scratch, DemoError> {
        tempfile::Builder::new()
            .prefix("regio-demo-")
            .tempdir()
            .map(Scratch)
            .map_err(|source| DemoError::Io {
                what: format!(
                    "creating a directory under {}",
                    std::env::temp_dir().display()
                ),
                source,
            })
    }

    fn path(&self) -> &std::path::Path {
        self.0.path()
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
    let region = LiveRegion::start_full(
        region::REGION,
        &region::default_charter(),
        actors,
        open_stores(scratch.path(), n)?,
        (opts.days, opts.sensors),
        Utc::now(),
        |_, _| {},
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
        scratch.path().display(),
        opts.days,
        opts.sensors
    ))?;
    let mut report = Report {
        steps: Vec::new(),
        storage: scratch.path().to_path_buf(),
        elapsed: Duration::ZERO,
    };
    report.steps.push(steps::federated_query(&mut demo).await?);
    report.steps.push(steps::withdraw_consent(&mut demo).await?);
    report.steps.push(steps::uncertified(&mut demo).await?);
    report.steps.push(steps::revocation(&mut demo).await?);
    steps::recertify(&mut demo)?;
    report
        .steps
        .push(checks::forbidden_purpose(&mut demo).await?);
    report.steps.push(checks::small_group(&mut demo).await?);
    report
        .steps
        .push(differencing::differencing(&mut demo).await?);
    report.steps.push(checks::stopped_member(&mut demo).await?);
    report.steps.push(checks::auditor(&mut demo).await?);
    demo.region.stop().await;
    let Demo { region, out, .. } = demo;
    drop(region);
    let storage = scratch.path().display().to_string();
    if let Err(e) = scratch.0.close() {
        // The demo installs no log subscriber: stderr is where the operator looks.
        eprintln!("regio demo: could not remove {storage}: {e}");
    }
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
