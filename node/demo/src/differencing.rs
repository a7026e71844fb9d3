//! Step 7 of `regio demo` (owner: demo): a certified application tries to single out one
//! citizen. The classic differencing pair — the same count with and without that citizen —
//! is refused (the subject field may not be filtered at all); the next best thing, asking the
//! same count again and again to average the noise away, gets fresh noise every time, spends
//! the application's privacy budget, and is then refused. The application has its own key,
//! so the other steps keep their budget.

use std::time::Instant;

use chrono::Utc;

use super::data::{self, MUNICIPALITIES};
use super::expect;
use super::noisy;
use super::region;
use super::session::{Demo, DemoError, Step, QUERY_DEADLINE};
use super::steps::{finish, measured, refused_everywhere, PURPOSE};
use super::table;
use regio_node::federation::{FederatedResult, Status};

/// At most this many repeated questions (the budget runs out long before).
const MAX_TRIES: usize = 40;

/// The one noisy count of an answer and its interval.
fn count_of(r: &FederatedResult) -> Option<noisy::Shown> {
    noisy::column(r, 0, 0).into_values().next()
}

/// Epsilon left at member `i` after its answer in `r`.
fn left_at(r: &FederatedResult, i: usize) -> Option<f64> {
    let releases = table::releases(r);
    let hash = r.provenance.get(i)?.answer?;
    releases.get(&hash)?.epsilon_left
}

/// Step 7: the differencing pair, then averaging by repetition, until the budget is spent.
pub(super) async fn differencing(d: &mut Demo<'_>) -> Result<Step, DemoError> {
    let (days, sensors) = (d.opts.days, d.opts.sensors);
    let (nis, name) = MUNICIPALITIES[0];
    let citizen = data::subject(nis, 1);
    let rows = expect::subject_rows(0, days, sensors, &citizen);
    let clause = d.region.docs.charter.doc().clauses.disclosure;
    let per_query = clause.epsilon_per_query;
    let budget = clause.budget.epsilon;
    let answers_allowed = (budget / per_query + 1e-9).floor() as usize;
    let now = Utc::now();
    let cert = region::curious_certificate(&d.region.actors, 3, now)?;
    for n in &d.region.nodes {
        n.engine.put_certificate(cert.raw().clone(), now)?;
    }
    let cert = Some(cert.hash());
    d.say(format!(
        "7. An application tries to single out one citizen.\n   A second application, also certified by the ethics board, wants to know about citizen\n   \
         {citizen} of {name} ({rows} readings). The old trick: ask how many readings {name} has, then ask\n   \
         the same \"without {citizen}\", and subtract. Under the charter each question costs {per_query} of the\n   \
         application's daily privacy budget of {budget} at every municipality."
    ))?;
    let app = d.region.actors.curious.clone();
    let all = format!("SELECT count(*) AS readings FROM readings WHERE municipality = '{nis}'");
    let without = format!("{all} AND subject <> '{citizen}'");
    let t = Instant::now();
    let first = d.ask(0, &app, PURPOSE, &all, cert, QUERY_DEADLINE).await?;
    let second = d
        .ask(0, &app, PURPOSE, &without, cert, QUERY_DEADLINE)
        .await?;
    let (pair_refused, pair_seen) = refused_everywhere(&second, "disclosure.subject_field");
    let message = second.provenance.iter().find_map(|p| match &p.status {
        Status::Refused { message, .. } => Some(message.clone()),
        _ => None,
    });
    let explained = message.map_or(String::new(), |m| {
        format!("\n   The members' explanation: \"{m}\"")
    });
    d.say(format!(
        "   Question 1, all readings of {name}:\n{}\n   Question 2, \"without {citizen}\": {pair_seen}.{explained}\n   \
         Filtering on the citizen field is not allowed at all, in any question. The next best thing: ask\n   \
         question 1 again and again and average the answers, hoping the noise cancels out.",
        table::result(&first),
    ))?;
    let mut answers = vec![first];
    let mut last = None;
    for _ in 0..MAX_TRIES {
        let r = d.ask(0, &app, PURPOSE, &all, cert, QUERY_DEADLINE).await?;
        if r.result.is_none() {
            last = Some(r);
            break;
        }
        answers.push(r);
    }
    let took = t.elapsed();
    let mut lines = Vec::new();
    let mut values = Vec::new();
    let mut noisy_each = true;
    for (k, r) in answers.iter().enumerate() {
        let shown = count_of(r);
        noisy_each &=
            shown.is_some_and(|s| s.interval.is_some()) && !table::mechanisms(r).is_empty();
        let v = shown.and_then(|s| s.value).unwrap_or(f64::NAN);
        values.push(v);
        let (lo, hi) = shown
            .and_then(|s| s.interval)
            .map_or((f64::NAN, f64::NAN), |[lo, hi]| (lo, hi));
        let budgets = (0..r.provenance.len())
            .map(|i| left_at(r, i).map_or("-".into(), |l| format!("{l}")))
            .collect::<Vec<_>>()
            .join(" / ");
        lines.push(vec![
            format!("{}", k + 1),
            format!("{v:.0}"),
            format!("{lo:.0} … {hi:.0}"),
            budgets,
        ]);
    }
    let header = [
        "answer",
        "readings (noisy)",
        "95 % interval",
        "budget left per member",
    ]
    .map(String::from);
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let truth = expect::daily_counts(0, days, sensors, &d.withdrawn, Utc::now())
        .values()
        .sum::<u64>();
    d.say(format!(
        "{}\n   The average of the {} answers is {mean:.0}; the true figure is {truth}. The noise is far\n   \
         larger than the {rows} readings of one citizen, and averaging {} answers does not shrink it enough.",
        table::grid(&header, &lines),
        answers.len(),
        answers.len()
    ))?;
    let exhausted = last
        .as_ref()
        .map(|r| refused_everywhere(r, "disclosure.budget_exhausted"));
    if let Some(r) = &last {
        d.say(format!(
            "   The next time, every municipality refuses:\n{}",
            table::provenance(r)
        ))?;
    }
    let spent = answers.last().is_some_and(|r| {
        (0..r.provenance.len()).all(|i| left_at(r, i).is_some_and(|l| l < per_query))
    });
    let differs = values.windows(2).any(|w| w[0] != w[1]);
    let ok = pair_refused
        && noisy_each
        && differs
        && answers.len() == answers_allowed
        && spent
        && exhausted.as_ref().is_some_and(|(all, _)| *all);
    let n = d.region.nodes.len();
    let expected = format!(
        "\"without\" refused disclosure.subject_field by {n}; {answers_allowed} noisy answers, each with an interval; then disclosure.budget_exhausted from {n}"
    );
    let seen = format!(
        "\"without\": {pair_seen}; {} answers{}{}; then {}",
        answers.len(),
        if noisy_each {
            ", each with an interval"
        } else {
            ", NOT all noisy"
        },
        if differs {
            ", not all the same"
        } else {
            ", all EQUAL"
        },
        exhausted.map_or("no refusal".into(), |(_, s)| s)
    );
    let step = finish(
        d,
        7,
        "differencing fails: one citizen cannot be singled out, the budget runs out",
        ok,
        expected,
        seen,
    )?;
    Ok(match &last {
        Some(r) => measured(step, r, true, took),
        None => step,
    })
}
