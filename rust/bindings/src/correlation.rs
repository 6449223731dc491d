//! Correlation IDs on the request path: the native half of `rfs_monitoring.context`.
//!
//! - `uuid4_hex`: a fresh UUID4 hex ID (version nibble 4, RFC 4122 variant) from a per-process
//!   pool of OS random bytes, refilled `BATCH` IDs at a time (one `getrandom` call). A forked
//!   child must never hand out the IDs its parent hands out next: `reset_uuid4_pool`, run by the
//!   package's fork hook in the child, drops the inherited pool.
//! - `RequestIds`: what `CorrelationIdMiddleware` does per request before and after the
//!   application, built once per middleware. `enter` reads the accepted ID and the `request_id`
//!   from the raw ASGI headers (the rule of `correlation_id_from_headers`: the first occurrence
//!   of each name, ASCII case-insensitive, the value decoded as latin-1, stripped and valid by
//!   `is_valid_correlation_id`), generates the ID when none is accepted, stores it in
//!   `scope["state"]`, sets the request's context variables and returns a `CorrelatedRequest`.
//! - `CorrelatedRequest`: its `send` is the application's, splicing the response header into
//!   the first `http.response.start` / `websocket.accept` message (`splice_header`: a copy of
//!   the message, any header of that name, whatever its case, replaced), without a Python frame
//!   per message; `leave` restores the context variables when the application returns.
//!
//! Context variables are set, read and reset through their Python methods, bound once: the C
//! functions are not part of the limited API this abi3 module is built against.
//! Validity is checked here with the core's default masker (`mask::mask_text`), the one
//! `_core.mask_text` uses, so both halves apply one rule.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use pyo3::exceptions::PyException;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyo3::PyTraverseError;
use rfs_monitoring_core::mask::mask_text;

/// The longest accepted correlation ID, in characters (and raw header bytes).
const MAX_ID_LENGTH: usize = 128;
/// IDs made per refill of the pool.
const BATCH: usize = 256;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// The hex text of `BATCH` IDs (version and variant bits set) and the index of the next unused
/// one (`BATCH`: empty).
struct Pool {
    text: [u8; 32 * BATCH],
    next: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    text: [0; 32 * BATCH],
    next: BATCH,
});

/// Fills `bytes` without the OS (its random source failed, which Linux never does once booted):
/// SipHash with the standard library's per-process random keys over a counter, the clock and
/// the process ID. Unique, not secret, which is all a correlation ID needs.
fn fallback_fill(bytes: &mut [u8]) {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = RandomState::new();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for chunk in bytes.chunks_mut(8) {
        let mut hasher = state.build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        let word = hasher.finish().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

impl Pool {
    fn refill(&mut self) {
        let mut bytes = [0u8; 16 * BATCH];
        if getrandom::fill(&mut bytes).is_err() {
            fallback_fill(&mut bytes);
        }
        for (block, text) in bytes
            .chunks_exact_mut(16)
            .zip(self.text.chunks_exact_mut(32))
        {
            block[6] = (block[6] & 0x0F) | 0x40; // version 4
            block[8] = (block[8] & 0x3F) | 0x80; // RFC 4122 variant
            for (byte, digits) in block.iter().zip(text.chunks_exact_mut(2)) {
                digits[0] = HEX[usize::from(byte >> 4)];
                digits[1] = HEX[usize::from(byte & 0x0F)];
            }
        }
        self.next = 0;
    }

    /// The next ID's 32 hex digits.
    fn draw(&mut self) -> [u8; 32] {
        if self.next >= BATCH {
            self.refill();
        }
        let start = self.next * 32;
        self.next += 1;
        let mut id = [0u8; 32];
        if let Some(text) = self.text.get(start..start + 32) {
            id.copy_from_slice(text);
        }
        id
    }
}

fn lock_pool() -> std::sync::MutexGuard<'static, Pool> {
    // Nothing panics while the lock is held; a poisoned lock still holds a usable pool.
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn new_uuid4_hex(py: Python<'_>) -> Bound<'_, PyString> {
    let id = lock_pool().draw();
    // Hex digits: always UTF-8.
    PyString::new(py, std::str::from_utf8(&id).unwrap_or_default())
}

/// `uuid4_hex`'s function object, to recognise it when it is the module's generator.
static UUID4_HEX: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// A fresh UUID4 hex string (what `uuid.uuid4().hex` looks like), from OS randomness drawn in
/// batches.
#[pyfunction]
fn uuid4_hex(py: Python<'_>) -> Bound<'_, PyString> {
    new_uuid4_hex(py)
}

/// In a forked child: drops the IDs inherited from the parent (which the parent hands out
/// next), so the child draws its own.
#[pyfunction]
fn reset_uuid4_pool() {
    let mut pool = lock_pool();
    pool.text.fill(0);
    pool.next = BATCH;
}

/// Python's `str.isspace` over latin-1 characters (what `str.strip()` removes).
fn is_latin1_space(byte: u8) -> bool {
    matches!(byte, 0x09..=0x0D | 0x1C..=0x20 | 0x85 | 0xA0)
}

fn is_id_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'-')
}

/// `is_valid_correlation_id` of a text: 1 to 128 characters of `[A-Za-z0-9._:-]` that masking
/// leaves unchanged.
fn is_valid_id(text: &str) -> bool {
    (1..=MAX_ID_LENGTH).contains(&text.len())
        && text.bytes().all(is_id_char)
        && mask_text(text) == text
}

/// The ID a raw header value carries: at most 128 bytes, decoded as latin-1 and stripped of
/// whitespace, then valid. Valid IDs are ASCII, so the stripped bytes are the text.
fn id_from_value(raw: &[u8]) -> Option<&str> {
    if raw.len() > MAX_ID_LENGTH {
        return None;
    }
    let start = raw.iter().position(|&b| !is_latin1_space(b))?;
    let end = raw.iter().rposition(|&b| !is_latin1_space(b))?;
    let text = std::str::from_utf8(raw.get(start..=end)?).ok()?;
    is_valid_id(text).then_some(text)
}

/// How many names a request is scanned for without allocating.
const INLINE_NAMES: usize = 4;

/// Records `value` as the first one of `name` when `name` is wanted; returns whether every
/// wanted name now has its value.
fn note<'py>(
    name: &Bound<'py, PyAny>,
    value: Bound<'py, PyAny>,
    wanted: &[Vec<u8>],
    found: &mut [Option<Bound<'py, PyAny>>],
    missing: &mut usize,
) -> bool {
    let Ok(name) = name.cast::<PyBytes>() else {
        return false; // not a raw name: Python's rule ignores it too
    };
    let name = name.as_bytes();
    // ASGI servers send lowercase names; `eq_ignore_ascii_case` is `bytes.lower()`'s match.
    let Some(index) = wanted.iter().position(|w| w.eq_ignore_ascii_case(name)) else {
        return false;
    };
    if let Some(slot @ None) = found.get_mut(index) {
        *slot = Some(value);
        *missing -= 1;
    }
    *missing == 0
}

/// One header item: a `(name, value)` tuple (what servers send), a list of two, or any
/// sequence of two items (anything else is skipped).
fn note_item<'py>(
    item: &Bound<'py, PyAny>,
    wanted: &[Vec<u8>],
    found: &mut [Option<Bound<'py, PyAny>>],
    missing: &mut usize,
) -> bool {
    let (name, value) = if let Ok(tuple) = item.cast_exact::<PyTuple>() {
        match (tuple.len(), tuple.get_item(0), tuple.get_item(1)) {
            (2, Ok(name), Ok(value)) => (name, value),
            _ => return false,
        }
    } else {
        match (item.len(), item.get_item(0), item.get_item(1)) {
            (Ok(2), Ok(name), Ok(value)) => (name, value),
            _ => return false,
        }
    };
    note(&name, value, wanted, found, missing)
}

/// The first occurrence of each `wanted` (lowercase) name's value among raw ASGI `headers`,
/// into `found` (as long as `wanted`).
fn scan<'py>(
    headers: &Bound<'py, PyAny>,
    wanted: &[Vec<u8>],
    found: &mut [Option<Bound<'py, PyAny>>],
) -> PyResult<()> {
    let mut missing = wanted.len();
    if let Ok(list) = headers.cast_exact::<PyList>() {
        for item in list.iter() {
            if note_item(&item, wanted, found, &mut missing) {
                break;
            }
        }
    } else if !headers.is_none() {
        for item in headers.try_iter()? {
            if note_item(&item?, wanted, found, &mut missing) {
                break;
            }
        }
    }
    Ok(())
}

/// The valid ID a found header value carries, as a `str`.
fn valid_text<'py>(value: Option<&Bound<'py, PyAny>>) -> Option<Bound<'py, PyString>> {
    let value = value?;
    let text = id_from_value(value.cast::<PyBytes>().ok()?.as_bytes())?;
    Some(PyString::new(value.py(), text))
}

/// The request context's three variables (`rfs_monitoring.context`'s correlation ID, bound
/// fields and current operation), their methods bound once, the empty fields mapping and
/// `types.MappingProxyType`.
struct ContextVars {
    correlation_set: Py<PyAny>,
    correlation_reset: Py<PyAny>,
    bound_get: Py<PyAny>,
    bound_set: Py<PyAny>,
    bound_reset: Py<PyAny>,
    operation_get: Py<PyAny>,
    operation_set: Py<PyAny>,
    operation_reset: Py<PyAny>,
    empty: Py<PyAny>,
    proxy: Py<PyAny>,
}

impl ContextVars {
    fn new(context: &Bound<'_, PyTuple>) -> PyResult<Self> {
        let py = context.py();
        let item = |index: usize| context.get_item(index);
        let (correlation, bound, operation) = (item(0)?, item(1)?, item(2)?);
        let (empty, proxy) = (item(3)?, item(4)?);
        let method = |var: &Bound<'_, PyAny>, name: &str| -> PyResult<Py<PyAny>> {
            Ok(var.getattr(PyString::intern(py, name))?.unbind())
        };
        Ok(Self {
            correlation_set: method(&correlation, "set")?,
            correlation_reset: method(&correlation, "reset")?,
            bound_get: method(&bound, "get")?,
            bound_set: method(&bound, "set")?,
            bound_reset: method(&bound, "reset")?,
            operation_get: method(&operation, "get")?,
            operation_set: method(&operation, "set")?,
            operation_reset: method(&operation, "reset")?,
            empty: empty.unbind(),
            proxy: proxy.unbind(),
        })
    }

    fn visit(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        for object in [
            &self.correlation_set,
            &self.correlation_reset,
            &self.bound_get,
            &self.bound_set,
            &self.bound_reset,
            &self.operation_get,
            &self.operation_set,
            &self.operation_reset,
            &self.empty,
            &self.proxy,
        ] {
            visit.call(object)?;
        }
        Ok(())
    }
}

/// What `CorrelationIdMiddleware` does per request around the application (see the module).
#[pyclass(frozen, module = "rfs_monitoring._core", name = "RequestIds")]
pub(crate) struct RequestIds {
    /// The lowercase names looked for: the accepted ones in preference order, then
    /// `x-request-id` (once).
    wanted: Vec<Vec<u8>>,
    /// How many of `wanted` are accepted for the correlation ID.
    accepted: usize,
    /// Where `x-request-id` is in `wanted`.
    request_id: usize,
    header: Py<PyBytes>,
    echo: bool,
    generator: Option<Py<PyAny>>,
    vars: ContextVars,
}

const REQUEST_ID: &[u8] = b"x-request-id";

/// A valid ID read from a header, or `None`.
type Found<'py> = Option<Bound<'py, PyString>>;

impl RequestIds {
    /// `ids` with the values found in `found` (at least as long as `wanted`).
    fn read<'py>(
        &self,
        headers: &Bound<'py, PyAny>,
        found: &mut [Option<Bound<'py, PyAny>>],
    ) -> PyResult<(Found<'py>, Found<'py>)> {
        let found = found.get_mut(..self.wanted.len()).unwrap_or_default();
        scan(headers, &self.wanted, found)?;
        if found.iter().all(Option::is_none) {
            return Ok((None, None)); // the common case: none of the names
        }
        let cid = found
            .iter()
            .take(self.accepted)
            .find_map(|value| valid_text(value.as_ref()));
        let request_id = valid_text(found.get(self.request_id).and_then(Option::as_ref));
        Ok((cid, request_id))
    }

    /// A fresh ID from this middleware's own generator (guarded: an exception or an invalid ID
    /// gives UUID4 hex) or from `default` (the module's generator, trusted).
    fn new_id<'py>(
        &self,
        py: Python<'py>,
        default: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match &self.generator {
            None => {
                if UUID4_HEX.get(py).is_some_and(|f| f.bind(py).is(default)) {
                    Ok(new_uuid4_hex(py).into_any())
                } else {
                    default.call0()
                }
            }
            Some(generator) => match generator.bind(py).call0() {
                Ok(cid) if is_valid_object(&cid) => Ok(cid),
                Ok(_) => Ok(new_uuid4_hex(py).into_any()),
                Err(err) if err.is_instance_of::<PyException>(py) => {
                    Ok(new_uuid4_hex(py).into_any())
                }
                Err(err) => Err(err),
            },
        }
    }

    /// Sets the request's context: its correlation ID; no bound fields but its `request_id`;
    /// no operation. Each `ContextVar.set` costs every later read of any context variable its
    /// cache, so the last two are set only when they are not so already (a server's fresh
    /// request task). Returns the tokens to reset them with.
    fn set_context<'py>(
        &self,
        py: Python<'py>,
        cid: &Bound<'py, PyAny>,
        request_id: Found<'py>,
    ) -> PyResult<Tokens> {
        let vars = &self.vars;
        let correlation = vars.correlation_set.bind(py).call1((cid,))?.unbind();
        let bound = match request_id {
            Some(request_id) => {
                let fields = PyDict::new(py);
                fields.set_item(intern!(py, "request_id"), request_id)?;
                let fields = vars.proxy.bind(py).call1((fields,))?;
                Some(vars.bound_set.bind(py).call1((fields,))?.unbind())
            }
            None => {
                let empty = vars.empty.bind(py);
                if vars.bound_get.bind(py).call0()?.is(empty) {
                    None
                } else {
                    Some(vars.bound_set.bind(py).call1((empty,))?.unbind())
                }
            }
        };
        let operation = if vars.operation_get.bind(py).call0()?.is_none() {
            None
        } else {
            Some(vars.operation_set.bind(py).call1((py.None(),))?.unbind())
        };
        Ok(Tokens {
            correlation,
            bound,
            operation,
        })
    }
}

/// `is_valid_correlation_id` of any object.
fn is_valid_object(value: &Bound<'_, PyAny>) -> bool {
    value
        .cast::<PyString>()
        .ok()
        .and_then(|s| s.to_str().ok().map(is_valid_id))
        .unwrap_or(false)
}

#[pymethods]
impl RequestIds {
    /// `header`: the response header's lowercase name; `accept`: the lowercase names an ID is
    /// accepted from, in preference order; `context`: the correlation ID's, bound fields' and
    /// operation's `ContextVar`s, the empty fields mapping and `MappingProxyType`;
    /// `generator`: the middleware's own ID generator.
    #[new]
    #[pyo3(signature = (header, accept, context, echo=true, generator=None))]
    fn new(
        header: Py<PyBytes>,
        accept: Vec<Vec<u8>>,
        context: &Bound<'_, PyTuple>,
        echo: bool,
        generator: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let mut wanted: Vec<Vec<u8>> = Vec::with_capacity(accept.len() + 1);
        for name in accept {
            if !wanted.contains(&name) {
                wanted.push(name);
            }
        }
        let accepted = wanted.len();
        let request_id = match wanted.iter().position(|n| n == REQUEST_ID) {
            Some(index) => index,
            None => {
                wanted.push(REQUEST_ID.to_vec());
                accepted
            }
        };
        Ok(Self {
            wanted,
            accepted,
            request_id,
            header,
            echo,
            generator,
            vars: ContextVars::new(context)?,
        })
    }

    /// The accepted correlation ID and the valid `X-Request-ID` of raw ASGI `headers`, each
    /// `None` when absent or invalid.
    fn ids<'py>(&self, headers: &Bound<'py, PyAny>) -> PyResult<(Found<'py>, Found<'py>)> {
        if self.wanted.len() <= INLINE_NAMES {
            let mut found: [Option<Bound<'py, PyAny>>; INLINE_NAMES] = Default::default();
            self.read(headers, &mut found)
        } else {
            let mut found = vec![None; self.wanted.len()];
            self.read(headers, &mut found)
        }
    }

    /// For an HTTP or WebSocket `scope`: takes the request's correlation ID (accepted from the
    /// headers, else generated by this middleware's generator or `default`), puts it in
    /// `scope["state"]`, sets the request's context (see `set_context`) and returns the
    /// `CorrelatedRequest` whose `send` the application uses. `None` for any other scope
    /// (lifespan), with nothing done.
    fn enter<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
        scope: &Bound<'py, PyAny>,
        send: Py<PyAny>,
        default: &Bound<'py, PyAny>,
    ) -> PyResult<Option<CorrelatedRequest>> {
        let this = slf.get();
        let dict = scope.cast::<PyDict>().ok();
        let get = |key: &Bound<'py, PyString>| -> PyResult<Option<Bound<'py, PyAny>>> {
            match dict {
                Some(d) => d.get_item(key),
                None => {
                    let value = scope.call_method1(intern!(py, "get"), (key,))?;
                    Ok((!value.is_none()).then_some(value))
                }
            }
        };
        let kind = get(intern!(py, "type"))?;
        let is_request = kind
            .as_ref()
            .and_then(|k| k.cast::<PyString>().ok())
            .and_then(|k| k.to_str().ok())
            .is_some_and(|k| k == "http" || k == "websocket");
        if !is_request {
            return Ok(None);
        }
        let (accepted, request_id) = match get(intern!(py, "headers"))? {
            Some(headers) => this.ids(&headers)?,
            None => (None, None),
        };
        let cid = match accepted {
            Some(cid) => cid.into_any(),
            None => this.new_id(py, default)?,
        };
        let key = intern!(py, "correlation_id");
        match get(intern!(py, "state"))? {
            Some(state) if state.cast::<PyDict>().is_ok() => state.set_item(key, &cid)?,
            _ => {
                let state = PyDict::new(py);
                state.set_item(key, &cid)?;
                scope.set_item(intern!(py, "state"), state)?;
            }
        }
        let tokens = this.set_context(py, &cid, request_id)?;
        Ok(Some(CorrelatedRequest {
            send,
            echo: this.echo,
            cid: cid.unbind(),
            started: AtomicBool::new(false),
            tokens,
            owner: slf.clone().unbind(),
        }))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.header)?;
        visit.call(&self.generator)?;
        self.vars.visit(&visit)
    }
}

/// The tokens of the context variables a request set.
struct Tokens {
    correlation: Py<PyAny>,
    bound: Option<Py<PyAny>>,
    operation: Option<Py<PyAny>>,
}

/// One request under the middleware: the application's `send` with the correlation ID header
/// spliced into the response start, and the context to restore when the application returns.
#[pyclass(frozen, module = "rfs_monitoring._core", name = "CorrelatedRequest")]
pub(crate) struct CorrelatedRequest {
    send: Py<PyAny>,
    echo: bool,
    cid: Py<PyAny>,
    started: AtomicBool,
    tokens: Tokens,
    owner: Py<RequestIds>,
}

#[pymethods]
impl CorrelatedRequest {
    /// Sends `message`, with the header spliced in when it starts the response (an
    /// `http.response.start` or `websocket.accept`); returns what the wrapped `send` returns
    /// (its awaitable).
    fn send<'py>(
        &self,
        py: Python<'py>,
        message: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let send = self.send.bind(py);
        if !self.started.load(Ordering::Acquire) && starts_response(&message)? {
            self.started.store(true, Ordering::Release);
            if self.echo {
                let value = id_bytes(self.cid.bind(py))?;
                let spliced = with_header(&message, self.owner.get().header.bind(py), &value)?;
                return send.call1((spliced,));
            }
        }
        send.call1((message,))
    }

    /// Whether the response has started (its start message went through `send`).
    #[getter]
    fn started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// After the application returned: the context variables back to their values from before
    /// the request (the ones set reset; fields bound or an operation left current by the
    /// application cleared).
    fn leave(&self, py: Python<'_>) -> PyResult<()> {
        let vars = &self.owner.get().vars;
        match &self.tokens.operation {
            Some(token) => {
                vars.operation_reset.bind(py).call1((token,))?;
            }
            None => {
                if !vars.operation_get.bind(py).call0()?.is_none() {
                    vars.operation_set.bind(py).call1((py.None(),))?;
                }
            }
        }
        match &self.tokens.bound {
            Some(token) => {
                vars.bound_reset.bind(py).call1((token,))?;
            }
            None => {
                let empty = vars.empty.bind(py);
                if !vars.bound_get.bind(py).call0()?.is(empty) {
                    vars.bound_set.bind(py).call1((empty,))?;
                }
            }
        }
        vars.correlation_reset
            .bind(py)
            .call1((&self.tokens.correlation,))?;
        Ok(())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.send)?;
        visit.call(&self.cid)?;
        visit.call(&self.tokens.correlation)?;
        visit.call(&self.tokens.bound)?;
        visit.call(&self.tokens.operation)?;
        visit.call(&self.owner)
    }
}

/// Whether a response header `pair` is named `name` (any case): `pair[0].lower() == name`.
fn same_name(pair: &Bound<'_, PyAny>, name: &Bound<'_, PyBytes>) -> PyResult<bool> {
    let first = match pair.cast_exact::<PyTuple>() {
        Ok(tuple) => tuple.get_item(0)?,
        Err(_) => pair.get_item(0)?,
    };
    if let Ok(bytes) = first.cast_exact::<PyBytes>() {
        return Ok(bytes.as_bytes().eq_ignore_ascii_case(name.as_bytes()));
    }
    first.call_method0(intern!(pair.py(), "lower"))?.eq(name)
}

/// A copy of a response start `message` carrying `(name, value)` (replacing any header of that
/// name, whatever its case).
pub(crate) fn with_header<'py>(
    message: &Bound<'py, PyAny>,
    name: &Bound<'py, PyBytes>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let py = message.py();
    let copy = match message.cast::<PyDict>() {
        Ok(dict) => dict.copy()?,
        Err(_) => py.get_type::<PyDict>().call1((message,))?.cast_into()?,
    };
    let key = intern!(py, "headers");
    let headers = PyList::empty(py);
    if let Some(raw) = copy.get_item(key)? {
        if let Ok(list) = raw.cast_exact::<PyList>() {
            for pair in list.iter() {
                if !same_name(&pair, name)? {
                    headers.append(pair)?;
                }
            }
        } else if raw.is_truthy()? {
            for pair in raw.try_iter()? {
                let pair = pair?;
                if !same_name(&pair, name)? {
                    headers.append(pair)?;
                }
            }
        }
    }
    headers.append(PyTuple::new(py, [name.as_any(), value])?)?;
    copy.set_item(key, headers)?;
    Ok(copy)
}

/// A copy of a response start `message` carrying the header `(name, value)`, replacing any
/// header of that name whatever its case (`name` lowercase): the header list is a new list.
#[pyfunction]
fn splice_header<'py>(
    message: &Bound<'py, PyAny>,
    name: &Bound<'py, PyBytes>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    with_header(message, name, value)
}

/// The ID as header bytes: latin-1 (`cid.encode("latin-1")`).
fn id_bytes<'py>(cid: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if let Some(text) = cid.cast::<PyString>().ok().and_then(|s| s.to_str().ok()) {
        if text.is_ascii() {
            return Ok(PyBytes::new(cid.py(), text.as_bytes()).into_any());
        }
    }
    cid.call_method1(intern!(cid.py(), "encode"), ("latin-1",))
}

/// Whether `message` is an `http.response.start` or `websocket.accept` message.
fn starts_response(message: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = message.py();
    let key = intern!(py, "type");
    let kind = match message.cast::<PyDict>() {
        Ok(dict) => dict.get_item(key)?,
        Err(_) => Some(message.call_method1(intern!(py, "get"), (key,))?),
    };
    Ok(kind
        .as_ref()
        .and_then(|k| k.cast::<PyString>().ok())
        .and_then(|k| k.to_str().ok())
        .is_some_and(|k| k == "http.response.start" || k == "websocket.accept"))
}

/// Registers this module's functions and classes in `_core`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let function = wrap_pyfunction!(uuid4_hex, m)?;
    m.add_function(function.clone())?;
    UUID4_HEX.get_or_init(py, || function.into_any().unbind());
    m.add_function(wrap_pyfunction!(reset_uuid4_pool, m)?)?;
    m.add_function(wrap_pyfunction!(splice_header, m)?)?;
    m.add_class::<RequestIds>()?;
    m.add_class::<CorrelatedRequest>()?;
    Ok(())
}
