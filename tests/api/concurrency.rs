use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{Backend, TestResult, on_both_databases, spawn_app};

on_both_databases!(concurrent_writers_yield_one_gapless_order);

const WRITERS: usize = 16;
const WRITES_EACH: usize = 12;

/// Sixteen clients write at once; every subscriber sees ids 1..N, gapless,
/// each once, in the same order, and the log holds the same.
async fn concurrent_writers_yield_one_gapless_order(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut subscribers = Vec::new();
    for query in ["", "?topic=users", "?last_event_id=0"] {
        subscribers.push(app.subscribe(query, &[]).await);
    }

    let writers = (0..WRITERS).map(|w| {
        let (client, url) = (app.client.clone(), app.url("/api/v1/users"));
        async move {
            let mut statuses = Vec::new();
            for i in 0..WRITES_EACH {
                let body = json!({"user_name": format!("w{w}-{i}"), "email": format!("w{w}.{i}@example.com")});
                let response = client.post(&url).json(&body).send().await?;
                statuses.push(response.status().as_u16());
            }
            Ok::<_, reqwest::Error>(statuses)
        }
    });
    for statuses in join_all(writers).await {
        assert!(statuses?.iter().all(|s| *s == 201));
    }

    let total = WRITERS * WRITES_EACH;
    let expected: Vec<i64> = (1..=total as i64).collect();
    let mut orders = Vec::new();
    for subscriber in &mut subscribers {
        let mut seen = Vec::new();
        for _ in 0..total {
            let frame = subscriber.expect_event().await;
            seen.push((frame.id_number(), frame.json()["data"]["user_id"].clone()));
        }
        assert_eq!(seen.iter().map(|(id, _)| *id).collect::<Vec<_>>(), expected);
        orders.push(seen);
        subscriber.expect_quiet().await;
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "every subscriber saw the same order"
    );
    Ok(())
}
