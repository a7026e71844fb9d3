//! The facts of a catalog: what the node computes about each of its datasets from the store
//! and its policy, never typed by the operator.
//!
//! A personal dataset's facts say no more than its signed answers do: the record count is
//! rounded down to a multiple of 1,000 and the time coverage to whole days (UTC).

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use crate::engine::Engine;
use regio_policy::doc::bundle::Classification;
use regio_policy::doc::catalog::{Facts, Period};
use regio_store::StoreError;

/// The granularity of a personal dataset's record count.
pub const PERSONAL_COUNT_STEP: u64 = 1_000;

/// The facts of every dataset of the node, in name order; the time coverage only when
/// `with_time` (it reads every chunk's bounds).
pub fn compute(engine: &Engine, with_time: bool) -> Result<Vec<Facts>, StoreError> {
    let policy = engine.policy();
    let store = engine.store();
    let mut out = Vec::new();
    for info in store.datasets()? {
        let name = info.schema.dataset.clone();
        let classification = policy
            .as_ref()
            .and_then(|p| {
                p.doc()
                    .datasets
                    .iter()
                    .find(|d| d.name == name)
                    .map(|d| d.classification)
            })
            .unwrap_or(Classification::Internal);
        let personal = classification == Classification::Personal || info.schema.subject.is_some();
        let mut bounds: Option<(i64, i64)> = None;
        if with_time {
            for chunk in store.scan_shared(&name, None, None)?.iter() {
                if let Some((lo, hi)) = chunk.time_bounds {
                    bounds = Some(bounds.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
                }
            }
        }
        let temporal = bounds.and_then(|(lo, hi)| period(lo, hi, personal));
        let schema_json = serde_json::to_vec(&info.schema).unwrap_or_default();
        out.push(Facts {
            name,
            classification,
            records: if personal {
                info.records - info.records % PERSONAL_COUNT_STEP
            } else {
                info.records
            },
            records_exact: !personal,
            temporal,
            policy_version: policy.as_ref().map(|p| p.doc().version),
            fields: info.schema.fields.iter().map(|f| f.name.clone()).collect(),
            schema_hash: hex::encode(Sha256::digest(&schema_json)),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Whether two lists of facts agree on everything but the time coverage.
pub fn same(a: &[Facts], b: &[Facts]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            Facts {
                temporal: None,
                ..x.clone()
            } == Facts {
                temporal: None,
                ..y.clone()
            }
        })
}

/// The period between two microsecond timestamps; whole UTC days when `coarse`.
fn period(lo: i64, hi: i64, coarse: bool) -> Option<Period> {
    let start = DateTime::<Utc>::from_timestamp_micros(lo)?;
    let end = DateTime::<Utc>::from_timestamp_micros(hi)?;
    if !coarse {
        return Some(Period { start, end });
    }
    let day = TimeDelta::days(1);
    let start = start.duration_trunc(day).ok()?;
    let end = end.duration_trunc(day).ok()? + day - TimeDelta::seconds(1);
    Some(Period { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_personal_period_is_whole_days() {
        let lo = DateTime::parse_from_rfc3339("2026-03-04T13:14:15Z")
            .unwrap()
            .timestamp_micros();
        let hi = DateTime::parse_from_rfc3339("2026-03-09T01:02:03Z")
            .unwrap()
            .timestamp_micros();
        let p = period(lo, hi, true).unwrap();
        assert_eq!(p.start.to_rfc3339(), "2026-03-04T00:00:00+00:00");
        assert_eq!(p.end.to_rfc3339(), "2026-03-09T23:59:59+00:00");
        let p = period(lo, hi, false).unwrap();
        assert_eq!(p.start.timestamp_micros(), lo);
        assert_eq!(p.end.timestamp_micros(), hi);
    }
}
