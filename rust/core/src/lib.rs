//! Storage for per-operation latency and outcome statistics.
//!
//! This crate is plain Rust: it never touches Python and never reads the clock. Callers pass the
//! time of each sample in, which lets tests drive time windows directly.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

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
