//! Mergeable partial aggregate states. Every state is serde-serializable (a node ships them
//! in its PartialAnswer) and merges with the state of the same aggregate from another node:
//! count, sum, min, max and avg (sum + count) exactly, stddev as (count, mean, M2) merged
//! with Chan et al.'s formula, `percentile_cont` through a t-digest (`tdigest` crate, 100
//! centroids) and `count(DISTINCT)` through a HyperLogLog (`cardinality-estimator` crate,
//! 4096 registers: exact while small, then a standard error of about 1.6 %).

use std::cmp::Ordering;

use cardinality_estimator::CardinalityEstimator;
use serde::{Deserialize, Serialize};
use tdigest::TDigest;

mod noisy;

pub(crate) use noisy::quantile;
pub use noisy::{Histogram, Noisy, NoisyKind};

use super::plan::AggFunc;
use crate::schema::{FieldType, Value};

/// Centroids kept by each t-digest.
pub const DIGEST_SIZE: usize = 100;

/// Values buffered before they are compressed into the digest.
const DIGEST_BUFFER: usize = 4096;

/// A t-digest with a buffer of values not yet compressed into it (empty once sealed). An
/// empty digest is `None`: `tdigest` keeps NaN bounds for it, which JSON cannot carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// The compressed digest, `None` while empty.
    pub digest: Option<TDigest>,
    /// Values not yet merged into `digest`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<f64>,
}

impl Digest {
    fn new() -> Self {
        Digest {
            digest: None,
            pending: Vec::new(),
        }
    }

    fn push(&mut self, x: f64) {
        self.pending.push(x);
        if self.pending.len() >= DIGEST_BUFFER {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let base = self
                .digest
                .take()
                .unwrap_or_else(|| TDigest::new_with_size(DIGEST_SIZE));
            self.digest = Some(base.merge_unsorted(std::mem::take(&mut self.pending)));
        }
    }

    fn flushed(&self) -> Option<TDigest> {
        let mut d = self.clone();
        d.flush();
        d.digest
    }
}

/// A HyperLogLog sketch of canonical value bytes (WyHash, deterministic on every node).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distinct(pub CardinalityEstimator<[u8]>);

/// The partial state of one aggregate in one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AggState {
    /// `count(*)` / `count(col)`.
    Count(u64),
    /// `sum` of an integer column.
    SumInt {
        /// Sum.
        sum: i128,
        /// Values summed.
        n: u64,
    },
    /// `sum` of a float column.
    SumFloat {
        /// Sum.
        sum: f64,
        /// Values summed.
        n: u64,
    },
    /// `avg`.
    Avg {
        /// Sum.
        sum: f64,
        /// Values.
        n: u64,
    },
    /// `min`.
    Min(Option<Value>),
    /// `max`.
    Max(Option<Value>),
    /// `stddev` (sample).
    Stddev {
        /// Values.
        n: u64,
        /// Their mean.
        mean: f64,
        /// Sum of squared deviations from the mean.
        m2: f64,
    },
    /// `percentile_cont`.
    Percentile(Digest),
    /// `count(DISTINCT)`.
    Distinct(Distinct),
    /// `percentile_cont` of a personal dataset: counts over the field's declared bins.
    Histogram(Histogram),
    /// A value released under differential privacy.
    Noisy(Noisy),
}

/// The fraction of a `percentile_cont` (0.5 for other functions).
fn percentile_of(func: AggFunc) -> f64 {
    match func {
        AggFunc::Percentile(p) => p,
        _ => 0.5,
    }
}

/// Why two partial results cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// The partial results are of different plans.
    #[error("partial results do not match: {0}")]
    Mismatch(String),
}

/// Orders two values of the same kind (numbers across int/float); `None` for NULL or
/// values of different kinds.
pub(crate) fn cmp_values(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) | (Value::Ts(x), Value::Ts(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Float(y)) => (*x as f64).partial_cmp(y),
        (Value::Float(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

impl AggState {
    /// The empty state of `func` over a column of type `ty`.
    pub fn new(func: AggFunc, ty: Option<FieldType>) -> AggState {
        match func {
            AggFunc::CountStar | AggFunc::Count => AggState::Count(0),
            AggFunc::Sum if ty == Some(FieldType::Integer) => AggState::SumInt { sum: 0, n: 0 },
            AggFunc::Sum => AggState::SumFloat { sum: 0.0, n: 0 },
            AggFunc::Avg => AggState::Avg { sum: 0.0, n: 0 },
            AggFunc::Min => AggState::Min(None),
            AggFunc::Max => AggState::Max(None),
            AggFunc::Stddev => AggState::Stddev {
                n: 0,
                mean: 0.0,
                m2: 0.0,
            },
            AggFunc::Percentile(_) => AggState::Percentile(Digest::new()),
            AggFunc::CountDistinct => AggState::Distinct(Distinct(CardinalityEstimator::new())),
        }
    }

    /// Adds one non-null numeric value (integers as `f64`, except for integer sums).
    #[inline]
    pub(crate) fn push_num(&mut self, x: f64, int: Option<i64>) {
        match self {
            AggState::Count(c) => *c += 1,
            AggState::SumInt { sum, n } => {
                *sum += int.map_or(x as i128, i128::from);
                *n += 1;
            }
            AggState::SumFloat { sum, n } | AggState::Avg { sum, n } => {
                *sum += x;
                *n += 1;
            }
            AggState::Min(m) => {
                let v = int.map_or(Value::Float(x), Value::Int);
                if m.as_ref()
                    .is_none_or(|cur| cmp_values(&v, cur) == Some(Ordering::Less))
                {
                    *m = Some(v);
                }
            }
            AggState::Max(m) => {
                let v = int.map_or(Value::Float(x), Value::Int);
                if m.as_ref()
                    .is_none_or(|cur| cmp_values(&v, cur) == Some(Ordering::Greater))
                {
                    *m = Some(v);
                }
            }
            AggState::Stddev { n, mean, m2 } => {
                *n += 1;
                let d = x - *mean;
                *mean += d / *n as f64;
                *m2 += d * (x - *mean);
            }
            AggState::Percentile(d) => d.push(x),
            AggState::Histogram(h) => h.push(x),
            AggState::Noisy(_) => {}
            AggState::Distinct(h) => match int {
                Some(i) => h.0.insert(&i.to_le_bytes()),
                None => h.0.insert(&x.to_bits().to_le_bytes()),
            },
        }
    }

    /// Adds one non-null value of any type (strings, timestamps; numbers go to
    /// [`push_num`](Self::push_num)).
    pub(crate) fn push_value(&mut self, v: &Value) {
        match v {
            Value::Null => return,
            Value::Int(i) => return self.push_num(*i as f64, Some(*i)),
            Value::Float(f) => return self.push_num(*f, None),
            _ => {}
        }
        match (self, v) {
            (AggState::Count(c), _) => *c += 1,
            (AggState::Min(m), _)
                if m.as_ref()
                    .is_none_or(|cur| cmp_values(v, cur) == Some(Ordering::Less)) =>
            {
                *m = Some(v.clone());
            }
            (AggState::Max(m), _)
                if m.as_ref()
                    .is_none_or(|cur| cmp_values(v, cur) == Some(Ordering::Greater)) =>
            {
                *m = Some(v.clone());
            }
            (AggState::Distinct(h), Value::Str(s)) => h.0.insert(s.as_bytes()),
            (AggState::Distinct(h), Value::Ts(t)) => h.0.insert(&t.to_le_bytes()),
            (AggState::Distinct(h), Value::Geo(a, b)) => {
                let mut bytes = a.to_bits().to_le_bytes().to_vec();
                bytes.extend_from_slice(&b.to_bits().to_le_bytes());
                h.0.insert(&bytes)
            }
            _ => {}
        }
    }

    /// Merges `other`, the same aggregate's state from another part.
    pub fn merge(&mut self, other: &AggState) -> Result<(), MergeError> {
        match (self, other) {
            (AggState::Count(a), AggState::Count(b)) => *a += b,
            (AggState::SumInt { sum, n }, AggState::SumInt { sum: s2, n: n2 }) => {
                *sum += s2;
                *n += n2;
            }
            (AggState::SumFloat { sum, n }, AggState::SumFloat { sum: s2, n: n2 })
            | (AggState::Avg { sum, n }, AggState::Avg { sum: s2, n: n2 }) => {
                *sum += s2;
                *n += n2;
            }
            (AggState::Min(a), AggState::Min(Some(b))) => {
                if a.as_ref()
                    .is_none_or(|cur| cmp_values(b, cur) == Some(Ordering::Less))
                {
                    *a = Some(b.clone());
                }
            }
            (AggState::Max(a), AggState::Max(Some(b))) => {
                if a.as_ref()
                    .is_none_or(|cur| cmp_values(b, cur) == Some(Ordering::Greater))
                {
                    *a = Some(b.clone());
                }
            }
            (AggState::Min(_), AggState::Min(None)) | (AggState::Max(_), AggState::Max(None)) => {}
            (
                AggState::Stddev { n, mean, m2 },
                AggState::Stddev {
                    n: nb,
                    mean: mb,
                    m2: m2b,
                },
            ) => {
                if *nb > 0 {
                    let total = *n + nb;
                    let (na, nbf, t) = (*n as f64, *nb as f64, total as f64);
                    let delta = mb - *mean;
                    *mean += delta * nbf / t;
                    *m2 += m2b + delta * delta * na * nbf / t;
                    *n = total;
                }
            }
            (AggState::Percentile(a), AggState::Percentile(b)) => {
                a.digest = match (a.flushed(), b.flushed()) {
                    (Some(x), Some(y)) => Some(TDigest::merge_digests(vec![x, y])),
                    (x, y) => x.or(y),
                };
                a.pending.clear();
            }
            (AggState::Distinct(a), AggState::Distinct(b)) => a.0.merge(&b.0),
            (AggState::Histogram(a), AggState::Histogram(b))
                if a.counts.len() == b.counts.len() && a.lo == b.lo && a.hi == b.hi =>
            {
                for (x, y) in a.counts.iter_mut().zip(&b.counts) {
                    *x += y;
                }
            }
            (AggState::Noisy(a), AggState::Noisy(b)) => a.add(b).map_err(MergeError::Mismatch)?,
            (AggState::Noisy(a), b) => {
                let exact = b.exact_values(a.kind).ok_or_else(|| {
                    MergeError::Mismatch(format!("{} merged with a noisy state", b.name()))
                })?;
                a.add_exact(&exact).map_err(MergeError::Mismatch)?;
            }
            (a, AggState::Noisy(b)) => {
                let exact = a.exact_values(b.kind).ok_or_else(|| {
                    MergeError::Mismatch(format!("{} merged with a noisy state", a.name()))
                })?;
                let mut n = b.clone();
                n.add_exact(&exact).map_err(MergeError::Mismatch)?;
                *a = AggState::Noisy(n);
            }
            (a, b) => {
                return Err(MergeError::Mismatch(format!(
                    "aggregate {} merged with {}",
                    a.name(),
                    b.name()
                )))
            }
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        match self {
            AggState::Count(_) => "count",
            AggState::SumInt { .. } | AggState::SumFloat { .. } => "sum",
            AggState::Avg { .. } => "avg",
            AggState::Min(_) => "min",
            AggState::Max(_) => "max",
            AggState::Stddev { .. } => "stddev",
            AggState::Percentile(_) => "percentile_cont",
            AggState::Distinct(_) => "count(DISTINCT)",
            AggState::Histogram(_) => "percentile_cont (histogram)",
            AggState::Noisy(_) => "noisy",
        }
    }

    /// This exact state as the values of a [`Noisy`] state of `kind`, if it is that measure.
    pub(crate) fn exact_values(&self, kind: NoisyKind) -> Option<Vec<f64>> {
        Some(match (self, kind) {
            (AggState::Count(c), NoisyKind::Count) => vec![*c as f64],
            (AggState::SumInt { sum, .. }, NoisyKind::SumInt | NoisyKind::SumFloat) => {
                vec![*sum as f64]
            }
            (AggState::SumFloat { sum, .. }, NoisyKind::SumInt | NoisyKind::SumFloat) => {
                vec![*sum]
            }
            (AggState::Avg { sum, n }, NoisyKind::Avg) => vec![*sum, *n as f64],
            (AggState::Stddev { n, mean, m2 }, NoisyKind::Stddev) => {
                let nf = *n as f64;
                vec![nf, mean * nf, m2 + nf * mean * mean]
            }
            (AggState::Histogram(h), NoisyKind::Histogram) => {
                h.counts.iter().map(|&c| c as f64).collect()
            }
            _ => return None,
        })
    }

    /// The 95 % interval of the released value (noisy states that state one).
    pub fn interval(&self) -> Option<[f64; 2]> {
        match self {
            AggState::Noisy(n) => n.interval(),
            _ => None,
        }
    }

    /// How the value was released: `None` when exact.
    pub fn mechanism(&self) -> Option<&'static str> {
        match self {
            AggState::Noisy(n) => Some(n.mechanism()),
            _ => None,
        }
    }

    /// The aggregate's value (`p` is the fraction of `percentile_cont`).
    pub fn finish(&self, func: AggFunc) -> Value {
        match self {
            AggState::Count(c) => Value::Int(i64::try_from(*c).unwrap_or(i64::MAX)),
            AggState::SumInt { n: 0, .. }
            | AggState::SumFloat { n: 0, .. }
            | AggState::Avg { n: 0, .. } => Value::Null,
            AggState::SumInt { sum, .. } => i64::try_from(*sum)
                .map(Value::Int)
                .unwrap_or(Value::Float(*sum as f64)),
            AggState::SumFloat { sum, .. } => Value::Float(*sum),
            AggState::Avg { sum, n } => Value::Float(sum / *n as f64),
            AggState::Min(m) | AggState::Max(m) => m.clone().unwrap_or(Value::Null),
            AggState::Stddev { n, m2, .. } if *n >= 2 => {
                Value::Float((m2 / (*n - 1) as f64).max(0.0).sqrt())
            }
            AggState::Stddev { .. } => Value::Null,
            AggState::Percentile(d) => {
                let p = match func {
                    AggFunc::Percentile(p) => p,
                    _ => 0.5,
                };
                match d.flushed() {
                    Some(d) if !d.is_empty() => Value::Float(d.estimate_quantile(p)),
                    _ => Value::Null,
                }
            }
            AggState::Distinct(h) => Value::Int(i64::try_from(h.0.estimate()).unwrap_or(i64::MAX)),
            AggState::Histogram(h) => {
                let counts: Vec<f64> = h.counts.iter().map(|&c| c as f64).collect();
                quantile(&counts, h.lo, h.hi, percentile_of(func)).map_or(Value::Null, Value::Float)
            }
            AggState::Noisy(n) => match n.value(percentile_of(func)) {
                None => Value::Null,
                Some(x) if matches!(n.kind, NoisyKind::Count | NoisyKind::SumInt) => {
                    Value::Int(x as i64)
                }
                Some(x) => Value::Float(x),
            },
        }
    }

    /// Compresses buffered sketch values (before shipping).
    pub(crate) fn seal(&mut self) {
        if let AggState::Percentile(d) = self {
            d.flush();
        }
    }
}
