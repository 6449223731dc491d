//! The registry of operations: recording, retention and window queries.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use parking_lot::{Mutex, MutexGuard};

use crate::headline::{Latencies, QUANTILES};
use crate::histogram::{index_of, ms_to_ns, quantiles_ms, BUCKET_COUNT, TRACKABLE_NS};
use crate::native::NativeHistogram;
use crate::ring::{epoch_of, Bucket, EpochCache, FailureKey, ResourceTier, Tier};

/// The name samples go to once `max_operations` names exist, and the error code used once an
/// operation has `max_error_codes` codes.
pub const OTHER: &str = "_other";
/// The error code of a failure recorded without one.
pub const UNKNOWN_CODE: &str = "UNKNOWN";
/// Error messages longer than this many bytes are cut (at a character boundary).
pub const MAX_MESSAGE_BYTES: usize = 512;
/// Upper bounds, in seconds, of the lifetime histogram (Prometheus' default buckets); a last,
/// implicit `+Inf` bucket follows.
pub const CUMULATIVE_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// The longest retention accepted (90 days).
pub const MAX_RETENTION_SECONDS: u64 = 90 * 86_400;
/// The latest sample time accepted: 9999-12-31T23:59:59Z, the last second a calendar date (and
/// Python's `datetime`) can show. Times run from 0 (the Unix epoch) up to this.
pub const MAX_TIME: f64 = 253_402_300_799.0;

/// Whether `t` is a time the registry can place: finite, from 0 up to [`MAX_TIME`].
#[must_use]
pub fn valid_time(t: f64) -> bool {
    t.is_finite() && (0.0..=MAX_TIME).contains(&t)
}

/// Recorders push samples here and whoever holds the state lock drains them in batches.
const DRAIN_AT: usize = 64;

/// The time tiers: (bucket width, span) in seconds, each span capped by the retention.
const TIERS: [(u64, u64); 3] = [(10, 3_600), (900, 86_400), (3_600, u64::MAX)];

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// Retention must be between 1 second and [`MAX_RETENTION_SECONDS`].
    Retention(u64),
    /// `max_operations` and `max_error_codes` must be at least 1.
    Limit(&'static str),
    /// The queue capacity must be at least 1.
    QueueCapacity,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retention(s) => write!(
                f,
                "retention must be 1..={MAX_RETENTION_SECONDS} seconds, got {s}"
            ),
            Self::Limit(name) => write!(f, "{name} must be at least 1"),
            Self::QueueCapacity => f.write_str("queue capacity must be at least 1"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why a sample or a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// A duration that is negative, NaN or infinite.
    InvalidDuration,
    /// A timestamp that is NaN, infinite, negative or past [`MAX_TIME`].
    InvalidTime,
    /// An empty operation name.
    EmptyName,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidDuration => "duration_ms must be a finite number >= 0",
            Self::InvalidTime => {
                "the sample time must be a number of seconds from 0 to 253402300799 (year 9999)"
            }
            Self::EmptyName => "the operation name must not be empty",
        })
    }
}

impl std::error::Error for RecordError {}

/// Settings of a [`Registry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How long samples stay queryable, in seconds.
    pub retention_seconds: u64,
    /// Distinct operation names before new ones are folded into [`OTHER`].
    pub max_operations: usize,
    /// Distinct error codes per operation before new ones are folded into [`OTHER`].
    pub max_error_codes: usize,
    /// Capacity of the lock-free queue between recorders and the storage.
    pub queue_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            retention_seconds: 7 * 86_400,
            max_operations: 1000,
            max_error_codes: 100,
            queue_capacity: 8_192,
        }
    }
}

/// A registered operation, returned by [`Registry::register`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpId(u32);

/// What [`Registry::register`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The handle to record with.
    pub id: OpId,
    /// The name samples are stored under: the requested one, or [`OTHER`].
    pub name: String,
    /// True when the name was folded into [`OTHER`] by the cardinality guard.
    pub folded: bool,
}

/// The outcome of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed, optionally with an error code and message.
    Failure {
        /// The error code, [`UNKNOWN_CODE`] when absent.
        code: Option<String>,
        /// The error message, unmasked; callers mask it when it leaves the process.
        message: Option<String>,
    },
}

#[derive(Debug)]
struct Sample {
    op: u32,
    t: f64,
    ms: f64,
    failure: Option<Box<(Option<String>, Option<String>)>>,
}

/// A sample the full recording queue refused, to store with [`Registry::store_overflow`].
#[derive(Debug)]
pub struct Overflow(Sample);

/// One entry of a top-errors list.
#[derive(Debug, Clone, PartialEq)]
pub struct TopError {
    /// The operation name.
    pub operation: String,
    /// The error code.
    pub code: String,
    /// The (unmasked, possibly cut) message; the code when none was recorded.
    pub message: String,
    /// How many failures carried it in the window (space-saving may overestimate rare ones).
    pub count: u64,
    /// First time seen in the window, seconds since the epoch.
    pub first_seen: f64,
    /// Last time seen in the window, seconds since the epoch.
    pub last_seen: f64,
}

/// The headline numbers of one operation over a window, shared by [`Summary`], [`Brief`] and
/// [`Point`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Headline {
    /// Samples in the window.
    pub total: u64,
    /// Successful samples.
    pub successes: u64,
    /// Failed samples.
    pub failures: u64,
    /// Sum of durations, milliseconds.
    pub sum_ms: f64,
    /// The latencies (see [`crate::headline`]).
    pub latencies: Latencies,
    /// Start of the first bucket in the window, seconds since the epoch.
    pub window_start: f64,
    /// Samples per second over the part of the window since the operation was first seen.
    pub throughput_rps: f64,
}

/// The statistics of one operation over a window: its [`Headline`] and the breakdowns.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Counts, latency and throughput.
    pub headline: Headline,
    /// Exact failure counts by code, largest first.
    pub errors_by_code: Vec<(String, u64)>,
    /// The most frequent failure messages, largest first.
    pub top_errors: Vec<TopError>,
    /// Sample counts by UTC hour of day (0-23), hours with samples only, ascending.
    pub hourly: Vec<(u8, u64)>,
    /// The query time.
    pub window_end: f64,
    /// Mean process RSS (MB) and CPU (%) of the resource samples in the window.
    pub resources: Option<(f64, f64)>,
}

/// One operation's [`Headline`], as [`Registry::briefs`] lists them for every operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Brief {
    /// The operation name.
    pub operation: String,
    /// Counts, latency and throughput; equal to the operation's [`Summary::headline`].
    pub headline: Headline,
}

/// One point of a time series: the [`Headline`] of the samples that started in
/// `[start, start + seconds)` (its throughput over the point's width).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Start of the point, seconds since the epoch.
    pub start: f64,
    /// Width of the point in seconds.
    pub seconds: u64,
    /// Counts and latencies of the point.
    pub headline: Headline,
}

/// A recent sample with the trace that produced it: an OpenMetrics exemplar, kept per classic
/// bucket (the latest one that landed in it).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The W3C trace ID, 32 lowercase hex digits.
    pub trace_id: String,
    /// The span ID, 16 lowercase hex digits.
    pub span_id: String,
    /// The sample's duration in seconds.
    pub seconds: f64,
    /// When it was recorded, seconds since the epoch.
    pub t: f64,
}

fn is_hex_id(text: &str, digits: usize) -> bool {
    text.len() == digits && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The classic bucket (index into [`CUMULATIVE_BOUNDS`], or one past it for `+Inf`) of a
/// duration in seconds.
fn classic_slot(seconds: f64) -> usize {
    CUMULATIVE_BOUNDS
        .iter()
        .position(|bound| seconds <= *bound)
        .unwrap_or(CUMULATIVE_BOUNDS.len())
}

/// Lifetime totals of one operation, for Prometheus exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Cumulative {
    /// The operation name.
    pub operation: String,
    /// All samples ever recorded (since the last reset).
    pub total: u64,
    /// Failed samples.
    pub failures: u64,
    /// Exact failure counts by code, sorted by code.
    pub errors_by_code: Vec<(String, u64)>,
    /// Sum of durations in seconds.
    pub sum_seconds: f64,
    /// (upper bound in seconds, cumulative count); the last bound is `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// The same durations in a native (sparse exponential) histogram.
    pub native: NativeHistogram,
    /// The latest exemplar of each classic bucket (aligned with `buckets`; empty when no traced
    /// sample was recorded).
    pub exemplars: Vec<Option<Exemplar>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Lifetime {
    pub(crate) total: u64,
    pub(crate) failures: u64,
    pub(crate) sum_ms: f64,
    pub(crate) codes: Vec<(u32, u64)>,
    pub(crate) buckets: [u64; CUMULATIVE_BOUNDS.len() + 1],
    pub(crate) native: NativeHistogram,
    pub(crate) exemplars: Vec<Option<Exemplar>>,
    pub(crate) first_seen: f64,
}

impl Lifetime {
    pub(crate) fn new() -> Self {
        Self {
            total: 0,
            failures: 0,
            sum_ms: 0.0,
            codes: Vec::new(),
            buckets: [0; CUMULATIVE_BOUNDS.len() + 1],
            native: NativeHistogram::new(),
            exemplars: Vec::new(),
            first_seen: f64::INFINITY,
        }
    }
}

#[derive(Debug)]
pub(crate) struct OpData {
    pub(crate) name: Arc<str>,
    pub(crate) tiers: Vec<Tier>,
    pub(crate) life: Lifetime,
    /// Interned codes this operation has used, for the per-operation cap.
    pub(crate) own_codes: Vec<u32>,
}

/// Everything a registry stores; also what a segment file holds (see [`crate::segment`]).
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) names: HashMap<Arc<str>, u32>,
    pub(crate) ops: Vec<OpData>,
    /// Error codes by interned id, as shown (masked).
    pub(crate) codes: Vec<Arc<str>>,
    pub(crate) code_ids: HashMap<Arc<str>, u32>,
    pub(crate) resources: Vec<ResourceTier>,
    pub(crate) expired: u64,
    /// The time of the latest sample stored (0 before the first).
    pub(crate) last_time: f64,
    /// Bumped by every change, so a shared registry writes its segment only when needed.
    pub(crate) generation: u64,
    /// The ring epochs of the latest sample's time.
    epochs: EpochCache,
}

impl State {
    /// An empty state whose rings have `shapes` (see [`tier_shapes`]).
    pub(crate) fn empty(shapes: &[(u64, u64)]) -> Self {
        Self {
            names: HashMap::new(),
            ops: Vec::new(),
            codes: Vec::new(),
            code_ids: HashMap::new(),
            resources: shapes
                .iter()
                .map(|&(width, span)| ResourceTier::new(width, span))
                .collect(),
            expired: 0,
            last_time: 0.0,
            generation: 0,
            epochs: EpochCache::default(),
        }
    }

    /// The data of operation `name`, if this state holds it.
    pub(crate) fn op(&self, name: &str) -> Option<&OpData> {
        self.ops.get(*self.names.get(name)? as usize)
    }
}

/// Per-operation latency and outcome statistics in time buckets, safe to share between threads.
///
/// Recording pushes into a lock-free bounded queue; the samples reach the time buckets when the
/// queue holds a batch (drained by the recorder that finds the storage lock free) and before
/// every query, so a recorded sample is visible to the next query. A recorder finding the queue
/// full waits for the lock, drains the queue and stores its sample directly: no path drops a
/// sample.
#[derive(Debug)]
pub struct Registry {
    config: Config,
    queue: ArrayQueue<Sample>,
    pub(crate) state: Mutex<State>,
    clock_errors: AtomicU64,
    /// The ring shapes: [`TIERS`] capped by the retention, plus the daily archive tier of a
    /// shared registry.
    pub(crate) shapes: Vec<(u64, u64)>,
    /// The directory shared with other processes, when there is one.
    pub(crate) shared: Option<crate::segment::Shared>,
}

impl Registry {
    /// Creates an empty registry.
    ///
    /// # Errors
    /// [`ConfigError`] when the retention or a limit is out of range.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        if config.retention_seconds == 0 || config.retention_seconds > MAX_RETENTION_SECONDS {
            return Err(ConfigError::Retention(config.retention_seconds));
        }
        if config.max_operations == 0 {
            return Err(ConfigError::Limit("max_operations"));
        }
        if config.max_error_codes == 0 {
            return Err(ConfigError::Limit("max_error_codes"));
        }
        if config.queue_capacity == 0 {
            return Err(ConfigError::QueueCapacity);
        }
        Ok(Self::with_shapes(
            config,
            tier_shapes(config.retention_seconds, 0).collect(),
            None,
        ))
    }

    pub(crate) fn with_shapes(
        config: Config,
        shapes: Vec<(u64, u64)>,
        shared: Option<crate::segment::Shared>,
    ) -> Self {
        Self {
            config,
            queue: ArrayQueue::new(config.queue_capacity),
            state: Mutex::new(State::empty(&shapes)),
            clock_errors: AtomicU64::new(0),
            shapes,
            shared,
        }
    }

    /// The longest window a query can cover: the retention, or the archive of a shared
    /// registry.
    #[must_use]
    pub fn horizon_seconds(&self) -> u64 {
        self.shapes
            .last()
            .map_or(self.config.retention_seconds, |&(_, span)| {
                span.max(self.config.retention_seconds)
            })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> Config {
        self.config
    }

    /// Registers `name` (or finds it) and returns the handle to record with.
    ///
    /// Beyond `max_operations` names, new names are folded into [`OTHER`].
    ///
    /// # Errors
    /// [`RecordError::EmptyName`] for an empty name.
    pub fn register(&self, name: &str) -> Result<Registration, RecordError> {
        if name.is_empty() {
            return Err(RecordError::EmptyName);
        }
        let mut state = self.state.lock();
        if let Some(&id) = state.names.get(name) {
            return Ok(Registration {
                id: OpId(id),
                name: name.to_owned(),
                folded: false,
            });
        }
        let real_names = state.names.len() - usize::from(state.names.contains_key(OTHER));
        let (stored, folded) = if real_names >= self.config.max_operations && name != OTHER {
            (OTHER, true)
        } else {
            (name, false)
        };
        let id = match state.names.get(stored) {
            Some(&id) => id,
            None => self.add_op(&mut state, stored),
        };
        Ok(Registration {
            id: OpId(id),
            name: stored.to_owned(),
            folded,
        })
    }

    fn add_op(&self, state: &mut State, name: &str) -> u32 {
        let id = state.ops.len() as u32;
        let name: Arc<str> = Arc::from(name);
        state.ops.push(OpData {
            name: Arc::clone(&name),
            tiers: self.new_tiers(),
            life: Lifetime::new(),
            own_codes: Vec::new(),
        });
        state.names.insert(name, id);
        id
    }

    fn new_tiers(&self) -> Vec<Tier> {
        new_tiers(&self.shapes)
    }

    /// Records one sample of `op` taken at time `t` (seconds since the epoch).
    ///
    /// # Errors
    /// [`RecordError::InvalidDuration`] for a negative, NaN or infinite duration and
    /// [`RecordError::InvalidTime`] for a time [`valid_time`] refuses; nothing is recorded then.
    pub fn record(&self, op: OpId, t: f64, ms: f64, outcome: Outcome) -> Result<(), RecordError> {
        if let Some(overflow) = self.try_record(op, t, ms, outcome)? {
            self.store_overflow(overflow);
        }
        Ok(())
    }

    /// [`Registry::record`] without ever waiting: when the queue is full, the sample comes back
    /// as an [`Overflow`] for [`Registry::store_overflow`], which waits for the storage lock.
    /// A caller that must not block while holding something else (the Python interpreter)
    /// releases it around that call.
    ///
    /// # Errors
    /// As [`Registry::record`].
    pub fn try_record(
        &self,
        op: OpId,
        t: f64,
        ms: f64,
        outcome: Outcome,
    ) -> Result<Option<Overflow>, RecordError> {
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(RecordError::InvalidDuration);
        }
        if !valid_time(t) {
            return Err(RecordError::InvalidTime);
        }
        let failure = match outcome {
            Outcome::Success => None,
            Outcome::Failure { code, message } => Some(Box::new((code, message))),
        };
        let sample = Sample {
            op: op.0,
            t,
            ms,
            failure,
        };
        match self.queue.push(sample) {
            Ok(()) => {
                if self.queue.len() >= DRAIN_AT {
                    if let Some(mut state) = self.state.try_lock() {
                        self.drain(&mut state);
                    }
                }
                Ok(None)
            }
            Err(rejected) => Ok(Some(Overflow(rejected))),
        }
    }

    /// Stores a sample the full queue refused: waits for the storage lock, empties the queue
    /// and stores the sample directly, so nothing is ever dropped. (The queue is full only
    /// when the lock holder is slow, for example descheduled.)
    pub fn store_overflow(&self, overflow: Overflow) {
        let mut state = self.state.lock();
        self.drain(&mut state);
        state.apply(overflow.0, &self.config);
    }

    /// Samples older than every bucket the rings keep when they arrived (lifetime totals still
    /// count them).
    #[must_use]
    pub fn expired(&self) -> u64 {
        self.locked().expired
    }

    /// The time of the latest sample stored (`None` before the first): where a caller puts a
    /// sample whose clock reading [`valid_time`] refused, so that the sample is not lost.
    #[must_use]
    pub fn last_time(&self) -> Option<f64> {
        let state = self.locked();
        (state.ops.iter().any(|op| op.life.total > 0)).then_some(state.last_time)
    }

    /// Counts one clock reading that [`valid_time`] refused; returns the count so far.
    pub fn note_clock_error(&self) -> u64 {
        self.clock_errors.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// How many clock readings were refused (see [`Registry::note_clock_error`]).
    #[must_use]
    pub fn clock_errors(&self) -> u64 {
        self.clock_errors.load(Ordering::Relaxed)
    }

    /// Keeps a traced sample of `op` (already recorded with [`Registry::record`]) as the
    /// exemplar of its classic bucket. IDs that are not lowercase hex of the W3C lengths (32
    /// and 16 digits), and invalid times or durations, are ignored: an exemplar never carries
    /// anything but a trace reference.
    pub fn record_exemplar(&self, op: OpId, t: f64, ms: f64, trace_id: &str, span_id: &str) {
        let acceptable = valid_time(t)
            && ms.is_finite()
            && ms >= 0.0
            && is_hex_id(trace_id, 32)
            && is_hex_id(span_id, 16);
        if !acceptable {
            return;
        }
        let seconds = ms / 1_000.0;
        let mut state = self.state.lock();
        state.generation += 1;
        let Some(data) = state.ops.get_mut(op.0 as usize) else {
            return;
        };
        let exemplars = &mut data.life.exemplars;
        if exemplars.is_empty() {
            exemplars.resize(CUMULATIVE_BOUNDS.len() + 1, None);
        }
        if let Some(slot) = exemplars.get_mut(classic_slot(seconds)) {
            *slot = Some(Exemplar {
                trace_id: trace_id.to_owned(),
                span_id: span_id.to_owned(),
                seconds,
                t,
            });
        }
    }

    /// Records one process resource sample at time `t`.
    pub fn record_resources(&self, t: f64, rss_mb: f64, cpu_percent: f64) {
        if !(valid_time(t) && rss_mb.is_finite() && cpu_percent.is_finite()) {
            return;
        }
        let mut state = self.state.lock();
        state.generation += 1;
        for tier in &mut state.resources {
            tier.add(t, rss_mb, cpu_percent);
        }
    }

    /// Forgets every sample (registered names and handles stay valid).
    pub fn reset(&self) {
        let mut state = self.locked();
        for op in &mut state.ops {
            op.tiers = new_tiers(&self.shapes);
            op.life = Lifetime::new();
            op.own_codes.clear();
        }
        // Every interned code id lived in the buckets and totals just dropped.
        state.codes = Vec::new();
        state.code_ids = HashMap::new();
        state.resources = self
            .shapes
            .iter()
            .map(|&(width, span)| ResourceTier::new(width, span))
            .collect();
        state.expired = 0;
        state.generation += 1;
    }

    /// The storage lock, with every queued sample applied.
    pub(crate) fn locked_state(&self) -> MutexGuard<'_, State> {
        self.locked()
    }

    /// The storage lock, with every queued sample applied.
    fn locked(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock();
        self.drain(&mut state);
        state
    }

    fn drain(&self, state: &mut State) {
        while let Some(sample) = self.queue.pop() {
            state.apply(sample, &self.config);
        }
    }

    /// The decoded states of the other processes sharing the directory (empty without one).
    fn others(&self) -> Vec<Arc<crate::segment::Foreign>> {
        match &self.shared {
            Some(shared) => shared.others(),
            None => Vec::new(),
        }
    }

    /// The statistics of `name` over `(now - window, now]`, or `None` when the operation is
    /// unknown or has no sample left in retention. A shared registry merges every process's
    /// data: counts add exactly and quantiles come from the merged histograms.
    #[must_use]
    pub fn summary(&self, name: &str, now: f64, window: u64, top: usize) -> Option<Summary> {
        let others = self.others();
        let mut local = self.locked();
        let horizon = self.horizon_seconds();
        if let Some(&id) = local.names.get(name) {
            if let Some(op) = local.ops.get_mut(id as usize) {
                op.expire(now);
            }
        }
        let local: &State = &local;
        let states =
            std::iter::once((local, true)).chain(others.iter().map(|f| (&f.state, f.is_live())));
        let mut merged = Merged::new();
        let mut hourly = [0u64; 24];
        let mut window_start = f64::INFINITY;
        let mut first_seen = f64::INFINITY;
        let mut found = false;
        let mut resources: Option<(f64, f64)> = None;
        for (state, live) in states {
            if live {
                if let Some((rss, cpu)) = pick_resource_tier(&state.resources, window)
                    .and_then(|tier| tier.average(now, window))
                {
                    let sum = resources.get_or_insert((0.0, 0.0));
                    sum.0 += rss;
                    sum.1 += cpu;
                }
            }
            let Some(op) = state.op(name).filter(|op| op.has_data(now, horizon)) else {
                continue;
            };
            let Some(tier) = pick_tier(&op.tiers, window) else {
                continue;
            };
            found = true;
            for bucket in tier.window(now, window) {
                merged.add(bucket, &state.codes);
                if tier.width <= 3_600 {
                    add_hour(&mut hourly, bucket, tier.width);
                }
            }
            if tier.width > 3_600 {
                // Daily buckets have no hour: the hour of day comes from the hourly ring.
                if let Some(hours) = op.tiers.iter().rev().find(|t| t.width <= 3_600) {
                    for bucket in hours.window(now, window) {
                        add_hour(&mut hourly, bucket, hours.width);
                    }
                }
            }
            let (first_epoch, _) = tier.window_epochs(now, window);
            window_start = window_start.min((first_epoch * tier.width) as f64);
            first_seen = first_seen.min(op.life.first_seen);
        }
        if !found {
            return None;
        }
        let seen_from = (now - window as f64).max(first_seen);
        let headline = merged.headline(window_start, now - seen_from);
        let operation: Arc<str> = Arc::from(name);
        Some(Summary {
            headline,
            errors_by_code: merged.errors_by_code(),
            top_errors: merged.top_errors(&operation, top),
            hourly: hourly
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(hour, n)| (hour as u8, *n))
                .collect(),
            window_end: now,
            resources,
        })
    }

    /// [`Brief`]s of every operation with at least one sample in `(now - window, now]`, sorted
    /// by name: one lock and one reused merge buffer for all of them, so listing a thousand
    /// operations costs a fraction of a thousand [`Registry::summary`] calls. Each brief's
    /// numbers equal the matching fields of that operation's [`Summary`].
    #[must_use]
    pub fn briefs(&self, now: f64, window: u64) -> Vec<Brief> {
        let others = self.others();
        let state = self.locked();
        let mut merged = Merged::new();
        let mut out = Vec::new();
        if others.is_empty() {
            for op in &state.ops {
                merged.clear();
                if let Some((start, first_seen)) = merge_latencies(&mut merged, op, now, window) {
                    if merged.total > 0 {
                        let seen_from = (now - window as f64).max(first_seen);
                        out.push(Brief {
                            operation: op.name.to_string(),
                            headline: merged.headline(start, now - seen_from),
                        });
                    }
                }
            }
        } else {
            let states: Vec<&State> = std::iter::once(&*state)
                .chain(others.iter().map(|f| &f.state))
                .collect();
            for name in all_names(&states) {
                merged.clear();
                let mut start = f64::INFINITY;
                let mut first_seen = f64::INFINITY;
                for op in states.iter().filter_map(|s| s.op(name)) {
                    // Whole coarse buckets stand for their fine ones (every ring receives every
                    // sample), so a week costs a few dozen buckets per process, not 169.
                    let merge = merge_latencies_coarse;
                    if let Some((s, f)) = merge(&mut merged, op, now, window) {
                        start = start.min(s);
                        first_seen = first_seen.min(f);
                    }
                }
                if merged.total > 0 {
                    let seen_from = (now - window as f64).max(first_seen);
                    out.push(Brief {
                        operation: name.to_string(),
                        headline: merged.headline(start, now - seen_from),
                    });
                }
            }
        }
        out.sort_unstable_by(|a, b| a.operation.cmp(&b.operation));
        out
    }

    /// Names with at least one sample in `(now - window, now]`, sorted.
    #[must_use]
    pub fn operations(&self, now: f64, window: u64) -> Vec<String> {
        let others = self.others();
        let state = self.locked();
        let mut names: Vec<String> = std::iter::once(&*state)
            .chain(others.iter().map(|f| &f.state))
            .flat_map(|s| s.ops.iter())
            .filter(|op| {
                pick_tier(&op.tiers, window)
                    .is_some_and(|tier| tier.window(now, window).any(|b| b.total > 0))
            })
            .map(|op| op.name.to_string())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The most frequent failure messages over every operation in `(now - window, now]`.
    #[must_use]
    pub fn top_errors(&self, now: f64, window: u64, limit: usize) -> Vec<TopError> {
        let others = self.others();
        let state = self.locked();
        let mut all = Vec::new();
        if others.is_empty() {
            let mut merged = Merged::errors_only();
            for op in &state.ops {
                let Some(tier) = pick_tier(&op.tiers, window) else {
                    continue;
                };
                merged.clear();
                for bucket in tier.window(now, window) {
                    merged.add_errors(bucket, &state.codes);
                }
                all.extend(merged.top_errors(&op.name, limit));
            }
        } else {
            let states: Vec<&State> = std::iter::once(&*state)
                .chain(others.iter().map(|f| &f.state))
                .collect();
            let mut merged = Merged::errors_only();
            for name in all_names(&states) {
                merged.clear();
                for (state, op) in states.iter().filter_map(|s| Some((s, s.op(name)?))) {
                    if let Some(tier) = pick_tier(&op.tiers, window) {
                        for bucket in tier.window(now, window) {
                            merged.add_errors(bucket, &state.codes);
                        }
                    }
                }
                all.extend(merged.top_errors(name, limit));
            }
        }
        sort_top(&mut all);
        all.truncate(limit);
        all
    }

    /// `name` over `(now - window, now]` as consecutive points of equal width (at least one
    /// bucket wide, about `window / points`), oldest first; `None` as for [`Registry::summary`].
    #[must_use]
    pub fn series(&self, name: &str, now: f64, window: u64, points: u64) -> Option<Vec<Point>> {
        let others = self.others();
        let mut local = self.locked();
        let horizon = self.horizon_seconds();
        if let Some(&id) = local.names.get(name) {
            if let Some(op) = local.ops.get_mut(id as usize) {
                op.expire(now);
            }
        }
        let local: &State = &local;
        let tiers: Vec<&Tier> = std::iter::once(local)
            .chain(others.iter().map(|f| &f.state))
            .filter_map(|s| s.op(name).filter(|op| op.has_data(now, horizon)))
            .filter_map(|op| pick_tier(&op.tiers, window))
            .collect();
        let width = tiers.iter().map(|t| t.width).max()?;
        let per_point = window.div_ceil(points.max(1)).div_ceil(width).max(1);
        let step = per_point * width;
        let first = epoch_of(now - window as f64, step);
        let last = epoch_of(now, step);
        let mut out = Vec::with_capacity((last - first + 1) as usize);
        let mut cursors: Vec<_> = tiers
            .iter()
            .map(|tier| (tier.width, tier.window(now, window).peekable()))
            .collect();
        let mut merged = Merged::new();
        for group in first..=last {
            merged.clear();
            for (width, buckets) in &mut cursors {
                let width = *width;
                while let Some(bucket) = buckets.next_if(|b| b.epoch * width < (group + 1) * step) {
                    if bucket.epoch * width >= group * step {
                        merged.add_latencies(bucket); // points carry no error breakdown
                    }
                }
            }
            let start = (group * step) as f64;
            out.push(Point {
                start,
                seconds: step,
                headline: merged.headline(start, step as f64),
            });
        }
        Some(out)
    }

    /// Lifetime totals of every operation with samples, sorted by name (a shared registry's
    /// include every process's, and the archive's: counters stay monotonic across restarts).
    #[must_use]
    pub fn cumulative(&self) -> Vec<Cumulative> {
        let others = self.others();
        let state = self.locked();
        let states: Vec<&State> = std::iter::once(&*state)
            .chain(others.iter().map(|f| &f.state))
            .collect();
        let mut out = Vec::new();
        for name in all_names(&states) {
            let mut life = Lifetime::new();
            let mut codes: Vec<(String, u64)> = Vec::new();
            for (state, op) in states.iter().filter_map(|s| Some((s, s.op(name)?))) {
                life.add(&op.life);
                for (code, n) in &op.life.codes {
                    let code = code_name(&state.codes, *code);
                    match codes.iter_mut().find(|(c, _)| *c == code) {
                        Some((_, sum)) => *sum += n,
                        None => codes.push((code, *n)),
                    }
                }
            }
            if life.total == 0 {
                continue;
            }
            codes.sort_unstable();
            let mut running = 0;
            let mut buckets: Vec<(f64, u64)> = CUMULATIVE_BOUNDS
                .iter()
                .copied()
                .chain(std::iter::once(f64::INFINITY))
                .zip(life.buckets)
                .map(|(bound, n)| {
                    running += n;
                    (bound, running)
                })
                .collect();
            buckets.shrink_to_fit();
            out.push(Cumulative {
                operation: name.to_string(),
                total: life.total,
                failures: life.failures,
                errors_by_code: codes,
                sum_seconds: life.sum_ms / 1_000.0,
                buckets,
                native: life.native,
                exemplars: life.exemplars,
            });
        }
        out
    }

    /// Bytes held for `name`'s buckets and totals (`None` for an unknown name).
    #[must_use]
    pub fn operation_bytes(&self, name: &str) -> Option<usize> {
        let state = self.locked();
        let op = state.ops.get(*state.names.get(name)? as usize)?;
        Some(
            std::mem::size_of::<OpData>()
                + op.name.len()
                + op.tiers.iter().map(Tier::bytes).sum::<usize>()
                + op.life.codes.capacity() * std::mem::size_of::<(u32, u64)>()
                + op.life.native.bytes()
                + op.own_codes.capacity() * std::mem::size_of::<u32>(),
        )
    }
}

/// (bucket width, span) of each tier needed for `retention` seconds, then a daily tier over
/// `archive` seconds when that is longer (a shared registry's archive, see [`crate::segment`]).
pub(crate) fn tier_shapes(retention: u64, archive: u64) -> impl Iterator<Item = (u64, u64)> {
    let mut previous_span = 0;
    TIERS
        .iter()
        .copied()
        .chain(std::iter::once((86_400, archive)))
        .filter_map(move |(width, span)| {
            let span = if width == 86_400 {
                span
            } else {
                span.min(retention)
            };
            if span <= previous_span {
                return None;
            }
            previous_span = span;
            Some((width, span))
        })
}

pub(crate) fn new_tiers(shapes: &[(u64, u64)]) -> Vec<Tier> {
    shapes
        .iter()
        .map(|&(width, span)| Tier::new(width, span))
        .collect()
}

/// The finest tier whose span covers `window` (else the coarsest).
fn pick_tier(tiers: &[Tier], window: u64) -> Option<&Tier> {
    tiers
        .iter()
        .find(|tier| (tier.len - 1) * tier.width >= window)
        .or_else(|| tiers.last())
}

fn pick_resource_tier(tiers: &[ResourceTier], window: u64) -> Option<&ResourceTier> {
    tiers
        .iter()
        .find(|tier| (tier.len - 1) * tier.width >= window)
        .or_else(|| tiers.last())
}

fn code_arc(codes: &[Arc<str>], id: u32) -> Arc<str> {
    codes
        .get(id as usize)
        .map_or_else(|| Arc::from(UNKNOWN_CODE), Arc::clone)
}

fn code_name(codes: &[Arc<str>], id: u32) -> String {
    codes
        .get(id as usize)
        .map_or_else(|| UNKNOWN_CODE.to_owned(), |c| c.to_string())
}

fn sort_top(errors: &mut [TopError]) {
    errors.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| b.last_seen.total_cmp(&a.last_seen))
            .then_with(|| a.operation.cmp(&b.operation))
            .then_with(|| a.message.cmp(&b.message))
    });
}

fn cut_message(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        // Mask first, then cut: a cut through a secret would leave a part no rule recognises.
        if let std::borrow::Cow::Owned(masked) = crate::mask::mask_text(&message) {
            message = masked;
        }
        let mut end = MAX_MESSAGE_BYTES;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    message
}

impl OpData {
    /// Drops the buckets that fell out of every ring at `now`.
    fn expire(&mut self, now: f64) {
        for tier in &mut self.tiers {
            tier.expire(epoch_of(now, tier.width));
        }
    }

    /// Whether a sample is left within `horizon` seconds of `now` (or ahead of it).
    fn has_data(&self, now: f64, horizon: u64) -> bool {
        self.tiers.last().is_some_and(|tier| {
            tier.window(now, horizon).next().is_some()
                || tier
                    .buckets
                    .iter()
                    .any(|b| (b.epoch * tier.width) as f64 > now)
        })
    }
}

impl Lifetime {
    /// Adds another process's totals of the same operation (codes are added by the caller,
    /// by name).
    pub(crate) fn add(&mut self, other: &Lifetime) {
        self.total += other.total;
        self.failures += other.failures;
        self.sum_ms += other.sum_ms;
        self.first_seen = self.first_seen.min(other.first_seen);
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
        self.native.add(&other.native);
        if !other.exemplars.is_empty() {
            if self.exemplars.is_empty() {
                self.exemplars.resize(CUMULATIVE_BOUNDS.len() + 1, None);
            }
            for (mine, theirs) in self.exemplars.iter_mut().zip(&other.exemplars) {
                if let Some(theirs) = theirs {
                    if mine.as_ref().is_none_or(|m| m.t < theirs.t) {
                        *mine = Some(theirs.clone());
                    }
                }
            }
        }
    }
}

/// Samples, failures and the 99th percentile of every operation of `state` together over
/// `(now - window, now]`.
pub(crate) fn overall(state: &State, now: f64, window: u64) -> (u64, u64, f64) {
    let mut merged = Merged::new();
    for op in &state.ops {
        merge_latencies(&mut merged, op, now, window);
    }
    let [p99] = merged.quantiles([0.99]);
    (merged.total, merged.failures, p99)
}

impl Drop for Registry {
    /// A shared registry writes what it has not written yet.
    fn drop(&mut self) {
        if self.shared.is_some() {
            let _ = self.sync();
        }
    }
}

/// Adds `bucket`'s count to its UTC hour of day.
fn add_hour(hourly: &mut [u64; 24], bucket: &Bucket, width: u64) {
    if let Some(slot) = hourly.get_mut(((bucket.epoch * width / 3_600) % 24) as usize) {
        *slot += bucket.total;
    }
}

/// Merges `op`'s latencies in the window into `merged`; returns where the window's first
/// bucket starts and when the operation was first seen (`None` without a ring).
fn merge_latencies(merged: &mut Merged, op: &OpData, now: f64, window: u64) -> Option<(f64, f64)> {
    let tier = pick_tier(&op.tiers, window)?;
    for bucket in tier.window(now, window) {
        merged.add_latencies(bucket);
    }
    let (first_epoch, _) = tier.window_epochs(now, window);
    Some(((first_epoch * tier.width) as f64, op.life.first_seen))
}

/// [`merge_latencies`], reading each whole bucket of a coarser ring inside the window instead
/// of the finer buckets it holds: every ring receives every sample, so the sums are the same
/// samples (added in another order), with far fewer buckets for long windows.
fn merge_latencies_coarse(
    merged: &mut Merged,
    op: &OpData,
    now: f64,
    window: u64,
) -> Option<(f64, f64)> {
    let tier = pick_tier(&op.tiers, window)?;
    let index = op.tiers.iter().position(|t| std::ptr::eq(t, tier))?;
    let (first, last) = tier.window_epochs(now, window);
    add_range(merged, &op.tiers, index, first, last);
    Some(((first * tier.width) as f64, op.life.first_seen))
}

/// Adds the buckets of ring `index` with epochs `first..=last`, taking the whole buckets of the
/// next (coarser) ring that fit inside the range from that ring, recursively.
fn add_range(merged: &mut Merged, tiers: &[Tier], index: usize, first: u64, last: u64) {
    let Some(tier) = tiers.get(index) else {
        return;
    };
    if first > last {
        return;
    }
    let coarse = tiers
        .get(index + 1)
        .filter(|c| c.width > tier.width && c.width % tier.width == 0);
    if let Some(coarse) = coarse {
        let k = coarse.width / tier.width;
        let (inner_first, inner_end) = (first.div_ceil(k), (last + 1) / k);
        if inner_first < inner_end {
            if inner_first * k > first {
                add_fine(merged, tier, first, inner_first * k - 1);
            }
            add_range(merged, tiers, index + 1, inner_first, inner_end - 1);
            add_fine(merged, tier, inner_end * k, last);
            return;
        }
    }
    add_fine(merged, tier, first, last);
}

fn add_fine(merged: &mut Merged, tier: &Tier, first: u64, last: u64) {
    if first > last {
        return;
    }
    let start = tier.buckets.partition_point(|b| b.epoch < first);
    for bucket in tier.buckets.range(start..).take_while(|b| b.epoch <= last) {
        merged.add_latencies(bucket);
    }
}

/// Every operation name of `states`, sorted, once.
fn all_names<'a>(states: &[&'a State]) -> Vec<&'a str> {
    let mut names: Vec<&str> = states
        .iter()
        .flat_map(|s| s.ops.iter().map(|op| &*op.name))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

impl State {
    fn intern_code(&mut self, code: &str) -> u32 {
        if let Some(&id) = self.code_ids.get(code) {
            return id;
        }
        let id = self.codes.len() as u32;
        let key: Arc<str> = Arc::from(code);
        // What leaves the process is masked: a code recorded by hand (the decorators mask
        // theirs already) never shows a secret in breakdowns, top errors or Prometheus labels.
        // Masked once per distinct code, when it is first kept.
        let shown: Arc<str> = match crate::mask::mask_text(code) {
            std::borrow::Cow::Borrowed(_) => Arc::clone(&key),
            std::borrow::Cow::Owned(masked) => Arc::from(masked),
        };
        self.codes.push(shown);
        self.code_ids.insert(key, id);
        id
    }

    fn apply(&mut self, sample: Sample, config: &Config) {
        let failure = sample.failure.map(|boxed| {
            let (code, message) = *boxed;
            let code_text = code
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| UNKNOWN_CODE.to_owned());
            // Only a code the operation keeps is interned: a folded code goes straight to
            // OTHER, so any number of distinct codes costs no memory beyond the kept ones.
            let known = self.code_ids.get(code_text.as_str()).copied();
            let full = self.ops.get(sample.op as usize).is_some_and(|op| {
                op.own_codes.len() >= config.max_error_codes
                    && known.is_none_or(|id| !op.own_codes.contains(&id))
            });
            let code_id = match known {
                _ if full => self.intern_code(OTHER),
                Some(id) => id,
                None => self.intern_code(&code_text),
            };
            let message = cut_message(message.filter(|m| !m.is_empty()).unwrap_or(code_text));
            FailureKey {
                code: code_id,
                message: Arc::from(message),
            }
        });
        let Some(op) = self.ops.get_mut(sample.op as usize) else {
            return;
        };
        self.generation += 1;
        self.last_time = sample.t;
        let life = &mut op.life;
        life.total += 1;
        life.sum_ms += sample.ms;
        life.first_seen = life.first_seen.min(sample.t);
        let seconds = sample.ms / 1_000.0;
        let slot = classic_slot(seconds);
        if let Some(count) = life.buckets.get_mut(slot) {
            *count += 1;
        }
        // Values past the trackable range (about 73 minutes) share its top bucket, so a hostile
        // duration cannot stretch the dense counts.
        #[allow(clippy::cast_precision_loss)]
        life.native.observe(seconds.min(TRACKABLE_NS as f64 / 1e9));
        if let Some(key) = &failure {
            life.failures += 1;
            match life.codes.iter_mut().find(|(code, _)| *code == key.code) {
                Some((_, n)) => *n += 1,
                None => life.codes.push((key.code, 1)),
            }
            if !op.own_codes.contains(&key.code) {
                op.own_codes.push(key.code);
            }
        }
        // The latency bucket is the same in every tier: computed once.
        let index = index_of(ms_to_ns(sample.ms));
        self.epochs
            .fill(sample.t, op.tiers.iter().map(|tier| tier.width));
        let mut kept = false;
        for (slot, tier) in op.tiers.iter_mut().enumerate() {
            let epoch = self.epochs.epoch(slot, sample.t, tier.width);
            kept |= tier.add_at(epoch, sample.t, sample.ms, index, failure.as_ref());
        }
        if !kept {
            self.expired += 1;
        }
    }
}

/// Buckets of a window merged together.
struct Merged {
    total: u64,
    failures: u64,
    sum_ms: f64,
    min_ms: f64,
    max_ms: f64,
    dense: Vec<u64>,
    /// The range of `dense` that may hold counts (empty while `low > high`): clearing and
    /// walking only it keeps a merge of a few samples from touching the whole array.
    low: usize,
    high: usize,
    /// Failure counts by code name (codes are interned per process, so merged by name).
    codes: Vec<(Arc<str>, u64)>,
    errors: HashMap<ErrorKey, (u64, f64, f64)>,
}

/// A failure message by (code, message) names.
type ErrorKey = (Arc<str>, Arc<str>);

impl Merged {
    fn new() -> Self {
        Self {
            dense: vec![0; BUCKET_COUNT],
            ..Self::errors_only()
        }
    }

    fn errors_only() -> Self {
        Self {
            total: 0,
            failures: 0,
            sum_ms: 0.0,
            min_ms: f64::INFINITY,
            max_ms: 0.0,
            dense: Vec::new(),
            low: usize::MAX,
            high: 0,
            codes: Vec::new(),
            errors: HashMap::new(),
        }
    }

    fn clear(&mut self) {
        self.total = 0;
        self.failures = 0;
        self.sum_ms = 0.0;
        self.min_ms = f64::INFINITY;
        self.max_ms = 0.0;
        match self.dense.get_mut(self.low..=self.high) {
            Some(touched) => touched.fill(0),
            None if self.low <= self.high => self.dense.fill(0),
            None => {}
        }
        self.low = usize::MAX;
        self.high = 0;
        self.codes.clear();
        self.errors.clear();
    }

    fn add(&mut self, bucket: &Bucket, names: &[Arc<str>]) {
        self.add_latencies(bucket);
        for (code, n) in &bucket.codes {
            let code = code_arc(names, *code);
            match self.codes.iter_mut().find(|(c, _)| *c == code) {
                Some((_, sum)) => *sum += n,
                None => self.codes.push((code, *n)),
            }
        }
        self.add_errors(bucket, names);
    }

    /// Counts, sums, extremes and the latency histogram of `bucket`, without its errors.
    fn add_latencies(&mut self, bucket: &Bucket) {
        self.total += bucket.total;
        self.failures += bucket.failures;
        self.sum_ms += bucket.sum_ms;
        self.min_ms = self.min_ms.min(bucket.min_ms);
        self.max_ms = self.max_ms.max(bucket.max_ms);
        bucket.counts.merge_into(&mut self.dense);
        if let Some((low, high)) = bucket.counts.span() {
            self.low = self.low.min(low);
            self.high = self.high.max(high);
        }
    }

    /// The index of the first bucket that may hold a count, and the counts from there on.
    fn touched(&self) -> (usize, &[u64]) {
        match self.dense.get(self.low..=self.high) {
            Some(counts) => (self.low, counts),
            None => (0, &self.dense),
        }
    }

    fn add_errors(&mut self, bucket: &Bucket, names: &[Arc<str>]) {
        for entry in &bucket.errors {
            let slot = self
                .errors
                .entry((code_arc(names, entry.code), Arc::clone(&entry.message)))
                .or_insert((0, f64::INFINITY, f64::NEG_INFINITY));
            slot.0 += entry.count;
            slot.1 = slot.1.min(entry.first_seen);
            slot.2 = slot.2.max(entry.last_seen);
        }
    }

    fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum_ms / self.total as f64
        }
    }

    fn min(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.min_ms
        }
    }

    /// Nearest-rank quantiles (ascending `qs`) of the merged latencies, in one pass over the
    /// buckets that may hold counts.
    fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [f64; N] {
        let (first, counts) = self.touched();
        quantiles_ms(counts, first, self.total, qs, self.min(), self.max_ms)
    }

    /// The headline numbers of what was merged: `window_start` is where the window's first
    /// bucket starts, `elapsed` the seconds since the operation was first seen in it.
    fn headline(&self, window_start: f64, elapsed: f64) -> Headline {
        Headline {
            total: self.total,
            successes: self.total - self.failures,
            failures: self.failures,
            sum_ms: self.sum_ms,
            latencies: Latencies::compute(
                self.mean(),
                self.min(),
                self.max_ms,
                self.quantiles(QUANTILES),
            ),
            window_start,
            throughput_rps: self.total as f64 / elapsed.max(1.0),
        }
    }

    fn errors_by_code(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .codes
            .iter()
            .map(|(code, n)| (code.to_string(), *n))
            .collect();
        out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    fn top_errors(&self, operation: &str, limit: usize) -> Vec<TopError> {
        let mut out: Vec<TopError> = self
            .errors
            .iter()
            .map(|((code, message), (count, first, last))| TopError {
                operation: operation.to_owned(),
                code: code.to_string(),
                message: message.to_string(),
                count: *count,
                first_seen: *first,
                last_seen: *last,
            })
            .collect();
        sort_top(&mut out);
        out.truncate(limit);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: &str, message: &str) -> Outcome {
        Outcome::Failure {
            code: Some(code.to_owned()),
            message: Some(message.to_owned()),
        }
    }

    fn registry() -> Result<Registry, ConfigError> {
        Registry::new(Config::default())
    }

    #[test]
    fn codes_recorded_by_hand_leave_masked() -> Result<(), Box<dyn std::error::Error>> {
        let reg = registry()?;
        let op = reg.register("login")?.id;
        for _ in 0..2 {
            reg.record(op, 1_000.0, 5.0, failure("password=hunter2", "refused"))?;
        }
        reg.record(op, 1_000.0, 5.0, failure("NOT_FOUND", "gone"))?;
        let s = reg.summary("login", 1_001.0, 3_600, 10).ok_or("missing")?;
        let codes: Vec<&str> = s.errors_by_code.iter().map(|(c, _)| c.as_str()).collect();
        assert!(codes.iter().all(|c| !c.contains("hunter2")), "{codes:?}");
        assert!(codes.contains(&"NOT_FOUND"));
        // The same secret code is still one code (counted together), shown masked.
        assert_eq!(s.errors_by_code.iter().map(|(_, n)| n).sum::<u64>(), 3);
        assert_eq!(s.errors_by_code.len(), 2);
        let exposed = reg.cumulative();
        assert!(exposed[0]
            .errors_by_code
            .iter()
            .all(|(c, _)| !c.contains("hunter2")));
        Ok(())
    }

    #[test]
    fn summary_counts_outcomes_and_codes() -> Result<(), Box<dyn std::error::Error>> {
        let reg = registry()?;
        let op = reg.register("get_user")?.id;
        reg.record(op, 1_000.0, 10.0, Outcome::Success)?;
        reg.record(op, 1_001.0, 20.0, failure("NOT_FOUND", "no user 1"))?;
        reg.record(op, 1_002.0, 30.0, failure("NOT_FOUND", "no user 1"))?;
        reg.record(op, 1_003.0, 40.0, failure("TIMEOUT", "slow"))?;
        let s = reg
            .summary("get_user", 1_004.0, 3_600, 10)
            .ok_or("missing")?;
        assert_eq!(
            (s.headline.total, s.headline.successes, s.headline.failures),
            (4, 1, 3)
        );
        assert_eq!(
            s.errors_by_code,
            vec![("NOT_FOUND".to_owned(), 2), ("TIMEOUT".to_owned(), 1)]
        );
        assert_eq!(s.top_errors[0].message, "no user 1");
        assert_eq!(s.top_errors[0].count, 2);
        assert_eq!(
            (s.top_errors[0].first_seen, s.top_errors[0].last_seen),
            (1_001.0, 1_002.0)
        );
        assert_eq!(
            (
                s.headline.latencies.min_ms,
                s.headline.latencies.max_ms,
                s.headline.latencies.mean_ms
            ),
            (10.0, 40.0, 25.0)
        );
        Ok(())
    }

    #[test]
    fn unknown_and_expired_operations_have_no_summary() -> Result<(), Box<dyn std::error::Error>> {
        let reg = Registry::new(Config {
            retention_seconds: 3_600,
            ..Config::default()
        })?;
        assert!(reg.summary("nope", 0.0, 60, 10).is_none());
        let op = reg.register("old")?.id;
        reg.record(op, 100.0, 1.0, Outcome::Success)?;
        assert!(reg.summary("old", 200.0, 60, 10).is_some());
        assert!(reg.summary("old", 100.0 + 3_700.0, 60, 10).is_none());
        Ok(())
    }

    #[test]
    fn windows_select_recent_buckets() -> Result<(), Box<dyn std::error::Error>> {
        let reg = registry()?;
        let op = reg.register("w")?.id;
        reg.record(op, 0.0, 1.0, Outcome::Success)?;
        reg.record(op, 7_200.0, 1.0, Outcome::Success)?;
        reg.record(op, 86_400.0, 1.0, Outcome::Success)?;
        let now = 86_400.0;
        let total = |w| reg.summary("w", now, w, 0).map(|s| s.headline.total);
        assert_eq!(total(60), Some(1));
        assert_eq!(total(85_000), Some(2));
        assert_eq!(total(7 * 86_400), Some(3));
        assert_eq!(reg.operations(now, 60), vec!["w".to_owned()]);
        assert!(reg.operations(now + 3_600.0, 60).is_empty());
        Ok(())
    }

    #[test]
    fn briefs_match_each_summary_and_skip_quiet_operations(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let reg = registry()?;
        assert!(reg.briefs(0.0, 3_600).is_empty());
        for (i, name) in ["b", "a", "quiet"].into_iter().enumerate() {
            let op = reg.register(name)?.id;
            let t = if name == "quiet" { 10.0 } else { 90_000.0 };
            for k in 0..200u32 {
                let outcome = if k % 7 == 0 {
                    failure("E", "boom")
                } else {
                    Outcome::Success
                };
                reg.record(op, t + f64::from(k), f64::from(k * (i as u32 + 1)), outcome)?;
            }
        }
        let now = 90_300.0;
        for window in [60, 3_600, 86_400, 7 * 86_400] {
            let briefs = reg.briefs(now, window);
            let names: Vec<&str> = briefs.iter().map(|b| b.operation.as_str()).collect();
            assert_eq!(names, reg.operations(now, window), "window {window}");
            for b in &briefs {
                let s = reg.summary(&b.operation, now, window, 0).ok_or("missing")?;
                assert_eq!(
                    (
                        b.headline.total,
                        b.headline.failures,
                        b.headline.sum_ms,
                        b.headline.latencies
                    ),
                    (
                        s.headline.total,
                        s.headline.failures,
                        s.headline.sum_ms,
                        s.headline.latencies
                    )
                );
                assert_eq!(
                    (b.headline.window_start, b.headline.throughput_rps),
                    (s.headline.window_start, s.headline.throughput_rps)
                );
            }
        }
        assert_eq!(reg.briefs(now, 7 * 86_400).len(), 3);
        assert_eq!(reg.briefs(now, 3_600).len(), 2);
        Ok(())
    }

    #[test]
    fn cardinality_guard_folds_into_other() -> Result<(), Box<dyn std::error::Error>> {
        let reg = Registry::new(Config {
            max_operations: 2,
            max_error_codes: 1,
            ..Config::default()
        })?;
        assert!(!reg.register("a")?.folded);
        assert!(!reg.register("b")?.folded);
        let c = reg.register("c")?;
        assert!(c.folded);
        assert_eq!(c.name, OTHER);
        assert_eq!(reg.register("d")?.id, c.id);
        let a = reg.register("a")?.id;
        reg.record(a, 1.0, 1.0, failure("E1", "one"))?;
        reg.record(a, 1.0, 1.0, failure("E2", "two"))?;
        let s = reg.summary("a", 1.0, 60, 10).ok_or("missing")?;
        assert_eq!(
            s.errors_by_code,
            vec![("E1".to_owned(), 1), (OTHER.to_owned(), 1)]
        );
        Ok(())
    }

    #[test]
    fn folded_codes_are_not_interned_and_reset_frees_the_interner(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let reg = Registry::new(Config {
            max_error_codes: 3,
            ..Config::default()
        })?;
        let a = reg.register("a")?.id;
        for i in 0..10_000 {
            reg.record(
                a,
                1.0,
                1.0,
                failure(&format!("CODE_{i}"), &format!("m {i}")),
            )?;
        }
        let s = reg.summary("a", 1.0, 60, 10).ok_or("missing")?;
        assert_eq!(s.errors_by_code.len(), 4);
        assert_eq!(s.errors_by_code.iter().map(|(_, n)| n).sum::<u64>(), 10_000);
        // Three kept codes and OTHER: the rest were never stored.
        assert_eq!(reg.locked().codes.len(), 4);
        assert_eq!(reg.locked().code_ids.len(), 4);
        reg.reset();
        assert!(reg.locked().codes.is_empty());
        assert!(reg.locked().code_ids.is_empty());
        reg.record(a, 2.0, 1.0, failure("AFTER", "reset"))?;
        let s = reg.summary("a", 2.0, 60, 10).ok_or("missing")?;
        assert_eq!(s.errors_by_code, vec![("AFTER".to_owned(), 1)]);
        Ok(())
    }

    #[test]
    fn a_full_queue_stores_samples_directly() -> Result<(), Box<dyn std::error::Error>> {
        let reg = Registry::new(Config {
            queue_capacity: 1,
            ..Config::default()
        })?;
        let op = reg.register("q")?.id;
        for i in 0..100 {
            reg.record(op, 5.0, f64::from(i), Outcome::Success)?;
        }
        let s = reg.summary("q", 5.0, 60, 0).ok_or("missing")?;
        assert_eq!(
            (
                s.headline.total,
                s.headline.latencies.min_ms,
                s.headline.latencies.max_ms
            ),
            (100, 0.0, 99.0)
        );
        Ok(())
    }

    #[test]
    fn empty_name_and_bad_durations_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let reg = registry()?;
        assert_eq!(reg.register(""), Err(RecordError::EmptyName));
        let op = reg.register("x")?.id;
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                reg.record(op, 0.0, bad, Outcome::Success),
                Err(RecordError::InvalidDuration)
            );
        }
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e19, MAX_TIME + 1.0] {
            assert_eq!(
                reg.record(op, bad, 1.0, Outcome::Success),
                Err(RecordError::InvalidTime)
            );
        }
        assert!(reg.summary("x", 0.0, 60, 1).is_none());
        assert_eq!(reg.last_time(), None);
        reg.record(op, MAX_TIME, 1.0, Outcome::Success)?;
        reg.record(op, 5.0, 1.0, Outcome::Success)?;
        assert_eq!(reg.last_time(), Some(5.0));
        assert_eq!((reg.note_clock_error(), reg.note_clock_error()), (1, 2));
        assert_eq!(reg.clock_errors(), 2);
        Ok(())
    }
}
