//! `herald-bench smoke`: a tiny run against a spawned Herald (its own
//! stream and its Mercure hub) and a spawned baseline (and Herald on
//! PostgreSQL when given a database), failing on any problem. CI runs it so the harness never rots; it measures nothing.

use std::time::Duration;

use crate::cli::{RunOptions, Servers, SmokeOptions, Spawn};
use crate::dialect::Dialect;
use crate::run;
use crate::servers::Kind;

pub async fn smoke(options: &SmokeOptions) -> anyhow::Result<()> {
    let mut cases = vec![
        (
            Kind::Herald,
            options.herald_bin.clone(),
            1,
            None,
            Dialect::Herald,
        ),
        (
            Kind::Herald,
            options.herald_bin.clone(),
            1,
            None,
            Dialect::Mercure,
        ),
        (
            Kind::Baseline,
            options.baseline_bin.clone(),
            1,
            None,
            Dialect::Herald,
        ),
    ];
    if let Some(url) = &options.database_url {
        cases.push((
            Kind::Herald,
            options.herald_bin.clone(),
            2,
            Some(url.clone()),
            Dialect::Herald,
        ));
    }
    let mut failed = Vec::new();
    for (kind, binary, instances, database_url, dialect) in cases {
        anyhow::ensure!(
            binary.is_file(),
            "{} not found: build the workspace (cargo build --workspace) or pass --{}-bin",
            binary.display(),
            kind.name()
        );
        let name = format!(
            "{} × {} ({} stream) on {}",
            instances,
            kind.name(),
            dialect.name(),
            if database_url.is_some() {
                "postgres"
            } else {
                "sqlite"
            }
        );
        let report = run::run(&RunOptions {
            servers: Servers::Spawn(Spawn {
                kind,
                binary,
                instances,
                database_url,
                // Short enough that the hold below sees keep-alives.
                env: vec![("SSE_KEEP_ALIVE_SECS".to_owned(), "1".to_owned())],
            }),
            dialect,
            subscribers: 20,
            // Two processes, so the worker protocol is exercised too.
            processes: Some(2),
            source_ips: 2,
            connect_rate: 500.0,
            connect_concurrency: 8,
            hold: Duration::from_millis(2500),
            rate: 50.0,
            writes: Some(30),
            duration: None,
            writers: 4,
            drain_timeout: Duration::from_secs(30),
            json: None,
            label: Some(format!("smoke {name}")),
            strict: true,
        })
        .await?;
        eprintln!("{}", report.table());
        if !report.problems.is_empty() {
            failed.push(format!("{name}: {}", report.problems.join("; ")));
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "smoke run failed:\n{}",
        failed.join("\n")
    );
    eprintln!("smoke: every run kept every promise");
    Ok(())
}
