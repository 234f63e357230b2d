use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

use crate::lock::lock;
use uuid::{ContextV7, Timestamp, Uuid};

use super::time;

/// A user as clients see it, in responses and in events (read back from
/// an event after a write).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub user_name: String,
    pub email: String,
    #[schema(required = true)]
    pub display_name: Option<String>,
    /// 1 when created, one more with each change; the `ETag` is this, quoted.
    pub version: i64,
    #[serde(serialize_with = "time::rfc3339_micros")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::rfc3339_micros")]
    pub updated_at: DateTime<Utc>,
}

impl User {
    pub fn location(&self) -> String {
        format!("/api/v1/users/{}", self.id)
    }

    /// The strong entity tag of this version, as sent in `ETag`.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

/// A user's id: a UUID (v7, so ids sort by creation time).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct UserId(Uuid);

/// Keeps the ids this process makes in the order they were made, even
/// within one millisecond or when the clock they are given steps back.
static V7_CONTEXT: Mutex<ContextV7> = Mutex::new(ContextV7::new());

impl UserId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// The id of a user created at `time`: ids sort by creation time, read
    /// from the clock every instance shares rather than each one's own.
    pub fn created_at(time: DateTime<Utc>) -> Self {
        let context = lock(&V7_CONTEXT);
        let seconds = u64::try_from(time.timestamp()).unwrap_or_default();
        let timestamp = Timestamp::from_unix(&*context, seconds, time.timestamp_subsec_nanos());
        Self(Uuid::new_v7(timestamp))
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Uuid::try_parse(raw)
            .map(Self)
            .map_err(|_| format!("{raw:?} is not a UUID"))
    }

    pub fn uuid(self) -> Uuid {
        self.0
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for UserId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
