//! The `rfs_monitoring._core` extension module: a thin adapter over `rfs-monitoring-core`.
//!
//! The hot paths (`Handle.record` and a decorated call, see `instrument`) stay attached to the interpreter;
//! queries, which merge many buckets, release it while they run.
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use rfs_monitoring_core::exposition::{Exposition, Family, Format, StepTotals};
use rfs_monitoring_core::mask::{TextMasker, REPLACEMENT};
use rfs_monitoring_core::native::NATIVE_SCHEMA;
mod emit;
mod fdsink;
mod instrument;
mod logline;
mod logpipe;
mod typed;

use typed::{firing_alerts, PyFamily, PyFiringAlert, PyHealthRow};

use rfs_monitoring_core::{
    valid_time, Brief, Config, Cumulative, ForkGate, Headline, Latencies, Latency, OpId, Outcome,
    Point, Registry, SharedError, SharedOptions, SharedStatus, Statistic, Summary, TopError,
    Worker, LATENCIES,
};

/// Held closed by the fork hooks (`_fork_prepare` / `_fork_done`) around `fork()`, so no
/// thread waits for or holds a storage lock at that instant (see `rfs_monitoring_core::fork`).
pub(crate) static FORK_GATE: ForkGate = ForkGate::new();

/// Runs `f` with the interpreter released and through the fork gate: the way to call anything
/// that may wait for a registry's storage lock.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
    py.detach(|| FORK_GATE.run(f))
}

pyo3::import_exception!(rfs_monitoring.exceptions, InvalidArgumentError);
pyo3::import_exception!(rfs_monitoring.exceptions, StorageError);

/// A value the core refused, as the package's own `InvalidArgumentError` (a `ValueError`).
pub(crate) fn value_error(err: impl std::fmt::Display) -> PyErr {
    InvalidArgumentError::new_err(err.to_string())
}

/// The shared directory's I/O failed, as the package's own `StorageError` (an `OSError`).
fn storage_error(err: impl std::fmt::Display) -> PyErr {
    StorageError::new_err(err.to_string())
}

pub(crate) fn system_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Reads the registry clock: the Python callable when one was given, else the system clock.
fn read_clock(py: Python<'_>, clock: Option<&Py<PyAny>>) -> PyResult<f64> {
    match clock {
        None => Ok(system_now()),
        Some(clock) => clock.bind(py).call0()?.extract(),
    }
}

fn outcome(success: bool, error_code: Option<String>, error_message: Option<String>) -> Outcome {
    if success {
        Outcome::Success
    } else {
        Outcome::Failure {
            code: error_code,
            message: error_message,
        }
    }
}

/// Per-operation statistics in time buckets (see the `rfs-monitoring-core` docs).
#[pyclass(frozen, module = "rfs_monitoring._core", name = "Registry")]
struct PyRegistry {
    inner: Arc<Registry>,
    clock: Option<Py<PyAny>>,
}

#[pymethods]
impl PyRegistry {
    #[new]
    #[pyo3(signature = (
        retention_seconds=604_800,
        max_operations=1000,
        max_error_codes=100,
        clock=None,
        queue_capacity=8_192,
        shared_dir=None,
        archive_days=30,
        sync_interval=0.25,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        retention_seconds: u64,
        max_operations: usize,
        max_error_codes: usize,
        clock: Option<Py<PyAny>>,
        queue_capacity: usize,
        shared_dir: Option<std::path::PathBuf>,
        archive_days: u64,
        sync_interval: f64,
    ) -> PyResult<Self> {
        let config = Config {
            retention_seconds,
            max_operations,
            max_error_codes,
            queue_capacity,
        };
        let inner = match shared_dir {
            None => Arc::new(Registry::new(config).map_err(value_error)?),
            Some(dir) => {
                if !(sync_interval.is_finite() && (0.001..=3_600.0).contains(&sync_interval)) {
                    return Err(value_error(format!(
                        "sync_interval must be 0.001 to 3600 seconds, got {sync_interval}"
                    )));
                }
                let options = SharedOptions {
                    dir,
                    archive_days,
                    sync_interval: std::time::Duration::from_secs_f64(sync_interval),
                    gate: Some(&FORK_GATE),
                };
                detached(py, || Registry::open_shared(config, options)).map_err(
                    |err| match err {
                        SharedError::Io(io) => storage_error(format!(
                            "rfs-monitoring: cannot use the shared directory: {io}"
                        )),
                        other => value_error(other),
                    },
                )?
            }
        };
        Ok(Self { inner, clock })
    }

    /// The longest window a query can cover, in seconds: the retention, or the archive's
    /// days for a registry on a shared directory.
    #[getter]
    fn horizon_seconds(&self) -> u64 {
        self.inner.horizon_seconds()
    }

    /// Writes this process's segment now when anything changed (a registry without a shared
    /// directory does nothing); returns whether it wrote.
    fn sync(&self, py: Python<'_>) -> PyResult<bool> {
        let inner = &self.inner;
        detached(py, || inner.sync()).map_err(storage_error)
    }

    /// Merges the segments of dead processes into the archive now; returns how many.
    fn compact(&self, py: Python<'_>) -> PyResult<usize> {
        let inner = &self.inner;
        detached(py, || inner.compact()).map_err(storage_error)
    }

    /// In a forked child: forget the parent's samples and take a segment of its own.
    fn after_fork_in_child(&self, py: Python<'_>) -> PyResult<()> {
        let inner = &self.inner;
        detached(py, || inner.after_fork_in_child()).map_err(storage_error)
    }

    /// Messages about damaged segments found since the last call.
    fn take_damage_reports(&self) -> Vec<String> {
        self.inner.take_damage_reports()
    }

    /// The shared directory's state, `None` without one.
    fn shared_status(&self, py: Python<'_>) -> Option<PySharedStatus> {
        let inner = &self.inner;
        detached(py, || inner.shared_status()).map(PySharedStatus::from)
    }

    /// Every live process on the shared directory (this one first) over the window.
    fn workers(&self, py: Python<'_>, now: f64, window: u64) -> Vec<PyWorker> {
        let inner = &self.inner;
        detached(py, || inner.workers(now, window))
            .into_iter()
            .map(PyWorker::from)
            .collect()
    }

    /// Retention in seconds.
    #[getter]
    fn retention_seconds(&self) -> u64 {
        self.inner.config().retention_seconds
    }

    /// How many clock readings were refused while recording (their samples were kept at the
    /// previous sample's time).
    #[getter]
    fn clock_errors(&self) -> u64 {
        self.inner.clock_errors()
    }

    /// The registry clock's current time, seconds since the epoch.
    fn now(&self, py: Python<'_>) -> PyResult<f64> {
        read_clock(py, self.clock.as_ref())
    }

    /// A handle bound to `name` (folded into `_other` beyond `max_operations`).
    fn handle(&self, py: Python<'_>, name: &str) -> PyResult<PyHandle> {
        // Registering waits for the storage lock: never while holding the interpreter (the
        // lock holder, or a fork hook, may need it).
        let inner = &self.inner;
        let registration = detached(py, || inner.register(name)).map_err(value_error)?;
        Ok(PyHandle {
            registry: Arc::clone(&self.inner),
            clock: self.clock.as_ref().map(|c| c.clone_ref(py)),
            id: registration.id,
            name: registration.name,
            folded: registration.folded,
        })
    }

    /// Records one process resource sample at time `t`.
    fn record_resources(&self, py: Python<'_>, t: f64, rss_mb: f64, cpu_percent: f64) {
        let inner = &self.inner;
        detached(py, || inner.record_resources(t, rss_mb, cpu_percent));
    }

    /// Statistics of `name` over `(now - window, now]`, or `None` (unknown or expired).
    fn summary(
        &self,
        py: Python<'_>,
        name: &str,
        now: f64,
        window: u64,
        top: usize,
    ) -> PyResult<Option<Py<PySummary>>> {
        let inner = &self.inner;
        detached(py, || inner.summary(name, now, window, top))
            .map(|s| PySummary::create(py, s))
            .transpose()
    }

    /// The headline numbers of every operation with data in the window, sorted by name, in one
    /// call (one lock, the interpreter released while the windows merge).
    fn briefs(&self, py: Python<'_>, now: f64, window: u64) -> PyResult<Vec<Py<PyBrief>>> {
        let inner = &self.inner;
        detached(py, || inner.briefs(now, window))
            .into_iter()
            .map(|b| PyBrief::create(py, b))
            .collect()
    }

    /// The operations list's rows as JSON bytes (see `rfs_monitoring_core::json`), built with
    /// the interpreter released and no Python object per row.
    fn briefs_json<'py>(&self, py: Python<'py>, now: f64, window: u64) -> Bound<'py, PyBytes> {
        let inner = &self.inner;
        let rows = detached(py, || {
            rfs_monitoring_core::json::operations_rows(&inner.briefs(now, window))
        });
        PyBytes::new(py, rows.as_bytes())
    }

    /// The health route's rows as JSON bytes, judged in the core (see
    /// `rfs_monitoring_core::json::health_rows`) with the `FiringAlert`s counted.
    #[allow(clippy::too_many_arguments)]
    fn health_json(
        &self,
        py: Python<'_>,
        now: f64,
        window: u64,
        firing: Vec<PyRef<'_, PyFiringAlert>>,
        degraded_below: f64,
        unhealthy_below: f64,
        min_requests: u64,
    ) -> PyHealth {
        let firing = firing_alerts(&firing);
        let inner = &self.inner;
        let limits = rfs_monitoring_core::json::HealthLimits {
            degraded_below,
            unhealthy_below,
            min_requests,
        };
        let rows = detached(py, || {
            rfs_monitoring_core::json::health_rows(&inner.briefs(now, window), &firing, &limits)
        });
        PyHealth::new(py, rows)
    }

    /// The top errors' rows as JSON bytes, messages masked by `masker` (the Python masker's
    /// own text rules), built with the interpreter released and no Python object per row.
    fn top_errors_json<'py>(
        &self,
        py: Python<'py>,
        now: f64,
        window: u64,
        limit: usize,
        masker: &PyTextMasker,
    ) -> Bound<'py, PyBytes> {
        let inner = &self.inner;
        let text_masker = &masker.inner;
        let rows = detached(py, || {
            rfs_monitoring_core::json::top_errors_rows(&inner.top_errors(now, window, limit), |m| {
                text_masker.mask(m)
            })
        });
        PyBytes::new(py, rows.as_bytes())
    }

    /// Names with data in the window, sorted.
    fn operations(&self, py: Python<'_>, now: f64, window: u64) -> Vec<String> {
        let inner = &self.inner;
        detached(py, || inner.operations(now, window))
    }

    /// Top failure messages over every operation in the window.
    fn top_errors(
        &self,
        py: Python<'_>,
        now: f64,
        window: u64,
        limit: usize,
    ) -> PyResult<Vec<Py<PyTopError>>> {
        let inner = &self.inner;
        detached(py, || inner.top_errors(now, window, limit))
            .into_iter()
            .map(|e| Py::new(py, PyTopError::from(e)))
            .collect()
    }

    /// Consecutive points over the window, or `None` (unknown or expired).
    fn series(
        &self,
        py: Python<'_>,
        name: &str,
        now: f64,
        window: u64,
        points: u64,
    ) -> PyResult<Option<Vec<Py<PyPoint>>>> {
        let inner = &self.inner;
        detached(py, || inner.series(name, now, window, points))
            .map(|points| points.into_iter().map(|p| PyPoint::create(py, p)).collect())
            .transpose()
    }

    /// Lifetime totals per operation.
    fn cumulative(&self, py: Python<'_>) -> PyResult<Vec<PyCumulative>> {
        let inner = &self.inner;
        detached(py, || inner.cumulative())
            .into_iter()
            .map(|c| PyCumulative::create(py, c))
            .collect()
    }

    /// Bytes held for one operation.
    fn operation_bytes(&self, py: Python<'_>, name: &str) -> Option<usize> {
        let inner = &self.inner;
        detached(py, || inner.operation_bytes(name))
    }

    /// Samples that arrived older than every bucket kept.
    fn expired(&self, py: Python<'_>) -> u64 {
        let inner = &self.inner;
        detached(py, || inner.expired())
    }

    /// Forgets every sample; handles stay valid.
    fn reset(&self, py: Python<'_>) {
        let inner = &self.inner;
        detached(py, || inner.reset());
    }
}

/// The health route's rows judged by the core: the rows as JSON and what the route sums.
#[pyclass(frozen, get_all, module = "rfs_monitoring._core", name = "Health")]
struct PyHealth {
    rows_json: Py<PyBytes>,
    status: &'static str,
    total: u64,
    failed: u64,
    firing: usize,
    operations: usize,
}

impl PyHealth {
    fn new(py: Python<'_>, rows: rfs_monitoring_core::json::HealthRows) -> Self {
        Self {
            rows_json: PyBytes::new(py, rows.json.as_bytes()).unbind(),
            status: rows.status,
            total: rows.total,
            failed: rows.failed,
            firing: rows.firing,
            operations: rows.operations,
        }
    }
}

/// One of the most frequent failures in a window (message unmasked, possibly cut).
#[pyclass(
    frozen,
    get_all,
    eq,
    module = "rfs_monitoring._core",
    name = "TopError"
)]
#[derive(PartialEq)]
struct PyTopError {
    operation: String,
    code: String,
    message: String,
    count: u64,
    first_seen: f64,
    last_seen: f64,
}

#[pymethods]
impl PyTopError {
    fn __repr__(&self) -> String {
        format!(
            "TopError(operation={:?}, code={:?}, count={})",
            self.operation, self.code, self.count
        )
    }
}

impl From<TopError> for PyTopError {
    fn from(e: TopError) -> Self {
        Self {
            operation: e.operation,
            code: e.code,
            message: e.message,
            count: e.count,
            first_seen: e.first_seen,
            last_seen: e.last_seen,
        }
    }
}

/// The samples of one operation that started in `[start, start + seconds)`: their headline
/// numbers (throughput over the point's width).
#[pyclass(frozen, get_all, extends = PyHeadline, module = "rfs_monitoring._core", name = "Point")]
struct PyPoint {
    start: f64,
    seconds: u64,
}

#[pymethods]
impl PyPoint {
    fn __repr__(slf: PyRef<'_, Self>) -> String {
        let headline = slf.as_super();
        format!(
            "Point(start={}, seconds={}, total={}, failures={})",
            slf.start, slf.seconds, headline.total, headline.failures
        )
    }
}

impl PyPoint {
    fn create(py: Python<'_>, p: Point) -> PyResult<Py<Self>> {
        let init = PyClassInitializer::from(PyHeadline::from(p.headline)).add_subclass(Self {
            start: p.start,
            seconds: p.seconds,
        });
        Py::new(py, init)
    }
}

/// The latest traced call in one classic bucket.
#[pyclass(
    frozen,
    get_all,
    eq,
    module = "rfs_monitoring._core",
    name = "Exemplar"
)]
#[derive(Clone, PartialEq)]
struct PyExemplar {
    bucket_upper_bound: f64,
    trace_id: String,
    span_id: String,
    seconds: f64,
    time: f64,
}

/// Lifetime durations as a native (exponential) histogram at `schema`.
#[pyclass(
    frozen,
    get_all,
    eq,
    module = "rfs_monitoring._core",
    name = "NativeHistogram"
)]
#[derive(Clone, PartialEq)]
struct PyNative {
    schema: i32,
    zero_count: u64,
    offset: i32,
    counts: Vec<u64>,
}

/// Lifetime totals of one operation (since the last reset), for exposition.
#[pyclass(frozen, module = "rfs_monitoring._core", name = "Cumulative")]
struct PyCumulative {
    #[pyo3(get)]
    operation: String,
    #[pyo3(get)]
    total: u64,
    #[pyo3(get)]
    failures: u64,
    errors_by_code: Vec<(String, u64)>,
    #[pyo3(get)]
    sum_seconds: f64,
    buckets: Vec<(f64, u64)>,
    #[pyo3(get)]
    native: Py<PyNative>,
    #[pyo3(get)]
    exemplars: Vec<Py<PyExemplar>>,
}

/// A list of pairs as a Python dict, in the list's order.
fn pairs_dict<'py, K, V>(py: Python<'py>, pairs: &[(K, V)]) -> PyResult<Bound<'py, PyDict>>
where
    K: IntoPyObject<'py> + Clone,
    V: IntoPyObject<'py> + Clone,
{
    let dict = PyDict::new(py);
    for (k, v) in pairs {
        dict.set_item(k.clone(), v.clone())?;
    }
    Ok(dict)
}

#[pymethods]
impl PyCumulative {
    /// Failures by error code, most frequent first.
    #[getter]
    fn errors_by_code<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        pairs_dict(py, &self.errors_by_code)
    }

    /// Cumulative counts by upper bound in seconds (Prometheus' default bounds, the last
    /// one `inf`), in increasing order.
    #[getter]
    fn buckets<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        pairs_dict(py, &self.buckets)
    }

    fn __repr__(&self) -> String {
        format!(
            "Cumulative(operation={:?}, total={}, failures={})",
            self.operation, self.total, self.failures
        )
    }
}

impl PyCumulative {
    fn create(py: Python<'_>, c: Cumulative) -> PyResult<Self> {
        let exemplars = c
            .buckets
            .iter()
            .zip(&c.exemplars)
            .filter_map(|((bound, _), exemplar)| {
                exemplar.as_ref().map(|e| PyExemplar {
                    bucket_upper_bound: *bound,
                    trace_id: e.trace_id.clone(),
                    span_id: e.span_id.clone(),
                    seconds: e.seconds,
                    time: e.t,
                })
            })
            .map(|e| Py::new(py, e))
            .collect::<PyResult<Vec<_>>>()?;
        let (offset, counts) = c.native.dense();
        let native = Py::new(
            py,
            PyNative {
                schema: NATIVE_SCHEMA,
                zero_count: c.native.zero_count(),
                offset,
                counts: counts.to_vec(),
            },
        )?;
        Ok(Self {
            operation: c.operation,
            total: c.total,
            failures: c.failures,
            errors_by_code: c.errors_by_code,
            sum_seconds: c.sum_seconds,
            buckets: c.buckets,
            native,
            exemplars,
        })
    }
}

/// One process contributing to a shared directory.
#[pyclass(frozen, get_all, module = "rfs_monitoring._core", name = "Worker")]
struct PyWorker {
    pid: u32,
    token: u64,
    is_self: bool,
    started: f64,
    written: f64,
    total: u64,
    failures: u64,
    p99_ms: f64,
    rss_mb: Option<f64>,
    cpu_percent: Option<f64>,
}

impl From<Worker> for PyWorker {
    fn from(w: Worker) -> Self {
        Self {
            pid: w.pid,
            token: w.token,
            is_self: w.is_self,
            started: w.started,
            written: w.written,
            total: w.total,
            failures: w.failures,
            p99_ms: w.p99_ms,
            rss_mb: w.rss_mb,
            cpu_percent: w.cpu_percent,
        }
    }
}

/// The state of a shared directory, as one process sees it.
#[pyclass(
    frozen,
    get_all,
    module = "rfs_monitoring._core",
    name = "SharedStatus"
)]
struct PySharedStatus {
    dir: String,
    segments: usize,
    archive: bool,
    quarantined: u64,
    write_errors: u64,
    compactions: u64,
}

impl From<SharedStatus> for PySharedStatus {
    fn from(s: SharedStatus) -> Self {
        Self {
            dir: s.dir,
            segments: s.segments,
            archive: s.archive,
            quarantined: s.quarantined,
            write_errors: s.write_errors,
            compactions: s.compactions,
        }
    }
}

/// Defines `PyHeadline` (the `Headline` pyclass) and its conversion from the core's
/// `Headline`, one attribute per row of the core's headline table.
macro_rules! py_headline {
    ($($(#[$doc:meta])* $field:ident: $stat:ident $(($rank:literal))?, $short:literal, $long:literal;)*) => {
        /// The headline numbers of one operation over a window: the base of `Summary`, `Brief`
        /// and `Point`.
        #[pyclass(
            frozen,
            get_all,
            subclass,
            module = "rfs_monitoring._core",
            name = "Headline"
        )]
        struct PyHeadline {
            total: u64,
            successes: u64,
            failures: u64,
            sum_ms: f64,
            $($(#[$doc])* $field: f64,)*
            window_start: f64,
            throughput_rps: f64,
        }

        impl From<Headline> for PyHeadline {
            fn from(h: Headline) -> Self {
                Self {
                    total: h.total,
                    successes: h.successes,
                    failures: h.failures,
                    sum_ms: h.sum_ms,
                    $($field: h.latencies.$field,)*
                    window_start: h.window_start,
                    throughput_rps: h.throughput_rps,
                }
            }
        }
    };
}

rfs_monitoring_core::with_latencies!(py_headline);

/// One row of the core's headline table: the `Headline` attribute, the statistic, the rank it
/// is the nearest-rank quantile of (`None` for the mean) and the Python contract's names.
#[pyclass(frozen, get_all, eq, module = "rfs_monitoring._core", name = "Latency")]
#[derive(PartialEq)]
struct PyLatency {
    field: &'static str,
    statistic: &'static str,
    rank: Option<f64>,
    short: &'static str,
    long: &'static str,
}

#[pymethods]
impl PyLatency {
    fn __repr__(&self) -> String {
        format!(
            "Latency(field={:?}, statistic={:?})",
            self.field, self.statistic
        )
    }
}

impl From<&Latency> for PyLatency {
    fn from(l: &Latency) -> Self {
        Self {
            field: l.field,
            statistic: match l.statistic {
                Statistic::Mean => "mean",
                Statistic::Min => "min",
                Statistic::Max => "max",
                Statistic::Quantile(_) => "quantile",
            },
            rank: l.statistic.rank(),
            short: l.short,
            long: l.long,
        }
    }
}

/// The mean process resources of the samples in a window.
#[pyclass(
    frozen,
    get_all,
    eq,
    module = "rfs_monitoring._core",
    name = "Resources"
)]
#[derive(PartialEq)]
struct PyResources {
    rss_mb: f64,
    cpu_percent: f64,
}

#[pymethods]
impl PyResources {
    fn __repr__(&self) -> String {
        format!(
            "Resources(rss_mb={}, cpu_percent={})",
            self.rss_mb, self.cpu_percent
        )
    }
}

/// The statistics of one operation over a window: its headline numbers and the breakdowns.
#[pyclass(frozen, extends = PyHeadline, module = "rfs_monitoring._core", name = "Summary")]
struct PySummary {
    errors_by_code: Vec<(String, u64)>,
    #[pyo3(get)]
    top_errors: Vec<Py<PyTopError>>,
    hourly: Vec<(u8, u64)>,
    #[pyo3(get)]
    window_end: f64,
    #[pyo3(get)]
    resources: Option<Py<PyResources>>,
}

#[pymethods]
impl PySummary {
    /// Failures by error code, most frequent first.
    #[getter]
    fn errors_by_code<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        pairs_dict(py, &self.errors_by_code)
    }

    /// Requests by hour of the day (UTC), the hours with requests only.
    #[getter]
    fn hourly<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        pairs_dict(py, &self.hourly)
    }
}

impl PySummary {
    fn create(py: Python<'_>, s: Summary) -> PyResult<Py<Self>> {
        let init = PyClassInitializer::from(PyHeadline::from(s.headline)).add_subclass(Self {
            errors_by_code: s.errors_by_code,
            top_errors: s
                .top_errors
                .into_iter()
                .map(|e| Py::new(py, PyTopError::from(e)))
                .collect::<PyResult<_>>()?,
            hourly: s.hourly,
            window_end: s.window_end,
            resources: s
                .resources
                .map(|(rss_mb, cpu_percent)| {
                    Py::new(
                        py,
                        PyResources {
                            rss_mb,
                            cpu_percent,
                        },
                    )
                })
                .transpose()?,
        });
        Py::new(py, init)
    }
}

/// One operation's headline numbers, as `Registry.briefs` lists them for every operation.
#[pyclass(frozen, get_all, extends = PyHeadline, module = "rfs_monitoring._core", name = "Brief")]
struct PyBrief {
    operation: String,
}

impl PyBrief {
    fn create(py: Python<'_>, b: Brief) -> PyResult<Py<Self>> {
        let init = PyClassInitializer::from(PyHeadline::from(b.headline)).add_subclass(Self {
            operation: b.operation,
        });
        Py::new(py, init)
    }
}

/// A handle bound to one operation: recording skips the name lookup.
#[pyclass(frozen, module = "rfs_monitoring._core", name = "Handle")]
pub(crate) struct PyHandle {
    registry: Arc<Registry>,
    clock: Option<Py<PyAny>>,
    id: OpId,
    name: String,
    pub(crate) folded: bool,
}

impl PyHandle {
    pub(crate) fn record_outcome(
        &self,
        py: Python<'_>,
        duration_ms: f64,
        outcome: Outcome,
    ) -> PyResult<()> {
        let now = match read_clock(py, self.clock.as_ref()) {
            Ok(t) if valid_time(t) => t,
            reading => self.clock_fallback(py, reading),
        };
        let overflow = self
            .registry
            .try_record(self.id, now, duration_ms, outcome)
            .map_err(value_error)?;
        if let Some(overflow) = overflow {
            // The queue is full: wait for the storage lock with the interpreter released.
            let registry = &self.registry;
            detached(py, || registry.store_overflow(overflow));
        }
        Ok(())
    }
}

impl PyHandle {
    /// The time for a sample whose clock reading was refused (a NaN, infinite, negative or
    /// far-future number, or a clock that raised): the latest sample's time, else the system
    /// clock's, so the sample is kept. Counted, and logged on the 1st, 10th, 100th... time.
    fn clock_fallback(&self, py: Python<'_>, reading: PyResult<f64>) -> f64 {
        let count = self.registry.note_clock_error();
        if count
            .checked_ilog10()
            .is_some_and(|log| 10u64.pow(log) == count)
        {
            let shown = match reading {
                Ok(t) => format!("{t}"),
                Err(err) => format!("an exception ({err})"),
            };
            let message = format!(
                "rfs-monitoring: the metrics clock returned {shown}, not a time from 0 to \
                 253402300799 s; the sample is kept at the previous sample's time \
                 ({count} such reading(s) so far, see ResultMetricsCollector.clock_errors)"
            );
            let logged = py
                .import("logging")
                .and_then(|logging| logging.call_method1("getLogger", ("rfs_monitoring.metrics",)))
                .and_then(|logger| logger.call_method1("warning", (message,)));
            if let Err(err) = logged {
                err.print(py); // never lost silently, even without logging
            }
        }
        let registry = &self.registry;
        detached(py, || registry.last_time()).unwrap_or_else(system_now)
    }
}

#[pymethods]
impl PyHandle {
    /// The operation name samples are stored under.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// True when the cardinality guard folded the requested name into `_other`.
    #[getter]
    fn folded(&self) -> bool {
        self.folded
    }

    fn __repr__(&self) -> String {
        format!("OperationHandle(name={:?})", self.name)
    }

    /// Keeps a traced call (already recorded) as the OpenMetrics exemplar of its bucket:
    /// `trace_id` and `span_id` as lowercase hex (32 and 16 digits); anything else is ignored.
    fn exemplar(&self, py: Python<'_>, duration_ms: f64, trace_id: &str, span_id: &str) {
        let Ok(now) = read_clock(py, self.clock.as_ref()) else {
            return;
        };
        let (registry, id) = (&self.registry, self.id);
        detached(py, || {
            registry.record_exemplar(id, now, duration_ms, trace_id, span_id);
        });
    }

    /// Records one call; raises `ValueError` for a negative, NaN or infinite duration.
    #[pyo3(signature = (duration_ms, success, error_code=None, error_message=None))]
    fn record(
        &self,
        py: Python<'_>,
        duration_ms: f64,
        success: bool,
        error_code: Option<String>,
        error_message: Option<String>,
    ) -> PyResult<()> {
        self.record_outcome(py, duration_ms, outcome(success, error_code, error_message))
    }
}

/// Before `fork()`: waits until no thread runs a storage operation with the interpreter released
/// and holds new ones back, so the child starts with every storage lock free. The calling
/// thread keeps the interpreter meanwhile; its own calls pass.
#[pyfunction]
fn _fork_prepare() {
    FORK_GATE.close();
}

/// After `fork()`, in the parent and in the child: lets storage operations run again.
#[pyfunction]
fn _fork_done() {
    FORK_GATE.open();
}

/// The Prometheus exposition of `operations` and `steps` (a registry whose names are
/// `operation + separator + step`) plus `extra` families, in `format` (`"text"`,
/// `"openmetrics"` or `"protobuf"`), rendered with the interpreter released.
#[pyfunction]
#[pyo3(signature = (format, operations, steps=None, extra=Vec::new(), separator="\u{1f}"))]
fn expose<'py>(
    py: Python<'py>,
    format: &str,
    operations: &PyRegistry,
    steps: Option<&PyRegistry>,
    extra: Vec<PyRef<'_, PyFamily>>,
    separator: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let format = match format {
        "text" => Format::Text,
        "openmetrics" => Format::OpenMetrics,
        "protobuf" => Format::Protobuf,
        other => return Err(value_error(format!("unknown exposition format {other:?}"))),
    };
    let extra: Vec<Family> = extra.iter().map(|f| f.family()).collect();
    let ops = &operations.inner;
    let step_registry = steps.map(|s| &s.inner);
    let body = detached(py, || {
        let operations = ops.cumulative();
        let steps: Vec<StepTotals> = step_registry
            .map(|r| r.cumulative())
            .unwrap_or_default()
            .into_iter()
            .map(|totals| {
                let (operation, step) = match totals.operation.split_once(separator) {
                    Some((operation, step)) => (operation.to_owned(), step.to_owned()),
                    // The step registry's own overflow series.
                    None => (totals.operation.clone(), totals.operation.clone()),
                };
                (operation, step, totals)
            })
            .collect();
        Exposition {
            operations: &operations,
            steps: &steps,
            extra: &extra,
        }
        .render(format)
    });
    Ok(PyBytes::new(py, &body))
}

/// The health route's judgement of `HealthRow`s that come from elsewhere (a Prometheus
/// source); the answer is `Registry.health_json`'s.
#[pyfunction]
fn judge_health(
    py: Python<'_>,
    rows: Vec<PyRef<'_, PyHealthRow>>,
    firing: Vec<PyRef<'_, PyFiringAlert>>,
    degraded_below: f64,
    unhealthy_below: f64,
    min_requests: u64,
) -> PyHealth {
    let firing = firing_alerts(&firing);
    let briefs: Vec<Brief> = rows
        .iter()
        .map(|row| Brief {
            operation: row.operation.clone(),
            headline: Headline {
                total: row.total,
                successes: row.total.saturating_sub(row.failures),
                failures: row.failures.min(row.total),
                latencies: Latencies {
                    p99_ms: row.p99_ms,
                    ..Latencies::default()
                },
                ..Headline::default()
            },
        })
        .collect();
    let limits = rfs_monitoring_core::json::HealthLimits {
        degraded_below,
        unhealthy_below,
        min_requests,
    };
    PyHealth::new(
        py,
        rfs_monitoring_core::json::health_rows(&briefs, &firing, &limits),
    )
}

/// A masking policy for free text (see `rfs_monitoring_core::mask`).
#[pyclass(frozen, module = "rfs_monitoring._core", name = "TextMasker")]
pub(crate) struct PyTextMasker {
    pub(crate) inner: Arc<TextMasker>,
}

/// Texts longer than this are masked with the interpreter released.
const DETACH_BYTES: usize = 16 * 1024;

fn mask_with<'py>(
    py: Python<'py>,
    masker: &TextMasker,
    text: &Bound<'py, PyString>,
) -> Bound<'py, PyString> {
    // A str with lone surrogates has no UTF-8 form: mask its lossy copy rather than fail.
    let (source, exact): (Cow<'_, str>, bool) = match text.to_str() {
        Ok(s) => (Cow::Borrowed(s), true),
        Err(_) => (Cow::Owned(text.to_string_lossy().into_owned()), false),
    };
    let source: &str = &source;
    let masked = if source.len() > DETACH_BYTES {
        // Through the fork gate: a fork must not copy a regex cache pool's lock held mid-use.
        detached(py, || masker.mask(source))
    } else {
        masker.mask(source)
    };
    match masked {
        Cow::Borrowed(_) if exact => text.clone(),
        other => PyString::new(py, &other),
    }
}

#[pymethods]
impl PyTextMasker {
    #[new]
    #[pyo3(signature = (extra_keys=Vec::new(), replacement=REPLACEMENT.to_owned()))]
    fn new(extra_keys: Vec<String>, replacement: String) -> Self {
        Self {
            inner: Arc::new(TextMasker::new(extra_keys, &replacement)),
        }
    }

    #[getter]
    fn replacement(&self) -> &str {
        self.inner.replacement()
    }

    fn mask<'py>(&self, py: Python<'py>, text: &Bound<'py, PyString>) -> Bound<'py, PyString> {
        mask_with(py, &self.inner, text)
    }

    fn is_sensitive_key(&self, key: &str) -> bool {
        self.inner.is_sensitive_key(key)
    }
}

/// `text` masked with the default policy; the same object when nothing was found.
#[pyfunction]
fn mask_text<'py>(py: Python<'py>, text: &Bound<'py, PyString>) -> Bound<'py, PyString> {
    static DEFAULT: std::sync::OnceLock<TextMasker> = std::sync::OnceLock::new();
    mask_with(py, DEFAULT.get_or_init(TextMasker::default), text)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", rfs_monitoring_core::VERSION)?;
    m.add(
        "TRACKABLE_MS",
        rfs_monitoring_core::histogram::TRACKABLE_NS as f64 / 1_000_000.0,
    )?;
    m.add("OTHER", rfs_monitoring_core::OTHER)?;
    m.add("UNKNOWN_CODE", rfs_monitoring_core::UNKNOWN_CODE)?;
    m.add(
        "DEFAULT_SENSITIVE_KEYS",
        rfs_monitoring_core::mask::DEFAULT_SENSITIVE_KEYS.to_vec(),
    )?;
    m.add("REPLACEMENT", REPLACEMENT)?;
    m.add_class::<PyRegistry>()?;
    m.add_class::<PyHandle>()?;
    m.add_class::<PyHeadline>()?;
    m.add_class::<PyLatency>()?;
    m.add(
        "LATENCIES",
        PyTuple::new(
            m.py(),
            LATENCIES
                .iter()
                .map(|l| Py::new(m.py(), PyLatency::from(l)))
                .collect::<PyResult<Vec<_>>>()?,
        )?,
    )?;
    m.add_class::<PySummary>()?;
    m.add_class::<PyResources>()?;
    m.add_class::<PyBrief>()?;
    m.add_class::<PyTopError>()?;
    m.add_class::<PyHealth>()?;
    m.add_class::<PyPoint>()?;
    m.add_class::<PyExemplar>()?;
    m.add_class::<PyNative>()?;
    m.add_class::<PyCumulative>()?;
    m.add_class::<PyWorker>()?;
    m.add_class::<PySharedStatus>()?;
    m.add_class::<instrument::OperationScope>()?;
    m.add_class::<instrument::FastPath>()?;
    m.add_class::<instrument::Instrumented>()?;
    m.add_class::<instrument::StepPath>()?;
    m.add_class::<instrument::SpanSwitch>()?;
    m.add_class::<emit::LaneInForce>()?;
    m.add_function(wrap_pyfunction!(instrument::perf_counter, m)?)?;
    m.add_function(wrap_pyfunction!(instrument::bump_generation, m)?)?;
    m.add_class::<PyHealthRow>()?;
    m.add_class::<PyFiringAlert>()?;
    m.add_class::<typed::PySample>()?;
    m.add_class::<PyFamily>()?;
    m.add_class::<typed::PyPipelineState>()?;
    m.add_function(wrap_pyfunction!(expose, m)?)?;
    m.add_function(wrap_pyfunction!(judge_health, m)?)?;
    m.add_function(wrap_pyfunction!(_fork_prepare, m)?)?;
    m.add_function(wrap_pyfunction!(_fork_done, m)?)?;
    m.add_class::<PyTextMasker>()?;
    m.add_function(wrap_pyfunction!(mask_text, m)?)?;
    m.add_function(wrap_pyfunction!(logline::render_log_chunks, m)?)?;
    m.add_class::<logline::RenderedChunks>()?;
    m.add_class::<logpipe::PyLogPipeline>()?;
    Ok(())
}
