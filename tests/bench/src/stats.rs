//! Percentiles of small samples (hundreds to thousands of values), by
//! nearest rank on the sorted values.

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub min_ms: f64,
}

impl Percentiles {
    pub fn of(mut values_ms: Vec<f64>) -> Self {
        values_ms.retain(|v| v.is_finite());
        if values_ms.is_empty() {
            return Self::default();
        }
        values_ms.sort_by(f64::total_cmp);
        Self {
            count: values_ms.len(),
            p50_ms: rank(&values_ms, 0.50),
            p99_ms: rank(&values_ms, 0.99),
            max_ms: values_ms[values_ms.len() - 1],
            min_ms: values_ms[0],
        }
    }
}

fn rank(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of a few ratios (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!((p.p50_ms, p.p99_ms, p.max_ms, p.min_ms, p.count), (50.0, 99.0, 100.0, 1.0, 100));
        assert_eq!(Percentiles::of(vec![]).count, 0);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
