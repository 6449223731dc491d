//! Values handed from Python to the core: frozen classes with named fields instead of
//! positional tuples (`judge_health`'s rows, the firing alerts of the health route, `expose`'s
//! extra families).
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rfs_monitoring_core::exposition::{Family, Kind, Labels};

/// One operation's row for `judge_health`, read from elsewhere (a Prometheus source).
#[pyclass(
    frozen,
    get_all,
    eq,
    module = "rfs_monitoring._core",
    name = "HealthRow"
)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PyHealthRow {
    pub(crate) operation: String,
    pub(crate) total: u64,
    pub(crate) failures: u64,
    pub(crate) p99_ms: f64,
}

#[pymethods]
impl PyHealthRow {
    #[new]
    #[pyo3(signature = (*, operation, total, failures, p99_ms))]
    fn new(operation: String, total: u64, failures: u64, p99_ms: f64) -> Self {
        Self {
            operation,
            total,
            failures,
            p99_ms,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "HealthRow(operation={:?}, total={}, failures={}, p99_ms={})",
            self.operation, self.total, self.failures, self.p99_ms
        )
    }
}

/// An alert firing for an operation, as the health route counts it.
#[pyclass(
    frozen,
    get_all,
    eq,
    module = "rfs_monitoring._core",
    name = "FiringAlert"
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PyFiringAlert {
    pub(crate) operation: String,
    pub(crate) rule: String,
    pub(crate) severity: String,
}

#[pymethods]
impl PyFiringAlert {
    #[new]
    #[pyo3(signature = (*, operation, rule, severity))]
    fn new(operation: String, rule: String, severity: String) -> Self {
        Self {
            operation,
            rule,
            severity,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "FiringAlert(operation={:?}, rule={:?}, severity={:?})",
            self.operation, self.rule, self.severity
        )
    }
}

/// The core's form of the firing alerts.
pub(crate) fn firing_alerts(
    firing: &[PyRef<'_, PyFiringAlert>],
) -> Vec<rfs_monitoring_core::json::FiringAlert> {
    firing
        .iter()
        .map(|a| (a.operation.clone(), a.rule.clone(), a.severity.clone()))
        .collect()
}

/// One sample of an extra family: its labels (in order) and its value.
#[pyclass(frozen, module = "rfs_monitoring._core", name = "Sample")]
#[derive(Debug, Clone)]
pub(crate) struct PySample {
    labels: Labels,
    #[pyo3(get)]
    value: f64,
}

#[pymethods]
impl PySample {
    #[new]
    #[pyo3(signature = (value, labels=None))]
    fn new(value: f64, labels: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let labels = match labels {
            None => Labels::new(),
            Some(labels) => labels
                .iter()
                .map(|(k, v)| Ok((k.extract::<String>()?, v.extract::<String>()?)))
                .collect::<PyResult<Labels>>()?,
        };
        Ok(Self { labels, value })
    }

    /// The labels, in the order given.
    #[getter]
    fn labels<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (k, v) in &self.labels {
            dict.set_item(k, v)?;
        }
        Ok(dict)
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.labels == other.labels && self.value.to_bits() == other.value.to_bits()
    }

    fn __repr__(&self) -> String {
        format!("Sample(value={}, labels={:?})", self.value, self.labels)
    }
}

/// A counter or gauge family added to an exposition (`expose`'s `extra`).
#[pyclass(frozen, module = "rfs_monitoring._core", name = "Family")]
#[derive(Debug, Clone)]
pub(crate) struct PyFamily {
    family: Family,
}

#[pymethods]
impl PyFamily {
    /// `kind` is `"counter"` (its name without `_total`) or `"gauge"`.
    #[new]
    #[pyo3(signature = (*, name, help, kind, samples))]
    fn new(
        name: String,
        help: String,
        kind: &str,
        samples: Vec<PyRef<'_, PySample>>,
    ) -> PyResult<Self> {
        let kind = match kind {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            other => {
                return Err(crate::value_error(format!(
                    "unknown family type {other:?}: use \"counter\" or \"gauge\""
                )))
            }
        };
        Ok(Self {
            family: Family {
                name,
                help,
                kind,
                samples: samples
                    .iter()
                    .map(|s| (s.labels.clone(), s.value))
                    .collect(),
            },
        })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.family.name
    }

    #[getter]
    fn help(&self) -> &str {
        &self.family.help
    }

    /// `"counter"` or `"gauge"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }

    #[getter]
    fn samples<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let samples = self
            .family
            .samples
            .iter()
            .map(|(labels, value)| {
                Py::new(
                    py,
                    PySample {
                        labels: labels.clone(),
                        value: *value,
                    },
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, samples)
    }

    fn __repr__(&self) -> String {
        format!(
            "Family(name={:?}, kind={:?}, samples={})",
            self.family.name,
            self.kind(),
            self.family.samples.len()
        )
    }
}

impl PyFamily {
    pub(crate) fn family(&self) -> Family {
        self.family.clone()
    }
}

/// The log pipeline's counters and state (`LogPipeline.state`).
#[pyclass(
    frozen,
    get_all,
    module = "rfs_monitoring._core",
    name = "PipelineState"
)]
#[derive(Debug, Clone)]
pub(crate) struct PyPipelineState {
    pub(crate) pending: u64,
    pub(crate) queued_bytes: u64,
    pub(crate) written: u64,
    pub(crate) diverted: u64,
    pub(crate) dropped: u64,
    pub(crate) sink_errors: u64,
    pub(crate) last_error: Option<String>,
    pub(crate) last_error_time: Option<f64>,
    pub(crate) fallback_active: bool,
}

#[pymethods]
impl PyPipelineState {
    fn __repr__(&self) -> String {
        format!(
            "PipelineState(pending={}, written={}, dropped={}, sink_errors={})",
            self.pending, self.written, self.dropped, self.sink_errors
        )
    }
}
