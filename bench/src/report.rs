//! The result of a run: JSON for scripts, a table for people, and the list
//! of what went wrong.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::dialect::Dialect;
use crate::histogram::Summary;

#[derive(Debug, Serialize)]
pub struct Report {
    pub label: Option<String>,
    /// `herald`, `baseline`, or `external` for targets the harness did not start.
    pub server: String,
    /// `sqlite`, `postgres`, or `unknown` for external targets.
    pub database: String,
    pub instances: usize,
    pub machine: Machine,
    pub settings: Settings,
    pub subscribers: Subscribers,
    pub writes: Option<Writes>,
    pub deliveries: Deliveries,
    /// Receipt wall-clock time minus the envelope's `at`.
    pub commit_to_receipt: Summary,
    pub keep_alives: KeepAlives,
    pub server_resources: ServerResources,
    /// CPU seconds of every load-generator process: it shares the machine.
    pub load_generator_cpu_seconds: f64,
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_kib: u64,
    pub kernel: String,
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub subscribers: usize,
    pub processes: usize,
    pub source_ips: u8,
    pub connect_rate: f64,
    pub connect_concurrency: usize,
    pub writers: usize,
    /// Offered creates per second; 0 = as fast as the writers go.
    pub rate: f64,
    pub writes: Option<u64>,
    pub duration_secs: Option<f64>,
    pub hold_secs: f64,
    pub drain_timeout_secs: f64,
    /// Which stream was measured.
    pub stream: Dialect,
    pub server_env: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Subscribers {
    pub requested: usize,
    pub connected: usize,
    pub failed: usize,
    pub ended_early: usize,
    pub failures: Vec<String>,
    pub ramp_seconds: f64,
    /// From connect() to the response head.
    pub connect: Summary,
}

#[derive(Debug, Serialize)]
pub struct Writes {
    pub sent: u64,
    pub admitted: u64,
    /// 429 and 503: the server turned the write away.
    pub rejected: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub seconds: f64,
    pub admitted_per_second: f64,
    /// From each write's scheduled time to its response.
    pub latency: Summary,
}

#[derive(Debug, Serialize)]
pub struct Deliveries {
    /// The newest event id before the first write and after the last.
    pub first_id: u64,
    pub last_id: u64,
    /// Events per subscriber: last_id − first_id.
    pub events: u64,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Events that came before one with a lower id. Herald's ids are its
    /// commit order; the bench's Mercure ids are the order writes were
    /// sent, which concurrent writers commit in another order, so there
    /// this counts nothing.
    pub out_of_order: u64,
    /// How many orders the subscribers that received every event saw them
    /// in: 1 when every subscriber saw the one order of the log.
    pub orders: usize,
    pub beyond_last: u64,
    pub resets: u64,
    pub unexpected: u64,
    pub malformed: u64,
    /// Received / time from the first write to the last delivery.
    pub per_second: f64,
    pub drained: bool,
}

#[derive(Debug, Serialize)]
pub struct KeepAlives {
    /// Comments received after the ramp.
    pub received: u64,
    pub hold_secs: f64,
    pub subscribers_with_one_in_hold: usize,
}

#[derive(Debug, Serialize)]
pub struct ServerResources {
    pub pids: Vec<u32>,
    pub rss_kib_before_ramp: Option<u64>,
    pub rss_kib_after_ramp: Option<u64>,
    pub rss_kib_end: Option<u64>,
    /// (after ramp − before) / connected.
    pub rss_kib_per_subscriber: Option<f64>,
    /// From before the ramp to the end of the drain.
    pub cpu_seconds: Option<f64>,
}

impl Report {
    /// Everything that should not happen in a run that kept its promises.
    pub fn find_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |count: u64, what: &str| {
            if count > 0 {
                problems.push(format!("{count} {what}"));
            }
        };
        let s = &self.subscribers;
        check(s.failed as u64, "subscribers failed to connect");
        check(s.ended_early as u64, "streams ended before the run did");
        let d = &self.deliveries;
        check(d.lost, "deliveries lost");
        check(d.duplicated, "deliveries duplicated");
        check(d.out_of_order, "deliveries out of order");
        check(
            d.orders.saturating_sub(1) as u64,
            "more orders than one among the subscribers",
        );
        check(d.beyond_last, "deliveries of ids after the last write");
        check(d.resets, "reset events");
        check(d.unexpected, "unexpected frames");
        check(d.malformed, "malformed envelopes");
        if let Some(w) = &self.writes {
            check(w.sent - w.admitted - w.errors, "writes not admitted");
            check(w.errors, "writes failed without a response");
        }
        if !d.drained {
            problems.push(format!(
                "not every subscriber received id {} within the drain timeout",
                d.last_id
            ));
        }
        let k = &self.keep_alives;
        if k.hold_secs > 0.0 && k.subscribers_with_one_in_hold < s.connected {
            problems.push(format!(
                "{} of {} subscribers received no keep-alive during the {} s hold",
                s.connected - k.subscribers_with_one_in_hold,
                s.connected,
                k.hold_secs
            ));
        }
        problems
    }

    /// The human-readable summary.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let ms = |s: &Summary| {
            format!(
                "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={})",
                s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.count
            )
        };
        let kib =
            |v: Option<u64>| v.map_or("-".to_owned(), |v| format!("{:.1} MiB", v as f64 / 1024.0));
        let mut row = |name: &str, value: String| {
            let _ = writeln!(out, "  {name:<26} {value}");
        };
        let st = &self.settings;
        row(
            "run",
            format!(
                "{} ({} × {}, {}){}",
                self.server,
                self.instances,
                self.database,
                format_args!(
                    "{} subscribers over {} process(es)",
                    st.subscribers, st.processes
                ),
                self.label
                    .as_deref()
                    .map(|l| format!(" [{l}]"))
                    .unwrap_or_default()
            ),
        );
        let s = &self.subscribers;
        row(
            "subscribers",
            format!(
                "{} connected, {} failed, {} ended early; ramp {:.1} s",
                s.connected, s.failed, s.ended_early, s.ramp_seconds
            ),
        );
        row("connect time", ms(&s.connect));
        for failure in &s.failures {
            row("  failure", failure.clone());
        }
        match &self.writes {
            Some(w) => {
                row(
                    "writes",
                    format!(
                        "{} sent, {} admitted ({:.1}/s), {} rejected, {} errors; offered {}",
                        w.sent,
                        w.admitted,
                        w.admitted_per_second,
                        w.rejected,
                        w.errors,
                        if st.rate > 0.0 {
                            format!("{}/s", st.rate)
                        } else {
                            "as fast as they go".to_owned()
                        }
                    ),
                );
                row("write latency", ms(&w.latency));
                for sample in &w.error_samples {
                    row("  error", sample.clone());
                }
            }
            None => row("writes", "none".to_owned()),
        }
        let d = &self.deliveries;
        let events = if d.events == 0 {
            "no events".to_owned()
        } else {
            format!(
                "ids {}..={} ({} events)",
                d.first_id + 1,
                d.last_id,
                d.events
            )
        };
        row(
            "deliveries",
            format!(
                "{events}: expected {}, received {}; {:.0}/s",
                d.expected, d.received, d.per_second
            ),
        );
        row(
            "  lost / dup / order",
            format!(
                "{} / {} / {} ({} order(s) among complete subscribers)",
                d.lost, d.duplicated, d.out_of_order, d.orders
            ),
        );
        row(
            &format!("{} → receipt", self.settings.stream.latency_from()),
            ms(&self.commit_to_receipt),
        );
        let k = &self.keep_alives;
        row(
            "keep-alives",
            format!(
                "{} received; {} subscribers had one during a {} s hold",
                k.received, k.subscribers_with_one_in_hold, k.hold_secs
            ),
        );
        let r = &self.server_resources;
        row(
            "server RSS",
            format!(
                "before ramp {}, after {}, end {}; per subscriber {}",
                kib(r.rss_kib_before_ramp),
                kib(r.rss_kib_after_ramp),
                kib(r.rss_kib_end),
                r.rss_kib_per_subscriber
                    .map_or("-".to_owned(), |v| format!("{v:.2} KiB"))
            ),
        );
        row(
            "CPU seconds",
            format!(
                "server {}, load generator {:.1}",
                r.cpu_seconds.map_or("-".to_owned(), |v| format!("{v:.1}")),
                self.load_generator_cpu_seconds
            ),
        );
        if self.problems.is_empty() {
            row("problems", "none".to_owned());
        }
        for problem in &self.problems {
            row("PROBLEM", problem.clone());
        }
        out
    }
}
