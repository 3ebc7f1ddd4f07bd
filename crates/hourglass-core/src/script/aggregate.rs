//! Summary statistics over the organizations' values of one run.

/// Count, sum, mean, median, min and max of a set of values. The optional ones are
/// `None` when there is no value.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub count: u64,
    pub sum: f64,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Aggregates `values`, ignoring any that are not finite (script outputs never are).
pub fn aggregate(values: &[f64]) -> Aggregate {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let sum: f64 = sorted.iter().sum();
    let median = match n {
        0 => None,
        _ if n % 2 == 1 => sorted.get(n / 2).copied(),
        _ => match (sorted.get(n / 2 - 1), sorted.get(n / 2)) {
            (Some(a), Some(b)) => Some(a / 2.0 + b / 2.0),
            _ => None,
        },
    };
    Aggregate {
        count: n as u64,
        sum,
        mean: (n > 0).then(|| sum / n as f64),
        median,
        min: sorted.first().copied(),
        max: sorted.last().copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_of_nothing_has_no_mean_median_min_or_max() {
        let a = aggregate(&[]);
        assert_eq!(a.count, 0);
        assert_eq!(a.sum, 0.0);
        assert_eq!((a.mean, a.median, a.min, a.max), (None, None, None, None));
    }

    #[test]
    fn aggregate_takes_the_middle_of_an_odd_count_and_averages_an_even_one() {
        let odd = aggregate(&[5.0, 1.0, 3.0]);
        assert_eq!(odd.count, 3);
        assert_eq!(odd.sum, 9.0);
        assert_eq!(odd.mean, Some(3.0));
        assert_eq!(odd.median, Some(3.0));
        assert_eq!((odd.min, odd.max), (Some(1.0), Some(5.0)));
        let even = aggregate(&[4.0, 1.0, 3.0, 10.0]);
        assert_eq!(even.median, Some(3.5));
        assert_eq!(even.mean, Some(4.5));
    }

    #[test]
    fn aggregate_ignores_values_that_are_not_finite() {
        let a = aggregate(&[1.0, f64::NAN, f64::INFINITY, 3.0]);
        assert_eq!(a.count, 2);
        assert_eq!(a.median, Some(2.0));
    }
}
