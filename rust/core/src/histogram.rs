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
    let ns = ms * 1_000_000.0;
    // `(ns).round() as u64` without the rounding function (a library call on the baseline
    // x86-64 target): below 2^52 the float's fraction is exact, so comparing it with one half
    // rounds half away from zero as `round` does; from 2^52 up every float is a whole number.
    // `as` saturates (negative and NaN give 0), which is the behaviour wanted here.
    if ns < 4_503_599_627_370_496.0 {
        let whole = ns as u64;
        #[allow(clippy::cast_precision_loss)]
        let fraction = ns - whole as f64;
        whole + u64::from(fraction >= 0.5)
    } else {
        ns as u64
    }
}

/// Distinct buckets a [`CompactCounts`] keeps as a sorted list before switching to a range.
const SPARSE_LIMIT: usize = 16;

/// Bucket counts of one time bucket, stored as compactly as the data allows.
///
/// A few samples are a sorted list of `(bucket, count)`; beyond `SPARSE_LIMIT` (16) distinct
/// buckets the counts become a contiguous range of cells (latencies of one operation cluster in
/// a few powers of two), and each cell starts as one byte and widens to two or four bytes only
/// when a count needs it. A busy 10-second bucket thus costs a few hundred bytes instead of the
/// full `BUCKET_COUNT` array.
#[derive(Debug, Clone)]
pub struct CompactCounts {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    Sparse(Vec<(u16, u32)>),
    Dense { low: usize, cells: Cells },
}

#[derive(Debug, Clone)]
enum Cells {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl Default for CompactCounts {
    fn default() -> Self {
        Self {
            repr: Repr::Sparse(Vec::new()),
        }
    }
}

impl Cells {
    fn len(&self) -> usize {
        match self {
            Self::U8(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::U32(v) => v.len(),
        }
    }

    fn get(&self, offset: usize) -> u32 {
        match self {
            Self::U8(v) => v.get(offset).map_or(0, |&x| u32::from(x)),
            Self::U16(v) => v.get(offset).map_or(0, |&x| u32::from(x)),
            Self::U32(v) => v.get(offset).copied().unwrap_or(0),
        }
    }

    fn capacity_bytes(&self) -> usize {
        match self {
            Self::U8(v) => v.capacity(),
            Self::U16(v) => v.capacity() * 2,
            Self::U32(v) => v.capacity() * 4,
        }
    }

    /// Widens the cells until `value` fits.
    fn widen_for(&mut self, value: u32) {
        if value > u32::from(u8::MAX) {
            if let Self::U8(v) = self {
                *self = Self::U16(v.iter().map(|&x| u16::from(x)).collect());
            }
        }
        if value > u32::from(u16::MAX) {
            if let Self::U16(v) = self {
                *self = Self::U32(v.iter().map(|&x| u32::from(x)).collect());
            }
        }
    }

    /// Adds `n` to the cell at `offset` when there is such a cell and the sum fits it (true);
    /// false, changing nothing, otherwise.
    #[inline]
    fn try_add(&mut self, offset: usize, n: u32) -> bool {
        match self {
            Self::U8(v) => match v.get_mut(offset) {
                Some(cell) => match u8::try_from(u32::from(*cell).saturating_add(n)) {
                    Ok(sum) => {
                        *cell = sum;
                        true
                    }
                    Err(_) => false,
                },
                None => false,
            },
            Self::U16(v) => match v.get_mut(offset) {
                Some(cell) => match u16::try_from(u32::from(*cell).saturating_add(n)) {
                    Ok(sum) => {
                        *cell = sum;
                        true
                    }
                    Err(_) => false,
                },
                None => false,
            },
            Self::U32(v) => match v.get_mut(offset) {
                Some(cell) => {
                    *cell = cell.saturating_add(n);
                    true
                }
                None => false,
            },
        }
    }

    /// Adds `n` to the cell at `offset` (saturating at `u32::MAX`), widening the cells only when
    /// the sum does not fit.
    fn add_at(&mut self, offset: usize, n: u32) {
        match self {
            Self::U8(v) => {
                if let Some(cell) = v.get_mut(offset) {
                    let sum = u32::from(*cell).saturating_add(n);
                    match u8::try_from(sum) {
                        Ok(fits) => *cell = fits,
                        Err(_) => self.set(offset, sum),
                    }
                }
            }
            Self::U16(v) => {
                if let Some(cell) = v.get_mut(offset) {
                    let sum = u32::from(*cell).saturating_add(n);
                    match u16::try_from(sum) {
                        Ok(fits) => *cell = fits,
                        Err(_) => self.set(offset, sum),
                    }
                }
            }
            Self::U32(v) => {
                if let Some(cell) = v.get_mut(offset) {
                    *cell = cell.saturating_add(n);
                }
            }
        }
    }

    fn set(&mut self, offset: usize, value: u32) {
        self.widen_for(value);
        match self {
            Self::U8(v) => {
                if let Some(cell) = v.get_mut(offset) {
                    *cell = u8::try_from(value).unwrap_or(u8::MAX);
                }
            }
            Self::U16(v) => {
                if let Some(cell) = v.get_mut(offset) {
                    *cell = u16::try_from(value).unwrap_or(u16::MAX);
                }
            }
            Self::U32(v) => {
                if let Some(cell) = v.get_mut(offset) {
                    *cell = value;
                }
            }
        }
    }

    fn grow_back(&mut self, extra: usize) {
        fn grow<T: Copy + Default>(v: &mut Vec<T>, extra: usize) {
            v.reserve_exact(extra.max(v.len() / 8));
            v.resize(v.len() + extra, T::default());
        }
        match self {
            Self::U8(v) => grow(v, extra),
            Self::U16(v) => grow(v, extra),
            Self::U32(v) => grow(v, extra),
        }
    }

    fn grow_front(&mut self, extra: usize) {
        fn grow<T: Copy + Default>(v: &mut Vec<T>, extra: usize) {
            let mut grown = Vec::with_capacity(v.len() + extra);
            grown.resize(extra, T::default());
            grown.extend_from_slice(v);
            *v = grown;
        }
        match self {
            Self::U8(v) => grow(v, extra),
            Self::U16(v) => grow(v, extra),
            Self::U32(v) => grow(v, extra),
        }
    }

    fn merge_into(&self, target: &mut [u64]) {
        match self {
            Self::U8(v) => target
                .iter_mut()
                .zip(v)
                .for_each(|(t, &x)| *t += u64::from(x)),
            Self::U16(v) => target
                .iter_mut()
                .zip(v)
                .for_each(|(t, &x)| *t += u64::from(x)),
            Self::U32(v) => target
                .iter_mut()
                .zip(v)
                .for_each(|(t, &x)| *t += u64::from(x)),
        }
    }
}

impl CompactCounts {
    /// Adds `n` to bucket `index` (saturating at `u32::MAX`).
    #[inline]
    pub fn add(&mut self, index: usize, n: u32) {
        // The common case first, inline: a dense range that holds `index` and a cell that
        // holds the sum without widening.
        if let Repr::Dense { low, cells } = &mut self.repr {
            if let Some(offset) = index.checked_sub(*low) {
                if cells.try_add(offset, n) {
                    return;
                }
            }
        }
        self.add_slow(index, n);
    }

    /// [`CompactCounts::add`] for the sparse form, outside the dense range and when a cell widens.
    #[inline(never)]
    fn add_slow(&mut self, index: usize, n: u32) {
        match &mut self.repr {
            Repr::Sparse(entries) => {
                let key = u16::try_from(index).unwrap_or(u16::MAX);
                match entries.binary_search_by_key(&key, |&(k, _)| k) {
                    Ok(position) => {
                        if let Some(entry) = entries.get_mut(position) {
                            entry.1 = entry.1.saturating_add(n);
                        }
                    }
                    Err(position) if entries.len() < SPARSE_LIMIT => {
                        entries.insert(position, (key, n));
                    }
                    Err(_) => {
                        self.repr = Self::dense_from(entries);
                        self.add_dense(index, n);
                    }
                }
            }
            Repr::Dense { .. } => self.add_dense(index, n),
        }
    }

    fn dense_from(entries: &[(u16, u32)]) -> Repr {
        let low = entries.first().map_or(0, |&(k, _)| usize::from(k));
        let high = entries.last().map_or(0, |&(k, _)| usize::from(k));
        let mut repr = Repr::Dense {
            low,
            cells: Cells::U8(vec![0; high - low + 1]),
        };
        if let Repr::Dense { cells, .. } = &mut repr {
            for &(k, count) in entries {
                cells.set(usize::from(k) - low, count);
            }
        }
        repr
    }

    fn add_dense(&mut self, index: usize, n: u32) {
        let Repr::Dense { low, cells } = &mut self.repr else {
            return;
        };
        if index < *low {
            cells.grow_front(*low - index);
            *low = index;
        } else if index >= *low + cells.len() {
            cells.grow_back(index + 1 - *low - cells.len());
        }
        cells.add_at(index - *low, n);
    }

    /// Adds every count into a full-width array indexed by bucket.
    pub fn merge_into(&self, dense: &mut [u64]) {
        match &self.repr {
            Repr::Sparse(entries) => {
                for &(k, count) in entries {
                    if let Some(slot) = dense.get_mut(usize::from(k)) {
                        *slot += u64::from(count);
                    }
                }
            }
            Repr::Dense { low, cells } => {
                if let Some(target) = dense.get_mut(*low..) {
                    cells.merge_into(target);
                }
            }
        }
    }

    /// The lowest and highest bucket index that may hold a count, `None` when empty.
    #[must_use]
    pub fn span(&self) -> Option<(usize, usize)> {
        match &self.repr {
            Repr::Sparse(entries) => Some((
                usize::from(entries.first()?.0),
                usize::from(entries.last()?.0),
            )),
            Repr::Dense { low, cells } => Some((*low, (*low + cells.len()).checked_sub(1)?)),
        }
    }

    /// Every non-empty bucket as `(index, count)`, lowest first.
    #[must_use]
    pub fn entries(&self) -> Vec<(usize, u32)> {
        match &self.repr {
            Repr::Sparse(entries) => entries
                .iter()
                .map(|&(k, count)| (usize::from(k), count))
                .collect(),
            Repr::Dense { low, cells } => (0..cells.len())
                .map(|offset| (*low + offset, cells.get(offset)))
                .filter(|&(_, count)| count > 0)
                .collect(),
        }
    }

    /// Heap bytes held by the counts.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Sparse(entries) => entries.capacity() * std::mem::size_of::<(u16, u32)>(),
            Repr::Dense { cells, .. } => cells.capacity_bytes(),
        }
    }
}

/// Nearest-rank quantiles of merged bucket counts, in milliseconds, in one pass.
///
/// Each `q` is in `0..=1`; its rank is `ceil(q * total)` (at least 1). A bucket estimate is
/// clamped to the exact `[min_ms, max_ms]`, the first and last ranks are the exact extremes, and
/// a rank in the top bucket (which also holds every value beyond it) is the maximum.
///
/// `dense[i]` is the count of bucket `first + i` (every bucket outside the slice is empty), so
/// a caller that knows where its counts lie skips the empty rest. `qs` must be ascending.
#[must_use]
pub fn quantiles_ms<const N: usize>(
    dense: &[u64],
    first: usize,
    total: u64,
    qs: [f64; N],
    min_ms: f64,
    max_ms: f64,
) -> [f64; N] {
    let mut out = [0.0; N];
    if total == 0 {
        return out;
    }
    debug_assert!(qs.windows(2).all(|w| w[0] <= w[1]), "qs must be ascending");
    // `seen` counts the buckets before `next`; ranks only grow, so the walk never restarts.
    let mut seen = 0u64;
    let mut next = 0usize;
    for (slot, q) in out.iter_mut().zip(qs) {
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        *slot = if rank == 1 {
            min_ms
        } else if rank == total {
            max_ms
        } else {
            while seen < rank {
                let Some(count) = dense.get(next) else {
                    break;
                };
                seen += count;
                next += 1;
            }
            match next.checked_sub(1) {
                Some(offset) if seen >= rank && first + offset != BUCKET_COUNT - 1 => {
                    let index = first + offset;
                    (representative_ns(index) / 1_000_000.0).clamp(min_ms, max_ms)
                }
                _ => max_ms,
            }
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `ms_to_ns` computed before it avoided the rounding function.
    fn ms_to_ns_by_round(ms: f64) -> u64 {
        (ms * 1_000_000.0).round() as u64
    }

    proptest! {
        #[test]
        fn ms_to_ns_rounds_as_the_rounding_function(
            ms in prop_oneof![any::<f64>(), 0.0..10.0f64, 0.0..1e10f64, -1.0..0.0f64],
        ) {
            prop_assert_eq!(ms_to_ns(ms), ms_to_ns_by_round(ms));
        }
    }

    #[test]
    fn ms_to_ns_rounds_halves_away_from_zero_and_saturates() {
        let two_52 = 4_503_599_627_370_496.0_f64;
        let mut cases = vec![
            0.0,
            -0.0,
            -1e-7,
            -0.6e-6,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
            1e300,
            two_52 / 1e6,
            (two_52 - 0.5) / 1e6,
            (two_52 + 2.0) / 1e6,
            2f64.powi(64) / 1e6,
        ];
        for k in 0..2_000u32 {
            // Durations whose nanoseconds land on, just below and just above a half.
            let half = (f64::from(k) + 0.5) / 1e6;
            cases.extend([half, half.next_down(), half.next_up()]);
        }
        for ms in cases {
            assert_eq!(ms_to_ns(ms), ms_to_ns_by_round(ms), "{ms:e}");
        }
        assert_eq!(ms_to_ns(0.000_000_5), 1); // 0.5 ns rounds up, as `round` does
        assert_eq!(ms_to_ns(f64::INFINITY), u64::MAX);
        assert_eq!(ms_to_ns(-3.0), 0);
    }

    #[test]
    fn dense_counts_saturate_at_the_largest_count() {
        let mut counts = CompactCounts::default();
        for index in 0..=SPARSE_LIMIT {
            counts.add(index * 3, 1); // past the sparse limit: dense one-byte cells
        }
        counts.add(3, u32::MAX - 10);
        counts.add(3, 20);
        counts.add(6, 300);
        assert_eq!(
            counts.entries().get(..3),
            Some(&[(0, 1), (3, u32::MAX), (6, 301)][..])
        );
    }

    /// The oracle of `quantiles_ms`: one nearest-rank quantile by a walk over the whole array.
    fn quantile_ms(dense: &[u64], total: u64, q: f64, min_ms: f64, max_ms: f64) -> f64 {
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
    fn compact_counts_match_a_full_array_through_every_representation() {
        let mut counts = CompactCounts::default();
        let mut expected = vec![0u64; BUCKET_COUNT];
        let mut x = 12_345u64;
        for step in 0..20_000u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            // Early steps spread widely (sparse, then growing both ways); later ones pile up
            // in a few buckets so the cells widen past one and two bytes.
            let index = if step < 100 {
                (x >> 33) as usize % BUCKET_COUNT
            } else {
                500 + (x >> 60) as usize
            };
            let n = if step % 1_000 == 0 { 70_000 } else { 1 };
            counts.add(index, n);
            expected[index] += u64::from(n);
            if step == 10 || step == 99 || step == 19_999 {
                let mut dense = vec![0u64; BUCKET_COUNT];
                counts.merge_into(&mut dense);
                assert_eq!(dense, expected, "after step {step}");
            }
        }
        assert!(counts.heap_bytes() > 0);
    }

    #[test]
    fn a_few_samples_stay_small() {
        let mut counts = CompactCounts::default();
        counts.add(BUCKET_COUNT - 1, 1);
        counts.add(0, 1);
        assert!(counts.heap_bytes() <= SPARSE_LIMIT * 8);
    }

    #[test]
    fn span_covers_every_count_sparse_or_dense() {
        let mut counts = CompactCounts::default();
        assert_eq!(counts.span(), None);
        counts.add(40, 1);
        counts.add(7, 2);
        assert_eq!(counts.span(), Some((7, 40)));
        for index in (100..140).rev() {
            counts.add(index, 1);
        }
        assert_eq!(counts.span(), Some((7, 139)));
        let mut dense = vec![0u64; BUCKET_COUNT];
        counts.merge_into(&mut dense);
        assert_eq!(dense.iter().position(|&n| n > 0), Some(7));
        assert_eq!(dense.iter().rposition(|&n| n > 0), Some(139));
    }

    #[test]
    fn quantiles_in_one_pass_match_one_at_a_time() {
        let qs = [0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0];
        for values in [
            vec![],
            vec![3_000_000u64],
            (1..=1_000u64).map(|v| v * v * 997).collect(),
            vec![5, 1_000, TRACKABLE_NS * 3, TRACKABLE_NS * 4, 7],
        ] {
            let mut dense = vec![0u64; BUCKET_COUNT];
            for &ns in &values {
                if let Some(slot) = dense.get_mut(index_of(ns)) {
                    *slot += 1;
                }
            }
            let total = values.len() as u64;
            let min = values.iter().min().map_or(0.0, |&v| v as f64 / 1e6);
            let max = values.iter().max().map_or(0.0, |&v| v as f64 / 1e6);
            let together = quantiles_ms(&dense, 0, total, qs, min, max);
            let first = dense.iter().position(|&n| n > 0).unwrap_or(0);
            let last = dense.iter().rposition(|&n| n > 0).unwrap_or(0);
            let slice = dense.get(first..=last).unwrap_or(&[]);
            let sliced = quantiles_ms(slice, first, total, qs, min, max);
            for ((q, got), got_sliced) in qs.iter().zip(together).zip(sliced) {
                let one = quantile_ms(&dense, total, *q, min, max);
                assert_eq!((got, got_sliced), (one, one), "q={q}");
            }
        }
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
