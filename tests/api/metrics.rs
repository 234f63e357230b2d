//! `/metrics` as Prometheus reads it: checked by the reference parsers of
//! the Prometheus project's Python client (`prometheus-client` on PyPI,
//! which `.ci/run` installs), and bounded whatever clients send.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Backend, TestApp, TestResult, on_both_databases, spawn_app};

on_both_databases!(
    metrics_parse_with_the_reference_parsers,
    invented_methods_and_paths_do_not_grow_the_metrics
);

/// Both of the client's parsers: OpenMetrics (what `/metrics` declares) and
/// the classic Prometheus text format (what older scrapers ask for).
const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as classic
text = sys.stdin.read()
def families(parse):
    return [{"name": f.name, "type": f.type, "help": f.documentation,
             "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
            for f in parse(text)]
parsers = {"openmetrics": openmetrics, "classic": classic}
print(json.dumps({name: families(parsers[name]) for name in sys.argv[1:]}))
"#;

/// The families each of `parsers` (`openmetrics`, `classic`) read from
/// `text`, by parser.
fn parse(text: &str, parsers: &[&str]) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
    let mut python = Command::new("python3")
        .args(["-c", PARSE])
        .args(parsers)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3 is needed to parse /metrics: {e}"))?;
    python
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(text.as_bytes())?;
    let output = python.wait_with_output()?;
    if !output.status.success() {
        return Err(format!(
            "the parser refused /metrics (or is missing: `python3 -m pip install prometheus-client==0.26.0`):\n{}\n{text}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// What Prometheus sends: OpenMetrics first, the classic format after.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
    application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// `/metrics` as Prometheus scrapes it: OpenMetrics.
async fn scrape(app: &TestApp) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    scrape_accepting(
        app,
        Some(PROMETHEUS_ACCEPT),
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
    )
    .await
}

/// `/metrics` asked for with `accept`, which must be answered as `content_type`.
async fn scrape_accepting(
    app: &TestApp,
    accept: Option<&str>,
    content_type: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = app.send(request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        content_type,
        "{accept:?}"
    );
    Ok(response.text().await?)
}

/// `(family, type)` of every metric `docs/operations.md` lists.
const DOCUMENTED: [(&str, &str); 11] = [
    ("http_requests", "counter"),
    ("http_request_duration_seconds", "histogram"),
    ("sse_subscribers", "gauge"),
    ("events_committed", "counter"),
    ("events_delivered", "counter"),
    ("sse_catch_ups", "counter"),
    ("sse_resets", "counter"),
    ("sse_relay_lag_events", "gauge"),
    ("db_pool_connections_in_use", "gauge"),
    ("db_pool_connections", "gauge"),
    ("background_task_restarts", "counter"),
];

async fn metrics_parse_with_the_reference_parsers(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;
    let id = app.create_user("ada").await["id"]
        .as_str()
        .ok_or("id")?
        .to_owned();
    app.get(&format!("/api/v1/users/{id}")).await;
    stream.expect_event().await;

    let parsed = parse(&scrape(&app).await?, &["openmetrics"])?;
    let families = parsed["openmetrics"].as_array().ok_or("families")?;
    for (name, kind) in DOCUMENTED {
        let family = families
            .iter()
            .find(|f| f["name"] == name)
            .ok_or_else(|| format!("{name} missing from {parsed}"))?;
        assert_eq!(family["type"], kind, "{name}");
        assert!(
            family["help"].as_str().is_some_and(|h| !h.is_empty()),
            "{name} has no HELP"
        );
    }
    let sample = |family: &str, name: &str, labels: Value| -> Option<f64> {
        families.iter().find(|f| f["name"] == family)?["samples"]
            .as_array()?
            .iter()
            .find(|s| s["name"] == name && s["labels"] == labels)?["value"]
            .as_f64()
    };
    let get_user =
        serde_json::json!({"route": "/api/v1/users/{id}", "method": "GET", "status": "200"});
    assert_eq!(
        sample("http_requests", "http_requests_total", get_user),
        Some(1.0)
    );
    assert_eq!(
        sample(
            "http_request_duration_seconds",
            "http_request_duration_seconds_count",
            serde_json::json!({"route": "/api/v1/users"})
        ),
        Some(1.0)
    );
    let plain = serde_json::json!({});
    assert_eq!(
        sample("events_committed", "events_committed_total", plain.clone()),
        Some(1.0)
    );
    assert_eq!(
        sample("sse_subscribers", "sse_subscribers", plain.clone()),
        Some(1.0)
    );
    assert_eq!(
        sample("sse_relay_lag_events", "sse_relay_lag_events", plain),
        Some(0.0)
    );
    // A scraper that asks for the classic format (or for nothing in
    // particular) gets it, and the classic parser reads every family, with
    // its type and every sample, as the OpenMetrics parser reads the
    // OpenMetrics text.
    let classic_text = {
        let plain = "text/plain; version=0.0.4; charset=utf-8";
        scrape_accepting(&app, Some("text/plain; version=0.0.4"), plain).await?;
        scrape_accepting(&app, None, plain).await?
    };
    let openmetrics_text = scrape(&app).await?;
    let classic = parse(&classic_text, &["classic"])?["classic"].clone();
    let openmetrics = parse(&openmetrics_text, &["openmetrics"])?["openmetrics"].clone();
    let summary = |families: &Value| -> Vec<String> {
        let mut lines: Vec<String> = families
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| {
                let samples = f["samples"].as_array().cloned().unwrap_or_default();
                let family = format!("{} {}", f["name"], f["type"]);
                samples
                    .into_iter()
                    .map(move |s| format!("{family}: {} {}", s["name"], s["labels"]))
            })
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(summary(&classic), summary(&openmetrics));
    for (name, kind) in DOCUMENTED {
        let family = classic
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["name"] == name)
            .ok_or_else(|| format!("{name} missing from the classic parse: {classic}"))?;
        assert_eq!(family["type"], kind, "{name}");
        assert!(
            family["samples"].as_array().is_some_and(|s| !s.is_empty())
                || name == "sse_relay_lag_events",
            "the classic parser read no sample of {name}:\n{classic_text}"
        );
    }
    Ok(())
}

async fn invented_methods_and_paths_do_not_grow_the_metrics(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let invent = async |from: usize, to: usize| -> TestResult {
        for i in from..to {
            let method = Method::from_bytes(format!("M{i:06}{}", "A".repeat(40)).as_bytes())?;
            let path = if i % 2 == 0 {
                "/healthz".to_owned()
            } else {
                format!("/invented/{i}")
            };
            let response = app.send(app.client.request(method, app.url(&path))).await;
            assert!(response.status().is_client_error());
        }
        Ok(())
    };
    invent(0, 50).await?;
    // The first scrape adds the series of `/metrics` itself.
    scrape(&app).await?;
    let before = scrape(&app).await?;
    invent(50, 1050).await?;
    let after = scrape(&app).await?;
    // Only values changed: not one series was added.
    assert_eq!(
        after.lines().count(),
        before.lines().count(),
        "before:\n{before}\nafter:\n{after}"
    );
    assert!(!after.contains("AAAA"), "{after}");
    assert!(!after.contains("/invented/"), "{after}");
    let parsed = parse(&after, &["openmetrics"])?;
    let requests = parsed["openmetrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == "http_requests")
        .ok_or("http_requests")?;
    let other: f64 = requests["samples"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["labels"]["method"] == "other")
        .filter_map(|s| s["value"].as_f64())
        .sum();
    assert_eq!(other, 1050.0);
    Ok(())
}
