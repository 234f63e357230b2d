//! Routing by method. A GET route answers HEAD as well; a path whose routes
//! all refuse the request's method answers `405` with `Allow` listing the
//! methods they take, without a table of them to keep in step.

use actix_web::guard::{Guard, GuardContext};
use actix_web::http::Method;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, Route, web};

use super::error::ApiError;

pub fn get() -> Route {
    route(Method::GET)
}

pub fn post() -> Route {
    route(Method::POST)
}

pub fn put() -> Route {
    route(Method::PUT)
}

pub fn patch() -> Route {
    route(Method::PATCH)
}

pub fn delete() -> Route {
    route(Method::DELETE)
}

fn route(method: Method) -> Route {
    web::route().guard(MethodGuard(method))
}

struct MethodGuard(Method);

/// The methods the requested path's routes take, noted by their guards as
/// they refuse the request.
struct Allowed(Vec<Method>);

impl Guard for MethodGuard {
    fn check(&self, ctx: &GuardContext<'_>) -> bool {
        let method = &ctx.head().method;
        if *method == self.0 || (self.0 == Method::GET && *method == Method::HEAD) {
            return true;
        }
        let mut data = ctx.req_data_mut();
        match data.get_mut::<Allowed>() {
            Some(allowed) => allowed.0.push(self.0.clone()),
            None => {
                data.insert(Allowed(vec![self.0.clone()]));
            }
        }
        false
    }
}

impl Allowed {
    /// The `Allow` header's value, in the order the routes were added.
    fn header(&self) -> String {
        let mut methods: Vec<&str> = Vec::new();
        for method in &self.0 {
            let implied: &[&str] = if *method == Method::GET {
                &["GET", "HEAD"]
            } else {
                &[method.as_str()]
            };
            for name in implied {
                if !methods.contains(name) {
                    methods.push(name);
                }
            }
        }
        methods.join(", ")
    }
}

/// What a request no route took gets: `405` when its path has routes (for
/// other methods), `404` when it has none.
pub async fn unrouted(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed = req.extensions().get::<Allowed>().map(Allowed::header);
    Err(match allowed {
        Some(allow) => ApiError::MethodNotAllowed { allow },
        None => ApiError::RouteNotFound,
    })
}
