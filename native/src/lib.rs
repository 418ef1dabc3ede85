//! Native core of btfbuild, exposed to Python as `btfbuild._native`.
//!
//! The boundary is data: bytes and options go in, raw BTF bytes come out. Names, documentation,
//! the command line and the tests live on the Python side.

use pyo3::prelude::*;

/// Version of the native core; the Python package checks it matches its own.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
