//! Time buckets and the bounded rings that hold them.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::histogram::{index_of, ms_to_ns, CompactCounts};

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
        }
    }

    fn add(&mut self, t: f64, ms: f64, failure: Option<&FailureKey>) {
        self.total += 1;
        self.sum_ms += ms;
        self.min_ms = self.min_ms.min(ms);
        self.max_ms = self.max_ms.max(ms);
        self.counts.add(index_of(ms_to_ns(ms)), 1);
        if let Some(key) = failure {
            self.failures += 1;
            match self.codes.iter_mut().find(|(code, _)| *code == key.code) {
                Some((_, count)) => *count += 1,
                None => self.codes.push((key.code, 1)),
            }
            self.add_error(t, key);
        }
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
    }
}

/// A ring of buckets of one width covering a bounded span of time.
///
/// Only buckets that hold data exist, ordered by epoch; the ring never keeps more than `len`
/// epochs back from the newest, so an idle operation costs nothing and a busy one is bounded.
#[derive(Debug, Clone)]
pub(crate) struct Tier {
    pub width: u64,
    pub len: u64,
    pub buckets: VecDeque<Bucket>,
}

/// Converts a time in seconds to a bucket epoch of `width` seconds (negative times clamp to 0).
pub(crate) fn epoch_of(t: f64, width: u64) -> u64 {
    (t / width as f64).floor().max(0.0) as u64
}

impl Tier {
    pub fn new(width: u64, span: u64) -> Self {
        Self {
            width,
            len: span.div_ceil(width) + 1,
            buckets: VecDeque::new(),
        }
    }

    /// Adds a sample; returns false when it is older than everything the ring keeps.
    pub fn add(&mut self, t: f64, ms: f64, failure: Option<&FailureKey>) -> bool {
        let epoch = epoch_of(t, self.width);
        let newest = self.buckets.back().map(|b| b.epoch);
        match newest {
            Some(newest) if epoch == newest => {
                if let Some(bucket) = self.buckets.back_mut() {
                    bucket.add(t, ms, failure);
                }
            }
            Some(newest) if epoch < newest => {
                if epoch + self.len <= newest {
                    return false;
                }
                let position = self.buckets.partition_point(|b| b.epoch < epoch);
                match self.buckets.get_mut(position) {
                    Some(bucket) if bucket.epoch == epoch => bucket.add(t, ms, failure),
                    _ => {
                        let mut bucket = Bucket::new(epoch);
                        bucket.add(t, ms, failure);
                        self.buckets.insert(position, bucket);
                    }
                }
            }
            _ => {
                let mut bucket = Bucket::new(epoch);
                bucket.add(t, ms, failure);
                self.buckets.push_back(bucket);
                self.expire(epoch);
            }
        }
        true
    }

    /// Drops buckets that fell out of the span ending at epoch `now_epoch`.
    pub fn expire(&mut self, now_epoch: u64) {
        while let Some(front) = self.buckets.front() {
            if front.epoch + self.len <= now_epoch {
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

    pub fn add(&mut self, t: f64, rss_mb: f64, cpu_percent: f64) {
        let epoch = epoch_of(t, self.width);
        let position = self.buckets.partition_point(|b| b.epoch < epoch);
        let bucket = match self.buckets.get_mut(position) {
            Some(bucket) if bucket.epoch == epoch => bucket,
            _ => {
                let newest = self.buckets.back().map_or(epoch, |b| b.epoch.max(epoch));
                if epoch + self.len <= newest {
                    return;
                }
                self.buckets.insert(
                    position,
                    ResourceBucket {
                        epoch,
                        samples: 0,
                        rss_mb_sum: 0.0,
                        cpu_percent_sum: 0.0,
                    },
                );
                match self.buckets.get_mut(position) {
                    Some(bucket) => bucket,
                    None => return,
                }
            }
        };
        bucket.samples += 1;
        bucket.rss_mb_sum += rss_mb;
        bucket.cpu_percent_sum += cpu_percent;
        if let Some(newest) = self.buckets.back().map(|b| b.epoch) {
            while let Some(front) = self.buckets.front() {
                if front.epoch + self.len <= newest {
                    self.buckets.pop_front();
                } else {
                    break;
                }
            }
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

    #[test]
    fn tier_keeps_only_its_span() {
        let mut tier = Tier::new(10, 60);
        for t in 0..200 {
            assert!(tier.add(f64::from(t), 1.0, None));
        }
        assert_eq!(tier.buckets.len(), 7);
        assert!(!tier.add(0.0, 1.0, None));
        assert!(tier.add(185.0, 1.0, None));
    }

    #[test]
    fn late_samples_land_in_their_own_bucket() {
        let mut tier = Tier::new(10, 60);
        assert!(tier.add(50.0, 1.0, None));
        assert!(tier.add(15.0, 2.0, None));
        assert!(tier.add(35.0, 3.0, None));
        assert!(tier.add(16.0, 2.0, None));
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
            tier.add(1.0, 1.0, Some(&heavy));
            let noise = FailureKey {
                code: 1,
                message: Arc::from(format!("noise {i}").as_str()),
            };
            tier.add(1.0, 1.0, Some(&noise));
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
        tier.add(100.0, 1.0, 1.0);
        tier.add(3.0, 1.0, 1.0);
        assert_eq!(tier.buckets.len(), 1);
        assert_eq!(tier.average(5.0, 5), None);
    }
}
