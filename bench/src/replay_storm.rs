//! `herald-bench replay-storm`: how long creates take while many streams
//! replay the log at once (issue 13, row 12). Each run starts a server on a
//! fresh SQLite file, writes `--events` events, opens `--streams` streams
//! that all resume from 0, and while they replay sends `--creates` creates
//! one after another, timing each. Binaries given with `--herald-bin` are
//! run in turn, run after run, so that the machine's noise falls on each
//! alike; the table gives each binary's median over the runs, and the
//! ratio to the first binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::http::{self, Body};
use crate::servers::{Kind, Servers, SpawnPlan};

pub struct ReplayStormOptions {
    pub binaries: Vec<PathBuf>,
    pub streams: usize,
    pub events: usize,
    pub creates: usize,
    pub runs: usize,
}

/// One run's figures.
struct Run {
    /// Each create's latency.
    creates: Vec<Duration>,
    /// From the first stream opened to the last stream's last replayed event.
    replayed_in: Duration,
    /// Streams that ended, or were never answered, before their replay did.
    failed: usize,
}

pub async fn replay_storm(options: &ReplayStormOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        !options.binaries.is_empty(),
        "give --herald-bin at least once"
    );
    let mut results: Vec<Vec<Run>> = options.binaries.iter().map(|_| Vec::new()).collect();
    for run in 0..options.runs {
        for (binary, runs) in options.binaries.iter().zip(&mut results) {
            eprintln!(
                "herald-bench: run {} of {}: {}",
                run + 1,
                options.runs,
                binary.display()
            );
            runs.push(one_run(binary, options).await?);
        }
    }
    println!(
        "replay storm: {} streams resuming from 0 over {} events, {} creates meanwhile, {} runs (medians)",
        options.streams, options.events, options.creates, options.runs
    );
    println!(
        "{:<48} {:>14} {:>14} {:>14} {:>10}",
        "binary", "worst create", "median create", "replayed in", "worst/1st"
    );
    let worst = |runs: &[Run]| {
        median(
            runs.iter()
                .map(|r| r.creates.iter().max().copied().unwrap_or_default()),
        )
    };
    let baseline = results.first().map(|runs| worst(runs)).unwrap_or_default();
    for (binary, runs) in options.binaries.iter().zip(&results) {
        let all: Vec<Duration> = runs
            .iter()
            .flat_map(|r| r.creates.iter().copied())
            .collect();
        let worst_create = worst(runs);
        println!(
            "{:<48} {:>11.1} ms {:>11.1} ms {:>12.2} s {:>9.2}x",
            binary.display().to_string(),
            millis(worst_create),
            millis(median(all.into_iter())),
            median(runs.iter().map(|r| r.replayed_in)).as_secs_f64(),
            worst_create.as_secs_f64() / baseline.as_secs_f64().max(f64::MIN_POSITIVE),
        );
        for (i, run) in runs.iter().enumerate() {
            let creates: Vec<String> = run
                .creates
                .iter()
                .map(|c| format!("{:.0}", millis(*c)))
                .collect();
            println!(
                "    run {}: creates {} ms; replayed in {:.2} s; {} streams failed",
                i + 1,
                creates.join(", "),
                run.replayed_in.as_secs_f64(),
                run.failed
            );
        }
    }
    Ok(())
}

async fn one_run(binary: &Path, options: &ReplayStormOptions) -> anyhow::Result<Run> {
    let servers = Servers::spawn(&SpawnPlan {
        kind: Kind::Herald,
        binary: binary.to_path_buf(),
        instances: 1,
        admin_database_url: None,
        env: Vec::new(),
    })
    .await?;
    let target = *servers.targets().first().context("no server")?;
    let outcome = storm(target, options).await;
    servers.stop(outcome.is_err()).await;
    outcome
}

async fn storm(target: SocketAddr, options: &ReplayStormOptions) -> anyhow::Result<Run> {
    fill(target, options.events).await?;
    let last = format!("id: {}", options.events);
    let started = Instant::now();
    // All at once, as clients reconnecting after an outage do.
    let streams: Vec<_> = (0..options.streams)
        .map(|i| {
            let last = last.clone();
            tokio::spawn(async move {
                let source = std::net::Ipv4Addr::new(127, 0, 1 + (i / 20_000) as u8, 1);
                let mut stream = http::connect(target, Some(source)).await?;
                let request = format!(
                    "GET /api/sse/stream?last_event_id=0 HTTP/1.1\r\nHost: {target}\r\n\r\n"
                );
                stream.write_all(request.as_bytes()).await?;
                read_until(stream, &last).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut client = http::Client::new(target);
    let mut creates = Vec::with_capacity(options.creates);
    for i in 0..options.creates {
        let body = format!(r#"{{"user_name":"storm{i}","email":"storm{i}@example.com"}}"#);
        let sent = Instant::now();
        let response = client
            .request("POST", "/api/v1/users", Some(Body::json(body.as_bytes())))
            .await?;
        anyhow::ensure!(
            response.status == 201,
            "a create answered {}",
            response.status
        );
        creates.push(sent.elapsed());
    }
    let mut failed = 0;
    for stream in streams {
        if let Err(error) = stream.await? {
            if failed == 0 {
                eprintln!("herald-bench: a stream failed: {error:#}");
            }
            failed += 1;
        }
    }
    Ok(Run {
        creates,
        replayed_in: started.elapsed(),
        failed,
    })
}

/// Writes `events` events with 32 writers at once.
async fn fill(target: SocketAddr, events: usize) -> anyhow::Result<()> {
    let writers = 32;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            tokio::spawn(async move {
                let mut client = http::Client::new(target);
                for i in (w..events).step_by(writers) {
                    let body = format!(r#"{{"user_name":"fill{i}","email":"fill{i}@example.com","display_name":"{}"}}"#, "x".repeat(60));
                    let response = client.request("POST", "/api/v1/users", Some(Body::json(body.as_bytes()))).await?;
                    anyhow::ensure!(response.status == 201, "filling answered {}", response.status);
                }
                Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Reads a stream, keeping only a short tail, until `marker` has come.
async fn read_until(mut stream: tokio::net::TcpStream, marker: &str) -> anyhow::Result<()> {
    let marker = marker.as_bytes();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    let mut received = 0;
    loop {
        let n = stream.read(&mut buffer).await?;
        received += n;
        anyhow::ensure!(
            n > 0,
            "the stream ended after {received} bytes, before its replay did"
        );
        tail.extend_from_slice(&buffer[..n]);
        if tail.windows(marker.len()).any(|w| w == marker) {
            return Ok(());
        }
        let keep = tail.len().saturating_sub(marker.len());
        tail.drain(..keep);
    }
}

fn median(values: impl Iterator<Item = Duration>) -> Duration {
    let mut values: Vec<Duration> = values.collect();
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
