//! `GET /herald.js`: the client module, served from its one source file with
//! a strong ETag that lets browsers revalidate.

use crate::helpers::{Backend, TestResult, spawn_app};

const SOURCE: &str = include_str!("../../clients/js/herald.js");

// The module does not depend on the database: one backend is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_module_is_served_with_an_etag_and_revalidates() -> TestResult {
    let app = spawn_app(&Backend::Sqlite).await;
    let response = app.get("/herald.js").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    let etag = headers["etag"].to_str()?.to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
        "a strong tag: {etag}"
    );
    assert_eq!(response.text().await?, SOURCE);

    // The browser's copy is current: 304, no body, the same tag.
    for if_none_match in [
        etag.clone(),
        format!("\"other\", {etag}"),
        format!("W/{etag}"),
    ] {
        let response = app
            .send(
                app.client
                    .get(app.url("/herald.js"))
                    .header("If-None-Match", &if_none_match),
            )
            .await;
        assert_eq!(response.status(), 304, "{if_none_match}");
        assert_eq!(response.headers()["etag"].to_str()?, etag);
        assert_eq!(response.headers()["cache-control"], "no-cache");
        assert_eq!(response.text().await?, "");
    }

    // Another tag, or none: the module again.
    let stale = app
        .send(
            app.client
                .get(app.url("/herald.js"))
                .header("If-None-Match", "\"0123\""),
        )
        .await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.text().await?, SOURCE);

    let head = app.send(app.client.head(app.url("/herald.js"))).await;
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["etag"].to_str()?, etag);
    assert_eq!(head.text().await?, "");
    Ok(())
}
