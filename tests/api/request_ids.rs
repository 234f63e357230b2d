//! Every response carries `X-Request-Id` (the client's, when it is a sane
//! one), and every log line of that request, and of a stream for its whole
//! life, carries it too.

use serde_json::{Value, json};

use crate::helpers::{Backend, SseClient, TestResult, on_both_databases, spawn_app};
use crate::process::Herald;

on_both_databases!(every_response_carries_a_request_id);

fn is_uuid(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok()
}

async fn every_response_carries_a_request_id(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let id_of = |response: &reqwest::Response| {
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };

    let created = app
        .post_user(&json!({"user_name": "ada", "email": "ada@example.com"}))
        .await;
    assert_eq!(created.status(), 201);
    let generated = id_of(&created).ok_or("no id on a 201")?;
    assert!(is_uuid(&generated), "{generated}");
    for failing in ["/api/v1/nothing", "/api/v1/users/not-a-uuid"] {
        let response = app.get(failing).await;
        assert!(response.status().is_client_error());
        assert!(id_of(&response).is_some_and(|id| is_uuid(&id) && id != generated));
    }
    let stream = app.subscribe("", &[]).await;
    let stream_id = stream
        .headers
        .get("x-request-id")
        .ok_or("no id on a stream")?;
    assert!(is_uuid(stream_id.to_str()?));

    let longest = "a".repeat(64);
    for kept in ["abc-DEF_1.2", "0", longest.as_str()] {
        let response = app
            .send(
                app.client
                    .get(app.url("/healthz"))
                    .header("X-Request-Id", kept),
            )
            .await;
        assert_eq!(id_of(&response).as_deref(), Some(kept));
    }
    let too_long = "a".repeat(65);
    for replaced in [
        "",
        "has space",
        "semi;colon",
        "ünï",
        "{\"json\":1}",
        too_long.as_str(),
    ] {
        let response = app
            .send(
                app.client
                    .get(app.url("/healthz"))
                    .header("X-Request-Id", replaced),
            )
            .await;
        let id = id_of(&response).ok_or("no id")?;
        assert!(is_uuid(&id), "{replaced:?} became {id:?}");
    }
    Ok(())
}

/// The id of the request a JSON log line was written for, if any.
fn request_id_of(line: &Value) -> Option<&str> {
    line["spans"]
        .as_array()?
        .iter()
        .find_map(|span| span["request_id"].as_str())
}

#[tokio::test]
async fn every_log_line_of_a_request_and_of_a_stream_carries_its_id() -> TestResult {
    let herald = Herald::start().await?;
    let client = reqwest::Client::new();

    let response = client
        .get(format!("{}/api/sse/stream", herald.address))
        .header("X-Request-Id", "stream-1")
        .send()
        .await?;
    let mut stream = SseClient::new(response);
    let created = client
        .post(format!("{}/api/v1/users", herald.address))
        .header("X-Request-Id", "write-1")
        .json(&json!({"user_name": "ada", "email": "ada@example.com"}))
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    stream.expect_event().await;
    drop(stream);
    let refused = client
        .put(format!("{}/healthz", herald.address))
        .header("X-Request-Id", "refused-1")
        .send()
        .await?;
    assert_eq!(refused.status(), 405);

    let closed = herald
        .log_line("for the closed stream", |l| l["message"] == "stream closed")
        .await?;
    assert_eq!(request_id_of(&closed), Some("stream-1"), "{closed}");
    // Lines reach the pipe before the responses they describe leave, but
    // are read from it on a thread of their own.
    herald
        .log_line("for the refused request", |l| {
            request_id_of(l) == Some("refused-1")
        })
        .await?;
    let lines = herald.log_lines();
    let of = |id: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| request_id_of(l) == Some(id))
            .collect()
    };
    let messages = |id: &str| -> Vec<&str> {
        of(id)
            .iter()
            .filter_map(|l| l["message"].as_str())
            .collect()
    };
    assert_eq!(
        messages("stream-1"),
        ["stream opened", "response", "stream closed"]
    );
    assert_eq!(messages("write-1"), ["committed write", "response"]);
    assert_eq!(messages("refused-1"), ["response"]);
    assert_eq!(of("refused-1")[0]["status"], 405);
    let response = of("write-1")
        .into_iter()
        .find(|l| l["message"] == "response")
        .ok_or("no response line")?;
    assert_eq!(response["status"], 201);
    assert!(response["latency_ms"].is_string(), "{response}");
    let span = &response["span"];
    assert_eq!(
        (&span["method"], &span["path"]),
        (&json!("POST"), &json!("/api/v1/users"))
    );

    herald.signal("TERM")?;
    herald.wait().await?;
    Ok(())
}
