//! U+2028, U+2029 and U+0085 never leave raw in a `data:` line: a reader
//! that splits lines as Python's `str.splitlines()` does (httpx's
//! `iter_lines`, `requests` with `decode_unicode`) must get every event
//! whole, whoever wrote it (the API, a notification, the database's
//! triggers for a shell's write).

use std::io::Write as _;
use std::process::{Command, Stdio};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{Backend, PROMPTLY, TestResult, on_both_databases, shell, spawn_app};

on_both_databases!(line_separators_leave_escaped);

/// What Python's `str.splitlines()` reader makes of a stream's bytes: the
/// `data:` of each event, parsed as JSON (or the line that would not parse).
fn read_as_python_does(stream: &[u8]) -> Result<Vec<Value>, String> {
    let reader = r#"
import json, sys
events, data = [], []
for line in sys.stdin.buffer.read().decode("utf-8").splitlines():
    if line == "":
        if data:
            events.append(json.loads("\n".join(data)))
        data = []
    elif line.startswith("data: "):
        data.append(line[6:])
print(json.dumps(events))
"#;
    let mut python = Command::new("python3")
        .args(["-c", reader])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    python
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(stream)
        .map_err(|e| e.to_string())?;
    let output = python.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())
}

async fn line_separators_leave_escaped(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let response = app.open_stream("", &[]).await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();

    let name = "Ada\u{2028}Love\u{2029}lace";
    let created = app
        .post_user(&json!({"user_name": "ada", "email": "ada@example.com", "display_name": name}))
        .await;
    assert_eq!(created.status(), 201);
    let published = app
        .publish(
            None,
            &json!({"topic": "news", "data": {"text": "one\u{85}two\u{2028}three"}}),
            None,
        )
        .await;
    assert_eq!(published.status(), 202);
    let quote = |text: &str| text.replace('\'', "''");
    let ran = shell(
        &app.database,
        &format!(
            "UPDATE users SET display_name = '{}' WHERE user_name = 'ada'",
            quote("Grace\u{2029}Hopper")
        ),
    );
    assert!(ran.ok, "{}", ran.error);

    let mut received = Vec::new();
    let events = |bytes: &[u8]| String::from_utf8_lossy(bytes).matches("\ndata: ").count();
    while events(&received) < 3 {
        match tokio::time::timeout(PROMPTLY, body.next()).await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk?),
            _ => panic!("three events did not arrive: {received:?}"),
        }
    }
    let text = String::from_utf8(received.clone())?;
    for raw in ['\u{2028}', '\u{2029}', '\u{85}'] {
        assert!(!text.contains(raw), "{raw:?} left raw: {text:?}");
    }
    assert!(text.contains(r"Ada\u2028Love\u2029lace"), "{text}");

    let read = read_as_python_does(&received)?;
    assert_eq!(read.len(), 3, "every event whole: {read:?}");
    assert_eq!(read[0]["data"]["user"]["display_name"], name);
    assert_eq!(read[1]["data"]["text"], "one\u{85}two\u{2028}three");
    assert_eq!(
        read[2]["data"]["user"]["display_name"],
        "Grace\u{2029}Hopper"
    );
    Ok(())
}
