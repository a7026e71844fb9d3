//! InclusionCharter — the region's enforceable clauses, signed by every member (proof set).
//! The human text beside each clause lives in `charters/inclusion-charter.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::consent::Channel;
use crate::shape::{Granularity, TimeUnit};
use crate::signed::{Document, Invalid};

/// The finest use a protected attribute allows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MinGranularity {
    /// Never filtered or grouped on.
    Never,
    /// A time field: buckets of this unit or coarser.
    Time(TimeUnit),
    /// A numeric field: bins of at least this width.
    NumericBin(f64),
}

impl MinGranularity {
    /// Whether a use at `g` respects this minimum. `Never` allows nothing (not even
    /// `IS NULL`). A numeric minimum `w` is a grid of bins `[k·w, (k+1)·w)`: an edge must
    /// be a multiple of `w`, bins of width `v` must be a multiple of it. A time minimum `u`:
    /// an edge must be aligned to `u` in UTC, a time bucket must be `u` or coarser.
    pub fn allows(&self, g: &Granularity) -> bool {
        match (self, g) {
            (MinGranularity::Never, _) | (_, Granularity::Exact) => false,
            (_, Granularity::Null) => true,
            (MinGranularity::Time(min), Granularity::Time(u)) => u >= min,
            (MinGranularity::Time(min), Granularity::TimeEdge(t)) => min.aligned(*t),
            (MinGranularity::NumericBin(min), Granularity::NumericBin(w)) => {
                on_grid(*w, *min) && *w > 0.0
            }
            (MinGranularity::NumericBin(min), Granularity::Edge(e)) => on_grid(*e, *min),
            _ => false,
        }
    }
}

/// Whether `x` is an exact multiple of `w` (both finite, `w > 0`).
fn on_grid(x: f64, w: f64) -> bool {
    if !(x.is_finite() && w.is_finite() && w > 0.0) {
        return false;
    }
    let k = (x / w).round();
    k.is_finite() && k * w == x
}

/// A protected attribute: a field name or a field category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Protected {
    /// Field name or category.
    pub attribute: String,
    /// Finest allowed use.
    pub min_granularity: MinGranularity,
}

/// Fair-share quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quota {
    /// Queries one node serves per member per window.
    pub queries_per_member: u32,
    /// Window length.
    pub window_seconds: u64,
}

/// How a region releases statistics of personal datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PersonalMode {
    /// Differential privacy: bounded contributions, calibrated noise, a privacy budget per
    /// application and region (the default).
    DifferentialPrivacy,
    /// Exact aggregates under the rules that hold in every mode. Said explicitly by the
    /// charter; every answer then says that it does not resist differencing.
    Exact,
}

/// A privacy budget: epsilon per application, region and window, kept by every node.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Budget {
    /// Total epsilon an application may spend in one region at one node per window.
    pub epsilon: f64,
    /// Window length in seconds (windows are aligned to the Unix epoch).
    pub window_seconds: u64,
}

/// The disclosure clause (DESIGN.md, "Disclosure control").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisclosureClause {
    /// How personal datasets are answered (non-personal datasets are always exact).
    pub personal: PersonalMode,
    /// Epsilon one query costs at one node (split over its measures).
    pub epsilon_per_query: f64,
    /// Delta of the thresholded partition selection (groups whose keys are not public).
    pub delta: f64,
    /// The budget per application and region.
    pub budget: Budget,
    /// `L`: rows one subject contributes to one group at most (first rows in scan order).
    pub rows_per_subject_per_group: u32,
    /// `G`: groups one subject contributes to at most (first groups in scan order).
    pub groups_per_subject: u32,
}

impl DisclosureClause {
    /// Whether personal data is answered exactly (the charter says so explicitly).
    pub fn exact(&self) -> bool {
        self.personal == PersonalMode::Exact
    }
}

/// The machine-enforceable clauses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Clauses {
    /// Purposes allowed in the region (each with its narrower ones).
    pub allowed_purposes: Vec<String>,
    /// Minimum group size (small-cell suppression).
    pub min_group_size: u32,
    /// Protected attributes.
    pub protected_attributes: Vec<Protected>,
    /// Fair-share quota.
    pub quota: Quota,
    /// Non-digital consent channels every member offers.
    pub consent_channels: Vec<Channel>,
    /// Open result formats.
    pub result_formats: Vec<String>,
    /// How statistics of personal data are released.
    pub disclosure: DisclosureClause,
}

/// An inclusion charter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InclusionCharter {
    /// Charter id, with its version (`urn:regio:charter:default:1`).
    pub id: String,
    /// Title by language.
    pub title: BTreeMap<String, String>,
    /// The clauses.
    pub clauses: Clauses,
}

impl Document for InclusionCharter {
    const TYPE: &'static str = "InclusionCharter";
    const SCHEMA_VERSION: u32 = 2;
    const MIGRATION: &'static str = "schemaVersion 2 adds the required `clauses.disclosure` clause (differential privacy for personal data by default): copy it from charters/inclusion-charter.json, set schemaVersion to 2 and have every member sign the charter again";
    fn validate(&self) -> Result<(), Invalid> {
        super::non_empty("id", &self.id)?;
        let c = &self.clauses;
        if c.allowed_purposes.is_empty() {
            return Err(Invalid::new(
                "clauses.allowedPurposes",
                "name at least one purpose",
            ));
        }
        super::check_purposes("clauses.allowedPurposes", &c.allowed_purposes, false)?;
        if c.min_group_size == 0 {
            return Err(Invalid::new("clauses.minGroupSize", "must be at least 1"));
        }
        for (i, p) in c.protected_attributes.iter().enumerate() {
            super::non_empty(
                &format!("clauses.protectedAttributes[{i}].attribute"),
                &p.attribute,
            )?;
            if let MinGranularity::NumericBin(w) = p.min_granularity {
                if !(w.is_finite() && w > 0.0) {
                    return Err(Invalid::new(
                        format!("clauses.protectedAttributes[{i}].minGranularity"),
                        "numericBin must be > 0",
                    ));
                }
            }
        }
        if c.quota.queries_per_member == 0 || c.quota.window_seconds == 0 {
            return Err(Invalid::new(
                "clauses.quota",
                "queriesPerMember and windowSeconds must be at least 1",
            ));
        }
        let d = &c.disclosure;
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Invalid::new(
                    format!("clauses.disclosure.{name}"),
                    "must be a finite number > 0",
                ))
            }
        };
        positive("epsilonPerQuery", d.epsilon_per_query)?;
        positive("budget.epsilon", d.budget.epsilon)?;
        if !(d.delta.is_finite() && d.delta > 0.0 && d.delta < 1e-3) {
            return Err(Invalid::new(
                "clauses.disclosure.delta",
                "must be > 0 and < 0.001",
            ));
        }
        if d.epsilon_per_query > d.budget.epsilon {
            return Err(Invalid::new(
                "clauses.disclosure.epsilonPerQuery",
                "exceeds budget.epsilon: no query could ever be answered",
            ));
        }
        if d.budget.window_seconds == 0 {
            return Err(Invalid::new(
                "clauses.disclosure.budget.windowSeconds",
                "must be at least 1",
            ));
        }
        if d.rows_per_subject_per_group == 0 || d.groups_per_subject == 0 {
            return Err(Invalid::new(
                "clauses.disclosure",
                "rowsPerSubjectPerGroup and groupsPerSubject must be at least 1",
            ));
        }
        for (i, f) in c.result_formats.iter().enumerate() {
            if !["csv", "json", "ndjson"].contains(&f.as_str()) {
                return Err(Invalid::new(
                    format!("clauses.resultFormats[{i}]"),
                    format!("`{f}` is not csv, json or ndjson"),
                ));
            }
        }
        Ok(())
    }
}
