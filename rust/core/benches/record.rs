//! Recording cost of the two designs the issue names, at 1, 2 and 4 threads:
//!
//! - `atomic_bucket`: atomics straight into the current bucket (a full-width array of atomic
//!   counters plus atomic totals), the cheapest possible write path;
//! - `array_queue`: the same bucket without atomics behind a lock, fed through a crossbeam
//!   `ArrayQueue` that the recorder finding a batch drains (`try_lock`);
//! - `registry_record`: the shipped design end to end (queue, then the three time rings,
//!   lifetime totals and error bookkeeping).
//!
//! `summary_*` measure the queries over a full hour and a full week of traffic.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::LazyLock;

use crossbeam_queue::ArrayQueue;
use parking_lot::Mutex;
use rfs_monitoring_core::histogram::{index_of, ms_to_ns, BUCKET_COUNT};
use rfs_monitoring_core::{Config, OpId, Outcome, Registry};

fn main() {
    divan::main();
}

/// The "atomics into the current bucket" design: every field is an atomic.
struct AtomicBucket {
    total: AtomicU64,
    failures: AtomicU64,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
    counts: Box<[AtomicU32]>,
}

impl AtomicBucket {
    fn new() -> Self {
        Self {
            total: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
            counts: (0..BUCKET_COUNT).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn record(&self, ms: f64, ok: bool) {
        let ns = ms_to_ns(ms);
        self.total.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
        if let Some(slot) = self.counts.get(index_of(ns)) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The same bucket without atomics, fed through a lock-free queue.
struct QueuedBucket {
    queue: ArrayQueue<(f64, bool)>,
    bucket: Mutex<PlainBucket>,
}

struct PlainBucket {
    total: u64,
    failures: u64,
    sum_ns: u64,
    max_ns: u64,
    counts: Vec<u32>,
}

impl QueuedBucket {
    fn new() -> Self {
        Self {
            queue: ArrayQueue::new(65_536),
            bucket: Mutex::new(PlainBucket {
                total: 0,
                failures: 0,
                sum_ns: 0,
                max_ns: 0,
                counts: vec![0; BUCKET_COUNT],
            }),
        }
    }

    fn record(&self, ms: f64, ok: bool) {
        let mut item = (ms, ok);
        while let Err(rejected) = self.queue.push(item) {
            item = rejected;
            self.drain(&mut self.bucket.lock());
        }
        if self.queue.len() >= 64 {
            if let Some(mut bucket) = self.bucket.try_lock() {
                self.drain(&mut bucket);
            }
        }
    }

    fn drain(&self, bucket: &mut PlainBucket) {
        while let Some((ms, ok)) = self.queue.pop() {
            let ns = ms_to_ns(ms);
            bucket.total += 1;
            bucket.failures += u64::from(!ok);
            bucket.sum_ns += ns;
            bucket.max_ns = bucket.max_ns.max(ns);
            if let Some(slot) = bucket.counts.get_mut(index_of(ns)) {
                *slot += 1;
            }
        }
    }
}

static QUEUED: LazyLock<QueuedBucket> = LazyLock::new(QueuedBucket::new);

static ATOMIC: LazyLock<AtomicBucket> = LazyLock::new(AtomicBucket::new);

static SHARED: LazyLock<Option<(Registry, OpId)>> = LazyLock::new(|| {
    let registry = Registry::new(Config::default()).ok()?;
    let op = registry.register("bench").ok()?.id;
    Some((registry, op))
});

fn latency(i: u64) -> f64 {
    // A spread of latencies between 0.5 and ~65 ms so samples hit many buckets.
    0.5 + ((i.wrapping_mul(2_654_435_761) >> 7) % 65_536) as f64 / 1_000.0
}

#[divan::bench(threads = [1, 2, 4], sample_count = 200, sample_size = 2000)]
fn atomic_bucket(bencher: divan::Bencher<'_, '_>) {
    let mut i = 0u64;
    bencher.bench_local(|| {
        i += 1;
        ATOMIC.record(divan::black_box(latency(i)), !i.is_multiple_of(16));
    });
}

#[divan::bench(threads = [1, 2, 4], sample_count = 200, sample_size = 2000)]
fn array_queue(bencher: divan::Bencher<'_, '_>) {
    let mut i = 0u64;
    bencher.bench_local(|| {
        i += 1;
        QUEUED.record(divan::black_box(latency(i)), !i.is_multiple_of(16));
    });
}

#[divan::bench(threads = [1, 2, 4], sample_count = 200, sample_size = 2000)]
fn registry_record(bencher: divan::Bencher<'_, '_>) {
    let Some((registry, op)) = SHARED.as_ref() else {
        return;
    };
    let op = *op;
    let mut i = 0u64;
    bencher.bench_local(|| {
        i += 1;
        let _ = registry.record(
            op,
            1_000.0 + (i / 1_000) as f64,
            divan::black_box(latency(i)),
            Outcome::Success,
        );
    });
}

fn filled(seconds: u64, step: f64) -> Option<Registry> {
    let registry = Registry::new(Config::default()).ok()?;
    let op = registry.register("op").ok()?.id;
    let mut t = 0.0;
    let mut i = 0u64;
    while t < seconds as f64 {
        let outcome = if i.is_multiple_of(50) {
            Outcome::Failure {
                code: Some("TIMEOUT".into()),
                message: Some(format!("upstream {} timed out", i % 5)),
            }
        } else {
            Outcome::Success
        };
        registry.record(op, t, latency(i), outcome).ok()?;
        t += step;
        i += 1;
    }
    Some(registry)
}

#[divan::bench]
fn summary_1h_of_1h(bencher: divan::Bencher<'_, '_>) {
    let Some(registry) = filled(3_600, 0.05) else {
        return;
    };
    bencher.bench_local(|| registry.summary("op", 3_600.0, 3_600, 10));
}

#[divan::bench]
fn summary_1w_of_1w(bencher: divan::Bencher<'_, '_>) {
    let Some(registry) = filled(7 * 86_400, 5.0) else {
        return;
    };
    bencher.bench_local(|| registry.summary("op", 7.0 * 86_400.0, 7 * 86_400, 10));
}
