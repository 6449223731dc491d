//! The log writer's batches: entries converted from their Python tuples while the interpreter is
//! held, then rendered and masked by `rfs_monitoring_core::logline` with it released.
use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use rfs_monitoring_core::logline::{
    push_py_float, push_str, render_view, Field, Frame, Packed, Value, MAX_DEPTH,
};

use crate::{detached, PyTextMasker};

/// The raw entry's positions (`rfs_monitoring._logging.entry`).
const SLOTS: usize = 17;
const KIND: usize = 0;
const LEVEL: usize = 1;
const TS: usize = 2;
const CID: usize = 3;
const OP: usize = 4;
const STEP: usize = 5;
const RTYPE: usize = 6;
const MS: usize = 7;
const STYPE: usize = 8;
const ETYPE: usize = 9;
const ECODE: usize = 10;
const EMSG: usize = 11;
const BOUND: usize = 12;
const META: usize = 13;
const TRACE: usize = 14;
const SPAN: usize = 15;
const EXC: usize = 16;

/// An exact `str` with a UTF-8 form, else `None` (the Python renderer takes the entry).
fn text(value: &Bound<'_, PyAny>) -> Option<String> {
    let s = value.cast_exact::<PyString>().ok()?;
    s.to_str().ok().map(str::to_owned)
}

/// Push a text field (an exact `str`, or `None`) into `packed`; `None` when it is neither.
fn put(packed: &mut Packed, field: Field, value: &Bound<'_, PyAny>) -> Option<()> {
    if value.is_none() {
        packed.push(field, None);
    } else {
        packed.push(
            field,
            Some(value.cast_exact::<PyString>().ok()?.to_str().ok()?),
        );
    }
    Some(())
}

/// `str(value)` for a bound `user_id` / `request_id`.
fn shown(value: &Bound<'_, PyAny>) -> Option<Option<String>> {
    if value.is_none() {
        return Some(None);
    }
    let s = value.str().ok()?;
    s.to_str().ok().map(|s| Some(s.to_owned()))
}

/// A metadata value of the JSON types, else `None`.
fn convert(value: &Bound<'_, PyAny>, depth: usize) -> Option<Value> {
    if value.is_none() {
        return Some(Value::Null);
    }
    if let Ok(s) = value.cast_exact::<PyString>() {
        return s.to_str().ok().map(|s| Value::Str(s.to_owned()));
    }
    if let Ok(b) = value.cast_exact::<PyBool>() {
        return Some(Value::Bool(b.is_true()));
    }
    if value.is_exact_instance_of::<PyInt>() {
        return Some(match value.extract::<i64>() {
            Ok(n) => Value::Int(n),
            Err(_) => Value::Raw(value.str().ok()?.to_str().ok()?.to_owned()),
        });
    }
    if let Ok(f) = value.cast_exact::<PyFloat>() {
        let f = f.value();
        return f.is_finite().then_some(Value::Float(f));
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    if let Ok(d) = value.cast_exact::<PyDict>() {
        return map(d, depth + 1).map(Value::Map);
    }
    if let Ok(l) = value.cast_exact::<PyList>() {
        let items: Option<Vec<Value>> = l.iter().map(|v| convert(&v, depth + 1)).collect();
        return items.map(Value::List);
    }
    if let Ok(t) = value.cast_exact::<PyTuple>() {
        let items: Option<Vec<Value>> = t.iter().map(|v| convert(&v, depth + 1)).collect();
        return items.map(Value::List);
    }
    None
}

/// A value masked at the call, written as JSON as it is (no second masking), else `None`.
pub(crate) fn premasked(value: &Bound<'_, PyAny>, depth: usize, out: &mut String) -> Option<()> {
    if value.is_none() {
        out.push_str("null");
    } else if let Ok(s) = value.cast_exact::<PyString>() {
        push_str(out, s.to_str().ok()?);
    } else if let Ok(b) = value.cast_exact::<PyBool>() {
        out.push_str(if b.is_true() { "true" } else { "false" });
    } else if value.is_exact_instance_of::<PyInt>() {
        match value.extract::<i64>() {
            Ok(n) => {
                let _ = write!(out, "{n}");
            }
            Err(_) => out.push_str(value.str().ok()?.to_str().ok()?),
        }
    } else if let Ok(f) = value.cast_exact::<PyFloat>() {
        let f = f.value();
        if !f.is_finite() {
            return None;
        }
        push_py_float(out, f);
    } else if depth >= MAX_DEPTH {
        return None;
    } else if let Ok(d) = value.cast::<PyDict>() {
        if !(value.is_exact_instance_of::<PyDict>() || depth == 1) {
            return None; // only the top-level marker (a dict subclass) and plain dicts
        }
        out.push('{');
        for (i, (key, item)) in d.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_str(out, key.cast_exact::<PyString>().ok()?.to_str().ok()?);
            out.push(':');
            premasked(&item, depth + 1, out)?;
        }
        out.push('}');
    } else if value.is_exact_instance_of::<PyList>() || value.is_exact_instance_of::<PyTuple>() {
        out.push('[');
        for (i, item) in value.try_iter().ok()?.enumerate() {
            if i > 0 {
                out.push(',');
            }
            premasked(&item.ok()?, depth + 1, out)?;
        }
        out.push(']');
    } else {
        return None;
    }
    Some(())
}

fn map(d: &Bound<'_, PyDict>, depth: usize) -> Option<Vec<(String, Value)>> {
    let mut items = Vec::with_capacity(d.len());
    for (key, value) in d.iter() {
        items.push((text(&key)?, convert(&value, depth)?));
    }
    Some(items)
}

/// `{**extra, **meta}`: a key of `meta` already in `extra` keeps its place, with its new value.
fn merge(into: &mut Vec<(String, Value)>, more: Vec<(String, Value)>) {
    for (key, value) in more {
        match into.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => into.push((key, value)),
        }
    }
}

/// The raw entry (the 17-slot tuple) packed into one buffer, converted while the interpreter is
/// held; `None` when a value is not of the types the core writes (the Python renderer takes it).
pub(crate) fn entry(
    raw: &Bound<'_, PyAny>,
    format_exception: &Bound<'_, PyAny>,
    masked_args: &Bound<'_, PyAny>,
    buffer: String,
) -> Option<Packed> {
    let raw = raw.cast_exact::<PyTuple>().ok()?;
    if raw.len() != SLOTS {
        return None;
    }
    // Borrowed: no reference count is touched for the 17 reads.
    let at = |i: usize| raw.get_borrowed_item(i).ok();
    let ts = at(TS)?.extract::<f64>().ok()?;
    let ms = at(MS)?.cast_exact::<PyFloat>().ok()?.value();
    if !(ts.is_finite() && ts >= 0.0 && ms.is_finite()) {
        return None;
    }
    let level = at(LEVEL)?.extract::<i64>().ok()?;
    let mut packed = Packed::with_buffer(u8::try_from(level).unwrap_or(0), ts, ms, buffer);
    put(&mut packed, Field::Event, &*at(KIND)?)?;
    put(&mut packed, Field::CorrelationId, &*at(CID)?)?;
    put(&mut packed, Field::Operation, &*at(OP)?)?;
    put(&mut packed, Field::Step, &*at(STEP)?)?;
    put(&mut packed, Field::ResultType, &*at(RTYPE)?)?;
    put(&mut packed, Field::SuccessType, &*at(STYPE)?)?;
    put(&mut packed, Field::ErrorType, &*at(ETYPE)?)?;
    put(&mut packed, Field::ErrorCode, &*at(ECODE)?)?;
    put(&mut packed, Field::ErrorMessage, &*at(EMSG)?)?;
    let mut metadata = Vec::new();
    let bound = at(BOUND)?;
    let (mut user_id, mut request_id) = (None, None);
    if bound.is_truthy().ok()? {
        // The bound context is a read-only view (`MappingProxyType`): read through its items.
        for pair in bound.call_method0("items").ok()?.try_iter().ok()? {
            let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair.ok()?.extract().ok()?;
            let key = text(&key)?;
            match key.as_str() {
                "user_id" => user_id = shown(&value)?,
                "request_id" => request_id = shown(&value)?,
                _ => metadata.push((key, convert(&value, 1)?)),
            }
        }
    }
    packed.push(Field::UserId, user_id.as_deref());
    packed.push(Field::RequestId, request_id.as_deref());
    let meta = at(META)?;
    if meta.is_truthy().ok()? {
        let meta = meta.cast_exact::<PyDict>().ok()?;
        let mut items = Vec::with_capacity(meta.len());
        for (key, value) in meta.iter() {
            let key = text(&key)?;
            let value = if value.get_type().is(masked_args) {
                // Masked at the call: written as it is, under a key that is not sensitive.
                let mut json = String::with_capacity(64);
                premasked(&value, 1, &mut json)?;
                Value::Premasked(json)
            } else {
                convert(&value, 1)?
            };
            items.push((key, value));
        }
        merge(&mut metadata, items);
    }
    put(&mut packed, Field::TraceId, &*at(TRACE)?)?;
    put(&mut packed, Field::SpanId, &*at(SPAN)?)?;
    let exc = at(EXC)?;
    if !exc.is_none() {
        let formatted = format_exception.call1((exc,)).ok()?;
        put(&mut packed, Field::Exception, &formatted)?;
    }
    packed.set_metadata(metadata);
    Some(packed)
}

/// The batch as whole-line chunks ready for the sink: raw entries rendered and masked with the
/// interpreter released, dict entries (masked when they were made) written as JSON, `str` items
/// (lines the caller rendered) kept as they are. When an item
/// is neither, the chunks are empty and its index is in `left` (the caller renders those and
/// asks again).
///
/// A panic never crosses into Python: it becomes a `RuntimeError`, and the writer renders the
/// batch in Python.
#[pyfunction]
#[pyo3(signature = (batch, masker, fixed_json, memory, cpu, format_exception, chunk_chars, masked_args))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn render_log_chunks<'py>(
    py: Python<'py>,
    batch: &Bound<'py, PyList>,
    masker: Py<PyTextMasker>,
    fixed_json: &str,
    memory: &str,
    cpu: &str,
    format_exception: &Bound<'py, PyAny>,
    chunk_chars: usize,
    masked_args: &Bound<'py, PyAny>,
) -> PyResult<Chunks<'py>> {
    let frame = Frame {
        fixed_json,
        memory,
        cpu,
    };
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        render_batch(
            py,
            batch,
            &masker,
            &frame,
            format_exception,
            chunk_chars,
            masked_args,
        )
    }))
    .unwrap_or_else(|_| {
        Err(PyRuntimeError::new_err(
            "rendering a log batch panicked; the Python renderer takes it",
        ))
    })
}

/// Whole-line chunks with their line counts, and the indices of the items left to Python.
type Chunks<'py> = Bound<'py, RenderedChunks>;

/// What `render_log_chunks` made of a batch: the chunks and the lines each holds, or the
/// indices of the items left to Python (then no chunks).
#[pyclass(
    frozen,
    get_all,
    module = "rfs_monitoring._core",
    name = "RenderedChunks"
)]
pub(crate) struct RenderedChunks {
    chunks: Vec<Py<PyString>>,
    lines: Vec<usize>,
    left: Vec<usize>,
}

/// One item of a batch, converted while the interpreter is held.
enum Item {
    Native(Packed),
    Line(String),
}

/// The batch's items converted while the interpreter is held, or the indices of the items the
/// core does not take (the caller renders those and asks again).
fn convert_batch(
    batch: &Bound<'_, PyList>,
    format_exception: &Bound<'_, PyAny>,
    masked_args: &Bound<'_, PyAny>,
) -> Result<Vec<Item>, Vec<usize>> {
    let mut items = Vec::with_capacity(batch.len());
    let mut left = Vec::new();
    for (i, item) in batch.iter().enumerate() {
        if let Ok(line) = item.cast_exact::<PyString>() {
            match line.to_str() {
                Ok(line) => items.push(Item::Line(line.to_owned())),
                Err(_) => left.push(i),
            }
        } else if item.is_exact_instance_of::<PyDict>() {
            // A dict entry (structlog's `get_logger`, the stdlib bridge): masked when it was
            // made, written as `render_json` writes it.
            let mut line = String::with_capacity(256);
            match premasked(&item, 1, &mut line) {
                Some(()) => items.push(Item::Line(line)),
                None => left.push(i),
            }
        } else if let Some(e) = entry(
            &item,
            format_exception,
            masked_args,
            String::with_capacity(128),
        ) {
            items.push(Item::Native(e));
        } else {
            left.push(i);
        }
    }
    if left.is_empty() {
        Ok(items)
    } else {
        Err(left)
    }
}

/// The converted items rendered and masked (no interpreter needed), as whole-line chunks.
fn render_items(
    items: Vec<Item>,
    masker: &Py<PyTextMasker>,
    frame: &Frame<'_>,
    chunk_chars: usize,
) -> Vec<(String, usize)> {
    let inner = &masker.get().inner;
    let lines: Vec<String> = items
        .into_iter()
        .map(|item| match item {
            Item::Line(line) => line,
            Item::Native(e) => {
                let mut line = String::with_capacity(512);
                render_view(&e.view(), frame, inner, &mut line);
                line
            }
        })
        .collect();
    rfs_monitoring_core::logqueue::chunks(&lines, chunk_chars)
}

#[allow(clippy::too_many_arguments)]
fn render_batch<'py>(
    py: Python<'py>,
    batch: &Bound<'py, PyList>,
    masker: &Py<PyTextMasker>,
    frame: &Frame<'_>,
    format_exception: &Bound<'py, PyAny>,
    chunk_chars: usize,
    masked_args: &Bound<'py, PyAny>,
) -> PyResult<Chunks<'py>> {
    let items = match convert_batch(batch, format_exception, masked_args) {
        Ok(items) => items,
        Err(left) => {
            return Bound::new(
                py,
                RenderedChunks {
                    chunks: Vec::new(),
                    lines: Vec::new(),
                    left,
                },
            )
        }
    };
    let pieces = detached(py, || render_items(items, masker, frame, chunk_chars));
    let (chunks, lines) = pieces
        .into_iter()
        .map(|(text, count)| (PyString::new(py, &text).unbind(), count))
        .unzip();
    Bound::new(
        py,
        RenderedChunks {
            chunks,
            lines,
            left: Vec::new(),
        },
    )
}
