//! Steps 5, 6, 8 and 9 of `regio demo` (owner: demo): a purpose the charter forbids, a small
//! group not released, a stopped member, and the auditor's offline verification.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;

use super::expect::{Daily, Mode};
use super::noisy;
use super::session::{Demo, DemoError, Step, QUERY_DEADLINE};
use super::steps::{finish, measured, refused_everywhere, DAILY_SQL, MIN_GROUP, PURPOSE};
use super::table;
use regio_net::Protocol;
use regio_node::federation::Status;
use regio_policy::doc::bundle::{self, PolicyBundle};
use regio_policy::doc::query::{self as qdoc, PartialAnswer};
use regio_policy::{DocHash, Signed};
use regio_store::audit::Kind;

/// Step 5: a purpose the charter does not allow is refused everywhere.
pub(super) async fn forbidden_purpose(d: &mut Demo<'_>) -> Result<Step, DemoError> {
    let allowed = d
        .region
        .docs
        .charter
        .doc()
        .clauses
        .allowed_purposes
        .join(", ");
    d.say(format!(
        "5. A purpose the charter forbids.\n   The application asks the same question \"for marketing\". The region's inclusion charter, signed\n   \
         by every municipality, allows only: {allowed}.\n   Each member applies the charter itself."
    ))?;
    let app = d.region.actors.app.clone();
    let t = Instant::now();
    let r = d
        .ask(
            0,
            &app,
            "Marketing",
            DAILY_SQL,
            Some(d.cert),
            QUERY_DEADLINE,
        )
        .await?;
    let took = t.elapsed();
    let message = r.provenance.iter().find_map(|p| match &p.status {
        Status::Refused { message, .. } => Some(message.clone()),
        _ => None,
    });
    d.say(format!(
        "{}\n   The members' explanation: \"{}\"",
        table::provenance(&r),
        message.unwrap_or_default()
    ))?;
    let code = "charter.purpose_not_allowed";
    let (ok, seen) = refused_everywhere(&r, code);
    let n = r.provenance.len();
    Ok(measured(
        finish(
            d,
            5,
            "a purpose the charter forbids is refused everywhere",
            ok,
            format!("{code} from {n}; coverage 0/{n}"),
            seen,
        )?,
        &r,
        true,
        took,
    ))
}

/// Step 6: a group with too few citizens is not released: it is absent from the answer, and
/// each municipality's own audit log counts what it kept at home.
pub(super) async fn small_group(d: &mut Demo<'_>) -> Result<Step, DemoError> {
    let (days, sensors, n) = (d.opts.days, d.opts.sensors, d.region.nodes.len());
    let exp = Daily::in_mode(
        Mode::Private,
        n,
        (days, sensors),
        &d.withdrawn,
        MIN_GROUP,
        Utc::now(),
    );
    let name = |nis: &str| {
        super::data::MUNICIPALITIES
            .iter()
            .find(|m| m.0 == nis)
            .map_or(nis.to_owned(), |m| m.1.to_owned())
    };
    let hidden = exp
        .hidden
        .iter()
        .map(|((nis, day), g)| {
            let s = if g.subjects == 1 { "" } else { "s" };
            format!("{} on {day}: {} citizen{s}", name(nis), g.subjects)
        })
        .collect::<Vec<_>>()
        .join(", ");
    d.say(format!(
        "6. A small group is not released.\n   The application asks the daily question again. On the first day only a few sensors were\n   \
         installed, all of them citizens' own ({hidden}). So few people could be\n   \
         recognised even in a noisy figure: the charter releases a group of citizens' readings only when\n   \
         there are clearly more than {MIN_GROUP} citizens in it. Each municipality keeps that day at home; the\n   \
         day is simply absent from the answer. How many groups it kept back is written in its own audit log\n   \
         (the answer does not say it: that number, too, could give a citizen away)."
    ))?;
    let app = d.region.actors.app.clone();
    let t = Instant::now();
    let r = d
        .ask(0, &app, PURPOSE, DAILY_SQL, Some(d.cert), QUERY_DEADLINE)
        .await?;
    let took = t.elapsed();
    let released = noisy::column(&r, 2, 2);
    let absent = exp
        .hidden
        .keys()
        .all(|(a, b)| !released.contains_key(&vec![a.clone(), b.clone()]));
    let logged: Vec<Option<u64>> = (0..n)
        .map(|i| {
            d.audit_entry(i, r.provenance.get(i).and_then(|p| p.answer))
                .and_then(|b| b["groupsSuppressed"].as_u64())
        })
        .collect();
    d.say(format!(
        "{}\n{}\n   Groups kept at home, from each municipality's audit log: {}.",
        table::result(&r),
        table::provenance(&r),
        logged
            .iter()
            .enumerate()
            .map(|(i, g)| format!("{} {}", d.name(i), g.map_or("-".into(), |g| g.to_string())))
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    let v = noisy::check_daily(&r, &exp);
    let want: Vec<Option<u64>> = exp.suppressed.iter().map(|&s| Some(s)).collect();
    let some = !exp.hidden.is_empty();
    let ok = v.ok && absent && some && logged == want;
    let expected = if some {
        format!(
            "{}; absent: {hidden}; kept at home per member (audit log) {:?}",
            v.expected, exp.suppressed
        )
    } else {
        "at least one group with too few citizens (none in this data: use fewer sensors on day 1)"
            .into()
    };
    let seen = format!(
        "{}; the small groups {}; kept at home per member (audit log) {:?}",
        v.seen,
        if absent { "absent" } else { "PRESENT" },
        logged.iter().map(|g| g.unwrap_or(0)).collect::<Vec<_>>()
    );
    Ok(measured(
        finish(d, 6, "a small group is not released", ok, expected, seen)?,
        &r,
        false,
        took,
    ))
}

/// Step 8: a stopped member; the answer comes by the deadline with the coverage stated.
pub(super) async fn stopped_member(d: &mut Demo<'_>) -> Result<Step, DemoError> {
    let stop = d.region.nodes.len() - 1;
    let deadline = d.opts.deadline;
    d.say(format!(
        "8. A member goes down.\n   {}'s node is switched off. The region does not wait for it beyond the query's deadline\n   \
         ({} ms): the answer comes from the others and says plainly who is missing.",
        d.name(stop),
        deadline.as_millis()
    ))?;
    d.region.nodes[stop].stop().await;
    let app = d.region.actors.app.clone();
    let t = Instant::now();
    let r = d
        .ask(0, &app, PURPOSE, DAILY_SQL, Some(d.cert), deadline)
        .await?;
    let took = t.elapsed();
    d.say(format!(
        "{}\n   The answer arrived after {} ms.",
        table::provenance(&r),
        took.as_millis()
    ))?;
    let n = r.provenance.len();
    let missing = r
        .provenance
        .get(stop)
        .map(table::status)
        .unwrap_or_default();
    let others = r
        .provenance
        .iter()
        .enumerate()
        .all(|(i, p)| i == stop || p.status == Status::Answered);
    let on_time = took <= deadline + Duration::from_millis(500);
    let ok = r.coverage == (n - 1, n)
        && matches!(missing.as_str(), "timed_out" | "unreachable")
        && others
        && on_time;
    let expected = format!(
        "coverage {}/{n}, {} timed_out or unreachable, within {} ms",
        n - 1,
        d.name(stop),
        deadline.as_millis()
    );
    let seen = format!(
        "coverage {}/{}, {} {missing}, after {} ms",
        r.coverage.0,
        r.coverage.1,
        d.name(stop),
        took.as_millis()
    );
    Ok(measured(
        finish(
            d,
            8,
            "a stopped member: the answer arrives by the deadline with coverage stated",
            ok,
            expected,
            seen,
        )?,
        &r,
        false,
        took,
    ))
}

/// What the auditor found at one member.
struct Audit {
    source: &'static str,
    chain: Result<(u64, DocHash), String>,
    answer: Result<(), String>,
}

/// Fetches member `i`'s policy chain: over `/regio/chain/1` while it runs, from its store once stopped.
async fn fetch_chain(
    d: &Demo<'_>,
    i: usize,
    running: bool,
) -> (&'static str, Result<Vec<Value>, String>) {
    if running {
        let did = d.region.nodes[i].engine.did().clone();
        let got = d.region.nodes[0]
            .net
            .request(&did, Protocol::Chain, Vec::new(), QUERY_DEADLINE)
            .await;
        (
            "/regio/chain/1",
            got.map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string())),
        )
    } else {
        let recs = d.region.nodes[i]
            .engine
            .store()
            .policies()
            .map_err(|e| e.to_string());
        (
            "its store",
            recs.and_then(|rs| {
                rs.iter()
                    .map(|r| serde_json::from_slice(&r.raw).map_err(|e| e.to_string()))
                    .collect()
            }),
        )
    }
}

/// Checks one signed PartialAnswer of step 1: signature, signer = the member, the query, and
/// an entry of the member's audit log naming it.
fn check_answer(d: &Demo<'_>, i: usize, answers: &HashMap<DocHash, Value>) -> Result<(), String> {
    let first = d.first.as_ref().ok_or("step 1 produced no result")?;
    let p = &first.provenance[i];
    let hash = p.answer.ok_or("no signed answer in step 1")?;
    let raw = answers
        .get(&hash)
        .ok_or("the answer named in the provenance is missing")?;
    let signed =
        Signed::<PartialAnswer>::verify(raw.clone()).map_err(|e| format!("signature: {e}"))?;
    qdoc::check_answer_signer(&signed).map_err(|e| e.to_string())?;
    if signed.doc().node != p.member || signed.doc().query_hash != first.query_hash {
        return Err(format!(
            "signed by {} for {}",
            signed.doc().node,
            signed.doc().query_hash
        ));
    }
    let store = d.region.nodes[i].engine.store();
    store
        .verify_audit()
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("audit log: {e}"))?;
    let log = store.audit_range(1, u64::MAX).map_err(|e| e.to_string())?;
    let logged = log.iter().any(|e| {
        e.kind == Kind::QueryAnswered
            && e.body["answer"].as_str() == Some(hash.to_string().as_str())
    });
    logged
        .then_some(())
        .ok_or_else(|| "not in the member's audit log".into())
}

/// Step 9: the auditor verifies every policy chain and every signed answer of step 1, offline.
pub(super) async fn auditor(d: &mut Demo<'_>) -> Result<Step, DemoError> {
    d.say(
        "9. The auditor checks, offline.\n   An auditor fetches each member's chain of signed policies and verifies signatures and links\n   \
         without trusting any node; then checks each signed answer of step 1: the signature, that the\n   \
         member itself signed it, and that the member's own (hash-chained) audit log records it.",
    )?;
    let t = Instant::now();
    let first = d.first.as_ref().map(|f| {
        f.answers
            .iter()
            .filter_map(|a| {
                Signed::<PartialAnswer>::verify(a.clone())
                    .ok()
                    .map(|s| (s.hash(), a.clone()))
            })
            .collect()
    });
    let answers: HashMap<DocHash, Value> = first.unwrap_or_default();
    let mut audits = Vec::new();
    let stopped = d.region.nodes.len() - 1;
    for (i, m) in d.region.docs.manifest.doc().members.iter().enumerate() {
        let (source, chain) = fetch_chain(d, i, i != stopped).await;
        let chain = chain.and_then(|docs| {
            let bundles = docs
                .into_iter()
                .map(Signed::<PolicyBundle>::verify)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let head = bundle::verify_chain(&bundles).map_err(|e| e.to_string())?;
            if head.issuer != m.did {
                return Err(format!("chain of {}, not of {}", head.issuer, m.did));
            }
            Ok((head.version, head.hash))
        });
        audits.push(Audit {
            source,
            chain,
            answer: check_answer(d, i, &answers),
        });
    }
    let took = t.elapsed();
    let header = [
        "member",
        "chain fetched from",
        "policy chain",
        "step 1 answer",
    ]
    .map(String::from);
    let rows: Vec<Vec<String>> = audits
        .iter()
        .enumerate()
        .map(|(i, a)| {
            vec![
                d.name(i).to_owned(),
                a.source.to_owned(),
                match &a.chain {
                    Ok((v, h)) => format!("verified, head v{v} {}…", &h.to_string()[..19]),
                    Err(e) => format!("FAILED: {e}"),
                },
                match &a.answer {
                    Ok(()) => "signature ok, signer = member, in its audit log".into(),
                    Err(e) => format!("FAILED: {e}"),
                },
            ]
        })
        .collect();
    d.say(table::grid(&header, &rows))?;
    let chains = audits.iter().filter(|a| a.chain.is_ok()).count();
    let signed = audits.iter().filter(|a| a.answer.is_ok()).count();
    let n = audits.len();
    let ok = chains == n && signed == n;
    let mut step = finish(
        d,
        9,
        "the auditor verifies every policy chain and every signed answer offline",
        ok,
        format!("{n} chains and {n} answers verify"),
        format!("{chains} chains and {signed} answers verify"),
    )?;
    step.took = took;
    Ok(step)
}
