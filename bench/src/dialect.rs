//! Which stream a run measures, and how it is fed: Herald's own
//! (`/api/sse/stream`, fed by user creates, as the baseline's), Herald's
//! Mercure hub (`/.well-known/mercure`, fed by Mercure publishes), or
//! Nchan's (`/sub`, idle runs only). Subscribers, writers and accounting
//! are the same for all, so two runs that differ only here compare two
//! endpoints under one load.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::http::{self, Body};

/// The Mercure key the bench configures a spawned Herald with.
pub const MERCURE_KEY: &str = "herald-bench-mercure-key-0123456789abcdef";
/// HS256 over `{"mercure":{"publish":["*"]}}` with [`MERCURE_KEY`]: the
/// bench's publisher token, fixed so that the bench needs no JWT crate.
const MERCURE_PUBLISHER_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdfX0.v_aVCGGoJWT0LPUpPsQpep6o5CVtxgN7pBWAItKkGDU";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Herald,
    Mercure,
    /// Nginx with the Nchan module (`bench/nchan/`): no users API, so the
    /// bench only holds its streams.
    Nchan,
}

/// One write of the run, ready to send.
pub struct Write {
    pub path: &'static str,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub bearer: Option<&'static str>,
}

impl Write {
    pub fn body(&self) -> Body<'_> {
        Body {
            content_type: self.content_type,
            bytes: &self.body,
            bearer: self.bearer,
        }
    }
}

impl std::str::FromStr for Dialect {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> anyhow::Result<Self> {
        match name {
            "herald" => Ok(Self::Herald),
            "mercure" => Ok(Self::Mercure),
            other => anyhow::bail!("--stream {other}: expected herald or mercure"),
        }
    }
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Self::Herald => "herald",
            Self::Mercure => "mercure",
            Self::Nchan => "nchan",
        }
    }

    /// The status that says a write was taken.
    pub fn taken(self) -> u16 {
        match self {
            Self::Herald | Self::Nchan => 201,
            Self::Mercure => 200,
        }
    }

    /// What a delivery's latency runs from: a Herald event's commit (its
    /// envelope's `at`), or the moment the bench sent a Mercure update.
    pub fn latency_from(self) -> &'static str {
        match self {
            Self::Herald | Self::Nchan => "commit",
            Self::Mercure => "sent",
        }
    }

    /// The request line's target of a subscriber's stream: every event of
    /// the run. A Mercure subscriber names them as Mercure apps do, by a URI
    /// template (`https://bench.example/items/{id}`), which the hub matches
    /// against every update's topic.
    pub fn stream_path(self) -> &'static str {
        match self {
            Self::Herald => "/api/sse/stream",
            Self::Mercure => {
                "/.well-known/mercure?topic=https%3A%2F%2Fbench.example%2Fitems%2F%7Bid%7D"
            }
            Self::Nchan => "/sub",
        }
    }

    /// An event that stands for a keep-alive, besides `:` comments: Nchan's
    /// pings are `event: ping` frames.
    pub fn keep_alive_event(self) -> Option<&'static [u8]> {
        match self {
            Self::Herald | Self::Mercure => None,
            Self::Nchan => Some(b"ping"),
        }
    }

    /// What a spawned server needs besides the run's own settings: for
    /// Mercure, the key, anonymous subscribers, and no publishing rate
    /// (every update of the run is published with one token).
    pub fn server_env(self) -> Vec<(String, String)> {
        match self {
            Self::Herald | Self::Nchan => Vec::new(),
            Self::Mercure => vec![
                (
                    "MERCURE_PUBLISHER_JWT_KEY".to_owned(),
                    MERCURE_KEY.to_owned(),
                ),
                ("MERCURE_ANONYMOUS".to_owned(), "1".to_owned()),
                ("MAX_PUBLISH_PER_MINUTE".to_owned(), "1000000".to_owned()),
            ],
        }
    }

    /// The run's write number `seq`. A Mercure update carries its own id,
    /// `<seq + 1>.<tag>` (the accounting reads the number before the dot,
    /// as it reads Herald's `<id>.<tag>`), and data shaped like Herald's
    /// envelope, `{"id", "at"}`, with `at` the time it was sent: Mercure
    /// updates have no commit time a subscriber could read.
    pub fn write(self, seq: u64, tag: &str) -> Write {
        match self {
            // Nchan runs are idle (the command line sees to it).
            Self::Herald | Self::Nchan => {
                let name = format!("b{tag}_{seq}");
                Write {
                    path: "/api/v1/users",
                    body: format!(r#"{{"user_name":"{name}","email":"{name}@example.com"}}"#)
                        .into_bytes(),
                    content_type: "application/json",
                    bearer: None,
                }
            }
            Self::Mercure => {
                let id = seq + 1;
                let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                let body = form_urlencoded::Serializer::new(String::new())
                    .append_pair("topic", &format!("https://bench.example/items/{id}"))
                    .append_pair("id", &format!("{id}.{tag}"))
                    .append_pair("data", &format!(r#"{{"id":{id},"at":"{at}"}}"#))
                    .finish();
                Write {
                    path: "/.well-known/mercure",
                    body: body.into_bytes(),
                    content_type: "application/x-www-form-urlencoded",
                    bearer: Some(MERCURE_PUBLISHER_TOKEN),
                }
            }
        }
    }

    /// The id the run's first event follows: Herald's newest log id, or 0
    /// for the Mercure ids the bench numbers itself (and Nchan's none).
    pub async fn id_before_run(self, target: SocketAddr) -> anyhow::Result<u64> {
        match self {
            Self::Herald => http::last_event_id(target).await,
            Self::Mercure | Self::Nchan => Ok(0),
        }
    }

    /// The id of the run's last event, once `sent` writes were sent.
    pub async fn last_id(self, target: SocketAddr, sent: u64) -> anyhow::Result<u64> {
        match self {
            Self::Herald => http::last_event_id(target).await,
            Self::Mercure => Ok(sent),
            Self::Nchan => Ok(0),
        }
    }
}
