//! Every environment variable Herald reads, each written once: `Settings` is
//! parsed from these, and tests hold `.env.example` and the manual's
//! Configuration table (`docs/configuration.md`) to them.

use super::setting::{Accepts, Setting};

/// Where the data lives: an embedded SQLite file, or a PostgreSQL URL.
pub const DATABASE_URL: Setting = Setting {
    name: "DATABASE_URL",
    default: "sqlite://herald.db?mode=rwc",
    accepts: Accepts::Shape("a sqlite:// or postgres:// URL"),
};

/// SQLite: free space below which writes that add data are refused.
pub const MIN_FREE_DISK_MB: Setting = Setting {
    name: "MIN_FREE_DISK_MB",
    default: "64",
    accepts: Accepts::WholeNumber {
        unit: "MiB",
        range: 0..=1_048_576,
        note: "0 turns the watermark off",
    },
};

/// How long a SQLite write waits for another connection's write lock.
pub const SQLITE_BUSY_TIMEOUT_MS: Setting = Setting {
    name: "SQLITE_BUSY_TIMEOUT_MS",
    default: "10000",
    accepts: Accepts::WholeNumber {
        unit: "milliseconds",
        range: 0..=3_600_000,
        note: "",
    },
};

/// The listen address.
pub const BIND_ADDR: Setting = Setting {
    name: "BIND_ADDR",
    default: "127.0.0.1:8080",
    accepts: Accepts::Shape("an address such as 127.0.0.1:8080"),
};

/// Interval of the `: keep-alive` comment on every stream.
pub const SSE_KEEP_ALIVE_SECS: Setting = Setting {
    name: "SSE_KEEP_ALIVE_SECS",
    default: "15",
    accepts: Accepts::WholeNumber {
        unit: "seconds",
        range: 1..=3600,
        note: "",
    },
};

/// The `retry:` sent first on every stream.
pub const SSE_RETRY_MS: Setting = Setting {
    name: "SSE_RETRY_MS",
    default: "3000",
    accepts: Accepts::WholeNumber {
        unit: "milliseconds",
        range: 0..=3_600_000,
        note: "",
    },
};

/// How long events may gather under load before streams are woken.
pub const SSE_COALESCE_MS: Setting = Setting {
    name: "SSE_COALESCE_MS",
    default: "10",
    accepts: Accepts::WholeNumber {
        unit: "milliseconds",
        range: 0..=1000,
        note: "0 sends every event at once",
    },
};

/// Streams one token subject may hold open at once.
pub const MAX_STREAMS_PER_SUBJECT: Setting = Setting {
    name: "MAX_STREAMS_PER_SUBJECT",
    default: "32",
    accepts: Accepts::WholeNumber {
        unit: "streams",
        range: 1..=1_000_000,
        note: "",
    },
};

/// Streams the instance holds open at once.
pub const MAX_STREAMS: Setting = Setting {
    name: "MAX_STREAMS",
    default: "",
    accepts: Accepts::WholeNumber {
        unit: "streams",
        range: 1..=10_000_000,
        note: "or empty, to derive it from the open-file limit",
    },
};

/// Notifications one token subject may publish a minute.
pub const MAX_PUBLISH_PER_MINUTE: Setting = Setting {
    name: "MAX_PUBLISH_PER_MINUTE",
    default: "600",
    accepts: Accepts::WholeNumber {
        unit: "notifications",
        range: 1..=1_000_000,
        note: "",
    },
};

/// The HS256 secret tokens are signed with; empty runs open, on loopback only.
pub const JWT_SECRET: Setting = Setting {
    name: "JWT_SECRET",
    default: "",
    accepts: Accepts::Secret,
};

/// The HS256 key Mercure publishers' tokens are signed with; setting it
/// turns the Mercure hub on (`/.well-known/mercure`).
pub const MERCURE_PUBLISHER_JWT_KEY: Setting = Setting {
    name: "MERCURE_PUBLISHER_JWT_KEY",
    default: "",
    accepts: Accepts::Secret,
};

/// The HS256 key Mercure subscribers' tokens are signed with; empty: the
/// publisher key.
pub const MERCURE_SUBSCRIBER_JWT_KEY: Setting = Setting {
    name: "MERCURE_SUBSCRIBER_JWT_KEY",
    default: "",
    accepts: Accepts::Secret,
};

/// Whether Mercure subscribers without a token receive public updates.
pub const MERCURE_ANONYMOUS: Setting = Setting {
    name: "MERCURE_ANONYMOUS",
    default: "0",
    accepts: Accepts::WholeNumber {
        unit: "(a switch)",
        range: 0..=1,
        note: "1: subscribers without a token receive public updates",
    },
};

/// Whether the Mercure hub keeps its subscriptions API and subscription
/// events (presence).
pub const MERCURE_SUBSCRIPTIONS: Setting = Setting {
    name: "MERCURE_SUBSCRIPTIONS",
    default: "0",
    accepts: Accepts::WholeNumber {
        unit: "(a switch)",
        range: 0..=1,
        note: "1: the subscriptions API and subscription events",
    },
};

/// How long events stay replayable before they are pruned.
pub const EVENT_RETENTION_HOURS: Setting = Setting {
    name: "EVENT_RETENTION_HOURS",
    default: "168",
    accepts: Accepts::WholeNumber {
        unit: "hours",
        range: 1..=87_600,
        note: "",
    },
};

/// Browser origins that may call the API and open streams cross-origin.
pub const CORS_ALLOWED_ORIGINS: Setting = Setting {
    name: "CORS_ALLOWED_ORIGINS",
    default: "",
    accepts: Accepts::Shape(
        "`*` or comma-separated origins, each scheme://host[:port] with no path, such as \
         https://app.example.com",
    ),
};

/// How long shutdown waits for in-flight requests.
pub const SHUTDOWN_GRACE_SECS: Setting = Setting {
    name: "SHUTDOWN_GRACE_SECS",
    default: "10",
    accepts: Accepts::WholeNumber {
        unit: "seconds",
        range: 1..=300,
        note: "",
    },
};

/// How long a new connection has to send a request's head.
pub const REQUEST_HEAD_TIMEOUT_SECS: Setting = Setting {
    name: "REQUEST_HEAD_TIMEOUT_SECS",
    default: "5",
    accepts: Accepts::WholeNumber {
        unit: "seconds",
        range: 1..=300,
        note: "",
    },
};

/// How long a client has to send a request's body.
pub const REQUEST_BODY_TIMEOUT_SECS: Setting = Setting {
    name: "REQUEST_BODY_TIMEOUT_SECS",
    default: "10",
    accepts: Accepts::WholeNumber {
        unit: "seconds",
        range: 1..=300,
        note: "",
    },
};

/// The log filter, in `tracing`'s EnvFilter syntax.
pub const RUST_LOG: Setting = Setting {
    name: "RUST_LOG",
    default: "info",
    accepts: Accepts::Shape("a log filter such as `info` or `warn,herald=debug`"),
};

/// Human-readable lines, or one JSON object per line.
pub const LOG_FORMAT: Setting = Setting {
    name: "LOG_FORMAT",
    default: "text",
    accepts: Accepts::Shape("`text` or `json`"),
};

/// The PEM certificate chain that, with `TLS_KEY_PATH`, serves HTTPS.
pub const TLS_CERT_PATH: Setting = Setting {
    name: "TLS_CERT_PATH",
    default: "",
    accepts: Accepts::Shape("a PEM certificate chain"),
};

/// The PEM private key of the certificate in `TLS_CERT_PATH`.
pub const TLS_KEY_PATH: Setting = Setting {
    name: "TLS_KEY_PATH",
    default: "",
    accepts: Accepts::Shape("a PEM private key"),
};

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::config::Settings;

    /// Every setting above, as the documentation must list them.
    const ALL: &[&Setting] = &[
        &DATABASE_URL,
        &MIN_FREE_DISK_MB,
        &SQLITE_BUSY_TIMEOUT_MS,
        &BIND_ADDR,
        &SSE_KEEP_ALIVE_SECS,
        &SSE_RETRY_MS,
        &SSE_COALESCE_MS,
        &MAX_STREAMS_PER_SUBJECT,
        &MAX_STREAMS,
        &MAX_PUBLISH_PER_MINUTE,
        &JWT_SECRET,
        &MERCURE_PUBLISHER_JWT_KEY,
        &MERCURE_SUBSCRIBER_JWT_KEY,
        &MERCURE_ANONYMOUS,
        &MERCURE_SUBSCRIPTIONS,
        &EVENT_RETENTION_HOURS,
        &CORS_ALLOWED_ORIGINS,
        &SHUTDOWN_GRACE_SECS,
        &REQUEST_HEAD_TIMEOUT_SECS,
        &REQUEST_BODY_TIMEOUT_SECS,
        &RUST_LOG,
        &LOG_FORMAT,
        &TLS_CERT_PATH,
        &TLS_KEY_PATH,
    ];

    /// A variable as a document lists it: its default, and the text that
    /// describes it (`.env.example`'s comment, the manual's meaning).
    struct Listed {
        name: String,
        default: String,
        text: String,
    }

    /// `NAME=value` lines, each with the comment block above it, which a
    /// group of lines (`REQUEST_HEAD_…`, `REQUEST_BODY_…`) shares.
    fn env_example() -> Vec<Listed> {
        let mut comment = String::new();
        let mut listed = Vec::new();
        for line in include_str!("../../.env.example").lines() {
            let line = line.trim();
            if line.is_empty() {
                comment.clear();
            } else if let Some(text) = line.strip_prefix('#') {
                comment.push_str(text);
                comment.push('\n');
            } else {
                let (name, default) = line.split_once('=').unwrap_or((line, "<no `=`>"));
                listed.push(Listed {
                    name: name.trim().to_owned(),
                    default: default.trim().to_owned(),
                    text: comment.clone(),
                });
            }
        }
        listed
    }

    /// The rows of the Configuration table in `docs/configuration.md` (under
    /// its `# Configuration` heading, up to the next heading): `` `NAME` |
    /// `default` | meaning ``, where a default cell that starts with "empty"
    /// (and says what that means) stands for an empty default.
    fn manual() -> Vec<Listed> {
        include_str!("../../docs/configuration.md")
            .lines()
            .skip_while(|line| *line != "# Configuration")
            .skip(1)
            .take_while(|line| !line.starts_with('#'))
            .filter(|line| line.starts_with("| `"))
            .map(|line| {
                let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
                let unquoted = |cell: &str| cell.trim_matches('`').to_owned();
                let cell = |at: usize| cells.get(at).copied().unwrap_or_default();
                Listed {
                    name: unquoted(cell(0)),
                    default: match cell(1) {
                        empty if empty.starts_with("empty") => String::new(),
                        default => unquoted(default),
                    },
                    text: cell(2).to_owned(),
                }
            })
            .collect()
    }

    fn sorted_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
        let mut names: Vec<&str> = names.collect();
        names.sort_unstable();
        names
    }

    /// Where `listed` departs from the table: a variable missed, listed twice
    /// or unknown, another default, or a number's range not given as
    /// `min{dash}max`.
    fn differences(document: &str, listed: &[Listed], dash: char) -> Vec<String> {
        let mut differences: Vec<String> = listed
            .iter()
            .filter(|entry| !ALL.iter().any(|setting| setting.name == entry.name))
            .map(|entry| {
                format!(
                    "{document} lists {}, which Herald does not read",
                    entry.name
                )
            })
            .collect();
        for setting in ALL {
            let entries: Vec<&Listed> = listed.iter().filter(|l| l.name == setting.name).collect();
            let entry = match entries.as_slice() {
                [entry] => entry,
                [] => {
                    differences.push(format!("{document} misses {}", setting.name));
                    continue;
                }
                twice => {
                    let times = twice.len();
                    differences.push(format!("{document} lists {} {times} times", setting.name));
                    continue;
                }
            };
            if entry.default != setting.default {
                differences.push(format!(
                    "{document} gives {} the default {:?}, the table {:?}",
                    setting.name, entry.default, setting.default
                ));
            }
            if let Accepts::WholeNumber { range, .. } = &setting.accepts {
                let range = format!("{}{dash}{}", range.start(), range.end());
                if !mentions(&entry.text, &range) {
                    differences.push(format!(
                        "{document} does not give {} the range {range}: {:?}",
                        setting.name, entry.text
                    ));
                }
            }
        }
        differences
    }

    /// Whether `text` holds `range` as a whole (`1-300`, not `1-3000`).
    fn mentions(text: &str, range: &str) -> bool {
        text.match_indices(range).any(|(at, _)| {
            let digit_before = text[..at].ends_with(|c: char| c.is_ascii_digit());
            let digit_after = text[at + range.len()..].starts_with(|c: char| c.is_ascii_digit());
            !digit_before && !digit_after
        })
    }

    #[test]
    fn the_table_names_every_variable_settings_read() {
        let asked = RefCell::new(Vec::new());
        let parsed = Settings::from_lookup(|name| {
            asked.borrow_mut().push(name.to_owned());
            None
        });
        assert!(parsed.is_ok(), "{parsed:?}");
        let asked = asked.into_inner();
        assert_eq!(
            sorted_names(asked.iter().map(String::as_str)),
            sorted_names(ALL.iter().map(|s| s.name))
        );
    }

    #[test]
    fn env_example_lists_every_setting_with_its_default_and_range() {
        let differences = differences(".env.example", &env_example(), '-');
        assert!(differences.is_empty(), "{differences:#?}");
    }

    #[test]
    fn the_manual_lists_every_setting_with_its_default_and_range() {
        let differences = differences("docs/configuration.md", &manual(), '–');
        assert!(differences.is_empty(), "{differences:#?}");
    }
}
