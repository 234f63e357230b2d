//! `/.well-known/mercure`: a Mercure hub (the protocol of draft-07, as the
//! Mercure v0.24 hub speaks it) on Herald's event log. Publishers `POST`
//! updates as forms; subscribers `GET` a stream of the updates their topic
//! selectors and tokens allow. Updates are events of the one log: durable,
//! in commit order, pruned with everything else, delivered by every
//! instance on one PostgreSQL. Herald's own streams never carry them, nor
//! the hub's Herald's events.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use super::auth::{Auth, check_origin};
use super::error::ApiError;
use super::error::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, ServiceUnavailable,
    TooManyRequests, Unauthorized, UnsupportedMediaType,
};
use super::publish_rate::PublishRate;
use super::request_body::RequestBody;
use super::stream::{event_stream, refused};
use crate::auth::mercure::{MercureGrant, MercureKeys, Role};
use crate::auth::{Credential, TokenError};
use crate::db::mercure;
use crate::db::mercure_presence::{
    Listing, Presence, Subscription as PresentSubscription, subscriptions_path,
};
use crate::db::writer::Writer;
use crate::db::{self, Reader};
use crate::domain::mercure::{HUB_PATH, MAX_TOPICS, Selector, SharedUpdate, Update, UpdateProblem};
use crate::sse::{
    MercureFilter, Opening, Position, SseNotifier, Start, StreamAdmission, StreamFilter,
    Subscription,
};

use super::stream::StreamSettings;

/// The cookie a browser's `EventSource` carries a Mercure token in.
pub const COOKIE: &str = "mercureAuthorization";

/// How far back the hub looks, in updates, for the newest one a subscriber
/// would have received, when it resumes from an id the log no longer holds.
const LOOK_BACK: u64 = 1000;

/// The hub, as the application configured it.
pub struct MercureHub {
    pub keys: MercureKeys,
    /// Subscribers without a token receive public updates.
    pub anonymous: bool,
    /// Who is subscribed to what, when the subscriptions API is on.
    pub presence: Option<Presence>,
}

/// A request's token and where it came from, first found first: the
/// `Authorization` header, the `authorization` query parameter, the cookie.
/// A bad token is refused even if a later source holds a good one.
fn token(
    req: &HttpRequest,
    query: &[(String, String)],
) -> Result<Option<(String, Credential)>, ApiError> {
    let unauthorized = |why: &str| ApiError::Unauthorized(why.to_owned());
    let mut headers = req.headers().get_all(header::AUTHORIZATION);
    if let Some(value) = headers.next() {
        if headers.next().is_some() {
            return Err(unauthorized("send one Authorization header"));
        }
        let value = value.to_str().unwrap_or_default();
        return match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
                Ok(Some((token.trim().to_owned(), Credential::Bearer)))
            }
            _ => Err(unauthorized(
                "the Authorization header must be `Bearer <token>`",
            )),
        };
    }
    let mut from_query = query.iter().filter(|(name, _)| name == "authorization");
    if let Some((_, token)) = from_query.next() {
        if from_query.next().is_some() {
            return Err(unauthorized("send one authorization parameter"));
        }
        return Ok(Some((token.clone(), Credential::Query)));
    }
    Ok(req
        .cookie(COOKIE)
        .map(|cookie| (cookie.value().to_owned(), Credential::Cookie)))
}

fn verified(hub: &MercureHub, token: &str, role: Role) -> Result<MercureGrant, ApiError> {
    hub.keys.verify(token, role).map_err(|error| {
        ApiError::Unauthorized(match error {
            TokenError::Expired => "the token has expired".to_owned(),
            other => format!("the token is not one of this hub's: {other}"),
        })
    })
}

/// The hub, or `404` when it is off.
fn hub_on(hub: Option<web::Data<MercureHub>>) -> Result<web::Data<MercureHub>, ApiError> {
    hub.ok_or(ApiError::RouteNotFound)
}

/// Middleware: `Link: </.well-known/mercure>; rel="mercure"` on every
/// response but the hub's own, so that clients discover the hub (a field
/// of its own: some clients read only the first link of a list).
pub async fn discovery(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let hub_path = req.path().starts_with(HUB_PATH);
    let mut response = next.call(req).await?;
    if !hub_path {
        response.headers_mut().append(
            header::LINK,
            HeaderValue::from_static("</.well-known/mercure>; rel=\"mercure\""),
        );
    }
    Ok(response)
}

fn invalid(problem: UpdateProblem) -> ApiError {
    match problem {
        UpdateProblem::HubTopic(topic) => ApiError::Forbidden {
            code: "reserved_topic",
            message: format!("{topic} is the hub's own: updates cannot be published there"),
        },
        other => ApiError::bad_request("invalid_update", other.to_string()),
    }
}

#[utoipa::path(
    post,
    path = "/.well-known/mercure",
    operation_id = "mercure_publish",
    tag = "mercure",
    description = "Mercure: publishes an update (a form: `topic`, one or more, the first the \
        canonical one; `data`; `private`, any value; `id`, refused if it starts with `#` or \
        another update holds it, `urn:uuid:…` when absent; `type`; `retry`). Needs a token \
        signed with `MERCURE_PUBLISHER_JWT_KEY` whose `mercure.publish` selectors match every \
        topic. Answers the update's id, once it is committed to the event log. Only while the \
        hub is on (`MERCURE_PUBLISHER_JWT_KEY`).",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "topic=…&topic=…&data=…&private=on&id=…&type=…&retry=…"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The update's id", body = String, content_type = "text/plain"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn publish(
    req: HttpRequest,
    hub: Option<web::Data<MercureHub>>,
    writer: web::Data<Writer>,
    notifier: web::Data<SseNotifier>,
    rate: web::Data<PublishRate>,
    auth: web::Data<Auth>,
    RequestBody(body): RequestBody,
) -> Result<HttpResponse, ApiError> {
    let hub = hub_on(hub)?;
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let Some((token, credential)) = token(&req, &query)? else {
        return Err(ApiError::Unauthorized(
            "publishing needs a token signed with MERCURE_PUBLISHER_JWT_KEY".to_owned(),
        ));
    };
    let grant = verified(&hub, &token, Role::Publisher)?;
    // A form post is a request any page may make, cookie included: one
    // signed in by the cookie alone must come from an origin Herald trusts.
    if credential == Credential::Cookie {
        check_origin(&req, &auth.origins)?;
    }
    if !form_type {
        return Err(ApiError::UnsupportedMediaType {
            expected: "application/x-www-form-urlencoded",
        });
    }
    let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let update = Update::parse(&fields).map_err(invalid)?;
    if !grant.may_publish(&update.topics) {
        return Err(ApiError::Forbidden {
            code: "topic_not_allowed",
            message: "the token's mercure.publish selectors do not match every topic of the update"
                .to_owned(),
        });
    }
    // A Mercure token seldom has a subject: its bearer is known by the token.
    let digest = Sha256::digest(token.as_bytes());
    let publisher: String = std::iter::once("mercure ".to_owned())
        .chain(digest[..16].iter().map(|byte| format!("{byte:02x}")))
        .collect();
    rate.admit(&publisher, "updates")?;
    let id = update.id.clone();
    mercure::publish(&writer, notifier.into_inner(), update).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(id))
}

#[utoipa::path(
    get,
    path = "/.well-known/mercure",
    operation_id = "mercure_subscribe",
    tag = "mercure",
    description = "Mercure: the updates of the `topic` selectors (topics, or URI templates that \
        select every topic they expand to, or `*`) as Server-Sent Events, never ending: `id:` \
        the update's id, `event:` its type, `retry:` its retry, a `data:` line per line of its \
        data. A private update only for a token whose `mercure.subscribe` selectors match one of \
        its topics. Resume with `Last-Event-ID` (or `lastEventID`; the header wins), or \
        `earliest` for everything retained; the response's `Last-Event-ID` names where the \
        stream goes on from (the id asked for, or, for an id the log does not hold, the newest \
        update this subscriber would have had, or `earliest`). Only while the hub is on.",
    params(
        ("topic" = Vec<String>, Query, style = Form, explode, description = "Selectors, at least one"),
        ("lastEventID" = Option<String>, Query, description = "Resume after this update (or `earliest`)"),
        ("authorization" = Option<String>, Query, description = "A subscriber token, when no header can carry it"),
        ("Last-Event-ID" = Option<String>, Header, nullable = false, description = "Resume after this update; wins over `lastEventID`"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The stream", body = String, content_type = "text/event-stream"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    ),
)]
#[tracing::instrument(skip_all)]
#[allow(clippy::too_many_arguments)]
pub async fn subscribe(
    req: HttpRequest,
    hub: Option<web::Data<MercureHub>>,
    reader: web::Data<Reader>,
    notifier: web::Data<SseNotifier>,
    admission: web::Data<StreamAdmission>,
    settings: web::Data<StreamSettings>,
) -> Result<HttpResponse, ApiError> {
    let hub = hub_on(hub)?;
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let grant = match token(&req, &query)? {
        Some((token, _)) => Some(verified(&hub, &token, Role::Subscriber)?),
        None if hub.anonymous => None,
        None => {
            return Err(ApiError::Unauthorized(
                "subscribing needs a token signed with MERCURE_SUBSCRIBER_JWT_KEY (this hub \
                 takes no anonymous subscribers)"
                    .to_owned(),
            ));
        }
    };
    let selectors: Vec<Selector> = query
        .iter()
        .filter(|(name, _)| name == "topic")
        .map(|(_, raw)| Selector::parse(raw))
        .collect();
    if selectors.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_topic",
            "missing \"topic\" parameter: name the topics (or URI templates) to follow",
        ));
    }
    if selectors.len() > MAX_TOPICS {
        return Err(ApiError::bad_request(
            "too_many_topics",
            format!("a subscription follows at most {MAX_TOPICS} topics"),
        ));
    }
    let filter = MercureFilter { selectors, grant };
    // The header wins over the query parameter, as for Herald's stream.
    let resume = req
        .headers()
        .get("Last-Event-ID")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            query
                .iter()
                .find(|(name, _)| name == "lastEventID")
                .map(|(_, value)| value.clone())
        });
    let (start, answer) = match resume.as_deref() {
        None => (Start::Live, None),
        Some("earliest") => (
            Start::After(Position { id: 0, tag: None }),
            Some("earliest".to_owned()),
        ),
        Some(id) => match reader.mercure_position(id).await? {
            Some(at) => (
                Start::After(Position { id: at, tag: None }),
                Some(id.to_owned()),
            ),
            // An id the log does not hold (never published here, or pruned):
            // the stream goes on from now, and the header names the newest
            // update this subscriber would have had, so that a client can
            // tell it missed what lies between.
            None => (Start::Live, Some(newest_for(&reader, &filter).await?)),
        },
    };
    let admitted = admission.into_inner().admit(None).map_err(refused)?;
    let presence = match &hub.presence {
        Some(presence) => {
            let subscriber = format!("urn:uuid:{}", uuid::Uuid::now_v7());
            let payload = filter.grant.as_ref().and_then(|g| g.payload.clone());
            let subscriptions: Vec<PresentSubscription> = filter
                .selectors
                .iter()
                .map(|s| PresentSubscription::new(&subscriber, s.as_str(), payload.clone()))
                .collect();
            let joined = presence.join(&subscriptions).await?;
            Some((presence.clone(), subscriptions, joined))
        }
        None => None,
    };
    // A subscriber that goes live does not receive its own arrival.
    let start = match (&presence, start) {
        (Some((_, _, joined)), Start::Live) => Start::After(Position {
            id: *joined,
            tag: None,
        }),
        (_, start) => start,
    };
    let expires_at = filter
        .grant
        .as_ref()
        .and_then(|grant| grant.expires_at)
        .and_then(|exp| chrono::DateTime::from_timestamp(exp, 0));
    let opening = Opening {
        filter: StreamFilter::Mercure(filter),
        start,
        retry: settings.retry,
        admitted,
        expires_at,
        local: Some(notifier.local_wakers()),
    };
    let subscription = Subscription::open(notifier.into_inner(), opening).await?;
    let body = Present {
        stream: subscription,
        leave: presence.map(|(presence, subscriptions, _)| (presence, subscriptions)),
    };
    Ok(event_stream(
        "private, no-cache, no-store, must-revalidate, max-age=0",
        answer.and_then(|a| HeaderValue::from_str(&a).ok()),
        body,
    ))
}

/// A stream, listed by the subscriptions API while it is open when the hub
/// keeps presence (`leave`).
struct Present {
    stream: Subscription,
    leave: Option<(Presence, Vec<PresentSubscription>)>,
}

impl futures_util::Stream for Present {
    type Item = <Subscription as futures_util::Stream>::Item;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_next(cx)
    }
}

impl Drop for Present {
    fn drop(&mut self) {
        if let Some((presence, subscriptions)) = self.leave.take() {
            // Dropped on a server worker, which runs tasks.
            tokio::spawn(async move {
                if let Err(error) = presence.leave(&subscriptions).await {
                    tracing::warn!(%error, "could not record a Mercure subscriber leaving");
                }
            });
        }
    }
}

const SUBSCRIPTIONS_ABOUT: &str = "Mercure's subscriptions API (when \
    `MERCURE_SUBSCRIPTIONS=1`): who is subscribed to what, on every instance, as JSON-LD, with \
    `lastEventID` the newest update (subscribe to subscription events from it to follow every \
    change). Needs a subscriber token whose `mercure.subscribe` selectors match the path.";

#[utoipa::path(get, path = "/.well-known/mercure/subscriptions", operation_id = "mercure_subscriptions",
    tag = "mercure", description = SUBSCRIPTIONS_ABOUT, security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscriptions", body = Object, content_type = "application/ld+json"),
        (status = 304, description = "Unchanged since the `If-None-Match` given"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ))]
pub async fn all_subscriptions(
    req: HttpRequest,
    hub: Option<web::Data<MercureHub>>,
    reader: web::Data<Reader>,
) -> Result<HttpResponse, ApiError> {
    subscriptions(req, hub, reader).await
}

#[utoipa::path(get, path = "/.well-known/mercure/subscriptions/{topic}",
    operation_id = "mercure_topic_subscriptions", tag = "mercure", description = SUBSCRIPTIONS_ABOUT,
    params(("topic" = String, Path, description = "A selector, query-escaped")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscriptions of this selector", body = Object, content_type = "application/ld+json"),
        (status = 304, description = "Unchanged since the `If-None-Match` given"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ))]
pub async fn topic_subscriptions(
    req: HttpRequest,
    hub: Option<web::Data<MercureHub>>,
    reader: web::Data<Reader>,
) -> Result<HttpResponse, ApiError> {
    subscriptions(req, hub, reader).await
}

#[utoipa::path(get, path = "/.well-known/mercure/subscriptions/{topic}/{subscriber}",
    operation_id = "mercure_subscription", tag = "mercure", description = SUBSCRIPTIONS_ABOUT,
    params(
        ("topic" = String, Path, description = "A selector, query-escaped"),
        ("subscriber" = String, Path, description = "A subscriber's id, query-escaped"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription", body = Object, content_type = "application/ld+json"),
        (status = 304, description = "Unchanged since the `If-None-Match` given"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ))]
pub async fn subscription(
    req: HttpRequest,
    hub: Option<web::Data<MercureHub>>,
    reader: web::Data<Reader>,
) -> Result<HttpResponse, ApiError> {
    subscriptions(req, hub, reader).await
}

/// Who is subscribed to what, as JSON-LD: every subscription, a
/// selector's, or one.
#[tracing::instrument(skip_all)]
async fn subscriptions(
    req: HttpRequest,
    hub: Option<web::Data<MercureHub>>,
    reader: web::Data<Reader>,
) -> Result<HttpResponse, ApiError> {
    let hub = hub_on(hub)?;
    if hub.presence.is_none() {
        return Err(ApiError::RouteNotFound);
    }
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let Some((token, _)) = token(&req, &query)? else {
        return Err(ApiError::Unauthorized(
            "the subscriptions API needs a token signed with MERCURE_SUBSCRIBER_JWT_KEY".to_owned(),
        ));
    };
    let grant = verified(&hub, &token, Role::Subscriber)?;
    let path = req.path();
    if !grant.subscribe.iter().any(|s| s.matches(path)) {
        return Err(ApiError::Forbidden {
            code: "topic_not_allowed",
            message: "the token's mercure.subscribe selectors do not match this path".to_owned(),
        });
    }
    let decode = |segment: &str| -> String {
        form_urlencoded::parse(format!("v={segment}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    let rest = path
        .strip_prefix(&subscriptions_path())
        .unwrap_or_default()
        .trim_start_matches('/');
    let mut segments = rest.split('/').filter(|s| !s.is_empty());
    let listing = Listing {
        topic: segments.next().map(decode),
        subscriber: segments.next().map(decode),
    };
    if segments.next().is_some() {
        return Err(ApiError::RouteNotFound);
    }
    let (found, last_event_id) = reader.mercure_subscriptions(&listing).await?;
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tag| tag.as_bytes() == last_event_id.as_bytes())
    {
        return Ok(HttpResponse::NotModified().finish());
    }
    let body = if listing.subscriber.is_some() {
        let Some(one) = found.first() else {
            return Err(ApiError::Store(db::Error::RowNotFound {
                table: "mercure_subscriptions".to_owned(),
                key: path.to_owned(),
            }));
        };
        let mut document = one.linked_document(true);
        if let Some(object) = document.as_object_mut() {
            object.insert("lastEventID".to_owned(), serde_json::json!(last_event_id));
        }
        document
    } else {
        serde_json::json!({
            "@context": "https://mercure.rocks/",
            "id": req.uri().to_string(),
            "type": "Subscriptions",
            "lastEventID": last_event_id,
            "subscriptions": found.iter().map(|s| s.document(true)).collect::<Vec<_>>(),
        })
    };
    Ok(HttpResponse::Ok()
        .content_type("application/ld+json")
        .insert_header((header::ETAG, last_event_id))
        .body(body.to_string()))
}

/// The id of the newest retained update `filter` takes, or `earliest`.
async fn newest_for(reader: &Reader, filter: &MercureFilter) -> Result<String, db::Error> {
    Ok(reader
        .newest_mercure_updates(LOOK_BACK)
        .await?
        .into_iter()
        .map(SharedUpdate::new)
        .find(|shared| filter.accepts(shared))
        .map_or_else(|| "earliest".to_owned(), |shared| shared.update.id))
}
