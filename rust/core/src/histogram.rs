//! Log-linear (HDR-style) latency buckets.
//!
//! Durations are kept in integer nanoseconds. Values below 128 ns each have their own bucket;
//! above that every power of two is split into 64 equal sub-buckets, so a bucket is never wider
//! than 1/64 of its lower bound. Reporting a bucket's midpoint is therefore within 1/128
//! (0.79 %) of any value inside it. Values at or above [`TRACKABLE_NS`] (2^42 ns, about 73
//! minutes) share the top bucket; the exact minimum and maximum are tracked separately, so a
//! huge duration still counts and still sets `max` exactly.

/// log2 of the number of sub-buckets per power of two.
const SUB_BUCKET_BITS: u32 = 6;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
/// Values below this have one bucket each.
const LINEAR_LIMIT: u64 = 2 * SUB_BUCKETS;
/// The exponent of the first power of two that is split into sub-buckets.
const FIRST_EXPONENT: u32 = SUB_BUCKET_BITS + 1;
/// Exclusive upper exponent: values at or above `2^MAX_EXPONENT` ns land in the top bucket.
const MAX_EXPONENT: u32 = 42;

/// The largest duration, in nanoseconds, that has a bucket of its own.
pub const TRACKABLE_NS: u64 = 1 << MAX_EXPONENT;

/// The number of buckets covering `0..TRACKABLE_NS`.
pub const BUCKET_COUNT: usize =
    (LINEAR_LIMIT + (MAX_EXPONENT - FIRST_EXPONENT) as u64 * SUB_BUCKETS) as usize;

/// The bucket index of a duration in nanoseconds.
#[must_use]
pub fn index_of(ns: u64) -> usize {
    if ns < LINEAR_LIMIT {
        return ns as usize;
    }
    if ns >= TRACKABLE_NS {
        return BUCKET_COUNT - 1;
    }
    let exponent = 63 - ns.leading_zeros();
    let shift = exponent - SUB_BUCKET_BITS;
    let sub = (ns >> shift) - SUB_BUCKETS;
    (LINEAR_LIMIT + u64::from(exponent - FIRST_EXPONENT) * SUB_BUCKETS + sub) as usize
}

/// The half-open range `[low, high)` of nanosecond values that fall into `index`.
#[must_use]
pub fn bounds_of(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < LINEAR_LIMIT {
        return (index, index + 1);
    }
    let offset = index - LINEAR_LIMIT;
    let shift = (offset / SUB_BUCKETS) as u32 + 1;
    let low = (SUB_BUCKETS + offset % SUB_BUCKETS) << shift;
    (low, low + (1 << shift))
}

/// The value reported for a bucket, in nanoseconds: exact below 128 ns, else the midpoint.
#[must_use]
pub fn representative_ns(index: usize) -> f64 {
    let (low, high) = bounds_of(index);
    if high - low == 1 {
        low as f64
    } else {
        (low as f64 + high as f64) / 2.0
    }
}

/// Converts a non-negative duration in milliseconds to whole nanoseconds (saturating).
#[must_use]
pub fn ms_to_ns(ms: f64) -> u64 {
    // `as` saturates for out-of-range floats, which is the behaviour wanted here.
    (ms * 1_000_000.0).round() as u64
}

/// Bucket counts for a contiguous range of indices, grown on demand.
///
/// Latencies of one operation cluster in a few powers of two, so storing only the occupied
/// range keeps a time bucket to a few hundred bytes instead of the full `BUCKET_COUNT` array.
#[derive(Debug, Clone, Default)]
pub struct CompactCounts {
    low: usize,
    counts: Vec<u32>,
}

impl CompactCounts {
    /// Adds `n` to bucket `index` (saturating at `u32::MAX`).
    pub fn add(&mut self, index: usize, n: u32) {
        if self.counts.is_empty() {
            self.low = index;
            self.counts.push(n);
            return;
        }
        if index < self.low {
            let grow = self.low - index;
            let mut counts = Vec::with_capacity(self.counts.len() + grow);
            counts.push(n);
            counts.resize(grow, 0);
            counts.extend_from_slice(&self.counts);
            self.counts = counts;
            self.low = index;
            return;
        }
        let offset = index - self.low;
        if offset >= self.counts.len() {
            let needed = offset + 1 - self.counts.len();
            self.counts.reserve_exact(needed.max(self.counts.len() / 8));
            self.counts.resize(offset + 1, 0);
        }
        if let Some(slot) = self.counts.get_mut(offset) {
            *slot = slot.saturating_add(n);
        }
    }

    /// Adds every count into a full-width array indexed by bucket.
    pub fn merge_into(&self, dense: &mut [u64]) {
        if let Some(target) = dense.get_mut(self.low..self.low + self.counts.len()) {
            for (sum, count) in target.iter_mut().zip(&self.counts) {
                *sum += u64::from(*count);
            }
        }
    }

    /// Heap bytes held by the counts.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u32>()
    }
}

/// The nearest-rank quantile of merged bucket counts, in milliseconds.
///
/// `q` is in `0..=1`; the rank is `ceil(q * total)` (at least 1). The bucket estimate is clamped
/// to the exact `[min_ms, max_ms]`, and the first and last ranks are the exact extremes.
#[must_use]
pub fn quantile_ms(dense: &[u64], total: u64, q: f64, min_ms: f64, max_ms: f64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    if rank == 1 {
        return min_ms;
    }
    if rank == total {
        return max_ms;
    }
    let mut seen = 0u64;
    for (index, count) in dense.iter().enumerate() {
        seen += count;
        if seen >= rank {
            if index == BUCKET_COUNT - 1 {
                // The top bucket also holds every value beyond it: the maximum is the best
                // estimate there.
                return max_ms;
            }
            return (representative_ns(index) / 1_000_000.0).clamp(min_ms, max_ms);
        }
    }
    max_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut expected_low = 0;
        for index in 0..BUCKET_COUNT {
            let (low, high) = bounds_of(index);
            assert_eq!(low, expected_low, "bucket {index}");
            assert!(high > low);
            assert_eq!(index_of(low), index);
            assert_eq!(index_of(high - 1), index);
            expected_low = high;
        }
        assert_eq!(expected_low, TRACKABLE_NS);
    }

    #[test]
    fn bucket_midpoint_is_within_one_percent_of_every_member() {
        for index in 0..BUCKET_COUNT {
            let (low, high) = bounds_of(index);
            let mid = representative_ns(index);
            let worst = (mid - low as f64).max(high as f64 - 1.0 - mid) / low.max(1) as f64;
            assert!(worst <= 1.0 / 128.0 + 1e-12, "bucket {index}: {worst}");
        }
    }

    #[test]
    fn values_beyond_the_top_share_the_last_bucket() {
        assert_eq!(index_of(TRACKABLE_NS), BUCKET_COUNT - 1);
        assert_eq!(index_of(u64::MAX), BUCKET_COUNT - 1);
    }

    #[test]
    fn compact_counts_grow_both_ways() {
        let mut counts = CompactCounts::default();
        counts.add(500, 1);
        counts.add(300, 2);
        counts.add(900, 3);
        counts.add(500, 1);
        let mut dense = vec![0u64; BUCKET_COUNT];
        counts.merge_into(&mut dense);
        assert_eq!((dense[300], dense[500], dense[900]), (2, 2, 3));
        assert_eq!(dense.iter().sum::<u64>(), 7);
    }

    #[test]
    fn quantile_of_empty_is_zero_and_extremes_are_exact() {
        assert_eq!(quantile_ms(&[], 0, 0.5, 0.0, 0.0), 0.0);
        let mut dense = vec![0u64; BUCKET_COUNT];
        dense[index_of(ms_to_ns(1.234))] += 1;
        dense[index_of(ms_to_ns(9.876))] += 1;
        assert_eq!(quantile_ms(&dense, 2, 1.0, 1.234, 9.876), 9.876);
        assert_eq!(quantile_ms(&dense, 2, 0.0, 1.234, 9.876), 1.234);
    }
}
