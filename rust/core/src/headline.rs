//! The headline latencies of a window, named once.
//!
//! [`with_latencies!`](crate::with_latencies) is the one table of them: each row names a
//! [`Latencies`] field, the [`Statistic`] the core computes for it and its two spellings in the
//! Python contract (the short name of `StepMetrics`, `TimeSeriesPoint` and the alert rules, the
//! long name of `OperationMetrics` and `OperationStats`). Everything else follows from the
//! table: the fields of [`Latencies`] (which [`Headline`](crate::Headline) and
//! [`Point`](crate::Point) carry), [`LATENCIES`], the ascending [`QUANTILES`] a query computes
//! in one pass over the merged buckets, and in the bindings the `Headline` pyclass's fields,
//! its conversion and `_core.LATENCIES`, from which the Python package takes every name.
//!
//! Adding a quantile is one row here. The rest is what Python's type checker needs spelled,
//! and `tests/test_headline.py` fails, naming the file and the line to add, until it is: the
//! property in `_core.pyi`'s `Headline`, the field in `OperationStats` (at the row's position)
//! and in `OperationMetrics` (with a default, after the design document's fields), and one
//! more `float` in `_headline.Latencies`.
//!
//! ```
//! use rfs_monitoring_core::headline::{Latencies, Statistic, LATENCIES};
//!
//! let p99 = LATENCIES.iter().find(|l| l.field == "p99_ms").ok_or("no p99")?;
//! assert_eq!((p99.short, p99.long), ("p99_ms", "p99_response_time_ms"));
//! assert_eq!(p99.statistic, Statistic::Quantile(0.99));
//! let mut values = [0.0; LATENCIES.len()];
//! values[LATENCIES.iter().position(|l| l.field == "max_ms").ok_or("no max")?] = 80.0;
//! assert_eq!(Latencies::from_array(values).max_ms, 80.0);
//! # Ok::<(), &str>(())
//! ```

/// Calls the macro `$then` with the table of headline latencies, one row per latency:
///
/// ```text
/// /// doc of the field
/// field: Statistic, "short name", "long name";
/// ```
///
/// where `Statistic` is `Mean`, `Min`, `Max` or `Quantile(rank)`. Rows are in the order the
/// records list them, and quantile ranks ascend (checked when the crate compiles).
#[macro_export]
macro_rules! with_latencies {
    ($then:ident) => {
        $then! {
            /// Mean duration (0 when empty).
            mean_ms: Mean, "avg_ms", "avg_response_time_ms";
            /// Exact minimum duration (0 when empty).
            min_ms: Min, "min_ms", "min_response_time_ms";
            /// Median.
            p50_ms: Quantile(0.5), "p50_ms", "p50_response_time_ms";
            /// 90th percentile.
            p90_ms: Quantile(0.9), "p90_ms", "p90_response_time_ms";
            /// 95th percentile.
            p95_ms: Quantile(0.95), "p95_ms", "p95_response_time_ms";
            /// 99th percentile.
            p99_ms: Quantile(0.99), "p99_ms", "p99_response_time_ms";
            /// 99.9th percentile.
            p999_ms: Quantile(0.999), "p999_ms", "p999_response_time_ms";
            /// Exact maximum duration (0 when empty).
            max_ms: Max, "max_ms", "max_response_time_ms";
        }
    };
}

/// How the core computes one headline latency from a window's merged samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    /// The exact mean.
    Mean,
    /// The exact minimum.
    Min,
    /// The exact maximum.
    Max,
    /// The nearest-rank quantile of this rank (0..1), within 1/128 of the exact value.
    Quantile(f64),
}

impl Statistic {
    /// The rank this latency is the nearest-rank quantile of: 0 for the minimum, 1 for the
    /// maximum, `None` for the mean.
    #[must_use]
    pub const fn rank(self) -> Option<f64> {
        match self {
            Self::Mean => None,
            Self::Min => Some(0.0),
            Self::Max => Some(1.0),
            Self::Quantile(q) => Some(q),
        }
    }
}

/// One row of the headline table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// The field of [`Latencies`] (and the attribute of the bindings' `Headline`).
    pub field: &'static str,
    /// What the core computes.
    pub statistic: Statistic,
    /// The short name of the Python contract (`p50_ms`, `avg_ms`).
    pub short: &'static str,
    /// The long name of the Python contract (`p50_response_time_ms`).
    pub long: &'static str,
}

macro_rules! define_latencies {
    ($($(#[$doc:meta])* $field:ident: $stat:ident $(($rank:literal))?, $short:literal, $long:literal;)*) => {
        /// The headline latencies of a window in milliseconds, one field per row of
        /// [`LATENCIES`].
        #[derive(Debug, Clone, Copy, PartialEq, Default)]
        pub struct Latencies {
            $($(#[$doc])* pub $field: f64,)*
        }

        /// The headline table: every latency a [`Latencies`] holds, in field order.
        pub const LATENCIES: [Latency; [$(stringify!($field)),*].len()] = [$(Latency {
            field: stringify!($field),
            statistic: Statistic::$stat $(($rank))?,
            short: $short,
            long: $long,
        }),*];

        impl Latencies {
            /// The latencies from their values in [`LATENCIES`] order.
            #[must_use]
            pub const fn from_array(values: [f64; LATENCIES.len()]) -> Self {
                let [$($field),*] = values;
                Self { $($field),* }
            }

            /// The values in [`LATENCIES`] order.
            #[must_use]
            pub const fn to_array(&self) -> [f64; LATENCIES.len()] {
                [$(self.$field),*]
            }
        }
    };
}

with_latencies!(define_latencies);

const fn quantile_count() -> usize {
    let mut count = 0;
    let mut i = 0;
    while i < LATENCIES.len() {
        if let Statistic::Quantile(_) = LATENCIES[i].statistic {
            count += 1;
        }
        i += 1;
    }
    count
}

const fn quantile_ranks() -> [f64; quantile_count()] {
    let mut ranks = [0.0; quantile_count()];
    let (mut i, mut k) = (0, 0);
    while i < LATENCIES.len() {
        if let Statistic::Quantile(q) = LATENCIES[i].statistic {
            assert!(q > 0.0 && q < 1.0, "a quantile's rank is between 0 and 1");
            assert!(
                k == 0 || q > ranks[k - 1],
                "quantile rows must ascend by rank"
            );
            ranks[k] = q;
            k += 1;
        }
        i += 1;
    }
    ranks
}

/// The ranks of the table's quantiles, ascending: one pass over a merged histogram answers
/// them all.
pub const QUANTILES: [f64; quantile_count()] = quantile_ranks();

impl Latencies {
    /// The latencies of merged samples: `mean`, `min` and `max` exact, `quantiles` the values
    /// at [`QUANTILES`].
    #[must_use]
    pub fn compute(mean: f64, min: f64, max: f64, quantiles: [f64; QUANTILES.len()]) -> Self {
        let mut next = quantiles.into_iter();
        Self::from_array(LATENCIES.map(|latency| match latency.statistic {
            Statistic::Mean => mean,
            Statistic::Min => min,
            Statistic::Max => max,
            Statistic::Quantile(_) => next.next().unwrap_or(0.0),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_names_a_distinct_field_in_both_spellings() {
        for (i, a) in LATENCIES.iter().enumerate() {
            assert!(
                a.field.ends_with("_ms") && a.short.ends_with("_ms"),
                "{a:?}"
            );
            assert!(a.long.ends_with("_response_time_ms"), "{a:?}");
            for b in &LATENCIES[i + 1..] {
                assert!(a.field != b.field && a.short != b.short && a.long != b.long);
            }
        }
    }

    #[test]
    fn compute_places_each_statistic_in_its_field() {
        let ranks: Vec<f64> = QUANTILES.to_vec();
        let latencies = Latencies::compute(5.0, 1.0, 9.0, QUANTILES.map(|q| q * 100.0));
        for (latency, value) in LATENCIES.iter().zip(latencies.to_array()) {
            let expected = match latency.statistic {
                Statistic::Mean => 5.0,
                Statistic::Min => 1.0,
                Statistic::Max => 9.0,
                Statistic::Quantile(q) => {
                    assert!(ranks.contains(&q));
                    q * 100.0
                }
            };
            assert_eq!(value, expected, "{}", latency.field);
        }
        assert_eq!(Latencies::from_array(latencies.to_array()), latencies);
    }

    #[test]
    fn ranks_order_the_statistics() {
        assert_eq!(Statistic::Mean.rank(), None);
        assert_eq!(Statistic::Min.rank(), Some(0.0));
        assert_eq!(Statistic::Max.rank(), Some(1.0));
        assert_eq!(Statistic::Quantile(0.9).rank(), Some(0.9));
    }
}
