//! A deterministic workload for counting instructions per recorded sample with valgrind
//! (`cargo bench` just runs it once, quickly): `SAMPLES` samples (default 10 000) of three
//! operations at 5 000 samples/s of the clock, each recorded and stored (`record`, then the
//! batch drain), as the request stack's operation and two steps record them. Run it twice
//! under `valgrind --tool=callgrind` with two counts; the difference of the totals over the
//! difference of the counts is the cost of one sample:
//!
//! ```text
//! cargo bench --locked -p rfs-monitoring-core --bench record_instructions --no-run
//! SAMPLES=20000 valgrind --tool=callgrind <the bench binary>
//! SAMPLES=120000 valgrind --tool=callgrind <the bench binary>
//! ```
#![allow(missing_docs)]

use rfs_monitoring_core::{Config, Outcome, Registry};

fn main() {
    let samples: u32 = std::env::var("SAMPLES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10_000);
    let Ok(registry) = Registry::new(Config::default()) else {
        return;
    };
    let ops: Vec<_> = ["get_user", "get_user\u{1f}fetch", "get_user\u{1f}validate"]
        .iter()
        .filter_map(|name| registry.register(name).ok())
        .map(|registration| registration.id)
        .collect();
    let t0 = 1_767_323_045.0;
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..samples {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Durations from 10 µs to about 3 ms, clustered as a fast endpoint's are.
        let ms = 0.01 + (x >> 11) as f64 / (1u64 << 53) as f64 * ((x & 3) + 1) as f64 * 0.75;
        let t = t0 + f64::from(i) * 0.000_2;
        for &op in &ops {
            let outcome = if x.is_multiple_of(97) {
                Outcome::Failure {
                    code: Some("NOT_FOUND".into()),
                    message: Some("no such user".into()),
                }
            } else {
                Outcome::Success
            };
            let _ = registry.record(op, t, ms, outcome);
        }
    }
    let _ = std::hint::black_box(registry.expired());
}
