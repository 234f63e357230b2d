//! Commit → receipt latency across instances on one PostgreSQL database.
//!
//! Two instances share a fresh database; a stream is open on each. Users are
//! created one at a time through instance A, and for each write the time
//! from sending the request (an upper bound on its commit) to the event's
//! arrival is recorded on A's stream (local delivery) and on B's stream
//! (delivered through LISTEN/NOTIFY and the event log).
//!
//! Run: `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench cross_instance_latency`

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use herald::config::Settings;
use herald::startup::Application;
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

const WRITES: usize = 500;

type BenchResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> BenchResult {
    let Some(admin_url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: set TEST_DATABASE_URL to a PostgreSQL admin URL");
        return Ok(());
    };
    let name = format!("herald_bench_{}", uuid::Uuid::now_v7().simple());
    let admin = Database::connect(&admin_url).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    let result = run(&format!(
        "{}/{name}",
        admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(s, _)| s)
    ))
    .await;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    result
}

async fn run(database_url: &str) -> BenchResult {
    let start = |url: String| async move {
        let settings = Settings::from_lookup(|var| match var {
            "DATABASE_URL" => Some(url.clone()),
            "BIND_ADDR" => Some("127.0.0.1:0".to_owned()),
            _ => None,
        })?;
        let app = Application::build(settings).await?;
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(address)
    };
    let a = start(database_url.to_owned()).await?;
    let b = start(database_url.to_owned()).await?;
    let client = reqwest::Client::new();
    let mut on_a = event_ids(client.get(format!("{a}/api/sse/stream")).send().await?);
    let mut on_b = event_ids(client.get(format!("{b}/api/sse/stream")).send().await?);

    let (mut local, mut remote) = (Vec::with_capacity(WRITES), Vec::with_capacity(WRITES));
    for i in 0..WRITES {
        let sent = Instant::now();
        let body =
            json!({"user_name": format!("bench{i}"), "email": format!("bench{i}@example.com")});
        let response = client
            .post(format!("{a}/api/v1/users"))
            .json(&body)
            .send()
            .await?;
        assert_eq!(response.status(), 201);
        let expected = i as i64 + 1;
        for (stream, samples) in [(&mut on_a, &mut local), (&mut on_b, &mut remote)] {
            let id = tokio::time::timeout(Duration::from_secs(10), stream.recv())
                .await?
                .ok_or("stream ended")?;
            assert_eq!(id, expected, "events arrive in order, without gaps");
            samples.push(sent.elapsed());
        }
    }
    println!("{WRITES} writes through instance A, one at a time; request sent -> event received:");
    report("same instance (A)", &mut local);
    report("other instance (B)", &mut remote);
    Ok(())
}

/// The ids of the data events on a stream, as they arrive.
fn event_ids(response: reqwest::Response) -> tokio::sync::mpsc::UnboundedReceiver<i64> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut pending = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find('\n') {
                let line: String = pending.drain(..=end).collect();
                // `id: <event id>.<tag>`
                if let Some(id) = line
                    .strip_prefix("id: ")
                    .and_then(|id| id.trim().split('.').next())
                    .and_then(|id| id.parse().ok())
                    && sender.send(id).is_err()
                {
                    return;
                }
            }
        }
    });
    receiver
}

fn report(label: &str, samples: &mut [Duration]) {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {label:<20} p50 {:>6.2} ms   p90 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
        ms(at(0.50)),
        ms(at(0.90)),
        ms(at(0.99)),
        ms(at(1.0))
    );
}
