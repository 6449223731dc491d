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
            (",\"avg_ms\":", h.latencies.mean_ms),
            (",\"p50_ms\":", h.latencies.p50_ms),
            (",\"p90_ms\":", h.latencies.p90_ms),
            (",\"p99_ms\":", h.latencies.p99_ms),
            (",\"max_ms\":", h.latencies.max_ms),
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
    use crate::headline::{Latencies, LATENCIES};
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
            latencies: Latencies {
                mean_ms: 2.5,
                min_ms: 1.0,
                p50_ms: 2.0,
                max_ms: 4.0,
                ..Latencies::from_array([4.0; LATENCIES.len()])
            },
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

/// The health route's thresholds (see `monitoring_router`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthLimits {
    /// An operation below this success rate is degraded.
    pub degraded_below: f64,
    /// An operation below this success rate is unhealthy.
    pub unhealthy_below: f64,
    /// Success rates are judged once a window holds this many requests.
    pub min_requests: u64,
}

/// A firing alert: `(operation, rule, severity)`.
pub type FiringAlert = (String, String, String);

/// The health route's operation rows as a JSON array, and what the route sums from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRows {
    /// The rows, worst status first, then by name.
    pub json: String,
    /// The worst status: `healthy`, `degraded` or `unhealthy`.
    pub status: &'static str,
    /// Requests in the window over every operation.
    pub total: u64,
    /// Failed requests in the window.
    pub failed: u64,
    /// Firing alerts over every row.
    pub firing: usize,
    /// Rows written.
    pub operations: usize,
}

const STATUSES: [&str; 3] = ["healthy", "degraded", "unhealthy"];

struct HealthRow<'a> {
    name: &'a str,
    rank: usize,
    total: u64,
    rate: f64,
    p99_ms: f64,
    alerts: Vec<&'a FiringAlert>,
    rate_reason: bool,
}

/// The health of every operation with data in the window, plus operations with a firing alert
/// and no data: `unhealthy` below `unhealthy_below` or with a critical alert, `degraded` below
/// `degraded_below` or with any other alert (rates judged from `min_requests` requests).
#[must_use]
pub fn health_rows(briefs: &[Brief], firing: &[FiringAlert], limits: &HealthLimits) -> HealthRows {
    let mut rows: Vec<HealthRow<'_>> = Vec::with_capacity(briefs.len());
    let (mut total, mut failed) = (0_u64, 0_u64);
    for brief in briefs {
        let h = &brief.headline;
        total += h.total;
        failed += h.failures;
        #[allow(clippy::cast_precision_loss)]
        let rate = if h.total == 0 {
            1.0
        } else {
            h.successes as f64 / h.total as f64
        };
        rows.push(HealthRow {
            name: &brief.operation,
            rank: 0,
            total: h.total,
            rate,
            p99_ms: h.latencies.p99_ms,
            alerts: Vec::new(),
            rate_reason: false,
        });
    }
    let mut quiet: Vec<HealthRow<'_>> = Vec::new();
    for alert in firing {
        match rows.iter_mut().find(|row| row.name == alert.0) {
            Some(row) => row.alerts.push(alert),
            None => match quiet.iter_mut().find(|row| row.name == alert.0) {
                Some(row) => row.alerts.push(alert),
                None => quiet.push(HealthRow {
                    name: &alert.0,
                    rank: 0,
                    total: 0,
                    rate: 1.0,
                    p99_ms: 0.0,
                    alerts: vec![alert],
                    rate_reason: false,
                }),
            },
        }
    }
    rows.extend(quiet);
    for row in &mut rows {
        if row.total >= limits.min_requests {
            if row.rate < limits.unhealthy_below {
                row.rank = 2;
            } else if row.rate < limits.degraded_below {
                row.rank = 1;
            }
            row.rate_reason = row.rank > 0;
        }
        for alert in &row.alerts {
            if alert.2 == "critical" {
                row.rank = 2;
            } else if row.rank == 0 {
                row.rank = 1;
            }
        }
    }
    rows.sort_by(|a, b| b.rank.cmp(&a.rank).then_with(|| a.name.cmp(b.name)));
    let mut json = String::with_capacity(2 + rows.len() * 160);
    json.push('[');
    let mut firing_count = 0;
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str("{\"operation\":");
        push_string(&mut json, row.name);
        let status = STATUSES.get(row.rank).copied().unwrap_or("unhealthy");
        let _ = write!(
            json,
            ",\"status\":\"{status}\",\"total_requests\":{},\"success_rate\":",
            row.total
        );
        push_number(&mut json, row.rate);
        json.push_str(",\"p99_ms\":");
        push_number(&mut json, row.p99_ms);
        json.push_str(",\"firing_alerts\":[");
        for (j, alert) in row.alerts.iter().enumerate() {
            if j > 0 {
                json.push(',');
            }
            push_string(&mut json, &alert.1);
        }
        json.push_str("],\"reasons\":[");
        let mut reasons: Vec<String> = Vec::new();
        if row.rate_reason {
            reasons.push(format!("success rate {:.2}%", row.rate * 100.0));
        }
        for alert in &row.alerts {
            reasons.push(format!("alert {} firing ({})", alert.1, alert.2));
        }
        for (j, reason) in reasons.iter().enumerate() {
            if j > 0 {
                json.push(',');
            }
            push_string(&mut json, reason);
        }
        json.push_str("]}");
        firing_count += row.alerts.len();
    }
    json.push(']');
    HealthRows {
        json,
        status: rows
            .first()
            .and_then(|row| STATUSES.get(row.rank).copied())
            .unwrap_or("healthy"),
        total,
        failed,
        firing: firing_count,
        operations: rows.len(),
    }
}

#[cfg(test)]
mod health_tests {
    use super::*;
    use crate::headline::Latencies;
    use crate::registry::Headline;

    fn brief(name: &str, total: u64, failures: u64) -> Brief {
        Brief {
            operation: name.to_owned(),
            headline: Headline {
                total,
                successes: total - failures,
                failures,
                sum_ms: 0.0,
                latencies: Latencies {
                    p99_ms: 9.0,
                    ..Latencies::default()
                },
                window_start: 0.0,
                throughput_rps: 1.0,
            },
        }
    }

    #[test]
    fn rows_are_judged_sorted_and_counted() {
        let limits = HealthLimits {
            degraded_below: 0.99,
            unhealthy_below: 0.9,
            min_requests: 20,
        };
        let briefs = [
            brief("a-ok", 100, 0),
            brief("b-degraded", 100, 5),
            brief("c-bad", 100, 20),
            brief("d-few", 10, 9),
        ];
        let firing = [
            ("a-ok".to_owned(), "slow".to_owned(), "warning".to_owned()),
            ("quiet".to_owned(), "gone".to_owned(), "critical".to_owned()),
        ];
        let rows = health_rows(&briefs, &firing, &limits);
        assert_eq!(rows.status, "unhealthy");
        assert_eq!(
            (rows.total, rows.failed, rows.firing, rows.operations),
            (310, 34, 2, 5)
        );
        let order: Vec<&str> = rows
            .json
            .match_indices("\"operation\":\"")
            .map(|(i, _)| {
                let rest = &rows.json[i + 13..];
                &rest[..rest.find('"').unwrap_or(0)]
            })
            .collect();
        assert_eq!(order, ["c-bad", "quiet", "a-ok", "b-degraded", "d-few"]);
        assert!(rows.json.contains("\"reasons\":[\"success rate 80.00%\"]"));
        assert!(rows
            .json
            .contains("\"reasons\":[\"alert slow firing (warning)\"]"));
        assert!(rows.json.contains(
            "{\"operation\":\"quiet\",\"status\":\"unhealthy\",\"total_requests\":0,\
             \"success_rate\":1,\"p99_ms\":0,\"firing_alerts\":[\"gone\"]"
        ));
        let empty = health_rows(&[], &[], &limits);
        assert_eq!((empty.json.as_str(), empty.status), ("[]", "healthy"));
    }
}

/// The (year, month, day) of `days` since 1970-01-01 (Howard Hinnant's civil-date algorithm).
pub(crate) fn civil_date(days: u64) -> (i64, i64, i64) {
    #[allow(clippy::cast_possible_wrap)]
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Appends `seconds` since the epoch as an ISO 8601 UTC time, as pydantic writes one:
/// `2026-12-01T14:39:21.726175Z` (no fraction when it is zero).
pub fn push_utc(out: &mut String, seconds: f64) {
    let seconds = if seconds.is_finite() {
        seconds.max(0.0)
    } else {
        0.0
    };
    // As Python's datetime.fromtimestamp: the fraction's microseconds rounded half to even.
    let whole_seconds = seconds.trunc();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (mut whole, mut micros) = (
        whole_seconds as u64,
        ((seconds - whole_seconds) * 1e6).round_ties_even() as u64,
    );
    if micros >= 1_000_000 {
        whole += 1;
        micros -= 1_000_000;
    }
    let (days, rest) = (whole / 86_400, whole % 86_400);
    let (year, month, day) = civil_date(days);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    );
    if micros > 0 {
        let _ = write!(out, ".{micros:06}");
    }
    out.push('Z');
}

/// The top errors' rows as a JSON array (`ErrorSummary` fields), messages passed through
/// `mask` (the codes are masked when they are first kept).
#[must_use]
pub fn top_errors_rows(
    errors: &[crate::registry::TopError],
    mask: impl Fn(&str) -> std::borrow::Cow<'_, str>,
) -> String {
    let mut out = String::with_capacity(2 + errors.len() * 200);
    out.push('[');
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"operation_name\":");
        push_string(&mut out, &e.operation);
        out.push_str(",\"error_code\":");
        push_string(&mut out, &e.code);
        out.push_str(",\"error_message\":");
        push_string(&mut out, &mask(&e.message));
        let _ = write!(out, ",\"count\":{},\"first_seen\":\"", e.count);
        push_utc(&mut out, e.first_seen);
        out.push_str("\",\"last_seen\":\"");
        push_utc(&mut out, e.last_seen);
        out.push_str("\"}");
    }
    out.push(']');
    out
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn times_are_written_as_pydantic_writes_them() {
        let mut out = String::new();
        push_utc(&mut out, 1_764_599_961.726_175);
        out.push(' ');
        push_utc(&mut out, 0.0);
        out.push(' ');
        push_utc(&mut out, 951_782_400.0); // 2000-02-29, a leap day
        assert_eq!(
            out,
            "2025-12-01T14:39:21.726175Z 1970-01-01T00:00:00Z 2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn top_error_rows_mask_their_messages() {
        let rows = top_errors_rows(
            &[crate::registry::TopError {
                operation: "login".to_owned(),
                code: "DENIED".to_owned(),
                message: "secret in here".to_owned(),
                count: 3,
                first_seen: 60.0,
                last_seen: 120.5,
            }],
            |m| std::borrow::Cow::Owned(m.replace("secret", "***")),
        );
        assert_eq!(
            rows,
            "[{\"operation_name\":\"login\",\"error_code\":\"DENIED\",\"error_message\":\
             \"*** in here\",\"count\":3,\"first_seen\":\"1970-01-01T00:01:00Z\",\
             \"last_seen\":\"1970-01-01T00:02:00.500000Z\"}]"
        );
    }
}
