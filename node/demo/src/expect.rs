//! What the demo's answers must be, computed straight from the generated data (owner: demo):
//! the rows that count for a purpose at a given moment are the city sensors' rows and the rows
//! of citizens whose consent is active then and who have not withdrawn at the desk since.
//! `regio demo` and the tests compare every federated figure with these.
//!
//! Which groups are released follows the charter's disclosure mode:
//! - [`Mode::Exact`]: a group is kept with at least `k` counted rows and, where any counted
//!   row is a citizen's, at least `k` distinct consenting citizens; otherwise the whole group
//!   is suppressed at its node.
//! - [`Mode::Private`] (differential privacy): a group whose key is public (it has counted
//!   city-sensor rows) is released, its citizens' part noised; a group of citizens' rows only
//!   is released only through a noisy threshold on its distinct citizens, which lies far above
//!   any demo group, so such a group is never released.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use super::data::{self, MUNICIPALITIES, START_MICROS};
use regio_query::schema::Value;

const DAY_MICROS: i64 = 86_400_000_000;

/// What counts in one (municipality, day) group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    /// Counted rows (city sensors and consenting citizens).
    pub rows: u64,
    /// Counted rows of city sensors (no subject).
    pub public_rows: u64,
    /// Distinct consenting citizens with counted rows.
    pub subjects: u64,
    /// Sum of the counted rows' NO2.
    pub no2: f64,
}

impl Group {
    /// Whether the group is released under `mode` with minimum group size `k`.
    pub fn released(&self, mode: Mode, k: u64) -> bool {
        match mode {
            Mode::Exact => self.rows >= k && (self.subjects == 0 || self.subjects >= k),
            Mode::Private => self.public_rows > 0,
        }
    }
}

/// The charter's disclosure mode for personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Exact values; small groups suppressed.
    Exact,
    /// Differential privacy.
    Private,
}

/// The subjects consenting at node `i` at `now`, after the desk withdrawals of `withdrawn`.
fn consenting(
    d: &data::Municipality,
    withdrawn: &[String],
    now: DateTime<Utc>,
) -> BTreeSet<String> {
    let now = now.timestamp_micros();
    d.consent
        .iter()
        .filter(|c| c.active_at(now) && !withdrawn.contains(&c.subject))
        .map(|c| c.subject.clone())
        .collect()
}

/// Per day (index from the first day): what counts at node `i` at `now`, after the desk
/// withdrawals of `withdrawn` (subject pseudonyms).
pub fn daily_groups(
    i: usize,
    days: usize,
    sensors: usize,
    withdrawn: &[String],
    now: DateTime<Utc>,
) -> BTreeMap<usize, Group> {
    let d = data::municipality(i, days, sensors);
    let consenting = consenting(&d, withdrawn, now);
    let mut subjects: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    let mut out: BTreeMap<usize, Group> = BTreeMap::new();
    for row in &d.rows {
        let Value::Ts(t) = &row[4] else { continue };
        let day = ((t - START_MICROS) / DAY_MICROS) as usize;
        let no2 = match &row[5] {
            Value::Float(x) => *x,
            _ => 0.0,
        };
        match &row[3] {
            Value::Str(s) if consenting.contains(s) => {
                subjects.entry(day).or_default().insert(s);
                let g = out.entry(day).or_default();
                g.rows += 1;
                g.no2 += no2;
            }
            Value::Str(_) => {}
            _ => {
                let g = out.entry(day).or_default();
                g.rows += 1;
                g.public_rows += 1;
                g.no2 += no2;
            }
        }
    }
    for (day, s) in subjects {
        out.entry(day).or_default().subjects = s.len() as u64;
    }
    out
}

/// Readings per day (index from the first day) that count at node `i` at `now`, after the
/// desk withdrawals of `withdrawn` (subject pseudonyms).
pub fn daily_counts(
    i: usize,
    days: usize,
    sensors: usize,
    withdrawn: &[String],
    now: DateTime<Utc>,
) -> BTreeMap<usize, u64> {
    daily_groups(i, days, sensors, withdrawn, now)
        .into_iter()
        .map(|(day, g)| (day, g.rows))
        .collect()
}

/// Distinct consenting citizens with counted readings at node `i` at `now`.
pub fn subjects_counted(
    i: usize,
    days: usize,
    sensors: usize,
    withdrawn: &[String],
    now: DateTime<Utc>,
) -> u64 {
    let d = data::municipality(i, days, sensors);
    let consenting = consenting(&d, withdrawn, now);
    let seen: BTreeSet<&str> = d
        .rows
        .iter()
        .filter_map(|r| match &r[3] {
            Value::Str(s) if consenting.contains(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    seen.len() as u64
}

/// The rows of one subject at node `i`.
pub fn subject_rows(i: usize, days: usize, sensors: usize, subject: &str) -> u64 {
    data::municipality(i, days, sensors)
        .rows
        .iter()
        .filter(|r| matches!(&r[3], Value::Str(s) if s == subject))
        .count() as u64
}

/// The day's date as the query engine prints it (`YYYY-MM-DD`).
pub fn day_label(day: usize) -> String {
    let start = DateTime::<Utc>::from_timestamp_micros(START_MICROS).unwrap_or_default();
    (start + Duration::days(day as i64))
        .format("%Y-%m-%d")
        .to_string()
}

/// The expected answer of the daily query for the whole region: per (NIS code, day label),
/// the exact count of the released groups, and per node the groups it must keep at home.
pub struct Daily {
    /// Released groups: (NIS, day) → readings.
    pub kept: BTreeMap<(String, String), u64>,
    /// Released groups: (NIS, day) → average NO2 of the counted readings.
    pub no2_avg: BTreeMap<(String, String), f64>,
    /// Groups each node suppresses, in member order.
    pub suppressed: Vec<u64>,
    /// Suppressed groups: (NIS, day) → what stayed at the node.
    pub hidden: BTreeMap<(String, String), Group>,
}

impl Daily {
    /// The expectation for nodes `0..n` at `now` in exact mode.
    pub fn new(
        n: usize,
        days: usize,
        sensors: usize,
        withdrawn: &[String],
        min_group: u64,
        now: DateTime<Utc>,
    ) -> Daily {
        Daily::in_mode(Mode::Exact, n, (days, sensors), withdrawn, min_group, now)
    }

    /// The expectation for nodes `0..n` at `now` under `mode`, for `(days, sensors)` of data.
    pub fn in_mode(
        mode: Mode,
        n: usize,
        (days, sensors): (usize, usize),
        withdrawn: &[String],
        min_group: u64,
        now: DateTime<Utc>,
    ) -> Daily {
        let mut daily = Daily {
            kept: BTreeMap::new(),
            no2_avg: BTreeMap::new(),
            suppressed: vec![0; n],
            hidden: BTreeMap::new(),
        };
        for i in 0..n {
            let nis = MUNICIPALITIES[i % MUNICIPALITIES.len()].0.to_owned();
            for (day, g) in daily_groups(i, days, sensors, withdrawn, now) {
                let key = (nis.clone(), day_label(day));
                if g.released(mode, min_group) {
                    if g.rows > 0 {
                        daily.no2_avg.insert(key.clone(), g.no2 / g.rows as f64);
                    }
                    daily.kept.insert(key, g.rows);
                } else {
                    daily.suppressed[i] += 1;
                    daily.hidden.insert(key, g);
                }
            }
        }
        daily
    }

    /// Total readings in the released groups.
    pub fn total(&self) -> u64 {
        self.kept.values().sum()
    }
}

#[cfg(test)]
mod tests;
