//! Native core of btfbuild, exposed to Python as `btfbuild._native`.
//!
//! The boundary is data: a path and options go in, raw BTF bytes and counters come out. Names,
//! documentation, the command line and the tests live on the Python side. Every failure, a
//! panic included, reaches Python as `EncodeError` with a one-line message.

pub mod btf;
pub mod convert;
pub mod elf;
pub mod encode;
pub mod select;
pub mod dedup;
pub mod distill;
pub mod names;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

create_exception!(_native, EncodeError, PyException, "Encoding failed; the message says why.");

/// Version of the native core; the Python package checks it matches its own.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".into())
}

/// An I/O error as a person reads it: "No such file or directory", without Rust's
/// " (os error 2)".
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Raw BTF, counters, the distilled base when one was asked for, and the explanations.
type EncodeOutput = (Py<PyBytes>, Py<PyDict>, Option<Py<PyBytes>>, Vec<String>);

/// Encode the DWARF of the ELF file at `path` as raw BTF.
///
/// `kfuncs`: the kfuncs of the file's `.BTF_ids` kfunc sets as (name, KF_* flags), read on the
/// Python side (`btfbuild.kfuncs`); each FUNC of such a name gets the `decl_tag_kfuncs` tags.
/// `explain`: names of functions or variables to say why they get BTF or not.
#[pyfunction(name = "encode")]
#[pyo3(signature = (path, *, base=None, distilled_base=false, threads=0, vars=true, global_vars=false, consistent_func=true, optimized_func=true,
                    gen_floats=true,
                    enum64=true, decl_tags=true, type_tags=true, lang_exclude=Vec::new(),
                    kfuncs=Vec::new(), explain=Vec::new()))]
#[allow(clippy::too_many_arguments)]
fn encode_file(
    py: Python<'_>,
    path: PathBuf,
    base: Option<&[u8]>,
    distilled_base: bool,
    threads: usize,
    vars: bool,
    global_vars: bool,
    consistent_func: bool,
    optimized_func: bool,
    gen_floats: bool,
    enum64: bool,
    decl_tags: bool,
    type_tags: bool,
    lang_exclude: Vec<u16>,
    kfuncs: Vec<(Vec<u8>, u32)>,
    explain: Vec<Vec<u8>>,
) -> PyResult<EncodeOutput> {
    let opts = convert::Options {
        vars,
        global_vars,
        consistent_func,
        gen_floats,
        enum64,
        decl_tags,
        type_tags,
        lang_exclude,
        register_params: Vec::new(),
        optimized_func,
    };
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    let result = py.allow_threads(|| {
        // the caller names the file in front of the message
        let file = std::fs::File::open(&path).map_err(|e| format!("cannot open: {}", io_reason(&e)))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err("is a directory, not an ELF file".to_string());
        }
        // SAFETY: the map is read-only and lives only for this call. Another process truncating
        // the file meanwhile could fault the read; that is the same risk pahole takes with mmap.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("cannot map: {}", io_reason(&e)))?;
        catch_unwind(AssertUnwindSafe(|| {
            let t0 = std::time::Instant::now();
            let base = match base {
                Some(raw) => Some(btf::parse_raw(raw, 1, 0).map_err(|e| format!("base BTF: {e}"))?),
                None => None,
            };
            encode::timing_note("base parsed", t0);
            // SAFETY: the map is read-only and file-backed, so pages dropped by MADV_DONTNEED
            // are read back from the file when touched again: no data changes, no dangling
            // reference (the slices into the map stay valid). Only memory use goes down.
            let release = |off: usize, len: usize| {
                let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, off, len) };
            };
            encode::encode(&map, &opts, threads, base.as_ref(), distilled_base, &kfuncs, &explain, &release)
        }))
            .map_err(|p| format!("internal error (please report): {}", panic_message(p.as_ref())))?
            .map(|enc| {
                let distilled = enc.distilled_base.map(|b| b.to_bytes(enc.big_endian));
                (enc.btf.to_bytes(enc.big_endian), distilled, enc.stats)
            })
    });
    match result {
        Ok((bytes, distilled, stats)) => {
            let d = PyDict::new(py);
            d.set_item("cus", stats.cus)?;
            d.set_item("cus_skipped", stats.cus_skipped)?;
            d.set_item("types_before_dedup", stats.types_before_dedup)?;
            for (what, n) in &stats.functions {
                d.set_item(format!("functions: {what}"), n)?;
            }
            let distilled = distilled.map(|b| PyBytes::new(py, &b).unbind());
            Ok((PyBytes::new(py, &bytes).unbind(), d.unbind(), distilled, stats.explanations))
        }
        Err(msg) => Err(EncodeError::new_err(msg)),
    }
}

/// The bytes of a C-contiguous byte buffer (bytes, a memoryview of an mmap, ...).
fn buffer_bytes(buf: &PyBuffer<u8>) -> PyResult<&[u8]> {
    if !buf.is_c_contiguous() {
        return Err(pyo3::exceptions::PyValueError::new_err("buffer is not contiguous"));
    }
    if buf.len_bytes() == 0 {
        return Ok(&[]);
    }
    // SAFETY: the buffer is C-contiguous and its item type is u8 (PyBuffer::<u8>::get checked
    // the format), so it is len_bytes() initialised bytes at buf_ptr(). The PyBuffer holds the
    // exporter's buffer view for as long as the returned slice lives, and the exporter may
    // not resize or free its memory while a view is held (an mmap refuses to close: BufferError).
    // The GIL stays held throughout, so no Python code writes to it meanwhile.
    Ok(unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const u8, buf.len_bytes()) })
}

/// Number of type records in raw BTF type data, or None when a record is truncated, of an
/// unknown kind or runs past the end (Python then explains which).
#[pyfunction]
fn btf_record_count(types: PyBuffer<u8>, little: bool) -> PyResult<Option<usize>> {
    Ok(names::record_starts(buffer_bytes(&types)?, little).ok().map(|s| s.len()))
}

/// resolve_btfids' lookup: `levels` are (type data, string data, little-endian, first id),
/// base first (string offsets continue from one level's strings to the next); `wanted`
/// (kind, names). Returns (kind, index of the name in its list, type id) for every match, in
/// id order. ValueError on a bad record or name offset.
#[pyfunction]
fn btf_lookup_names(
    levels: Vec<(PyBuffer<u8>, PyBuffer<u8>, bool, u32)>,
    wanted: Vec<(u32, Vec<Bound<'_, PyBytes>>)>,
) -> PyResult<Vec<(u32, u32, u32)>> {
    let mut lv: Vec<names::Level<'_>> = Vec::with_capacity(levels.len());
    for (types, strings, little, start_id) in &levels {
        lv.push(names::Level {
            types: buffer_bytes(types)?,
            strings: buffer_bytes(strings)?,
            little: *little,
            start_id: *start_id,
        });
    }
    let want: Vec<(u32, Vec<&[u8]>)> =
        wanted.iter().map(|(k, list)| (*k, list.iter().map(|b| b.as_bytes()).collect())).collect();
    names::lookup(&lv, &want).map_err(pyo3::exceptions::PyValueError::new_err)
}

/// libbpf's `btf__dedup` over raw BTF: `raw` is standalone BTF, or split BTF over `base` (raw
/// BTF; its types keep their ids and absorb equal split types). Returns the deduplicated raw
/// BTF in the input's byte order. EncodeError on malformed input or a failed dedup.
#[pyfunction]
#[pyo3(signature = (raw, base=None))]
fn btf_dedup(py: Python<'_>, raw: PyBuffer<u8>, base: Option<PyBuffer<u8>>) -> PyResult<Py<PyBytes>> {
    let raw = buffer_bytes(&raw)?;
    let base = match &base {
        Some(b) => Some(buffer_bytes(b)?),
        None => None,
    };
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<Vec<u8>, String> {
        let base = match base {
            Some(b) => Some(btf::parse_raw(b, 1, 0).map_err(|e| format!("base BTF: {e}"))?),
            None => None,
        };
        let (start_id, start_str) = base.as_ref().map_or((1, 0), |b| (b.type_count(), b.strings.start + b.strings.data.len() as u32));
        let mut btf = btf::parse_raw(raw, start_id, start_str)?;
        let big_endian = raw.len() >= 2 && raw[0] == 0xeb;
        dedup::dedup(&mut btf, base.as_ref())?;
        Ok(btf.to_bytes(big_endian))
    }))
    .map_err(|p| format!("internal error (please report): {}", panic_message(p.as_ref())))
    .and_then(|r| r);
    match result {
        Ok(bytes) => Ok(PyBytes::new(py, &bytes).unbind()),
        Err(msg) => Err(EncodeError::new_err(msg)),
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // a panic is caught and reported as EncodeError with its message; the default hook would
    // also print it with a backtrace hint, which users must not see (BTFBUILD_DEBUG keeps it)
    if std::env::var_os("BTFBUILD_DEBUG").is_none() {
        std::panic::set_hook(Box::new(|_| {}));
    }
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(encode_file, m)?)?;
    m.add_function(wrap_pyfunction!(btf_record_count, m)?)?;
    m.add_function(wrap_pyfunction!(btf_lookup_names, m)?)?;
    m.add_function(wrap_pyfunction!(btf_dedup, m)?)?;
    m.add("EncodeError", m.py().get_type::<EncodeError>())?;
    Ok(())
}
