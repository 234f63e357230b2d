//! Who may do what: tokens (HS256 JWTs signed with `JWT_SECRET`), the
//! scopes and topics they grant, and the principal a request acts as.
//! Without a secret Herald runs open: every request may do everything.

pub mod mercure;
mod principal;
mod scope;
mod tokens;

pub use principal::{Credential, Forbidden, Principal};
pub use scope::{Scope, Scopes};
pub use tokens::{MIN_SECRET_BYTES, TokenError, TokenKeys};
