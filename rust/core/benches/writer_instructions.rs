//! A deterministic workload for counting the log writer thread's instructions per entry with
//! valgrind (`cargo bench` just runs it once, quickly): `ENTRIES` plain Success entries (default
//! 3 000: one operation entry and two step entries per request, as the request stack queues
//! them through `LogPipeline.put_success`) put through a [`Pipeline`] into a file, then flushed.
//! Run it twice under `valgrind --tool=callgrind --separate-threads=yes` with two counts; the
//! difference of the writer thread's totals over the difference of the counts is the cost of
//! one entry:
//!
//! ```text
//! cargo bench --locked -p rfs-monitoring-core --bench writer_instructions --no-run
//! ENTRIES=3000 valgrind --tool=callgrind --separate-threads=yes <the bench binary>
//! ENTRIES=15000 valgrind --tool=callgrind --separate-threads=yes <the bench binary>
//! ```
#![allow(missing_docs)]

use std::time::Duration;

use rfs_monitoring_core::logline::{Field, Packed};
use rfs_monitoring_core::logqueue::{Item, Limits, Pipeline};

fn main() -> std::io::Result<()> {
    let entries: u32 = std::env::var("ENTRIES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(3_000);
    let path = std::env::temp_dir().join(format!("rfs-writer-bench-{}.jsonl", std::process::id()));
    // Room for every entry: none waits long enough to be dropped, however slow valgrind is.
    let limits = Limits {
        capacity: 1 << 20,
        max_bytes: 1 << 32,
        max_block: Duration::from_secs(600),
    };
    let pipeline = Pipeline::new(limits, None);
    pipeline.set_sink(Some(Box::new(std::fs::File::create(&path)?)), true);
    let t0 = 1_767_323_045.0;
    let steps = [None, Some("user_service_call"), Some("user_validation")];
    for i in 0..entries {
        let step = steps[i as usize % 3];
        let ts = t0 + f64::from(i) * 0.000_137;
        let ms = 0.05 + f64::from(i % 1_000) * 0.013_7;
        let mut packed = Packed::with_buffer(20, ts, ms, pipeline.buffer());
        packed.push(
            Field::Event,
            Some(if step.is_some() {
                "result_step"
            } else {
                "result_operation"
            }),
        );
        packed.push(
            Field::CorrelationId,
            Some("c8dd2ab717e84eddbbe01c1b94151ca3"),
        );
        packed.push(Field::Operation, Some("user_retrieval"));
        packed.push(Field::Step, step);
        packed.push(Field::ResultType, Some("success"));
        packed.push(Field::SuccessType, Some("User"));
        pipeline.push(Item::Packed(packed), 512);
    }
    let flushed = pipeline.flush(Some(Duration::from_secs(600)));
    let written = std::fs::read_to_string(&path)?.lines().count();
    std::fs::remove_file(&path)?;
    if !flushed || written != entries as usize {
        return Err(std::io::Error::other(format!(
            "{written} of {entries} lines written"
        )));
    }
    Ok(())
}
