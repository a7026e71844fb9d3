//! Steps 1–4 of `regio demo` (owner: demo): a federated query with its provenance, a desk
//! withdrawal of consent, an uncertified application, a revoked certificate (and the new
//! certificate after it).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::data::{self, MUNICIPALITIES};
use super::expect::{self, Daily, Mode};
use super::noisy;
use super::session::{Demo, DemoError, Step, QUERY_DEADLINE};
use super::table;
use regio_node::federation::gossip::Gossip;
use regio_node::federation::p2p;
use regio_node::federation::FederatedResult;
use regio_policy::doc::consent::{Channel, ConsentRecord, Status as ConsentStatus};
use regio_policy::Signed;
use regio_store::DocKind;

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

/// Step 1: a federated query under differential privacy: its noisy result with intervals,
/// and its provenance with the privacy budget each member charged.
pub(super) async fn federated_query(d: &mut Demo<'_>) -> Result<Step, DemoError> {
    let (days, sensors, n) = (d.opts.days, d.opts.sensors, d.region.nodes.len());
    d.say(format!(
        "1. A federated query.\n   The certified research application asks {} for the daily NO2 average and number of readings\n   \
         per municipality, for research. {} passes the question to every member. Each municipality decides\n   \
         for itself, with its own signed policy: it checks the application's ethics certificate and the\n   \
         charter, leaves out the readings of citizens who did not consent, and signs its answer.\n   \
         The readings of citizens' own sensors are personal data. The charter says: such figures leave a\n   \
         municipality only with random noise added (differential privacy), so that no answer, and no\n   \
         combination of answers, shows what one citizen contributed. Each figure comes with a range that\n   \
         holds the true figure 95 times in 100. Every question costs the application part of a daily\n   \
         privacy budget at each municipality; when it is spent, the municipality stops answering.\n   \
         In this small demo the ranges are wide: a day has only a few hundred readings, and the charter\n   \
         hides all of one citizen's readings (up to 24 a day, for up to 31 days). With the many\n   \
         citizens of a real municipality, the same noise is a small part of each figure.",
        d.name(0),
        d.name(0)
    ))?;
    let app = d.region.actors.app.clone();
    let t = Instant::now();
    let r = d
        .ask(0, &app, PURPOSE, DAILY_SQL, Some(d.cert), QUERY_DEADLINE)
        .await?;
    let took = t.elapsed();
    d.say(format!(
        "   Result ({} ms):\n{}\n   How the figures were made uncertain: {}.\n   \
         Provenance — who answered, under which policy, what they withheld, what budget they charged:\n{}",
        took.as_millis(),
        table::result(&r),
        table::mechanisms(&r),
        table::provenance(&r)
    ))?;
    let exp = Daily::in_mode(
        Mode::Private,
        n,
        (days, sensors),
        &d.withdrawn,
        MIN_GROUP,
        Utc::now(),
    );
    let v = noisy::check_daily(&r, &exp);
    d.say(format!(
        "   Check: the generated data says which groups may be released and their true figures ({} readings\n   \
         in all). {} of the {} true figures lie inside the range the answer states.",
        exp.total(),
        v.inside.0,
        v.inside.1
    ))?;
    let coverage = Some(r.coverage);
    d.first = Some(r);
    let mut step = finish(
        d,
        1,
        "a federated query answered by every member, noisy with stated intervals, with provenance",
        v.ok,
        v.expected,
        v.seen,
    )?;
    step.coverage = coverage;
    step.took = took;
    Ok(step)
}

/// What member `i`'s own audit log recorded for its answer in `r`: (subjects counted, rows
/// excluded for lack of consent), exact.
fn audited(d: &Demo<'_>, i: usize, r: &FederatedResult) -> Option<(u64, u64)> {
    let body = d.audit_entry(i, r.provenance.get(i)?.answer)?;
    Some((
        body["subjectsCounted"].as_u64()?,
        body["rowsExcludedByConsent"].as_u64()?,
    ))
}

/// Step 2: a citizen withdraws consent at the desk; the municipality's own audit log shows
/// that the next answer no longer counts them (the answer itself is meant not to show it).
pub(super) async fn withdraw_consent(d: &mut Demo<'_>) -> Result<Step, DemoError> {
    let (days, sensors) = (d.opts.days, d.opts.sensors);
    let (nis, name) = MUNICIPALITIES[0];
    let subject = data::subject(nis, 0);
    let rows = expect::subject_rows(0, days, sensors, &subject);
    let app = d.region.actors.app.clone();
    let before = d
        .ask(0, &app, PURPOSE, TOTAL_SQL, Some(d.cert), QUERY_DEADLINE)
        .await?;
    let was = audited(d, 0, &before);
    d.say(format!(
        "2. A citizen withdraws consent at the desk.\n   Citizen {subject} of {name}, whose sensor sent {rows} readings, walks into the town hall and\n   \
         withdraws consent for research. The clerk registers it; the record is signed by the clerk and\n   \
         stored by {name}'s node. Readings per municipality before (noisy):\n{}",
        table::result(&before)
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
    let is = audited(d, 0, &r);
    // The citizen's own view: which queries touched their data since the withdrawal.
    let touched = d.region.nodes[0]
        .engine
        .store()
        .subject_queries(&subject)
        .map(|es| {
            let after = r.provenance[0].answer.map(|h| h.to_string());
            es.iter()
                .any(|e| e.body["answer"].as_str() == after.as_deref())
        })
        .unwrap_or(true);
    d.say(format!(
        "   The next query, readings per municipality (noisy):\n{}\n   \
         The noise is larger than one citizen's {rows} readings: that is the point, the answer must not show\n   \
         whether one person is in it. So the check is made where the exact figures are kept: {name}'s own\n   \
         audit log, which an auditor can verify. Citizens counted and readings left out for lack of consent:\n   \
         before the withdrawal {}, after {}.",
        table::result(&r),
        pair(was),
        pair(is)
    ))?;
    let counted = expect::subjects_counted(0, days, sensors, &d.withdrawn, Utc::now());
    let ok = matches!((was, is), (Some((s0, x0)), Some((s1, x1))) if s0 == s1 + 1 && x1 == x0 + rows && s1 == counted)
        && !touched
        && r.coverage.0 == r.coverage.1;
    let expected = format!(
        "{name}'s audit log: one citizen fewer counted ({counted} left), {rows} more readings left out; the query not in {subject}'s history"
    );
    let seen = match (was, is) {
        (Some((s0, x0)), Some((s1, x1))) => format!(
            "{name}'s audit log: {s1} citizens counted (was {s0}), {} more readings left out; the query {} {subject}'s history",
            x1 as i64 - x0 as i64,
            if touched { "IS in" } else { "not in" }
        ),
        _ => format!("{name}'s audit log has no entry for one of the two answers"),
    };
    Ok(measured(
        finish(
            d,
            2,
            "a withdrawal at the desk: the citizen no longer counts (checked in the audit log)",
            ok,
            expected,
            seen,
        )?,
        &r,
        false,
        took,
    ))
}

/// `(subjects, excluded)` for people.
fn pair(x: Option<(u64, u64)>) -> String {
    x.map_or("(no audit entry)".into(), |(s, e)| {
        format!("{s} citizens counted, {e} readings left out")
    })
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
    let hash = rev.hash();
    let known = |d: &Demo<'_>| {
        d.region.nodes.iter().all(|n| {
            n.engine
                .store()
                .document(DocKind::Revocation, &hash.0)
                .is_ok_and(|x| x.is_some())
        })
    };
    // The gossip mesh may still be forming: publish again until every member stored it (each
    // answered query would cost the application privacy budget, so the region is asked once).
    loop {
        if let Err(e) = p2p::publish(&d.region.nodes[at].net, super::region::REGION, &msg).await {
            tracing::debug!(error = %e, "revocation not published yet; retried");
        }
        if known(d) || t.elapsed() > limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = d
        .ask(0, &app, PURPOSE, DAILY_SQL, Some(d.cert), QUERY_DEADLINE)
        .await?;
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

/// Between steps 4 and 5: the board reviews the changed algorithm and issues a new certificate,
/// which every member stores.
pub(super) fn recertify(d: &mut Demo<'_>) -> Result<(), DemoError> {
    let now = Utc::now();
    let cert = super::region::certificate(&d.region.actors, 2, now)?;
    for n in &d.region.nodes {
        n.engine.put_certificate(cert.raw().clone(), now)?;
    }
    d.cert = cert.hash();
    d.say("   (The board then reviews the new algorithm and issues certificate no. 2; every member stores it.)\n")
}
