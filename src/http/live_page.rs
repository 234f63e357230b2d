//! The live users page: static assets compiled into the binary.

use actix_web::HttpResponse;
use actix_web::http::header;

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const APP_JS: &str = include_str!("../../assets/app.js");
const APP_CSS: &str = include_str!("../../assets/app.css");

#[utoipa::path(get, path = "/", tag = "page", responses(
    (status = 200, description = "The live users page", body = String, content_type = "text/html"),
))]
pub async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

#[utoipa::path(get, path = "/assets/app.js", tag = "page", responses(
    (status = 200, description = "The page's script", body = String, content_type = "text/javascript"),
))]
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

#[utoipa::path(get, path = "/assets/app.css", tag = "page", responses(
    (status = 200, description = "The page's stylesheet", body = String, content_type = "text/css"),
))]
pub async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", APP_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // The assets change with the binary; revalidating is cheap.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}
