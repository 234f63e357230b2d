//! `GET /api/sse/stream` (also `/events`): the event stream of one client.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sea_orm::DatabaseConnection;

use crate::domain::{Topic, TopicFilter};
use crate::error::Error;
use crate::sse::{SseNotifier, Start, StreamSettings, Subscription};

const LAST_EVENT_ID: &str = "Last-Event-ID";

#[tracing::instrument(skip_all)]
pub async fn stream(
    req: HttpRequest,
    query: web::Query<Vec<(String, String)>>,
    notifier: web::Data<SseNotifier>,
    db: web::Data<DatabaseConnection>,
    settings: web::Data<StreamSettings>,
) -> Result<HttpResponse, Error> {
    let (filter, resume_from_query) = parse_query(&query)?;
    // A reconnecting browser sends the header to a URL that still carries the
    // page's first resume point: the header is the newer one.
    let start = match req.headers().get(LAST_EVENT_ID) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(parse_event_id)
            .map_or(Start::Unreadable, Start::After),
        None => resume_from_query.map_or(Start::Live, Start::After),
    };
    let subscription = Subscription::open(
        notifier.into_inner(),
        db.get_ref().clone(),
        filter,
        start,
        **settings,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(subscription.into_stream()))
}

fn parse_query(query: &[(String, String)]) -> Result<(TopicFilter, Option<i64>), Error> {
    let mut topics = Vec::new();
    let mut last_event_id = None;
    for (name, value) in query {
        match name.as_str() {
            "topic" => topics.push(
                Topic::parse(value)
                    .map_err(|problem| Error::bad_request("invalid_topic", problem))?,
            ),
            "last_event_id" => {
                let id = parse_event_id(value).ok_or_else(|| {
                    Error::bad_request(
                        "invalid_last_event_id",
                        "last_event_id must be an event id (a whole number)",
                    )
                })?;
                last_event_id = Some(id);
            }
            // Anything else (a cache buster, say) is none of our business.
            _ => {}
        }
    }
    Ok((TopicFilter::new(topics), last_event_id))
}

/// An event id as clients send it: a non-negative whole number.
fn parse_event_id(raw: &str) -> Option<i64> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .and_then(|id| i64::try_from(id).ok())
}
