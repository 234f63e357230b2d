//! What an operator sees when Herald cannot start: one line, naming what is
//! wrong, and never the database password.

use std::process::{Command, Output};

use crate::helpers::{PROMPTLY, TestResult, herald_binary};
use crate::process::Herald;

/// Runs the real binary with `vars` until it exits (it must, and promptly).
async fn run_herald(
    vars: &[(&str, &str)],
) -> Result<Output, Box<dyn std::error::Error + Send + Sync>> {
    let dir = tempfile::tempdir()?;
    let mut command = Command::new(herald_binary());
    command
        .current_dir(dir.path())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .env_remove("LOG_FORMAT");
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = tokio::time::timeout(
        PROMPTLY,
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await???;
    Ok(output)
}

/// Everything the process printed, which must be exactly one line.
fn one_line(output: &Output) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let printed = format!(
        "{}{}",
        String::from_utf8(output.stdout.clone())?,
        String::from_utf8(output.stderr.clone())?
    );
    assert_eq!(printed.lines().count(), 1, "{printed}");
    Ok(printed)
}

#[tokio::test]
async fn a_bad_database_url_is_shown_without_its_password() -> TestResult {
    let output = run_herald(&[("DATABASE_URL", "mysql://root:hunter2@db.example/app")]).await?;
    let line = one_line(&output)?;
    assert!(line.contains("DATABASE_URL"), "{line}");
    assert!(line.contains("mysql://root:***@db.example/app"), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
    Ok(())
}

#[tokio::test]
async fn an_unreachable_database_is_shown_without_its_password() -> TestResult {
    // Nothing listens on port 1.
    let output = run_herald(&[(
        "DATABASE_URL",
        "postgres://admin:hunter2@127.0.0.1:1/herald?password=hunter2",
    )])
    .await?;
    let line = one_line(&output)?;
    assert!(
        line.contains(
            "could not open the database at postgres://admin:***@127.0.0.1:1/herald?password=***"
        ),
        "{line}"
    );
    assert!(!line.contains("hunter2"), "{line}");
    Ok(())
}

#[tokio::test]
async fn an_origin_that_could_never_match_stops_start_up() -> TestResult {
    for origins in ["http://a b.com", "https://a.com/path"] {
        let output = run_herald(&[("CORS_ALLOWED_ORIGINS", origins)]).await?;
        let line = one_line(&output)?;
        assert!(
            line.starts_with("herald: invalid CORS_ALLOWED_ORIGINS="),
            "{line}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_blank_secret_stops_start_up_instead_of_running_open() -> TestResult {
    let output = run_herald(&[("JWT_SECRET", "   ")]).await?;
    let line = one_line(&output)?;
    assert!(line.starts_with("herald: invalid JWT_SECRET="), "{line}");
    Ok(())
}

#[tokio::test]
async fn start_up_says_whether_requests_need_tokens() -> TestResult {
    let open = Herald::start().await?;
    let line = open
        .log_line("about authentication", |l| l["authentication"].is_string())
        .await?;
    assert_eq!(line["authentication"], "open", "{line}");
    let secured = Herald::start_with(&[("JWT_SECRET", crate::helpers::TEST_SECRET)]).await?;
    let line = secured
        .log_line("about authentication", |l| l["authentication"].is_string())
        .await?;
    assert_eq!(line["authentication"], "tokens", "{line}");
    Ok(())
}
