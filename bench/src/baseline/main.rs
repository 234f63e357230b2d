//! The "plain design" Herald is compared with (bench only, never shipped).
//!
//! What a tutorial would build: actix-web, actix-web-lab's `Sse` over a
//! `BroadcastStream` of a `tokio::sync::broadcast` channel of 100, one JSON
//! string per event, a fixed keep-alive. A subscriber that lags simply skips
//! the events it missed: that loss is part of what the comparison shows.
//!
//! It serves only what the load generator uses: `POST /api/v1/users`,
//! `GET /api/v1/users?limit=N` (for `last_event_id`), `GET /api/sse/stream`
//! and `GET /readyz`. Configuration: `DATABASE_URL` (SQLite),
//! `BIND_ADDR`, `SSE_KEEP_ALIVE_SECS` (default 5).

mod db;
mod feed;
mod routes;

use std::time::Duration;

use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::feed::Feed;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "sqlite://baseline.db?mode=rwc".to_owned());
    let bind_addr = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let keep_alive = match std::env::var("SSE_KEEP_ALIVE_SECS") {
        Ok(secs) => secs
            .parse()
            .context("SSE_KEEP_ALIVE_SECS must be a whole number of seconds")?,
        Err(_) => 5,
    };

    let db = db::connect(&database_url).await?;
    let state = web::Data::new(routes::State {
        db,
        feed: Feed::new(),
        keep_alive: Duration::from_secs(keep_alive),
    });
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(routes::configure)
    })
    // Streams never end by themselves; the harness closes them before it
    // stops the server, so waiting for them would only delay the exit.
    .shutdown_timeout(1)
    .bind(&bind_addr)
    .with_context(|| format!("cannot listen on {bind_addr}"))?
    .run()
    .await?;
    Ok(())
}
