//! The log writer's throughput: entries queued as the Python package queues them (packed text
//! fields), then rendered, masked and written to a file by the writer thread, against the same
//! lines queued already rendered (what the writer costs beyond writing bytes).
//!
//! `cargo bench -p rfs-monitoring-core --bench logqueue` prints entries per second (`items`).
#![allow(missing_docs)]

use std::fs::File;
use std::time::Duration;

use divan::counter::ItemsCount;
use divan::Bencher;
use rfs_monitoring_core::logline::{render_view, Field, Frame, Packed};
use rfs_monitoring_core::logqueue::{Item, Limits, Pipeline};
use rfs_monitoring_core::mask::TextMasker;

fn main() {
    divan::main();
}

const ENTRIES: usize = 2000;

fn packed(i: usize) -> Packed {
    #[allow(clippy::cast_precision_loss)]
    let mut entry = Packed::new(20, 1_767_323_045.5 + i as f64 * 1e-4, 1.234_567);
    entry.push(Field::Event, Some("result_operation"));
    entry.push(
        Field::CorrelationId,
        Some("4920e74240444cfd907b24645213d4c0"),
    );
    entry.push(Field::Operation, Some("user_retrieval"));
    entry.push(Field::Step, None);
    entry.push(Field::ResultType, Some("success"));
    entry.push(Field::SuccessType, Some("User"));
    entry
}

fn pipeline() -> Pipeline {
    let pipeline = Pipeline::new(
        Limits {
            capacity: 1 << 20,
            max_bytes: 1 << 40,
            max_block: Duration::from_secs(1),
        },
        None,
    );
    match File::create(std::env::temp_dir().join("rfs-logqueue-bench.log")) {
        Ok(file) => pipeline.set_sink(Some(Box::new(file)), false),
        Err(err) => {
            eprintln!("no temporary file ({err}): the bench writes to a null sink");
            pipeline.set_sink(Some(Box::new(std::io::sink())), false);
        }
    }
    pipeline
}

/// Entries queued packed, rendered and masked by the writer, written to a file.
#[divan::bench]
fn writer_entries_to_a_file(bencher: Bencher<'_, '_>) {
    let pipeline = pipeline();
    bencher
        .counter(ItemsCount::new(ENTRIES))
        .with_inputs(|| (0..ENTRIES).map(packed).collect::<Vec<_>>())
        .bench_local_values(|entries| {
            for entry in entries {
                pipeline.push(Item::Packed(entry), 512);
            }
            assert!(pipeline.flush(Some(Duration::from_secs(60))));
        });
}

/// The baseline: the same lines queued already rendered; the writer only writes them.
#[divan::bench]
fn writer_rendered_lines_to_a_file(bencher: Bencher<'_, '_>) {
    let pipeline = pipeline();
    let frame = Frame {
        fixed_json: r#""service_name":"s","environment":"e""#,
        memory: "null",
        cpu: "null",
    };
    let masker = TextMasker::default();
    bencher
        .counter(ItemsCount::new(ENTRIES))
        .with_inputs(|| {
            (0..ENTRIES)
                .map(|i| {
                    let mut line = String::with_capacity(512);
                    render_view(&packed(i).view(), &frame, &masker, &mut line);
                    line
                })
                .collect::<Vec<_>>()
        })
        .bench_local_values(|lines| {
            for line in lines {
                pipeline.push(Item::Line(line), 512);
            }
            assert!(pipeline.flush(Some(Duration::from_secs(60))));
        });
}
