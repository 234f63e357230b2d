//! The HTTP surface the load generator needs.

use std::time::Duration;

use actix_web::{HttpResponse, Responder, web};
use actix_web_lab::sse;
use chrono::{SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, SqlErr, TransactionTrait};
use serde::Deserialize;
use serde_json::json;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::db::{self, User};
use crate::feed::Feed;

pub struct State {
    pub db: DatabaseConnection,
    pub feed: Feed,
    pub keep_alive: Duration,
}

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/api/v1/users", web::post().to(create_user))
        .route("/api/v1/users", web::get().to(list_users))
        .route("/api/sse/stream", web::get().to(stream))
        .route("/readyz", web::get().to(ready));
}

#[derive(Deserialize)]
struct NewUser {
    user_name: String,
    email: String,
    display_name: Option<String>,
}

async fn create_user(state: web::Data<State>, body: web::Json<NewUser>) -> HttpResponse {
    let NewUser {
        user_name,
        email,
        display_name,
    } = body.into_inner();
    let now = timestamp();
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        user_name,
        email,
        display_name,
        version: 1,
        created_at: now.clone(),
        updated_at: now,
    };
    match insert(&state.db, &user).await {
        Ok(at) => {
            state.feed.user_created(&user, &at);
            HttpResponse::Created().json(&user)
        }
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            HttpResponse::Conflict().json(json!({"error": {"code": "duplicate"}}))
        }
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(json!({"error": {"code": "database_unavailable"}})),
    }
}

/// Inserts `user` and returns the event's `at`: taken once the insert holds
/// SQLite's write lock, just before the commit, so that commit → receipt
/// latency does not include the wait for the lock (as Herald's does not).
async fn insert(db: &DatabaseConnection, user: &User) -> Result<String, DbErr> {
    let txn = db.begin().await?;
    db::insert(&txn, user).await?;
    let at = timestamp();
    txn.commit().await?;
    Ok(at)
}

/// RFC 3339 in UTC with microseconds, as Herald writes times.
fn timestamp() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u64>,
}

async fn list_users(state: web::Data<State>, query: web::Query<ListQuery>) -> HttpResponse {
    let last_event_id = state.feed.last_id();
    match db::list(&state.db, query.limit.unwrap_or(50).clamp(1, 200)).await {
        Ok(items) => HttpResponse::Ok()
            .json(json!({"items": items, "next_cursor": null, "last_event_id": last_event_id})),
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(json!({"error": {"code": "database_unavailable"}})),
    }
}

async fn stream(state: web::Data<State>) -> impl Responder {
    let events = BroadcastStream::new(state.feed.subscribe()).filter_map(|published| {
        // `Lagged` is skipped, as the textbook does: those events are lost.
        let published = published.ok()?;
        Some(Ok::<_, std::convert::Infallible>(sse::Event::Data(
            sse::Data::new(published.json).id(published.id.to_string()),
        )))
    });
    sse::Sse::from_stream(events).with_keep_alive(state.keep_alive)
}

async fn ready(state: web::Data<State>) -> HttpResponse {
    match state.db.execute_unprepared("SELECT 1").await {
        Ok(_) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(_) => HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable"})),
    }
}
