//! Prometheus exposition of the lifetime totals, rendered here rather than in Python.
//!
//! Three formats, chosen by the scraper's `Accept` header:
//! - [`Format::Text`]: Prometheus text 0.0.4, classic histogram buckets;
//! - [`Format::OpenMetrics`]: OpenMetrics 1.0 text, classic buckets, ending in `# EOF`;
//! - [`Format::Protobuf`]: delimited `io.prometheus.client.MetricFamily` messages, in which
//!   each duration histogram carries its native (sparse exponential, schema
//!   [`NATIVE_SCHEMA`]) buckets beside the classic ones, so Prometheus' native histograms get
//!   the core's resolution while classic queries keep working on text scrapes.
//!
//! Labels are written in name order, as prometheus_client writes them.

use std::fmt::Write as _;

use prost::Message;

use crate::native::{NATIVE_SCHEMA, ZERO_THRESHOLD};
use crate::registry::{Cumulative, Exemplar};

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Prometheus protobuf, delimited `MetricFamily` messages, with native histograms.
    Protobuf,
}

/// The type of an extra (non-histogram) family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A monotonic counter: its samples are named `<name>_total`.
    Counter,
    /// A gauge.
    Gauge,
}

/// Label pairs of one sample, in any order.
pub type Labels = Vec<(String, String)>;

/// A counter or gauge family rendered after the operations' own (process metrics, the log
/// writer's counters).
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The name, without `_total` for a counter.
    pub name: String,
    /// One line of help.
    pub help: String,
    /// Counter or gauge.
    pub kind: Kind,
    /// `(labels, value)` of each sample.
    pub samples: Vec<(Labels, f64)>,
}

/// One step's lifetime totals: `(operation, step, totals)`.
pub type StepTotals = (String, String, Cumulative);

const DURATION: &str = "rfs_operation_duration_seconds";
const DURATION_HELP: &str = "Duration of Result-pattern operations, successes and failures alike.";
const OUTCOMES: &str = "rfs_operations";
const OUTCOMES_HELP: &str =
    "Result-pattern operations by outcome (a returned Failure counts as error).";
const ERRORS: &str = "rfs_operation_errors";
const ERRORS_HELP: &str =
    "Failed operations by error code (the collector bounds the codes per operation).";
const STEP_DURATION: &str = "rfs_step_duration_seconds";
const STEP_DURATION_HELP: &str =
    "Own duration of each pass through a chain's log_step/log_error step.";
const STEPS: &str = "rfs_steps";
const STEPS_HELP: &str =
    "Passes through a chain's steps by outcome (a Failure at that point counts as error).";

/// Everything one scrape exposes.
#[derive(Debug, Clone, Copy)]
pub struct Exposition<'a> {
    /// Lifetime totals of every operation.
    pub operations: &'a [Cumulative],
    /// Lifetime totals of every step.
    pub steps: &'a [StepTotals],
    /// Counter and gauge families rendered last.
    pub extra: &'a [Family],
}

impl Exposition<'_> {
    /// The body of a scrape in `format`.
    #[must_use]
    pub fn render(&self, format: Format) -> Vec<u8> {
        match format {
            Format::Text => self.text(false).into_bytes(),
            Format::OpenMetrics => self.text(true).into_bytes(),
            Format::Protobuf => self.protobuf(),
        }
    }

    fn text(&self, open_metrics: bool) -> String {
        let mut out = String::with_capacity(256 + self.operations.len() * 2_048);
        let ops = self.operations;
        let mut w = TextWriter {
            out: &mut out,
            open_metrics,
        };
        w.header(DURATION, DURATION_HELP, "histogram");
        for op in ops {
            w.histogram(DURATION, &[("operation", &op.operation)], op);
        }
        w.header(
            &counter_name(OUTCOMES, open_metrics),
            OUTCOMES_HELP,
            "counter",
        );
        for op in ops {
            let labels = [("operation", op.operation.as_str())];
            w.outcomes(OUTCOMES, &labels, op);
        }
        w.header(&counter_name(ERRORS, open_metrics), ERRORS_HELP, "counter");
        for op in ops {
            for (code, count) in &op.errors_by_code {
                #[allow(clippy::cast_precision_loss)]
                w.sample(
                    &format!("{ERRORS}_total"),
                    &[("error_code", code), ("operation", &op.operation)],
                    *count as f64,
                );
            }
        }
        w.header(STEP_DURATION, STEP_DURATION_HELP, "histogram");
        for (operation, step, totals) in self.steps {
            w.histogram(
                STEP_DURATION,
                &[("operation", operation), ("step", step)],
                totals,
            );
        }
        w.header(&counter_name(STEPS, open_metrics), STEPS_HELP, "counter");
        for (operation, step, totals) in self.steps {
            w.outcomes(STEPS, &[("operation", operation), ("step", step)], totals);
        }
        for family in self.extra {
            let (kind, name) = match family.kind {
                Kind::Counter => ("counter", counter_name(&family.name, open_metrics)),
                Kind::Gauge => ("gauge", family.name.clone()),
            };
            w.header(&name, &family.help, kind);
            let sample_name = match family.kind {
                Kind::Counter => format!("{}_total", family.name),
                Kind::Gauge => family.name.clone(),
            };
            for (labels, value) in &family.samples {
                let pairs: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                w.sample(&sample_name, &pairs, *value);
            }
        }
        if open_metrics {
            out.push_str("# EOF\n");
        }
        out
    }

    fn protobuf(&self) -> Vec<u8> {
        let mut families = vec![
            histogram_family(
                DURATION,
                DURATION_HELP,
                self.operations
                    .iter()
                    .map(|op| (vec![pair("operation", &op.operation)], op)),
            ),
            counter_family(
                OUTCOMES,
                OUTCOMES_HELP,
                self.operations
                    .iter()
                    .flat_map(|op| outcome_samples(vec![pair("operation", &op.operation)], op)),
            ),
            counter_family(
                ERRORS,
                ERRORS_HELP,
                self.operations.iter().flat_map(|op| {
                    op.errors_by_code.iter().map(|(code, count)| {
                        #[allow(clippy::cast_precision_loss)]
                        let value = *count as f64;
                        (
                            vec![pair("error_code", code), pair("operation", &op.operation)],
                            value,
                        )
                    })
                }),
            ),
            histogram_family(
                STEP_DURATION,
                STEP_DURATION_HELP,
                self.steps.iter().map(|(operation, step, totals)| {
                    (
                        vec![pair("operation", operation), pair("step", step)],
                        totals,
                    )
                }),
            ),
            counter_family(
                STEPS,
                STEPS_HELP,
                self.steps.iter().flat_map(|(operation, step, totals)| {
                    outcome_samples(
                        vec![pair("operation", operation), pair("step", step)],
                        totals,
                    )
                }),
            ),
        ];
        for family in self.extra {
            let samples = family.samples.iter().map(|(labels, value)| {
                let mut pairs: Vec<proto::LabelPair> =
                    labels.iter().map(|(k, v)| pair(k, v)).collect();
                pairs.sort_by(|a, b| a.name.cmp(&b.name));
                (pairs, *value)
            });
            families.push(match family.kind {
                Kind::Counter => counter_family(&family.name, &family.help, samples),
                Kind::Gauge => gauge_family(&family.name, &family.help, samples),
            });
        }
        let mut out =
            Vec::with_capacity(families.iter().map(Message::encoded_len).sum::<usize>() + 64);
        for family in families.iter().filter(|f| !f.metric.is_empty()) {
            // Writing into a Vec only fails when it cannot grow, which aborts anyway.
            let _ = family.encode_length_delimited(&mut out);
        }
        out
    }
}

fn counter_name(name: &str, open_metrics: bool) -> String {
    // OpenMetrics names the counter family without the suffix its samples carry.
    if open_metrics {
        name.to_owned()
    } else {
        format!("{name}_total")
    }
}

struct TextWriter<'a> {
    out: &'a mut String,
    open_metrics: bool,
}

impl TextWriter<'_> {
    fn header(&mut self, name: &str, help: &str, kind: &str) {
        let help = escape_help(help);
        if self.open_metrics {
            let _ = writeln!(self.out, "# TYPE {name} {kind}\n# HELP {name} {help}");
        } else {
            let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.sample_with(name, labels, value, None);
    }

    fn sample_with(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: f64,
        exemplar: Option<&Exemplar>,
    ) {
        self.out.push_str(name);
        if !labels.is_empty() {
            let mut sorted = labels.to_vec();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            self.out.push('{');
            for (i, (key, label_value)) in sorted.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(key);
                self.out.push_str("=\"");
                escape_label_into(self.out, label_value);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        push_float(self.out, value);
        if let Some(e) = exemplar.filter(|_| self.open_metrics) {
            // OpenMetrics: `# {labels} value timestamp` after the bucket's count.
            let _ = write!(
                self.out,
                " # {{span_id=\"{}\",trace_id=\"{}\"}} ",
                e.span_id, e.trace_id
            );
            push_float(self.out, e.seconds);
            self.out.push(' ');
            push_float(self.out, e.t);
        }
        self.out.push('\n');
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], totals: &Cumulative) {
        let bucket = format!("{name}_bucket");
        for (i, (bound, count)) in totals.buckets.iter().enumerate() {
            let le = float_text(*bound);
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", le.as_str()));
            let exemplar = totals.exemplars.get(i).and_then(Option::as_ref);
            #[allow(clippy::cast_precision_loss)]
            self.sample_with(&bucket, &with_le, *count as f64, exemplar);
        }
        #[allow(clippy::cast_precision_loss)]
        self.sample(&format!("{name}_count"), labels, totals.total as f64);
        self.sample(&format!("{name}_sum"), labels, totals.sum_seconds);
    }

    fn outcomes(&mut self, family: &str, labels: &[(&str, &str)], totals: &Cumulative) {
        let name = format!("{family}_total");
        for (outcome, count) in [
            ("success", totals.total - totals.failures),
            ("error", totals.failures),
        ] {
            let mut with_outcome = labels.to_vec();
            with_outcome.push(("outcome", outcome));
            #[allow(clippy::cast_precision_loss)]
            self.sample(&name, &with_outcome, count as f64);
        }
    }
}

/// A float as Prometheus clients write it: `+Inf`, `-Inf`, `NaN`, `5.0`, `0.005`.
fn float_text(value: f64) -> String {
    let mut out = String::new();
    push_float(&mut out, value);
    out
}

fn push_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        let _ = write!(out, "{value:.1}");
    } else {
        let _ = write!(out, "{value}");
    }
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
}

fn pair(name: &str, value: &str) -> proto::LabelPair {
    proto::LabelPair {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

fn outcome_samples(
    labels: Vec<proto::LabelPair>,
    totals: &Cumulative,
) -> impl Iterator<Item = (Vec<proto::LabelPair>, f64)> {
    let success = totals.total - totals.failures;
    let failures = totals.failures;
    [("success", success), ("error", failures)]
        .into_iter()
        .map(move |(outcome, count)| {
            let mut with_outcome = labels.clone();
            with_outcome.push(pair("outcome", outcome));
            with_outcome.sort_by(|a, b| a.name.cmp(&b.name));
            #[allow(clippy::cast_precision_loss)]
            let value = count as f64;
            (with_outcome, value)
        })
}

fn counter_family(
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (Vec<proto::LabelPair>, f64)>,
) -> proto::MetricFamily {
    proto::MetricFamily {
        name: format!("{name}_total"),
        help: help.to_owned(),
        r#type: proto::MetricType::Counter as i32,
        metric: samples
            .map(|(label, value)| proto::Metric {
                label,
                counter: Some(proto::Counter { value }),
                ..proto::Metric::default()
            })
            .collect(),
    }
}

fn gauge_family(
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (Vec<proto::LabelPair>, f64)>,
) -> proto::MetricFamily {
    proto::MetricFamily {
        name: name.to_owned(),
        help: help.to_owned(),
        r#type: proto::MetricType::Gauge as i32,
        metric: samples
            .map(|(label, value)| proto::Metric {
                label,
                gauge: Some(proto::Gauge { value }),
                ..proto::Metric::default()
            })
            .collect(),
    }
}

fn histogram_family<'c>(
    name: &str,
    help: &str,
    series: impl Iterator<Item = (Vec<proto::LabelPair>, &'c Cumulative)>,
) -> proto::MetricFamily {
    proto::MetricFamily {
        name: name.to_owned(),
        help: help.to_owned(),
        r#type: proto::MetricType::Histogram as i32,
        metric: series
            .map(|(label, totals)| proto::Metric {
                label,
                histogram: Some(histogram(totals)),
                ..proto::Metric::default()
            })
            .collect(),
    }
}

fn proto_exemplar(e: &Exemplar) -> proto::Exemplar {
    #[allow(clippy::cast_possible_truncation)]
    let seconds = e.t.floor() as i64;
    #[allow(clippy::cast_possible_truncation)]
    let nanos = ((e.t - e.t.floor()) * 1e9) as i32;
    proto::Exemplar {
        label: vec![pair("span_id", &e.span_id), pair("trace_id", &e.trace_id)],
        value: e.seconds,
        timestamp: Some(proto::Timestamp { seconds, nanos }),
    }
}

fn histogram(totals: &Cumulative) -> proto::Histogram {
    let (spans, deltas) = totals.native.spans_and_deltas();
    let mut positive_span: Vec<proto::BucketSpan> = spans
        .iter()
        .map(|span| proto::BucketSpan {
            offset: span.offset,
            length: span.length,
        })
        .collect();
    if positive_span.is_empty() {
        // A native histogram without observations still needs a no-op span, or it would read
        // as a classic histogram.
        positive_span.push(proto::BucketSpan {
            offset: 0,
            length: 0,
        });
    }
    proto::Histogram {
        sample_count: totals.total,
        sample_sum: totals.sum_seconds,
        bucket: totals
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, (bound, _))| bound.is_finite())
            .map(|(i, &(upper_bound, cumulative_count))| proto::Bucket {
                cumulative_count,
                upper_bound,
                exemplar: totals
                    .exemplars
                    .get(i)
                    .and_then(Option::as_ref)
                    .map(proto_exemplar),
            })
            .collect(),
        schema: NATIVE_SCHEMA,
        zero_threshold: ZERO_THRESHOLD,
        zero_count: totals.native.zero_count(),
        positive_span,
        positive_delta: deltas,
    }
}

/// The messages of `io.prometheus.client`'s `metrics.proto` this exposition writes (the
/// fields it leaves out are never set; numbers are the proto's own).
#[allow(missing_docs, clippy::derive_partial_eq_without_eq)]
pub mod proto {
    /// `io.prometheus.client.LabelPair`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPair {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `io.prometheus.client.MetricType`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        Counter = 0,
        Gauge = 1,
        Summary = 2,
        Untyped = 3,
        Histogram = 4,
    }

    /// `io.prometheus.client.Gauge`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Gauge {
        #[prost(double, tag = "1")]
        pub value: f64,
    }

    /// `io.prometheus.client.Counter`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Counter {
        #[prost(double, tag = "1")]
        pub value: f64,
    }

    /// `io.prometheus.client.Bucket` (a classic bucket).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Bucket {
        #[prost(uint64, tag = "1")]
        pub cumulative_count: u64,
        #[prost(double, tag = "2")]
        pub upper_bound: f64,
        #[prost(message, optional, tag = "3")]
        pub exemplar: Option<Exemplar>,
    }

    /// `google.protobuf.Timestamp`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }

    /// `io.prometheus.client.Exemplar`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        #[prost(message, repeated, tag = "1")]
        pub label: Vec<LabelPair>,
        #[prost(double, tag = "2")]
        pub value: f64,
        #[prost(message, optional, tag = "3")]
        pub timestamp: Option<Timestamp>,
    }

    /// `io.prometheus.client.BucketSpan`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BucketSpan {
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }

    /// `io.prometheus.client.Histogram`: classic buckets and native (sparse) buckets.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(uint64, tag = "1")]
        pub sample_count: u64,
        #[prost(double, tag = "2")]
        pub sample_sum: f64,
        #[prost(message, repeated, tag = "3")]
        pub bucket: Vec<Bucket>,
        #[prost(sint32, tag = "5")]
        pub schema: i32,
        #[prost(double, tag = "6")]
        pub zero_threshold: f64,
        #[prost(uint64, tag = "7")]
        pub zero_count: u64,
        #[prost(message, repeated, tag = "12")]
        pub positive_span: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "13")]
        pub positive_delta: Vec<i64>,
    }

    /// `io.prometheus.client.Metric`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        #[prost(message, repeated, tag = "1")]
        pub label: Vec<LabelPair>,
        #[prost(message, optional, tag = "2")]
        pub gauge: Option<Gauge>,
        #[prost(message, optional, tag = "3")]
        pub counter: Option<Counter>,
        #[prost(message, optional, tag = "7")]
        pub histogram: Option<Histogram>,
    }

    /// `io.prometheus.client.MetricFamily`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricFamily {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub help: String,
        #[prost(enumeration = "MetricType", tag = "3")]
        pub r#type: i32,
        #[prost(message, repeated, tag = "4")]
        pub metric: Vec<Metric>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{bucket_upper_bound, NativeHistogram};

    fn totals(name: &str, durations: &[f64], failures: u64) -> Cumulative {
        let mut native = NativeHistogram::new();
        for d in durations {
            native.observe(*d);
        }
        let bounds = [0.005, 0.01, f64::INFINITY];
        let buckets = bounds
            .iter()
            .map(|&b| (b, durations.iter().filter(|&&d| d <= b).count() as u64))
            .collect();
        Cumulative {
            operation: name.to_owned(),
            total: durations.len() as u64,
            failures,
            errors_by_code: if failures > 0 {
                vec![("E\"1".to_owned(), failures)]
            } else {
                vec![]
            },
            sum_seconds: durations.iter().sum(),
            buckets,
            native,
            exemplars: vec![],
        }
    }

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn text_formats_match_prometheus_client_conventions() -> TestResult {
        let ops = [totals("check\nout", &[0.004, 0.02], 1)];
        let steps = [(
            "check\nout".to_owned(),
            "load".to_owned(),
            totals("x", &[0.001], 0),
        )];
        let extra = [Family {
            name: "process_cpu_seconds".to_owned(),
            help: "CPU".to_owned(),
            kind: Kind::Counter,
            samples: vec![(vec![], 1.5)],
        }];
        let exposition = Exposition {
            operations: &ops,
            steps: &steps,
            extra: &extra,
        };
        let text = String::from_utf8(exposition.render(Format::Text))?;
        assert!(text.contains("# TYPE rfs_operation_duration_seconds histogram\n"));
        assert!(text.contains(
            "rfs_operation_duration_seconds_bucket{le=\"0.005\",operation=\"check\\nout\"} 1.0\n"
        ));
        assert!(text.contains(
            "rfs_operation_duration_seconds_bucket{le=\"+Inf\",operation=\"check\\nout\"} 2.0\n"
        ));
        assert!(
            text.contains("rfs_operation_duration_seconds_count{operation=\"check\\nout\"} 2.0\n")
        );
        assert!(text.contains("# TYPE rfs_operations_total counter\n"));
        assert!(text
            .contains("rfs_operations_total{operation=\"check\\nout\",outcome=\"error\"} 1.0\n"));
        assert!(text.contains(
            "rfs_operation_errors_total{error_code=\"E\\\"1\",operation=\"check\\nout\"} 1.0\n"
        ));
        assert!(text.contains(
            "rfs_steps_total{operation=\"check\\nout\",outcome=\"success\",step=\"load\"} 1.0\n"
        ));
        assert!(text
            .contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.5\n"));
        assert!(!text.contains("# EOF"));

        let open = String::from_utf8(exposition.render(Format::OpenMetrics))?;
        assert!(open.contains("# TYPE rfs_operations counter\n"));
        assert!(open.contains("# TYPE process_cpu_seconds counter\n"));
        assert!(open.ends_with("# EOF\n"));
        Ok(())
    }

    #[test]
    fn exemplars_follow_their_bucket_in_openmetrics_and_protobuf() -> TestResult {
        let registry = crate::Registry::new(crate::Config::default())?;
        let op = registry.register("checkout")?.id;
        registry.record(op, 1_700_000_000.5, 7.0, crate::Outcome::Success)?;
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        registry.record_exemplar(op, 1_700_000_000.5, 7.0, trace, "00f067aa0ba902b7");
        // Not a trace reference: ignored, so nothing but IDs ever leaves this way.
        registry.record_exemplar(op, 1_700_000_000.5, 7.0, "password=hunter2", "x");
        let ops = registry.cumulative();
        let exposition = Exposition {
            operations: &ops,
            steps: &[],
            extra: &[],
        };
        let open = String::from_utf8(exposition.render(Format::OpenMetrics))?;
        let line = open
            .lines()
            .find(|l| l.contains("le=\"0.01\""))
            .ok_or("no 0.01 bucket")?;
        assert_eq!(
            line,
            "rfs_operation_duration_seconds_bucket{le=\"0.01\",operation=\"checkout\"} 1.0 \
             # {span_id=\"00f067aa0ba902b7\",trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} \
             0.007 1700000000.5"
        );
        assert_eq!(open.matches(" # {").count(), 1);
        let text = String::from_utf8(exposition.render(Format::Text))?;
        assert!(!text.contains(trace), "text 0.0.4 has no exemplars");
        let body = exposition.render(Format::Protobuf);
        let family = proto::MetricFamily::decode_length_delimited(body.as_slice())?;
        let histogram = family.metric[0].histogram.clone().ok_or("no histogram")?;
        let exemplar = histogram.bucket[1].exemplar.clone().ok_or("no exemplar")?;
        assert_eq!(exemplar.label[1].value, trace);
        assert_eq!(
            exemplar.timestamp.ok_or("no timestamp")?.seconds,
            1_700_000_000
        );
        Ok(())
    }

    #[test]
    fn protobuf_carries_classic_and_native_buckets() -> TestResult {
        let ops = [totals("checkout", &[1.0, 1.0, 1.005, 0.0], 0)];
        let body = Exposition {
            operations: &ops,
            steps: &[],
            extra: &[],
        }
        .render(Format::Protobuf);
        let mut rest = body.as_slice();
        let mut families = Vec::new();
        while !rest.is_empty() {
            families.push(proto::MetricFamily::decode_length_delimited(&mut rest)?);
        }
        // Families without samples (errors, steps) are left out.
        let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["rfs_operation_duration_seconds", "rfs_operations_total"]
        );
        let histogram = families[0].metric[0]
            .histogram
            .clone()
            .ok_or("no histogram")?;
        assert_eq!(histogram.sample_count, 4);
        assert_eq!(histogram.schema, 6);
        assert_eq!(histogram.zero_count, 1);
        assert_eq!(histogram.bucket.len(), 2); // +Inf is implied
        assert_eq!(
            histogram.positive_span,
            vec![proto::BucketSpan {
                offset: 0,
                length: 2
            }]
        );
        assert_eq!(histogram.positive_delta, vec![2, -1]);
        assert!(bucket_upper_bound(1) > 1.005);
        assert_eq!(families[1].metric.len(), 2);
        assert_eq!(families[1].metric[0].label[0].name, "operation");
        Ok(())
    }
}
