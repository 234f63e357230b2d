use actix_web::{HttpResponse, Resource, web};

use super::{notifications, openapi, operations, page, session, stream, users};
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
        resource(&["/api/v1/users"])
            .route(web::get().to(users::list))
            .route(web::post().to(users::create)),
    )
    .service(
        resource(&["/api/v1/users/{id}"])
            .route(web::get().to(users::get))
            .route(web::patch().to(users::patch))
            .route(web::put().to(users::replace))
            .route(web::delete().to(users::delete)),
    )
    .service(resource(&["/api/v1/notifications"]).route(web::post().to(notifications::publish)))
    .service(
        resource(&["/api/v1/session"])
            .route(web::post().to(session::sign_in))
            .route(web::delete().to(session::sign_out)),
    )
    .service(resource(&["/api/sse/stream", "/events"]).route(web::get().to(stream::stream)))
    .service(resource(&["/healthz"]).route(web::get().to(operations::healthz)))
    .service(resource(&["/readyz"]).route(web::get().to(operations::readyz)))
    .service(resource(&["/metrics"]).route(web::get().to(operations::metrics)))
    .service(resource(&["/openapi.json"]).route(web::get().to(openapi::document)))
    .service(resource(&["/"]).route(web::get().to(page::index)))
    .service(resource(&["/assets/app.js"]).route(web::get().to(page::script)))
    .service(resource(&["/assets/app.css"]).route(web::get().to(page::stylesheet)))
    .default_service(web::to(not_found));
}

/// A resource that answers a method it has no route for with our `405`
/// rather than actix's empty one.
fn resource(paths: &[&str]) -> Resource {
    web::resource(paths.to_vec()).default_service(web::to(method_not_allowed))
}

async fn not_found() -> Result<HttpResponse, Error> {
    Err(Error::RouteNotFound)
}

async fn method_not_allowed() -> Result<HttpResponse, Error> {
    Err(Error::MethodNotAllowed)
}
