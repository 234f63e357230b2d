//! The one error type of Herald's request paths. `http::error_response` maps
//! it to a status code and a JSON body.

use sea_orm::{DbErr, RuntimeErr};

use crate::db::sqlite_primary_code;
use crate::domain::{FieldErrors, UserId};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request body must be sent as Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request line is longer than the limit of {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("the request headers are larger than the limit of {limit} bytes")]
    HeadersTooLarge { limit: usize },
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("the request body has invalid fields: {}", .0.fields().collect::<Vec<_>>().join(", "))]
    Validation(FieldErrors),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("no such endpoint")]
    RouteNotFound,
    #[error("this endpoint takes only {allow}")]
    MethodNotAllowed { allow: String },
    #[error("no user has the id {0}")]
    UserNotFound(UserId),
    #[error("another user already has this {field}")]
    Duplicate { field: &'static str },
    #[error("the user has changed since you read it: its version is now {current}")]
    VersionMismatch { current: i64 },
    #[error("topics under users/ carry data changes only; {0} cannot be published to")]
    ReservedTopic(String),
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still in progress; retry shortly")]
    IdempotencyKeyInProgress,
    #[error("{0}")]
    Unauthorized(String),
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u32,
    },
    #[error("too many writes are queued; retry shortly")]
    Overloaded,
    #[error("{message}")]
    ServerBusy { message: String },
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] DbErr),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// Raised outside our handlers, by the framework or a middleware (a CORS
    /// refusal, say), with the status it chose.
    #[error("{message}")]
    Framework {
        status: actix_web::http::StatusCode,
        code: &'static str,
        message: String,
    },
}

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }
}

impl Error {
    /// The same failure for another caller: one failed batch answers every
    /// write in it. Only what a client can act on is kept.
    pub fn replicate(&self) -> Self {
        match self {
            Self::DatabaseUnavailable(source) => {
                Self::DatabaseUnavailable(DbErr::Custom(source.to_string()))
            }
            Self::Internal(source) => Self::Internal(anyhow::anyhow!("{source:#}")),
            other => Self::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

impl From<DbErr> for Error {
    fn from(error: DbErr) -> Self {
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(message)) = error.sql_err() {
            // Index names carry the column (see the users migration).
            if let Some(field) = ["user_name", "email"]
                .into_iter()
                .find(|f| message.contains(f))
            {
                return Self::Duplicate { field };
            }
        }
        if is_unavailable(&error) {
            Self::DatabaseUnavailable(error)
        } else {
            Self::Internal(error.into())
        }
    }
}

/// Whether `error` says the database cannot be reached (as opposed to a
/// query it refused): clients should retry those later.
fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed => true,
                Sqlx::Database(db) => match sqlite_primary_code(db.as_ref()) {
                    // SQLITE_BUSY, SQLITE_LOCKED: another connection (or
                    // process) held the lock past the busy timeout.
                    Some(code) => matches!(code, 5 | 6),
                    // SQLSTATE class 08 (connection exception) and 57P01-57P03
                    // (the server is shutting down or not accepting connections).
                    None => db
                        .code()
                        .is_some_and(|c| c.starts_with("08") || c.starts_with("57P0")),
                },
                _ => false,
            }
        }
        _ => false,
    }
}
