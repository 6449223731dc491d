//! Several processes, one truth: segments in a shared directory.
//!
//! A registry opened with [`Registry::open_shared`] keeps its data where it always does (in
//! memory, behind the recording queue) and, from a background thread, writes a *snapshot* of
//! it to its own segment file in the directory. Every query of any process using the directory
//! merges its own state with the other segments: counts add exactly and the latency histograms
//! add bucket by bucket, so totals, failures, error breakdowns and quantiles are what one
//! registry fed every sample would answer.
//!
//! # Why snapshots and not memory-mapped buckets
//!
//! The crate forbids `unsafe`, and a memory map of a file another process writes is unsafe by
//! nature (the bytes change under a `&[u8]`). A snapshot written to `*.tmp` and `rename`d
//! over the segment is atomic: a reader sees the old file or the new one, never half of one,
//! and a process killed mid-write leaves a `.tmp` that compaction deletes. The recording hot
//! path does not change at all; the cost moves to the writer thread (one encode under the
//! storage lock, the write without it) and to readers (a decode per changed segment, cached by
//! size and modification time).
//!
//! # Files
//!
//! - `w-<pid>-<token>.seg`: one process's (one registry's) segment. The token is 64 random
//!   bits, so a reused PID never collides with a dead process's files.
//! - `w-<pid>-<token>.lock`: held with an exclusive `flock` (`File::lock`) for the registry's
//!   life; the kernel drops it on any death, SIGKILL included. A segment whose lock can be
//!   taken belongs to a dead process. The lock file is created under a temporary name, locked,
//!   then renamed, so no other process ever sees it unlocked while its owner lives.
//! - `archive.seg`: the merged data of dead processes, written by compaction, with the list of
//!   tokens it absorbed.
//! - `compact.lock`: taken with `try_lock` by the one process compacting.
//! - `quarantine/`: damaged segments, moved aside (the latest 32).
//!
//! A segment is a 60-byte header (magic, format version, pid, token, start time, write time,
//! generation, payload length, CRC32 of the payload) and a protobuf payload (prost): the
//! operations with their rings of buckets (error codes as strings: ids are per process),
//! lifetime totals (classic and native buckets, exemplars) and the process's resource samples.
//!
//! # Timing
//!
//! The writer thread writes every `sync_interval` (default 0.25 s) when anything changed, but
//! never spends more than about a tenth of its time writing: the interval stretches to ten
//! times the last write's cost. Each bucket keeps its encoded bytes from the last write until
//! it changes, so a write re-encodes only the current buckets and copies the rest. Readers
//! list the directory at most every 0.2 s (or twice the last listing's cost, for very large
//! segments), decoding only the segments whose size or modification time changed. Another
//! process's samples are thus visible within about half a second. A process killed with
//! SIGKILL loses what it recorded since its last write: at most one interval.
//!
//! Sizes, for scale (2-core shared VM): 1000 operations with traffic in every bucket of a week
//! make a 14 MB segment, written in about 40-60 ms and decoded in about 100 ms; a service with a
//! few dozen operations writes and reads a few hundred KB in a few ms. Queries over other
//! processes' segments read whole coarser buckets inside the window where they can (a week is
//! 7 daily buckets and the hourly ones at its edges, not 169 hourly ones).
//!
//! # Compaction and restarts
//!
//! At most every 2 s the writer thread tries `compact.lock`; the holder lists the directory
//! and, only when a segment's owner is dead, reads the archive, merges the dead segments into
//! `archive.seg` (written tmp + rename, listing their tokens), and only then deletes those
//! segments and lock files. Readers ignore any segment whose token the
//! archive lists, so a compaction that dies between the rename and the deletes doubles
//! nothing (the next one deletes the leftovers), and one that dies before the rename loses
//! nothing. Tokens are dropped from the list once their files are gone. The directory thus
//! holds the live processes' files plus a few, however many processes came and went, and a
//! restarted service sees the windows of the processes before it.
//!
//! The archive keeps the same rings as a process plus a daily ring over `archive_days`
//! (default 30), so `30d` windows work; data past it is dropped. Within a window longer than
//! the hourly ring (a week), the hour-of-day distribution comes from the hourly ring. Resource
//! samples are not archived: they describe live processes.
//!
//! # Damage
//!
//! A segment with a bad magic, version, length or checksum, or a payload that does not decode
//! or breaks an invariant, is skipped, moved to `quarantine/` and reported once (see
//! [`Registry::take_damage_reports`]); it never spoils another segment or a query.
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::fork::ForkGate;
use crate::histogram::CompactCounts;
use crate::registry::{
    new_tiers, tier_shapes, Config, ConfigError, Lifetime, OpData, Registry, State,
    CUMULATIVE_BOUNDS, OTHER,
};
use crate::ring::{trim, Bucket, ErrorEntry, Tier, ERRORS_PER_BUCKET};
// The derived messages: the reference the hand-written reader and writer are tested against.
#[cfg(test)]
use crate::histogram::BUCKET_COUNT;
#[cfg(test)]
use crate::registry::Exemplar;
#[cfg(test)]
use crate::ring::{ResourceBucket, ResourceTier};
#[cfg(test)]
use prost::Message;

/// The first eight bytes of every segment.
pub const MAGIC: [u8; 8] = *b"RFSSEG\r\n";
/// The segment format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the payload.
pub const HEADER_BYTES: usize = 60;
/// The archive's file name.
pub const ARCHIVE: &str = "archive.seg";
/// Longest `archive_days` accepted.
pub const MAX_ARCHIVE_DAYS: u64 = 366;
/// How often a reader lists the directory again.
const REFRESH: Duration = Duration::from_millis(200);
/// How often a process tries to compact.
const COMPACT_EVERY: Duration = Duration::from_secs(2);
/// A lock file still under its temporary name this long belongs to a process that died
/// while starting.
const STALE_NEW_LOCK: Duration = Duration::from_secs(60);

/// What a segment's header says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    /// The writer's process id (0 for the archive).
    pub pid: u32,
    /// The writer's random token (0 for the archive).
    pub token: u64,
    /// When the writer started, seconds since the epoch.
    pub started: f64,
    /// When this snapshot was written.
    pub written: f64,
    /// The writer's change counter at that time.
    pub generation: u64,
}

/// Why a segment was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentError {
    /// Shorter than its header or its payload.
    Truncated,
    /// Not a segment.
    Magic,
    /// A format this build does not read.
    Version(u32),
    /// Longer than header and payload.
    Length,
    /// The payload's CRC32 does not match.
    Checksum,
    /// The payload does not decode or breaks an invariant.
    Invalid(String),
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("truncated"),
            Self::Magic => f.write_str("not a segment (bad magic)"),
            Self::Version(v) => write!(f, "format version {v}, expected {FORMAT_VERSION}"),
            Self::Length => f.write_str("bytes past the payload"),
            Self::Checksum => f.write_str("checksum mismatch"),
            Self::Invalid(why) => write!(f, "invalid payload: {why}"),
        }
    }
}

impl std::error::Error for SegmentError {}

/// Why a shared registry could not be opened.
#[derive(Debug)]
pub enum SharedError {
    /// A setting out of range.
    Config(ConfigError),
    /// `archive_days` out of `1..=MAX_ARCHIVE_DAYS`.
    ArchiveDays(u64),
    /// The directory or the lock file could not be made.
    Io(io::Error),
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(err) => err.fmt(f),
            Self::ArchiveDays(d) => {
                write!(f, "archive_days must be 1..={MAX_ARCHIVE_DAYS}, got {d}")
            }
            Self::Io(err) => write!(f, "shared directory: {err}"),
        }
    }
}

impl std::error::Error for SharedError {}

/// Settings of a shared registry.
#[derive(Debug, Clone)]
pub struct SharedOptions {
    /// The directory the processes share (created if missing).
    pub dir: PathBuf,
    /// Days the archive keeps daily rollups.
    pub archive_days: u64,
    /// How often the writer thread writes this process's segment when something changed.
    pub sync_interval: Duration,
    /// The fork gate the writer thread runs its sections through (see [`crate::fork`]).
    pub gate: Option<&'static ForkGate>,
}

impl SharedOptions {
    /// Options for `dir` with the defaults: 30 archive days, a 0.25 s interval, no gate.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            archive_days: 30,
            sync_interval: Duration::from_millis(250),
            gate: None,
        }
    }
}

/// One process contributing to a shared directory, as [`Registry::workers`] lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct Worker {
    /// Its process id.
    pub pid: u32,
    /// Its segment token.
    pub token: u64,
    /// Whether it is the process asking.
    pub is_self: bool,
    /// When it started, seconds since the epoch.
    pub started: f64,
    /// When its segment was last written (for the process asking: its last write).
    pub written: f64,
    /// Samples of every operation in the window.
    pub total: u64,
    /// Failed samples.
    pub failures: u64,
    /// 99th percentile latency over every operation.
    pub p99_ms: f64,
    /// Mean resident memory over the last minute, MB.
    pub rss_mb: Option<f64>,
    /// Mean CPU over the last minute, percent.
    pub cpu_percent: Option<f64>,
}

/// The state of a shared directory, as seen by one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedStatus {
    /// The directory.
    pub dir: String,
    /// Segments read from other processes (live or not yet compacted).
    pub segments: usize,
    /// Whether an archive exists.
    pub archive: bool,
    /// Damaged segments moved to `quarantine/` by this process.
    pub quarantined: u64,
    /// Writes of this process's segment that failed.
    pub write_errors: u64,
    /// Compactions this process ran.
    pub compactions: u64,
}

/// Another process's segment (or the archive), decoded.
#[derive(Debug)]
pub(crate) struct Foreign {
    pub(crate) state: State,
    pub(crate) header: Header,
    pub(crate) archive: bool,
    pub(crate) absorbed: Vec<u64>,
    live: AtomicBool,
}

impl Foreign {
    pub(crate) fn is_live(&self) -> bool {
        !self.archive && self.live.load(Ordering::Relaxed)
    }
}

/// A decoded segment.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) header: Header,
    pub(crate) state: State,
    pub(crate) absorbed: Vec<u64>,
}

// -- the payload ------------------------------------------------------------------------------

/// The payload's schema as prost messages (tests check the hand-written reader and writer
/// against them).
#[cfg(test)]
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Segment {
        #[prost(string, repeated, tag = "1")]
        pub codes: Vec<String>,
        #[prost(message, repeated, tag = "2")]
        pub ops: Vec<Op>,
        #[prost(message, repeated, tag = "3")]
        pub resources: Vec<ResourceTier>,
        #[prost(fixed64, repeated, tag = "4")]
        pub absorbed: Vec<u64>,
        #[prost(uint64, tag = "5")]
        pub expired: u64,
        #[prost(double, tag = "6")]
        pub last_time: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Op {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, repeated, tag = "2")]
        pub tiers: Vec<Tier>,
        #[prost(message, optional, tag = "3")]
        pub life: Option<Life>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tier {
        #[prost(uint64, tag = "1")]
        pub width: u64,
        #[prost(uint64, tag = "2")]
        pub len: u64,
        #[prost(message, repeated, tag = "3")]
        pub buckets: Vec<Bucket>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Bucket {
        #[prost(uint64, tag = "1")]
        pub epoch: u64,
        #[prost(uint64, tag = "2")]
        pub total: u64,
        #[prost(uint64, tag = "3")]
        pub failures: u64,
        #[prost(double, tag = "4")]
        pub sum_ms: f64,
        #[prost(double, tag = "5")]
        pub min_ms: f64,
        #[prost(double, tag = "6")]
        pub max_ms: f64,
        /// Histogram bucket indexes, each as the gap from the previous one.
        #[prost(uint32, repeated, tag = "7")]
        pub index_gaps: Vec<u32>,
        #[prost(uint32, repeated, tag = "8")]
        pub counts: Vec<u32>,
        #[prost(message, repeated, tag = "9")]
        pub codes: Vec<CodeCount>,
        #[prost(message, repeated, tag = "10")]
        pub errors: Vec<Error>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CodeCount {
        #[prost(uint32, tag = "1")]
        pub code: u32,
        #[prost(uint64, tag = "2")]
        pub count: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Error {
        #[prost(uint32, tag = "1")]
        pub code: u32,
        #[prost(string, tag = "2")]
        pub message: String,
        #[prost(uint64, tag = "3")]
        pub count: u64,
        #[prost(double, tag = "4")]
        pub first_seen: f64,
        #[prost(double, tag = "5")]
        pub last_seen: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Life {
        #[prost(uint64, tag = "1")]
        pub total: u64,
        #[prost(uint64, tag = "2")]
        pub failures: u64,
        #[prost(double, tag = "3")]
        pub sum_ms: f64,
        #[prost(message, repeated, tag = "4")]
        pub codes: Vec<CodeCount>,
        #[prost(uint64, repeated, tag = "5")]
        pub buckets: Vec<u64>,
        #[prost(sint32, tag = "6")]
        pub native_offset: i32,
        #[prost(uint64, repeated, tag = "7")]
        pub native_counts: Vec<u64>,
        #[prost(uint64, tag = "8")]
        pub native_zero: u64,
        #[prost(message, repeated, tag = "9")]
        pub exemplars: Vec<Exemplar>,
        #[prost(double, tag = "10")]
        pub first_seen: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        #[prost(uint32, tag = "1")]
        pub slot: u32,
        #[prost(string, tag = "2")]
        pub trace_id: String,
        #[prost(string, tag = "3")]
        pub span_id: String,
        #[prost(double, tag = "4")]
        pub seconds: f64,
        #[prost(double, tag = "5")]
        pub t: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceTier {
        #[prost(uint64, tag = "1")]
        pub width: u64,
        #[prost(uint64, tag = "2")]
        pub len: u64,
        #[prost(message, repeated, tag = "3")]
        pub buckets: Vec<ResourceBucket>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceBucket {
        #[prost(uint64, tag = "1")]
        pub epoch: u64,
        #[prost(uint64, tag = "2")]
        pub samples: u64,
        #[prost(double, tag = "3")]
        pub rss_mb_sum: f64,
        #[prost(double, tag = "4")]
        pub cpu_percent_sum: f64,
    }
}

#[cfg(test)]
fn bucket_to_proto(bucket: &Bucket) -> proto::Bucket {
    let entries = bucket.counts.entries();
    let mut previous = 0;
    let mut index_gaps = Vec::with_capacity(entries.len());
    let mut counts = Vec::with_capacity(entries.len());
    for (index, count) in entries {
        index_gaps.push(u32::try_from(index - previous).unwrap_or(u32::MAX));
        counts.push(count);
        previous = index;
    }
    proto::Bucket {
        epoch: bucket.epoch,
        total: bucket.total,
        failures: bucket.failures,
        sum_ms: bucket.sum_ms,
        min_ms: bucket.min_ms,
        max_ms: bucket.max_ms,
        index_gaps,
        counts,
        codes: code_counts(&bucket.codes),
        errors: bucket
            .errors
            .iter()
            .map(|e| proto::Error {
                code: e.code,
                message: e.message.to_string(),
                count: e.count,
                first_seen: e.first_seen,
                last_seen: e.last_seen,
            })
            .collect(),
    }
}

#[cfg(test)]
fn code_counts(codes: &[(u32, u64)]) -> Vec<proto::CodeCount> {
    codes
        .iter()
        .map(|&(code, count)| proto::CodeCount { code, count })
        .collect()
}

#[cfg(test)]
fn life_to_proto(life: &Lifetime) -> proto::Life {
    let (native_offset, native_counts) = life.native.dense();
    proto::Life {
        total: life.total,
        failures: life.failures,
        sum_ms: life.sum_ms,
        codes: code_counts(&life.codes),
        buckets: life.buckets.to_vec(),
        native_offset,
        native_counts: native_counts.to_vec(),
        native_zero: life.native.zero_count(),
        exemplars: life
            .exemplars
            .iter()
            .enumerate()
            .filter_map(|(slot, e)| {
                e.as_ref().map(|e| proto::Exemplar {
                    slot: u32::try_from(slot).unwrap_or(u32::MAX),
                    trace_id: e.trace_id.clone(),
                    span_id: e.span_id.clone(),
                    seconds: e.seconds,
                    t: e.t,
                })
            })
            .collect(),
        first_seen: life.first_seen,
    }
}

#[cfg(test)]
fn state_to_proto(state: &State, absorbed: &[u64]) -> proto::Segment {
    proto::Segment {
        codes: state.codes.iter().map(ToString::to_string).collect(),
        ops: state
            .ops
            .iter()
            .map(|op| proto::Op {
                name: op.name.to_string(),
                tiers: op
                    .tiers
                    .iter()
                    .map(|tier| proto::Tier {
                        width: tier.width,
                        len: tier.len,
                        buckets: tier.buckets.iter().map(bucket_to_proto).collect(),
                    })
                    .collect(),
                life: Some(life_to_proto(&op.life)),
            })
            .collect(),
        resources: state
            .resources
            .iter()
            .map(|tier| proto::ResourceTier {
                width: tier.width,
                len: tier.len,
                buckets: tier
                    .buckets
                    .iter()
                    .map(|b| proto::ResourceBucket {
                        epoch: b.epoch,
                        samples: b.samples,
                        rss_mb_sum: b.rss_mb_sum,
                        cpu_percent_sum: b.cpu_percent_sum,
                    })
                    .collect(),
            })
            .collect(),
        absorbed: absorbed.to_vec(),
        expired: state.expired,
        last_time: state.last_time,
    }
}

// The payload is written by hand, bottom-up (each nested message into its own buffer, then
// copied behind its length), in exactly the wire format of the `proto` messages above, which
// decode it. Measured on 1000 operations with a week of data (14 MB): the derived encoder
// took 179 ms a write (mostly allocations and repeated length passes); this one, with the
// unchanged buckets' bytes kept from the last write, a small fraction of it.
mod wire {
    use prost::encoding::{double, encode_key, encode_varint, sint32, uint32, uint64, WireType};

    pub fn message(out: &mut Vec<u8>, tag: u32, body: &[u8]) {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(body.len() as u64, out);
        out.extend_from_slice(body);
    }

    pub fn text(out: &mut Vec<u8>, tag: u32, text: &str) {
        message(out, tag, text.as_bytes());
    }

    pub fn u64(out: &mut Vec<u8>, tag: u32, value: u64) {
        if value != 0 {
            uint64::encode(tag, &value, out);
        }
    }

    pub fn u32(out: &mut Vec<u8>, tag: u32, value: u32) {
        if value != 0 {
            uint32::encode(tag, &value, out);
        }
    }

    pub fn i32(out: &mut Vec<u8>, tag: u32, value: i32) {
        if value != 0 {
            sint32::encode(tag, &value, out);
        }
    }

    pub fn f64(out: &mut Vec<u8>, tag: u32, value: f64) {
        if value.to_bits() != 0 {
            double::encode(tag, &value, out);
        }
    }

    pub fn packed_u32(out: &mut Vec<u8>, tag: u32, values: &[u32]) {
        if !values.is_empty() {
            uint32::encode_packed(tag, values, out);
        }
    }

    pub fn packed_u64(out: &mut Vec<u8>, tag: u32, values: &[u64]) {
        if !values.is_empty() {
            uint64::encode_packed(tag, values, out);
        }
    }

    pub fn packed_fixed64(out: &mut Vec<u8>, tag: u32, values: &[u64]) {
        if !values.is_empty() {
            prost::encoding::fixed64::encode_packed(tag, values, out);
        }
    }

    /// A `(code, count)` pair (`proto::CodeCount`).
    pub fn code_count(out: &mut Vec<u8>, scratch: &mut Vec<u8>, tag: u32, code: u32, n: u64) {
        scratch.clear();
        u32(scratch, 1, code);
        u64(scratch, 2, n);
        message(out, tag, scratch);
    }
}

/// `proto::Bucket`'s bytes.
fn bucket_bytes(bucket: &Bucket) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let mut scratch = Vec::new();
    wire::u64(&mut out, 1, bucket.epoch);
    wire::u64(&mut out, 2, bucket.total);
    wire::u64(&mut out, 3, bucket.failures);
    wire::f64(&mut out, 4, bucket.sum_ms);
    wire::f64(&mut out, 5, bucket.min_ms);
    wire::f64(&mut out, 6, bucket.max_ms);
    let entries = bucket.counts.entries();
    let mut previous = 0;
    let mut gaps = Vec::with_capacity(entries.len());
    let mut counts = Vec::with_capacity(entries.len());
    for (index, count) in entries {
        gaps.push(u32::try_from(index - previous).unwrap_or(u32::MAX));
        counts.push(count);
        previous = index;
    }
    wire::packed_u32(&mut out, 7, &gaps);
    wire::packed_u32(&mut out, 8, &counts);
    for &(code, n) in &bucket.codes {
        wire::code_count(&mut out, &mut scratch, 9, code, n);
    }
    for e in &bucket.errors {
        scratch.clear();
        wire::u32(&mut scratch, 1, e.code);
        wire::text(&mut scratch, 2, &e.message);
        wire::u64(&mut scratch, 3, e.count);
        wire::f64(&mut scratch, 4, e.first_seen);
        wire::f64(&mut scratch, 5, e.last_seen);
        wire::message(&mut out, 10, &scratch);
    }
    out
}

/// Keeps every bucket's bytes for the next write (a bucket's bytes go when it changes).
pub(crate) fn keep_bucket_bytes(state: &mut State) {
    for op in &mut state.ops {
        for tier in &mut op.tiers {
            for bucket in &mut tier.buckets {
                if bucket.encoded.is_none() {
                    bucket.encoded = Some(bucket_bytes(bucket).into_boxed_slice());
                }
            }
        }
    }
}

fn life_bytes(out: &mut Vec<u8>, life: &Lifetime) {
    let mut scratch = Vec::new();
    wire::u64(out, 1, life.total);
    wire::u64(out, 2, life.failures);
    wire::f64(out, 3, life.sum_ms);
    for &(code, n) in &life.codes {
        wire::code_count(out, &mut scratch, 4, code, n);
    }
    wire::packed_u64(out, 5, &life.buckets);
    let (offset, counts) = life.native.dense();
    wire::i32(out, 6, offset);
    wire::packed_u64(out, 7, counts);
    wire::u64(out, 8, life.native.zero_count());
    for (slot, e) in life.exemplars.iter().enumerate() {
        if let Some(e) = e {
            scratch.clear();
            wire::u32(&mut scratch, 1, u32::try_from(slot).unwrap_or(u32::MAX));
            wire::text(&mut scratch, 2, &e.trace_id);
            wire::text(&mut scratch, 3, &e.span_id);
            wire::f64(&mut scratch, 4, e.seconds);
            wire::f64(&mut scratch, 5, e.t);
            wire::message(out, 9, &scratch);
        }
    }
    wire::f64(out, 10, life.first_seen);
}

/// The payload (`proto::Segment`'s bytes); a bucket's kept bytes are used when present.
fn payload_bytes(state: &State, absorbed: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    for code in &state.codes {
        wire::text(&mut out, 1, code);
    }
    let (mut op_buf, mut tier_buf, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
    for op in &state.ops {
        op_buf.clear();
        wire::text(&mut op_buf, 1, &op.name);
        for tier in &op.tiers {
            tier_buf.clear();
            wire::u64(&mut tier_buf, 1, tier.width);
            wire::u64(&mut tier_buf, 2, tier.len);
            for bucket in &tier.buckets {
                match &bucket.encoded {
                    Some(bytes) => wire::message(&mut tier_buf, 3, bytes),
                    None => wire::message(&mut tier_buf, 3, &bucket_bytes(bucket)),
                }
            }
            wire::message(&mut op_buf, 2, &tier_buf);
        }
        scratch.clear();
        life_bytes(&mut scratch, &op.life);
        wire::message(&mut op_buf, 3, &scratch);
        wire::message(&mut out, 2, &op_buf);
    }
    for tier in &state.resources {
        tier_buf.clear();
        wire::u64(&mut tier_buf, 1, tier.width);
        wire::u64(&mut tier_buf, 2, tier.len);
        for b in &tier.buckets {
            scratch.clear();
            wire::u64(&mut scratch, 1, b.epoch);
            wire::u64(&mut scratch, 2, b.samples);
            wire::f64(&mut scratch, 3, b.rss_mb_sum);
            wire::f64(&mut scratch, 4, b.cpu_percent_sum);
            wire::message(&mut tier_buf, 3, &scratch);
        }
        wire::message(&mut out, 3, &tier_buf);
    }
    wire::packed_fixed64(&mut out, 4, absorbed);
    wire::u64(&mut out, 5, state.expired);
    wire::f64(&mut out, 6, state.last_time);
    out
}

/// Encodes a segment: header, then the payload.
pub(crate) fn encode(header: &Header, state: &State, absorbed: &[u64]) -> Vec<u8> {
    let payload = payload_bytes(state, absorbed);
    let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&header.pid.to_le_bytes());
    out.extend_from_slice(&header.token.to_le_bytes());
    out.extend_from_slice(&header.started.to_le_bytes());
    out.extend_from_slice(&header.written.to_le_bytes());
    out.extend_from_slice(&header.generation.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], SegmentError> {
    bytes
        .get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(SegmentError::Truncated)
}

fn invalid(why: &str) -> SegmentError {
    SegmentError::Invalid(why.to_owned())
}

/// Decodes and checks a segment.
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded, SegmentError> {
    if bytes.len() < HEADER_BYTES {
        return Err(if bytes.len() >= 8 && field::<8>(bytes, 0)? != MAGIC {
            SegmentError::Magic
        } else {
            SegmentError::Truncated
        });
    }
    if field::<8>(bytes, 0)? != MAGIC {
        return Err(SegmentError::Magic);
    }
    let version = u32::from_le_bytes(field(bytes, 8)?);
    if version != FORMAT_VERSION {
        return Err(SegmentError::Version(version));
    }
    let header = Header {
        pid: u32::from_le_bytes(field(bytes, 12)?),
        token: u64::from_le_bytes(field(bytes, 16)?),
        started: f64::from_le_bytes(field(bytes, 24)?),
        written: f64::from_le_bytes(field(bytes, 32)?),
        generation: u64::from_le_bytes(field(bytes, 40)?),
    };
    let length = u64::from_le_bytes(field(bytes, 48)?);
    let crc = u32::from_le_bytes(field(bytes, 56)?);
    let payload = &bytes[HEADER_BYTES..];
    match (payload.len() as u64).cmp(&length) {
        std::cmp::Ordering::Less => return Err(SegmentError::Truncated),
        std::cmp::Ordering::Greater => return Err(SegmentError::Length),
        std::cmp::Ordering::Equal => {}
    }
    if crc32fast::hash(payload) != crc {
        return Err(SegmentError::Checksum);
    }
    let (state, absorbed) = read::segment(payload)?;
    Ok(Decoded {
        header,
        state,
        absorbed,
    })
}

// A hand-written reader of the payload, in the same wire format: it builds the registry's
// buckets directly, without the derived messages' intermediate vectors and strings (a third
// of the allocations, which were most of a decode's time).
mod read {
    use std::collections::VecDeque;
    use std::sync::Arc;

    use prost::encoding::{decode_varint, WireType};

    use super::{ring_shape, sorted_epochs, SegmentError, CUMULATIVE_BOUNDS};
    use crate::histogram::{CompactCounts, BUCKET_COUNT};
    use crate::registry::{Exemplar, Lifetime, OpData, State};
    use crate::ring::{Bucket, ErrorEntry, ResourceBucket, ResourceTier, Tier};

    type Result<T> = std::result::Result<T, SegmentError>;

    /// The widest native bucket index accepted either way.
    const NATIVE_INDEX_LIMIT: i32 = 4_096;

    fn bad(why: &str) -> SegmentError {
        SegmentError::Invalid(why.to_owned())
    }

    /// A cursor over one message's fields.
    pub struct Fields<'a>(&'a [u8]);

    impl<'a> Fields<'a> {
        pub fn new(bytes: &'a [u8]) -> Self {
            Self(bytes)
        }

        /// The next field's number and wire type, `None` at the end.
        pub fn next(&mut self) -> Result<Option<(u32, WireType)>> {
            if self.0.is_empty() {
                return Ok(None);
            }
            let key = self.varint()?;
            let tag = u32::try_from(key >> 3).map_err(|_| bad("a field number out of range"))?;
            let wire = WireType::try_from(key & 7).map_err(|_| bad("an unknown wire type"))?;
            if tag == 0 {
                return Err(bad("field number 0"));
            }
            Ok(Some((tag, wire)))
        }

        pub fn varint(&mut self) -> Result<u64> {
            decode_varint(&mut self.0).map_err(|e| SegmentError::Invalid(e.to_string()))
        }

        pub fn u32(&mut self) -> Result<u32> {
            u32::try_from(self.varint()?).map_err(|_| bad("a 32-bit value out of range"))
        }

        pub fn fixed64(&mut self) -> Result<u64> {
            let (head, rest) = self
                .0
                .split_first_chunk::<8>()
                .ok_or_else(|| bad("a fixed64 past the end"))?;
            self.0 = rest;
            Ok(u64::from_le_bytes(*head))
        }

        pub fn f64(&mut self) -> Result<f64> {
            Ok(f64::from_bits(self.fixed64()?))
        }

        pub fn bytes(&mut self) -> Result<&'a [u8]> {
            let len = usize::try_from(self.varint()?).map_err(|_| bad("a length out of range"))?;
            if len > self.0.len() {
                return Err(bad("a length past the end"));
            }
            let (head, rest) = self.0.split_at(len);
            self.0 = rest;
            Ok(head)
        }

        pub fn text(&mut self) -> Result<&'a str> {
            std::str::from_utf8(self.bytes()?).map_err(|_| bad("a string that is not UTF-8"))
        }

        /// Skips a field of an unknown number.
        pub fn skip(&mut self, wire: WireType) -> Result<()> {
            match wire {
                WireType::Varint => self.varint().map(drop),
                WireType::SixtyFourBit => self.fixed64().map(drop),
                WireType::LengthDelimited => self.bytes().map(drop),
                WireType::ThirtyTwoBit => {
                    let rest = self
                        .0
                        .get(4..)
                        .ok_or_else(|| bad("a fixed32 past the end"))?;
                    self.0 = rest;
                    Ok(())
                }
                WireType::StartGroup | WireType::EndGroup => Err(bad("a group")),
            }
        }

        /// A repeated varint field, packed or not, appended to `out`.
        pub fn varints(&mut self, wire: WireType, out: &mut Vec<u64>) -> Result<()> {
            if wire == WireType::LengthDelimited {
                let mut packed = Fields(self.bytes()?);
                while !packed.0.is_empty() {
                    out.push(packed.varint()?);
                }
                Ok(())
            } else {
                out.push(self.varint()?);
                Ok(())
            }
        }
    }

    fn expect(wire: WireType, want: WireType) -> Result<()> {
        if wire == want {
            Ok(())
        } else {
            Err(bad("a field of the wrong wire type"))
        }
    }

    /// Reused buffers, so a bucket costs no allocation beyond its own.
    #[derive(Default)]
    struct Scratch {
        gaps: Vec<u64>,
        counts: Vec<u64>,
        /// The highest code id seen, checked against the code table at the end.
        max_code: Option<u32>,
    }

    impl Scratch {
        fn code(&mut self, code: u32) -> u32 {
            self.max_code = Some(self.max_code.map_or(code, |m| m.max(code)));
            code
        }
    }

    fn code_count(bytes: &[u8], scratch: &mut Scratch) -> Result<(u32, u64)> {
        let (mut code, mut count) = (0, 0);
        let mut f = Fields::new(bytes);
        while let Some((tag, wire)) = f.next()? {
            match tag {
                1 => code = f.u32()?,
                2 => count = f.varint()?,
                _ => f.skip(wire)?,
            }
        }
        Ok((scratch.code(code), count))
    }

    fn error(bytes: &[u8], scratch: &mut Scratch) -> Result<ErrorEntry> {
        let mut entry = ErrorEntry {
            code: 0,
            message: Arc::from(""),
            count: 0,
            first_seen: 0.0,
            last_seen: 0.0,
        };
        let mut f = Fields::new(bytes);
        while let Some((tag, wire)) = f.next()? {
            match tag {
                1 => entry.code = f.u32()?,
                2 => entry.message = Arc::from(f.text()?),
                3 => entry.count = f.varint()?,
                4 => entry.first_seen = f.f64()?,
                5 => entry.last_seen = f.f64()?,
                _ => f.skip(wire)?,
            }
        }
        scratch.code(entry.code);
        Ok(entry)
    }

    fn bucket(bytes: &[u8], scratch: &mut Scratch) -> Result<Bucket> {
        let mut b = Bucket {
            epoch: 0,
            total: 0,
            failures: 0,
            sum_ms: 0.0,
            min_ms: 0.0,
            max_ms: 0.0,
            counts: CompactCounts::default(),
            codes: Vec::new(),
            errors: Vec::new(),
            encoded: None,
        };
        scratch.gaps.clear();
        scratch.counts.clear();
        let mut f = Fields::new(bytes);
        while let Some((tag, wire)) = f.next()? {
            match tag {
                1 => b.epoch = f.varint()?,
                2 => b.total = f.varint()?,
                3 => b.failures = f.varint()?,
                4 => b.sum_ms = f.f64()?,
                5 => b.min_ms = f.f64()?,
                6 => b.max_ms = f.f64()?,
                7 => f.varints(wire, &mut scratch.gaps)?,
                8 => f.varints(wire, &mut scratch.counts)?,
                9 => {
                    expect(wire, WireType::LengthDelimited)?;
                    let pair = code_count(f.bytes()?, scratch)?;
                    b.codes.push(pair);
                }
                10 => {
                    expect(wire, WireType::LengthDelimited)?;
                    let entry = error(f.bytes()?, scratch)?;
                    b.errors.push(entry);
                }
                _ => f.skip(wire)?,
            }
        }
        if scratch.gaps.len() != scratch.counts.len() {
            return Err(bad("histogram indexes and counts differ in length"));
        }
        let mut index: u64 = 0;
        for (gap, count) in scratch.gaps.iter().zip(&scratch.counts) {
            index = index.saturating_add(*gap);
            if index >= BUCKET_COUNT as u64 {
                return Err(bad("a histogram index past the last bucket"));
            }
            let count = u32::try_from(*count).map_err(|_| bad("a count out of range"))?;
            b.counts.add(index as usize, count);
        }
        Ok(b)
    }

    fn tier(bytes: &[u8], scratch: &mut Scratch) -> Result<Tier> {
        let (mut width, mut len) = (0, 0);
        let mut buckets = VecDeque::new();
        let mut f = Fields::new(bytes);
        while let Some((tag, wire)) = f.next()? {
            match tag {
                1 => width = f.varint()?,
                2 => len = f.varint()?,
                3 => {
                    expect(wire, WireType::LengthDelimited)?;
                    buckets.push_back(bucket(f.bytes()?, scratch)?);
                }
                _ => f.skip(wire)?,
            }
        }
        ring_shape(width, len)?;
        let ordered: Vec<u64> = buckets.iter().map(|b| b.epoch).collect();
        sorted_epochs(&ordered, |e| *e, width)?;
        Ok(Tier {
            width,
            len,
            buckets,
        })
    }

    fn exemplar(bytes: &[u8], life: &mut Lifetime) -> Result<()> {
        let mut slot = 0usize;
        let mut e = Exemplar {
            trace_id: String::new(),
            span_id: String::new(),
            seconds: 0.0,
            t: 0.0,
        };
        let mut f = Fields::new(bytes);
        while let Some((tag, wire)) = f.next()? {
            match tag {
                1 => slot = f.u32()? as usize,
                2 => f.text()?.clone_into(&mut e.trace_id),
                3 => f.text()?.clone_into(&mut e.span_id),
                4 => e.seconds = f.f64()?,
                5 => e.t = f.f64()?,
                _ => f.skip(wire)?,
            }
        }
        if slot > CUMULATIVE_BOUNDS.len() {
            return Err(bad("an exemplar past the last bucket"));
        }
        if life.exemplars.is_empty() {
            life.exemplars.resize(CUMULATIVE_BOUNDS.len() + 1, None);
        }
        if let Some(target) = life.exemplars.get_mut(slot) {
            *target = Some(e);
        }
        Ok(())
    }

    fn life(bytes: &[u8], scratch: &mut Scratch) -> Result<Lifetime> {
        let mut out = Lifetime::new();
        let mut buckets = Vec::new();
        let mut native = Vec::new();
        let (mut offset, mut zero) = (0i32, 0u64);
        let mut f = Fields::new(bytes);
        while let Some((tag, wire)) = f.next()? {
            match tag {
                1 => out.total = f.varint()?,
                2 => out.failures = f.varint()?,
                3 => out.sum_ms = f.f64()?,
                4 => {
                    expect(wire, WireType::LengthDelimited)?;
                    let pair = code_count(f.bytes()?, scratch)?;
                    out.codes.push(pair);
                }
                5 => f.varints(wire, &mut buckets)?,
                6 => {
                    // sint32: zigzag.
                    let raw = f.varint()?;
                    let value = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
                    offset = i32::try_from(value).map_err(|_| bad("an offset out of range"))?;
                }
                7 => f.varints(wire, &mut native)?,
                8 => zero = f.varint()?,
                9 => {
                    expect(wire, WireType::LengthDelimited)?;
                    exemplar(f.bytes()?, &mut out)?;
                }
                10 => out.first_seen = f.f64()?,
                _ => f.skip(wire)?,
            }
        }
        out.buckets = buckets
            .try_into()
            .map_err(|_| bad("lifetime buckets of the wrong length"))?;
        // Durations from a nanosecond to the trackable maximum (about 73 minutes) have native
        // bucket indexes within about -1914..=775: anything far outside is not ours, and
        // would make a merge allocate without bound.
        let end = i64::from(offset) + native.len() as i64;
        if offset < -NATIVE_INDEX_LIMIT || end > i64::from(NATIVE_INDEX_LIMIT) {
            return Err(bad("native histogram buckets out of range"));
        }
        out.native.add_zero(zero);
        for (index, count) in (offset..).zip(native) {
            out.native.add_bucket(index, count);
        }
        Ok(out)
    }

    fn op(bytes: &[u8], scratch: &mut Scratch) -> Result<OpData> {
        let mut name: Option<Arc<str>> = None;
        let mut tiers = Vec::new();
        let mut lifetime = None;
        let mut f = Fields::new(bytes);
        while let Some((tag, wire)) = f.next()? {
            match tag {
                1 => name = Some(Arc::from(f.text()?)),
                2 => {
                    expect(wire, WireType::LengthDelimited)?;
                    tiers.push(tier(f.bytes()?, scratch)?);
                }
                3 => {
                    expect(wire, WireType::LengthDelimited)?;
                    lifetime = Some(life(f.bytes()?, scratch)?);
                }
                _ => f.skip(wire)?,
            }
        }
        let name = name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("an empty operation name"))?;
        let life = lifetime.ok_or_else(|| bad("an operation without totals"))?;
        let own_codes = life.codes.iter().map(|(code, _)| *code).collect();
        Ok(OpData {
            name,
            tiers,
            life,
            own_codes,
        })
    }

    fn resources(bytes: &[u8]) -> Result<ResourceTier> {
        let (mut width, mut len) = (0, 0);
        let mut buckets = VecDeque::new();
        let mut f = Fields::new(bytes);
        while let Some((tag, wire)) = f.next()? {
            match tag {
                1 => width = f.varint()?,
                2 => len = f.varint()?,
                3 => {
                    expect(wire, WireType::LengthDelimited)?;
                    let mut b = ResourceBucket {
                        epoch: 0,
                        samples: 0,
                        rss_mb_sum: 0.0,
                        cpu_percent_sum: 0.0,
                    };
                    let mut g = Fields::new(f.bytes()?);
                    while let Some((tag, wire)) = g.next()? {
                        match tag {
                            1 => b.epoch = g.varint()?,
                            2 => b.samples = g.varint()?,
                            3 => b.rss_mb_sum = g.f64()?,
                            4 => b.cpu_percent_sum = g.f64()?,
                            _ => g.skip(wire)?,
                        }
                    }
                    buckets.push_back(b);
                }
                _ => f.skip(wire)?,
            }
        }
        ring_shape(width, len)?;
        let ordered: Vec<u64> = buckets.iter().map(|b| b.epoch).collect();
        sorted_epochs(&ordered, |e| *e, width)?;
        Ok(ResourceTier {
            width,
            len,
            buckets,
        })
    }

    /// The state and the absorbed tokens of a payload.
    pub fn segment(payload: &[u8]) -> Result<(State, Vec<u64>)> {
        let mut state = State::empty(&[]);
        let mut absorbed = Vec::new();
        let mut scratch = Scratch::default();
        let mut f = Fields::new(payload);
        while let Some((tag, wire)) = f.next()? {
            match tag {
                1 => {
                    let code: Arc<str> = Arc::from(f.text()?);
                    let id = u32::try_from(state.codes.len()).map_err(|_| bad("too many codes"))?;
                    state.code_ids.insert(Arc::clone(&code), id);
                    state.codes.push(code);
                }
                2 => {
                    expect(wire, WireType::LengthDelimited)?;
                    let data = op(f.bytes()?, &mut scratch)?;
                    let id =
                        u32::try_from(state.ops.len()).map_err(|_| bad("too many operations"))?;
                    if state.names.insert(Arc::clone(&data.name), id).is_some() {
                        return Err(bad("a repeated operation name"));
                    }
                    state.ops.push(data);
                }
                3 => {
                    expect(wire, WireType::LengthDelimited)?;
                    state.resources.push(resources(f.bytes()?)?);
                }
                4 => match wire {
                    WireType::LengthDelimited => {
                        let mut packed = Fields::new(f.bytes()?);
                        while !packed.0.is_empty() {
                            absorbed.push(packed.fixed64()?);
                        }
                    }
                    _ => absorbed.push(f.fixed64()?),
                },
                5 => state.expired = f.varint()?,
                6 => state.last_time = f.f64()?,
                _ => f.skip(wire)?,
            }
        }
        if scratch
            .max_code
            .is_some_and(|m| m as usize >= state.codes.len())
        {
            return Err(bad("an error code id past the code table"));
        }
        Ok((state, absorbed))
    }
}

#[cfg(test)]
fn check_code(code: u32, codes: usize) -> Result<u32, SegmentError> {
    if (code as usize) < codes {
        Ok(code)
    } else {
        Err(invalid("an error code id past the code table"))
    }
}

#[cfg(test)]
fn bucket_from_proto(b: proto::Bucket, codes: usize) -> Result<Bucket, SegmentError> {
    if b.index_gaps.len() != b.counts.len() {
        return Err(invalid("histogram indexes and counts differ in length"));
    }
    let mut counts = CompactCounts::default();
    let mut index: usize = 0;
    for (gap, count) in b.index_gaps.iter().zip(&b.counts) {
        index = index.saturating_add(*gap as usize);
        if index >= BUCKET_COUNT {
            return Err(invalid("a histogram index past the last bucket"));
        }
        counts.add(index, *count);
    }
    let mut bucket_codes = Vec::with_capacity(b.codes.len());
    for c in b.codes {
        bucket_codes.push((check_code(c.code, codes)?, c.count));
    }
    let mut errors = Vec::with_capacity(b.errors.len());
    for e in b.errors {
        errors.push(ErrorEntry {
            code: check_code(e.code, codes)?,
            message: Arc::from(e.message),
            count: e.count,
            first_seen: e.first_seen,
            last_seen: e.last_seen,
        });
    }
    Ok(Bucket {
        epoch: b.epoch,
        total: b.total,
        failures: b.failures,
        sum_ms: b.sum_ms,
        min_ms: b.min_ms,
        max_ms: b.max_ms,
        counts,
        codes: bucket_codes,
        errors,
        encoded: None,
    })
}

/// Rings are at most this long (a daily ring over [`MAX_ARCHIVE_DAYS`] is far shorter).
const MAX_RING_LEN: u64 = 1 << 20;

fn ring_shape(width: u64, len: u64) -> Result<(), SegmentError> {
    if width == 0 || len == 0 || len > MAX_RING_LEN {
        return Err(invalid("a ring of impossible shape"));
    }
    Ok(())
}

fn sorted_epochs<T>(
    items: &[T],
    epoch: impl Fn(&T) -> u64,
    width: u64,
) -> Result<(), SegmentError> {
    let ordered = items.windows(2).all(|w| match w {
        [a, b] => epoch(a) < epoch(b),
        _ => true,
    });
    let in_range = items.iter().all(|b| epoch(b).checked_mul(width).is_some());
    if ordered && in_range {
        Ok(())
    } else {
        Err(invalid("buckets out of order or out of range"))
    }
}

#[cfg(test)]
fn life_from_proto(life: proto::Life, codes: usize) -> Result<Lifetime, SegmentError> {
    let mut out = Lifetime::new();
    out.total = life.total;
    out.failures = life.failures;
    out.sum_ms = life.sum_ms;
    out.first_seen = life.first_seen;
    out.buckets = life
        .buckets
        .try_into()
        .map_err(|_| invalid("lifetime buckets of the wrong length"))?;
    for c in life.codes {
        out.codes.push((check_code(c.code, codes)?, c.count));
    }
    if life.native_counts.len() > 1 << 16 {
        return Err(invalid("a native histogram too wide"));
    }
    out.native.add_zero(life.native_zero);
    for (index, count) in (life.native_offset..).zip(life.native_counts) {
        out.native.add_bucket(index, count);
    }
    for e in life.exemplars {
        let slot = e.slot as usize;
        if slot > CUMULATIVE_BOUNDS.len() {
            return Err(invalid("an exemplar past the last bucket"));
        }
        if out.exemplars.is_empty() {
            out.exemplars.resize(CUMULATIVE_BOUNDS.len() + 1, None);
        }
        if let Some(target) = out.exemplars.get_mut(slot) {
            *target = Some(Exemplar {
                trace_id: e.trace_id,
                span_id: e.span_id,
                seconds: e.seconds,
                t: e.t,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
fn state_from_proto(message: proto::Segment) -> Result<State, SegmentError> {
    let mut state = State::empty(&[]);
    for code in message.codes {
        let code: Arc<str> = Arc::from(code);
        let id = u32::try_from(state.codes.len()).map_err(|_| invalid("too many codes"))?;
        state.code_ids.insert(Arc::clone(&code), id);
        state.codes.push(code);
    }
    let codes = state.codes.len();
    for op in message.ops {
        let name: Arc<str> = Arc::from(op.name);
        if name.is_empty() || state.names.contains_key(&name) {
            return Err(invalid("an empty or repeated operation name"));
        }
        let mut tiers = Vec::with_capacity(op.tiers.len());
        for tier in op.tiers {
            ring_shape(tier.width, tier.len)?;
            sorted_epochs(&tier.buckets, |b| b.epoch, tier.width)?;
            let mut buckets = std::collections::VecDeque::with_capacity(tier.buckets.len());
            for bucket in tier.buckets {
                buckets.push_back(bucket_from_proto(bucket, codes)?);
            }
            tiers.push(Tier {
                width: tier.width,
                len: tier.len,
                buckets,
            });
        }
        let life = life_from_proto(op.life.unwrap_or_default(), codes)?;
        let own_codes = life.codes.iter().map(|(code, _)| *code).collect();
        let id = u32::try_from(state.ops.len()).map_err(|_| invalid("too many operations"))?;
        state.names.insert(Arc::clone(&name), id);
        state.ops.push(OpData {
            name,
            tiers,
            life,
            own_codes,
        });
    }
    for tier in message.resources {
        ring_shape(tier.width, tier.len)?;
        sorted_epochs(&tier.buckets, |b| b.epoch, tier.width)?;
        state.resources.push(ResourceTier {
            width: tier.width,
            len: tier.len,
            buckets: tier
                .buckets
                .into_iter()
                .map(|b| ResourceBucket {
                    epoch: b.epoch,
                    samples: b.samples,
                    rss_mb_sum: b.rss_mb_sum,
                    cpu_percent_sum: b.cpu_percent_sum,
                })
                .collect(),
        });
    }
    state.expired = message.expired;
    state.last_time = message.last_time;
    Ok(state)
}

// -- merging a dead process into the archive --------------------------------------------------

fn intern_shown(state: &mut State, code: &Arc<str>) -> u32 {
    if let Some(&id) = state.code_ids.get(code) {
        return id;
    }
    let id = state.codes.len() as u32;
    state.codes.push(Arc::clone(code));
    state.code_ids.insert(Arc::clone(code), id);
    id
}

fn merge_bucket(into: &mut Bucket, from: &Bucket, map: &[u32]) {
    let code = |id: u32| map.get(id as usize).copied().unwrap_or(0);
    into.encoded = None;
    into.total += from.total;
    into.failures += from.failures;
    into.sum_ms += from.sum_ms;
    into.min_ms = into.min_ms.min(from.min_ms);
    into.max_ms = into.max_ms.max(from.max_ms);
    for (index, count) in from.counts.entries() {
        into.counts.add(index, count);
    }
    for &(id, n) in &from.codes {
        let id = code(id);
        match into.codes.iter_mut().find(|(c, _)| *c == id) {
            Some((_, sum)) => *sum += n,
            None => into.codes.push((id, n)),
        }
    }
    for entry in &from.errors {
        let id = code(entry.code);
        match into
            .errors
            .iter_mut()
            .find(|e| e.code == id && e.message == entry.message)
        {
            Some(e) => {
                e.count += entry.count;
                e.first_seen = e.first_seen.min(entry.first_seen);
                e.last_seen = e.last_seen.max(entry.last_seen);
            }
            None => into.errors.push(ErrorEntry {
                code: id,
                ..entry.clone()
            }),
        }
    }
    if into.errors.len() > ERRORS_PER_BUCKET {
        into.errors.sort_by_key(|e| std::cmp::Reverse(e.count));
        into.errors.truncate(ERRORS_PER_BUCKET);
    }
}

fn absorb_bucket(tier: &mut Tier, from: &Bucket, map: &[u32]) {
    let position = tier.buckets.partition_point(|b| b.epoch < from.epoch);
    match tier.buckets.get_mut(position) {
        Some(bucket) if bucket.epoch == from.epoch => merge_bucket(bucket, from, map),
        _ => {
            let mut bucket = Bucket {
                epoch: from.epoch,
                total: 0,
                failures: 0,
                sum_ms: 0.0,
                min_ms: f64::INFINITY,
                max_ms: 0.0,
                counts: CompactCounts::default(),
                codes: Vec::new(),
                errors: Vec::new(),
                encoded: None,
            };
            merge_bucket(&mut bucket, from, map);
            tier.buckets.insert(position, bucket);
            let newest = tier.buckets.back().map_or(from.epoch, |b| b.epoch);
            trim(&mut tier.buckets, |b| b.epoch, newest, tier.len, tier.width);
        }
    }
}

/// Adds everything of `from` to `into`, whose rings have `shapes` (a ring of `from` whose width
/// `into` lacks is dropped). Past `max_operations` names, new ones go to [`OTHER`]. Resource
/// samples are not merged: they describe live processes.
pub(crate) fn absorb(into: &mut State, from: &State, shapes: &[(u64, u64)], max_operations: usize) {
    let map: Vec<u32> = from.codes.iter().map(|c| intern_shown(into, c)).collect();
    for op in &from.ops {
        let id = match into.names.get(&op.name) {
            Some(&id) => id,
            None => {
                let name: Arc<str> = if into.ops.len() >= max_operations {
                    Arc::from(OTHER)
                } else {
                    Arc::clone(&op.name)
                };
                match into.names.get(&name) {
                    Some(&id) => id,
                    None => {
                        let id = into.ops.len() as u32;
                        into.names.insert(Arc::clone(&name), id);
                        into.ops.push(OpData {
                            name,
                            tiers: new_tiers(shapes),
                            life: Lifetime::new(),
                            own_codes: Vec::new(),
                        });
                        id
                    }
                }
            }
        };
        let Some(target) = into.ops.get_mut(id as usize) else {
            continue;
        };
        for tier in &op.tiers {
            if let Some(mine) = target.tiers.iter_mut().find(|t| t.width == tier.width) {
                for bucket in &tier.buckets {
                    absorb_bucket(mine, bucket, &map);
                }
            }
        }
        target.life.add(&op.life);
        for &(code, n) in &op.life.codes {
            let code = map.get(code as usize).copied().unwrap_or(0);
            match target.life.codes.iter_mut().find(|(c, _)| *c == code) {
                Some((_, sum)) => *sum += n,
                None => target.life.codes.push((code, n)),
            }
            if !target.own_codes.contains(&code) {
                target.own_codes.push(code);
            }
        }
    }
    into.expired += from.expired;
    into.last_time = into.last_time.max(from.last_time);
    into.generation += 1;
}

// -- files ------------------------------------------------------------------------------------

fn system_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// 64 bits no other process of this machine draws: the std hasher's random keys over the
/// time, the pid and a counter.
fn new_token() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish() | 1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Segment,
    Lock,
    NewLock,
    Temp,
}

fn file_stem(pid: u32, token: u64) -> String {
    format!("w-{pid}-{token:016x}")
}

/// `(pid, token, kind)` of a process file name.
fn parse_name(name: &str) -> Option<(u32, u64, Kind)> {
    let rest = name.strip_prefix("w-")?;
    let (pid, rest) = rest.split_once('-')?;
    let (token, suffix) = rest.split_once('.')?;
    let kind = match suffix {
        "seg" => Kind::Segment,
        "lock" => Kind::Lock,
        "lock.new" => Kind::NewLock,
        "seg.tmp" => Kind::Temp,
        _ => return None,
    };
    if token.len() != 16 {
        return None;
    }
    Some((
        pid.parse().ok()?,
        u64::from_str_radix(token, 16).ok()?,
        kind,
    ))
}

/// Damaged files kept for inspection, at most; the oldest go first.
const QUARANTINE_KEEPS: usize = 32;

/// Deletes the oldest quarantined files beyond [`QUARANTINE_KEEPS`].
fn trim_quarantine(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(SystemTime, PathBuf)> = entries
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() > QUARANTINE_KEEPS {
        files.sort();
        for (_, path) in &files[..files.len() - QUARANTINE_KEEPS] {
            let _ = fs::remove_file(path);
        }
    }
}

/// Whether the process owning `pid`/`token` still holds its lock.
fn is_alive(dir: &Path, pid: u32, token: u64) -> bool {
    let path = dir.join(format!("{}.lock", file_stem(pid, token)));
    match File::open(path) {
        Ok(file) => match file.try_lock() {
            Ok(()) => false,
            Err(fs::TryLockError::WouldBlock) => true,
            Err(fs::TryLockError::Error(_)) => true,
        },
        Err(_) => false,
    }
}

/// Writes `bytes` to `path` atomically: a temporary file, then a rename.
fn write_atomic(path: &Path, tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(tmp)?;
    file.write_all(bytes)?;
    drop(file);
    fs::rename(tmp, path)
}

#[derive(Debug)]
struct Me {
    pid: u32,
    token: u64,
    started: f64,
    /// Held (exclusively locked) for the registry's life.
    lock: Option<File>,
    last_write: f64,
    write_cost: Duration,
    last_compact: Option<Instant>,
    /// Bumped by a fork, so the parent's writer thread (absent in the child) is replaced.
    epoch: u64,
}

impl Me {
    fn create(dir: &Path, epoch: u64) -> io::Result<Self> {
        let pid = std::process::id();
        let token = new_token();
        let stem = file_stem(pid, token);
        let fresh = dir.join(format!("{stem}.lock.new"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&fresh)?;
        file.lock()?;
        fs::rename(&fresh, dir.join(format!("{stem}.lock")))?;
        Ok(Self {
            pid,
            token,
            started: system_now(),
            lock: Some(file),
            last_write: 0.0,
            write_cost: Duration::ZERO,
            last_compact: None,
            epoch,
        })
    }

    fn stem(&self) -> String {
        file_stem(self.pid, self.token)
    }
}

#[derive(Debug, Clone)]
struct Cached {
    len: u64,
    mtime: Option<SystemTime>,
    foreign: Arc<Foreign>,
}

#[derive(Debug, Default)]
struct Cache {
    listed: Option<Instant>,
    /// What the last listing cost: the next one waits at least twice as long, so readers of
    /// large, busy segments spend at most about a third of their time decoding.
    cost: Duration,
    files: HashMap<String, Cached>,
    /// Damaged files already reported, by (name, length, mtime).
    damaged: HashSet<(String, u64, Option<SystemTime>)>,
    others: Vec<Arc<Foreign>>,
}

/// The shared side of a registry (see the [module docs](self)).
#[derive(Debug)]
pub(crate) struct Shared {
    dir: PathBuf,
    options: SharedOptions,
    me: Mutex<Me>,
    token: AtomicU64,
    cache: Mutex<Cache>,
    written: AtomicU64,
    wrote_once: AtomicBool,
    quarantined: AtomicU64,
    write_errors: AtomicU64,
    compactions: AtomicU64,
    reports: Mutex<Vec<String>>,
}

impl Shared {
    fn new(options: SharedOptions) -> io::Result<Self> {
        fs::create_dir_all(&options.dir)?;
        let me = Me::create(&options.dir, 0)?;
        Ok(Self {
            dir: options.dir.clone(),
            token: AtomicU64::new(me.token),
            me: Mutex::new(me),
            options,
            cache: Mutex::new(Cache::default()),
            written: AtomicU64::new(0),
            wrote_once: AtomicBool::new(false),
            quarantined: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
            reports: Mutex::new(Vec::new()),
        })
    }

    /// The other segments, re-listed when the last listing is older than [`REFRESH`].
    pub(crate) fn others(&self) -> Vec<Arc<Foreign>> {
        let mut cache = self.cache.lock();
        let every = REFRESH.max(cache.cost * 2);
        if cache.listed.is_none_or(|t| t.elapsed() >= every) {
            let began = Instant::now();
            self.refresh(&mut cache);
            cache.cost = began.elapsed();
        }
        cache.others.clone()
    }

    fn quarantine(&self, name: &str, err: &dyn fmt::Display) {
        let target = self.dir.join("quarantine");
        let moved = fs::create_dir_all(&target).and_then(|()| {
            let stamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            fs::rename(self.dir.join(name), target.join(format!("{name}.{stamp}")))
        });
        self.quarantined.fetch_add(1, Ordering::Relaxed);
        trim_quarantine(&target);
        let whereto = match moved {
            Ok(()) => "moved to quarantine/".to_owned(),
            Err(e) => format!("left in place ({e})"),
        };
        self.reports.lock().push(format!(
            "rfs-monitoring: the segment {name} in {} is damaged ({err}); it is skipped and {whereto}",
            self.dir.display()
        ));
    }

    fn refresh(&self, cache: &mut Cache) {
        let mine = self.token.load(Ordering::Relaxed);
        let mut files: HashMap<String, Cached> = HashMap::new();
        for attempt in 0..3 {
            let Ok(entries) = fs::read_dir(&self.dir) else {
                break;
            };
            let mut vanished = false;
            files.clear();
            for entry in entries.flatten() {
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                let archive = name == ARCHIVE;
                if !archive {
                    match parse_name(&name) {
                        Some((_, token, Kind::Segment)) if token != mine => {}
                        _ => continue,
                    }
                }
                let Ok(meta) = entry.metadata() else {
                    vanished = true;
                    continue;
                };
                let (len, mtime) = (meta.len(), meta.modified().ok());
                if let Some(cached) = cache.files.get(&name) {
                    if cached.len == len && cached.mtime == mtime {
                        files.insert(name, cached.clone());
                        continue;
                    }
                }
                if cache.damaged.contains(&(name.clone(), len, mtime)) {
                    continue;
                }
                match fs::read(entry.path()) {
                    Ok(bytes) => match decode(&bytes) {
                        Ok(decoded) => {
                            let foreign = Arc::new(Foreign {
                                state: decoded.state,
                                header: decoded.header,
                                archive,
                                absorbed: decoded.absorbed,
                                live: AtomicBool::new(true),
                            });
                            files.insert(
                                name,
                                Cached {
                                    len,
                                    mtime,
                                    foreign,
                                },
                            );
                        }
                        Err(err) => {
                            cache.damaged.insert((name.clone(), len, mtime));
                            self.quarantine(&name, &err);
                        }
                    },
                    Err(err) if err.kind() == io::ErrorKind::NotFound => vanished = true,
                    Err(_) => {}
                }
            }
            // A compaction replaced the archive and deleted segments while we listed: list
            // again rather than miss their data for one refresh.
            if !vanished || attempt == 2 {
                break;
            }
            cache.files.extend(files.drain());
        }
        let absorbed: HashSet<u64> = files
            .get(ARCHIVE)
            .map(|c| c.foreign.absorbed.iter().copied().collect())
            .unwrap_or_default();
        let mut names: Vec<&String> = files.keys().collect();
        names.sort_unstable();
        let mut others = Vec::with_capacity(names.len());
        for name in names {
            let Some(cached) = files.get(name) else {
                continue;
            };
            let foreign = &cached.foreign;
            if !foreign.archive {
                if absorbed.contains(&foreign.header.token) {
                    continue;
                }
                let live = is_alive(&self.dir, foreign.header.pid, foreign.header.token);
                foreign.live.store(live, Ordering::Relaxed);
            }
            others.push(Arc::clone(foreign));
        }
        cache.others = others;
        cache.files = files;
        cache.listed = Some(Instant::now());
    }

    /// Merges dead processes' segments into the archive (see the [module docs](self)).
    fn compact(&self, shapes: &[(u64, u64)], max_operations: usize) -> io::Result<usize> {
        let guard = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("compact.lock"))?;
        match guard.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(0),
            Err(fs::TryLockError::Error(err)) => return Err(err),
        }
        let mine = self.token.load(Ordering::Relaxed);
        // (name, token, alive) of every other process's segment.
        let mut segments = Vec::new();
        let mut delete = Vec::new();
        let mut locks = Vec::new();
        for entry in fs::read_dir(&self.dir)?.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Some((pid, token, kind)) = parse_name(&name) else {
                continue;
            };
            if token == mine {
                continue;
            }
            match kind {
                Kind::Segment => {
                    let alive = is_alive(&self.dir, pid, token);
                    segments.push((name, token, alive));
                }
                Kind::Lock | Kind::Temp => locks.push((name, pid, token)),
                Kind::NewLock => {
                    let old = entry
                        .metadata()
                        .ok()
                        .and_then(|m| m.modified().ok())
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > STALE_NEW_LOCK);
                    let unlocked = File::open(entry.path()).is_ok_and(|f| f.try_lock().is_ok());
                    if old && unlocked {
                        delete.push(name);
                    }
                }
            }
        }
        let present: HashSet<u64> = segments.iter().map(|(_, token, _)| *token).collect();
        if segments.iter().all(|(_, _, alive)| *alive) {
            // Nothing to archive (the usual case): the archive is not even read.
            for name in &delete {
                let _ = fs::remove_file(self.dir.join(name));
            }
            for (name, pid, token) in &locks {
                if !present.contains(token) && !is_alive(&self.dir, *pid, *token) {
                    let _ = fs::remove_file(self.dir.join(name));
                }
            }
            return Ok(0);
        }
        let archive_path = self.dir.join(ARCHIVE);
        let (mut archive, mut absorbed, generation) = match fs::read(&archive_path) {
            Ok(bytes) => match decode(&bytes) {
                Ok(d) => (d.state, d.absorbed, d.header.generation),
                Err(err) => {
                    self.quarantine(ARCHIVE, &err);
                    (State::empty(shapes), Vec::new(), 0)
                }
            },
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                (State::empty(shapes), Vec::new(), 0)
            }
            Err(err) => return Err(err),
        };
        let known: HashSet<u64> = absorbed.iter().copied().collect();
        let mut dead = Vec::new();
        for (name, token, alive) in segments {
            if known.contains(&token) {
                delete.push(name); // a compaction died after its rename: already archived
            } else if !alive {
                dead.push((name, token));
            }
        }
        let mut merged = 0;
        // Tokens whose segment is in the archive (or in quarantine) once this round is done.
        let mut gone: HashSet<u64> = known.clone();
        let mut done = Vec::new();
        for (name, token) in &dead {
            match fs::read(self.dir.join(name)) {
                Ok(bytes) => match decode(&bytes) {
                    Ok(d) => {
                        absorb(&mut archive, &d.state, shapes, max_operations);
                        absorbed.push(*token);
                        done.push(name);
                        gone.insert(*token);
                        merged += 1;
                    }
                    Err(err) => {
                        self.quarantine(name, &err);
                        gone.insert(*token);
                    }
                },
                Err(_) => continue,
            }
        }
        let before = absorbed.len();
        absorbed.retain(|t| present.contains(t));
        if merged > 0 || absorbed.len() != before {
            let header = Header {
                pid: 0,
                token: 0,
                started: 0.0,
                written: system_now(),
                generation: generation + 1,
            };
            let bytes = encode(&header, &archive, &absorbed);
            write_atomic(&archive_path, &self.dir.join("archive.seg.tmp"), &bytes)?;
        }
        // Only now that the archive holds them: the dead segments, the leftovers of a
        // compaction that died after its rename, and the files of dead processes.
        for name in done.into_iter().chain(&delete) {
            let _ = fs::remove_file(self.dir.join(name));
        }
        for (name, pid, token) in &locks {
            let orphan = !present.contains(token) || gone.contains(token);
            if orphan && !is_alive(&self.dir, *pid, *token) {
                let _ = fs::remove_file(self.dir.join(name));
            }
        }
        self.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(merged)
    }
}

// -- the registry's shared side ---------------------------------------------------------------

impl Registry {
    /// A registry whose data is shared with every other process opening `options.dir` (see
    /// the [module docs](self)); a background thread writes this process's segment.
    ///
    /// # Errors
    /// [`SharedError`] for a bad setting or a directory that cannot be used.
    pub fn open_shared(config: Config, options: SharedOptions) -> Result<Arc<Self>, SharedError> {
        Self::new(config).map_err(SharedError::Config)?;
        if !(1..=MAX_ARCHIVE_DAYS).contains(&options.archive_days) {
            return Err(SharedError::ArchiveDays(options.archive_days));
        }
        let shapes: Vec<(u64, u64)> =
            tier_shapes(config.retention_seconds, options.archive_days * 86_400).collect();
        let shared = Shared::new(options).map_err(SharedError::Io)?;
        let registry = Arc::new(Self::with_shapes(config, shapes, Some(shared)));
        // Appear at once (the workers list), then keep the segment fresh in the background.
        let _ = registry.sync();
        registry.spawn_writer();
        Ok(registry)
    }

    fn spawn_writer(self: &Arc<Self>) {
        let Some(shared) = &self.shared else {
            return;
        };
        let epoch = shared.me.lock().epoch;
        let gate = shared.options.gate;
        let weak = Arc::downgrade(self);
        // Everything that takes a lock (or may drop the last reference, whose drop writes)
        // runs through the fork gate: a fork never copies a lock this thread holds.
        let gated = move |section: &dyn Fn() -> Option<Duration>| match gate {
            Some(gate) => gate.run(section),
            None => section(),
        };
        let spawned = std::thread::Builder::new()
            .name("rfs-segment-writer".to_owned())
            .spawn(move || {
                while let Some(pause) = gated(&|| weak.upgrade().map(|r| r.pause())) {
                    std::thread::sleep(pause);
                    let more = gated(&|| {
                        weak.upgrade()
                            .filter(|r| r.tick(epoch))
                            .map(|_| Duration::ZERO)
                    });
                    if more.is_none() {
                        return;
                    }
                }
            });
        if spawned.is_err() {
            if let Some(shared) = &self.shared {
                shared.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The writer thread's pause: the interval, or ten times the last write's cost.
    fn pause(&self) -> Duration {
        self.shared.as_ref().map_or(Duration::from_secs(1), |s| {
            s.options.sync_interval.max(s.me.lock().write_cost * 10)
        })
    }

    /// One round of the writer thread (through the fork gate); false when the thread belongs
    /// to an older epoch (a forked child replaced it).
    fn tick(&self, epoch: u64) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        if shared.me.lock().epoch != epoch {
            return false;
        }
        if self.sync().is_err() {
            shared.write_errors.fetch_add(1, Ordering::Relaxed);
        }
        let due = {
            let mut me = shared.me.lock();
            let due = me.last_compact.is_none_or(|t| t.elapsed() >= COMPACT_EVERY);
            if due {
                me.last_compact = Some(Instant::now());
            }
            due
        };
        if due
            && shared
                .compact(&self.shapes, self.config().max_operations)
                .is_err()
        {
            shared.write_errors.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Writes this process's segment now if anything changed since the last write; returns
    /// whether it wrote. A registry without a directory does nothing.
    ///
    /// # Errors
    /// The I/O error of a failed write.
    pub fn sync(&self) -> io::Result<bool> {
        let Some(shared) = &self.shared else {
            return Ok(false);
        };
        let mut me = shared.me.lock();
        let began = Instant::now();
        let written = system_now();
        let (bytes, generation) = {
            let mut state = self.locked_state();
            if shared.wrote_once.load(Ordering::Relaxed)
                && state.generation == shared.written.load(Ordering::Relaxed)
            {
                return Ok(false);
            }
            keep_bucket_bytes(&mut state);
            let header = Header {
                pid: me.pid,
                token: me.token,
                started: me.started,
                written,
                generation: state.generation,
            };
            (encode(&header, &state, &[]), state.generation)
        };
        let stem = me.stem();
        write_atomic(
            &shared.dir.join(format!("{stem}.seg")),
            &shared.dir.join(format!("{stem}.seg.tmp")),
            &bytes,
        )?;
        shared.written.store(generation, Ordering::Relaxed);
        shared.wrote_once.store(true, Ordering::Relaxed);
        me.last_write = written;
        me.write_cost = began.elapsed();
        Ok(true)
    }

    /// Merges the segments of dead processes into the archive now (the writer thread does it
    /// every few seconds); returns how many it merged (0 when another process is compacting).
    ///
    /// # Errors
    /// The I/O error that stopped it.
    pub fn compact(&self) -> io::Result<usize> {
        match &self.shared {
            Some(shared) => {
                let merged = shared.compact(&self.shapes, self.config().max_operations)?;
                shared.cache.lock().listed = None;
                Ok(merged)
            }
            None => Ok(0),
        }
    }

    /// In a forked child: forget the samples copied from the parent (the parent writes them),
    /// take a new token, segment and lock, and start a writer thread (the parent's does not
    /// exist here). Does nothing without a directory.
    ///
    /// # Errors
    /// The I/O error of making the new lock file.
    pub fn after_fork_in_child(self: &Arc<Self>) -> io::Result<()> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        self.reset();
        {
            let mut me = shared.me.lock();
            // Close the inherited descriptor: the lock stays the parent's alone.
            drop(me.lock.take());
            let epoch = me.epoch + 1;
            *me = Me::create(&shared.dir, epoch)?;
            shared.token.store(me.token, Ordering::Relaxed);
        }
        shared.wrote_once.store(false, Ordering::Relaxed);
        *shared.cache.lock() = Cache::default();
        let _ = self.sync();
        self.spawn_writer();
        Ok(())
    }

    /// Messages about damaged segments found since the last call (each reported once).
    #[must_use]
    pub fn take_damage_reports(&self) -> Vec<String> {
        match &self.shared {
            Some(shared) if shared.quarantined.load(Ordering::Relaxed) > 0 => {
                std::mem::take(&mut *shared.reports.lock())
            }
            _ => Vec::new(),
        }
    }

    /// The shared directory's state, `None` without one.
    #[must_use]
    pub fn shared_status(&self) -> Option<SharedStatus> {
        let shared = self.shared.as_ref()?;
        let others = shared.others();
        Some(SharedStatus {
            dir: shared.dir.display().to_string(),
            segments: others.iter().filter(|f| !f.archive).count(),
            archive: others.iter().any(|f| f.archive),
            quarantined: shared.quarantined.load(Ordering::Relaxed),
            write_errors: shared.write_errors.load(Ordering::Relaxed),
            compactions: shared.compactions.load(Ordering::Relaxed),
        })
    }

    /// This process, then every other live process on the directory that has recorded anything
    /// (a gunicorn master that only forks its workers is not one), by pid, with their numbers
    /// over `(now - window, now]`; without a directory, this process alone.
    #[must_use]
    pub fn workers(&self, now: f64, window: u64) -> Vec<Worker> {
        let others = match &self.shared {
            Some(shared) => shared.others(),
            None => Vec::new(),
        };
        let (pid, token, started, written) = match &self.shared {
            Some(shared) => {
                let me = shared.me.lock();
                (me.pid, me.token, me.started, me.last_write)
            }
            None => (std::process::id(), 0, 0.0, 0.0),
        };
        let state = self.locked_state();
        let mut out = vec![worker_of(
            &state, now, window, pid, token, started, written, true,
        )];
        let mut rest: Vec<Worker> = others
            .iter()
            .filter(|f| f.is_live() && contributes(&f.state))
            .map(|f| {
                let h = f.header;
                worker_of(
                    &f.state, now, window, h.pid, h.token, h.started, h.written, false,
                )
            })
            .collect();
        rest.sort_by_key(|w| (w.pid, w.token));
        out.extend(rest);
        out
    }
}

/// Whether a process has recorded a sample or a resource reading.
fn contributes(state: &State) -> bool {
    state.ops.iter().any(|op| op.life.total > 0)
        || state.resources.iter().any(|tier| !tier.buckets.is_empty())
}

#[allow(clippy::too_many_arguments)]
fn worker_of(
    state: &State,
    now: f64,
    window: u64,
    pid: u32,
    token: u64,
    started: f64,
    written: f64,
    is_self: bool,
) -> Worker {
    let (total, failures, p99_ms) = crate::registry::overall(state, now, window);
    let resources = state
        .resources
        .first()
        .and_then(|tier| tier.average(now, 60));
    Worker {
        pid,
        token,
        is_self,
        started,
        written,
        total,
        failures,
        p99_ms,
        rss_mb: resources.map(|r| r.0),
        cpu_percent: resources.map(|r| r.1),
    }
}

#[cfg(test)]
mod tests;
