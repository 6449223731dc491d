//! Property tests: window summaries against a naive model that keeps every sample in a sorted
//! vector, and the quantiles against `hdrhistogram` as an oracle.
#![allow(missing_docs)]

use proptest::prelude::*;
use rfs_monitoring_core::{Config, Latencies, Outcome, Registry, Statistic, LATENCIES};

const CODES: [&str; 3] = ["NOT_FOUND", "TIMEOUT", "CONFLICT"];

/// (bucket width, span) of the default one-week tiers, as documented in the crate.
const TIERS: [(u64, u64); 3] = [(10, 3_600), (900, 86_400), (3_600, 604_800)];

#[derive(Debug, Clone)]
struct Sample {
    t: f64,
    ms: f64,
    code: Option<usize>,
}

fn epoch(t: f64, width: u64) -> u64 {
    (t / width as f64).floor().max(0.0) as u64
}

/// Clock steps this long either way lose no bucket to age alone (the crate's tolerance).
const STEP_TOLERANCE: u64 = 86_400;

/// The samples a query over `(now - window, now]` sees: those in the buckets of the chosen tier
/// that intersect the window and that the ring still keeps. The ring is modelled as the set of
/// its buckets' epochs, with the documented rules: every sample is placed at its own time; a
/// new bucket drops the buckets older than the span by more than the tolerance, then, while
/// more than span + an eighth remain, the oldest bucket older than the span, else the
/// earliest bucket ahead of the new one; a query drops buckets older than the span by more than
/// the tolerance.
fn model_window(samples: &[Sample], now: f64, window: u64) -> Vec<Sample> {
    let (width, span) = TIERS
        .iter()
        .copied()
        .find(|&(width, span)| (span.div_ceil(width)) * width >= window)
        .unwrap_or(TIERS[2]);
    let len = span.div_ceil(width) + 1;
    let tolerance = STEP_TOLERANCE.div_ceil(width) + 1;
    let capacity = (len + len / 8 + 1) as usize;
    let mut kept: std::collections::BTreeMap<u64, Vec<usize>> = std::collections::BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        let e = epoch(s.t, width);
        let fresh = !kept.contains_key(&e);
        kept.entry(e).or_default().push(i);
        if !fresh {
            continue;
        }
        kept.retain(|&b, _| b + len + tolerance > e);
        while kept.len() > capacity {
            let first = *kept.keys().next().unwrap_or(&e);
            let victim = if first + len <= e {
                first
            } else {
                kept.range(e + 1..).next().map_or(first, |(&b, _)| b)
            };
            kept.remove(&victim);
        }
    }
    let now_epoch = epoch(now, width);
    kept.retain(|&b, _| b + len + tolerance > now_epoch);
    let (first, last) = (epoch(now - window as f64, width), now_epoch);
    let mut seen: Vec<usize> = kept
        .range(first..=last)
        .flat_map(|(_, indices)| indices.iter().copied())
        .collect();
    seen.sort_unstable();
    seen.into_iter().map(|i| samples[i].clone()).collect()
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn sample_strategy(max_t: f64) -> impl Strategy<Value = Sample> {
    (
        0.0..max_t,
        prop_oneof![0.0..1.0, 0.5..5_000.0, 1e5..4e6],
        prop::option::weighted(0.2, 0..CODES.len()),
    )
        .prop_map(|(t, ms, code)| Sample { t, ms, code })
}

fn check(samples: &[Sample], now: f64, window: u64) -> Result<(), TestCaseError> {
    let registry =
        Registry::new(Config::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let op = registry
        .register("op")
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .id;
    for s in samples {
        let outcome = match s.code {
            None => Outcome::Success,
            Some(code) => Outcome::Failure {
                code: Some(CODES[code].to_owned()),
                message: Some(format!("message {code}")),
            },
        };
        registry
            .record(op, s.t, s.ms, outcome)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    let expected = model_window(samples, now, window);
    let Some(summary) = registry.summary("op", now, window, 10) else {
        prop_assert!(expected.is_empty());
        return Ok(());
    };
    prop_assert_eq!(summary.headline.total, expected.len() as u64);
    let failures = expected.iter().filter(|s| s.code.is_some()).count() as u64;
    prop_assert_eq!(summary.headline.failures, failures);
    let mut by_code: Vec<(String, u64)> = CODES
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let n = expected.iter().filter(|s| s.code == Some(i)).count() as u64;
            ((*code).to_owned(), n)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    by_code.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    prop_assert_eq!(&summary.errors_by_code, &by_code);
    let top_total: u64 = summary.top_errors.iter().map(|e| e.count).sum();
    prop_assert_eq!(top_total, failures);
    if expected.is_empty() {
        prop_assert_eq!(summary.headline.latencies, Latencies::default());
        return Ok(());
    }
    let mut sorted: Vec<f64> = expected.iter().map(|s| s.ms).collect();
    sorted.sort_by(f64::total_cmp);
    let sum: f64 = sorted.iter().sum();
    prop_assert!((summary.headline.sum_ms - sum).abs() <= 1e-9 * sum.max(1.0));
    // Every row of the headline table, so a quantile added there is checked here too.
    for (latency, got) in LATENCIES.iter().zip(summary.headline.latencies.to_array()) {
        match latency.statistic {
            Statistic::Min => prop_assert_eq!(got, sorted[0]),
            Statistic::Max => prop_assert_eq!(got, sorted[sorted.len() - 1]),
            Statistic::Mean => {
                let mean = sum / sorted.len() as f64;
                prop_assert!((got - mean).abs() <= 1e-9 * mean.max(1.0));
            }
            Statistic::Quantile(q) => {
                let exact = nearest_rank(&sorted, q);
                // Values below 128 ns are exact; above, the bucket midpoint is within 1/128.
                let tolerance = exact / 128.0 + 1e-6;
                prop_assert!(
                    (got - exact).abs() <= tolerance,
                    "{} got={} exact={}",
                    latency.field,
                    got,
                    exact
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn recent_hour_matches_the_model(
        samples in prop::collection::vec(sample_strategy(3_600.0), 0..300),
        now in 0.0..4_000.0f64,
        window in prop_oneof![Just(60u64), Just(600), Just(3_600), 1..3_600u64],
    ) {
        check(&samples, now, window)?;
    }

    #[test]
    fn the_week_matches_the_model(
        samples in prop::collection::vec(sample_strategy(8.0 * 86_400.0), 0..300),
        now in 0.0..(8.0 * 86_400.0),
        window in prop_oneof![Just(3_600u64), Just(86_400), Just(604_800), 1..604_800u64],
    ) {
        check(&samples, now, window)?;
    }
}

#[test]
fn quantiles_agree_with_hdrhistogram() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::new(Config::default())?;
    let op = registry.register("op")?.id;
    let mut oracle = hdrhistogram::Histogram::<u64>::new(3)?;
    // A deterministic heavy-tailed spread from 10 µs to about 10 s.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..50_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let ms = 0.01 * 10f64.powf((x % 1_000_000) as f64 / 1_000_000.0 * 6.0);
        registry.record(op, 100.0, ms, Outcome::Success)?;
        oracle.record((ms * 1_000_000.0).round() as u64)?;
    }
    let summary = registry.summary("op", 100.0, 3_600, 0).ok_or("missing")?;
    for (q, got) in [
        (0.5, summary.headline.latencies.p50_ms),
        (0.9, summary.headline.latencies.p90_ms),
        (0.99, summary.headline.latencies.p99_ms),
    ] {
        let reference = oracle.value_at_quantile(q) as f64 / 1_000_000.0;
        assert!(
            (got - reference).abs() <= 0.01 * reference,
            "q={q} got={got} hdr={reference}"
        );
    }
    Ok(())
}

#[test]
/// The load: 4 threads recording 1M samples each through a small queue while another
/// thread queries; counts and the error breakdown are exact and nothing is dropped.
fn concurrent_recording_loses_nothing() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::new(Config {
        queue_capacity: 1_024,
        ..Config::default()
    })?;
    let op = registry.register("op")?.id;
    let per_thread = 1_000_000u64;
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let registry = &registry;
            scope.spawn(move || {
                for i in 0..per_thread {
                    let outcome = if i % 100 == 0 {
                        Outcome::Failure {
                            code: Some(format!("E{thread}")),
                            message: None,
                        }
                    } else {
                        Outcome::Success
                    };
                    let _ = registry.record(op, 50.0, 1.0 + (i % 7) as f64, outcome);
                }
            });
        }
        scope.spawn(|| {
            for _ in 0..200 {
                let _ = registry.summary("op", 50.0, 60, 5);
            }
        });
    });
    let summary = registry.summary("op", 50.0, 60, 5).ok_or("missing")?;
    assert_eq!(summary.headline.total, 4 * per_thread);
    assert_eq!(summary.headline.failures, 4 * per_thread / 100);
    assert_eq!(summary.errors_by_code.len(), 4);
    Ok(())
}
