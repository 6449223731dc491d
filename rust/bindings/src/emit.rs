//! The log's lane in force, and the entry of a plain `Success` (an operation's, or a step's)
//! handed to the core's lane by its fields without a Python frame: `LaneInForce` is
//! `rfs_monitoring._logging.writer._lanes` (its `current` is the writer's `_current_lane`, its
//! `emit_success` the writer's `_emit_success`), and the native fast paths (`FastPath`,
//! `StepPath`) hand their entries to it without even a Python call.
//!
//! The lane is the one `rfs_monitoring._logging.writer._select_lane` chose (and recorded here
//! with `chose`) for the configuration, masker and `sys.stdout` in force; when one of them
//! changed, `_select_lane` is called to choose again. Everything the core does not take (the
//! Python lane, listeners, a bound context, a refusal) goes to the writer's
//! `_emit_raw_success`. The writer's functions are read from its namespace when they are
//! needed, as Python code would.
use std::sync::Mutex;

use pyo3::exceptions::PyKeyError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::instrument::OperationScope;
use crate::logpipe::PyLogPipeline;

/// What `LogPipeline.put_success` answers for an entry it did not take.
const NOT_TAKEN: u8 = 1;

/// The lane chosen, and what it was chosen for.
struct Choice {
    /// The core's pipeline, or `None` (the Python lane).
    lane: Py<PyAny>,
    /// The `_Config` and the `Masker` in force at the choice (`None` before the first).
    config: Py<PyAny>,
    masker: Py<PyAny>,
    /// With the default stream, the `sys.stdout` of the choice; else `None`.
    stdout: Py<PyAny>,
}

/// The log's lane in force and the entry of a plain `Success` (see the module).
#[pyclass(frozen, module = "rfs_monitoring._core", name = "LaneInForce")]
pub(crate) struct LaneInForce {
    choice: Mutex<Choice>,
    /// The writer module's namespace: `_select_lane()` (the lane chosen again),
    /// `_emit_raw_success(level, scope, ms, success_type, step)` (the general path),
    /// `_refresh_resources(lane)` and `_report_emit(error)` (a failure, reported once).
    writer: Py<PyDict>,
    /// `rfs_monitoring._logging.config`'s namespace: `_config`, `_listeners`.
    config: Py<PyDict>,
    /// `rfs_monitoring.masking`'s namespace: `_default`.
    masking: Py<PyDict>,
    /// `sys`'s namespace: `stdout`.
    sys: Py<PyDict>,
    /// The bound context's getter (`rfs_monitoring.context._bound.get`).
    bound: Py<PyAny>,
}

/// `namespace[name]`: a module's global, read as Python code reads it (a module's attribute
/// lookup would first search the module type's attributes: twice the work).
pub(crate) fn global<'py>(
    namespace: &Bound<'py, PyDict>,
    name: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    namespace
        .get_item(name)?
        .ok_or_else(|| PyKeyError::new_err(name.clone().unbind()))
}

/// The namespace of `module`.
pub(crate) fn namespace(module: &Bound<'_, PyAny>) -> PyResult<Py<PyDict>> {
    Ok(module.getattr("__dict__")?.cast_into::<PyDict>()?.unbind())
}

impl LaneInForce {
    /// The choice, locked (never held while Python code runs).
    fn choice(&self) -> PyResult<std::sync::MutexGuard<'_, Choice>> {
        self.choice
            .lock()
            .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("the lane choice is poisoned"))
    }

    /// The lane chosen, when it was chosen for `config`, `masker` and `stdout` (what is in
    /// force); `None` when one of them changed since.
    fn chosen_lane<'py>(
        &self,
        py: Python<'py>,
        config: &Bound<'py, PyAny>,
        masker: &Bound<'py, PyAny>,
        stdout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let choice = self.choice()?;
        if !(choice.config.bind(py).is(config) && choice.masker.bind(py).is(masker)) {
            return Ok(None);
        }
        let chosen_stdout = choice.stdout.bind(py);
        let same_stdout = chosen_stdout.is_none()
            || match stdout {
                Some(stdout) => chosen_stdout.is(stdout),
                None => chosen_stdout.is(&global(self.sys.bind(py), intern!(py, "stdout"))?),
            };
        Ok(same_stdout.then(|| choice.lane.bind(py).clone()))
    }

    /// Calls the writer's function `name`.
    fn call<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyString>,
        args: impl pyo3::call::PyCallArgs<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        global(self.writer.bind(py), name)?.call1(args)
    }

    fn try_emit(
        &self,
        py: Python<'_>,
        level: i64,
        scope: &Bound<'_, PyAny>,
        ms: f64,
        success_type: &Bound<'_, PyAny>,
        step: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let lane = self.current(py)?;
        if !global(self.config.bind(py), intern!(py, "_listeners"))?.is_truthy()? {
            if let Ok(pipeline) = lane.cast::<PyLogPipeline>() {
                // The entry's fields into the pipeline; anything refused or failing is
                // `NOT_TAKEN`, so that the general path takes the entry.
                let put = || -> PyResult<u8> {
                    let Ok(level) = u8::try_from(level) else {
                        return Ok(NOT_TAKEN);
                    };
                    // Any other scope is refused here: the general path takes it.
                    let (name, kept) = scope
                        .cast::<OperationScope>()?
                        .try_borrow()?
                        .name_and_id(py);
                    let (name, kept) = (name.into_bound(py), kept.map(|cid| cid.into_bound(py)));
                    // `scope.correlation_id or scope.ensure_correlation_id()`.
                    let correlation_id = match kept {
                        Some(cid) if cid.is_truthy()? => cid,
                        _ => scope.call_method0(intern!(py, "ensure_correlation_id"))?,
                    };
                    let step = match step {
                        Some(step) if !step.is_none() => Some(step.cast::<PyString>()?.to_cow()?),
                        _ => None,
                    };
                    pipeline.get().put_success(
                        py,
                        level,
                        &correlation_id.cast::<PyString>()?.to_cow()?,
                        &name.cast::<PyString>()?.to_cow()?,
                        ms,
                        &success_type.cast::<PyString>()?.to_cow()?,
                        &self.bound.bind(py).call0()?,
                        step.as_deref(),
                    )
                };
                let status = put().unwrap_or(NOT_TAKEN);
                if status != NOT_TAKEN {
                    if status != 0 {
                        self.call(py, intern!(py, "_refresh_resources"), (pipeline,))?;
                    }
                    return Ok(());
                }
            }
        }
        let none = py.None().into_bound(py);
        self.call(
            py,
            intern!(py, "_emit_raw_success"),
            (level, scope, ms, success_type, step.unwrap_or(&none)),
        )?;
        Ok(())
    }
}

/// `emit(level, scope, ms, success_type, step)` for a native fast path: a `LaneInForce`'s
/// `emit_success` without a Python call, any other callable through one (its errors are the caller's).
pub(crate) fn emit_success(
    py: Python<'_>,
    emit: &Bound<'_, PyAny>,
    level: i64,
    scope: &Bound<'_, PyAny>,
    ms: f64,
    success_type: &Bound<'_, PyAny>,
    step: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    if let Ok(native) = emit.cast::<LaneInForce>() {
        native
            .get()
            .emit_success(py, level, scope, ms, success_type, step);
        return Ok(());
    }
    match step {
        Some(step) => emit.call1((level, scope, ms, success_type, step))?,
        None => emit.call1((level, scope, ms, success_type))?,
    };
    Ok(())
}

#[pymethods]
impl LaneInForce {
    #[new]
    #[pyo3(signature = (*, writer, config, masking, sys, bound))]
    fn new(
        py: Python<'_>,
        writer: &Bound<'_, PyAny>,
        config: &Bound<'_, PyAny>,
        masking: &Bound<'_, PyAny>,
        sys: &Bound<'_, PyAny>,
        bound: Py<PyAny>,
    ) -> PyResult<Self> {
        Ok(Self {
            choice: Mutex::new(Choice {
                lane: py.None(),
                config: py.None(),
                masker: py.None(),
                stdout: py.None(),
            }),
            writer: namespace(writer)?,
            config: namespace(config)?,
            masking: namespace(masking)?,
            sys: namespace(sys)?,
            bound,
        })
    }

    /// The lane chosen last (the core's pipeline, or `None` for the Python lane), whatever is
    /// in force now.
    #[getter]
    fn lane(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let choice = self.choice()?;
        Ok(choice.lane.clone_ref(py))
    }

    /// Records the lane `_select_lane` chose for `config`, `masker` and `stdout` (`None` when
    /// a stream was configured).
    fn chose(
        &self,
        py: Python<'_>,
        lane: Py<PyAny>,
        config: Py<PyAny>,
        masker: Py<PyAny>,
        stdout: Py<PyAny>,
    ) -> PyResult<()> {
        let previous = {
            let mut choice = self.choice()?;
            std::mem::replace(
                &mut *choice,
                Choice {
                    lane,
                    config,
                    masker,
                    stdout,
                },
            )
        };
        drop(previous); // outside the lock: dropping the previous lane may run Python code
        let _ = py;
        Ok(())
    }

    /// Forgets the choice (a forked child): the next entry chooses again.
    fn forget(&self, py: Python<'_>) -> PyResult<()> {
        self.chose(py, py.None(), py.None(), py.None(), py.None())
    }

    /// The lane chosen, when it was chosen for `config`, `masker` and `stdout`; else `None`.
    fn chosen_for<'py>(
        &self,
        py: Python<'py>,
        config: &Bound<'py, PyAny>,
        masker: &Bound<'py, PyAny>,
        stdout: &Bound<'py, PyAny>,
    ) -> PyResult<(bool, Option<Bound<'py, PyAny>>)> {
        Ok(match self.chosen_lane(py, config, masker, Some(stdout))? {
            Some(lane) => (true, Some(lane)),
            None => (false, None),
        })
    }

    /// The lane in force: the core's pipeline, or `None` for the Python lane (chosen again by
    /// `_select_lane` when the configuration, the masker or `sys.stdout` changed since).
    fn current<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let config = global(self.config.bind(py), intern!(py, "_config"))?;
        let masker = global(self.masking.bind(py), intern!(py, "_default"))?;
        match self.chosen_lane(py, &config, &masker, None)? {
            Some(lane) => Ok(lane),
            None => self.call(py, intern!(py, "_select_lane"), ()),
        }
    }

    /// Hands the entry of a plain `Success` over; never raises.
    #[pyo3(signature = (level, scope, ms, success_type, step=None))]
    pub(crate) fn emit_success(
        &self,
        py: Python<'_>,
        level: i64,
        scope: &Bound<'_, PyAny>,
        ms: f64,
        success_type: &Bound<'_, PyAny>,
        step: Option<&Bound<'_, PyAny>>,
    ) {
        if let Err(err) = self.try_emit(py, level, scope, ms, success_type, step) {
            if let Err(unreported) =
                self.call(py, intern!(py, "_report_emit"), (err.into_value(py),))
            {
                unreported.write_unraisable(py, None);
            }
        }
    }

    fn __traverse__(&self, visit: pyo3::gc::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        // Never held while Python code runs: free unless another thread is inside it.
        if let Ok(choice) = self.choice.try_lock() {
            visit.call(&choice.lane)?;
            visit.call(&choice.config)?;
            visit.call(&choice.masker)?;
            visit.call(&choice.stdout)?;
        }
        visit.call(&self.writer)?;
        visit.call(&self.config)?;
        visit.call(&self.masking)?;
        visit.call(&self.sys)?;
        visit.call(&self.bound)
    }
}
