//! Every metric of one instance, in one `prometheus-client` registry,
//! encoded in the text format the scraper asks for (see `exposition`).

mod exposition;

pub use exposition::Format;

use std::sync::{Arc, Mutex};

use crate::lock::lock;
use actix_web::http::Method;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds, in seconds, of the request-latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The route label of a request that matched no route: one value, however
/// many paths clients invent.
pub const UNMATCHED_ROUTE: &str = "unmatched";

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    fanout: FanoutStats,
    task_restarts: Counter,
    scraped: Arc<Scraped>,
}

/// Label values come from fixed sets (route patterns, known methods, status
/// codes), so that no client can grow the metrics by what it sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// Fan-out counters. The notifier holds a clone and counts; clones share
/// their values.
#[derive(Debug, Clone, Default)]
pub struct FanoutStats {
    /// Events committed by this instance's writers.
    pub committed: Counter,
    /// Events delivered to this instance's live feed, from any instance.
    pub delivered: Counter,
    /// Times a stream fell behind the live feed and caught up from the log.
    pub catch_ups: Counter,
    /// `reset` events sent to clients whose resume point was unusable.
    pub resets: Counter,
}

/// What only a scrape can tell, read by `/metrics` just before encoding.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub subscribers: usize,
    /// Newest committed event id minus newest delivered; `None` while the
    /// database cannot say, and then left out.
    pub relay_lag: Option<i64>,
    pub pool_open: u32,
    pub pool_in_use: u32,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        // `register` ends each help text with a full stop of its own.
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head (for streams: until the stream opened)",
            latency.clone(),
        );
        let fanout = FanoutStats::default();
        for (name, help, counter) in [
            (
                "events_committed",
                "Events committed by this instance",
                &fanout.committed,
            ),
            (
                "events_delivered",
                "Events delivered to this instance's streams, from any instance",
                &fanout.delivered,
            ),
            (
                "sse_catch_ups",
                "Times a stream fell behind and caught up from the event log",
                &fanout.catch_ups,
            ),
            (
                "sse_resets",
                "reset events sent for unusable resume points",
                &fanout.resets,
            ),
        ] {
            registry.register(name, help, counter.clone());
        }
        let task_restarts = Counter::default();
        registry.register(
            "background_task_restarts",
            "Times a background task (feed, relay, listener, pruner) stopped unexpectedly and was restarted",
            task_restarts.clone(),
        );
        let scraped = Arc::new(Scraped::default());
        registry.register_collector(Box::new(scraped.clone()));
        Self {
            registry,
            requests,
            latency,
            fanout,
            task_restarts,
            scraped,
        }
    }

    pub fn fanout(&self) -> &FanoutStats {
        &self.fanout
    }

    pub fn task_restarts(&self) -> &Counter {
        &self.task_restarts
    }

    /// Records one answered request under its matched route pattern
    /// (`None` when it matched none), never its raw path.
    pub fn observe_request(
        &self,
        route: Option<String>,
        method: &Method,
        status: u16,
        seconds: f64,
    ) {
        let route = route.unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
        self.requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                method: method_label(method),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    /// Everything, with `gauges` as the scrape-time values, in `format`.
    pub fn encode(&self, gauges: Gauges, format: Format) -> String {
        *lock(&self.scraped.0) = gauges;
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        match format {
            Format::OpenMetrics => out,
            Format::Classic => exposition::to_classic(&out),
        }
    }
}

/// The methods HTTP defines keep their name; any other is `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    match KNOWN.iter().find(|known| *known == method) {
        Some(known) => known.as_str(),
        None => "other",
    }
}

#[derive(Debug, Default)]
struct Scraped(Mutex<Gauges>);

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let gauges = *lock(&self.0);
        let mut gauge = |name: &str, help: &str, value: i64| {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(metric)
        };
        gauge(
            "sse_subscribers",
            "Open event streams.",
            i64::try_from(gauges.subscribers).unwrap_or(i64::MAX),
        )?;
        if let Some(lag) = gauges.relay_lag {
            gauge(
                "sse_relay_lag_events",
                "Newest committed event id minus newest delivered.",
                lag,
            )?;
        }
        gauge(
            "db_pool_connections_in_use",
            "Database connections in use.",
            gauges.pool_in_use.into(),
        )?;
        gauge(
            "db_pool_connections",
            "Database connections open.",
            gauges.pool_open.into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_with_cumulative_buckets() {
        let metrics = Metrics::new();
        let route = || Some("/api/v1/users/{id}".to_owned());
        metrics.observe_request(route(), &Method::GET, 200, 0.003);
        metrics.observe_request(route(), &Method::GET, 200, 0.2);
        let out = metrics.encode(Gauges::default(), Format::OpenMetrics);
        for line in [
            "http_requests_total{route=\"/api/v1/users/{id}\",method=\"GET\",status=\"200\"} 2",
            "http_request_duration_seconds_bucket{le=\"0.0025\",route=\"/api/v1/users/{id}\"} 0",
            "http_request_duration_seconds_bucket{le=\"0.005\",route=\"/api/v1/users/{id}\"} 1",
            "http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/api/v1/users/{id}\"} 2",
            "http_request_duration_seconds_count{route=\"/api/v1/users/{id}\"} 2",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} not in\n{out}");
        }
    }

    #[test]
    fn invented_methods_and_paths_share_one_label() -> Result<(), Box<dyn std::error::Error>> {
        let metrics = Metrics::new();
        for i in 0..100 {
            let method = Method::from_bytes(format!("M{i:06}AAAA").as_bytes())?;
            metrics.observe_request(None, &method, 404, 0.001);
        }
        let out = metrics.encode(Gauges::default(), Format::OpenMetrics);
        assert!(out.contains(
            "http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 100"
        ));
        assert!(!out.contains("AAAA"));
        Ok(())
    }

    #[test]
    fn the_relay_lag_is_left_out_when_unknown() {
        let metrics = Metrics::new();
        let unknown = metrics.encode(Gauges::default(), Format::OpenMetrics);
        assert!(!unknown.contains("sse_relay_lag_events"));
        let known = metrics.encode(
            Gauges {
                relay_lag: Some(3),
                ..Gauges::default()
            },
            Format::OpenMetrics,
        );
        assert!(known.contains("\nsse_relay_lag_events 3\n"), "{known}");
    }
}
