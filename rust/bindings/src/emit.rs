//! The entry of a plain `Success` (an operation's, or a step's), handed to the core's log lane
//! by its fields without a Python frame: `SuccessEmitter` is
//! `rfs_monitoring._logging.writer._emit_success`, and the native fast paths (`FastPath`,
//! `StepPath`) call it without even a Python call.
//!
//! The lane in force is the one `rfs_monitoring._logging.writer._select_lane` chose for the
//! configuration, masker and `sys.stdout` in force; its choice is read from the writer module's
//! globals (`_lane`, `_lane_config`, `_lane_masker`, `_lane_stdout`), and made again by calling
//! `_select_lane` when one of them changed. Everything the core does not take (the Python lane,
//! listeners, a bound context, a refusal) goes to the writer's `_emit_raw_success`. The
//! writer's functions are read from its module when they are needed, as Python code would.
use pyo3::exceptions::PyKeyError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::instrument::OperationScope;
use crate::logpipe::PyLogPipeline;

/// What `LogPipeline.put_success` answers for an entry it did not take.
const NOT_TAKEN: u8 = 1;

/// `rfs_monitoring._logging.writer._emit_success` (see the module): callable as
/// `emit(level, scope, ms, success_type, step=None)`; never raises (a failure is handed to
/// `report`).
#[pyclass(frozen, module = "rfs_monitoring._core", name = "SuccessEmitter")]
pub(crate) struct SuccessEmitter {
    /// The writer module's namespace: `_lane`, `_lane_config`, `_lane_masker`, `_lane_stdout`, and
    /// `_get_bound()` (the bound context), `_select_lane()` (the lane chosen again),
    /// `_emit_raw_success(level, scope, ms, success_type, step)` (the general path),
    /// `_refresh_resources(lane)` and `_report_emit(error)` (a failure, reported once).
    writer: Py<PyDict>,
    /// `rfs_monitoring._logging.config`'s namespace: `_config`, `_listeners`.
    config: Py<PyDict>,
    /// `rfs_monitoring.masking`'s namespace: `_default`.
    masking: Py<PyDict>,
    /// `sys`'s namespace: `stdout`.
    sys: Py<PyDict>,
}

/// `namespace[name]`: a module's global, read as Python code reads it (a module's attribute
/// lookup would first search the module type's attributes: twice the work).
fn global<'py>(
    namespace: &Bound<'py, PyDict>,
    name: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    namespace
        .get_item(name)?
        .ok_or_else(|| PyKeyError::new_err(name.clone().unbind()))
}

/// The namespace of `module`.
fn namespace(module: &Bound<'_, PyAny>) -> PyResult<Py<PyDict>> {
    Ok(module.getattr("__dict__")?.cast_into::<PyDict>()?.unbind())
}

impl SuccessEmitter {
    /// The lane in force (`None`: the Python lane), chosen again when what it was chosen for
    /// changed.
    fn lane<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let writer = self.writer.bind(py);
        let same = global(writer, intern!(py, "_lane_config"))?
            .is(&global(self.config.bind(py), intern!(py, "_config"))?)
            && global(writer, intern!(py, "_lane_masker"))?
                .is(&global(self.masking.bind(py), intern!(py, "_default"))?);
        if same {
            let stdout = global(writer, intern!(py, "_lane_stdout"))?;
            if stdout.is_none() || stdout.is(&global(self.sys.bind(py), intern!(py, "stdout"))?) {
                return global(writer, intern!(py, "_lane"));
            }
        }
        self.call(py, intern!(py, "_select_lane"), ())
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
        let lane = self.lane(py)?;
        if !global(self.config.bind(py), intern!(py, "_listeners"))?.is_truthy()? {
            if let Ok(pipeline) = lane.cast::<PyLogPipeline>() {
                // The entry's fields into the pipeline; anything refused or failing is
                // `NOT_TAKEN`, so that the general path takes the entry.
                let put = || -> PyResult<u8> {
                    let Ok(level) = u8::try_from(level) else {
                        return Ok(NOT_TAKEN);
                    };
                    let (name, kept) = match scope.cast::<OperationScope>() {
                        Ok(native) => {
                            let (name, kept) = native.try_borrow()?.name_and_id(py);
                            (name.into_bound(py), kept.map(|cid| cid.into_bound(py)))
                        }
                        Err(_) => (
                            scope.getattr(intern!(py, "name"))?,
                            Some(scope.getattr(intern!(py, "correlation_id"))?),
                        ),
                    };
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
                        &self.call(py, intern!(py, "_get_bound"), ())?,
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

    /// Hands the entry over (see the class); never raises.
    pub(crate) fn emit(
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
}

/// `emit(level, scope, ms, success_type, step)` for a native fast path: a `SuccessEmitter`
/// without a Python call, any other callable through one (its errors are the caller's).
pub(crate) fn emit_success(
    py: Python<'_>,
    emit: &Bound<'_, PyAny>,
    level: i64,
    scope: &Bound<'_, PyAny>,
    ms: f64,
    success_type: &Bound<'_, PyAny>,
    step: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    if let Ok(native) = emit.cast::<SuccessEmitter>() {
        native.get().emit(py, level, scope, ms, success_type, step);
        return Ok(());
    }
    match step {
        Some(step) => emit.call1((level, scope, ms, success_type, step))?,
        None => emit.call1((level, scope, ms, success_type))?,
    };
    Ok(())
}

#[pymethods]
impl SuccessEmitter {
    #[new]
    #[pyo3(signature = (*, writer, config, masking, sys))]
    fn new(
        writer: &Bound<'_, PyAny>,
        config: &Bound<'_, PyAny>,
        masking: &Bound<'_, PyAny>,
        sys: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        Ok(Self {
            writer: namespace(writer)?,
            config: namespace(config)?,
            masking: namespace(masking)?,
            sys: namespace(sys)?,
        })
    }

    /// The lane in force: the core's pipeline, or `None` for the Python lane (chosen again
    /// when the configuration, the masker or `sys.stdout` changed since the last choice).
    fn current_lane<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.lane(py)
    }

    /// Hands the entry of a plain `Success` over; never raises.
    #[pyo3(signature = (level, scope, ms, success_type, step=None))]
    fn __call__(
        &self,
        py: Python<'_>,
        level: i64,
        scope: &Bound<'_, PyAny>,
        ms: f64,
        success_type: &Bound<'_, PyAny>,
        step: Option<&Bound<'_, PyAny>>,
    ) {
        self.emit(py, level, scope, ms, success_type, step);
    }

    fn __traverse__(&self, visit: pyo3::gc::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.writer)?;
        visit.call(&self.config)?;
        visit.call(&self.masking)?;
        visit.call(&self.sys)
    }
}
