//! Steps 1–4 of `regio demo` (owner: demo): a federated query with its provenance, a desk
//! withdrawal of consent, an uncertified application, a revoked certificate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::data::{self, MUNICIPALITIES};
use super::expect::{self, Daily};
use super::session::{Demo, DemoError, Step, QUERY_DEADLINE};
use super::table;
use regio_node::federation::gossip::Gossip;
use regio_node::federation::p2p;
use regio_node::federation::{FederatedResult, Status};
use regio_policy::doc::consent::{Channel, ConsentRecord, Status as ConsentStatus};
use regio_policy::Signed;

/// The purpose the application declares.
pub(super) const PURPOSE: &str = "ResearchAndDevelopment";
/// Daily NO2 average and count per municipality.
pub(super) const DAILY_SQL: &str =
    "SELECT municipality, date_trunc('day', observed_at) AS day, count(*) AS readings, avg(no2) AS no2_avg FROM readings GROUP BY 1, 2 ORDER BY 1, 2";
/// Readings per municipality.
const TOTAL_SQL: &str =
    "SELECT municipality, count(*) AS readings FROM readings GROUP BY 1 ORDER BY 1";
/// The charter's minimum group size.
pub(super) const MIN_GROUP: u64 = 10;

/// A step's outcome, narrated.
pub(super) fn finish(
    d: &mut Demo<'_>,
    number: u8,
    title: &str,
    ok: bool,
    expected: String,
    seen: String,
) -> Result<Step, DemoError> {
    d.say(if ok {
        format!("  => as expected: {seen}\n")
    } else {
        format!("  => NOT AS EXPECTED\n     expected: {expected}\n     seen:     {seen}\n")
    })?;
    Ok(Step {
        number,
        title: title.into(),
        ok,
        expected,
        seen,
        coverage: None,
        reasons: Vec::new(),
        took: Duration::ZERO,
    })
}

/// `step` with the coverage of `r`, its refusal reasons when `refusals`, and the time taken.
pub(super) fn measured(
    mut step: Step,
    r: &FederatedResult,
    refusals: bool,
    took: Duration,
) -> Step {
    step.coverage = Some(r.coverage);
    if refusals {
        step.reasons = table::reasons(r);
    }
    step.took = took;
    step
}

/// The (municipality, day) → readings of a daily result.
fn daily_rows(r: &FederatedResult) -> BTreeMap<(String, String), u64> {
    let rows = r
        .result
        .as_ref()
        .and_then(|v| v["rows"].as_array().cloned())
        .unwrap_or_default();
    rows.iter()
        .map(|row| {
            (
                (
                    row[0].as_str().unwrap_or("").to_owned(),
                    row[1].as_str().unwrap_or("").to_owned(),
                ),
                row[2].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Compares a daily result with the expectation: every kept group and its count, the groups
/// each member suppressed, full coverage. Returns (ok, expected, seen).
pub(super) fn check_daily(r: &FederatedResult, exp: &Daily) -> (bool, String, String) {
    let seen_rows = daily_rows(r);
    let total: u64 = seen_rows.values().sum();
    let suppressed: Vec<u64> = r.provenance.iter().map(|p| p.groups_suppressed).collect();
    let n = r.provenance.len();
    let ok = r.coverage == (n, n) && seen_rows == exp.kept && suppressed == exp.suppressed;
    let expected = format!(
        "coverage {n}/{n}, {} groups, {} readings, groups suppressed per member {:?}",
        exp.kept.len(),
        exp.total(),
        exp.suppressed
    );
    let seen = format!(
        "coverage {}/{}, {} groups, {} readings, groups suppressed per member {:?}",
        r.coverage.0,
        r.coverage.1,
        seen_rows.len(),
        total,
        suppressed
    );
    (ok, expected, seen)
}

/// Whether every member refused with `code`; and the line saying what was seen.
pub(super) fn refused_everywhere(r: &FederatedResult, code: &str) -> (bool, String) {
    let reasons = table::reasons(r);
    let all = reasons.iter().all(|c| c == code) && r.result.is_none();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (p, c) in r.provenance.iter().zip(&reasons) {
        *counts
            .entry(if c.is_empty() {
                table::status(p)
            } else {
                c.clone()
            })
            .or_insert(0) += 1;
    }
    let seen = counts
        .iter()
        .map(|(c, k)| format!("{c} from {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    (
        all,
        format!("{seen}; coverage {}/{}", r.coverage.0, r.coverage.1),
    )
}

/// Step 1: a federated query, its result and provenance.
pub(super) async fn federated_query(d: &mut Demo<'_>) -> Result<Step, DemoError> {
    let (days, sensors, n) = (d.opts.days, d.opts.sensors, d.region.nodes.len());
    d.say(format!(
        "1. A federated query.\n   The certified research application asks {} for the daily NO2 average and number of readings\n   \
         per municipality, for research. {} passes the question to every member. Each municipality decides\n   \
         for itself, with its own signed policy: it checks the application's ethics certificate and the\n   \
         charter, leaves out the readings of citizens who did not consent, and signs its answer.",
        d.name(0),
        d.name(0)
    ))?;
    let app = d.region.actors.app.clone();
    let t = Instant::now();
    let r = d
        .ask(0, &app, PURPOSE, DAILY_SQL, Some(d.cert), QUERY_DEADLINE)
        .await?;
    let took = t.elapsed();
    d.say(format!("   Result ({} ms):\n{}\n   Provenance — who answered, under which policy, what they left out:\n{}", took.as_millis(), table::result(&r), table::provenance(&r)))?;
    let exp = Daily::new(n, days, sensors, &d.withdrawn, MIN_GROUP, Utc::now());
    let (ok, expected, seen) = check_daily(&r, &exp);
    d.say(format!("   Check: the generated data says the region holds {} readings that may be used for research; the answer adds up to {}.", exp.total(), daily_rows(&r).values().sum::<u64>()))?;
    let coverage = Some(r.coverage);
    d.first = Some(r);
    let mut step = finish(
        d,
        1,
        "a federated query answered by every member, with provenance",
        ok,
        expected,
        seen,
    )?;
    step.coverage = coverage;
    step.took = took;
    Ok(step)
}

fn totals(r: &FederatedResult) -> BTreeMap<String, u64> {
    let rows = r
        .result
        .as_ref()
        .and_then(|v| v["rows"].as_array().cloned())
        .unwrap_or_default();
    rows.iter()
        .map(|row| {
            (
                row[0].as_str().unwrap_or("").to_owned(),
                row[1].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Step 2: a citizen withdraws consent at the desk; the next answer loses exactly their rows.
pub(super) async fn withdraw_consent(d: &mut Demo<'_>) -> Result<Step, DemoError> {
    let (days, sensors) = (d.opts.days, d.opts.sensors);
    let (nis, name) = MUNICIPALITIES[0];
    let subject = data::subject(nis, 0);
    let rows = expect::subject_rows(0, days, sensors, &subject);
    let app = d.region.actors.app.clone();
    let before = totals(
        &d.ask(0, &app, PURPOSE, TOTAL_SQL, Some(d.cert), QUERY_DEADLINE)
            .await?,
    );
    d.say(format!(
        "2. A citizen withdraws consent at the desk.\n   Citizen {subject} of {name}, whose sensor sent {rows} readings, walks into the town hall and\n   \
         withdraws consent for research. The clerk registers it; the record is signed by the clerk and\n   \
         stored by {name}'s node. Readings per municipality before: {name} {}.",
        before.get(nis).copied().unwrap_or(0)
    ))?;
    let now = Utc::now();
    let record = ConsentRecord {
        id: format!("{subject}/{PURPOSE}"),
        subject: subject.clone(),
        subject_did: None,
        controller: d.region.nodes[0].engine.did().clone(),
        datasets: vec!["*".into()],
        purposes: vec![PURPOSE.into()],
        status: ConsentStatus::Withdrawn,
        given_at: now - chrono::Duration::days(30),
        withdrawn_at: Some(now),
        channel: Channel::Desk,
        clerk: Some(d.region.actors.clerk.did().clone()),
        notice: None,
        language: Some("nl".into()),
    };
    let signed = Signed::sign(record, &d.region.actors.clerk, now)?;
    d.region.nodes[0]
        .engine
        .record_consent(signed.raw().clone(), now)?;
    d.withdrawn.push(subject.clone());
    let t = Instant::now();
    let r = d
        .ask(0, &app, PURPOSE, TOTAL_SQL, Some(d.cert), QUERY_DEADLINE)
        .await?;
    let took = t.elapsed();
    let after = totals(&r);
    d.say(format!(
        "   The next query, readings per municipality:\n{}",
        table::result(&r)
    ))?;
    let mut want = before.clone();
    if let Some(v) = want.get_mut(nis) {
        *v = v.saturating_sub(rows);
    }
    let data_says: u64 = expect::daily_counts(0, days, sensors, &d.withdrawn, Utc::now())
        .values()
        .sum();
    let ok = after == want && after.get(nis) == Some(&data_says) && r.coverage.0 == r.coverage.1;
    let b = before.get(nis).copied().unwrap_or(0);
    let a = after.get(nis).copied().unwrap_or(0);
    let expected = format!(
        "{name}: {b} - {rows} = {} readings, the other municipalities unchanged",
        b.saturating_sub(rows)
    );
    let seen = format!(
        "{name}: {a} readings (change {}), the others {}",
        a as i64 - b as i64,
        if after
            .iter()
            .filter(|(k, _)| *k != nis)
            .all(|(k, v)| before.get(k) == Some(v))
        {
            "unchanged"
        } else {
            "changed"
        }
    );
    Ok(measured(
        finish(
            d,
            2,
            "a withdrawal at the desk removes exactly that citizen's readings",
            ok,
            expected,
            seen,
        )?,
        &r,
        false,
        took,
    ))
}

/// Step 3: an application without a certificate is refused by every member.
pub(super) async fn uncertified(d: &mut Demo<'_>) -> Result<Step, DemoError> {
    d.say(
        "3. An application without an ethics certificate.\n   Another application asks the same question but has no certificate from the ethics board.\n   \
         Every municipality's policy requires one for this dataset, so each refuses on its own.",
    )?;
    let app = d.region.actors.uncertified.clone();
    let t = Instant::now();
    let r = d
        .ask(0, &app, PURPOSE, DAILY_SQL, None, QUERY_DEADLINE)
        .await?;
    let took = t.elapsed();
    d.say(table::provenance(&r))?;
    let (ok, seen) = refused_everywhere(&r, "certificate.missing");
    let n = r.provenance.len();
    Ok(measured(
        finish(
            d,
            3,
            "an uncertified application is refused everywhere",
            ok,
            format!("certificate.missing from {n}; coverage 0/{n}"),
            seen,
        )?,
        &r,
        true,
        took,
    ))
}

/// Step 4: the certificate is revoked at one node, gossiped, and refused everywhere.
pub(super) async fn revocation(d: &mut Demo<'_>) -> Result<Step, DemoError> {
    let at = 2.min(d.region.nodes.len() - 1);
    let (actors, docs) = (&d.region.actors, &d.region.docs);
    let now = Utc::now();
    let rev = super::region::revocation(
        actors,
        docs,
        "the algorithm changed without a new review",
        now,
    )?;
    let text = format!(
        "4. The ethics board revokes the certificate.\n   The board learns that the application's algorithm changed without review. It signs a revocation\n   \
         and hands it to {}'s node only. The node passes it on to the region (gossip); every member checks\n   \
         the board's signature itself and from then on refuses the application.",
        d.name(at)
    );
    d.say(text)?;
    d.region.nodes[at]
        .engine
        .put_revocation(rev.raw().clone(), now)?;
    let msg = Gossip::Revocation {
        doc: rev.raw().clone(),
    };
    let app = d.region.actors.app.clone();
    let t = Instant::now();
    let limit = Duration::from_secs(20);
    let r = loop {
        // The gossip mesh may still be forming: publish again until every member refuses.
        if let Err(e) = p2p::publish(&d.region.nodes[at].net, super::region::REGION, &msg).await {
            tracing::debug!(error = %e, "revocation not published yet; retried");
        }
        let r = d
            .ask(0, &app, PURPOSE, DAILY_SQL, Some(d.cert), QUERY_DEADLINE)
            .await?;
        let all = r.provenance.iter().all(|p| matches!(&p.status, Status::Refused { reason, .. } if reason == "certificate.revoked"));
        if all || t.elapsed() > limit {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = t.elapsed();
    d.say(format!(
        "{}\n   Every member knew of the revocation {} ms after the board filed it at {}.",
        table::provenance(&r),
        took.as_millis(),
        d.name(at)
    ))?;
    let (ok, seen) = refused_everywhere(&r, "certificate.revoked");
    let n = r.provenance.len();
    Ok(measured(
        finish(
            d,
            4,
            "a revocation filed at one node is gossiped and honoured everywhere",
            ok,
            format!("certificate.revoked from {n} within {} s", limit.as_secs()),
            format!("{seen}, after {} ms", took.as_millis()),
        )?,
        &r,
        true,
        took,
    ))
}
