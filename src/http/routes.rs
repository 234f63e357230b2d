use actix_web::web;

use super::error::ApiError;
use super::methods::{delete, get, patch, post, put, unrouted};
use super::{
    client_module, live_page, mercure, notifications, openapi, operations, session, stream, tables,
    users,
};

/// A `web::resource` needs `.default_service(web::to(unrouted))`: its own
/// default answers an unrouted method with an empty `405`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|error, _| {
        ApiError::bad_request(
            "invalid_query",
            format!("the query string is invalid: {error}"),
        )
        .into()
    }))
    .service(
        web::resource("/api/v1/users")
            .route(get().to(users::list))
            .route(post().to(users::create))
            .default_service(web::to(unrouted)),
    )
    .service(
        web::resource("/api/v1/users/{id}")
            .route(get().to(users::get))
            .route(patch().to(users::patch))
            .route(put().to(users::replace))
            .route(delete().to(users::delete))
            .default_service(web::to(unrouted)),
    )
    .service(
        web::resource("/api/v1/tables/{table}")
            .route(get().to(tables::list))
            .default_service(web::to(unrouted)),
    )
    .service(
        web::resource("/api/v1/tables/{table}/{key}")
            .route(get().to(tables::get))
            .default_service(web::to(unrouted)),
    )
    .service(
        web::resource("/api/v1/notifications")
            .route(post().to(notifications::publish))
            .default_service(web::to(unrouted)),
    )
    .service(
        web::resource("/api/v1/session")
            .route(post().to(session::sign_in))
            .route(delete().to(session::sign_out))
            .default_service(web::to(unrouted)),
    )
    .service(
        web::resource(["/api/sse/stream", "/events"])
            .route(get().to(stream::stream))
            .default_service(web::to(unrouted)),
    )
    .service(
        web::resource("/.well-known/mercure/subscriptions")
            .route(get().to(mercure::all_subscriptions))
            .default_service(web::to(unrouted)),
    )
    .service(
        web::resource("/.well-known/mercure/subscriptions/{topic}")
            .route(get().to(mercure::topic_subscriptions))
            .default_service(web::to(unrouted)),
    )
    .service(
        web::resource("/.well-known/mercure/subscriptions/{topic}/{subscriber}")
            .route(get().to(mercure::subscription))
            .default_service(web::to(unrouted)),
    )
    .service(
        web::resource("/.well-known/mercure")
            .route(get().to(mercure::subscribe))
            .route(post().to(mercure::publish))
            .default_service(web::to(unrouted)),
    )
    .route("/healthz", get().to(operations::healthz))
    .route("/readyz", get().to(operations::readyz))
    .route("/metrics", get().to(operations::metrics))
    .route("/openapi.json", get().to(openapi::document))
    .route("/", get().to(live_page::index))
    .route("/assets/app.js", get().to(live_page::script))
    .route("/assets/app.css", get().to(live_page::stylesheet))
    .route("/herald.js", get().to(client_module::module))
    .default_service(web::to(unrouted));
}
