//! `GET /api/sse/stream` (also `/events`): the event stream of one client.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::Stream;

use super::auth::StreamCaller;
use super::error::ApiError;
use super::error::{BadRequest, Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized};
use super::limits::MAX_TOPICS;
use crate::domain::{TopicFilter, TopicPattern};
use crate::sse::{
    Opening, Position, Refusal, SseNotifier, Start, StreamAdmission, StreamFilter, Subscription,
};

const LAST_EVENT_ID: &str = "Last-Event-ID";

/// How streams are opened.
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// Sent first on every stream as `retry:`.
    pub retry: Duration,
}

#[utoipa::path(
    get,
    path = "/api/sse/stream",
    operation_id = "stream",
    tag = "stream",
    description = "Server-Sent Events, never ending. First `retry: <SSE_RETRY_MS>`, then one \
        frame per event: `id: <event id>.<tag>` (the tag: 8 hex digits checking the event's \
        content), for notifications published with a name \
        `event: <name>` (data changes and other notifications are default `message` events), \
        and `data:` the envelope `{\"id\", \"event\", \"topic\", \"at\", \"data\"}` on \
        one line. A `: keep-alive` comment comes every `SSE_KEEP_ALIVE_SECS`. An unusable \
        resume point gets `event: reset` with data `{\"reason\": \"unknown\" | \
        \"expired\" | \"rewound\" | \"invalid\", \"last_id\": <newest id>}` and the stream \
        goes on live from `last_id`; so does every open stream when the log goes back (a \
        restore, a failover). When the token expires the stream sends `event: auth_expired` and \
        ends.",
    params(
        ("topic" = Option<Vec<String>>, Query, style = Form, explode, description = "Topics \
            to follow, repeatable (at most 32): a topic (`users/<id>`, `inbox/alice`), a \
            subtree (`news/*`), `users` (every user's data changes) or `*`. Absent: every \
            topic the token grants"),
        ("last_event_id" = Option<String>, Query, pattern = r"^[0-9]+(\.[0-9a-fA-F]{8})?$",
            description = "Replay the retained events after this one first, then go on live: \
            an event id (such as the list's `last_event_id`) or an event's `id:` as the \
            stream sent it (`<id>.<tag>`, whose tag is checked); `0` replays all retained \
            history"),
        ("Last-Event-ID" = Option<String>, Header, nullable = false, description = "What a browser's \
            `EventSource` sends when it reconnects: the same as `last_event_id`, which it \
            overrides"),
    ),
    security(("bearer" = []), ("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The stream", body = String,
            content_type = "text/event-stream", headers(
                ("Cache-Control" = String, description = "`no-cache`"),
                ("X-Accel-Buffering" = String, description = "`no`: proxies must not buffer it"),
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn stream(
    req: HttpRequest,
    caller: StreamCaller,
    query: web::Query<Vec<(String, String)>>,
    notifier: web::Data<SseNotifier>,
    admission: web::Data<StreamAdmission>,
    settings: web::Data<StreamSettings>,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.0;
    let (requested, resume_from_query) = parse_query(&query)?;
    let filter = principal.stream_topics(requested)?;
    let subject = principal.is_authenticated().then(|| principal.subject());
    let admitted = admission.into_inner().admit(subject).map_err(refused)?;
    // A reconnecting browser sends the header to a URL that still carries the
    // page's first resume point: the header is the newer one.
    let start = match req.headers().get(LAST_EVENT_ID) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(Position::parse)
            .map_or(Start::Unreadable, Start::After),
        None => resume_from_query.map_or(Start::Live, Start::After),
    };
    let opening = Opening {
        filter: StreamFilter::Herald(filter),
        start,
        retry: settings.retry,
        admitted,
        expires_at: principal.expires_at(),
        local: Some(notifier.local_wakers()),
    };
    let subscription = Subscription::open(notifier.into_inner(), opening).await?;
    Ok(event_stream("no-cache", None, subscription))
}

/// The response carrying an event stream, Herald's or the Mercure hub's:
/// `body` with this `Cache-Control` and, if any, a `Last-Event-ID` naming
/// where it goes on from.
pub(super) fn event_stream(
    cache_control: &'static str,
    last_event_id: Option<HeaderValue>,
    body: impl Stream<Item = Result<Bytes, Infallible>> + 'static,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header(("X-Accel-Buffering", "no"))
        // Over HTTP/1.1 the stream ends only when the connection does: its
        // end is the connection's close, so every write goes out as it is,
        // without chunked framing around it.
        .force_close();
    if let Some(id) = last_event_id {
        response.insert_header((LAST_EVENT_ID, id));
    }
    let mut response = response.streaming(body);
    response.head_mut().no_chunking(true);
    response
}

/// A stream that cannot be admitted: the client may retry later, or close
/// one of its other streams.
pub(super) fn refused(refusal: Refusal) -> ApiError {
    let message = match refusal {
        Refusal::Subject { limit } => {
            format!("this token already holds {limit} open streams; close one or retry later")
        }
        Refusal::Instance { limit } => {
            format!("this server holds as many streams as it may ({limit}); retry shortly")
        }
    };
    match refusal {
        Refusal::Subject { .. } => ApiError::TooManyRequests {
            message,
            retry_after_secs: 5,
        },
        Refusal::Instance { .. } => ApiError::ServerBusy { message },
    }
}

/// The topics a stream asks for (`None`: none named) and its resume point.
fn parse_query(
    query: &[(String, String)],
) -> Result<(Option<TopicFilter>, Option<Position>), ApiError> {
    let mut topics = Vec::new();
    let mut last_event_id = None;
    for (name, value) in query {
        match name.as_str() {
            "topic" => {
                let topic = TopicPattern::parse(value)
                    .map_err(|problem| ApiError::bad_request("invalid_topic", problem))?;
                if !topics.contains(&topic) {
                    if topics.len() == MAX_TOPICS {
                        return Err(ApiError::bad_request(
                            "too_many_topics",
                            format!("a stream follows at most {MAX_TOPICS} topics"),
                        ));
                    }
                    topics.push(topic);
                }
            }
            "last_event_id" => {
                let position = Position::parse(value).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_last_event_id",
                        "last_event_id must be an event id (a whole number, or the `id:` of \
                         an event as the stream sent it)",
                    )
                })?;
                last_event_id = Some(position);
            }
            // Anything else (a cache buster, say) is none of our business.
            _ => {}
        }
    }
    let requested = (!topics.is_empty()).then(|| TopicFilter::new(topics));
    Ok((requested, last_event_id))
}
