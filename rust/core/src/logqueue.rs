//! The log pipeline's queue and writer thread: entries handed over by the callers (converted
//! while they held the interpreter) are rendered, masked, batched and written here, in a thread
//! that never needs the Python interpreter.
//!
//! - **Bounded.** The queue holds at most `capacity` entries and `max_bytes` estimated bytes. A
//!   caller that finds it full waits up to `max_block` for the writer to take a batch (the
//!   binding waits with the interpreter released), then the entry is dropped and counted. Once
//!   a caller waited in vain, the next callers drop at once until the writer takes a batch again
//!   (a stuck sink costs one wait, not one per call).
//! - **Batched.** The writer sleeps until `WAKE_AFTER` entries wait, a flush asks, or
//!   `IDLE_WAIT` passed; it takes up to `BATCH_MAX` entries at once, renders them (through the
//!   fork gate: the masker's regexes keep caches behind locks) and writes them in whole-line
//!   chunks of at most `chunk_chars` characters.
//! - **Loss-proof sink.** A write that takes part of a chunk goes on with the rest; a failed
//!   write is tried again after each pause; what the sink never took goes to stderr (when the
//!   sink is not stderr itself), and once a sink failed every attempt, each later chunk gets one
//!   attempt until one succeeds. Nothing is written twice. Every entry ends up counted exactly
//!   once: `written`, `diverted` (to stderr) or `dropped`.
//! - **Reported.** Sink errors and losses are reported on stderr at once the first time, then at
//!   most every `REPORT_EVERY`, with the counts since the previous report.
//! - **Flush.** [`Pipeline::flush`] waits until every entry queued before the call is written.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use rfs_monitoring_core::logline::Entry;
//! use rfs_monitoring_core::logqueue::{Item, Limits, Pipeline, Settings, SharedBuffer};
//! use rfs_monitoring_core::mask::TextMasker;
//!
//! let out = SharedBuffer::default();
//! let pipeline = Pipeline::new(Limits::default(), None);
//! pipeline.set_sink(Some(Box::new(out.clone())), true);
//! pipeline.push(Item::Line("{\"hello\":1}".into()), 16);
//! pipeline.push(Item::Entry(Box::new(Entry { operation: "op".into(), ..Entry::default() })), 512);
//! assert!(pipeline.flush(Some(Duration::from_secs(10))));
//! let text = out.text();
//! assert!(text.starts_with("{\"hello\":1}\n{\"timestamp\":"));
//! assert_eq!(pipeline.state().written, 2);
//! ```
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_queue::ArrayQueue;

use crate::fork::ForkGate;
use crate::logline::{render, render_view, Entry, Frame, Packed};
use crate::mask::TextMasker;

/// An idle writer wakes by itself after this long.
pub const IDLE_WAIT: Duration = Duration::from_millis(100);
/// A sleeping writer is woken once this many entries wait (waking it for every entry would cost
/// a system call per entry).
pub const WAKE_AFTER: usize = 64;
/// The most entries the writer takes at once: small batches keep what a kill -9 can lose (the
/// queue plus the batch in hand) small.
pub const BATCH_MAX: usize = 256;
/// Time between two reports of sink trouble or losses.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);
/// Text buffers kept for reuse (at most 4 MB: 1024 of at most 4 KB; the default queue holds 1024).
const BUFFERS: usize = 1024;
/// Buffers larger than this are not kept.
const BUFFER_KEPT: usize = 4096;
/// How often the writer asks for fresh resource fields while it writes.
const RESOURCES_EVERY: Duration = Duration::from_secs(1);
/// How long a caller of an entry written directly (after SIGTERM) waits for it.
const DIRECT_WAIT: Duration = Duration::from_millis(500);

/// One queued entry.
#[derive(Debug)]
pub enum Item {
    /// An entry to render and mask.
    Entry(Box<Entry>),
    /// An entry to render and mask, in one allocation (what the Python package queues).
    Packed(Packed),
    /// A line rendered (and masked) by the caller, without its newline.
    Line(String),
}

/// The queue's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Entries the queue holds at most.
    pub capacity: usize,
    /// Estimated bytes the queue holds at most (one entry always fits).
    pub max_bytes: usize,
    /// How long a caller waits for room before its entry is dropped.
    pub max_block: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            capacity: 1024,
            max_bytes: 64 << 20,
            max_block: Duration::from_secs(1),
        }
    }
}

/// How entries are rendered and written.
#[derive(Clone)]
pub struct Settings {
    /// Masks every line's free text.
    pub masker: Arc<TextMasker>,
    /// `"service_name":...,"environment":...`.
    pub fixed_json: String,
    /// `memory_usage_mb`'s JSON value.
    pub memory: String,
    /// `cpu_usage_percent`'s JSON value.
    pub cpu: String,
    /// Pauses (seconds) before each attempt at writing one chunk.
    pub pauses: Vec<f64>,
    /// Characters per write, whole lines only (a longer line goes alone).
    pub chunk_chars: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            masker: Arc::new(TextMasker::default()),
            fixed_json: r#""service_name":"rfs-framework","environment":"production""#.into(),
            memory: "null".into(),
            cpu: "null".into(),
            pauses: vec![0.0, 0.005, 0.05],
            chunk_chars: 262_144,
        }
    }
}

/// The pipeline's counters since it started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// Entries queued or in the writer's hands.
    pub pending: u64,
    /// Estimated bytes queued.
    pub queued_bytes: u64,
    /// Entries the sink took.
    pub written: u64,
    /// Entries written to stderr because the sink kept failing.
    pub diverted: u64,
    /// Entries lost (queue full past `max_block`, nowhere left to write, given up on).
    pub dropped: u64,
    /// Failed writes (each retried).
    pub sink_errors: u64,
    /// The last failed write's message (masked), and its Unix time.
    pub last_error: Option<(String, f64)>,
    /// Whether the sink is failing (entries go to stderr until a write succeeds).
    pub fallback_active: bool,
}

/// A `Write` into a shared buffer (for tests and examples).
#[derive(Debug, Clone, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// What was written so far.
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.0)).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A lock that a panic elsewhere never makes unusable (the data stays consistent: every
/// critical section here leaves it so before anything can panic).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

type Sink = Box<dyn Write + Send>;

struct Queue {
    items: VecDeque<(Item, usize)>,
    bytes: usize,
    /// Entries pushed (and counted as dropped at push) so far.
    pushed: u64,
    /// Entries written, diverted or dropped after they were queued.
    handled: u64,
    /// Batches taken so far.
    batches: u64,
    /// `batches` when a caller last waited for room in vain.
    stalled: Option<u64>,
    /// Bumped by `give_up`: a batch taken before is counted there, not by the writer.
    epoch: u64,
    sleeping: bool,
    started: bool,
    limits: Limits,
    /// Until then, callers wait for their own entry to be written (after SIGTERM).
    direct_until: Option<Instant>,
}

struct Counters {
    written: AtomicU64,
    diverted: AtomicU64,
    dropped: AtomicU64,
    sink_errors: AtomicU64,
    fallback_active: AtomicBool,
    last_error: Mutex<Option<(String, f64)>>,
}

struct Reports {
    at: Option<Instant>,
    /// (`sink_errors`, `diverted`, `dropped`) at the last report.
    counts: (u64, u64, u64),
}

struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the writer.
    wake: Condvar,
    /// Wakes callers waiting for room and flushers.
    progress: Condvar,
    /// Replaced whole on a change: a batch renders with the one it took.
    settings: Mutex<Arc<Settings>>,
    /// The sink, and whether what it never takes may go to stderr.
    sink: Mutex<(Option<Sink>, bool)>,
    counters: Counters,
    reports: Mutex<Reports>,
    gate: Option<&'static ForkGate>,
    /// Set by the writer once a second while it writes: the next caller refreshes the
    /// resource fields.
    resources_wanted: AtomicBool,
    /// Text buffers of written entries, for callers' next entries: the steady state allocates
    /// nothing (and frees nothing in another thread than the allocating one).
    buffers: ArrayQueue<String>,
}

/// The queue and its writer thread (started with the first entry). See the [module docs](self).
pub struct Pipeline {
    shared: Arc<Shared>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Pipeline {
    /// A pipeline with no sink yet (entries go to stdout until [`Pipeline::set_sink`]) and the
    /// default [`Settings`]. `gate`, when given, is the fork gate rendering runs through.
    #[must_use]
    pub fn new(limits: Limits, gate: Option<&'static ForkGate>) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue {
                    items: VecDeque::new(),
                    bytes: 0,
                    pushed: 0,
                    handled: 0,
                    batches: 0,
                    stalled: None,
                    epoch: 0,
                    sleeping: false,
                    started: false,
                    limits,
                    direct_until: None,
                }),
                wake: Condvar::new(),
                progress: Condvar::new(),
                settings: Mutex::new(Arc::new(Settings::default())),
                sink: Mutex::new((None, true)),
                counters: Counters {
                    written: AtomicU64::new(0),
                    diverted: AtomicU64::new(0),
                    dropped: AtomicU64::new(0),
                    sink_errors: AtomicU64::new(0),
                    fallback_active: AtomicBool::new(false),
                    last_error: Mutex::new(None),
                },
                reports: Mutex::new(Reports {
                    at: None,
                    counts: (0, 0, 0),
                }),
                gate,
                resources_wanted: AtomicBool::new(true),
                buffers: ArrayQueue::new(BUFFERS),
            }),
        }
    }

    /// Replace the sink (after the entries in the writer's hands are written to the old one).
    /// `fallback`: whether what the sink never takes may go to stderr (false when the sink is
    /// stderr). `None` writes to stdout.
    pub fn set_sink(&self, sink: Option<Box<dyn Write + Send>>, fallback: bool) {
        *lock(&self.shared.sink) = (sink, fallback);
        self.shared
            .counters
            .fallback_active
            .store(false, Ordering::SeqCst);
        lock(&self.shared.reports).at = None; // a new sink's first trouble is reported at once
    }

    /// Replace how entries are rendered (entries already queued are rendered the new way).
    pub fn set_settings(&self, settings: Settings) {
        *lock(&self.shared.settings) = Arc::new(settings);
    }

    /// Replace the masker only.
    pub fn set_masker(&self, masker: Arc<TextMasker>) {
        Arc::make_mut(&mut lock(&self.shared.settings)).masker = masker;
    }

    /// Replace the resource fields of the lines rendered from now on.
    pub fn set_resources(&self, memory: String, cpu: String) {
        let mut settings = lock(&self.shared.settings);
        let settings = Arc::make_mut(&mut settings);
        settings.memory = memory;
        settings.cpu = cpu;
    }

    /// The JSON values of the resource fields in force.
    #[must_use]
    pub fn resources(&self) -> (String, String) {
        let settings = lock(&self.shared.settings);
        (settings.memory.clone(), settings.cpu.clone())
    }

    /// Whether the caller should refresh the resource fields ([`Pipeline::set_resources`]):
    /// true for the first caller after the writer asked (once a second while it writes).
    pub fn resources_wanted(&self) -> bool {
        let wanted = &self.shared.resources_wanted;
        wanted.load(Ordering::Relaxed) && wanted.swap(false, Ordering::AcqRel)
    }

    /// An empty text buffer for a [`Packed`] entry: one of a written entry's, else a new one.
    #[must_use]
    pub fn buffer(&self) -> String {
        self.shared
            .buffers
            .pop()
            .unwrap_or_else(|| String::with_capacity(128))
    }

    /// Replace the bounds.
    pub fn set_limits(&self, limits: Limits) {
        lock(&self.shared.queue).limits = limits;
        self.shared.progress.notify_all();
    }

    /// From now on and for `seconds`, each caller waits (up to half a second) until its own
    /// entry is written: after SIGTERM the process may end at any moment after the call.
    pub fn set_direct(&self, seconds: f64) {
        let until = (seconds > 0.0 && seconds.is_finite())
            .then(|| Instant::now() + Duration::from_secs_f64(seconds.min(3600.0)));
        lock(&self.shared.queue).direct_until = until;
    }

    /// Queue `item` (estimated `size` bytes) if there is room, without waiting. `Err` gives the
    /// item back when the queue is full and the caller may wait (see [`Pipeline::push_waiting`]);
    /// `Ok(None)` when it was dropped at once (a caller already waited in vain since the
    /// writer's last batch). `Ok(Some(sequence))` when queued; a sequence above zero asks the
    /// caller to wait for it (direct mode, see [`Pipeline::wait_written`]).
    // The item comes back only when the queue is full: boxing it would allocate exactly then.
    #[allow(clippy::result_large_err)]
    pub fn try_push(&self, item: Item, size: usize) -> Result<Option<u64>, Item> {
        let mut queue = lock(&self.shared.queue);
        if Self::full(&queue, size) {
            if queue.stalled == Some(queue.batches) {
                drop(queue);
                self.lose(1);
                return Ok(None);
            }
            return Err(item);
        }
        Ok(Some(self.enqueue(&mut queue, item, size)))
    }

    /// Queue `item`, waiting up to `max_block` for room; false when it was dropped (counted).
    /// Call without the interpreter held.
    pub fn push_waiting(&self, item: Item, size: usize) -> Option<u64> {
        let shared = &self.shared;
        let mut queue = lock(&shared.queue);
        let taken = queue.batches;
        if queue.stalled == Some(taken) {
            drop(queue);
            self.lose(1);
            return None;
        }
        let deadline = Instant::now() + queue.limits.max_block;
        // Once the writer took a batch since this caller began to wait, the entry goes in even
        // if other callers filled the room again: a waiting caller is never starved.
        while Self::full(&queue, size) && queue.batches == taken {
            let now = Instant::now();
            if now >= deadline {
                queue.stalled = Some(taken);
                drop(queue);
                self.lose(1);
                return None;
            }
            self.start(&mut queue);
            if queue.sleeping {
                shared.wake.notify_one();
            }
            queue = shared
                .progress
                .wait_timeout(queue, (deadline - now).min(Duration::from_millis(10)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Some(self.enqueue(&mut queue, item, size))
    }

    /// Queue `item`, waiting for room as [`Pipeline::push_waiting`] does (the convenience of
    /// callers that hold no interpreter); false when it was dropped.
    pub fn push(&self, item: Item, size: usize) -> bool {
        let sequence = match self.try_push(item, size) {
            Ok(sequence) => sequence,
            Err(item) => self.push_waiting(item, size),
        };
        match sequence {
            Some(0) => true,
            Some(sequence) => {
                self.wait_written(sequence);
                true
            }
            None => false,
        }
    }

    /// Wait (up to half a second) until the entry with `sequence` is handled.
    pub fn wait_written(&self, sequence: u64) {
        self.wait_handled(sequence, Some(DIRECT_WAIT));
    }

    fn full(queue: &Queue, size: usize) -> bool {
        let depth = queue.items.len();
        depth >= queue.limits.capacity
            || (depth > 0 && queue.bytes.saturating_add(size) > queue.limits.max_bytes)
    }

    fn enqueue(&self, queue: &mut Queue, item: Item, size: usize) -> u64 {
        queue.items.push_back((item, size));
        queue.bytes += size;
        queue.pushed += 1;
        self.start(queue);
        let direct = match queue.direct_until {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                queue.direct_until = None;
                false
            }
            None => false,
        };
        if queue.sleeping && (direct || queue.items.len() >= WAKE_AFTER) {
            self.shared.wake.notify_one();
        }
        if direct {
            queue.pushed
        } else {
            0
        }
    }

    fn start(&self, queue: &mut Queue) {
        if queue.started {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let spawned = thread::Builder::new()
            .name("rfs-monitoring-log-writer".into())
            .spawn(move || run(&shared));
        // Without a thread (none can be made), flush writes in the caller's thread.
        queue.started = spawned.is_ok();
    }

    fn lose(&self, count: u64) {
        self.shared
            .counters
            .dropped
            .fetch_add(count, Ordering::SeqCst);
        maybe_report(&self.shared, false);
    }

    /// Wait until every entry queued before the call is handled; true when all of them reached
    /// the sink (none dropped or diverted meanwhile). `None` waits as long as it takes. Call
    /// without the interpreter held.
    pub fn flush(&self, timeout: Option<Duration>) -> bool {
        let counters = &self.shared.counters;
        let lost =
            || counters.dropped.load(Ordering::SeqCst) + counters.diverted.load(Ordering::SeqCst);
        let before = lost();
        let target = lock(&self.shared.queue).pushed;
        self.wait_handled(target, timeout) && lost() == before
    }

    fn wait_handled(&self, target: u64, timeout: Option<Duration>) -> bool {
        let shared = &self.shared;
        let deadline = timeout.map(|t| Instant::now() + t.min(Duration::from_secs(86_400)));
        let mut queue = lock(&shared.queue);
        if queue.handled < target && !queue.started {
            self.start(&mut queue);
            if !queue.started {
                // No writer thread: write here.
                drop(queue);
                while deliver_next(shared) {}
                queue = lock(&shared.queue);
            }
        }
        while queue.handled < target {
            if queue.sleeping {
                shared.wake.notify_one();
            }
            let wait = match deadline {
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    (deadline - now).min(Duration::from_millis(50))
                }
                None => Duration::from_millis(50),
            };
            queue = shared
                .progress
                .wait_timeout(queue, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Count every entry still queued or in the writer's hands as dropped (at exit, when the
    /// flush ran out of time) and return how many that was.
    pub fn give_up(&self) -> u64 {
        let mut queue = lock(&self.shared.queue);
        let left = queue.pushed - queue.handled;
        // Counted here: a batch in the writer's hands is not counted again when it finishes.
        queue.handled = queue.pushed;
        queue.epoch += 1;
        queue.items.clear();
        queue.bytes = 0;
        drop(queue);
        self.shared.progress.notify_all();
        if left > 0 {
            self.shared
                .counters
                .dropped
                .fetch_add(left, Ordering::SeqCst);
        }
        left
    }

    /// Report sink trouble and losses now (if any since the last report).
    pub fn report(&self) {
        maybe_report(&self.shared, true);
    }

    /// The counters.
    #[must_use]
    pub fn state(&self) -> State {
        let queue = lock(&self.shared.queue);
        let (pending, queued_bytes) = (queue.pushed - queue.handled, queue.bytes as u64);
        drop(queue);
        let counters = &self.shared.counters;
        State {
            pending,
            queued_bytes,
            written: counters.written.load(Ordering::SeqCst),
            diverted: counters.diverted.load(Ordering::SeqCst),
            dropped: counters.dropped.load(Ordering::SeqCst),
            sink_errors: counters.sink_errors.load(Ordering::SeqCst),
            last_error: lock(&counters.last_error).clone(),
            fallback_active: counters.fallback_active.load(Ordering::SeqCst),
        }
    }
}

/// The writer thread.
fn run(shared: &Shared) {
    let mut asked = Instant::now();
    loop {
        if asked.elapsed() >= RESOURCES_EVERY {
            shared.resources_wanted.store(true, Ordering::Release);
            asked = Instant::now();
        }
        {
            let mut queue = lock(&shared.queue);
            while queue.items.is_empty() {
                queue.sleeping = true;
                queue = shared
                    .wake
                    .wait_timeout(queue, IDLE_WAIT)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                queue.sleeping = false;
                if queue.items.is_empty() {
                    drop(queue);
                    maybe_report(shared, false);
                    queue = lock(&shared.queue);
                }
            }
        }
        deliver_next(shared);
    }
}

/// Take one batch from the queue and write it; false when the queue was empty.
fn deliver_next(shared: &Shared) -> bool {
    let (batch, epoch): (Vec<Item>, u64) = {
        let mut queue = lock(&shared.queue);
        if queue.items.is_empty() {
            return false;
        }
        let count = queue.items.len().min(BATCH_MAX);
        let mut freed = 0;
        let batch = queue
            .items
            .drain(..count)
            .map(|(item, size)| {
                freed += size;
                item
            })
            .collect();
        queue.bytes -= freed;
        queue.batches += 1;
        (batch, queue.epoch)
    };
    shared.progress.notify_all(); // room for waiting callers
    let count = batch.len() as u64;
    // A panic while rendering or writing loses this batch (counted), never the writer.
    let tally = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| deliver(shared, batch)))
        .unwrap_or((0, 0, count));
    let mut queue = lock(&shared.queue);
    if queue.epoch == epoch {
        queue.handled += count;
        let counters = &shared.counters;
        counters.written.fetch_add(tally.0, Ordering::SeqCst);
        counters.diverted.fetch_add(tally.1, Ordering::SeqCst);
        counters.dropped.fetch_add(tally.2, Ordering::SeqCst);
    }
    drop(queue);
    maybe_report(shared, false);
    shared.progress.notify_all();
    true
}

/// Render a batch and write it to the sink (or stderr); the entries written, diverted and
/// dropped.
fn deliver(shared: &Shared, batch: Vec<Item>) -> (u64, u64, u64) {
    let settings = Arc::clone(&lock(&shared.settings));
    let frame = Frame {
        fixed_json: &settings.fixed_json,
        memory: &settings.memory,
        cpu: &settings.cpu,
    };
    let render_all = || {
        let mut chunker = Chunker::new(settings.chunk_chars);
        for item in batch {
            match item {
                Item::Line(line) => chunker.line(|text| text.push_str(&line)),
                Item::Entry(entry) => {
                    chunker.line(|text| render(&entry, &frame, &settings.masker, text));
                }
                Item::Packed(entry) => {
                    chunker.line(|text| render_view(&entry.view(), &frame, &settings.masker, text));
                    let mut buffer = entry.into_buffer();
                    buffer.clear();
                    if buffer.capacity() <= BUFFER_KEPT {
                        let _ = shared.buffers.push(buffer);
                    }
                }
            }
        }
        chunker.finish()
    };
    let pieces = match shared.gate {
        Some(gate) => gate.run(render_all),
        None => render_all(),
    };
    let counters = &shared.counters;
    let mut sink = lock(&shared.sink);
    let fallback = sink.1;
    let failing = counters.fallback_active.load(Ordering::SeqCst);
    let outcomes = match sink.0.as_mut() {
        Some(target) => write_chunks(target, pieces, &settings.pauses, failing),
        None => write_chunks(&mut io::stdout().lock(), pieces, &settings.pauses, failing),
    };
    drop(sink);
    let mut tally = (0, 0, 0);
    for (count, rest, errors) in outcomes {
        let count = count as u64;
        if let Some(last) = errors.last() {
            counters
                .sink_errors
                .fetch_add(errors.len() as u64, Ordering::SeqCst);
            // Through the fork gate, as rendering: the masker's regexes keep caches behind locks.
            let masked = || settings.masker.mask(last).into_owned();
            let mut text = match shared.gate {
                Some(gate) => gate.run(masked),
                None => masked(),
            };
            if let Some((cut, _)) = text.char_indices().nth(300) {
                text.truncate(cut);
            }
            *lock(&counters.last_error) = Some((text, unix_now()));
        }
        match rest {
            None => {
                tally.0 += count;
                if counters.fallback_active.swap(false, Ordering::SeqCst) {
                    say("rfs-monitoring: the log sink works again; writing to it");
                }
            }
            Some(rest) => {
                if !counters.fallback_active.swap(true, Ordering::SeqCst) {
                    lock(&shared.reports).at = None; // report the switch now
                }
                let mut stderr = io::stderr().lock();
                if fallback && stderr.write_all(rest.as_bytes()).is_ok() {
                    let _ = stderr.flush();
                    tally.1 += count;
                } else {
                    tally.2 += count;
                }
            }
        }
    }
    tally
}

fn say(message: &str) {
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_all(format!("{message}\n").as_bytes());
    let _ = stderr.flush();
}

/// Report sink errors and losses since the last report: at once the first time, then at most
/// every [`REPORT_EVERY`] (or now, when `force`).
fn maybe_report(shared: &Shared, force: bool) {
    let counters = &shared.counters;
    let counts = (
        counters.sink_errors.load(Ordering::SeqCst),
        counters.diverted.load(Ordering::SeqCst),
        counters.dropped.load(Ordering::SeqCst),
    );
    let Ok(mut reports) = shared.reports.try_lock() else {
        return; // another thread reports
    };
    if counts == reports.counts {
        return;
    }
    let now = Instant::now();
    if !force
        && reports
            .at
            .is_some_and(|at| now.duration_since(at) < REPORT_EVERY)
    {
        return;
    }
    let (errors, diverted, dropped) = (
        counts.0 - reports.counts.0,
        counts.1 - reports.counts.1,
        counts.2 - reports.counts.2,
    );
    reports.at = Some(now);
    reports.counts = counts;
    drop(reports);
    let mut parts = Vec::new();
    if errors > 0 {
        let last = lock(&counters.last_error)
            .as_ref()
            .map_or_else(|| "None".to_owned(), |(text, _)| text.clone());
        parts.push(format!(
            "{errors} failed writes to the log sink (last: {last})"
        ));
    }
    if diverted > 0 {
        parts.push(format!("{diverted} entries written to stderr instead"));
    }
    if dropped > 0 {
        parts.push(format!("{dropped} entries lost"));
    }
    say(&format!(
        "rfs-monitoring: {} (totals: {} failed writes, {} to stderr, {} lost)",
        parts.join(", "),
        counts.0,
        counts.1,
        counts.2
    ));
}

/// Builds whole-line chunks of at most `limit` characters (a longer line goes alone), each line
/// written straight into its chunk.
///
/// Characters are counted only when a chunk comes near its limit: a character is at least one
/// byte, so while the bytes fit, the characters do (a batch of entries is far below the default
/// limit, so its lines are never counted).
pub struct Chunker {
    pieces: Vec<(String, usize)>,
    text: String,
    /// Bytes of the chunk being built, newlines included.
    bytes: usize,
    /// Its characters, when they were counted (kept exact from then on).
    chars: Option<usize>,
    count: usize,
    limit: usize,
}

fn char_count(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

impl Chunker {
    /// An empty chunker.
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            pieces: Vec::new(),
            text: String::with_capacity(limit.clamp(1024, 1 << 20)),
            bytes: 0,
            chars: None,
            count: 0,
            limit,
        }
    }

    /// Appends one line (without its newline), written by `write` at the end of the chunk.
    pub fn line(&mut self, write: impl FnOnce(&mut String)) {
        let start = self.text.len();
        write(&mut self.text);
        let bytes = self.text.len() - start;
        if self.count == 0 || self.bytes + bytes < self.limit {
            // It fits (the first line of a chunk always does); the characters are not counted.
            self.chars = None;
            self.bytes += bytes + 1;
            self.text.push('\n');
            self.count += 1;
            return;
        }
        let before = match self.chars {
            Some(chars) => chars,
            None => char_count(self.text.get(..start).unwrap_or("")),
        };
        let chars = char_count(self.text.get(start..).unwrap_or(""));
        if before + chars + 1 > self.limit {
            // The line starts the next chunk.
            let tail = self.text.split_off(start);
            self.pieces
                .push((std::mem::replace(&mut self.text, tail), self.count));
            (self.bytes, self.chars, self.count) = (bytes + 1, Some(chars + 1), 1);
        } else {
            self.bytes += bytes + 1;
            self.chars = Some(before + chars + 1);
            self.count += 1;
        }
        self.text.push('\n');
    }

    /// The chunks, each with its number of lines.
    #[must_use]
    pub fn finish(mut self) -> Vec<(String, usize)> {
        if self.count > 0 {
            self.pieces.push((self.text, self.count));
        }
        self.pieces
    }
}

/// Lines joined into pieces of at most `chunk_chars` characters (a longer line goes alone), each
/// made of whole lines ending with a newline, with the number of lines in each.
#[must_use]
pub fn chunks(lines: &[String], chunk_chars: usize) -> Vec<(String, usize)> {
    let mut chunker = Chunker::new(chunk_chars);
    for line in lines {
        chunker.line(|text| text.push_str(line));
    }
    chunker.finish()
}

/// Write all of `text` from `*offset` on, advancing `*offset` by what each write takes (a partial
/// write goes on with the rest; an interrupted one is tried again at once).
fn write_from(sink: &mut (impl Write + ?Sized), text: &[u8], offset: &mut usize) -> io::Result<()> {
    while *offset < text.len() {
        match sink.write(&text[*offset..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the sink took nothing",
                ))
            }
            Ok(taken) => *offset += taken,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// What became of one chunk: its line count, the text the sink did not take (`None` when it
/// took all of it) and the message of each failed attempt.
pub type ChunkOutcome = (usize, Option<String>, Vec<String>);

/// Write each chunk (whole lines, with its line count) to `sink`: a failed write is tried again
/// after each pause of `pauses`; once a chunk failed every attempt (or when the sink was already
/// `failing`), the next chunks get one attempt each until one succeeds. What a write took is never
/// written again. Returns, per chunk, its line count, the text the sink did not take (`None` when
/// all of it was written) and the message of each failed attempt (`OSError: ...`, as Python
/// names it).
pub fn write_chunks(
    sink: &mut (impl Write + ?Sized),
    pieces: Vec<(String, usize)>,
    pauses: &[f64],
    mut failing: bool,
) -> Vec<ChunkOutcome> {
    let mut outcomes = Vec::with_capacity(pieces.len());
    for (text, count) in pieces {
        let bytes = text.as_bytes();
        let mut offset = 0usize;
        let mut errors = Vec::new();
        let attempts: &[f64] = if failing || pauses.is_empty() {
            &[0.0]
        } else {
            pauses
        };
        let mut done = false;
        for &pause in attempts {
            if pause > 0.0 && pause.is_finite() {
                thread::sleep(Duration::from_secs_f64(pause.min(60.0)));
            }
            match write_from(sink, bytes, &mut offset) {
                Ok(()) => {
                    // The text was taken: a failing flush is reported, never written twice.
                    if let Err(err) = sink.flush() {
                        errors.push(format!("OSError: {err}"));
                    }
                    done = true;
                    break;
                }
                Err(err) => errors.push(format!("OSError: {err}")),
            }
        }
        failing = !done;
        let rest = if done {
            None
        } else {
            // `offset` is on a byte the sink did not take; a write takes whole bytes, so a
            // partial write may end inside a character: the rest is cut at a character boundary
            // at or before it (that character goes to the fallback whole).
            let mut start = offset.min(bytes.len());
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            Some(text[start..].to_owned())
        };
        outcomes.push((count, rest, errors));
    }
    outcomes
}

#[cfg(test)]
mod tests;
