//! `LogPipeline`: the Python face of `rfs_monitoring_core::logqueue`. Each call hands one entry
//! over, converted while the interpreter is held; rendering, masking, batching and writing
//! happen in the core's writer thread, which never needs the interpreter. Waiting (for room, for
//! a flush, for the sink) happens with the interpreter released.
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rfs_monitoring_core::logline::{Field, Packed};
use rfs_monitoring_core::logqueue::{Item, Limits, Pipeline, Settings};

use crate::typed::PyPipelineState;
use crate::{PyTextMasker, FORK_GATE};

/// What `put` tells its caller.
const QUEUED: u8 = 0;
const NOT_TAKEN: u8 = 1;
const QUEUED_REFRESH: u8 = 2;

/// What an entry without large values counts for in the queue's byte bound (the package's
/// `_ENTRY_BYTES`).
const ENTRY_BYTES: usize = 512;

fn limits(capacity: usize, max_bytes: usize, max_block: f64) -> PyResult<Limits> {
    if capacity < 1 || max_bytes < 1 || !(max_block >= 0.0 && max_block.is_finite()) {
        return Err(crate::value_error(format!(
            "invalid log queue bounds: capacity {capacity}, max_bytes {max_bytes}, max_block {max_block}"
        )));
    }
    Ok(Limits {
        capacity,
        max_bytes,
        max_block: Duration::from_secs_f64(max_block.min(86_400.0)),
    })
}

fn guarded<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    std::panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(PyRuntimeError::new_err(format!("{what} panicked"))))
}

/// The log pipeline: a bounded queue and the writer thread behind it (see
/// `rfs_monitoring_core::logqueue`).
#[pyclass(frozen, module = "rfs_monitoring._core", name = "LogPipeline")]
pub(crate) struct PyLogPipeline {
    inner: Pipeline,
    format_exception: Py<PyAny>,
    masked_args: Py<PyAny>,
}

impl PyLogPipeline {
    fn push(&self, py: Python<'_>, item: Item, size: usize) -> u8 {
        let inner = &self.inner;
        let sequence = match inner.try_push(item, size) {
            Ok(sequence) => sequence,
            Err(item) => py.detach(|| inner.push_waiting(item, size)),
        };
        if let Some(sequence) = sequence.filter(|s| *s > 0) {
            py.detach(|| inner.wait_written(sequence));
        }
        if inner.resources_wanted() {
            QUEUED_REFRESH
        } else {
            QUEUED
        }
    }
}

#[pymethods]
impl PyLogPipeline {
    #[new]
    #[pyo3(signature = (format_exception, masked_args, capacity=1024, max_bytes=64 << 20, max_block=1.0))]
    fn new(
        format_exception: Py<PyAny>,
        masked_args: Py<PyAny>,
        capacity: usize,
        max_bytes: usize,
        max_block: f64,
    ) -> PyResult<Self> {
        Ok(Self {
            inner: Pipeline::new(limits(capacity, max_bytes, max_block)?, Some(&FORK_GATE)),
            format_exception,
            masked_args,
        })
    }

    /// Render from now on with `masker`, the fixed fields `fixed_json`, write in chunks of at
    /// most `chunk_chars` characters and retry a failed write after each of `pauses` (seconds).
    fn configure(
        &self,
        masker: PyRef<'_, PyTextMasker>,
        fixed_json: String,
        pauses: Vec<f64>,
        chunk_chars: usize,
    ) {
        let mut settings = Settings {
            masker: Arc::clone(&masker.inner),
            fixed_json,
            pauses,
            chunk_chars: chunk_chars.max(1),
            ..Settings::default()
        };
        let state = self.inner.resources();
        settings.memory = state.0;
        settings.cpu = state.1;
        self.inner.set_settings(settings);
    }

    /// Mask from now on with `masker`.
    fn set_masker(&self, masker: PyRef<'_, PyTextMasker>) {
        self.inner.set_masker(Arc::clone(&masker.inner));
    }

    /// Replace the queue's bounds.
    fn set_limits(&self, capacity: usize, max_bytes: usize, max_block: f64) -> PyResult<()> {
        self.inner
            .set_limits(limits(capacity, max_bytes, max_block)?);
        Ok(())
    }

    /// Write from now on to a duplicate of the open file descriptor `fd` (borrowed for this
    /// call: the caller's stream keeps it open); `fallback`: whether what the sink never takes
    /// may go to stderr. Waits for the batch being written to finish on the old sink.
    fn set_sink(&self, py: Python<'_>, fd: i32, fallback: bool) -> PyResult<()> {
        let file =
            crate::fdsink::duplicate(fd).map_err(|err| PyOSError::new_err(err.to_string()))?;
        let inner = &self.inner;
        py.detach(|| inner.set_sink(Some(Box::new(file)), fallback));
        Ok(())
    }

    /// The JSON values of `memory_usage_mb` and `cpu_usage_percent` for lines rendered from now
    /// on.
    fn set_resources(&self, memory: String, cpu: String) {
        self.inner.set_resources(memory, cpu);
    }

    /// Queue a raw entry (the 17-slot tuple of `rfs_monitoring._logging.entry`) of estimated
    /// `size` bytes: 0 when queued (or dropped and counted, the queue full past its wait), 1
    /// when the core does not take it (values other than the JSON types: the caller renders the
    /// line and calls `put_line`), 2 when queued and the resource fields are due for a refresh.
    fn put(&self, py: Python<'_>, raw: &Bound<'_, PyAny>, size: usize) -> PyResult<u8> {
        guarded("queueing a log entry", || {
            if raw.is_exact_instance_of::<PyDict>() {
                // A built entry (a listener's, structlog's `get_logger`, the stdlib bridge):
                // masked when it was made, written as `render_json` writes it.
                let mut line = String::with_capacity(256);
                return Ok(match crate::logline::premasked(raw, 1, &mut line) {
                    Some(()) => self.push(py, Item::Line(line), size),
                    None => NOT_TAKEN,
                });
            }
            let format_exception = self.format_exception.bind(py);
            let masked_args = self.masked_args.bind(py);
            match crate::logline::entry(raw, format_exception, masked_args, self.inner.buffer()) {
                Some(entry) => Ok(self.push(py, Item::Packed(entry), size)),
                None => Ok(NOT_TAKEN),
            }
        })
    }

    /// Queue a plain Success entry from its fields (no metadata, span or exception),
    /// timestamped now: the common entry without its raw tuple. An operation's entry, or
    /// with `step` the entry of that step of `operation`. 1 (not taken) when `bound` (the
    /// bound context) is not empty: the caller queues the raw entry.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (level, correlation_id, operation, ms, success_type, bound, step=None))]
    pub(crate) fn put_success(
        &self,
        py: Python<'_>,
        level: u8,
        correlation_id: &str,
        operation: &str,
        ms: f64,
        success_type: &str,
        bound: &Bound<'_, PyAny>,
        step: Option<&str>,
    ) -> PyResult<u8> {
        guarded("queueing a log entry", || {
            if !bound.is_none() && bound.is_truthy()? || !ms.is_finite() {
                return Ok(NOT_TAKEN);
            }
            let mut packed =
                Packed::with_buffer(level, crate::system_now(), ms, self.inner.buffer());
            let event = if step.is_some() {
                "result_step"
            } else {
                "result_operation"
            };
            packed.push(Field::Event, Some(event));
            packed.push(Field::CorrelationId, Some(correlation_id));
            packed.push(Field::Operation, Some(operation));
            packed.push(Field::Step, step);
            packed.push(Field::ResultType, Some("success"));
            packed.push(Field::SuccessType, Some(success_type));
            Ok(self.push(py, Item::Packed(packed), ENTRY_BYTES))
        })
    }

    /// Queue a line the caller rendered and masked (without its newline); as `put`.
    fn put_line(&self, py: Python<'_>, line: String, size: usize) -> PyResult<u8> {
        guarded("queueing a log line", || {
            Ok(self.push(py, Item::Line(line), size))
        })
    }

    /// Wait until every entry queued before the call is written: True when all of them reached
    /// the sink (none dropped or sent to stderr meanwhile), False when `timeout` (seconds;
    /// None waits as long as it takes) ran out first.
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> bool {
        let timeout = timeout.map(|t| Duration::from_secs_f64(t.clamp(0.0, 86_400.0)));
        let inner = &self.inner;
        py.detach(|| inner.flush(timeout))
    }

    /// Count what is still queued or being written as dropped, and return that count.
    fn give_up(&self) -> u64 {
        self.inner.give_up()
    }

    /// For the next `seconds`, each caller waits (up to half a second) until its own entry is
    /// written (after SIGTERM).
    fn set_direct(&self, seconds: f64) {
        self.inner.set_direct(seconds);
    }

    /// Report sink trouble and losses on stderr now, if there were any since the last report.
    fn report(&self) {
        self.inner.report();
    }

    /// The queue's and the writer's counters, as a `PipelineState`.
    fn state(&self) -> PyPipelineState {
        let s = self.inner.state();
        let (last_error, last_error_time) = match s.last_error {
            Some((text, when)) => (Some(text), Some(when)),
            None => (None, None),
        };
        PyPipelineState {
            pending: s.pending,
            queued_bytes: s.queued_bytes,
            written: s.written,
            diverted: s.diverted,
            dropped: s.dropped,
            sink_errors: s.sink_errors,
            last_error,
            last_error_time,
            fallback_active: s.fallback_active,
        }
    }
}
