//! The HTTP layer: routes, handlers, request bodies, error responses, the
//! event stream and request logging.

mod error_response;
mod json_body;
mod methods;
mod operations;
mod page;
mod request_log;
mod routes;
mod stream;
mod users;

pub use error_response::json_errors;
pub use json_body::BodyDeadline;
pub use operations::Readiness;
pub use request_log::{RequestSpan, finish_response};
pub use routes::configure;
