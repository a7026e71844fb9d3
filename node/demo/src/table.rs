//! Plain-text tables of the demo's narration (owner: demo): a federated result and its
//! provenance, one line per member.

use serde_json::Value;

use super::data::MUNICIPALITIES;
use regio_node::federation::{FederatedResult, Provenance, Status};

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

/// The merged result as a table (or a line saying there is none).
pub fn result(r: &FederatedResult) -> String {
    let Some(res) = &r.result else {
        return "    (no result: no member answered)".into();
    };
    let names: Vec<String> = res["columns"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| c["name"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = res["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| cell(&row[i], n))
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default();
    grid(&names, &rows)
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

/// The provenance, one line per member.
pub fn provenance(r: &FederatedResult) -> String {
    let header = [
        "member",
        "status",
        "policy",
        "rows scanned",
        "excluded (consent)",
        "groups suppressed",
        "signed answer",
    ]
    .map(String::from);
    let rows: Vec<Vec<String>> = r
        .provenance
        .iter()
        .map(|p| {
            vec![
                format!("{} ({})", p.name, p.nis),
                status(p),
                p.policy_version.map_or("-".into(), |v| format!("v{v}")),
                p.rows_scanned.to_string(),
                p.rows_excluded_by_consent.to_string(),
                p.groups_suppressed.to_string(),
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
