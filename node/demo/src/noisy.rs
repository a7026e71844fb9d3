//! Checking a noisy daily answer against the data (owner: demo): under differential privacy
//! each value carries noise and a 95 % interval, so the demo checks that the released groups
//! are the expected ones and that the exact values lie inside the stated intervals about as
//! often as 95 % intervals should.

use std::collections::BTreeMap;

use super::expect::Daily;
use regio_node::federation::FederatedResult;

/// One released value of a result: what was shown and its interval, if one was stated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Shown {
    pub(super) value: Option<f64>,
    pub(super) interval: Option<[f64; 2]>,
}

impl Shown {
    fn covers(&self, x: f64) -> Option<bool> {
        self.interval.map(|[lo, hi]| lo <= x && x <= hi)
    }
}

/// The rows of a result keyed by its first `keys` columns (text), with column `column`.
pub(super) fn column(
    r: &FederatedResult,
    keys: usize,
    column: usize,
) -> BTreeMap<Vec<String>, Shown> {
    let Some(res) = &r.result else {
        return BTreeMap::new();
    };
    let rows = res["rows"].as_array().cloned().unwrap_or_default();
    let intervals = res["intervals"].as_array().cloned().unwrap_or_default();
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let key = (0..keys)
                .map(|k| row[k].as_str().unwrap_or("").to_owned())
                .collect();
            let iv = intervals.get(i).map(|x| &x[column]);
            let interval = iv.and_then(|v| Some([v[0].as_f64()?, v[1].as_f64()?]));
            (
                key,
                Shown {
                    value: row[column].as_f64(),
                    interval,
                },
            )
        })
        .collect()
}

/// Of `n` values with 95 % intervals, how many must hold their exact value: 90 %, or, with
/// few values, all but as many misses as 95 % intervals produce by chance in 995 runs of
/// 1,000 (with 10 values: 7; four misses of 10 happen about once in 1,000 runs), so that the check does not fail by bad luck.
pub(super) fn needed(n: usize) -> usize {
    let p: f64 = 0.05;
    // The smallest m with P(misses > m) < 0.005 for misses ~ Binomial(n, p).
    let mut cdf = 0.0;
    let mut allowed = n;
    let mut pmf = (1.0 - p).powi(i32::try_from(n).unwrap_or(i32::MAX));
    for m in 0..=n {
        if m > 0 {
            pmf *= (n + 1 - m) as f64 / m as f64 * p / (1.0 - p);
        }
        cdf += pmf;
        if 1.0 - cdf < 0.005 {
            allowed = m;
            break;
        }
    }
    let ninety = n - (n * 9).div_ceil(10);
    n - allowed.max(ninety)
}

/// The verdict on a noisy daily answer.
pub(super) struct Verdict {
    /// Whether it is as expected.
    pub(super) ok: bool,
    /// What was expected.
    pub(super) expected: String,
    /// What was seen.
    pub(super) seen: String,
    /// Exact values inside their interval, and exact values with an interval.
    pub(super) inside: (usize, usize),
}

/// Checks a daily answer (municipality, day, readings, no2_avg) against `exp`: full coverage,
/// the released groups are exactly the expected ones, and the exact counts and averages lie
/// inside their stated 95 % intervals often enough.
pub(super) fn check_daily(r: &FederatedResult, exp: &Daily) -> Verdict {
    let counts = column(r, 2, 2);
    let avgs = column(r, 2, 3);
    let groups: Vec<Vec<String>> = counts.keys().cloned().collect();
    let want: Vec<Vec<String>> = exp
        .kept
        .keys()
        .map(|(a, b)| vec![a.clone(), b.clone()])
        .collect();
    let mut inside = (0, 0);
    for (key, &rows) in &exp.kept {
        let k = vec![key.0.clone(), key.1.clone()];
        let checks = [
            counts.get(&k).and_then(|s| s.covers(rows as f64)),
            exp.no2_avg
                .get(key)
                .and_then(|&a| avgs.get(&k).and_then(|s| s.covers(a))),
        ];
        for c in checks.into_iter().flatten() {
            inside.1 += 1;
            inside.0 += usize::from(c);
        }
    }
    let n = r.provenance.len();
    let need = needed(inside.1);
    let ok = r.coverage == (n, n) && groups == want && inside.1 > 0 && inside.0 >= need;
    let absent = exp.hidden.len();
    Verdict {
        ok,
        expected: format!(
            "coverage {n}/{n}, {} groups released ({absent} too small kept at home), at least {need} of the exact values inside their 95 % intervals",
            want.len()
        ),
        seen: format!(
            "coverage {}/{}, {} groups released{}, {} of {} exact values inside their 95 % intervals",
            r.coverage.0,
            r.coverage.1,
            groups.len(),
            if groups == want { " (the expected ones)" } else { " (NOT the expected ones)" },
            inside.0,
            inside.1
        ),
        inside,
    }
}

#[cfg(test)]
mod tests {
    use super::needed;

    #[test]
    fn few_values_allow_chance_misses_many_need_ninety_percent() {
        assert_eq!(needed(0), 0);
        assert_eq!(needed(10), 7);
        assert_eq!(needed(1000), 900);
        assert!(needed(40) <= 36);
    }
}
