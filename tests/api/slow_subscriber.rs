use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{Backend, TestResult, on_both_databases, spawn_app};

on_both_databases!(a_stalled_subscriber_loses_nothing);

const EVENTS: usize = 8_000;
const WRITERS: usize = 8;

/// A subscriber stops reading while far more is written than the socket
/// buffers and the shared in-memory feed hold, then reads on: it receives
/// every event, in order, and the others were never held up.
async fn a_stalled_subscriber_loses_nothing(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let id = app.create_user("ada").await["id"]
        .as_str()
        .ok_or("id")?
        .to_owned();
    let mut stalled = app.subscribe("", &[]).await;
    let mut reading = app.subscribe("", &[]).await;
    let reader = tokio::spawn(async move {
        let mut last = 1;
        for _ in 0..EVENTS {
            let id = reading.expect_event().await.id_number();
            assert_eq!(id, last + 1);
            last = id;
        }
        last
    });

    // 100-character display names make each event about 600 bytes: several
    // megabytes in all.
    let writers = (0..WRITERS).map(|w| {
        let (client, url) = (app.client.clone(), app.url(&format!("/api/v1/users/{id}")));
        async move {
            for i in 0..EVENTS / WRITERS {
                let name = format!("{w:02}-{i:05}-{}", "x".repeat(91));
                let response = client
                    .patch(&url)
                    .json(&json!({"display_name": name}))
                    .send()
                    .await?;
                assert_eq!(response.status(), 200);
            }
            Ok::<_, reqwest::Error>(())
        }
    });
    for written in join_all(writers).await {
        written?;
    }
    assert_eq!(
        reader.await?,
        EVENTS as i64 + 1,
        "a reading subscriber kept up meanwhile"
    );
    assert_eq!(
        app.notifier.stats().catch_ups.get(),
        0,
        "nothing has made the stalled stream catch up yet"
    );

    let mut expected = 2;
    let mut bytes = 0;
    while expected <= EVENTS as i64 + 1 {
        let frame = stalled.expect_event().await;
        assert_eq!(frame.id_number(), expected, "no event skipped or repeated");
        bytes += frame.data.map_or(0, |d| d.len());
        expected += 1;
    }
    assert!(
        bytes > 4_000_000,
        "the test wrote more than buffers hold ({bytes} bytes)"
    );
    stalled.expect_quiet().await;
    assert!(
        app.notifier.stats().catch_ups.get() >= 1,
        "the stalled stream fell behind the shared feed and caught up from the log"
    );
    Ok(())
}
