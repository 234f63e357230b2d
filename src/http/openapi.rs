//! `GET /openapi.json`: the OpenAPI 3.1 document of this API, generated from
//! the handlers' `#[utoipa::path]` annotations and the types they send, and
//! serialized once at start-up.

use actix_web::{HttpResponse, web};
use bytes::Bytes;
use serde_json::json;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToResponse, ToSchema};

use super::auth::SESSION_COOKIE;
use super::error_response::ErrorBody;
use super::head_limits::{MAX_HEADERS, MAX_REQUEST_LINE};
use super::json_body::BODY_LIMIT;
use super::{client_module, notifications, operations, page, session, stream, users};
use crate::domain::{MAX_DATA_BYTES, NewNotification, NewUser, UserPatch};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "Users CRUD whose every committed write streams live over Server-Sent \
            Events, replayable with `Last-Event-ID`.\n\n\
            With `JWT_SECRET` set every API request needs a token (HS256 JWT, made with \
            `herald token`) granting the scope the operation names; without it Herald runs \
            open, on loopback only, and needs no credentials.",
    ),
    paths(
        users::list,
        users::create,
        users::get,
        users::patch,
        users::replace,
        users::delete,
        notifications::publish,
        session::sign_in,
        session::sign_out,
        stream::stream,
        operations::healthz,
        operations::readyz,
        operations::metrics,
        page::index,
        page::script,
        page::stylesheet,
        client_module::module,
        document,
    ),
    components(
        schemas(ErrorBody),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            PreconditionFailed,
            PayloadTooLarge,
            UriTooLong,
            UnsupportedMediaType,
            UnprocessableEntity,
            TooManyRequests,
            HeadersTooLarge,
            ServiceUnavailable,
        )
    ),
    modifiers(&SecuritySchemes, &HeadLimits, &StreamAlias),
    tags(
        (name = "users", description = "Users, whose every change is an event"),
        (name = "notifications", description = "Messages servers push through the event log"),
        (name = "session", description = "The cookie a browser's `EventSource` signs in with"),
        (name = "stream", description = "The event stream (Server-Sent Events)"),
        (name = "operations", description = "What operators and tools poll"),
        (name = "page", description = "The live users page"),
    ),
)]
struct ApiDoc;

/// The document as served: built once, shared by every request.
pub struct OpenApiDocument(Bytes);

impl OpenApiDocument {
    pub fn build() -> serde_json::Result<Self> {
        ApiDoc::openapi().to_json().map(|json| Self(json.into()))
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub async fn document(document: web::Data<OpenApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}

/// The ways to present a token, under the names operations give them in
/// `security(...)`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "`Authorization: Bearer <token>`: an HS256 JWT signed with `JWT_SECRET` \
                         (`herald token --sub <subject> --scope … --topics …`). Its `scope` \
                         claim grants `users:read`, `users:write` and `events:publish`; its \
                         `topics` claim the topics its streams may follow.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie `POST /api/v1/session` sets, holding the same token: how a \
                 browser's `EventSource` authenticates. A write signed in by cookie must come \
                 from Herald's own page or an origin in `CORS_ALLOWED_ORIGINS`.",
            ))),
        );
        components.add_security_scheme(
            "access_token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "access_token",
                "`?access_token=<token>`, on the stream only: for a cross-origin \
                 `EventSource`, which can send neither headers nor cookies.",
            ))),
        );
    }
}

/// Every request passes through `refuse_oversized_heads`, whatever its route.
struct HeadLimits;

impl Modify for HeadLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_of(item) {
                let responses = &mut operation.responses.responses;
                responses.insert("414".into(), reference::<UriTooLong>());
                responses.insert("431".into(), reference::<HeadersTooLarge>());
            }
        }
    }
}

fn operations_of(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The stream answers on `/events` too: the same operation under an id of
/// its own (operation ids are unique).
struct StreamAlias;

impl Modify for StreamAlias {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let paths = &mut openapi.paths.paths;
        let Some(mut alias) = paths.get("/api/sse/stream").cloned() else {
            return;
        };
        if let Some(operation) = alias.get.as_mut() {
            operation.operation_id = Some("stream_events".into());
            operation.summary = Some("The event stream, as `/api/sse/stream`".into());
        }
        paths.insert("/events".into(), alias);
    }
}

fn reference<'r, R: ToResponse<'r>>() -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(R::response().0))
}

/// Error responses, each `{"error": {"code", "message", "details"}}`, shared
/// by the operations that can give them; the description lists the codes.
macro_rules! error_responses {
    ($($name:ident: $description:expr $(, header $header:literal = $about:literal)?;)+) => {$(
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                let content = ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                    .build();
                let response = ResponseBuilder::new()
                    .description($description)
                    .content("application/json", content)
                    $(.header(
                        $header,
                        HeaderBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                            .description(Some($about))
                            .build(),
                    ))?
                    .build();
                (stringify!($name), response.into())
            }
        }
    )+};
}

error_responses! {
    BadRequest: "The request cannot be read. `code`: `malformed_json` (the body is not JSON), \
        `invalid_id` (the path's id is not a UUID), `invalid_limit`, `invalid_cursor`, \
        `invalid_query` (list parameters), `invalid_topic`, `too_many_topics`, \
        `invalid_last_event_id` (stream parameters), `invalid_idempotency_key`.";
    Unauthorized: "No valid token: missing, malformed, badly signed or expired \
        (`code`: `unauthorized`). Only when Herald runs with `JWT_SECRET`.",
        header "WWW-Authenticate" = "`Bearer`";
    Forbidden: "The token does not allow this. `code`: `insufficient_scope` (the token lacks \
        the scope), `topic_not_allowed` (a stream topic the token does not grant), \
        `reserved_topic` (`users/…` carries data changes only), `origin_not_allowed` (a write \
        signed in by cookie from a foreign page).";
    NotFound: "No user has this id (`code`: `not_found`).";
    Conflict: "`duplicate`: another user has this `user_name` or `email` (`details.field` \
        says which); `idempotency_key_in_progress`: a request with this `Idempotency-Key` is \
        still running, retry shortly.";
    PreconditionFailed: "`If-Match` does not name the user's current version \
        (`code`: `precondition_failed`, `details.current_version`); nothing changed.";
    PayloadTooLarge: format!("The body is larger than {BODY_LIMIT} bytes, or a notification's \
        `data` is larger than {MAX_DATA_BYTES} bytes as JSON (`code`: `payload_too_large`, \
        `details.limit_bytes`).");
    UriTooLong: format!("The request line is longer than {MAX_REQUEST_LINE} bytes \
        (`code`: `uri_too_long`, `details.limit_bytes`).");
    UnsupportedMediaType: "The body is not sent as `application/json` \
        (`code`: `unsupported_media_type`).";
    UnprocessableEntity: "`validation_failed`: invalid, missing or unknown fields, or a body \
        that is not a JSON object (`details.fields` has a message per field); \
        `idempotency_key_reused`: this `Idempotency-Key` came with a different request.";
    TooManyRequests: "This token already holds as many open streams as it may, or has \
        published as many notifications this minute as it may (`code`: `too_many_requests`).",
        header "Retry-After" = "Seconds to wait before retrying";
    HeadersTooLarge: format!("The request headers are larger than {MAX_HEADERS} bytes in all \
        (`code`: `headers_too_large`, `details.limit_bytes`).");
    ServiceUnavailable: "Retry later. `code`: `database_unavailable` (the database cannot be \
        reached, has no schema, or asked for a retry), `storage_full` (the database's disk is \
        full or below `MIN_FREE_DISK_MB`), `overloaded` (too many writes queued), \
        `server_busy` (the server holds as many streams as it may).",
        header "Retry-After" = "Seconds to wait before retrying";
}

// Request bodies are parsed by hand from a JSON object (`JsonObject`), so
// that every problem is reported per field at once; these schemas say what
// those parsers accept.

/// `user_name`, `email` and `display_name` as a body may set them.
fn user_fields() -> ObjectBuilder {
    let object = ObjectBuilder::new()
        .property(
            "user_name",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(3))
                .max_length(Some(32))
                .pattern(Some(r"^[A-Za-z0-9_.-]+$"))
                .description(Some(
                    "3–32 ASCII letters, digits, `_`, `.` or `-`; unique ignoring case.",
                ))
                .examples(["ada"]),
        )
        .property(
            "email",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(254))
                // Local part, labels, and a last label with a letter in it; the
                // lengths are left to the description (lookaheads, which would
                // say them, defeat tools that generate values from patterns).
                .pattern(Some(concat!(
                    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
                    r"@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+",
                    r"([A-Za-z0-9]+-+)*[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*(-+[A-Za-z0-9]+)*$",
                )))
                .description(Some(
                    "An address such as `name@example.com`: a local part of at most 64 \
                     characters, labels of at most 63, the last not all digits. Unique \
                     ignoring case; the spelling sent is kept.",
                ))
                .examples(["ada@example.com"]),
        )
        .property(
            "display_name",
            ObjectBuilder::new()
                .schema_type(
                    [Type::String, Type::Null]
                        .into_iter()
                        .collect::<SchemaType>(),
                )
                .min_length(Some(1))
                .max_length(Some(100))
                .pattern(Some(
                    r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
                ))
                .description(Some(
                    "Up to 100 characters, not blank, without control characters; `null` \
                     clears it.",
                ))
                .examples(["Ada Lovelace"]),
        );
    ["id", "version", "created_at", "updated_at"]
        .into_iter()
        .fold(object, |object, field| {
            object.property(
                field,
                ObjectBuilder::new()
                    .schema_type(SchemaType::AnyValue)
                    .read_only(true)
                    .description(Some(
                        "Ignored, so that a client can send back the user it fetched.",
                    )),
            )
        })
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
}

impl PartialSchema for NewUser {
    fn schema() -> RefOr<Schema> {
        user_fields()
            .required("user_name")
            .required("email")
            .examples([json!({
                "user_name": "ada",
                "email": "ada@example.com",
                "display_name": "Ada Lovelace",
            })])
            .description(Some(
                "A new user (POST), or the whole of a user to replace it with (PUT: an \
                 absent `display_name` is cleared). Unknown fields are refused.",
            ))
            .into()
    }
}

impl ToSchema for NewUser {}

impl PartialSchema for UserPatch {
    fn schema() -> RefOr<Schema> {
        user_fields()
            .examples([json!({"display_name": "Countess of Lovelace"})])
            .description(Some(
                "The fields to change; an absent field is left alone. `user_name` and \
                 `email` cannot be null. Unknown fields are refused.",
            ))
            .into()
    }
}

impl ToSchema for UserPatch {}

impl PartialSchema for NewNotification {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property(
                "topic",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(200))
                    .pattern(Some(r"^[A-Za-z0-9_.:-]+(/[A-Za-z0-9_.:-]+)*$"))
                    .description(Some(
                        "Where to publish: 1–200 letters, digits and `/ _ - . :`, without \
                         empty segments between slashes, such as `inbox/alice`, `broadcast` \
                         or `news/sports`. `users` and `users/…` carry data changes only \
                         (`403 reserved_topic`).",
                    ))
                    .examples(["inbox/alice"]),
            )
            .property(
                "event",
                ObjectBuilder::new()
                    .schema_type(
                        [Type::String, Type::Null]
                            .into_iter()
                            .collect::<SchemaType>(),
                    )
                    .min_length(Some(1))
                    .max_length(Some(64))
                    .pattern(Some(r"^[A-Za-z0-9_.-]+$"))
                    .description(Some(
                        "The SSE `event:` name subscribers receive it as (for \
                         `addEventListener`): 1–64 letters, digits, `_ - .`, other than \
                         Herald's own `message`, `notification`, `reset`, `auth_expired`, \
                         `user_created`, `user_updated` and `user_deleted`, and `EventSource`'s \
                         `error` and `open`. Absent or `null`: \
                         a default `message` event whose envelope says `notification`.",
                    ))
                    .examples(["psh"]),
            )
            .property(
                "data",
                ObjectBuilder::new()
                    .schema_type(SchemaType::AnyValue)
                    .description(Some(format!(
                        "Any JSON value, at most {MAX_DATA_BYTES} bytes as JSON: the \
                         envelope's `data`."
                    ))),
            )
            .required("topic")
            .required("data")
            .examples([json!({"topic": "inbox/alice", "event": "psh", "data": {"text": "hello"}})])
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some("A message to publish. Unknown fields are refused."))
            .into()
    }
}

impl ToSchema for NewNotification {}

#[cfg(test)]
mod tests {
    use regex::Regex;
    use utoipa::PartialSchema;
    use utoipa::openapi::{RefOr, schema::Schema};

    use crate::domain::{DisplayName, Email, NewUser, UserName};

    /// The pattern the document gives a property of `NewUser`.
    fn pattern(property: &str) -> Regex {
        let RefOr::T(Schema::Object(user)) = NewUser::schema() else {
            panic!("NewUser is not an object schema");
        };
        match user.properties.get(property) {
            Some(RefOr::T(Schema::Object(field))) => {
                Regex::new(field.pattern.as_deref().unwrap_or_default())
                    .unwrap_or_else(|e| panic!("{property}: {e}"))
            }
            _ => panic!("no property {property}"),
        }
    }

    /// The patterns restate the parsers' rules: what a parser accepts must
    /// match, and what the pattern can tell is wrong must be refused.
    fn agree(
        property: &str,
        parse: fn(&str) -> Result<(), String>,
        valid: &[&str],
        invalid: &[&str],
    ) {
        let pattern = pattern(property);
        for value in valid {
            assert!(parse(value).is_ok(), "{property}: {value:?} should parse");
            assert!(
                pattern.is_match(value),
                "{property}: {value:?} should match"
            );
        }
        for value in invalid {
            assert!(
                parse(value).is_err(),
                "{property}: {value:?} should not parse"
            );
            assert!(
                !pattern.is_match(value),
                "{property}: {value:?} should not match"
            );
        }
    }

    #[test]
    fn the_documented_patterns_agree_with_the_parsers() {
        agree(
            "user_name",
            |v| UserName::parse(v).map(drop),
            &["ada", "grace.hopper", "x_y-z", "Ada_1"],
            &[
                "has space",
                "semi;colon",
                "emoji🙂x",
                "tab\tx",
                "Zoë",
                "аdmin",
                "ａｄｍ",
            ],
        );
        agree(
            "email",
            |v| Email::parse(v).map(drop),
            &[
                "a@b.co",
                "first.last+tag@sub.example.org",
                "X_Y@EXAMPLE.COM",
                "a@b.c0m",
                "x@1-a.2-b",
            ],
            &[
                "plain",
                "@example.com",
                "a@",
                "a@b",
                "a@.com",
                "a..b@c.com",
                "a b@c.com",
                "a@-b.com",
                "a@1.2",
                ".a@b.co",
                "a@b.co-",
            ],
        );
        agree(
            "display_name",
            |v| DisplayName::parse(v).map(drop),
            &["Ada Lovelace", " x ", "é"],
            &["", "   ", "line\nbreak", "bell\u{7}", "c1\u{85}"],
        );
    }
}
