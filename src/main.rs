use std::process::ExitCode;

use clap::Parser as _;
use herald::cli::{self, Cli, Command};
use herald::config::Settings;
use herald::config::settings_table::JWT_SECRET;
use herald::db::DatabaseConfig;
use herald::startup::Application;
use herald::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal; the environment alone is enough.
    let _ = dotenvy::dotenv();
    // --help and --version exit 0; a command line clap cannot read, 2.
    let cli = Cli::try_parse().unwrap_or_else(|error| error.exit());
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Token(request) => {
            let secret = std::env::var(JWT_SECRET.name).ok();
            print(
                "token",
                cli::issue_token(&request, secret.as_deref()).map(|token| vec![token]),
            )
        }
        Command::Watch(request) => match database() {
            Ok(database) => print("watch", cli::watch(&request, &database).await),
            Err(code) => code,
        },
        Command::Unwatch { table } => match database() {
            Ok(database) => print("unwatch", cli::unwatch(&table, &database).await),
            Err(code) => code,
        },
    }
}

/// Prints a command's lines, or its failure as one line; exits 0 or 1.
fn print(command: &str, outcome: cli::Outcome) -> ExitCode {
    match outcome {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("herald {command}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn settings() -> Result<Settings, ExitCode> {
    Settings::from_env().map_err(|error| {
        eprintln!("herald: {error}");
        ExitCode::FAILURE
    })
}

/// The database the server would use.
fn database() -> Result<DatabaseConfig, ExitCode> {
    Ok(DatabaseConfig::of(&settings()?))
}

async fn serve() -> ExitCode {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    if let Err(message) = telemetry::init(
        &settings.log_filter,
        settings.log_format,
        telemetry::Output::Stdout,
    ) {
        eprintln!("herald: {message}");
        return ExitCode::FAILURE;
    }
    match run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let stop = app.stop_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: closing streams, finishing requests");
        stop.stop().await;
    });
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
