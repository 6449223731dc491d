//! Lifetime durations as a Prometheus native (sparse exponential) histogram.
//!
//! Bucket `i` of schema `s` holds the values in `(2^((i-1)/2^s), 2^(i/2^s)]` seconds. Schema 6
//! (64 buckets per power of two) puts any quantile estimate within about 0.55% of the value,
//! against 14 fixed classic buckets that cannot follow the data. Counts are kept densely between
//! the lowest and the highest bucket seen, and handed out as Prometheus' spans and deltas.

/// The schema of every native histogram the registry keeps.
pub const NATIVE_SCHEMA: i32 = 6;
/// Durations at or below this many seconds (a nanosecond) go to the zero bucket.
pub const ZERO_THRESHOLD: f64 = 1e-9;

/// The counts of one native histogram.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NativeHistogram {
    /// Index of `counts[0]`.
    offset: i32,
    counts: Vec<u64>,
    zero: u64,
}

/// A run of consecutive buckets, as Prometheus encodes them: `offset` is the gap to the end of
/// the previous span (to bucket 0 for the first), `length` the number of buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Buckets skipped since the previous span (or the starting index, for the first).
    pub offset: i32,
    /// Consecutive buckets in this span.
    pub length: u32,
}

/// The bucket index of `seconds` (> [`ZERO_THRESHOLD`]) in [`NATIVE_SCHEMA`].
#[must_use]
pub fn bucket_index(seconds: f64) -> i32 {
    let scaled = seconds.log2() * f64::from(1_u32 << NATIVE_SCHEMA);
    // Durations are clamped to the histogram's trackable range before they get here, so the
    // index is far inside i32; `as` saturates anyway. Inside that range the ceiling is the
    // truncation plus one for a positive fraction (without the rounding function, a library
    // call on the baseline x86-64 target).
    #[allow(clippy::cast_possible_truncation)]
    if scaled.abs() < 1e9 {
        let whole = scaled as i32;
        whole + i32::from(f64::from(whole) < scaled)
    } else {
        scaled.ceil() as i32
    }
}

/// The upper bound, in seconds, of bucket `index`.
#[must_use]
pub fn bucket_upper_bound(index: i32) -> f64 {
    (f64::from(index) / f64::from(1_u32 << NATIVE_SCHEMA)).exp2()
}

impl NativeHistogram {
    /// An empty histogram.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Count one duration of `seconds` (negative or NaN durations count as zero).
    pub fn observe(&mut self, seconds: f64) {
        if seconds.is_nan() || seconds <= ZERO_THRESHOLD {
            self.zero += 1;
            return;
        }
        let index = bucket_index(seconds);
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(1);
            return;
        }
        if index < self.offset {
            let grow = usize::try_from(self.offset - index).unwrap_or(0);
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let slot = usize::try_from(index - self.offset).unwrap_or(0);
        if slot >= self.counts.len() {
            self.counts.resize(slot + 1, 0);
        }
        if let Some(count) = self.counts.get_mut(slot) {
            *count += 1;
        }
    }

    /// Adds `count` observations to bucket `index` (grows the dense range as needed).
    pub fn add_bucket(&mut self, index: i32, count: u64) {
        if count == 0 {
            return;
        }
        if self.counts.is_empty() {
            self.offset = index;
        } else if index < self.offset {
            let grow = usize::try_from(i64::from(self.offset) - i64::from(index)).unwrap_or(0);
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let slot = usize::try_from(i64::from(index) - i64::from(self.offset)).unwrap_or(0);
        if slot >= self.counts.len() {
            self.counts.resize(slot + 1, 0);
        }
        if let Some(slot) = self.counts.get_mut(slot) {
            *slot += count;
        }
    }

    /// Adds `count` observations to the zero bucket.
    pub fn add_zero(&mut self, count: u64) {
        self.zero += count;
    }

    /// Adds every count of `other` (the histograms of two processes merge exactly).
    pub fn add(&mut self, other: &NativeHistogram) {
        self.zero += other.zero;
        for (index, count) in other.buckets() {
            self.add_bucket(index, count);
        }
    }

    /// The counts from the lowest to the highest bucket seen, empty ones included, and the
    /// index of the first (OpenTelemetry's exponential histogram layout: `offset` and counts).
    #[must_use]
    pub fn dense(&self) -> (i32, &[u64]) {
        (self.offset, &self.counts)
    }

    /// Observations in the zero bucket.
    #[must_use]
    pub fn zero_count(&self) -> u64 {
        self.zero
    }

    /// Every non-empty bucket as `(index, count)`, lowest first.
    pub fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        (self.offset..)
            .zip(self.counts.iter().copied())
            .filter(|&(_, count)| count > 0)
    }

    /// The non-empty buckets as Prometheus' spans and count deltas (each count minus the
    /// previous one). Gaps of up to two empty buckets stay inside a span, as client_golang does:
    /// a zero delta costs less than a new span.
    #[must_use]
    pub fn spans_and_deltas(&self) -> (Vec<Span>, Vec<i64>) {
        let mut spans: Vec<Span> = Vec::new();
        let mut deltas = Vec::new();
        let mut previous_count: i64 = 0;
        let mut next_index: Option<i32> = None; // the index after the last bucket emitted
        for (index, count) in self.buckets() {
            match next_index {
                Some(next) if index - next <= 2 => {
                    // Fill the short gap with empty buckets inside the current span.
                    for _ in next..index {
                        deltas.push(-previous_count);
                        previous_count = 0;
                    }
                    if let Some(last) = spans.last_mut() {
                        last.length += u32::try_from(index - next).unwrap_or(0) + 1;
                    }
                }
                Some(next) => spans.push(Span {
                    offset: index - next,
                    length: 1,
                }),
                None => spans.push(Span {
                    offset: index,
                    length: 1,
                }),
            }
            let count = i64::try_from(count).unwrap_or(i64::MAX);
            deltas.push(count - previous_count);
            previous_count = count;
            next_index = Some(index + 1);
        }
        (spans, deltas)
    }

    /// Bytes held.
    #[must_use]
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.counts.capacity() * std::mem::size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_the_ceiling_of_the_scaled_logarithm() {
        let by_ceil = |seconds: f64| (seconds.log2() * 64.0).ceil() as i32;
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut cases = vec![
            1e-9,
            1e-6,
            0.5,
            1.0,
            2.0,
            4_398.0,
            1e300,
            f64::MAX,
            f64::NAN,
        ];
        for k in -2_000..800 {
            // The bucket bounds, and the floats next to them.
            let bound = bucket_upper_bound(k);
            cases.extend([bound, bound.next_down(), bound.next_up()]);
        }
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(f64::from_bits(x >> 2)); // positive floats of every size
        }
        for seconds in cases {
            assert_eq!(bucket_index(seconds), by_ceil(seconds), "{seconds:e}");
        }
    }

    #[test]
    fn a_value_lands_in_the_bucket_whose_bounds_hold_it() {
        for &seconds in &[1e-6, 0.0015, 0.02, 0.5, 1.0, 3.7, 1000.0] {
            let index = bucket_index(seconds);
            assert!(bucket_upper_bound(index - 1) < seconds, "{seconds}");
            assert!(
                seconds <= bucket_upper_bound(index) * (1.0 + 1e-12),
                "{seconds}"
            );
            // 64 buckets per power of two: each bound is 2^(1/64) (~1.1%) above the last.
            let width = bucket_upper_bound(index) / bucket_upper_bound(index - 1);
            assert!((width - 2_f64.powf(1.0 / 64.0)).abs() < 1e-12);
        }
        assert_eq!(bucket_index(1.0), 0);
        assert_eq!(bucket_index(2.0), 64);
    }

    #[test]
    fn spans_and_deltas_encode_the_counts() {
        let mut h = NativeHistogram::new();
        for seconds in [1.0, 1.0, 1.005, 2.0, 0.0, -1.0] {
            h.observe(seconds);
        }
        assert_eq!(h.zero_count(), 2);
        // 1.0 is bucket 0 (twice); 1.005 is bucket 1; 2.0 is bucket 64.
        assert_eq!(
            h.buckets().collect::<Vec<_>>(),
            vec![(0, 2), (1, 1), (64, 1)]
        );
        let (spans, deltas) = h.spans_and_deltas();
        assert_eq!(
            spans,
            vec![
                Span {
                    offset: 0,
                    length: 2
                },
                Span {
                    offset: 62,
                    length: 1
                }
            ]
        );
        assert_eq!(deltas, vec![2, -1, 0]);
    }

    #[test]
    fn short_gaps_stay_inside_a_span_and_lower_values_grow_the_front() {
        let mut h = NativeHistogram::new();
        h.observe(bucket_upper_bound(10));
        h.observe(bucket_upper_bound(13));
        h.observe(bucket_upper_bound(5));
        let (spans, deltas) = h.spans_and_deltas();
        assert_eq!(
            spans,
            vec![
                Span {
                    offset: 5,
                    length: 1
                },
                Span {
                    offset: 4,
                    length: 4
                }
            ]
        );
        // Buckets 10, 11, 12, 13 hold 1, 0, 0, 1.
        assert_eq!(deltas, vec![1, 0, -1, 0, 1]);
        // Decoding the deltas gives back the counts.
        let mut running = 0;
        let decoded: Vec<i64> = deltas
            .iter()
            .map(|d| {
                running += d;
                running
            })
            .collect();
        assert_eq!(decoded, vec![1, 1, 0, 0, 1]);
    }
}
