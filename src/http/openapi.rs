//! `GET /openapi.json`: the OpenAPI 3.1 document of this API, generated from
//! the handlers' `#[utoipa::path]` annotations and the types they send, and
//! serialized once at start-up.

use actix_web::{HttpResponse, web};
use bytes::Bytes;
use serde_json::json;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Response};
use utoipa::{Modify, OpenApi, PartialSchema, ToResponse, ToSchema};

use super::auth::SESSION_COOKIE;
use super::error::{
    BadRequest, Conflict, ErrorBody, Forbidden, HeadersTooLarge, NotFound, PayloadTooLarge,
    PreconditionFailed, ServiceUnavailable, TooManyRequests, Unauthorized, UnprocessableEntity,
    UnsupportedMediaType, UriTooLong,
};
use super::{
    client_module, live_page, mercure, notifications, operations, session, stream, tables, users,
};
use crate::domain::{
    DisplayName, Email, EventName, MAX_DATA_BYTES, NewNotification, NewUser, Topic, UserName,
    UserPatch,
};

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
        tables::list,
        tables::get,
        mercure::publish,
        mercure::subscribe,
        mercure::all_subscriptions,
        mercure::topic_subscriptions,
        mercure::subscription,
        session::sign_in,
        session::sign_out,
        stream::stream,
        operations::healthz,
        operations::readyz,
        operations::metrics,
        live_page::index,
        live_page::script,
        live_page::stylesheet,
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
        (name = "tables", description = "Snapshots of live tables (`herald watch`)"),
        (name = "notifications", description = "Messages servers push through the event log"),
        (name = "mercure", description = "A Mercure hub on the event log (when `MERCURE_PUBLISHER_JWT_KEY` is set)"),
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
                .min_length(Some(UserName::MIN_LEN))
                .max_length(Some(UserName::MAX_LEN))
                .pattern(Some(r"^[A-Za-z0-9_.-]+$"))
                .description(Some(format!(
                    "{}–{} ASCII letters, digits, `_`, `.` or `-`; unique ignoring case.",
                    UserName::MIN_LEN,
                    UserName::MAX_LEN
                )))
                .examples(["ada"]),
        )
        .property(
            "email",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(Email::MAX_LEN))
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
                .max_length(Some(DisplayName::MAX_LEN))
                .pattern(Some(
                    r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
                ))
                .description(Some(format!(
                    "Up to {} characters, not blank, without control characters; `null` \
                     clears it.",
                    DisplayName::MAX_LEN
                )))
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
                    .max_length(Some(Topic::MAX_LEN))
                    .pattern(Some(r"^[A-Za-z0-9_.:-]+(/[A-Za-z0-9_.:-]+)*$"))
                    .description(Some(format!(
                        "Where to publish: 1–{} letters, digits and `/ _ - . :`, without \
                         empty segments between slashes, such as `inbox/alice`, `broadcast` \
                         or `news/sports`. `users` and `users/…` carry data changes only \
                         (`403 reserved_topic`).",
                        Topic::MAX_LEN
                    )))
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
                    .max_length(Some(EventName::MAX_LEN))
                    .pattern(Some(r"^[A-Za-z0-9_.-]+$"))
                    .description(Some(format!(
                        "The SSE `event:` name subscribers receive it as (for \
                         `addEventListener`): 1–{} letters, digits, `_ - .`, other than the \
                         names Herald gives its own events and those `EventSource` fires \
                         itself: {}. Absent or `null`: a default `message` event whose \
                         envelope says `notification`.",
                        EventName::MAX_LEN,
                        EventName::RESERVED
                            .map(|name| format!("`{name}`"))
                            .join(", ")
                    )))
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
    use serde_json::Value;
    use utoipa::PartialSchema;
    use utoipa::openapi::{RefOr, schema::Schema};

    use super::ApiDoc;
    use crate::domain::{DisplayName, Email, EventName, NewUser, Topic, UserName};
    use crate::http::limits::{MAX_IDEMPOTENCY_KEY, MAX_PAGE};
    use crate::sse::Position;

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

    /// The document as served, as JSON.
    fn document() -> Value {
        let json = <ApiDoc as utoipa::OpenApi>::openapi()
            .to_json()
            .unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An email address of exactly `n` characters (7 at least): the
    /// longest local part the parser allows, then labels of at most 63.
    fn email_of(n: usize) -> String {
        let local = "l".repeat((n - 6).min(64));
        let mut left = n - local.len() - "@.com".len();
        let mut labels = Vec::new();
        while left > 63 {
            // Leave room for the dot and at least one more character.
            let label = 63.min(left - 2);
            labels.push("d".repeat(label));
            left -= label + 1;
        }
        labels.push("d".repeat(left));
        format!("{local}@{}.com", labels.join("."))
    }

    /// A schema's `minLength` and `maxLength` are where its parser starts
    /// refusing: a value as long as the limit parses, one past it does not.
    fn limits_agree(
        schema: &Value,
        parse: fn(&str) -> bool,
        of_length: fn(usize) -> String,
        name: &str,
    ) {
        let as_usize = |v: &Value| v.as_u64().and_then(|n| usize::try_from(n).ok());
        let max = as_usize(&schema["maxLength"]).unwrap_or_else(|| panic!("{name}: no maxLength"));
        assert_eq!(of_length(max).chars().count(), max, "{name}: generator");
        assert!(
            parse(&of_length(max)),
            "{name}: {max} characters should parse"
        );
        assert!(
            !parse(&of_length(max + 1)),
            "{name}: {} characters should not",
            max + 1
        );
        if let Some(min) = as_usize(&schema["minLength"]).filter(|min| *min > 1) {
            assert!(
                parse(&of_length(min)),
                "{name}: {min} characters should parse"
            );
            assert!(
                !parse(&of_length(min - 1)),
                "{name}: {} should not",
                min - 1
            );
        }
    }

    #[test]
    fn every_documented_limit_is_the_parsers() {
        let document = document();
        let schemas = &document["components"]["schemas"];
        let user = &schemas["NewUser"]["properties"];
        limits_agree(
            &user["user_name"],
            |v| UserName::parse(v).is_ok(),
            |n| "u".repeat(n),
            "user_name",
        );
        limits_agree(
            &user["email"],
            |v| Email::parse(v).is_ok(),
            email_of,
            "email",
        );
        limits_agree(
            &user["display_name"],
            |v| DisplayName::parse(v).is_ok(),
            |n| "d".repeat(n),
            "display_name",
        );
        assert_eq!(
            schemas["UserPatch"]["properties"], *user,
            "a patch takes the same fields"
        );
        let notification = &schemas["NewNotification"]["properties"];
        limits_agree(
            &notification["topic"],
            |v| Topic::parse(v).is_ok(),
            |n| "t".repeat(n),
            "topic",
        );
        limits_agree(
            &notification["event"],
            |v| EventName::parse(v).is_ok(),
            |n| "e".repeat(n),
            "event",
        );
        for reserved in EventName::RESERVED {
            let description = notification["event"]["description"]
                .as_str()
                .unwrap_or_default();
            assert!(
                description.contains(&format!("`{reserved}`")),
                "{reserved} is not documented"
            );
        }

        let parameter = |path: &str, method: &str, name: &str| -> Value {
            document["paths"][path][method]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == name)
                .map(|p| p["schema"].clone())
                .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
        };
        let limit = parameter("/api/v1/users", "get", "limit");
        assert_eq!(limit["maximum"], MAX_PAGE, "{limit}");
        let key = parameter("/api/v1/notifications", "post", "Idempotency-Key");
        assert_eq!(key["maxLength"], MAX_IDEMPOTENCY_KEY, "{key}");
        let resume = parameter("/api/sse/stream", "get", "last_event_id");
        let pattern = Regex::new(resume["pattern"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
        for position in ["0", "17", "17.9f3a01bc", "17.9F3A01BC"] {
            assert!(Position::parse(position).is_some(), "{position}");
            assert!(pattern.is_match(position), "{position}");
        }
        for not_one in ["", "-1", "17.", "17.9f3a01b", "17.9f3a01bcd", "x"] {
            assert!(Position::parse(not_one).is_none(), "{not_one}");
            assert!(!pattern.is_match(not_one), "{not_one}");
        }
    }
}
