//! States of released values that are not exact: [`Noisy`] (differential privacy: an exact
//! public part plus a noisy personal part, with the Laplace scales added) and the exact
//! [`Histogram`] over a field's declared bins that percentiles of personal data come from.
//! Both merge across members; a noisy state merges with an exact one of the same measure (a
//! member that classifies the dataset as non-personal answers exactly).

use serde::{Deserialize, Serialize};

/// What a [`Noisy`] state estimates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoisyKind {
    /// `count`: `[n]`.
    Count,
    /// `sum` of an integer column: `[sum]`.
    SumInt,
    /// `sum` of a float column: `[sum]`.
    SumFloat,
    /// `avg`: `[sum, n]`.
    Avg,
    /// `stddev`: `[n, sum, sum of squares]`.
    Stddev,
    /// `percentile_cont`: one count per bin of `range`.
    Histogram,
}

impl NoisyKind {
    /// How many values a state of this kind holds (`bins` for a histogram).
    pub fn width(self, bins: usize) -> usize {
        match self {
            NoisyKind::Count | NoisyKind::SumInt | NoisyKind::SumFloat => 1,
            NoisyKind::Avg => 2,
            NoisyKind::Stddev => 3,
            NoisyKind::Histogram => bins,
        }
    }

    /// How many noisy measures (each with its share of the query's epsilon) it takes: one
    /// per value, except a histogram, which is noised as one vector.
    pub fn measures(self) -> u32 {
        match self {
            NoisyKind::Histogram => 1,
            other => other.width(0) as u32,
        }
    }
}

/// A value released under differential privacy (merged over members).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Noisy {
    /// What it estimates.
    pub kind: NoisyKind,
    /// The values (see [`NoisyKind`]).
    pub values: Vec<f64>,
    /// The Laplace scale of the noise in each value, summed over the members that noised it
    /// (one entry per value; histograms: one for every bin).
    pub scales: Vec<f64>,
    /// How many noises were added to each value (members that noised it).
    pub noises: u32,
    /// Histograms: the bins' range `[lo, hi]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
}

/// Counts per equal-width bin of `[lo, hi]` (values outside are clamped into the end bins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// Counts per bin.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// An empty histogram of `bins` bins over `[lo, hi]`.
    pub fn new(lo: f64, hi: f64, bins: u32) -> Histogram {
        Histogram {
            lo,
            hi,
            counts: vec![0; bins.max(1) as usize],
        }
    }

    /// The bin of `x`.
    pub fn bin(&self, x: f64) -> usize {
        let n = self.counts.len();
        let f = ((x - self.lo) / (self.hi - self.lo) * n as f64).floor();
        if f.is_nan() || f < 0.0 {
            0
        } else {
            (f as usize).min(n - 1)
        }
    }

    /// Adds `x`.
    pub fn push(&mut self, x: f64) {
        let b = self.bin(x);
        self.counts[b] += 1;
    }
}

/// The `p` quantile of counts over equal-width bins of `[lo, hi]` (negative noisy counts
/// taken as 0), interpolated inside its bin; `None` when the counts are all 0.
pub(crate) fn quantile(counts: &[f64], lo: f64, hi: f64, p: f64) -> Option<f64> {
    let c: Vec<f64> = counts.iter().map(|x| x.max(0.0)).collect();
    let total: f64 = c.iter().sum();
    if total <= 0.0 || c.is_empty() {
        return None;
    }
    let width = (hi - lo) / c.len() as f64;
    let target = p.clamp(0.0, 1.0) * total;
    let mut cum = 0.0;
    for (i, &x) in c.iter().enumerate() {
        if x > 0.0 && cum + x >= target {
            let within = ((target - cum) / x).clamp(0.0, 1.0);
            return Some(lo + width * (i as f64 + within));
        }
        cum += x;
    }
    Some(hi)
}

impl Noisy {
    /// The released value of this state (post-processing: counts are never below 0).
    pub fn value(&self, p: f64) -> Option<f64> {
        let v = &self.values;
        match self.kind {
            NoisyKind::Count => Some(v.first()?.max(0.0).round()),
            NoisyKind::SumInt => Some(v.first()?.round()),
            NoisyKind::SumFloat => v.first().copied(),
            NoisyKind::Avg => {
                let (s, n) = (*v.first()?, *v.get(1)?);
                (n >= 1.0).then(|| s / n)
            }
            NoisyKind::Stddev => {
                let (n, s, s2) = (*v.first()?, *v.get(1)?, *v.get(2)?);
                (n >= 2.0).then(|| ((s2 - s * s / n) / (n - 1.0)).max(0.0).sqrt())
            }
            NoisyKind::Histogram => {
                let [lo, hi] = self.range?;
                quantile(v, lo, hi, p)
            }
        }
    }

    /// The 95 % interval of the released value, where one can be stated: counts and sums
    /// `± ln(20 m)·Σb` (union bound over the `m` noises, DESIGN.md); an average from those of
    /// its sum and count, each at 97.5 %. `None` for stddev and percentiles.
    pub fn interval(&self) -> Option<[f64; 2]> {
        let m = f64::from(self.noises.max(1));
        let v = &self.values;
        match self.kind {
            NoisyKind::Count | NoisyKind::SumInt | NoisyKind::SumFloat => {
                let h = (20.0 * m).ln() * self.scales.first()?;
                let x = *v.first()?;
                // Counts are released as at least 0, and so is their interval.
                if self.kind == NoisyKind::Count {
                    Some([(x - h).max(0.0), (x + h).max(0.0)])
                } else {
                    Some([x - h, x + h])
                }
            }
            NoisyKind::Avg => {
                let (s, n) = (*v.first()?, *v.get(1)?);
                let hs = (40.0 * m).ln() * self.scales.first()?;
                let hn = (40.0 * m).ln() * self.scales.get(1)?;
                let (n_lo, n_hi) = (n - hn, n + hn);
                if n_lo <= 0.0 {
                    return None;
                }
                let corners = [
                    (s - hs) / n_lo,
                    (s - hs) / n_hi,
                    (s + hs) / n_lo,
                    (s + hs) / n_hi,
                ];
                let lo = corners.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = corners.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                Some([lo, hi])
            }
            NoisyKind::Stddev | NoisyKind::Histogram => None,
        }
    }

    /// The mechanism, for people.
    pub fn mechanism(&self) -> &'static str {
        match self.kind {
            NoisyKind::Count | NoisyKind::SumInt | NoisyKind::SumFloat => "laplace",
            NoisyKind::Avg => "laplace (sum) / laplace (count)",
            NoisyKind::Stddev => "laplace (count, sum, sum of squares)",
            NoisyKind::Histogram => "noisy histogram (laplace) over the declared bins",
        }
    }

    /// Adds `other` (same kind and length).
    pub fn add(&mut self, other: &Noisy) -> Result<(), String> {
        if self.kind != other.kind
            || self.values.len() != other.values.len()
            || self.scales.len() != other.scales.len()
            || self.range != other.range
        {
            return Err("noisy states of different measures".into());
        }
        for (a, b) in self.values.iter_mut().zip(&other.values) {
            *a += b;
        }
        for (a, b) in self.scales.iter_mut().zip(&other.scales) {
            *a += b;
        }
        self.noises += other.noises;
        Ok(())
    }

    /// Adds exact values (a part that was not noised) of the same measure.
    pub fn add_exact(&mut self, exact: &[f64]) -> Result<(), String> {
        if exact.len() != self.values.len() {
            return Err("an exact state of another measure".into());
        }
        for (a, b) in self.values.iter_mut().zip(exact) {
            *a += b;
        }
        Ok(())
    }
}
