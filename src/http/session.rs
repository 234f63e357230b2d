//! `/api/v1/session`: trades a bearer token for the session cookie a
//! browser's `EventSource` and `fetch` then send by themselves.

use actix_web::cookie::Cookie;
use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;

use super::auth::{Caller, SESSION_COOKIE, bearer_token, session_cookie};
use super::error::ApiError;
use super::error::{Forbidden, Unauthorized};
use crate::auth::Credential;

/// `POST`: called with `Authorization: Bearer <token>`, sets the cookie to
/// that token for as long as it is valid. Open servers have nothing to sign
/// in to and set nothing.
#[utoipa::path(
    post,
    path = "/api/v1/session",
    operation_id = "sign_in",
    tag = "session",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed in (nothing to do when Herald runs open)", headers(
            ("Set-Cookie" = String, description = "`herald_session=<token>; HttpOnly; \
                SameSite=Strict; Path=/; Max-Age=<the token's remaining lifetime>` \
                (`Secure` over HTTPS)"),
        )),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn sign_in(req: HttpRequest, caller: Caller) -> Result<HttpResponse, ApiError> {
    let principal = caller.0;
    if !principal.is_authenticated() {
        return Ok(HttpResponse::NoContent().finish());
    }
    if principal.credential() != Credential::Bearer {
        return Err(ApiError::Unauthorized(
            "sign in with `Authorization: Bearer <token>`".into(),
        ));
    }
    let token = bearer_token(&req).unwrap_or_default();
    let lifetime = principal
        .expires_at()
        .map_or(0, |at| (at - Utc::now()).num_seconds());
    let secure = req.connection_info().scheme() == "https";
    Ok(HttpResponse::NoContent()
        .cookie(session_cookie(token, lifetime, secure))
        .finish())
}

/// `DELETE`: clears the cookie.
#[utoipa::path(
    delete,
    path = "/api/v1/session",
    operation_id = "sign_out",
    tag = "session",
    responses(
        (status = 204, description = "Signed out", headers(
            ("Set-Cookie" = String, description = "Expires the `herald_session` cookie"),
        )),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn sign_out() -> HttpResponse {
    let mut gone = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Strict)
        .finish();
    gone.make_removal();
    HttpResponse::NoContent().cookie(gone).finish()
}
