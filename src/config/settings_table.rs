//! Every environment variable Herald reads, each written once: `Settings` is
//! parsed from these.

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

