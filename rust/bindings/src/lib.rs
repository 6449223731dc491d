//! The `rfs_monitoring._core` extension module: a thin adapter over `rfs-monitoring-core`.
use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", rfs_monitoring_core::VERSION)?;
    Ok(())
}
