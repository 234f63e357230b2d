use std::process::Command;
use std::time::Duration;

use crate::helpers::{
    Backend, PROMPTLY, SseClient, TestResult, herald_binary, on_both_databases, spawn_app,
};
use crate::process::Herald;

on_both_databases!(clients_that_disconnect_are_released);

async fn clients_that_disconnect_are_released(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut streams = Vec::new();
    for _ in 0..200 {
        streams.push(app.subscribe("", &[]).await);
    }
    app.wait_for_subscribers(200, PROMPTLY).await;
    drop(streams);
    // Within about one keep-alive interval (1 s in tests).
    app.wait_for_subscribers(0, Duration::from_secs(3)).await;
    app.create_user("still.serving").await;
    Ok(())
}

#[tokio::test]
async fn sigterm_and_sigint_end_streams_and_exit_zero() -> TestResult {
    for signal in ["TERM", "INT"] {
        let herald = Herald::start().await?;
        assert!(
            herald.dir.path().join("herald.db").exists(),
            "the default database is a file in the working directory"
        );
        let client = reqwest::Client::new();
        let response = client
            .get(format!("{}/api/sse/stream", herald.address))
            .send()
            .await?;
        let mut stream = SseClient::new(response);
        let created = client
            .post(format!("{}/api/v1/users", herald.address))
            .json(&serde_json::json!({"user_name": "ada", "email": "ada@example.com"}))
            .send()
            .await?;
        assert_eq!(created.status(), 201);
        assert_eq!(stream.expect_event().await.id_number(), 1);

        herald.signal(signal)?;
        while let Some(frame) = tokio::time::timeout(PROMPTLY, stream.next_frame()).await? {
            assert!(frame.data.is_none());
        }
        let (status, took) = herald.wait().await?;
        assert!(status.success(), "SIG{signal}: {status}");
        assert!(took < Duration::from_secs(5), "SIG{signal} took {took:?}");
    }
    Ok(())
}

#[tokio::test]
async fn an_invalid_setting_stops_start_up_with_one_line() -> TestResult {
    let dir = tempfile::tempdir()?;
    let output = Command::new(herald_binary())
        .current_dir(dir.path())
        .env("SSE_KEEP_ALIVE_SECS", "soon")
        .env("BIND_ADDR", "127.0.0.1:0")
        .output()?;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr)?;
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SSE_KEEP_ALIVE_SECS"), "{stderr}");
    assert!(!dir.path().join("herald.db").exists(), "nothing started");
    Ok(())
}
