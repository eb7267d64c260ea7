//! Summaries over seeds: means with 95 % bootstrap confidence intervals,
//! smoothing, and curves sampled on a common grid.

/// Resamples per interval: the percentiles of 2 000 bootstrap means move
/// by well under 1 % of the spread between regenerations of other seeds.
const RESAMPLES: usize = 2000;

/// The resamples' seed: the same results give the same intervals.
const SEED: u64 = 0x5eed;

/// A mean and its 95 % percentile-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Estimate {
    /// `mean [lo, hi]` with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        format!("{:.*} [{:.*}, {:.*}]", digits, self.mean, digits, self.lo, digits, self.hi)
    }
}

/// The mean of `values` (one per seed) with a 95 % bootstrap interval:
/// `runner::stratified_bootstrap_ci` over one stratum, `RESAMPLES`
/// resamples with replacement drawn from a fixed seed, so the figures are
/// reproducible.
pub fn bootstrap(values: &[f64]) -> Estimate {
    if values.is_empty() {
        return Estimate { mean: f64::NAN, lo: f64::NAN, hi: f64::NAN };
    }
    let mean = |v: &[f64]| runner::mean_std(v).0;
    let strata = [values.to_vec()];
    let interval = runner::stratified_bootstrap_ci(&strata, |s| mean(&s[0]), RESAMPLES, 0.95, SEED);
    Estimate { mean: mean(values), lo: interval.low, hi: interval.high }
}

/// The interquartile mean of `values` (one per seed) with its 95 %
/// stratified-bootstrap interval (one stratum, as [`bootstrap`]).
pub fn iqm_estimate(values: &[f64]) -> Estimate {
    let strata = [values.to_vec()];
    let interval = runner::stratified_bootstrap_ci(&strata, |s| runner::iqm(&s[0]), RESAMPLES, 0.95, SEED);
    Estimate { mean: runner::iqm(values), lo: interval.low, hi: interval.high }
}

/// The probability that a run of `x` scores higher than a run of `y`
/// (ties half), with its 95 % interval from resampling both sides' runs.
pub fn improvement(x: &[f64], y: &[f64]) -> Estimate {
    let both = [x.to_vec(), y.to_vec()];
    let p = |s: &[Vec<f64>]| runner::probability_of_improvement(&s[..1], &s[1..]);
    let interval = runner::stratified_bootstrap_ci(&both, p, RESAMPLES, 0.95, SEED);
    Estimate { mean: p(&both), lo: interval.low, hi: interval.high }
}

pub use crate::plot::moving_average as smooth;

/// Per point of the curves (one per seed, equal lengths), the mean and its
/// bootstrap interval.
pub fn band(curves: &[Vec<f64>]) -> Vec<Estimate> {
    let len = curves.iter().map(Vec::len).min().unwrap_or(0);
    (0..len).map(|i| bootstrap(&curves.iter().map(|c| c[i]).collect::<Vec<_>>())).collect()
}

/// A curve indexed by environment steps: at each grid step `s`, the value
/// of the last episode finished by step `s` (the first episode's before it
/// ends).
pub fn on_step_grid(ends: &[u64], values: &[f64], grid: &[u64]) -> Vec<f64> {
    let mut k = 0;
    grid.iter()
        .map(|&s| {
            while k + 1 < ends.len() && ends[k + 1] <= s {
                k += 1;
            }
            values.get(k).copied().unwrap_or(f64::NAN)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_of_constants_is_exact_and_intervals_contain_the_mean() {
        let e = bootstrap(&[3.0; 5]);
        assert_eq!((e.mean, e.lo, e.hi), (3.0, 3.0, 3.0));
        let e = bootstrap(&[1.0, 2.0, 3.0, 4.0, 10.0]);
        assert_eq!(e.mean, 4.0);
        assert!(e.lo < e.mean && e.mean < e.hi && e.lo >= 1.0 && e.hi <= 10.0, "{e:?}");
        assert_eq!(bootstrap(&[1.0, 2.0, 3.0, 4.0, 10.0]), e, "reproducible");
    }

    #[test]
    fn iqm_and_improvement_by_hand() {
        // The middle half of 1..=8 is 3, 4, 5, 6.
        let e = iqm_estimate(&[8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(e.mean, 4.5);
        assert!(e.lo <= 4.5 && 4.5 <= e.hi && e.lo >= 1.0 && e.hi <= 8.0, "{e:?}");
        // Every x beats every y: P = 1 in every resample too.
        assert_eq!(improvement(&[5.0, 6.0], &[1.0, 2.0]), Estimate { mean: 1.0, lo: 1.0, hi: 1.0 });
        // x = (1, 3), y = (2, 2): one win, one loss of two pairs each.
        let p = improvement(&[1.0, 3.0], &[2.0, 2.0]);
        assert_eq!(p.mean, 0.5);
        assert!(p.lo < 0.5 && p.hi > 0.5, "{p:?}");
    }

    #[test]
    fn curves_on_a_step_grid() {
        // Episodes ending at steps 10, 30, 60 with returns 10, 20, 30.
        let v = on_step_grid(&[10, 30, 60], &[10.0, 20.0, 30.0], &[0, 10, 29, 30, 100]);
        assert_eq!(v, vec![10.0, 10.0, 10.0, 20.0, 30.0]);
        assert_eq!(smooth(&[1.0, 3.0, 5.0], 2), vec![1.0, 2.0, 4.0]);
    }
}
