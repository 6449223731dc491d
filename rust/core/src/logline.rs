//! JSON lines of the logging pipeline, rendered and masked without the Python interpreter.
//!
//! The Python package hands a batch of entries over (their fields converted while it holds the
//! interpreter) and this module writes each one as one flat JSON object, byte for byte what the
//! package's Python renderer writes: the same fields in the same order (the `ResultLogEntry`
//! schema), strings escaped as Python's `json` module escapes them (`ensure_ascii=False`), floats
//! as Python's `repr` writes them, and free text (`error_message`, `user_id`, `request_id`, the
//! traceback, and every string of `metadata`) masked by a [`TextMasker`], values under sensitive
//! keys replaced whole.
//!
//! ```
//! use rfs_monitoring_core::logline::{render, Entry, Frame, Value};
//! use rfs_monitoring_core::mask::TextMasker;
//!
//! let entry = Entry {
//!     level: 30,
//!     ts: 1_767_323_045.5,
//!     operation: "find_user".into(),
//!     result_type: "error".into(),
//!     ms: 1.234_567,
//!     error_message: Some("login with password=hunter2".into()),
//!     metadata: vec![("token".into(), Value::Str("abc".into()))],
//!     ..Entry::default()
//! };
//! let frame = Frame { fixed_json: r#""service_name":"s","environment":"e""#, memory: "null", cpu: "null" };
//! let mut line = String::new();
//! render(&entry, &frame, &TextMasker::default(), &mut line);
//! assert!(line.starts_with(r#"{"timestamp":"2026-01-02T03:04:05.500000Z","level":"warning""#));
//! assert!(line.contains(r#""processing_time_ms":1.2346,"#));
//! assert!(line.contains(r#""error_message":"login with password=***""#));
//! assert!(line.contains(r#""metadata":{"token":"***"}"#));
//! ```
use std::fmt::Write as _;

use crate::mask::TextMasker;

/// A value of an entry's `metadata`, converted from a Python value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    Null,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// A finite float.
    Float(f64),
    /// Text, masked when rendered.
    Str(String),
    /// JSON text written as is: a number too large for 64 bits.
    Raw(String),
    /// JSON text written as is, masked where it was made; a sensitive key still hides it.
    Premasked(String),
    /// A list (or a tuple).
    List(Vec<Value>),
    /// A dict with string keys, in insertion order; the value under a sensitive key is replaced.
    Map(Vec<(String, Value)>),
}

/// One log entry, field for field the package's raw entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `event`: `result_operation` or `result_step`.
    pub event: String,
    /// The level number (10 debug, 20 info, 30 warning, 40 error, 50 critical).
    pub level: u8,
    /// Unix time of the entry, seconds.
    pub ts: f64,
    /// `correlation_id`.
    pub correlation_id: String,
    /// `operation_name`.
    pub operation: String,
    /// `step_name`.
    pub step: Option<String>,
    /// `result_type`: `success` or `error`.
    pub result_type: String,
    /// `processing_time_ms` (finite), written rounded to four decimals.
    pub ms: f64,
    /// `success_type`.
    pub success_type: Option<String>,
    /// `error_type`.
    pub error_type: Option<String>,
    /// `error_code` (already masked where it was named).
    pub error_code: Option<String>,
    /// `error_message`, masked when rendered.
    pub error_message: Option<String>,
    /// `user_id`, masked when rendered.
    pub user_id: Option<String>,
    /// `request_id`, masked when rendered.
    pub request_id: Option<String>,
    /// `metadata`, masked when rendered.
    pub metadata: Vec<(String, Value)>,
    /// `trace_id`.
    pub trace_id: Option<String>,
    /// `span_id`.
    pub span_id: Option<String>,
    /// The formatted traceback of a raised exception, masked when rendered.
    pub exception: Option<String>,
}

impl Default for Entry {
    fn default() -> Self {
        Self {
            event: "result_operation".into(),
            level: 20,
            ts: 0.0,
            correlation_id: String::new(),
            operation: String::new(),
            step: None,
            result_type: "success".into(),
            ms: 0.0,
            success_type: None,
            error_type: None,
            error_code: None,
            error_message: None,
            user_id: None,
            request_id: None,
            metadata: Vec::new(),
            trace_id: None,
            span_id: None,
            exception: None,
        }
    }
}

/// What every line of a batch shares, already rendered as JSON.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// `"service_name":...,"environment":...` (the configuration's fixed fields).
    pub fixed_json: &'a str,
    /// `memory_usage_mb`'s JSON value.
    pub memory: &'a str,
    /// `cpu_usage_percent`'s JSON value.
    pub cpu: &'a str,
}

/// Containers nested deeper than this are not rendered here (the caller renders the entry).
pub const MAX_DEPTH: usize = 32;

/// The level's name, with the text around it: `","level":"info","event":`.
fn level_piece(level: u8) -> &'static str {
    match level {
        10 => "\",\"level\":\"debug\",\"event\":",
        30 => "\",\"level\":\"warning\",\"event\":",
        40 => "\",\"level\":\"error\",\"event\":",
        50 => "\",\"level\":\"critical\",\"event\":",
        _ => "\",\"level\":\"info\",\"event\":",
    }
}

/// The bytes a JSON string escapes: the control characters, the quote and the backslash.
static ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Eight copies of `byte` in one word (the same in either byte order).
const fn splat(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

/// Whether any byte of `word` is one [`push_str`] escapes: below 0x20, `"` or `\\`. (A byte
/// below 0x20 leaves the high bit of its difference set and of its complement too; an equal
/// byte is a zero after the XOR. Borrows never hide such a byte, they only come from one.)
#[inline]
const fn needs_escape(word: u64) -> bool {
    const HIGH: u64 = splat(0x80);
    let low = word.wrapping_sub(splat(0x20)) & !word;
    let quote = word ^ splat(b'"');
    let backslash = word ^ splat(b'\\');
    let quote = quote.wrapping_sub(splat(1)) & !quote;
    let backslash = backslash.wrapping_sub(splat(1)) & !backslash;
    (low | quote | backslash) & HIGH != 0
}

/// How many leading bytes of `bytes` surely need no escape (all of them when none does),
/// looked at eight at a time; the last few bytes as the last eight (overlapping).
#[inline]
fn clean_prefix(bytes: &[u8]) -> usize {
    let word_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map_or(u64::MAX, u64::from_ne_bytes) // (MAX has bytes to escape: never clean)
    };
    let mut clean = 0;
    while clean + 8 <= bytes.len() {
        if needs_escape(word_at(clean)) {
            return clean;
        }
        clean += 8;
    }
    if clean == bytes.len() {
        return clean;
    }
    if bytes.len() >= 8 {
        return if needs_escape(word_at(bytes.len() - 8)) {
            clean
        } else {
            bytes.len()
        };
    }
    match bytes.iter().position(|&b| ESCAPED[usize::from(b)]) {
        Some(_) => clean,
        None => bytes.len(),
    }
}

/// Appends `text` as a JSON string, escaped as Python's `json` module does with
/// `ensure_ascii=False` (`json.encoder.encode_basestring`). Runs without an escape are copied
/// whole (most strings have none), found eight bytes at a time.
pub fn push_str(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    let bytes = text.as_bytes();
    let mut i = clean_prefix(bytes);
    if i == bytes.len() {
        // The common case: nothing to escape.
        out.push_str(text);
        out.push('"');
        return;
    }
    let mut start = 0;
    while i < bytes.len() {
        if let Some(word) = bytes
            .get(i..i + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
        {
            if !needs_escape(u64::from_ne_bytes(word)) {
                i += 8;
                continue;
            }
        }
        let byte = bytes.get(i).copied().unwrap_or(0);
        if ESCAPED[usize::from(byte)] {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                _ => "",
            };
            out.push_str(text.get(start..i).unwrap_or(""));
            if escape.is_empty() {
                let _ = write!(out, "\\u{byte:04x}");
            } else {
                out.push_str(escape);
            }
            start = i + 1;
        }
        i += 1;
    }
    out.push_str(text.get(start..).unwrap_or(""));
    out.push('"');
}

fn push_opt(out: &mut String, text: Option<&str>) {
    match text {
        None => out.push_str("null"),
        Some(text) => push_str(out, text),
    }
}

fn push_masked(out: &mut String, text: Option<&str>, masker: &TextMasker) {
    match text {
        None => out.push_str("null"),
        Some(text) => push_str(out, &masker.mask(text)),
    }
}

/// Appends a finite `value` as Python's `repr(float)` writes it: the shortest digits that read
/// back to the same float, in positional notation for decimal exponents -4 to 15 (always with a
/// fraction, `3.0`) and in scientific notation otherwise (`1e-05`, `1.5e+16`).
pub fn push_py_float(out: &mut String, value: f64) {
    if value == 0.0 {
        out.push_str(if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        });
        return;
    }
    // `{:e}` writes the shortest round-trip digits ("-1.2345e3", "1e-5"), here into the stack.
    let mut buffer = [0u8; 40];
    let written = {
        let mut cursor = std::io::Cursor::new(&mut buffer[..]);
        let _ = std::io::Write::write_fmt(&mut cursor, format_args!("{value:e}"));
        usize::try_from(cursor.position()).unwrap_or(0)
    };
    let sci = std::str::from_utf8(buffer.get(..written).unwrap_or(&[])).unwrap_or("0e0");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let mut digit_buffer = [0u8; 24];
    let mut count = 0;
    for byte in mantissa.bytes().filter(u8::is_ascii_digit) {
        if let Some(slot) = digit_buffer.get_mut(count) {
            *slot = byte;
            count += 1;
        }
    }
    if let Some(even) = even_tie(
        value.abs(),
        digit_buffer.get(..count).unwrap_or(&[]),
        exponent,
    ) {
        if let Some(last) = count.checked_sub(1).and_then(|i| digit_buffer.get_mut(i)) {
            *last = even;
        }
    }
    let digits = std::str::from_utf8(digit_buffer.get(..count).unwrap_or(&[])).unwrap_or("0");
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exponent) {
        if exponent >= 0 {
            #[allow(clippy::cast_sign_loss)]
            let whole = exponent as usize + 1;
            if digits.len() <= whole {
                out.push_str(digits);
                out.extend(std::iter::repeat_n('0', whole - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..whole]);
                out.push('.');
                out.push_str(&digits[whole..]);
            }
        } else {
            out.push_str("0.");
            #[allow(clippy::cast_sign_loss)]
            out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
            out.push_str(digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    }
}

/// [`push_py_float`] of a value [`py_round4`] returned (a duration in ms), without the general
/// formatter in the common case: a value at most 1e11 and at least 1e-4 in size that is the
/// float nearest to `n / 10^4` for an integer `n` is written as that decimal, its trailing
/// zeros dropped. That is `repr`'s answer: below 1e11 two decimals of four places differ by
/// more than the float's precision, so no shorter decimal reads back to the same float, and
/// between 1e-4 and 1e16 `repr` writes the fixed notation. Anything else goes to
/// [`push_py_float`].
pub fn push_round4(out: &mut String, value: f64) {
    let size = value.abs();
    if (1e-4..1e11).contains(&size) {
        let scaled = round_small(size * 10_000.0); // below 1e15
        if scaled / 10_000.0 == size {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = scaled as u64;
            if value < 0.0 {
                out.push('-');
            }
            push_digits(out, n / 10_000, 1);
            out.push('.');
            let mut fraction = n % 10_000;
            if fraction == 0 {
                out.push('0');
                return;
            }
            let mut width = 4;
            while fraction.is_multiple_of(10) {
                fraction /= 10;
                width -= 1;
            }
            push_digits(out, fraction, width);
            return;
        }
    }
    push_py_float(out, value);
}

/// `x.trunc()` for `|x| < 2^62`, without the library call: the conversion truncates, and the
/// sign is copied back for a zero (`-0.3` truncates to `-0.0`).
#[inline]
fn trunc_small(x: f64) -> f64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let whole = (x as i64) as f64;
    whole.copysign(x)
}

/// `x.round()` (half away from zero) for `|x| < 2^52`, without the library call: there the
/// fraction `x - trunc(x)` is exact.
#[inline]
fn round_small(x: f64) -> f64 {
    let whole = trunc_small(x);
    let fraction = x - whole;
    if fraction >= 0.5 {
        whole + 1.0
    } else if fraction <= -0.5 {
        whole - 1.0
    } else {
        whole
    }
}

/// Python's `repr` breaks an exact tie between two shortest candidates (the float lies exactly
/// midway between two decimals of that length that both read back to it) toward the even last
/// digit; Rust's formatter may take the other. Returns the even last digit when `digits` (the
/// shortest digits of `value > 0`, decimal exponent `exponent`) end in the odd one of such a tie.
/// Only 16- and 17-digit forms can tie, so shorter ones return at once.
fn even_tie(value: f64, digits: &[u8], exponent: i32) -> Option<u8> {
    let (&last, head) = digits.split_last()?;
    if digits.len() < 16 || !last.is_ascii_digit() || (last - b'0').is_multiple_of(2) {
        return None;
    }
    let (first, rest) = head.split_first()?;
    let lead = char::from(*first);
    let rest = std::str::from_utf8(rest).ok()?;
    for alternative in [last - 1, last + 1].into_iter().filter(u8::is_ascii_digit) {
        let candidate = format!("{lead}.{rest}{}e{exponent}", char::from(alternative));
        if candidate.parse::<f64>().ok() != Some(value) {
            continue;
        }
        // Both read back: a tie only if the exact value is the lower one followed by a 5 (a
        // float's exact decimal expansion has at most 767 significant digits).
        let exact = format!("{value:.780e}");
        let (mantissa, exact_exponent) = exact.split_once('e')?;
        if exact_exponent.parse::<i32>().ok() != Some(exponent) {
            return None;
        }
        let exact_digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        let low = last.min(alternative);
        let (prefix, tail) = exact_digits.split_at_checked(digits.len())?;
        let tie = prefix.get(..head.len()) == Some(head)
            && prefix.last() == Some(&low)
            && tail.first() == Some(&b'5')
            && tail.iter().skip(1).all(|&d| d == b'0');
        return tie.then_some(alternative);
    }
    None
}

/// `value` rounded to four decimals as Python's `round(value, 4)` does: the decimal nearest to
/// the float's exact value, an exact tie to the even digit.
#[must_use]
pub fn py_round4(value: f64) -> f64 {
    if !value.is_finite() {
        return value;
    }
    // An exact tie at the fifth decimal: value = odd / 2^5 (2 * 10^4 = 2^5 * 5^4, and a float's
    // denominator is a power of two), so value * 10^4 = n + 0.5 exactly.
    let scaled = value * 32.0;
    if scaled.abs() < 1e12 && scaled - trunc_small(scaled) == 0.0 && (scaled % 2.0).abs() == 1.0 {
        let half = value * 10_000.0; // exact: q * 312.5 with |q| < 1e12
        let (low, high) = (half.floor(), half.ceil());
        let even = if (low % 2.0) == 0.0 { low } else { high };
        return format!("{even}e-4").parse().unwrap_or(value);
    }
    // value * 10^4 is off by at most half an ulp: when it is clearly away from a half, its
    // rounding is the exact value's, and dividing the integer by 10^4 (both exact) is correctly
    // rounded, as Python's reading of the rounded decimal is.
    let product = value * 10_000.0;
    if product.abs() < 4.5e15 {
        let gap = (product - trunc_small(product)).abs();
        let margin = product.abs() * f64::EPSILON * 4.0 + f64::MIN_POSITIVE;
        if (gap - 0.5).abs() > margin {
            return round_small(product) / 10_000.0;
        }
    }
    format!("{value:.4}").parse().unwrap_or(value)
}

/// Appends the UTC time `ts` as the package's timestamps are written:
/// `2026-01-02T03:04:05.123456Z` (microseconds truncated). `ts` must be finite and not negative.
pub fn push_stamp(out: &mut String, ts: f64) {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let second = ts as u64; // truncates, as `trunc` does
    #[allow(clippy::cast_precision_loss)]
    let fraction = ts - second as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let micros = (fraction * 1_000_000.0) as u64;
    // The date and time up to the second change once a second: kept per thread (the writer's).
    STAMP.with(|cell| {
        let mut kept = cell.borrow_mut();
        if kept.0 != Some(second) || kept.1.is_empty() {
            kept.1.clear();
            push_second(&mut kept.1, second);
            kept.0 = Some(second);
        }
        out.push_str(&kept.1);
    });
    push_digits(out, micros, 6);
    out.push('Z');
}

thread_local! {
    static STAMP: std::cell::RefCell<(Option<u64>, String)> =
        const { std::cell::RefCell::new((None, String::new())) };
}

/// `2026-01-02T03:04:05.` for the Unix time `second`.
fn push_second(out: &mut String, second: u64) {
    let (days, rest) = (second / 86_400, second % 86_400);
    let (year, month, day) = crate::json::civil_date(days);
    #[allow(clippy::cast_sign_loss)]
    let (year, month, day) = (year.max(0) as u64, month as u64, day as u64);
    push_digits(out, year, 4);
    out.push('-');
    push_digits(out, month, 2);
    out.push('-');
    push_digits(out, day, 2);
    out.push('T');
    push_digits(out, rest / 3_600, 2);
    out.push(':');
    push_digits(out, rest % 3_600 / 60, 2);
    out.push(':');
    push_digits(out, rest % 60, 2);
    out.push('.');
}

/// Appends `value` in decimal, zero-padded to `width` digits (more when it needs more).
fn push_digits(out: &mut String, value: u64, width: usize) {
    let mut buffer = [b'0'; 20];
    let mut rest = value;
    let mut start = buffer.len();
    while rest > 0 || buffer.len() - start < width {
        start -= 1;
        #[allow(clippy::cast_possible_truncation)]
        let digit = (rest % 10) as u8;
        if let Some(slot) = buffer.get_mut(start) {
            *slot = b'0' + digit;
        }
        rest /= 10;
        if start == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(buffer.get(start..).unwrap_or(&[])).unwrap_or(""));
}

/// Appends `value` as JSON, masked: strings through `masker`, the value under a sensitive key
/// replaced by the masker's replacement.
pub fn push_value(out: &mut String, value: &Value, masker: &TextMasker) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(number) => {
            let _ = write!(out, "{number}");
        }
        Value::Float(number) => push_py_float(out, *number),
        Value::Str(text) => push_str(out, &masker.mask(text)),
        Value::Raw(json) | Value::Premasked(json) => out.push_str(json),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value(out, item, masker);
            }
            out.push(']');
        }
        Value::Map(items) => push_map(out, items, masker),
    }
}

fn push_map(out: &mut String, items: &[(String, Value)], masker: &TextMasker) {
    out.push('{');
    for (i, (key, item)) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, key);
        out.push(':');
        if masker.is_sensitive_key(key) {
            push_str(out, masker.replacement());
        } else {
            push_value(out, item, masker);
        }
    }
    out.push('}');
}

/// Appends `entry` as one JSON line (without the newline).
pub fn render(entry: &Entry, frame: &Frame<'_>, masker: &TextMasker, out: &mut String) {
    render_view(&entry.view(), frame, masker, out);
}

/// Appends the entry `entry` borrows as one JSON line (without the newline).
pub fn render_view(entry: &View<'_>, frame: &Frame<'_>, masker: &TextMasker, out: &mut String) {
    out.push_str("{\"timestamp\":\"");
    push_stamp(out, entry.ts);
    // The level and the two events the package writes, each with the text around it in one
    // piece.
    out.push_str(level_piece(entry.level));
    match entry.event {
        "result_operation" => out.push_str("\"result_operation\""),
        "result_step" => out.push_str("\"result_step\""),
        event => push_str(out, event),
    }
    out.push_str(",\"correlation_id\":");
    push_str(out, entry.correlation_id);
    out.push_str(",\"operation_name\":");
    push_str(out, entry.operation);
    out.push_str(",\"step_name\":");
    push_opt(out, entry.step);
    match entry.result_type {
        "success" => out.push_str(",\"result_type\":\"success\",\"processing_time_ms\":"),
        "error" => out.push_str(",\"result_type\":\"error\",\"processing_time_ms\":"),
        result_type => {
            out.push_str(",\"result_type\":");
            push_str(out, result_type);
            out.push_str(",\"processing_time_ms\":");
        }
    }
    push_round4(out, py_round4(entry.ms));
    out.push_str(",\"success_type\":");
    push_opt(out, entry.success_type);
    let no_error = entry.error_type.is_none()
        && entry.error_code.is_none()
        && entry.error_message.is_none()
        && entry.user_id.is_none()
        && entry.request_id.is_none();
    if no_error {
        // A success entry's run of nulls, in one piece.
        out.push_str(NO_ERROR_FIELDS);
    } else {
        out.push_str(",\"error_type\":");
        push_opt(out, entry.error_type);
        out.push_str(",\"error_code\":");
        push_opt(out, entry.error_code);
        out.push_str(",\"error_message\":");
        push_masked(out, entry.error_message, masker);
        out.push_str(",\"user_id\":");
        push_masked(out, entry.user_id, masker);
        out.push_str(",\"request_id\":");
        push_masked(out, entry.request_id, masker);
        out.push(',');
    }
    out.push_str(frame.fixed_json);
    out.push_str(",\"memory_usage_mb\":");
    out.push_str(frame.memory);
    out.push_str(",\"cpu_usage_percent\":");
    out.push_str(frame.cpu);
    if entry.metadata.is_empty()
        && entry.trace_id.is_none()
        && entry.span_id.is_none()
        && entry.exception.is_none()
    {
        // An entry without metadata, trace or exception ends the same way: in one piece.
        out.push_str(PLAIN_END);
        return;
    }
    out.push_str(",\"metadata\":");
    push_map(out, entry.metadata, masker);
    out.push_str(",\"trace_id\":");
    push_opt(out, entry.trace_id);
    out.push_str(",\"span_id\":");
    push_opt(out, entry.span_id);
    if let Some(exception) = entry.exception {
        out.push_str(",\"exception\":");
        push_str(out, &masker.mask(exception));
    }
    out.push('}');
}

/// What [`render_view`] writes from `error_type` to `request_id` when all of them are `None`.
const NO_ERROR_FIELDS: &str = ",\"error_type\":null,\"error_code\":null,\"error_message\":null,\
\"user_id\":null,\"request_id\":null,";

/// What [`render_view`] writes from `metadata` on for an entry without metadata, trace IDs or
/// exception.
const PLAIN_END: &str = ",\"metadata\":{},\"trace_id\":null,\"span_id\":null}";

/// An entry's fields, borrowed: what [`render_view`] writes. Made by [`Entry::view`] and
/// [`Packed::view`].
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// `event`.
    pub event: &'a str,
    /// The level number.
    pub level: u8,
    /// Unix time, seconds.
    pub ts: f64,
    /// `correlation_id`.
    pub correlation_id: &'a str,
    /// `operation_name`.
    pub operation: &'a str,
    /// `step_name`.
    pub step: Option<&'a str>,
    /// `result_type`.
    pub result_type: &'a str,
    /// `processing_time_ms`.
    pub ms: f64,
    /// `success_type`.
    pub success_type: Option<&'a str>,
    /// `error_type`.
    pub error_type: Option<&'a str>,
    /// `error_code`.
    pub error_code: Option<&'a str>,
    /// `error_message` (masked when rendered).
    pub error_message: Option<&'a str>,
    /// `user_id` (masked when rendered).
    pub user_id: Option<&'a str>,
    /// `request_id` (masked when rendered).
    pub request_id: Option<&'a str>,
    /// `metadata` (masked when rendered).
    pub metadata: &'a [(String, Value)],
    /// `trace_id`.
    pub trace_id: Option<&'a str>,
    /// `span_id`.
    pub span_id: Option<&'a str>,
    /// The traceback (masked when rendered).
    pub exception: Option<&'a str>,
}

impl Entry {
    /// The entry's fields, borrowed.
    #[must_use]
    pub fn view(&self) -> View<'_> {
        View {
            event: &self.event,
            level: self.level,
            ts: self.ts,
            correlation_id: &self.correlation_id,
            operation: &self.operation,
            step: self.step.as_deref(),
            result_type: &self.result_type,
            ms: self.ms,
            success_type: self.success_type.as_deref(),
            error_type: self.error_type.as_deref(),
            error_code: self.error_code.as_deref(),
            error_message: self.error_message.as_deref(),
            user_id: self.user_id.as_deref(),
            request_id: self.request_id.as_deref(),
            metadata: &self.metadata,
            trace_id: self.trace_id.as_deref(),
            span_id: self.span_id.as_deref(),
            exception: self.exception.as_deref(),
        }
    }
}

/// The text fields of a [`Packed`] entry, in the order they are pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Field {
    /// `event`.
    Event,
    /// `correlation_id`.
    CorrelationId,
    /// `operation_name`.
    Operation,
    /// `step_name`.
    Step,
    /// `result_type`.
    ResultType,
    /// `success_type`.
    SuccessType,
    /// `error_type`.
    ErrorType,
    /// `error_code`.
    ErrorCode,
    /// `error_message`.
    ErrorMessage,
    /// `user_id`.
    UserId,
    /// `request_id`.
    RequestId,
    /// `trace_id`.
    TraceId,
    /// `span_id`.
    SpanId,
    /// The traceback.
    Exception,
}

const FIELDS: usize = Field::Exception as usize + 1;

/// One entry in one allocation: its text fields one after the other in one buffer, with their
/// ends. What the log queue holds: an [`Entry`] costs a dozen allocations, freed by another
/// thread than the one that made them, which the allocator pays for on both sides.
///
/// ```
/// use rfs_monitoring_core::logline::{Field, Packed};
///
/// let mut packed = Packed::new(20, 1_767_323_045.5, 1.5);
/// packed.push(Field::Event, Some("result_operation"));
/// packed.push(Field::CorrelationId, Some("c-1"));
/// packed.push(Field::Operation, Some("op"));
/// packed.push(Field::Step, None);
/// packed.push(Field::ResultType, Some("success"));
/// let view = packed.view();
/// assert_eq!((view.operation, view.step, view.success_type), ("op", None, None));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    text: String,
    /// Each field's end in `text`; a field is `ends[i - 1]..ends[i]`.
    ends: [u32; FIELDS],
    /// Bit `i` set: field `i` is present (not `None`).
    present: u16,
    /// Fields pushed so far.
    pushed: u8,
    level: u8,
    ts: f64,
    ms: f64,
    metadata: Vec<(String, Value)>,
}

impl Packed {
    /// An entry with no text fields yet (each is pushed in [`Field`] order; the ones not pushed
    /// are `None`, or empty for the required ones).
    #[must_use]
    pub fn new(level: u8, ts: f64, ms: f64) -> Self {
        Self::with_buffer(level, ts, ms, String::with_capacity(128))
    }

    /// Pushes the next text field. `field` must be the next one in [`Field`] order (fields
    /// skipped are `None`); a field out of order is ignored.
    pub fn push(&mut self, field: Field, value: Option<&str>) {
        let index = field as usize;
        if index < usize::from(self.pushed) {
            return;
        }
        let start = self.text.len();
        // Fields skipped end where this one starts.
        for end in self
            .ends
            .iter_mut()
            .take(index)
            .skip(usize::from(self.pushed))
        {
            *end = u32::try_from(start).unwrap_or(u32::MAX);
        }
        if let Some(value) = value {
            self.text.push_str(value);
            self.present |= 1 << index;
        }
        if let Some(end) = self.ends.get_mut(index) {
            *end = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        }
        #[allow(clippy::cast_possible_truncation)]
        {
            self.pushed = (index + 1) as u8;
        }
    }

    /// Like [`Packed::new`], writing the text fields into `buffer` (cleared first): a buffer of
    /// an entry already written, so that the steady state allocates nothing.
    #[must_use]
    pub fn with_buffer(level: u8, ts: f64, ms: f64, mut buffer: String) -> Self {
        buffer.clear();
        Self {
            text: buffer,
            ..Self::new_empty(level, ts, ms)
        }
    }

    fn new_empty(level: u8, ts: f64, ms: f64) -> Self {
        Self {
            text: String::new(),
            ends: [0; FIELDS],
            present: 0,
            pushed: 0,
            level,
            ts,
            ms,
            metadata: Vec::new(),
        }
    }

    /// The text buffer, for another entry.
    #[must_use]
    pub fn into_buffer(self) -> String {
        self.text
    }

    /// Sets the metadata.
    pub fn set_metadata(&mut self, metadata: Vec<(String, Value)>) {
        self.metadata = metadata;
    }

    /// The estimated memory the entry holds, in bytes.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.text.capacity() + std::mem::size_of::<Self>()
    }

    fn field(&self, field: Field) -> Option<&str> {
        let index = field as usize;
        if index >= usize::from(self.pushed) || self.present & (1 << index) == 0 {
            return None;
        }
        let start = if index == 0 {
            0
        } else {
            self.ends.get(index - 1).copied().unwrap_or(0) as usize
        };
        let end = self.ends.get(index).copied().unwrap_or(0) as usize;
        self.text.get(start..end)
    }

    /// The entry's fields, borrowed (a required field never pushed is empty).
    #[must_use]
    pub fn view(&self) -> View<'_> {
        View {
            event: self.field(Field::Event).unwrap_or("result_operation"),
            level: self.level,
            ts: self.ts,
            correlation_id: self.field(Field::CorrelationId).unwrap_or(""),
            operation: self.field(Field::Operation).unwrap_or(""),
            step: self.field(Field::Step),
            result_type: self.field(Field::ResultType).unwrap_or("success"),
            ms: self.ms,
            success_type: self.field(Field::SuccessType),
            error_type: self.field(Field::ErrorType),
            error_code: self.field(Field::ErrorCode),
            error_message: self.field(Field::ErrorMessage),
            user_id: self.field(Field::UserId),
            request_id: self.field(Field::RequestId),
            metadata: &self.metadata,
            trace_id: self.field(Field::TraceId),
            span_id: self.field(Field::SpanId),
            exception: self.field(Field::Exception),
        }
    }
}

/// Every entry of `entries` rendered, one line each (no newline).
#[must_use]
pub fn render_all(entries: &[Entry], frame: &Frame<'_>, masker: &TextMasker) -> Vec<String> {
    entries
        .iter()
        .map(|entry| {
            let mut line = String::with_capacity(512);
            render(entry, frame, masker, &mut line);
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn float(value: f64) -> String {
        let mut out = String::new();
        push_py_float(&mut out, value);
        out
    }

    #[test]
    fn floats_are_written_as_python_repr() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123_456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.234_5e100, "1.2345e+100"),
            (-2.5, "-2.5"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            // Exactly midway between two shortest candidates: Python takes the even digit.
            (2f64.powi(49) + 0.25, "562949953421312.2"),
            (2f64.powi(49) + 0.75, "562949953421312.8"),
            (-(2f64.powi(49) + 0.25), "-562949953421312.2"),
        ];
        for (value, text) in cases {
            assert_eq!(float(value), text, "{value}");
        }
    }

    #[test]
    fn rounding_is_pythons() {
        assert_eq!(float(py_round4(1.234_567)), "1.2346");
        assert_eq!(float(py_round4(0.000_04)), "0.0");
        // Exact binary ties go to the even digit, as Python's round does.
        assert_eq!(float(py_round4(1.031_25)), "1.0312");
        assert_eq!(float(py_round4(1.093_75)), "1.0938");
        assert_eq!(float(py_round4(-1.031_25)), "-1.0312");
        assert_eq!(float(py_round4(0.000_031_25)), "0.0");
        assert!(py_round4(f64::NAN).is_nan());
    }

    #[test]
    fn strings_are_escaped_as_pythons_json() {
        let mut out = String::new();
        push_str(&mut out, "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{7f}é☃");
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\u{7f}é☃\"");
    }

    #[test]
    fn rounded_durations_are_written_as_python_repr() {
        let round4 = |value: f64| {
            let mut out = String::new();
            push_round4(&mut out, py_round4(value));
            out
        };
        let cases = [
            (0.0, "0.0"),
            (0.000_04, "0.0"),
            (0.000_1, "0.0001"),
            (1.0, "1.0"),
            (12.5, "12.5"),
            (1.234_567, "1.2346"),
            (-2.5, "-2.5"),
            (100.000_01, "100.0"),
            (99_999_999_999.999, "99999999999.999"),
            (123_456_789_012.5, "123456789012.5"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
        ];
        for (value, text) in cases {
            assert_eq!(round4(value), text, "{value}");
        }
    }

    #[test]
    fn stamps_of_the_same_second_share_their_prefix() {
        let mut out = String::new();
        push_stamp(&mut out, 86_400.25);
        push_stamp(&mut out, 86_400.5);
        push_stamp(&mut out, 86_401.0);
        push_stamp(&mut out, 0.75);
        assert_eq!(
            out,
            concat!(
                "1970-01-02T00:00:00.250000Z1970-01-02T00:00:00.500000Z",
                "1970-01-02T00:00:01.000000Z1970-01-01T00:00:00.750000Z"
            )
        );
    }

    #[test]
    fn stamps_truncate_microseconds() {
        let mut out = String::new();
        push_stamp(&mut out, 0.0);
        assert_eq!(out, "1970-01-01T00:00:00.000000Z");
        out.clear();
        push_stamp(&mut out, 951_782_400.999_999_9);
        assert_eq!(out, "2000-02-29T00:00:00.999999Z");
    }

    #[test]
    fn a_plain_success_entry_in_schema_order() {
        let frame = Frame {
            fixed_json: "\"service_name\":\"s\",\"environment\":\"e\"",
            memory: "12.5",
            cpu: "null",
        };
        let plain = Entry {
            ts: 1_767_323_045.123_456_7,
            correlation_id: "c8dd2ab717e84eddbbe01c1b94151ca3".into(),
            operation: "user_retrieval".into(),
            step: Some("user_validation".into()),
            ms: 0.974_51,
            success_type: Some("User".into()),
            ..Entry::default()
        };
        let mut line = String::new();
        render(&plain, &frame, &TextMasker::default(), &mut line);
        assert_eq!(
            line,
            concat!(
                "{\"timestamp\":\"2026-01-02T03:04:05.123456Z\",\"level\":\"info\",",
                "\"event\":\"result_operation\",",
                "\"correlation_id\":\"c8dd2ab717e84eddbbe01c1b94151ca3\",",
                "\"operation_name\":\"user_retrieval\",\"step_name\":\"user_validation\",",
                "\"result_type\":\"success\",\"processing_time_ms\":0.9745,",
                "\"success_type\":\"User\",\"error_type\":null,\"error_code\":null,",
                "\"error_message\":null,\"user_id\":null,\"request_id\":null,",
                "\"service_name\":\"s\",\"environment\":\"e\",\"memory_usage_mb\":12.5,",
                "\"cpu_usage_percent\":null,\"metadata\":{},\"trace_id\":null,\"span_id\":null}"
            )
        );
        // Each field of the null runs written alone is written where the run would be.
        let one_each = [
            Entry {
                error_type: Some("x".into()),
                ..plain.clone()
            },
            Entry {
                error_code: Some("x".into()),
                ..plain.clone()
            },
            Entry {
                error_message: Some("x".into()),
                ..plain.clone()
            },
            Entry {
                user_id: Some("x".into()),
                ..plain.clone()
            },
            Entry {
                request_id: Some("x".into()),
                ..plain.clone()
            },
            Entry {
                trace_id: Some("x".into()),
                ..plain.clone()
            },
            Entry {
                span_id: Some("x".into()),
                ..plain.clone()
            },
            Entry {
                metadata: vec![("k".into(), Value::Null)],
                ..plain.clone()
            },
        ];
        let fields = [
            ("error_type", "\"x\""),
            ("error_code", "\"x\""),
            ("error_message", "\"x\""),
            ("user_id", "\"x\""),
            ("request_id", "\"x\""),
            ("trace_id", "\"x\""),
            ("span_id", "\"x\""),
            ("metadata", "{\"k\":null}"),
        ];
        for (entry, (name, value)) in one_each.iter().zip(fields) {
            let mut other = String::new();
            render(entry, &frame, &TextMasker::default(), &mut other);
            let null = if name == "metadata" { "{}" } else { "null" };
            let expected = line.replace(
                &format!("\"{name}\":{null}"),
                &format!("\"{name}\":{value}"),
            );
            assert_eq!(other, expected, "{name}");
        }
        let mut excepted = String::new();
        let entry = Entry {
            exception: Some("E".into()),
            ..plain.clone()
        };
        render(&entry, &frame, &TextMasker::default(), &mut excepted);
        assert_eq!(excepted, line.replace("null}", "null,\"exception\":\"E\"}"));
    }

    #[test]
    fn levels_events_and_result_types_are_written_as_json_strings() {
        let frame = Frame {
            fixed_json: "\"service_name\":\"s\",\"environment\":\"e\"",
            memory: "null",
            cpu: "null",
        };
        let levels = [
            (10, "debug"),
            (20, "info"),
            (25, "info"),
            (30, "warning"),
            (40, "error"),
        ];
        let levels = levels.into_iter().chain([(50, "critical"), (0, "info")]);
        for (level, name) in levels {
            for event in ["result_operation", "result_step", "other \"event\"", ""] {
                for result_type in ["success", "error", "odd\n", ""] {
                    let entry = Entry {
                        level,
                        event: event.into(),
                        result_type: result_type.into(),
                        ..Entry::default()
                    };
                    let mut line = String::new();
                    render(&entry, &frame, &TextMasker::default(), &mut line);
                    let (mut event_json, mut result_json) = (String::new(), String::new());
                    push_str(&mut event_json, event);
                    push_str(&mut result_json, result_type);
                    let expected_event = format!(
                        "\",\"level\":\"{name}\",\"event\":{event_json},\"correlation_id\":"
                    );
                    let expected_result =
                        format!(",\"result_type\":{result_json},\"processing_time_ms\":0.0,");
                    assert!(line.contains(&expected_event), "{line}");
                    assert!(line.contains(&expected_result), "{line}");
                }
            }
        }
    }

    /// What `push_str` wrote before it scanned eight bytes at a time: one byte at a time.
    fn push_str_bytewise(out: &mut String, text: &str) {
        out.push('"');
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    #[test]
    fn every_escaped_byte_is_found_at_every_place_of_a_word() {
        for byte in 0u8..0x80 {
            for length in 1..20 {
                for place in 0..length {
                    let mut text: Vec<u8> = b"abcdefghijklmnopqrstu"[..length].to_vec();
                    text[place] = byte;
                    let text = String::from_utf8(text).unwrap_or_default();
                    let (mut fast, mut plain) = (String::new(), String::new());
                    push_str(&mut fast, &text);
                    push_str_bytewise(&mut plain, &text);
                    assert_eq!(fast, plain, "byte {byte:#x} at {place} of {length}");
                }
            }
        }
    }

    #[test]
    fn a_full_entry_in_schema_order() {
        let entry = Entry {
            event: "result_step".into(),
            level: 40,
            ts: 1.25,
            correlation_id: "c".into(),
            operation: "op".into(),
            step: Some("s".into()),
            result_type: "error".into(),
            ms: 2.0,
            success_type: None,
            error_type: Some("ValueError".into()),
            error_code: Some("E".into()),
            error_message: Some("Bearer abc.def".into()),
            user_id: Some("u".into()),
            request_id: None,
            metadata: vec![
                ("n".into(), Value::Int(-3)),
                (
                    "nested".into(),
                    Value::List(vec![Value::Null, Value::Bool(true), Value::Float(0.5)]),
                ),
                ("password".into(), Value::Map(vec![])),
                ("raw".into(), Value::Raw("\"2026-01-01\"".into())),
            ],
            trace_id: Some("t".into()),
            span_id: Some("p".into()),
            exception: Some("Traceback\nValueError: token=x".into()),
        };
        let frame = Frame {
            fixed_json: "\"service_name\":\"s\",\"environment\":\"e\"",
            memory: "12.5",
            cpu: "null",
        };
        let mut line = String::new();
        render(&entry, &frame, &TextMasker::default(), &mut line);
        assert_eq!(
            line,
            concat!(
                "{\"timestamp\":\"1970-01-01T00:00:01.250000Z\",\"level\":\"error\",",
                "\"event\":\"result_step\",\"correlation_id\":\"c\",\"operation_name\":\"op\",",
                "\"step_name\":\"s\",\"result_type\":\"error\",\"processing_time_ms\":2.0,",
                "\"success_type\":null,\"error_type\":\"ValueError\",\"error_code\":\"E\",",
                "\"error_message\":\"Bearer ***\",\"user_id\":\"u\",\"request_id\":null,",
                "\"service_name\":\"s\",\"environment\":\"e\",\"memory_usage_mb\":12.5,",
                "\"cpu_usage_percent\":null,\"metadata\":{\"n\":-3,",
                "\"nested\":[null,true,0.5],\"password\":\"***\",\"raw\":\"2026-01-01\"},",
                "\"trace_id\":\"t\",\"span_id\":\"p\",",
                "\"exception\":\"Traceback\\nValueError: token=***\"}"
            )
        );
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::Float),
            ".{0,20}".prop_map(Value::Str),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
                prop::collection::vec(("[a-z_]{1,8}", inner), 0..4).prop_map(Value::Map),
            ]
        })
    }

    #[test]
    fn small_rounding_matches_the_library_at_its_edges() {
        let mut cases = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -2.5,
            0.499_999_999_999_999_94,
            4.5e15,
        ];
        for k in 0..2_000 {
            let half = f64::from(k) + 0.5;
            cases.extend([
                half,
                half.next_down(),
                half.next_up(),
                -half,
                -half.next_up(),
            ]);
        }
        for x in cases {
            assert_eq!(round_small(x).to_bits(), x.round().to_bits(), "{x}");
            assert_eq!(trunc_small(x).to_bits(), x.trunc().to_bits(), "{x}");
        }
    }

    proptest! {
        #[test]
        fn small_rounding_matches_the_library(
            x in prop_oneof![-4.5e15..4.5e15f64, -10.0..10.0f64, -1e-3..1e-3f64],
        ) {
            prop_assert_eq!(round_small(x).to_bits(), x.round().to_bits());
            prop_assert_eq!(trunc_small(x).to_bits(), x.trunc().to_bits());
        }

        #[test]
        fn digits_are_padded_decimal(value in prop_oneof![any::<u64>(), 0..1_000u64], width in 0..22usize) {
            let mut out = String::from("x");
            push_digits(&mut out, value, width);
            let mut expected = format!("x{value:0width$}");
            if expected.len() > 21 {
                expected = format!("x{}", &expected[expected.len() - 20..]); // at most 20 digits
            }
            prop_assert_eq!(out, expected);
        }

        #[test]
        fn strings_are_escaped_as_one_byte_at_a_time(
            text in prop_oneof![".{0,80}", "[a-z\"\\\\\\x00-\\x1f\\x7f é☃]{0,80}"],
        ) {
            let (mut fast, mut plain) = (String::new(), String::new());
            push_str(&mut fast, &text);
            push_str_bytewise(&mut plain, &text);
            prop_assert_eq!(fast, plain);
        }

        #[test]
        fn the_fast_rounding_agrees_with_exact_decimal_rounding(value in -1e12f64..1e12) {
            // Off ties (handled apart), `{:.4}` is the exact decimal rounding.
            let scaled = value * 32.0;
            prop_assume!(!(scaled.fract() == 0.0 && (scaled % 2.0).abs() == 1.0));
            let exact: f64 = format!("{value:.4}").parse().map_err(|_| TestCaseError::fail("parse"))?;
            prop_assert_eq!(py_round4(value).to_bits(), exact.to_bits());
        }

        #[test]
        fn small_durations_round_as_exactly(value in 0.0f64..10.0) {
            let exact: f64 = format!("{value:.4}").parse().map_err(|_| TestCaseError::fail("parse"))?;
            let scaled = value * 32.0;
            prop_assume!(!(scaled.fract() == 0.0 && (scaled % 2.0).abs() == 1.0));
            prop_assert_eq!(py_round4(value).to_bits(), exact.to_bits());
        }

        #[test]
        fn rounded_durations_are_written_as_the_general_formatter_writes_them(
            value in prop_oneof![-1e12f64..1e12, 0.0f64..10.0, 0.0f64..0.01, 1e10f64..2e11],
        ) {
            let rounded = py_round4(value);
            let (mut fast, mut general) = (String::new(), String::new());
            push_round4(&mut fast, rounded);
            push_py_float(&mut general, rounded);
            prop_assert_eq!(fast, general);
        }

        #[test]
        fn floats_read_back_exactly(value in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
            let text = float(value);
            let back: f64 = text.parse().map_err(|_| TestCaseError::fail(text.clone()))?;
            prop_assert_eq!(back.to_bits(), value.to_bits());
        }

        #[test]
        fn every_line_is_one_json_object_without_raw_newlines(
            cid in ".{0,16}",
            message in proptest::option::of(".{0,40}"),
            ms in 0.0f64..1e9,
            ts in 0.0f64..4e9,
            metadata in prop::collection::vec(("[a-z]{1,6}", value()), 0..4),
        ) {
            let entry = Entry {
                correlation_id: cid,
                error_message: message,
                ms,
                ts,
                metadata,
                ..Entry::default()
            };
            let frame = Frame { fixed_json: "\"service_name\":\"s\",\"environment\":\"e\"", memory: "null", cpu: "null" };
            let mut line = String::new();
            render(&entry, &frame, &TextMasker::default(), &mut line);
            let framed = line.starts_with("{\"timestamp\":\"") && line.ends_with('}');
            prop_assert!(framed);
            prop_assert!(!line.contains('\n'));
            let opens = line.matches('{').count();
            prop_assert!(opens >= 2);
        }
    }
}
