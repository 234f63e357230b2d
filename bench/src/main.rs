//! `herald-bench`: the load generator of issue 7's benchmark. See `cli.rs`
//! for the options and BENCHMARKS.md for the method.

mod chunked;
mod cli;
mod commit_times;
mod dialect;
mod fleet;
mod histogram;
mod http;
mod loopback;
mod procfs;
mod progress;
mod replay_storm;
mod report;
mod run;
mod servers;
mod smoke;
mod sse;
mod subscriber;
mod tally;
mod workers;
mod writers;

use std::process::ExitCode;

use anyhow::Context;

#[tokio::main]
async fn main() -> ExitCode {
    match main_inner().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("herald-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn main_inner() -> anyhow::Result<ExitCode> {
    match cli::parse()? {
        cli::Command::Help => {
            print!("{}", cli::USAGE);
            Ok(ExitCode::SUCCESS)
        }
        cli::Command::Worker => {
            workers::serve().await?;
            Ok(ExitCode::SUCCESS)
        }
        cli::Command::Smoke(options) => {
            smoke::smoke(&options).await?;
            Ok(ExitCode::SUCCESS)
        }
        cli::Command::ReplayStorm(options) => {
            replay_storm::replay_storm(&options).await?;
            Ok(ExitCode::SUCCESS)
        }
        cli::Command::Run(options) => {
            let report = run::run(&options).await?;
            let json = serde_json::to_string_pretty(&report)?;
            match &options.json {
                Some(path) => std::fs::write(path, json + "\n")
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => println!("{json}"),
            }
            eprintln!("{}", report.table());
            Ok(if options.strict && !report.problems.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
