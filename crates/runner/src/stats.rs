//! The statistics the workspace reports, each written once: means,
//! medians and a stable hash for runs and benchmarks, and the aggregate
//! statistics of many seeds as the field now reports them (rliable,
//! Agarwal et al. 2021): the interquartile mean, stratified-bootstrap
//! confidence intervals, the probability of improvement and performance
//! profiles over normalised scores.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Mean and population standard deviation (0 and 0 for none).
#[must_use]
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// The median of the finite values (the mean of the middle two for an even
/// count); NaN when there are none. Non-finite values are left out: a
/// benchmark round or a run that produced no number does not move it.
#[must_use]
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// FNV-1a, 64 bits: a hash whose value never changes between Rust versions
/// or machines (unlike `DefaultHasher`), for checkpoint checksums and the
/// names of cached results. It detects damage and tells configurations
/// apart; it is no protection against tampering.
#[must_use]
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The mean of `values` after cutting `⌊proportion · n⌋` values from each
/// end of their sorted order, as `scipy.stats.trim_mean(values,
/// proportion)`; NaN for no values or a proportion outside `[0, 0.5)`.
#[must_use]
pub fn trimmed_mean(values: &[f64], proportion: f64) -> f64 {
    if values.is_empty() || !(0.0..0.5).contains(&proportion) {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    // scipy: lowercut = int(proportion * nobs), uppercut = nobs - lowercut.
    let cut = (proportion * v.len() as f64) as usize;
    let kept = &v[cut..v.len() - cut];
    kept.iter().sum::<f64>() / kept.len() as f64
}

/// The interquartile mean: the mean of the middle half
/// (`trimmed_mean(values, 0.25)`; of 10 values, the middle 6). Robust to
/// outlying runs, and far less noisy than the median over few seeds.
#[must_use]
pub fn iqm(values: &[f64]) -> f64 {
    trimmed_mean(values, 0.25)
}

/// The `q`-quantile of sorted values by linear interpolation between the
/// two nearest ranks (numpy's default, position `q·(n − 1)`); NaN for none.
#[must_use]
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    let at = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    /// Its lower end.
    pub low: f64,
    /// Its upper end.
    pub high: f64,
}

/// The percentile interval of `statistic` over `reps` stratified bootstrap
/// resamples of `strata` (each stratum, e.g. one environment's runs,
/// resampled with replacement to its own size, as rliable does), at
/// `confidence` (0.95 for 95 %). Seeded: the same arguments give the same
/// interval. A stratum with no values is kept empty.
#[must_use]
pub fn stratified_bootstrap_ci(
    strata: &[Vec<f64>],
    statistic: impl Fn(&[Vec<f64>]) -> f64,
    reps: usize,
    confidence: f64,
    seed: u64,
) -> Interval {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut resample: Vec<Vec<f64>> = strata.iter().map(|s| Vec::with_capacity(s.len())).collect();
    let mut stats: Vec<f64> = (0..reps)
        .map(|_| {
            for (out, stratum) in resample.iter_mut().zip(strata) {
                out.clear();
                out.extend((0..stratum.len()).map(|_| stratum[rng.random_range(0..stratum.len())]));
            }
            statistic(&resample)
        })
        .filter(|x| x.is_finite())
        .collect();
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    Interval { low: quantile(&stats, tail), high: quantile(&stats, 1.0 - tail) }
}

/// The probability that a run of X scores higher than a run of Y, per
/// task, averaged over the tasks (rliable's probability of improvement):
/// for task t, `(1/(n·m)) Σᵢ Σⱼ S(xᵢ, yⱼ)` with `S` 1 for `x > y`, ½ for a
/// tie and 0 otherwise (the Mann–Whitney U statistic, normalised). Tasks
/// where either side has no runs are left out; NaN if none is left.
#[must_use]
pub fn probability_of_improvement(x: &[Vec<f64>], y: &[Vec<f64>]) -> f64 {
    let per_task: Vec<f64> = x
        .iter()
        .zip(y)
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .map(|(a, b)| {
            let wins: f64 = a
                .iter()
                .flat_map(|&xi| {
                    b.iter().map(move |&yj| {
                        if xi > yj {
                            1.0
                        } else if xi == yj {
                            0.5
                        } else {
                            0.0
                        }
                    })
                })
                .sum();
            wins / (a.len() * b.len()) as f64
        })
        .collect();
    if per_task.is_empty() { f64::NAN } else { per_task.iter().sum::<f64>() / per_task.len() as f64 }
}

/// A score normalised so that `random` is 0 and `max` is 1:
/// `(score − random) / (max − random)`.
#[must_use]
pub fn normalized(score: f64, random: f64, max: f64) -> f64 {
    (score - random) / (max - random)
}

/// The performance profile: for each threshold τ of `taus`, the fraction of
/// `scores` (normalised, pooled over tasks) above τ.
#[must_use]
pub fn performance_profile(scores: &[f64], taus: &[f64]) -> Vec<f64> {
    taus.iter().map(|&tau| scores.iter().filter(|&&s| s > tau).count() as f64 / scores.len().max(1) as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_means_as_scipy_by_hand() {
        // 10 values: cut ⌊2.5⌋ = 2 from each end, the mean of the middle 6.
        let ten = [10.0, 1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 5.0];
        assert_eq!(iqm(&ten), (3.0 + 4.0 + 5.0 + 6.0 + 7.0 + 8.0) / 6.0);
        // An outlying run does not move it.
        let outlier = [1000.0, 1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 5.0];
        assert_eq!(iqm(&outlier), 5.5);
        // 7 values: cut ⌊1.75⌋ = 1 from each end.
        assert_eq!(iqm(&[7.0, 1.0, 2.0, 3.0, 4.0, 5.0, 100.0]), (2.0 + 3.0 + 4.0 + 5.0 + 7.0) / 5.0);
        // 3 values: nothing is cut (⌊0.75⌋ = 0): the mean.
        assert_eq!(iqm(&[1.0, 2.0, 6.0]), 3.0);
        assert_eq!(trimmed_mean(&[1.0, 2.0, 3.0, 4.0], 0.0), 2.5);
        assert!(iqm(&[]).is_nan() && trimmed_mean(&[1.0], 0.5).is_nan());
    }

    #[test]
    fn quantiles_interpolate_linearly() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert!((quantile(&v, 0.25) - 1.75).abs() < 1e-12);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn bootstrap_intervals_by_hand() {
        let mean = |s: &[Vec<f64>]| s[0].iter().sum::<f64>() / s[0].len() as f64;
        // Two values 0 and 1: a resample's mean is 0, ½ or 1 with
        // probabilities ¼, ½, ¼, so the 95 % interval is [0, 1].
        let two = [vec![0.0, 1.0]];
        assert_eq!(stratified_bootstrap_ci(&two, mean, 4000, 0.95, 7), Interval { low: 0.0, high: 1.0 });
        // A 40 % interval of the same, its 30th and 70th percentiles: ½ and ½
        // (the quartiles would sit on the edges of the ½ mass).
        assert_eq!(stratified_bootstrap_ci(&two, mean, 4000, 0.4, 7), Interval { low: 0.5, high: 0.5 });
        // Equal values: no spread at all.
        assert_eq!(stratified_bootstrap_ci(&[vec![3.0; 5]], mean, 100, 0.95, 1), Interval { low: 3.0, high: 3.0 });
        // Strata are resampled apart: stratum 0 always holds 5s, stratum 1 always 9s.
        let strata = [vec![5.0, 5.0], vec![9.0, 9.0, 9.0]];
        let total = |s: &[Vec<f64>]| s[0].iter().sum::<f64>() + s[1].iter().sum::<f64>();
        assert_eq!(stratified_bootstrap_ci(&strata, total, 50, 0.95, 2), Interval { low: 37.0, high: 37.0 });
        // Seeded: the same arguments, the same interval; it holds the estimate.
        let runs = [vec![1.0, 4.0, 2.0, 8.0, 5.0, 7.0, 3.0, 6.0, 9.0, 0.5]];
        let iqm_of = |s: &[Vec<f64>]| iqm(&s[0]);
        let a = stratified_bootstrap_ci(&runs, iqm_of, 2000, 0.95, 11);
        assert_eq!(a, stratified_bootstrap_ci(&runs, iqm_of, 2000, 0.95, 11));
        assert!(a.low < iqm(&runs[0]) && iqm(&runs[0]) < a.high && a.low >= 0.5 && a.high <= 9.0, "{a:?}");
    }

    #[test]
    fn probability_of_improvement_by_hand() {
        // x = 1, 2, 3 against y = 2, 2, 2: per pair 0, ½, 1, three times each.
        assert_eq!(probability_of_improvement(&[vec![1.0, 2.0, 3.0]], &[vec![2.0; 3]]), 0.5);
        // Two tasks: always better on one (1), always worse on the other (0).
        let x = [vec![5.0, 6.0], vec![0.0]];
        let y = [vec![1.0], vec![3.0, 4.0]];
        assert_eq!(probability_of_improvement(&x, &y), 0.5);
        assert_eq!(probability_of_improvement(&x[..1], &y[..1]), 1.0);
        assert!(probability_of_improvement(&[vec![]], &[vec![1.0]]).is_nan());
    }

    #[test]
    fn profiles_and_normalisation_by_hand() {
        assert_eq!(performance_profile(&[0.1, 0.5, 0.9], &[0.0, 0.5, 1.0]), [1.0, 1.0 / 3.0, 0.0]);
        // CartPole: a random policy's 22 is 0, 500 is 1.
        assert_eq!(normalized(500.0, 22.0, 500.0), 1.0);
        assert_eq!(normalized(22.0, 22.0, 500.0), 0.0);
        assert_eq!(normalized(-100.0, -200.0, 0.0), 0.5);
    }

    #[test]
    fn medians_by_hand() {
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median([f64::NAN, 5.0, f64::INFINITY]), 5.0);
        assert!(median([]).is_nan());
    }

    #[test]
    fn mean_and_std_by_hand() {
        assert_eq!(mean_std(&[1.0, 3.0]), (2.0, 1.0));
        assert_eq!(mean_std(&[]), (0.0, 0.0));
    }

    #[test]
    fn fnv1a_test_vectors() {
        // The reference values of the FNV authors' test suite.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
