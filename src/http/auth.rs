//! Who is calling: the principal of a request, from its bearer token, its
//! session cookie or (on the stream only) its `access_token` parameter.

use std::future::{Ready, ready};
use std::marker::PhantomData;

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, web};

use super::error::ApiError;
use crate::auth::{Credential, Principal, Scope, TokenKeys};
use crate::config::CorsOrigins;

/// The cookie `POST /api/v1/session` sets: how a browser's `EventSource`,
/// which cannot send headers, authenticates.
pub const SESSION_COOKIE: &str = "herald_session";

/// How requests are authenticated.
pub struct Auth {
    /// `None`: Herald runs open and every request may do everything.
    pub keys: Option<TokenKeys>,
    /// Origins besides Herald's own that may write with the session cookie.
    pub origins: CorsOrigins,
}

/// The principal of an API request: from `Authorization: Bearer` or the
/// session cookie.
pub struct Caller(pub Principal);

/// A caller whose token grants the scope `S` names; anything else is
/// refused (`401`/`403`) before the request body is read.
pub struct Authorized<S: Needs>(pub Principal, PhantomData<S>);

/// A scope an endpoint needs, as a type, so that no handler can forget it.
pub trait Needs {
    const SCOPE: Scope;
}

/// `users:read`
pub struct ReadUsers;
/// `users:write`
pub struct WriteUsers;
/// `events:publish`
pub struct Publish;

impl Needs for ReadUsers {
    const SCOPE: Scope = Scope::UsersRead;
}

impl Needs for WriteUsers {
    const SCOPE: Scope = Scope::UsersWrite;
}

impl Needs for Publish {
    const SCOPE: Scope = Scope::EventsPublish;
}

impl<S: Needs> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let authorized = authenticate(req, false).and_then(|principal| {
            principal
                .require(S::SCOPE)
                .map(|()| principal)
                .map_err(ApiError::from)
        });
        ready(authorized.map(|principal| Self(principal, PhantomData)))
    }
}

/// The principal of a stream: also from `?access_token=`, for cross-origin
/// `EventSource`s, which can send neither headers nor cookies.
pub struct StreamCaller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req, false).map(Self))
    }
}

impl FromRequest for StreamCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req, true).map(Self))
    }
}

fn authenticate(req: &HttpRequest, from_query: bool) -> Result<Principal, ApiError> {
    let Some(auth) = req.app_data::<web::Data<Auth>>() else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "authentication is not configured"
        )));
    };
    let Some(keys) = &auth.keys else {
        return Ok(Principal::open());
    };
    let (token, credential) = credential(req, from_query)?;
    let principal = keys
        .verify(&token)
        .map_err(|problem| ApiError::Unauthorized(problem.to_string()))?
        .via(credential);
    if credential == Credential::Cookie && !is_safe(req.method()) {
        check_origin(req, &auth.origins)?;
    }
    Ok(principal)
}

/// The token a request carries, and where it came from.
fn credential(req: &HttpRequest, from_query: bool) -> Result<(String, Credential), ApiError> {
    // Two credentials would leave it to each proxy and server along the way
    // to pick one, and they need not pick the same.
    if req
        .headers()
        .get_all(header::AUTHORIZATION)
        .nth(1)
        .is_some()
    {
        return Err(ApiError::bad_request(
            "invalid_authorization",
            "a request carries at most one Authorization header",
        ));
    }
    if req.headers().contains_key(header::AUTHORIZATION) {
        return bearer_token(req)
            .map(|token| (token.to_owned(), Credential::Bearer))
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
            });
    }
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        return Ok((cookie.value().to_owned(), Credential::Cookie));
    }
    if from_query && let Some(token) = query_token(req.query_string()) {
        return Ok((token, Credential::Query));
    }
    Err(ApiError::Unauthorized(
        "a token is required: send `Authorization: Bearer <token>`, or sign in with POST /api/v1/session"
            .into(),
    ))
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    // The scheme is case-insensitive (RFC 9110, section 11.1).
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn query_token(query: &str) -> Option<String> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .ok()?
        .into_inner()
        .into_iter()
        .find_map(|(name, value)| (name == "access_token").then_some(value))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A cookie goes with every request the browser makes to Herald, whichever
/// page asks: a write on the strength of the cookie alone must come from
/// Herald's own page or from a listed origin.
pub fn check_origin(req: &HttpRequest, allowed: &CorsOrigins) -> Result<(), ApiError> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok());
    // The host the client addressed: `Host` over HTTP/1.1, the request's
    // authority over HTTP/2 (which has no `Host` header), or what a proxy
    // in front passed on (`Forwarded`, `X-Forwarded-Host`). A page's own
    // script cannot forge these for a cross-site request: they are not
    // headers a browser lets it set without a CORS preflight.
    let info = req.connection_info();
    let own = normalized_origin(info.scheme(), info.host());
    let same_origin = origin
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(scheme, host)| normalized_origin(scheme, host) == own);
    let listed = match (allowed, origin) {
        (CorsOrigins::List(list), Some(origin)) => list.iter().any(|o| o == origin),
        _ => false,
    };
    if same_origin || listed {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            code: "origin_not_allowed",
            message: format!(
                "a write signed in by cookie must come from this server's own page or a listed origin, not {}",
                origin.unwrap_or("a request without an Origin header")
            ),
        })
    }
}

/// `scheme://host[:port]` in lower case and without the scheme's default
/// port, as browsers write `Origin`: an origin is its scheme, host and port,
/// and a page served over plain HTTP is not the HTTPS page of the same host.
fn normalized_origin(scheme: &str, host: &str) -> String {
    let scheme = scheme.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => "",
    };
    let host = match host.strip_suffix(default_port) {
        Some(bare) if !default_port.is_empty() => bare,
        _ => host.as_str(),
    };
    format!("{scheme}://{host}")
}

/// The session cookie for `token`, living as long as the token does.
pub fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_owned())
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .max_age(time::Duration::seconds(max_age_secs.max(0)))
        .finish()
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn write_from(origin: &str, request: TestRequest) -> Result<(), ApiError> {
        let req = request
            .insert_header((header::ORIGIN, origin))
            .to_http_request();
        check_origin(&req, &CorsOrigins::None)
    }

    #[test]
    fn a_cookie_write_must_come_from_the_host_the_client_addressed() {
        let http1 = || {
            TestRequest::post()
                .uri("/api/v1/users")
                .insert_header((header::HOST, "herald.example:8443"))
        };
        // A plain-HTTP request (the test request has no TLS): its page's
        // origin is http://…, never https://….
        assert!(write_from("http://herald.example:8443", http1()).is_ok());
        assert!(write_from("http://HERALD.example:8443", http1()).is_ok());
        assert!(write_from("https://herald.example:8443", http1()).is_err());
        assert!(write_from("http://evil.example", http1()).is_err());
        assert!(write_from("http://herald.example", http1()).is_err());
        // HTTP/2 has no Host header: the authority is part of the request.
        let http2 = || TestRequest::post().uri("https://herald.example:8443/api/v1/users");
        assert!(write_from("https://herald.example:8443", http2()).is_ok());
        assert!(write_from("https://evil.example", http2()).is_err());
        // A default port is the same origin written with or without it.
        let default_port = || {
            TestRequest::post()
                .uri("/api/v1/users")
                .insert_header((header::HOST, "herald.example:80"))
        };
        assert!(write_from("http://herald.example", default_port()).is_ok());
        // Behind a TLS-terminating proxy that says so, the page is https.
        let proxied = || {
            TestRequest::post()
                .uri("/api/v1/users")
                .insert_header((header::HOST, "herald.example"))
                .insert_header(("x-forwarded-proto", "https"))
        };
        assert!(write_from("https://herald.example", proxied()).is_ok());
        assert!(write_from("http://herald.example", proxied()).is_err());
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for header in ["Bearer abc", "bearer abc", "BEARER  abc "] {
            let req = TestRequest::get()
                .insert_header((header::AUTHORIZATION, header))
                .to_http_request();
            assert_eq!(bearer_token(&req), Some("abc"), "{header}");
        }
        let basic = TestRequest::get()
            .insert_header((header::AUTHORIZATION, "Basic abc"))
            .to_http_request();
        assert_eq!(bearer_token(&basic), None);
    }
}
