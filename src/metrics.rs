//! Request metrics in the Prometheus text exposition format. Kept by hand:
//! a few counters and one histogram do not need a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};

/// Upper bounds, in seconds, of the request-latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<RequestKey, u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RequestKey {
    route: String,
    method: String,
    status: u16,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl HttpMetrics {
    /// Records one request; `route` is the matched pattern, never the raw
    /// path, so ids do not become labels.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let key = RequestKey {
            route: route.to_owned(),
            method: method.to_owned(),
            status,
        };
        *lock(&self.requests).entry(key).or_default() += 1;
        let mut latency = lock(&self.latency);
        let histogram = latency.entry(route.to_owned()).or_default();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.sum += seconds;
        histogram.count += 1;
    }

    pub fn render(&self, out: &mut String) {
        header(
            out,
            "http_requests_total",
            "counter",
            "HTTP requests by route, method and status.",
        );
        for (key, count) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {count}",
                escape(&key.route),
                key.method,
                key.status
            );
        }
        header(
            out,
            "http_request_duration_seconds",
            "histogram",
            "Time to the response head (for streams: until the stream opened).",
        );
        for (route, histogram) in lock(&self.latency).iter() {
            let route = escape(route);
            for (count, bound) in histogram.buckets.iter().zip(LATENCY_BUCKETS) {
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count
            );
        }
    }
}

/// Writes `# HELP` and `# TYPE` for a metric.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Writes a metric without labels, with its header.
pub fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let metrics = HttpMetrics::default();
        metrics.observe("/api/v1/users/{id}", "GET", 200, 0.003);
        metrics.observe("/api/v1/users/{id}", "GET", 200, 0.2);
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains(
            "http_requests_total{route=\"/api/v1/users/{id}\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(out.contains(
            "http_request_duration_seconds_bucket{route=\"/api/v1/users/{id}\",le=\"0.0025\"} 0"
        ));
        assert!(out.contains(
            "http_request_duration_seconds_bucket{route=\"/api/v1/users/{id}\",le=\"0.005\"} 1"
        ));
        assert!(out.contains(
            "http_request_duration_seconds_bucket{route=\"/api/v1/users/{id}\",le=\"+Inf\"} 2"
        ));
        assert!(
            out.contains("http_request_duration_seconds_count{route=\"/api/v1/users/{id}\"} 2")
        );
    }
}
