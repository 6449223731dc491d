//! The instrumentation layer's native half (`rfs_monitoring._instrument` is the other): the
//! operation scope, the sync wrapper of both decorators and the common case's fast path.
//!
//! - `OperationScope`: the mutable state of one logged operation, made here so that opening
//!   one costs one allocation and no Python frame.
//! - `FastPath`: what a decorated function does with a plain `Success` (`monitor_result`:
//!   always; `log_result_operation`: a plain spec, no span): reset the operation's context
//!   variable and record the sample into the bound metrics handle, without calling Python;
//!   when the success level passes the threshold, the entry goes straight to the log's `emit`
//!   (one Python call, no observer frames). Anything else goes to the observer's Python
//!   `leave`. Written once: the sync wrapper below and the async wrapper of
//!   `_instrument.wrap` (through `FastPath.leave`) both settle through it.
//! - `Instrumented`: the sync wrapper. It opens the scope (or asks the observer's `enter` when
//!   a span may be started), times the call and settles it through its `FastPath`; a raised
//!   exception goes to `raised` (an `Exception`) or `abandoned` (any other `BaseException`).
//!
//! Context variables are set and reset through their Python methods (bound once): the C
//! functions (`PyContextVar_Set`...) are not part of the limited API this abi3 module is built
//! against, so there is no `unsafe` here. Recording never breaks the call: a failure on the
//! fast path goes back to Python, which reports it.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use pyo3::exceptions::PyException;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};
use pyo3::PyTraverseError;
use rfs_monitoring_core::Outcome;

use crate::PyHandle;

/// `time.perf_counter()`'s reading at one `Instant`: both read the same monotonic clock
/// (`CLOCK_MONOTONIC` on Linux, `mach_absolute_time` on macOS, `QueryPerformanceCounter` on
/// Windows), so an `Instant` converts to `perf_counter` seconds by its distance to this one.
/// Taken between two `perf_counter` readings, their midpoint (a few tens of ns apart).
static PERF_ANCHOR: PyOnceLock<(Instant, f64)> = PyOnceLock::new();

fn perf_anchor(py: Python<'_>) -> PyResult<&'static (Instant, f64)> {
    PERF_ANCHOR.get_or_try_init(py, || {
        let perf = py.import("time")?.getattr("perf_counter")?;
        let before: f64 = perf.call0()?.extract()?;
        let at = Instant::now();
        let after: f64 = perf.call0()?.extract()?;
        Ok((at, (before + after) / 2.0))
    })
}

/// `at` on `time.perf_counter`'s clock, in seconds.
fn perf_seconds(py: Python<'_>, at: Instant) -> PyResult<f64> {
    let (anchor, seconds) = perf_anchor(py)?;
    Ok(if at >= *anchor {
        seconds + at.duration_since(*anchor).as_secs_f64()
    } else {
        seconds - anchor.duration_since(at).as_secs_f64()
    })
}

/// `time.perf_counter()` read through the native clock (what `OperationScope.boundary` holds
/// when the native wrapper opened the scope).
#[pyfunction]
pub(crate) fn perf_counter(py: Python<'_>) -> PyResult<f64> {
    perf_seconds(py, Instant::now())
}

/// Bumped whenever the process-wide collector changes (any assignment of
/// `ResultMetricsCollector._instance`, through its metaclass), so the fast paths look their
/// handle up again.
static COLLECTOR_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Tells every fast path that the process-wide collector changed.
#[pyfunction]
pub(crate) fn bump_generation() {
    COLLECTOR_GENERATION.fetch_add(1, Ordering::AcqRel);
}

static CONTEXT_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// A fresh correlation ID from `rfs_monitoring.context`'s generator (the one
/// `set_correlation_id_generator` installs).
fn new_correlation_id(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let module = CONTEXT_MODULE.get_or_try_init(py, || {
        py.import("rfs_monitoring.context").map(Bound::unbind)
    })?;
    module.bind(py).getattr(intern!(py, "_generator"))?.call0()
}

fn some(value: Bound<'_, PyAny>) -> Option<Py<PyAny>> {
    if value.is_none() {
        None
    } else {
        Some(value.unbind())
    }
}

/// The mutable state of one logged operation, shared by the steps of its chains.
///
/// It lives in a context variable holding this *object*, so tasks created inside the operation
/// (``timeout()`` runs the chain in a task) see and update the same state. ``boundary`` is on
/// `time.perf_counter`'s clock. Private to the package (re-exported by
/// `rfs_monitoring.context`).
#[pyclass(module = "rfs_monitoring._core", name = "OperationScope")]
pub(crate) struct OperationScope {
    #[pyo3(get, set)]
    name: Py<PyAny>,
    #[pyo3(get, set)]
    correlation_id: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    parent: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    boundary: f64,
    #[pyo3(get, set)]
    failure_step: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    span: Option<Py<PyAny>>,
}

impl OperationScope {
    /// The operation's name and its correlation ID when one is kept (not generated here).
    pub(crate) fn name_and_id(&self, py: Python<'_>) -> (Py<PyAny>, Option<Py<PyAny>>) {
        (
            self.name.clone_ref(py),
            self.correlation_id.as_ref().map(|cid| cid.clone_ref(py)),
        )
    }
}

#[pymethods]
impl OperationScope {
    #[new]
    #[pyo3(signature = (name, correlation_id, parent=None))]
    fn new(name: Py<PyAny>, correlation_id: Option<Py<PyAny>>, parent: Option<Py<PyAny>>) -> Self {
        Self {
            name,
            correlation_id,
            parent,
            boundary: 0.0,
            failure_step: None,
            span: None,
        }
    }

    /// Close a step of this operation (`rfs_monitoring._instrument.close_step`): its own
    /// duration in ms, since the previous step ended or `started` (seconds on
    /// `time.perf_counter`'s clock), whichever is later; the first failing step is named in
    /// `failure_step`, and a success clears it (a recovery starts over).
    fn close_step(
        &mut self,
        py: Python<'_>,
        name: Py<PyAny>,
        failed: bool,
        started: f64,
    ) -> PyResult<f64> {
        let now = perf_seconds(py, Instant::now())?;
        let since = if self.boundary > started {
            self.boundary
        } else {
            started
        };
        self.boundary = now;
        if !failed {
            self.failure_step = None;
        } else if self.failure_step.is_none() {
            self.failure_step = Some(name);
        }
        Ok((now - since) * 1000.0)
    }

    /// The operation's correlation ID, generated on first use (most calls never need one); a
    /// nested operation shares its parent's.
    fn ensure_correlation_id(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let parent = {
            let scope = slf.try_borrow()?;
            if let Some(cid) = &scope.correlation_id {
                return Ok(cid.clone_ref(py));
            }
            scope.parent.as_ref().map(|p| p.clone_ref(py))
        };
        let cid = match parent {
            Some(parent) => parent
                .bind(py)
                .call_method0(intern!(py, "ensure_correlation_id"))?,
            None => new_correlation_id(py)?,
        };
        slf.try_borrow_mut()?.correlation_id = some(cid.clone());
        Ok(cid.unbind())
    }

    // The garbage collector sees what a scope holds: a span's context token may hold the
    // context that holds the scope.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.name)?;
        visit.call(&self.correlation_id)?;
        visit.call(&self.parent)?;
        visit.call(&self.failure_step)?;
        visit.call(&self.span)
    }

    fn __clear__(&mut self) {
        self.correlation_id = None;
        self.parent = None;
        self.failure_step = None;
        self.span = None;
    }
}

/// What one call's hooks share: nothing (`monitor_result`), the operation the call runs in
/// (opened here or by the observer's `enter`), or another observer's own state.
enum State<'py> {
    Metrics,
    Scope {
        scope: Bound<'py, PyAny>,
        token: Bound<'py, PyAny>,
        /// The call's span (never `None` here: no span is `Option::None`).
        span: Option<Bound<'py, PyAny>>,
    },
    Opaque(Bound<'py, PyAny>),
}

impl<'py> State<'py> {
    /// An observer's `enter` result: `(scope, token, span)` for a logged call.
    fn read(value: Bound<'py, PyAny>) -> Self {
        if value.is_none() {
            return State::Metrics;
        }
        if let Ok(tuple) = value.cast::<PyTuple>() {
            if tuple.len() == 3 {
                if let (Ok(scope), Ok(token), Ok(span)) =
                    (tuple.get_item(0), tuple.get_item(1), tuple.get_item(2))
                {
                    if scope.is_instance_of::<OperationScope>() {
                        return State::Scope {
                            scope,
                            token,
                            span: if span.is_none() { None } else { Some(span) },
                        };
                    }
                }
            }
        }
        State::Opaque(value)
    }

    /// The state as the Python hooks take it.
    fn to_py(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            State::Metrics => py.None().into_bound(py),
            State::Scope { scope, token, span } => PyTuple::new(
                py,
                [
                    scope.clone(),
                    token.clone(),
                    span.clone().unwrap_or_else(|| py.None().into_bound(py)),
                ],
            )?
            .into_any(),
            State::Opaque(value) => value.clone(),
        })
    }
}

/// `rfs_monitoring.tracing.enabled`'s answer (``on``), kept for the OpenTelemetry global
/// provider it was worked out for (``provider``), and the version `set_tracer_provider` bumps:
/// `rfs_monitoring._bindings.spans`. Native, so the fast paths read it without an attribute
/// lookup.
#[pyclass(module = "rfs_monitoring._core", name = "SpanSwitch")]
pub(crate) struct SpanSwitch {
    #[pyo3(get, set)]
    on: bool,
    #[pyo3(get, set)]
    provider: Py<PyAny>,
    #[pyo3(get, set)]
    version: i64,
}

#[pymethods]
impl SpanSwitch {
    /// Off, for `provider` (an object no provider is, so the answer is worked out first).
    #[new]
    fn new(provider: Py<PyAny>) -> Self {
        Self {
            on: false,
            provider,
            version: 0,
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.provider)
    }
}

/// What the native paths read of the log's configuration: the level table and whether spans
/// may be started. Shared by a decorated function's `FastPath` and a step's `StepPath`.
struct Links {
    /// `rfs_monitoring._logging.levels._levels` (``version``, ``threshold(name)``).
    levels: Py<PyAny>,
    /// `sys.modules` and `rfs_monitoring._bindings.spans`: whether a span may be started.
    modules: Py<PyDict>,
    spans: Py<SpanSwitch>,
}

impl Links {
    fn new(py: Python<'_>, levels: Py<PyAny>, spans: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self {
            levels,
            modules: py.import("sys")?.getattr("modules")?.cast_into()?.unbind(),
            spans: spans.cast::<SpanSwitch>()?.clone().unbind(),
        })
    }

    /// Whether no span can be started now (`_start_span` would answer `None` without asking
    /// the tracing module): OpenTelemetry not imported, or the tracing module's kept answer
    /// "off" for the provider still installed. An error reads as "maybe".
    fn spans_off(&self, py: Python<'_>) -> bool {
        let trace = match self
            .modules
            .bind(py)
            .get_item(intern!(py, "opentelemetry.trace"))
        {
            Ok(None) => return true,
            Ok(Some(trace)) => trace,
            Err(_) => return false,
        };
        // The module's global read from its namespace, as Python code reads it.
        let name = intern!(py, "_TRACER_PROVIDER");
        let provider = match trace.cast::<PyModule>() {
            Ok(module) => module.dict().get_item(name).ok().flatten(),
            Err(_) => trace.getattr(name).ok(),
        }
        .unwrap_or_else(|| py.None().into_bound(py));
        let Ok(switch) = self.spans.bind(py).try_borrow() else {
            return false;
        };
        !switch.on && switch.provider.bind(py).is(&provider)
    }

    /// The level threshold of operation `name`, kept in `cached` as `(levels.version,
    /// threshold)` and looked up again only when the table's version moved.
    fn threshold(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        cached: &Mutex<(i64, i64)>,
    ) -> PyResult<i64> {
        let levels = self.levels.bind(py);
        // The version first: a change racing with the lookup leaves a stale version behind,
        // so the next call looks again instead of keeping a stale threshold.
        let version: i64 = levels.getattr(intern!(py, "version"))?.extract()?;
        if let Ok(kept) = cached.lock() {
            if kept.0 == version {
                return Ok(kept.1);
            }
        }
        let threshold: i64 = levels
            .call_method1(intern!(py, "threshold"), (name,))?
            .extract()?;
        if let Ok(mut kept) = cached.lock() {
            *kept = (version, threshold);
        }
        Ok(threshold)
    }

    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.levels)?;
        visit.call(&self.modules)?;
        visit.call(&self.spans)
    }
}

/// A metrics handle bound for the collector installed when it was looked up: reused while
/// that collector stays installed (the collector generation has not moved).
struct BoundHandle(Mutex<Option<(u64, Py<PyHandle>)>>);

impl BoundHandle {
    fn new() -> Self {
        Self(Mutex::new(None))
    }

    /// The handle for the installed collector: the bound one, or `lookup(collector)`'s (bound
    /// for next time unless its name was folded, which the collector re-checks on every
    /// lookup). `None` when Python has to look: no collector class or instance yet (the first
    /// sample creates the collector), or a lookup that failed.
    fn get<'py>(
        &self,
        py: Python<'py>,
        collectors: &Bound<'py, PyAny>,
        lookup: impl FnOnce(&Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>>,
    ) -> Option<Py<PyHandle>> {
        // Read before the collector is: a change racing with the lookup leaves a stale
        // generation behind, so the next call looks again.
        let generation = COLLECTOR_GENERATION.load(Ordering::Acquire);
        if let Ok(bound) = self.0.lock() {
            if let Some((bound_generation, handle)) = bound.as_ref() {
                if *bound_generation == generation {
                    return Some(handle.clone_ref(py));
                }
            }
        }
        let cls = collectors.getattr(intern!(py, "cls")).ok()?;
        if cls.is_none() {
            return None;
        }
        let current = cls.getattr(intern!(py, "_instance")).ok()?;
        if current.is_none() {
            return None;
        }
        let handle = lookup(&current).ok()?.cast_into::<PyHandle>().ok()?;
        if !handle.get().folded {
            let replaced = self
                .0
                .lock()
                .ok()
                .and_then(|mut bound| bound.replace((generation, handle.clone().unbind())));
            drop(replaced); // outside the lock: dropping a handle may run Python code
        }
        Some(handle.unbind())
    }

    // Never held while Python code runs (nor across an allocation): free unless another
    // thread is inside it, and then the handle is skipped (a handle is not collectable).
    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Ok(bound) = self.0.try_lock() {
            if let Some((_, handle)) = bound.as_ref() {
                visit.call(handle)?;
            }
        }
        Ok(())
    }
}

/// The log decorator's part of a fast path: the operation's context variables, the level
/// table and whether spans may be started.
struct Operation {
    get_operation: Py<PyAny>,
    set_operation: Py<PyAny>,
    reset_operation: Py<PyAny>,
    get_correlation: Py<PyAny>,
    links: Links,
    /// The success level when the spec logs no extras (metadata, arguments, result): only
    /// then can a success be settled here.
    level: Option<i64>,
    /// `(levels.version, threshold)` of the last lookup.
    threshold: Mutex<(i64, i64)>,
}

impl Operation {
    fn threshold(&self, py: Python<'_>, name: &Bound<'_, PyString>) -> PyResult<i64> {
        self.links.threshold(py, name.as_any(), &self.threshold)
    }

    /// A new scope made current, and the `Instant` its boundary reads.
    fn open<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyString>,
    ) -> PyResult<(State<'py>, Instant)> {
        let parent = self.get_operation.bind(py).call0()?;
        let correlation = self.get_correlation.bind(py).call0()?;
        let scope = Bound::new(
            py,
            OperationScope::new(
                name.clone().into_any().unbind(),
                some(correlation),
                some(parent),
            ),
        )?;
        let token = self.set_operation.bind(py).call1((&scope,))?;
        let start = Instant::now();
        if let Ok(mut open) = scope.try_borrow_mut() {
            open.boundary = perf_seconds(py, start)?;
        }
        Ok((
            State::Scope {
                scope: scope.into_any(),
                token,
                span: None,
            },
            start,
        ))
    }
}

/// What a settled sample goes into: nothing (metrics off), or a handle.
enum Sample {
    Skip,
    Into(Py<PyHandle>),
}

/// The fast path of one decorated function, shared by its sync and async wrappers.
///
/// `leave(state, outcome, elapsed, args, kwargs)` settles a call the way the observer's Python
/// `leave` would: a plain `Success` is recorded here (into the handle of the collector installed
/// now, bound on first use) and, when its level passes, its entry handed to `emit`; anything
/// else is handed to `leave`.
#[pyclass(frozen, module = "rfs_monitoring._core", name = "FastPath")]
pub(crate) struct FastPath {
    name: Py<PyString>,
    success: Py<PyType>,
    leave: Py<PyAny>,
    /// Records a success when the bound handle raised (the Python sink retries and reports).
    fallback: Py<PyAny>,
    /// `rfs_monitoring._bindings.collectors` (``cls._instance`` is the installed collector);
    /// `None` when the function records no metrics.
    collectors: Option<Py<PyAny>>,
    /// The handle of the last sample, reused while its collector is installed.
    bound: BoundHandle,
    operation: Option<Operation>,
    /// `emit(level, scope, ms, success_type)`: the entry of a plain `Success` whose level
    /// passes (a Python function that never raises); `None` leaves such calls to `leave`.
    emit: Option<Py<PyAny>>,
}

impl FastPath {
    /// The state a call starts with: a scope opened here when no span can be started, else
    /// the observer's `enter`; nothing for `monitor_result`.
    fn begin<'py>(
        &self,
        py: Python<'py>,
        python_enter: &Bound<'py, PyAny>,
    ) -> PyResult<(State<'py>, Instant)> {
        match &self.operation {
            None => Ok((State::Metrics, Instant::now())),
            Some(operation) if operation.links.spans_off(py) => {
                operation.open(py, self.name.bind(py))
            }
            Some(_) => {
                let state = State::read(python_enter.call0()?);
                Ok((state, Instant::now()))
            }
        }
    }

    /// Where a fast-path sample goes, and the level of the entry to write when the call's
    /// level passes; `None` when this call cannot settle here.
    fn sample(&self, py: Python<'_>, state: &State<'_>) -> Option<(Sample, Option<i64>)> {
        let logged = match (&self.operation, state) {
            (None, State::Metrics) => None,
            (Some(operation), State::Scope { span: None, .. }) => {
                let level = operation.level?;
                let threshold = operation.threshold(py, self.name.bind(py)).ok()?;
                if level < threshold {
                    None // filtered out: the sample is all there is to do
                } else if self.emit.is_some() {
                    Some(level)
                } else {
                    return None;
                }
            }
            _ => return None,
        };
        self.handle(py).map(|sample| (sample, logged))
    }

    /// The handle a sample goes into (bound for the installed collector), `Sample::Skip`
    /// when the function records no metrics, `None` when Python has to look.
    fn handle(&self, py: Python<'_>) -> Option<Sample> {
        let Some(collectors) = &self.collectors else {
            return Some(Sample::Skip);
        };
        let name = self.name.bind(py);
        self.bound
            .get(py, collectors.bind(py), |collector| {
                collector.call_method1(intern!(py, "operation"), (name,))
            })
            .map(Sample::Into)
    }

    /// The entry of a plain `Success` whose level passes: `emit(level, scope, ms,
    /// type(outcome.value).__name__)`. `emit` never raises; if it did, or the value's type
    /// name cannot be read, the failure is reported as unraisable and the call goes on.
    fn write_entry<'py>(
        &self,
        py: Python<'py>,
        emit: &Bound<'py, PyAny>,
        level: i64,
        scope: &Bound<'py, PyAny>,
        outcome: &Bound<'py, PyAny>,
        ms: f64,
    ) {
        let written = outcome
            .getattr(intern!(py, "value"))
            .and_then(|value| value.get_type().name())
            .and_then(|type_name| {
                crate::emit::emit_success(py, emit, level, scope, ms, type_name.as_any(), None)
            });
        if let Err(err) = written {
            err.write_unraisable(py, Some(emit));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn settle<'py>(
        &self,
        py: Python<'py>,
        state: &State<'py>,
        outcome: Bound<'py, PyAny>,
        elapsed: f64,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if outcome.get_type().is(self.success.bind(py)) {
            if let Some((sample, logged)) = self.sample(py, state) {
                if let (Some(operation), State::Scope { token, .. }) = (&self.operation, state) {
                    operation.reset_operation.bind(py).call1((token,))?;
                }
                let ms = elapsed * 1_000.0;
                if let Sample::Into(handle) = sample {
                    if handle
                        .get()
                        .record_outcome(py, ms, Outcome::Success)
                        .is_err()
                    {
                        // Metrics never break the call: the Python sink retries and reports.
                        if let Err(err) = self.fallback.bind(py).call1((ms,)) {
                            err.write_unraisable(py, Some(self.fallback.bind(py)));
                        }
                    }
                }
                if let (Some(level), Some(emit), State::Scope { scope, .. }) =
                    (logged, &self.emit, state)
                {
                    self.write_entry(py, emit.bind(py), level, scope, &outcome, ms);
                }
                return Ok(outcome);
            }
        }
        let kwargs = kwargs.map_or_else(|| PyDict::new(py), Bound::clone);
        self.leave
            .bind(py)
            .call1((state.to_py(py)?, outcome, elapsed, args, kwargs))
    }
}

#[pymethods]
impl FastPath {
    #[new]
    #[pyo3(signature = (
        name, success, leave, fallback, collectors, *, operation=None, correlation=None,
        levels=None, level=None, spans=None, emit=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: Py<PyString>,
        success: Py<PyType>,
        leave: Py<PyAny>,
        fallback: Py<PyAny>,
        collectors: Option<Py<PyAny>>,
        operation: Option<Bound<'_, PyAny>>,
        correlation: Option<Bound<'_, PyAny>>,
        levels: Option<Py<PyAny>>,
        level: Option<i64>,
        spans: Option<Py<PyAny>>,
        emit: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let operation = match (operation, correlation, levels, spans) {
            (None, None, None, None) => None,
            (Some(var), Some(correlation), Some(levels), Some(spans)) => Some(Operation {
                get_operation: var.getattr("get")?.unbind(),
                set_operation: var.getattr("set")?.unbind(),
                reset_operation: var.getattr("reset")?.unbind(),
                get_correlation: correlation.getattr("get")?.unbind(),
                links: Links::new(py, levels, spans.bind(py))?,
                level,
                threshold: Mutex::new((-1, 0)),
            }),
            _ => {
                return Err(crate::value_error(
                    "operation, correlation, levels and spans go together",
                ))
            }
        };
        Ok(Self {
            name,
            success,
            leave,
            fallback,
            collectors,
            bound: BoundHandle::new(),
            operation,
            emit,
        })
    }

    // The garbage collector sees what a fast path holds (its observer's hooks usually hold
    // the observer, which holds the fast path).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.name)?;
        visit.call(&self.success)?;
        visit.call(&self.leave)?;
        visit.call(&self.fallback)?;
        visit.call(&self.collectors)?;
        visit.call(&self.emit)?;
        if let Some(operation) = &self.operation {
            visit.call(&operation.get_operation)?;
            visit.call(&operation.set_operation)?;
            visit.call(&operation.reset_operation)?;
            visit.call(&operation.get_correlation)?;
            operation.links.traverse(&visit)?;
        }
        self.bound.traverse(&visit)
    }

    /// Settles a call (see the class): what the caller gets.
    fn leave<'py>(
        &self,
        py: Python<'py>,
        state: Bound<'py, PyAny>,
        outcome: Bound<'py, PyAny>,
        elapsed: f64,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.settle(py, &State::read(state), outcome, elapsed, args, kwargs)
    }

    /// The state an async call starts with, opened as the sync wrapper opens it: a scope made
    /// current here when no span can be started, else `python_enter()`'s; `None` for
    /// `monitor_result`. For `rfs_monitoring._instrument.wrap`'s async wrapper.
    fn enter<'py>(
        &self,
        py: Python<'py>,
        python_enter: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.begin(py, python_enter)?.0.to_py(py)
    }

    /// The level threshold for this operation under the current level table (looked up
    /// again only when the table's version moved); a `ValueError` for `monitor_result`'s.
    fn threshold(&self, py: Python<'_>) -> PyResult<i64> {
        match &self.operation {
            Some(operation) => operation.threshold(py, self.name.bind(py)),
            None => Err(crate::value_error("a metrics-only fast path has no level")),
        }
    }
}

/// The sync wrapper of the package's decorators (`rfs_monitoring._instrument.wrap`).
///
/// Calls `func` between the observer's hooks; with a `FastPath`, the scope is opened and the
/// common case settled natively (see the module). Carries the wrapped function's attributes in
/// its `__dict__` (`functools.update_wrapper`), binds to instances as a method, and pickles by
/// qualified name like the function it replaces.
#[pyclass(frozen, dict, module = "rfs_monitoring._core", name = "Instrumented")]
pub(crate) struct Instrumented {
    func: Py<PyAny>,
    enter: Py<PyAny>,
    leave: Py<PyAny>,
    raised: Py<PyAny>,
    abandoned: Py<PyAny>,
    fast: Option<Py<FastPath>>,
}

#[pymethods]
impl Instrumented {
    #[new]
    #[pyo3(signature = (func, observer, fast=None))]
    fn new(
        func: Py<PyAny>,
        observer: &Bound<'_, PyAny>,
        fast: Option<Py<FastPath>>,
    ) -> PyResult<Self> {
        Ok(Self {
            func,
            enter: observer.getattr("enter")?.unbind(),
            leave: observer.getattr("leave")?.unbind(),
            raised: observer.getattr("raised")?.unbind(),
            abandoned: observer.getattr("abandoned")?.unbind(),
            fast,
        })
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fast = self.fast.as_ref().map(Py::get);
        let (state, start) = match fast {
            Some(fast) => fast.begin(py, self.enter.bind(py))?,
            None => (State::Opaque(self.enter.bind(py).call0()?), Instant::now()),
        };
        let result = self.func.bind(py).call(args, kwargs);
        let elapsed = start.elapsed().as_secs_f64();
        match result {
            Ok(outcome) => match fast {
                Some(fast) => fast.settle(py, &state, outcome, elapsed, args, kwargs),
                None => {
                    let kwargs = kwargs.map_or_else(|| PyDict::new(py), Bound::clone);
                    self.leave
                        .bind(py)
                        .call1((state.to_py(py)?, outcome, elapsed, args, kwargs))
                }
            },
            Err(err) => {
                let state = state.to_py(py)?;
                let is_exception = err.is_instance_of::<PyException>(py);
                // The hooks see the exception with its traceback, as in an `except` block.
                let error = err.into_value(py).into_bound(py);
                if is_exception {
                    let kwargs = kwargs.map_or_else(|| PyDict::new(py), Bound::clone);
                    self.raised
                        .bind(py)
                        .call1((state, &error, elapsed, args, kwargs))?;
                } else {
                    self.abandoned.bind(py).call1((state, &error, elapsed))?;
                }
                Err(PyErr::from_value(error.into_any()))
            }
        }
    }

    // The garbage collector sees the function, the hooks and the fast path (the instance
    // `__dict__` is visited by PyO3).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.func)?;
        visit.call(&self.enter)?;
        visit.call(&self.leave)?;
        visit.call(&self.raised)?;
        visit.call(&self.abandoned)?;
        visit.call(&self.fast)
    }

    /// Binds the wrapper to an instance when it decorates a method.
    fn __get__<'py>(
        slf: Bound<'py, Self>,
        instance: Option<Bound<'py, PyAny>>,
        owner: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = owner;
        match instance {
            None => Ok(slf.into_any()),
            Some(instance) => {
                let py = slf.py();
                py.import("types")?
                    .getattr("MethodType")?
                    .call1((slf, instance))
            }
        }
    }

    /// Pickled by reference, as a function is: its module and qualified name.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.getattr(intern!(slf.py(), "__qualname__"))
    }
}

/// The level of a step's success entry (INFO), and the threshold test's bound.
const STEP_SUCCESS_LEVEL: i64 = 20;

/// What a step keeps per operation it runs in: the bound handle and the level answer.
struct StepSite {
    operation: Py<PyString>,
    handle: BoundHandle,
    /// `(levels.version, threshold)` of the operation's last lookup.
    threshold: Mutex<(i64, i64)>,
}

/// Operations a step keeps sites for before it starts over (a step shared by more
/// operations than this looks its handle up again; names are user input).
const MAX_STEP_SITES: usize = 64;

/// One observed step of MonoResult chains (`log_step(name)` / `log_error(name)`), called by the
/// chain with the operation's scope, the chain's result so far (exactly a `Success` or a
/// `Failure`) and when the chain started: the step is closed in its operation, and a `Success`
/// (the request path's common case) is recorded into the handle bound for the installed
/// collector and, when its level passes and no span can be started, its entry handed to
/// `emit(level, scope, ms, success_type, step)`; otherwise the step's Python sinks take it
/// (`observe` for a `Failure` or when Python has to look the handle up, `entry` / `span` when a
/// span may be started). Never raises: a failure is handed to `report`.
#[pyclass(frozen, module = "rfs_monitoring._core", name = "StepPath")]
pub(crate) struct StepPath {
    name: Py<PyString>,
    errors_only: bool,
    success: Py<PyType>,
    /// The namespace of `rfs_monitoring._logging.steps`, whose sinks are read when they are
    /// needed (as Python code reads them, so a sink replaced later is the one called):
    /// `_observe(scope, name, ms, failed, error, success_type, metadata, errors_only)`,
    /// `_step_entry(scope, name, ms, failed, error, code, message, success_type, metadata)`,
    /// `_step_span(scope, name, ms, failed, code)`, `_report_step_failure(error)`.
    sinks: Py<PyDict>,
    emit: Py<PyAny>,
    /// `rfs_monitoring._bindings.collectors` (``cls._instance`` is the installed collector).
    collectors: Py<PyAny>,
    links: Links,
    sites: Mutex<Vec<std::sync::Arc<StepSite>>>,
}

impl StepPath {
    /// The steps module's sink `name`, read now.
    fn sink<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyString>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::emit::global(self.sinks.bind(py), name)
    }

    /// The site of `operation` (made on its first pass).
    fn site(&self, py: Python<'_>, operation: &Bound<'_, PyString>) -> std::sync::Arc<StepSite> {
        if let Ok(sites) = self.sites.lock() {
            // Identity first: an operation's name is usually the same string object.
            let found = sites
                .iter()
                .find(|site| site.operation.bind(py).is(operation))
                .or_else(|| {
                    sites.iter().find(|site| {
                        site.operation
                            .bind(py)
                            .as_any()
                            .eq(operation)
                            .unwrap_or(false)
                    })
                });
            if let Some(site) = found {
                return site.clone();
            }
        }
        let site = std::sync::Arc::new(StepSite {
            operation: operation.clone().unbind(),
            handle: BoundHandle::new(),
            threshold: Mutex::new((-1, 0)),
        });
        let dropped = self.sites.lock().ok().map(|mut sites| {
            let dropped = if sites.len() >= MAX_STEP_SITES {
                std::mem::take(&mut *sites)
            } else {
                Vec::new()
            };
            sites.push(site.clone());
            dropped
        });
        drop(dropped); // outside the lock: dropping handles may run Python code
        site
    }

    /// Closes the step in `scope` (an `OperationScope`: anything else is refused): its own
    /// duration in ms.
    fn close(
        &self,
        py: Python<'_>,
        scope: &Bound<'_, PyAny>,
        failed: bool,
        started: f64,
    ) -> PyResult<f64> {
        scope
            .cast::<OperationScope>()?
            .try_borrow_mut()?
            .close_step(py, self.name.clone_ref(py).into_any(), failed, started)
    }

    fn pass(
        &self,
        py: Python<'_>,
        scope: &Bound<'_, PyAny>,
        result: &Bound<'_, PyAny>,
        started: f64,
    ) -> PyResult<()> {
        let name = self.name.bind(py);
        let none = py.None().into_bound(py);
        if !result.get_type().is(self.success.bind(py)) {
            let ms = self.close(py, scope, true, started)?;
            let error = result.getattr(intern!(py, "error"))?;
            self.sink(py, intern!(py, "_observe"))?.call1((
                scope,
                name,
                ms,
                true,
                error,
                &none,
                &none,
                self.errors_only,
            ))?;
            return Ok(());
        }
        let ms = self.close(py, scope, false, started)?;
        let success_type = result.getattr(intern!(py, "value"))?.get_type().name()?;
        let python_sinks = |py: Python<'_>| -> PyResult<()> {
            self.sink(py, intern!(py, "_observe"))?.call1((
                scope,
                name,
                ms,
                false,
                py.None(),
                &success_type,
                py.None(),
                self.errors_only,
            ))?;
            Ok(())
        };
        let Ok(operation) = scope.getattr(intern!(py, "name"))?.cast_into::<PyString>() else {
            return python_sinks(py);
        };
        let site = self.site(py, &operation);
        let handle = site.handle.get(py, self.collectors.bind(py), |collector| {
            collector.call_method1(intern!(py, "step"), (&operation, name))
        });
        // No handle to record into here, or one that refused the sample: the Python sinks
        // look, record (or report) and log.
        let Some(handle) = handle else {
            return python_sinks(py);
        };
        if handle
            .get()
            .record_outcome(py, ms, Outcome::Success)
            .is_err()
        {
            return python_sinks(py);
        }
        if self.errors_only {
            return Ok(());
        }
        let threshold = self
            .links
            .threshold(py, operation.as_any(), &site.threshold)?;
        let logged = STEP_SUCCESS_LEVEL >= threshold;
        if self.links.spans_off(py) {
            if logged {
                crate::emit::emit_success(
                    py,
                    self.emit.bind(py),
                    STEP_SUCCESS_LEVEL,
                    scope,
                    ms,
                    success_type.as_any(),
                    Some(name.as_any()),
                )?;
            }
        } else if logged {
            self.sink(py, intern!(py, "_step_entry"))?.call1((
                scope,
                name,
                ms,
                false,
                &none,
                &none,
                &none,
                &success_type,
                &none,
            ))?;
        } else {
            self.sink(py, intern!(py, "_step_span"))?
                .call1((scope, name, ms, false, &none))?;
        }
        Ok(())
    }
}

#[pymethods]
impl StepPath {
    #[new]
    #[pyo3(signature = (
        name, errors_only, success, *, sinks, emit, collectors, levels, spans,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: Py<PyString>,
        errors_only: bool,
        success: Py<PyType>,
        sinks: &Bound<'_, PyAny>,
        emit: Py<PyAny>,
        collectors: Py<PyAny>,
        levels: Py<PyAny>,
        spans: Py<PyAny>,
    ) -> PyResult<Self> {
        Ok(Self {
            name,
            errors_only,
            success,
            sinks: crate::emit::namespace(sinks)?,
            emit,
            collectors,
            links: Links::new(py, levels, spans.bind(py))?,
            sites: Mutex::new(Vec::new()),
        })
    }

    /// The step's name.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    /// Whether the step logs only failures (`log_error`).
    #[getter]
    fn errors_only(&self) -> bool {
        self.errors_only
    }

    /// One pass of a chain through the step (see the class); never raises.
    fn __call__(
        &self,
        py: Python<'_>,
        scope: &Bound<'_, PyAny>,
        result: &Bound<'_, PyAny>,
        started: f64,
    ) {
        if let Err(err) = self.pass(py, scope, result, started) {
            let reported = self
                .sink(py, intern!(py, "_report_step_failure"))
                .and_then(|report| report.call1((err.into_value(py),)));
            if let Err(unreported) = reported {
                unreported.write_unraisable(py, None);
            }
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.name)?;
        visit.call(&self.success)?;
        visit.call(&self.sinks)?;
        visit.call(&self.emit)?;
        visit.call(&self.collectors)?;
        self.links.traverse(&visit)?;
        if let Ok(sites) = self.sites.try_lock() {
            for site in sites.iter() {
                visit.call(&site.operation)?;
                site.handle.traverse(&visit)?;
            }
        }
        Ok(())
    }
}
