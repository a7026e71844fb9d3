//! Plain-text tables of the demo's narration (owner: demo): a federated result (with the
//! 95 % interval of every noisy value) and its provenance, one line per member (with the
//! privacy budget each member charged and has left).

use std::collections::HashMap;

use serde_json::Value;

use super::data::MUNICIPALITIES;
use regio_node::federation::{FederatedResult, Provenance, Status};
use regio_policy::doc::query::{Outcome, PartialAnswer, Release};
use regio_policy::{DocHash, Signed};

/// Lays out `rows` under `header`, columns padded to their widest cell, indented.
pub fn grid(header: &[String], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("    {}", padded.join("  ").trim_end())
    };
    let mut out = vec![
        line(header),
        line(&width.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>()),
    ];
    out.extend(rows.iter().map(|r| line(r)));
    out.join("\n")
}

fn cell(v: &Value, column: &str) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if column == "municipality" => {
            match MUNICIPALITIES.iter().find(|(nis, _)| nis == s) {
                Some((nis, name)) => format!("{name} ({nis})"),
                None => s.clone(),
            }
        }
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() => format!("{f:.2}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A noisy value with its interval, e.g. `212 (95 %: 0 … 9127)`; bounds of an integer
/// column are whole numbers.
fn with_interval(value: String, interval: &Value, integer: bool) -> String {
    let round = |x: f64| {
        if integer || x.abs() >= 100.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.2}")
        }
    };
    match (interval[0].as_f64(), interval[1].as_f64()) {
        (Some(lo), Some(hi)) => format!("{value} (95 %: {} … {})", round(lo), round(hi)),
        _ => format!("{value} (no interval)"),
    }
}

/// The merged result as a table (or a line saying there is none). A column released with
/// noise shows each value with its 95 % interval.
pub fn result(r: &FederatedResult) -> String {
    let Some(res) = &r.result else {
        return "    (no result: no member answered)".into();
    };
    let columns = res["columns"].as_array().cloned().unwrap_or_default();
    let noisy: Vec<bool> = columns.iter().map(|c| c["mechanism"].is_string()).collect();
    let integer: Vec<bool> = columns.iter().map(|c| c["type"] == "integer").collect();
    let names: Vec<String> = columns
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("?").to_owned())
        .collect();
    let header: Vec<String> = names
        .iter()
        .zip(&noisy)
        .map(|(n, &x)| if x { format!("{n} (noisy)") } else { n.clone() })
        .collect();
    let intervals = res["intervals"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = res["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .enumerate()
                .map(|(r, row)| {
                    names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| {
                            let v = cell(&row[i], n);
                            if noisy[i] {
                                let iv = intervals.get(r).map_or(Value::Null, |x| x[i].clone());
                                with_interval(v, &iv, integer[i])
                            } else {
                                v
                            }
                        })
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default();
    grid(&header, &rows)
}

/// How the noisy columns of a result were released, one phrase per column (empty when every
/// value is exact).
pub fn mechanisms(r: &FederatedResult) -> String {
    let columns = r
        .result
        .as_ref()
        .and_then(|v| v["columns"].as_array().cloned())
        .unwrap_or_default();
    columns
        .iter()
        .filter_map(|c| {
            Some(format!(
                "{}: {}",
                c["name"].as_str()?,
                c["mechanism"].as_str()?
            ))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// How each member released its answer (`outcome.disclosure` of its signed answer), by the
/// answer's hash.
pub fn releases(r: &FederatedResult) -> HashMap<DocHash, Release> {
    r.answers
        .iter()
        .filter_map(|a| Signed::<PartialAnswer>::verify(a.clone()).ok())
        .filter_map(|s| match &s.doc().outcome {
            Outcome::Answered {
                disclosure: Some(d),
                ..
            } => Some((s.hash(), d.clone())),
            _ => None,
        })
        .collect()
}

/// Epsilon spent and left at one member, e.g. `1 spent, 9 left`.
pub fn budget(d: Option<&Release>) -> String {
    match d {
        Some(Release {
            epsilon_spent: Some(s),
            epsilon_left: Some(l),
            ..
        }) => format!("{s} spent, {l} left"),
        Some(Release {
            epsilon_spent: Some(s),
            ..
        }) => format!("{s} spent"),
        Some(r) if r.mode == "exact" => "exact mode".into(),
        _ => "-".into(),
    }
}

/// What happened at a member, in a few words.
pub fn status(p: &Provenance) -> String {
    match &p.status {
        Status::Answered => "answered".into(),
        Status::Refused { reason, .. } => format!("refused: {reason}"),
        Status::TimedOut => "timed_out".into(),
        Status::Unreachable { .. } => "unreachable".into(),
        Status::Invalid { error } => format!("invalid: {error}"),
    }
}

/// The provenance, one line per member. Counters a member withheld (personal data: they
/// would give away one citizen) say so; the privacy budget is each member's own.
pub fn provenance(r: &FederatedResult) -> String {
    let header = [
        "member",
        "status",
        "policy",
        "rows scanned",
        "excluded (consent)",
        "groups suppressed",
        "privacy budget (epsilon)",
        "signed answer",
    ]
    .map(String::from);
    let releases = releases(r);
    let rows: Vec<Vec<String>> = r
        .provenance
        .iter()
        .map(|p| {
            let d = p.answer.and_then(|h| releases.get(&h));
            let withheld = d.is_some_and(|d| d.counters_withheld);
            let counter = |n: u64| {
                if withheld {
                    "withheld".into()
                } else {
                    n.to_string()
                }
            };
            vec![
                format!("{} ({})", p.name, p.nis),
                status(p),
                p.policy_version.map_or("-".into(), |v| format!("v{v}")),
                if withheld && p.rows_scanned == 0 {
                    "under 1000".into()
                } else if withheld {
                    format!("{}–{}", p.rows_scanned, p.rows_scanned + 999)
                } else {
                    p.rows_scanned.to_string()
                },
                counter(p.rows_excluded_by_consent),
                counter(p.groups_suppressed),
                budget(d),
                p.answer
                    .map_or("-".into(), |h| format!("{}…", &h.to_string()[..19])),
            ]
        })
        .collect();
    format!(
        "{}\n    coverage: {} of {} members answered",
        grid(&header, &rows),
        r.coverage.0,
        r.coverage.1
    )
}

/// The refusal reason of each member (empty when it did not refuse).
pub fn reasons(r: &FederatedResult) -> Vec<String> {
    r.provenance
        .iter()
        .map(|p| match &p.status {
            Status::Refused { reason, .. } => reason.clone(),
            _ => String::new(),
        })
        .collect()
}
