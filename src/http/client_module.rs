//! `GET /herald.js`: the client module front-ends import, compiled into the
//! binary from the one source file that the npm package ships too.

use std::sync::LazyLock;

use actix_web::http::header::{self, EntityTag, IfNoneMatch};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

const SOURCE: &str = include_str!("../../clients/js/herald.js");

/// Strong: it names these exact bytes, so a browser may keep its copy for as
/// long as this tag comes back.
static ETAG: LazyLock<EntityTag> = LazyLock::new(|| {
    let digest = Sha256::digest(SOURCE.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    EntityTag::new_strong(hex)
});

#[utoipa::path(get, path = "/herald.js", tag = "page", responses(
    (status = 200, description = "The client module (an ES module)", body = String,
        content_type = "text/javascript", headers(
            ("ETag" = String, description = "A strong tag of the module's content"),
            ("Cache-Control" = String, description = "`no-cache`: revalidate with `If-None-Match`"),
        )),
    (status = 304, description = "The copy whose tag `If-None-Match` names is current", headers(
        ("ETag" = String, description = "The module's tag"),
        ("Cache-Control" = String, description = "`no-cache`"),
    )),
))]
pub async fn module(req: HttpRequest) -> HttpResponse {
    let current = match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|tag| tag.weak_eq(&ETAG)),
        None => false,
    };
    let mut response = if current {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header(header::ETag(ETAG.clone()))
        // A new binary may serve a new module at the same URL.
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if current {
        response.finish()
    } else {
        response
            .content_type("text/javascript; charset=utf-8")
            .body(SOURCE)
    }
}
