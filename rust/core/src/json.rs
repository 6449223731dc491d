//! Route bodies written as JSON bytes by the core, so a listing of every operation builds no
//! Python object per row (no garbage for the cycle collector to walk inside a request).

use std::fmt::Write as _;

use crate::registry::Brief;

/// Appends `text` as a JSON string.
pub fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `value` as a JSON number (`null` for NaN and infinities, which JSON cannot hold).
pub fn push_number(out: &mut String, value: f64) {
    if value.is_finite() {
        let _ = write!(out, "{value}");
    } else {
        out.push_str("null");
    }
}

/// The rows of the operations list: a JSON array of objects with the fields `name`,
/// `total_requests`, `failed_requests`, `success_rate` (0..1), `avg_ms`, `p50_ms`, `p90_ms`,
/// `p99_ms`, `max_ms` and `rps`, in the order of `briefs`.
#[must_use]
pub fn operations_rows(briefs: &[Brief]) -> String {
    let mut out = String::with_capacity(2 + briefs.len() * 220);
    out.push('[');
    for (i, brief) in briefs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let h = &brief.headline;
        out.push_str("{\"name\":");
        push_string(&mut out, &brief.operation);
        let _ = write!(
            out,
            ",\"total_requests\":{},\"failed_requests\":{},\"success_rate\":",
            h.total, h.failures
        );
        #[allow(clippy::cast_precision_loss)]
        let rate = if h.total == 0 {
            1.0
        } else {
            h.successes as f64 / h.total as f64
        };
        for (key, value) in [
            ("", rate),
            (",\"avg_ms\":", h.mean_ms),
            (",\"p50_ms\":", h.p50_ms),
            (",\"p90_ms\":", h.p90_ms),
            (",\"p99_ms\":", h.p99_ms),
            (",\"max_ms\":", h.max_ms),
            (",\"rps\":", h.throughput_rps),
        ] {
            out.push_str(key);
            push_number(&mut out, value);
        }
        out.push('}');
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Headline;

    #[test]
    fn strings_are_escaped_and_numbers_are_json() {
        let mut out = String::new();
        push_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é\"");
        let mut numbers = String::new();
        for v in [1.0, 0.25, f64::NAN, f64::INFINITY] {
            push_number(&mut numbers, v);
            numbers.push(' ');
        }
        assert_eq!(numbers, "1 0.25 null null ");
    }

    #[test]
    fn rows_hold_every_field() {
        let headline = Headline {
            total: 4,
            successes: 3,
            failures: 1,
            sum_ms: 10.0,
            mean_ms: 2.5,
            min_ms: 1.0,
            max_ms: 4.0,
            p50_ms: 2.0,
            p90_ms: 4.0,
            p95_ms: 4.0,
            p99_ms: 4.0,
            p999_ms: 4.0,
            window_start: 0.0,
            throughput_rps: 0.5,
        };
        let rows = operations_rows(&[Brief {
            operation: "op\"1".to_owned(),
            headline,
        }]);
        assert_eq!(
            rows,
            "[{\"name\":\"op\\\"1\",\"total_requests\":4,\"failed_requests\":1,\
             \"success_rate\":0.75,\"avg_ms\":2.5,\"p50_ms\":2,\"p90_ms\":4,\"p99_ms\":4,\
             \"max_ms\":4,\"rps\":0.5}]"
        );
        assert_eq!(operations_rows(&[]), "[]");
    }
}
