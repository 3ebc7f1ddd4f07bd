//! Rates that are honest about their sample.

use serde::Serialize;

/// The standard normal quantile for a two-sided 95 % interval.
///
/// A constant rather than a statistics crate: it is the only quantile we need, and
/// the Wilson formula below is the whole of our statistics.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// A proportion `numerator / n` with its sample size and 95 % Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    /// `numerator / n`; `None` when `n` is 0.
    pub value: Option<f64>,
    pub numerator: u64,
    /// The denominator: the size of the sample the rate is drawn from.
    pub n: u64,
    /// Lower bound of the 95 % Wilson interval; `None` when `n` is 0 or the
    /// numerator exceeds `n` (then the ratio is not a proportion).
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// Whether `n` reached the workspace's minimum sample.
    pub sufficient: bool,
}

impl Rate {
    /// Builds a rate; `min_sample` is the workspace's threshold for `sufficient`.
    pub fn new(numerator: u64, n: u64, min_sample: u64) -> Self {
        let value = (n > 0).then(|| numerator as f64 / n as f64);
        let interval = wilson_interval(numerator, n);
        Self {
            value,
            numerator,
            n,
            lower: interval.map(|(lo, _)| lo),
            upper: interval.map(|(_, hi)| hi),
            sufficient: n > 0 && n >= min_sample,
        }
    }
}

/// The 95 % Wilson score interval for `successes` out of `n`, or `None` when there is
/// no sample or `successes > n`.
pub fn wilson_interval(successes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 || successes > n {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let margin = Z_95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - margin).max(0.0), (centre + margin).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The interval as the roots of (p̂ − p)² = z² p (1 − p) / n, solved directly:
    /// a formulation independent of the one above.
    fn reference(successes: u64, n: u64) -> (f64, f64) {
        let (x, n) = (successes as f64, n as f64);
        let p_hat = x / n;
        let z2 = Z_95 * Z_95;
        let a = 1.0 + z2 / n;
        let b = -(2.0 * p_hat + z2 / n);
        let c = p_hat * p_hat;
        let disc = (b * b - 4.0 * a * c).max(0.0).sqrt();
        ((-b - disc) / (2.0 * a), (-b + disc) / (2.0 * a))
    }

    #[test]
    fn known_values() {
        // 10 of 100 → [0.0552, 0.1744], the textbook example.
        let (lo, hi) = wilson_interval(10, 100).unwrap();
        assert!((lo - 0.0552).abs() < 1e-4, "{lo}");
        assert!((hi - 0.1744).abs() < 1e-4, "{hi}");
        let (lo, hi) = wilson_interval(0, 10).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.2775).abs() < 1e-4, "{hi}");
    }

    #[test]
    fn an_empty_sample_has_no_value_and_is_insufficient() {
        let rate = Rate::new(0, 0, 30);
        assert_eq!(rate.value, None);
        assert_eq!(rate.lower, None);
        assert!(!rate.sufficient);
    }

    #[test]
    fn sufficiency_follows_the_minimum_sample() {
        assert!(!Rate::new(3, 29, 30).sufficient);
        assert!(Rate::new(3, 30, 30).sufficient);
        assert!(Rate::new(0, 1, 0).sufficient);
    }

    #[test]
    fn a_ratio_above_one_keeps_its_value_but_has_no_interval() {
        let rate = Rate::new(12, 10, 1);
        assert_eq!(rate.value, Some(1.2));
        assert_eq!(rate.lower, None);
    }

    proptest! {
        #[test]
        fn matches_the_quadratic_reference(n in 1u64..100_000, frac in 0.0f64..=1.0) {
            let x = ((n as f64) * frac).round() as u64;
            let (lo, hi) = wilson_interval(x, n).unwrap();
            let (rlo, rhi) = reference(x, n);
            prop_assert!((lo - rlo.max(0.0)).abs() < 1e-9, "lower {} vs {}", lo, rlo);
            prop_assert!((hi - rhi.min(1.0)).abs() < 1e-9, "upper {} vs {}", hi, rhi);
        }

        #[test]
        fn contains_the_estimate_and_is_symmetric(n in 1u64..100_000, frac in 0.0f64..=1.0) {
            let x = ((n as f64) * frac).round() as u64;
            let rate = Rate::new(x, n, 30);
            let (lo, hi) = (rate.lower.unwrap(), rate.upper.unwrap());
            let p = rate.value.unwrap();
            prop_assert!(0.0 <= lo && lo <= p + 1e-12 && p <= hi + 1e-12 && hi <= 1.0);
            let (mlo, mhi) = wilson_interval(n - x, n).unwrap();
            prop_assert!((lo - (1.0 - mhi)).abs() < 1e-9);
            prop_assert!((hi - (1.0 - mlo)).abs() < 1e-9);
        }

        #[test]
        fn narrows_as_the_sample_grows(n in 1u64..10_000, frac in 0.0f64..=1.0) {
            let x = ((n as f64) * frac).round() as u64;
            let (lo1, hi1) = wilson_interval(x, n).unwrap();
            let (lo2, hi2) = wilson_interval(x * 4, n * 4).unwrap();
            prop_assert!(hi2 - lo2 <= hi1 - lo1 + 1e-12);
        }
    }
}
