//! Differential privacy at one node: noise from the OpenDP library's samplers (DESIGN.md,
//! "Disclosure control"). Never hand-written floating-point noise: counts get OpenDP's
//! discrete Laplace on integers; sums get its Laplace on a float grid (`make_laplace` over
//! non-NaN `f64`, which samples a discrete Laplace on a lattice and so does not leak through
//! low-order bits as the textbook sampler does, Mironov 2012); groups whose keys are not
//! public pass OpenDP's thresholded partition selection (`make_laplace_threshold`).
//!
//! Every function noises a whole vector at once (one measurement per measure per query), so
//! the epsilon it spends is exactly the one the caller computed: `sensitivity / scale`,
//! checked against OpenDP's own privacy map.

use std::collections::HashMap;

use opendp::domains::{AtomDomain, MapDomain, VectorDomain};
use opendp::measurements::{make_laplace, make_laplace_threshold};
use opendp::measures::{Approximate, MaxDivergence};
use opendp::metrics::{AbsoluteDistance, L0PInfDistance, L1Distance};

/// Why noise could not be drawn (OpenDP refused the parameters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("differential privacy: {0}")]
pub(crate) struct NoiseError(pub String);

fn fail(e: impl std::fmt::Display) -> NoiseError {
    NoiseError(e.to_string())
}

/// The Laplace scale for `sensitivity` (L1) at `epsilon`.
pub(crate) fn scale(sensitivity: f64, epsilon: f64) -> f64 {
    sensitivity / epsilon
}

/// Adds discrete Laplace noise of `scale` to every count (L1 sensitivity `sensitivity`).
/// Returns the noisy counts and the epsilon OpenDP's privacy map gives.
pub(crate) fn noisy_counts(
    values: &[i64],
    sensitivity: i64,
    scale: f64,
) -> Result<(Vec<i64>, f64), NoiseError> {
    let m = make_laplace::<_, _, MaxDivergence>(
        VectorDomain::new(AtomDomain::<i64>::default()),
        L1Distance::<i64>::default(),
        scale,
        None,
    )
    .map_err(fail)?;
    let eps = m.map(&sensitivity).map_err(fail)?;
    let out = m.invoke(&values.to_vec()).map_err(fail)?;
    Ok((out, eps))
}

/// Adds Laplace noise of `scale` on a float grid to every sum (L1 sensitivity
/// `sensitivity`). Returns the noisy sums and the epsilon.
pub(crate) fn noisy_sums(
    values: &[f64],
    sensitivity: f64,
    scale: f64,
) -> Result<(Vec<f64>, f64), NoiseError> {
    let m = make_laplace::<_, _, MaxDivergence>(
        VectorDomain::new(AtomDomain::<f64>::new_non_nan()),
        L1Distance::<f64>::default(),
        scale,
        None,
    )
    .map_err(fail)?;
    let eps = m.map(&sensitivity).map_err(fail)?;
    let out = m.invoke(&values.to_vec()).map_err(fail)?;
    Ok((out, eps))
}

/// Thresholded partition selection: of `subjects` (group → distinct subjects in it, each
/// subject in at most `groups_per_subject` groups), the groups whose noisy count passes a
/// threshold chosen so that the selection costs `epsilon` and at most `delta`, and never
/// below `min` (the minimum group size). Returns the selected groups and the (epsilon,
/// delta) OpenDP's map gives.
pub(crate) fn select_partitions(
    subjects: &HashMap<u32, i64>,
    groups_per_subject: u32,
    epsilon: f64,
    delta: f64,
    min: i64,
) -> Result<(Vec<u32>, (f64, f64)), NoiseError> {
    let g = u32::max(groups_per_subject, 1);
    let scale = scale(f64::from(g), epsilon);
    let d_in = (g, i64::from(g), 1i64);
    let build = |t: i64| {
        make_laplace_threshold::<_, _, Approximate<MaxDivergence>>(
            MapDomain::new(AtomDomain::<u32>::default(), AtomDomain::<i64>::default()),
            L0PInfDistance(AbsoluteDistance::<i64>::default()),
            scale,
            t,
            None,
        )
        .map_err(fail)
    };
    // The smallest threshold whose delta is within the charter's (delta falls as it grows).
    let (mut lo, mut hi) = (1i64, 2i64);
    loop {
        let (_, d) = build(hi)?.map(&d_in).map_err(fail)?;
        if d <= delta {
            break;
        }
        lo = hi;
        hi = hi
            .checked_mul(2)
            .ok_or_else(|| fail("no threshold reaches delta"))?;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let (_, d) = build(mid)?.map(&d_in).map_err(fail)?;
        if d <= delta {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let m = build(hi.max(min))?;
    let spent = m.map(&d_in).map_err(fail)?;
    let kept = m.invoke(subjects).map_err(fail)?;
    let mut out: Vec<u32> = kept.into_keys().collect();
    out.sort_unstable();
    Ok((out, spent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_noised_and_epsilon_is_the_map() {
        let (out, eps) = noisy_counts(&[100; 2000], 10, 10.0).unwrap();
        assert!((eps - 1.0).abs() < 1e-9, "{eps}");
        let mean = out.iter().sum::<i64>() as f64 / out.len() as f64;
        assert!((mean - 100.0).abs() < 2.0, "{mean}");
        assert!(out.iter().any(|&x| x != 100));
        let within = out
            .iter()
            .filter(|&&x| (x - 100).abs() as f64 <= 20f64.ln() * 10.0)
            .count();
        assert!(within as f64 >= 0.93 * out.len() as f64, "{within}");
    }

    #[test]
    fn sums_are_noised_on_a_grid() {
        let (out, eps) = noisy_sums(&[1.5; 500], 4.0, 4.0).unwrap();
        assert!((eps - 1.0).abs() < 1e-9);
        assert!(out.iter().any(|&x| x != 1.5));
    }

    #[test]
    fn a_group_of_one_subject_is_not_selected_and_a_large_one_is() {
        let subjects = HashMap::from([(0u32, 1i64), (1, 10_000)]);
        let (kept, (eps, delta)) = select_partitions(&subjects, 1, 1.0, 1e-6, 10).unwrap();
        assert_eq!(kept, vec![1]);
        assert!(eps <= 1.0 + 1e-9 && delta <= 1e-6, "{eps} {delta}");
    }
}

#[cfg(test)]
mod speed {
    #[test]
    #[ignore = "a measurement, not a test: cargo test -p regio-query --release speed -- --ignored --nocapture"]
    fn draws_per_second() {
        for (name, f) in [
            (
                "counts",
                Box::new(|| {
                    super::noisy_counts(&vec![100; 2000], 744, 2976.0).unwrap();
                }) as Box<dyn Fn()>,
            ),
            (
                "sums",
                Box::new(|| {
                    super::noisy_sums(&vec![100.0; 2000], 744.0 * 200.0, 595_200.0).unwrap();
                }),
            ),
        ] {
            let t = std::time::Instant::now();
            f();
            let us = t.elapsed().as_secs_f64() * 1e6 / 2000.0;
            println!("{name}: {us:.1} µs per draw");
        }
    }
}
