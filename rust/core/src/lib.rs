//! Storage for per-operation latency and outcome statistics.
//!
//! This crate is plain Rust: it never touches Python and never reads the clock. Callers pass the
//! time of each sample in, which lets tests drive time windows directly.
//!
//! # Model
//!
//! A [`Registry`] holds operations by name. Each sample (time, duration, outcome) goes into
//! three rings of time buckets: 10-second buckets for the last hour, 15-minute buckets for the
//! last day and 1-hour buckets for the retention (default one week). Each bucket keeps exact
//! counts (total, failures, failures by error code), the exact sum, minimum and maximum, a
//! space-saving top-k of error messages and log-linear latency buckets (see [`histogram`])
//! whose quantiles are within 1/128 of the exact nearest-rank value. A query merges the buckets
//! of the finest ring that covers its window. Lifetime totals with Prometheus' classic buckets
//! back [`Registry::cumulative`].
//!
//! ```
//! use rfs_monitoring_core::{Config, Outcome, Registry};
//!
//! let registry = Registry::new(Config::default())?;
//! let op = registry.register("get_user")?.id;
//! registry.record(op, 1_000.0, 12.5, Outcome::Success)?;
//! registry.record(op, 1_001.0, 80.0, Outcome::Failure {
//!     code: Some("NOT_FOUND".into()),
//!     message: Some("no user 42".into()),
//! })?;
//! let summary = registry.summary("get_user", 1_002.0, 3_600, 10).ok_or("no data")?;
//! assert_eq!((summary.total, summary.failures), (2, 1));
//! assert_eq!(summary.max_ms, 80.0);
//! assert_eq!(summary.errors_by_code, vec![("NOT_FOUND".to_string(), 1)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Concurrency
//!
//! Recording is lock-free: a sample is pushed into a bounded `crossbeam` `ArrayQueue`, and the
//! queue is drained into the buckets in batches by whichever recorder finds the storage lock
//! free (`try_lock`), and before every query. A recorder that finds the queue full drains it
//! itself under the lock, so no sample is dropped; [`Registry::dropped`] counts samples that
//! could still not be queued after three attempts.
//!
//! DESIGN-BENCH
//!
//! # Panics and errors
//!
//! Nothing in this crate panics on input (the workspace denies `unwrap`, `expect` and `panic`).
//! Bad input is an error value: [`RecordError`] for an empty name or a negative, NaN or infinite
//! duration, [`ConfigError`] for an out-of-range configuration. A duration above
//! [`histogram::TRACKABLE_NS`] still counts, lands in the top bucket and sets the exact maximum.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod histogram;
mod registry;
mod ring;

pub use registry::{
    Config, ConfigError, Cumulative, OpId, Outcome, Point, RecordError, Registration, Registry,
    Summary, TopError, CUMULATIVE_BOUNDS, MAX_MESSAGE_BYTES, MAX_RETENTION_SECONDS, OTHER,
    UNKNOWN_CODE,
};

/// The crate version, shared with the Python package through the Cargo workspace.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_semver() {
        assert_eq!(VERSION.split('.').count(), 3);
    }
}
