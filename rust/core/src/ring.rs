//! Time buckets and the bounded rings that hold them.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::histogram::CompactCounts;
#[cfg(test)]
use crate::histogram::{index_of, ms_to_ns};

/// How many distinct (code, message) pairs one time bucket tracks for its top errors.
pub(crate) const ERRORS_PER_BUCKET: usize = 8;

/// One tracked error message of a bucket (space-saving counter).
#[derive(Debug, Clone)]
pub(crate) struct ErrorEntry {
    pub code: u32,
    pub message: Arc<str>,
    pub count: u64,
    pub first_seen: f64,
    pub last_seen: f64,
}

/// Everything recorded for one operation during one time bucket.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub epoch: u64,
    pub total: u64,
    pub failures: u64,
    pub sum_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub counts: CompactCounts,
    /// Exact failure counts by interned error code.
    pub codes: Vec<(u32, u64)>,
    /// A space-saving top-k of failure messages.
    pub errors: Vec<ErrorEntry>,
    /// This bucket as a shared registry last wrote it to its segment (dropped by any change),
    /// so a write re-encodes only the buckets that changed since the last one.
    pub encoded: Option<Box<[u8]>>,
}

/// A failure's code and message, interned.
#[derive(Debug, Clone)]
pub(crate) struct FailureKey {
    pub code: u32,
    pub message: Arc<str>,
}

impl Bucket {
    fn new(epoch: u64) -> Self {
        Self {
            epoch,
            total: 0,
            failures: 0,
            sum_ms: 0.0,
            min_ms: f64::INFINITY,
            max_ms: 0.0,
            counts: CompactCounts::default(),
            codes: Vec::new(),
            errors: Vec::new(),
            encoded: None,
        }
    }

    /// Adds a sample of `ms` milliseconds whose latency bucket is `index` (the caller computes
    /// it once for every tier).
    #[inline]
    fn add(&mut self, t: f64, ms: f64, index: usize, failure: Option<&FailureKey>) {
        self.encoded = None;
        self.total += 1;
        self.sum_ms += ms;
        // `ms` is a number (never NaN): a comparison keeps the extremes as `min`/`max` do.
        if ms < self.min_ms {
            self.min_ms = ms;
        }
        if ms > self.max_ms {
            self.max_ms = ms;
        }
        self.counts.add(index, 1);
        if let Some(key) = failure {
            self.add_failure(t, key);
        }
    }

    /// The failure's share of [`Bucket::add`] (kept out of the success path).
    #[cold]
    #[inline(never)]
    fn add_failure(&mut self, t: f64, key: &FailureKey) {
        self.failures += 1;
        match self.codes.iter_mut().find(|(code, _)| *code == key.code) {
            Some((_, count)) => *count += 1,
            None => self.codes.push((key.code, 1)),
        }
        self.add_error(t, key);
    }

    /// Space-saving: a new message replaces the least counted one and inherits its count, so
    /// counts of the heavy hitters are never underestimated and memory stays bounded.
    fn add_error(&mut self, t: f64, key: &FailureKey) {
        if let Some(entry) = self
            .errors
            .iter_mut()
            .find(|e| e.code == key.code && e.message == key.message)
        {
            entry.count += 1;
            entry.first_seen = entry.first_seen.min(t);
            entry.last_seen = entry.last_seen.max(t);
            return;
        }
        let fresh = ErrorEntry {
            code: key.code,
            message: Arc::clone(&key.message),
            count: 1,
            first_seen: t,
            last_seen: t,
        };
        if self.errors.len() < ERRORS_PER_BUCKET {
            self.errors.push(fresh);
        } else if let Some(weakest) = self.errors.iter_mut().min_by_key(|e| e.count) {
            let inherited = weakest.count;
            *weakest = ErrorEntry {
                count: inherited + 1,
                ..fresh
            };
        }
    }

    /// Heap and inline bytes of this bucket.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.counts.heap_bytes()
            + self.codes.capacity() * std::mem::size_of::<(u32, u64)>()
            + self.errors.capacity() * std::mem::size_of::<ErrorEntry>()
            + self.encoded.as_ref().map_or(0, |e| e.len())
    }
}

/// A ring of buckets of one width covering a bounded span of time.
///
/// Only buckets that hold data exist, ordered by epoch. Samples are placed at the clock's time,
/// whatever the buckets already held: a clock stepped backwards puts its samples before buckets
/// it recorded earlier, and a clock stepped forwards leaves the earlier buckets in place, so a
/// window ending at the clock's now always holds what was recorded at that time. The number
/// of buckets is bounded by [`Tier::capacity`]: beyond it, a bucket older than the span is
/// dropped first, else the earliest bucket ahead of the clock (see [`trim`]).
#[derive(Debug, Clone)]
pub(crate) struct Tier {
    pub width: u64,
    pub len: u64,
    pub buckets: VecDeque<Bucket>,
}

/// Converts a time in seconds to a bucket epoch of `width` seconds (negative times clamp to 0).
///
/// `floor(t / width)` without the rounding function (a library call on the baseline x86-64
/// target): `as` truncates, which is the floor for the non-negative quotients, and saturates
/// the negative ones (and NaN) to 0, the clamp.
pub(crate) fn epoch_of(t: f64, width: u64) -> u64 {
    (t / width as f64) as u64
}

/// The span `[from, until)` of times whose epoch of `width` is `epoch` (all of it, or a part
/// that holds `epoch * width`), `None` when it cannot be established.
///
/// [`epoch_of`] is monotonic in the time (a correctly rounded quotient, truncated), so two
/// times of an epoch bound a span of times that all have it. `epoch * width` is the first time
/// of the epoch (an exact product and an exact quotient); the last is within a few floats below
/// `(epoch + 1) * width` (the quotient is off by at most half a unit in the last place).
fn epoch_span(epoch: u64, width: u64) -> Option<(f64, f64)> {
    #[allow(clippy::cast_precision_loss)]
    let (from, mut until) = (
        epoch as f64 * width as f64,
        epoch.checked_add(1)? as f64 * width as f64,
    );
    let mut steps = 0;
    while epoch_of(until.next_down(), width) != epoch {
        until = until.next_down();
        steps += 1;
        if steps > 8 {
            return None;
        }
    }
    (from < until && epoch_of(from, width) == epoch).then_some((from, until))
}

/// How many ring widths an [`EpochCache`] holds (the three tiers and a shared registry's
/// archive).
const CACHED_WIDTHS: usize = 4;

/// The bucket epochs of the latest sample's time in each ring width, with the span of times
/// that share them: consecutive samples (the clock moves little between them) skip the
/// division and the conversions of [`epoch_of`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct EpochCache {
    /// Times in `from..until` have `epochs` (empty until filled).
    from: f64,
    until: f64,
    /// The ring widths, in the order of the rings the cache was filled for (0: none).
    widths: [u64; CACHED_WIDTHS],
    epochs: [u64; CACHED_WIDTHS],
}

impl Default for EpochCache {
    fn default() -> Self {
        Self {
            from: f64::INFINITY,
            until: f64::NEG_INFINITY,
            widths: [0; CACHED_WIDTHS],
            epochs: [0; CACHED_WIDTHS],
        }
    }
}

impl EpochCache {
    /// Makes the cache hold the epochs of `t` in `widths` (the widths of a ring list, in
    /// order), unless it holds them already.
    #[inline]
    pub fn fill(&mut self, t: f64, widths: impl Iterator<Item = u64>) {
        if t >= self.from && t < self.until {
            return;
        }
        *self = Self::default();
        let (mut from, mut until) = (f64::NEG_INFINITY, f64::INFINITY);
        let mut filled = Self::default();
        for (slot, width) in widths.take(CACHED_WIDTHS).enumerate() {
            let epoch = epoch_of(t, width);
            let Some((low, high)) = epoch_span(epoch, width) else {
                return;
            };
            from = from.max(low);
            until = until.min(high);
            if let (Some(w), Some(e)) = (filled.widths.get_mut(slot), filled.epochs.get_mut(slot)) {
                (*w, *e) = (width, epoch);
            }
        }
        if from <= t && t < until {
            (filled.from, filled.until) = (from, until);
            *self = filled;
        }
    }

    /// The epoch of `t` in the ring of `width` at position `slot` of the list: the cached one
    /// when `t` and `width` are the cache's, else [`epoch_of`]'s.
    #[inline]
    pub fn epoch(&self, slot: usize, t: f64, width: u64) -> u64 {
        if t >= self.from && t < self.until && self.widths.get(slot) == Some(&width) {
            if let Some(&epoch) = self.epochs.get(slot) {
                return epoch;
            }
        }
        epoch_of(t, width)
    }
}

/// Clock steps this long (in seconds) either way lose no bucket to age alone.
pub(crate) const STEP_TOLERANCE_SECONDS: u64 = 86_400;

/// The most buckets a ring of `len` epochs holds: its span plus an eighth, the room that keeps
/// the buckets a clock step leaves behind (or ahead) until the clock comes back.
pub(crate) fn capacity(len: u64) -> usize {
    (len + len / 8 + 1) as usize
}

/// Bounds `buckets` (sorted by epoch) after an insertion at epoch `now`: drops buckets older
/// than the span by more than the step tolerance, then, while more than [`capacity`] remain,
/// the oldest bucket older than the span, else the earliest bucket ahead of `now` (the one
/// least likely to be in a window again if the clock comes back to where it was).
pub(crate) fn trim<T>(
    buckets: &mut VecDeque<T>,
    epoch: impl Fn(&T) -> u64,
    now: u64,
    len: u64,
    width: u64,
) {
    let tolerance = STEP_TOLERANCE_SECONDS.div_ceil(width) + 1;
    while buckets
        .front()
        .is_some_and(|b| epoch(b) + len + tolerance <= now)
    {
        buckets.pop_front();
    }
    let cap = capacity(len);
    while buckets.len() > cap {
        if buckets.front().is_some_and(|b| epoch(b) + len <= now) {
            buckets.pop_front();
            continue;
        }
        let ahead = buckets.partition_point(|b| epoch(b) <= now);
        if ahead < buckets.len() {
            buckets.remove(ahead);
        } else {
            buckets.pop_front();
        }
    }
}

impl Tier {
    pub fn new(width: u64, span: u64) -> Self {
        Self {
            width,
            len: span.div_ceil(width) + 1,
            buckets: VecDeque::new(),
        }
    }

    /// Adds a sample of `ms` milliseconds taken at `t` (the clock's time when it was recorded)
    /// whose latency bucket is `index` (`index_of(ms_to_ns(ms))`); always kept.
    #[cfg(test)]
    pub fn add(&mut self, t: f64, ms: f64, index: usize, failure: Option<&FailureKey>) -> bool {
        self.add_at(epoch_of(t, self.width), t, ms, index, failure)
    }

    /// [`Tier::add`] with the epoch of `t` known (`epoch_of(t, self.width)`).
    #[inline]
    pub fn add_at(
        &mut self,
        epoch: u64,
        t: f64,
        ms: f64,
        index: usize,
        failure: Option<&FailureKey>,
    ) -> bool {
        if let Some(bucket) = self.buckets.back_mut().filter(|b| b.epoch == epoch) {
            bucket.add(t, ms, index, failure);
            return true;
        }
        let position = self.buckets.partition_point(|b| b.epoch < epoch);
        match self.buckets.get_mut(position) {
            Some(bucket) if bucket.epoch == epoch => bucket.add(t, ms, index, failure),
            _ => {
                let mut bucket = Bucket::new(epoch);
                bucket.add(t, ms, index, failure);
                self.buckets.insert(position, bucket);
                trim(&mut self.buckets, |b| b.epoch, epoch, self.len, self.width);
            }
        }
        true
    }

    /// [`Tier::add`] computing the latency bucket itself.
    #[cfg(test)]
    pub fn add_sample(&mut self, t: f64, ms: f64, failure: Option<&FailureKey>) -> bool {
        self.add(t, ms, index_of(ms_to_ns(ms)), failure)
    }

    /// Drops buckets older than the span ending at epoch `now_epoch` by more than the step
    /// tolerance (queries call it, so an idle operation's buckets go away; a clock stepped
    /// forwards by up to the tolerance and back again finds its buckets).
    pub fn expire(&mut self, now_epoch: u64) {
        let tolerance = STEP_TOLERANCE_SECONDS.div_ceil(self.width) + 1;
        while let Some(front) = self.buckets.front() {
            if front.epoch + self.len + tolerance <= now_epoch {
                self.buckets.pop_front();
            } else {
                break;
            }
        }
    }

    /// The buckets whose time range intersects `(now - window, now]`.
    pub fn window(&self, now: f64, window: u64) -> impl Iterator<Item = &Bucket> {
        let (first, last) = self.window_epochs(now, window);
        let start = self.buckets.partition_point(|b| b.epoch < first);
        self.buckets
            .range(start..)
            .take_while(move |b| b.epoch <= last)
    }

    /// The first and last epochs of the window `(now - window, now]`.
    pub fn window_epochs(&self, now: f64, window: u64) -> (u64, u64) {
        (
            epoch_of(now - window as f64, self.width),
            epoch_of(now, self.width),
        )
    }

    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.buckets.iter().map(Bucket::bytes).sum::<usize>()
            + (self.buckets.capacity() - self.buckets.len()) * std::mem::size_of::<Bucket>()
    }
}

/// Process resource samples of one bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResourceBucket {
    pub epoch: u64,
    pub samples: u64,
    pub rss_mb_sum: f64,
    pub cpu_percent_sum: f64,
}

/// A ring of resource buckets (same shape as [`Tier`]).
#[derive(Debug, Clone)]
pub(crate) struct ResourceTier {
    pub width: u64,
    pub len: u64,
    pub buckets: VecDeque<ResourceBucket>,
}

impl ResourceTier {
    pub fn new(width: u64, span: u64) -> Self {
        Self {
            width,
            len: span.div_ceil(width) + 1,
            buckets: VecDeque::new(),
        }
    }

    /// Adds a resource sample at `t`, placed like [`Tier::add`] places samples.
    pub fn add(&mut self, t: f64, rss_mb: f64, cpu_percent: f64) {
        let epoch = epoch_of(t, self.width);
        let position = self.buckets.partition_point(|b| b.epoch < epoch);
        let fresh = !matches!(self.buckets.get(position), Some(b) if b.epoch == epoch);
        if fresh {
            self.buckets.insert(
                position,
                ResourceBucket {
                    epoch,
                    samples: 0,
                    rss_mb_sum: 0.0,
                    cpu_percent_sum: 0.0,
                },
            );
        }
        if let Some(bucket) = self.buckets.get_mut(position) {
            bucket.samples += 1;
            bucket.rss_mb_sum += rss_mb;
            bucket.cpu_percent_sum += cpu_percent;
        }
        if fresh {
            trim(&mut self.buckets, |b| b.epoch, epoch, self.len, self.width);
        }
    }

    /// Averages (rss MB, cpu %) over the buckets intersecting `(now - window, now]`.
    pub fn average(&self, now: f64, window: u64) -> Option<(f64, f64)> {
        let first = epoch_of(now - window as f64, self.width);
        let last = epoch_of(now, self.width);
        let (mut n, mut rss, mut cpu) = (0u64, 0.0, 0.0);
        for bucket in self
            .buckets
            .iter()
            .filter(|b| b.epoch >= first && b.epoch <= last)
        {
            n += bucket.samples;
            rss += bucket.rss_mb_sum;
            cpu += bucket.cpu_percent_sum;
        }
        (n > 0).then(|| (rss / n as f64, cpu / n as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A bucket of the plain model: count, sum, min, max and latency counts.
    type ModelBucket = (u64, f64, f64, f64, BTreeMap<usize, u32>);

    const WIDTHS: [u64; 4] = [10, 900, 3_600, 86_400];

    /// Looks every time of `times` up through one cache, as `apply` does, against `epoch_of`.
    fn check_cache(times: &[f64], widths: &[u64]) -> Result<(), TestCaseError> {
        let mut cache = EpochCache::default();
        for &t in times {
            cache.fill(t, widths.iter().copied());
            for (slot, &width) in widths.iter().enumerate() {
                prop_assert_eq!(cache.epoch(slot, t, width), epoch_of(t, width), "t {}", t);
                // A width the cache was not filled for at that place is computed.
                prop_assert_eq!(cache.epoch(slot, t, width + 1), epoch_of(t, width + 1));
            }
        }
        Ok(())
    }

    #[test]
    fn the_epoch_cache_covers_whole_buckets_and_agrees_at_their_edges() -> Result<(), TestCaseError>
    {
        let t0 = 1_767_323_045.0;
        let mut cache = EpochCache::default();
        cache.fill(t0, WIDTHS.iter().copied());
        // The 10-second bucket of t0, all of it: the first float of the next one is outside.
        assert_eq!(
            (cache.from, cache.until),
            (1_767_323_040.0, 1_767_323_050.0)
        );
        let mut times = vec![0.0, -0.0, 5.0, 9.999_999_999, 10.0, MAX_TIME_FOR_TESTS];
        for edge in [
            1_767_323_040.0f64,
            1_767_323_050.0,
            1_767_322_800.0,
            1_767_312_000.0,
        ] {
            let mut below = edge;
            let mut above = edge;
            for _ in 0..6 {
                times.extend([below, above]);
                below = below.next_down();
                above = above.next_up();
            }
        }
        times.sort_by(f64::total_cmp);
        check_cache(&times, &WIDTHS)?;
        times.reverse();
        check_cache(&times, &WIDTHS)?;
        check_cache(
            &[f64::NAN, 3.0, f64::NAN, -5.0, f64::INFINITY, 3.0],
            &WIDTHS,
        )
    }

    /// The latest time a sample may carry (the registry's `MAX_TIME`).
    const MAX_TIME_FOR_TESTS: f64 = 253_402_300_799.0;

    proptest! {
        #[test]
        fn the_epoch_cache_gives_the_epoch_of_every_time(
            start in prop_oneof![0.0..2.6e11f64, 1.7e9..1.8e9f64],
            steps in prop::collection::vec(
                prop_oneof![0.0..0.01f64, 0.0..20.0f64, -5_000.0..5_000.0f64, Just(0.0)],
                1..200,
            ),
            widths in prop_oneof![
                Just(WIDTHS.to_vec()),
                Just(vec![10u64, 900]),
                prop::collection::vec(1..100_000u64, 0..6),
            ],
        ) {
            let times: Vec<f64> = steps
                .iter()
                .scan(start, |t, step| {
                    *t += step;
                    Some(*t)
                })
                .collect();
            check_cache(&times, &widths)?;
        }

        #[test]
        fn epoch_of_is_the_clamped_floor_of_the_quotient(
            t in prop_oneof![any::<f64>(), 0.0..2.6e11f64, -1e6..1e6f64],
            width in prop_oneof![Just(10u64), Just(900), Just(3_600), Just(86_400), 1..100_000u64],
        ) {
            prop_assert_eq!(epoch_of(t, width), (t / width as f64).floor().max(0.0) as u64);
        }

        /// Every bucket of a tier holds what adding its samples one by one, the plain way (the
        /// floor of the quotient for the epoch, the rounded nanoseconds for the latency bucket),
        /// gives: the same epochs, counts, sums (same order of additions), extremes and latency
        /// counts.
        #[test]
        fn a_tier_matches_a_plain_model_of_its_buckets(
            samples in prop::collection::vec((0.0..400.0f64, 0.0..5_000.0f64), 1..300),
        ) {
            let mut tier = Tier::new(10, 3_600);
            let mut model: BTreeMap<u64, ModelBucket> = BTreeMap::new();
            for &(t, ms) in &samples {
                let ms = if ms > 4_000.0 { (ms - 4_000.0) * 1e-4 } else { ms }; // some tiny ones
                prop_assert!(tier.add(t, ms, index_of(ms_to_ns(ms)), None));
                let epoch = (t / 10.0).floor().max(0.0) as u64;
                let index = index_of((ms * 1_000_000.0).round() as u64);
                let bucket = model
                    .entry(epoch)
                    .or_insert((0, 0.0, f64::INFINITY, 0.0, BTreeMap::new()));
                bucket.0 += 1;
                bucket.1 += ms;
                bucket.2 = bucket.2.min(ms);
                bucket.3 = bucket.3.max(ms);
                *bucket.4.entry(index).or_default() += 1;
            }
            prop_assert_eq!(tier.buckets.len(), model.len());
            for (bucket, (&epoch, expected)) in tier.buckets.iter().zip(&model) {
                prop_assert_eq!(bucket.epoch, epoch);
                prop_assert_eq!(bucket.total, expected.0);
                prop_assert_eq!(bucket.sum_ms.to_bits(), expected.1.to_bits());
                prop_assert_eq!((bucket.min_ms, bucket.max_ms), (expected.2, expected.3));
                let counts: Vec<(usize, u32)> = expected.4.iter().map(|(&i, &n)| (i, n)).collect();
                prop_assert_eq!(bucket.counts.entries(), counts);
            }
        }
    }

    #[test]
    fn tier_is_bounded_and_places_every_sample_at_its_time() {
        let mut tier = Tier::new(10, 60);
        for t in 0..200 {
            assert!(tier.add_sample(f64::from(t), 1.0, None));
        }
        assert_eq!(tier.buckets.len(), capacity(7));
        // A clock stepped back: the sample is kept where the clock put it.
        assert!(tier.add_sample(0.0, 1.0, None));
        assert_eq!(tier.window(5.0, 10).map(|b| b.total).sum::<u64>(), 1);
        assert_eq!(tier.buckets.len(), capacity(7));
        assert!(tier.add_sample(185.0, 1.0, None));
    }

    fn total(tier: &Tier, now: f64, window: u64) -> u64 {
        tier.window(now, window).map(|b| b.total).sum()
    }

    /// The same samples added in time order: what a clock that never stepped would give.
    fn in_order(samples: &[f64]) -> Tier {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mut tier = Tier::new(10, 3_600);
        for t in sorted {
            tier.add_sample(t, 1.0, None);
        }
        tier
    }

    fn busy_hour_samples(end: f64) -> Vec<f64> {
        (0..3_600).map(|i| end - 3_599.0 + f64::from(i)).collect()
    }

    /// Every sample whose 10 s bucket intersects `(now - window, now]`, counted from the list.
    fn expected(samples: &[f64], now: f64, window: u64) -> u64 {
        let (first, last) = (epoch_of(now - window as f64, 10), epoch_of(now, 10));
        samples
            .iter()
            .filter(|&&t| (first..=last).contains(&epoch_of(t, 10)))
            .count() as u64
    }

    fn check_windows(stepped: &Tier, samples: &[f64], nows: &[f64], label: &str) {
        for &now in nows {
            for window in [300, 3_600] {
                assert_eq!(
                    total(stepped, now, window),
                    expected(samples, now, window),
                    "{label}: now {now}, window {window}"
                );
            }
        }
    }

    #[test]
    fn a_clock_stepped_back_up_to_a_day_loses_nothing() {
        let t0 = 1_700_000_000.0;
        for step in [7_200.0, 3_600.0, 86_400.0] {
            let mut samples = busy_hour_samples(t0);
            let mut tier = in_order(&samples);
            let now = t0 - step;
            for _ in 0..100 {
                tier.add_sample(now, 1.0, None);
                samples.push(now);
            }
            assert!(total(&tier, now, 300) >= 100);
            // At the stepped time, and once the clock is corrected.
            check_windows(&tier, &samples, &[now, now + 60.0, t0, t0 + 60.0], "back");
        }
    }

    #[test]
    fn a_clock_stepped_forward_and_corrected_loses_nothing() {
        let t0 = 1_700_000_000.0;
        for step in [7_200.0, 600.0, 86_400.0] {
            let mut samples = busy_hour_samples(t0);
            let mut tier = in_order(&samples);
            for _ in 0..100 {
                tier.add_sample(t0 + step, 1.0, None);
                samples.push(t0 + step);
            }
            assert_eq!(total(&tier, t0 + step, 300), 100);
            let mut queried = tier.clone();
            queried.expire(epoch_of(t0 + step, 10)); // a query while the clock is ahead
            for _ in 0..100 {
                tier.add_sample(t0 + 1.0, 1.0, None);
                queried.add_sample(t0 + 1.0, 1.0, None);
                samples.push(t0 + 1.0);
            }
            let nows = [t0 + 1.0, t0 + 300.0, t0 + step];
            check_windows(&tier, &samples, &nows, "forward");
            check_windows(&queried, &samples, &nows, "forward, queried meanwhile");
        }
    }

    #[test]
    fn steps_back_and_forth_never_grow_a_tier_past_its_capacity() {
        let mut tier = Tier::new(10, 3_600);
        let mut t = 1_700_000_000.0;
        for i in 0..20_000u32 {
            t += match i % 997 {
                0 => -7_200.0,
                500 => 90_000.0,
                _ => 3.0,
            };
            tier.add_sample(t, 1.0, None);
            assert!(tier.buckets.len() <= capacity(tier.len));
        }
        let epochs: Vec<u64> = tier.buckets.iter().map(|b| b.epoch).collect();
        assert!(epochs.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn late_samples_land_in_their_own_bucket() {
        let mut tier = Tier::new(10, 60);
        assert!(tier.add_sample(50.0, 1.0, None));
        assert!(tier.add_sample(15.0, 2.0, None));
        assert!(tier.add_sample(35.0, 3.0, None));
        assert!(tier.add_sample(16.0, 2.0, None));
        let epochs: Vec<u64> = tier.buckets.iter().map(|b| b.epoch).collect();
        assert_eq!(epochs, vec![1, 3, 5]);
        assert_eq!(tier.window(50.0, 40).map(|b| b.total).sum::<u64>(), 4);
        assert_eq!(tier.window(50.0, 10).map(|b| b.total).sum::<u64>(), 1);
    }

    #[test]
    fn space_saving_keeps_heavy_hitters() {
        let mut tier = Tier::new(10, 10);
        let heavy = FailureKey {
            code: 0,
            message: Arc::from("heavy"),
        };
        for i in 0..100 {
            tier.add_sample(1.0, 1.0, Some(&heavy));
            let noise = FailureKey {
                code: 1,
                message: Arc::from(format!("noise {i}").as_str()),
            };
            tier.add_sample(1.0, 1.0, Some(&noise));
        }
        let bucket = &tier.buckets[0];
        assert_eq!(bucket.errors.len(), ERRORS_PER_BUCKET);
        let top = bucket.errors.iter().max_by_key(|e| e.count);
        assert_eq!(top.map(|e| (&*e.message, e.count)), Some(("heavy", 100)));
        assert_eq!(bucket.codes, vec![(0, 100), (1, 100)]);
    }

    #[test]
    fn resource_tier_averages_the_window() {
        let mut tier = ResourceTier::new(10, 30);
        tier.add(1.0, 100.0, 10.0);
        tier.add(2.0, 200.0, 30.0);
        tier.add(25.0, 300.0, 50.0);
        assert_eq!(tier.average(25.0, 5), Some((300.0, 50.0)));
        assert_eq!(tier.average(25.0, 30), Some((200.0, 30.0)));
        // A clock stepped forwards, then back: the earlier buckets are still there.
        tier.add(100.0, 1.0, 1.0);
        tier.add(3.0, 1.0, 1.0);
        assert_eq!(tier.buckets.len(), 3);
        assert_eq!(tier.average(5.0, 5), Some((301.0 / 3.0, 41.0 / 3.0)));
        for t in 0..100 {
            tier.add(f64::from(t) * 100.0, 1.0, 1.0);
        }
        assert!(tier.buckets.len() <= capacity(tier.len));
    }
}
