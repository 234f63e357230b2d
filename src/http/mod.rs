//! The HTTP layer: routes, handlers, request bodies, error responses, the
//! event stream and request logging.

mod auth;
mod client_module;
mod error;
mod head_limits;
mod json_body;
mod json_errors;
mod limits;
mod live_page;
pub mod mercure;
mod methods;
mod notifications;
mod openapi;
mod operations;
mod page;
mod publish_rate;
mod request_body;
mod request_log;
mod routes;
mod session;
mod stream;
mod tables;
mod users;

pub use auth::{Auth, SESSION_COOKIE};
pub use error::ApiError;
pub use head_limits::refuse_oversized_heads;
pub use json_errors::json_errors;
pub use openapi::OpenApiDocument;
pub use operations::Readiness;
pub use publish_rate::PublishRate;
pub use request_body::BodyDeadline;
pub use request_log::{RequestSpan, finish_response};
pub use routes::configure;
pub use stream::StreamSettings;
