//! Fixed-bucket histograms of latency and time to first token, kept in the rollups so that
//! percentiles are estimated from aggregated counts, never by scanning raw events.
//!
//! Bucket `k` counts values `v` with `BOUNDS_MS[k-1] <= v < BOUNDS_MS[k]` (Postgres's
//! `width_bucket` rule): bucket 0 everything under 50 ms, the last one everything from 60 s.
//! The usage writer counts each batch's buckets in Rust ([`bucket_of`]) and adds them to the
//! rollups; `migrations/V5__latency_histograms.sql` mirrors the bounds to roll up older
//! events, and a test keeps the two equal.

/// Upper bounds (exclusive) of every bucket but the last, in milliseconds.
pub const BOUNDS_MS: [i64; 16] = [
    50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 30_000,
    60_000,
];

/// Buckets in a histogram: one per bound, and one for everything from the last bound.
pub const BUCKETS: usize = BOUNDS_MS.len() + 1;

/// The bounds as a Postgres array literal, `'{50,100,...}'::int[]`.
pub fn sql_bounds() -> String {
    let bounds: Vec<String> = BOUNDS_MS.iter().map(i64::to_string).collect();
    format!("'{{{}}}'::int[]", bounds.join(","))
}

/// The bucket that counts `value`: how many bounds are at or below it.
pub fn bucket_of(value: i64) -> usize {
    BOUNDS_MS.partition_point(|bound| *bound <= value)
}

/// Adds `other` into `sum` bucket by bucket; a shorter histogram is read as padded with zeros.
pub fn add(sum: &mut Vec<i64>, other: &[i64]) {
    if sum.len() < other.len() {
        sum.resize(other.len(), 0);
    }
    for (into, count) in sum.iter_mut().zip(other) {
        *into = into.saturating_add(*count);
    }
}

/// The `percent`-th percentile (1 to 100) of `histogram`, estimated as the upper bound of the
/// bucket that holds it; 60000 (the last bound) when it falls in the open last bucket, so
/// read it as "60 s or more". `None` for an empty histogram.
pub fn percentile(histogram: &[i64], percent: u8) -> Option<i64> {
    let total: i64 = histogram.iter().map(|c| (*c).max(0)).sum();
    if total <= 0 {
        return None;
    }
    // The rank of the value sought, 1-based: the smallest n with n >= total * percent / 100.
    let percent = i64::from(percent.clamp(1, 100));
    let rank = (total.saturating_mul(percent).saturating_add(99) / 100).max(1);
    let mut seen = 0i64;
    for (bucket, count) in histogram.iter().enumerate() {
        seen = seen.saturating_add((*count).max(0));
        if seen >= rank {
            return Some(bound(bucket));
        }
    }
    Some(bound(BUCKETS))
}

/// What the estimate reports for `bucket`: its upper bound, or the last bound.
fn bound(bucket: usize) -> i64 {
    BOUNDS_MS
        .get(bucket)
        .or(BOUNDS_MS.last())
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A histogram of `values`, bucketed as `width_bucket` does.
    fn of(values: &[i64]) -> Vec<i64> {
        let mut histogram = vec![0; BUCKETS];
        for v in values {
            histogram[BOUNDS_MS.iter().filter(|b| **b <= *v).count()] += 1;
        }
        histogram
    }

    #[test]
    fn a_bucket_holds_its_lower_bound_and_not_its_upper_one() {
        assert_eq!(bucket_of(-1), 0);
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(49), 0);
        assert_eq!(bucket_of(50), 1);
        assert_eq!(bucket_of(99), 1);
        assert_eq!(bucket_of(100), 2);
        assert_eq!(bucket_of(59_999), BUCKETS - 2);
        assert_eq!(bucket_of(60_000), BUCKETS - 1);
        assert_eq!(bucket_of(i64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_the_upper_bound_of_the_bucket_holding_them() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&of(&[]), 95), None);
        // One value: every percentile is its bucket's bound.
        assert_eq!(percentile(&of(&[120]), 50), Some(200));
        assert_eq!(percentile(&of(&[120]), 95), Some(200));
        // Bounds are exclusive: 50 ms is in the second bucket.
        assert_eq!(percentile(&of(&[49]), 50), Some(50));
        assert_eq!(percentile(&of(&[50]), 50), Some(100));
        // 20 values: p50 is the 10th, p95 the 19th.
        let mut values = vec![40; 10];
        values.extend([400; 8]);
        values.extend([2_500, 90_000]);
        let histogram = of(&values);
        assert_eq!(percentile(&histogram, 50), Some(50));
        assert_eq!(percentile(&histogram, 51), Some(500));
        assert_eq!(percentile(&histogram, 95), Some(3_000));
        // The open last bucket reports the last bound.
        assert_eq!(percentile(&histogram, 100), Some(60_000));
        // A histogram shorter than BUCKETS (older rows) reads as padded with zeros.
        assert_eq!(percentile(&[0, 0, 3], 50), Some(200));
    }

    #[test]
    fn histograms_add_bucket_by_bucket() {
        let mut sum = vec![1, 2];
        add(&mut sum, &[1, 1, 5]);
        assert_eq!(sum, [2, 3, 5]);
        add(&mut sum, &[]);
        assert_eq!(sum, [2, 3, 5]);
    }

    #[test]
    fn the_migration_mirrors_the_bounds() {
        let migration = include_str!("../../../migrations/V5__latency_histograms.sql");
        assert!(
            migration.contains(&sql_bounds()),
            "V5 must bucket with {}",
            sql_bounds()
        );
        assert_eq!(
            sql_bounds(),
            "'{50,100,200,300,500,750,1000,1500,2000,3000,5000,7500,10000,15000,30000,60000}'::int[]"
        );
    }
}
