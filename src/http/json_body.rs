//! The JSON object a write request carries.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, mime};
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::request_body::RequestBody;
use crate::domain::FieldErrors;

pub struct JsonObject(pub Map<String, Value>);

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = matches!(
            req.mime_type(),
            Ok(Some(m)) if m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        );
        let body = RequestBody::from_request(req, payload);
        Box::pin(async move {
            let RequestBody(body) = body.await?;
            if !is_json {
                return Err(ApiError::UnsupportedMediaType {
                    expected: "application/json",
                });
            }
            let value: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
            match value {
                Value::Object(object) => Ok(Self(object)),
                _ => {
                    let mut errors = FieldErrors::default();
                    errors.add("body", "must be a JSON object");
                    Err(ApiError::Validation(errors))
                }
            }
        })
    }
}
