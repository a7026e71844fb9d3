//! What the demo's answers must be, computed straight from the generated data (owner: demo):
//! the rows that count for a purpose at a given moment are the city sensors' rows and the rows
//! of citizens whose consent is active then and who have not withdrawn at the desk since.
//! `regio demo` and the tests compare every federated figure with these.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::data::{self, MUNICIPALITIES, START_MICROS};
use regio_query::schema::Value;

const DAY_MICROS: i64 = 86_400_000_000;

/// Readings per day (index from the first day) that count at node `i` at `now`, after the
/// desk withdrawals of `withdrawn` (subject pseudonyms).
pub fn daily_counts(
    i: usize,
    days: usize,
    sensors: usize,
    withdrawn: &[String],
    now: DateTime<Utc>,
) -> BTreeMap<usize, u64> {
    let d = data::municipality(i, days, sensors);
    let now = now.timestamp_micros();
    let consenting: std::collections::HashSet<&str> = d
        .consent
        .iter()
        .filter(|c| c.active_at(now) && !withdrawn.contains(&c.subject))
        .map(|c| c.subject.as_str())
        .collect();
    let mut out = BTreeMap::new();
    for row in &d.rows {
        let counts = match &row[3] {
            Value::Str(s) => consenting.contains(s.as_str()),
            _ => true,
        };
        if let (true, Value::Ts(t)) = (counts, &row[4]) {
            *out.entry(((t - START_MICROS) / DAY_MICROS) as usize)
                .or_insert(0) += 1;
        }
    }
    out
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
/// the count — for the groups of at least `min_group` rows — and per node the number of groups
/// it must suppress.
pub struct Daily {
    /// Kept groups: (NIS, day) → readings.
    pub kept: BTreeMap<(String, String), u64>,
    /// Groups each node suppresses, in member order.
    pub suppressed: Vec<u64>,
    /// Suppressed groups: (NIS, day) → readings that stayed at the node.
    pub hidden: BTreeMap<(String, String), u64>,
}

impl Daily {
    /// The expectation for nodes `0..n` at `now`.
    pub fn new(
        n: usize,
        days: usize,
        sensors: usize,
        withdrawn: &[String],
        min_group: u64,
        now: DateTime<Utc>,
    ) -> Daily {
        let mut daily = Daily {
            kept: BTreeMap::new(),
            suppressed: vec![0; n],
            hidden: BTreeMap::new(),
        };
        for i in 0..n {
            let nis = MUNICIPALITIES[i % MUNICIPALITIES.len()].0.to_owned();
            for (day, count) in daily_counts(i, days, sensors, withdrawn, now) {
                let key = (nis.clone(), day_label(day));
                if count >= min_group {
                    daily.kept.insert(key, count);
                } else {
                    daily.suppressed[i] += 1;
                    daily.hidden.insert(key, count);
                }
            }
        }
        daily
    }

    /// Total readings in the kept groups.
    pub fn total(&self) -> u64 {
        self.kept.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_withdrawal_leaves_gent_first_day_under_the_minimum() {
        let now = Utc::now();
        let before = Daily::new(5, 3, 20, &[], 10, now);
        assert_eq!(before.suppressed, vec![0; 5]);
        assert_eq!(
            before.kept[&("44021".to_owned(), "2024-01-01".to_owned())],
            16
        );
        let gone = data::subject("44021", 0);
        let after = Daily::new(5, 3, 20, std::slice::from_ref(&gone), 10, now);
        assert_eq!(after.suppressed, vec![1, 0, 0, 0, 0]);
        assert_eq!(
            after.hidden[&("44021".to_owned(), "2024-01-01".to_owned())],
            8
        );
        assert_eq!(subject_rows(0, 3, 20, &gone), 24);
        assert_eq!(before.total() - after.total(), 24 + 8);
    }
}
