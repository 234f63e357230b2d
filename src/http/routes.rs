use actix_web::{HttpResponse, web};

use super::{notifications, operations, page, session, stream, users};
use crate::error::Error;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|error, _| {
        Error::bad_request(
            "invalid_query",
            format!("the query string is invalid: {error}"),
        )
        .into()
    }))
    .service(
        web::resource("/api/v1/users")
            .route(web::get().to(users::list))
            .route(web::post().to(users::create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/v1/users/{id}")
            .route(web::get().to(users::get))
            .route(web::patch().to(users::patch))
            .route(web::put().to(users::replace))
            .route(web::delete().to(users::delete))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/v1/notifications")
            .route(web::post().to(notifications::publish))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/v1/session")
            .route(web::post().to(session::sign_in))
            .route(web::delete().to(session::sign_out))
            .default_service(web::to(method_not_allowed)),
    )
    .service(web::resource(["/api/sse/stream", "/events"]).route(web::get().to(stream::stream)))
    .route("/healthz", web::get().to(operations::healthz))
    .route("/readyz", web::get().to(operations::readyz))
    .route("/metrics", web::get().to(operations::metrics))
    .route("/", web::get().to(page::index))
    .route("/assets/app.js", web::get().to(page::script))
    .route("/assets/app.css", web::get().to(page::stylesheet))
    .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, Error> {
    Err(Error::RouteNotFound)
}

async fn method_not_allowed() -> Result<HttpResponse, Error> {
    Err(Error::MethodNotAllowed)
}
