//! Request bodies turned into checked values. Bodies are taken as JSON objects
//! so that every problem (unknown fields, wrong types, invalid values) is
//! reported per field, all at once.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{DisplayName, Email, FieldErrors, User, UserName};

/// Fields a client may send back unchanged from a response; they are ignored.
const READ_ONLY_FIELDS: [&str; 4] = ["id", "version", "created_at", "updated_at"];
const WRITABLE_FIELDS: [&str; 3] = ["user_name", "email", "display_name"];

/// Everything a new user (POST) or a full replacement (PUT) consists of.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user_name: UserName,
    pub email: Email,
    pub display_name: Option<DisplayName>,
}

/// A partial update: `None` leaves a field alone; `display_name: Some(None)`
/// clears it.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub user_name: Option<UserName>,
    pub email: Option<Email>,
    pub display_name: Option<Option<DisplayName>>,
}

impl NewUser {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut errors = reject_unknown_fields(body);
        let user_name = required(body, "user_name", &mut errors, UserName::parse);
        let email = required(body, "email", &mut errors, Email::parse);
        let display_name = optional(body, "display_name", &mut errors, DisplayName::parse);
        match (user_name, email, display_name) {
            (Some(user_name), Some(email), Some(display_name)) if errors.is_empty() => Ok(Self {
                user_name,
                email,
                display_name,
            }),
            _ => Err(errors),
        }
    }
}

impl UserPatch {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut errors = reject_unknown_fields(body);
        let patch = Self {
            user_name: present(body, "user_name", &mut errors, UserName::parse),
            email: present(body, "email", &mut errors, Email::parse),
            display_name: optional(body, "display_name", &mut errors, DisplayName::parse)
                .filter(|_| body.contains_key("display_name")),
        };
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }

    /// The patch a full replacement amounts to: every field set, an absent
    /// display name cleared.
    pub fn replacing_with(user: NewUser) -> Self {
        Self {
            user_name: Some(user.user_name),
            email: Some(user.email),
            display_name: Some(user.display_name),
        }
    }

    /// The user after this patch, one version later.
    pub fn apply_to(&self, mut user: User, at: DateTime<Utc>) -> User {
        if let Some(name) = &self.user_name {
            user.user_name = name.as_str().to_owned();
        }
        if let Some(email) = &self.email {
            user.email = email.as_str().to_owned();
        }
        if let Some(display_name) = &self.display_name {
            user.display_name = display_name.as_ref().map(|d| d.as_str().to_owned());
        }
        user.version += 1;
        user.updated_at = at;
        user
    }

    /// The fields whose value would change, with their new values, in the
    /// shape events report them.
    pub fn changes_to(&self, user: &User) -> Map<String, Value> {
        let mut changes = Map::new();
        if let Some(name) = &self.user_name
            && name.as_str() != user.user_name
        {
            changes.insert("user_name".into(), name.as_str().into());
        }
        if let Some(email) = &self.email
            && email.as_str() != user.email
        {
            changes.insert("email".into(), email.as_str().into());
        }
        if let Some(display_name) = &self.display_name {
            let new = display_name.as_ref().map(DisplayName::as_str);
            if new != user.display_name.as_deref() {
                changes.insert("display_name".into(), new.into());
            }
        }
        changes
    }
}

fn reject_unknown_fields(body: &Map<String, Value>) -> FieldErrors {
    unknown_fields(body, &[&WRITABLE_FIELDS, &READ_ONLY_FIELDS])
}

/// An error for every field of `body` that is in none of `known`: a typo
/// must not pass silently.
pub(super) fn unknown_fields(body: &Map<String, Value>, known: &[&[&str]]) -> FieldErrors {
    let mut errors = FieldErrors::default();
    for field in body.keys() {
        if !known.iter().any(|names| names.contains(&field.as_str())) {
            errors.add(field.as_str(), "unknown field");
        }
    }
    errors
}

fn string_field<T>(value: &Value, parse: fn(&str) -> Result<T, String>) -> Result<T, String> {
    match value {
        Value::String(s) => parse(s),
        _ => Err("must be a string".to_owned()),
    }
}

/// A field that must be present and valid.
pub(super) fn required<T>(
    body: &Map<String, Value>,
    field: &str,
    errors: &mut FieldErrors,
    parse: fn(&str) -> Result<T, String>,
) -> Option<T> {
    match body.get(field) {
        None | Some(Value::Null) => {
            errors.add(field, "is required");
            None
        }
        Some(value) => errors.check(field, string_field(value, parse)),
    }
}

/// A field that may be absent (left alone) but not null.
fn present<T>(
    body: &Map<String, Value>,
    field: &str,
    errors: &mut FieldErrors,
    parse: fn(&str) -> Result<T, String>,
) -> Option<T> {
    match body.get(field) {
        None => None,
        Some(Value::Null) => {
            errors.add(field, "cannot be null");
            None
        }
        Some(value) => errors.check(field, string_field(value, parse)),
    }
}

/// A nullable field: `Some(None)` when absent or null, `None` when invalid.
pub(super) fn optional<T>(
    body: &Map<String, Value>,
    field: &str,
    errors: &mut FieldErrors,
    parse: fn(&str) -> Result<T, String>,
) -> Option<Option<T>> {
    match body.get(field) {
        None | Some(Value::Null) => Some(None),
        Some(value) => errors.check(field, string_field(value, parse)).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_new_user_reports_every_bad_field_at_once() {
        let body = object(json!({"user_name": "x", "email": 5, "nickname": "y"}));
        let errors = NewUser::parse(&body).err().unwrap_or_default();
        assert_eq!(
            errors.fields().collect::<Vec<_>>(),
            ["email", "nickname", "user_name"]
        );
    }

    #[test]
    fn read_only_fields_are_ignored() {
        let body = object(json!({"id": "x", "version": 9, "user_name": "ada", "email": "a@b.co"}));
        assert!(NewUser::parse(&body).is_ok());
    }

    #[test]
    fn a_patch_tells_absent_from_null() -> Result<(), FieldErrors> {
        assert!(UserPatch::parse(&object(json!({})))?.display_name.is_none());
        assert_eq!(
            UserPatch::parse(&object(json!({"display_name": null})))?.display_name,
            Some(None)
        );
        Ok(())
    }
}
