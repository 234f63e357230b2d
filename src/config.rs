//! Typed configuration, read from the environment (and `.env` when present).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::auth::MIN_SECRET_BYTES;
use crate::telemetry::LogFormat;

/// Everything Herald needs to start, parsed once: a bad value stops start-up
/// with a message naming the variable instead of surfacing later.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    /// How long SQLite waits for another connection's write lock before the
    /// request fails with `503`.
    pub sqlite_busy_timeout: Duration,
    /// Writes that add data are refused while the SQLite file's filesystem
    /// has less free space than this.
    pub min_free_disk_mb: u64,
    pub bind_addr: SocketAddr,
    pub sse_keep_alive: Duration,
    pub sse_retry: Duration,
    /// How long events may gather before streams are woken to send them.
    pub sse_coalesce: Duration,
    pub event_retention: Duration,
    pub cors_allowed_origins: CorsOrigins,
    pub shutdown_grace: Duration,
    /// PEM files to serve HTTPS (with HTTP/2) instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Signs and checks tokens; without it Herald runs open, on loopback only.
    pub jwt_secret: Option<SecretString>,
    /// Streams one token subject may hold open at once.
    pub max_streams_per_subject: usize,
    /// Streams the instance holds open at once; `None`: derived from the
    /// open-file limit at start-up.
    pub max_streams: Option<usize>,
    /// Notifications one token subject may publish a minute.
    pub max_publish_per_minute: u32,
    /// How long a client has to send a request's head, then its body.
    pub request_head_timeout: Duration,
    pub request_body_timeout: Duration,
    /// `RUST_LOG`, checked to be a valid filter.
    pub log_filter: String,
    pub log_format: LogFormat,
}

/// `DATABASE_URL`, which may carry a password: it is shown (`Display`,
/// `Debug`, error messages) only with the password masked.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    /// The URL with its password, for connecting and nothing else.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_password(self.expose()))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&redact_password(self.expose()))
            .finish()
    }
}

/// `url` with the password of its user info and any `password=` query
/// parameter replaced by `***`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Which browser origins may call the API and open streams cross-origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    None,
    Any,
    List(Vec<String>),
}

#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}={value:?}: {expected}")]
pub struct ConfigError {
    variable: &'static str,
    value: String,
    expected: &'static str,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://herald.db?mode=rwc";

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can configure a server
    /// without touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str, default: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            database_url: parse_database_url(get("DATABASE_URL", DEFAULT_DATABASE_URL))?,
            sqlite_busy_timeout: millis(
                "SQLITE_BUSY_TIMEOUT_MS",
                get("SQLITE_BUSY_TIMEOUT_MS", "10000"),
            )?,
            min_free_disk_mb: ranged(
                "MIN_FREE_DISK_MB",
                get("MIN_FREE_DISK_MB", "64"),
                0..=1_048_576,
                "a whole number of MiB up to 1048576 (0 turns the watermark off)",
            )?,
            bind_addr: parse(
                "BIND_ADDR",
                get("BIND_ADDR", "127.0.0.1:8080"),
                "an address such as 127.0.0.1:8080",
            )?,
            sse_keep_alive: seconds(
                "SSE_KEEP_ALIVE_SECS",
                get("SSE_KEEP_ALIVE_SECS", "15"),
                1..=3600,
                "a whole number of seconds from 1 to 3600",
            )?,
            sse_retry: millis("SSE_RETRY_MS", get("SSE_RETRY_MS", "3000"))?,
            sse_coalesce: ranged(
                "SSE_COALESCE_MS",
                get("SSE_COALESCE_MS", "10"),
                0..=1000,
                "a whole number of milliseconds up to 1000 (0 sends every event at once)",
            )
            .map(Duration::from_millis)?,
            event_retention: hours("EVENT_RETENTION_HOURS", get("EVENT_RETENTION_HOURS", "168"))?,
            cors_allowed_origins: parse_cors(get("CORS_ALLOWED_ORIGINS", ""))?,
            shutdown_grace: seconds(
                "SHUTDOWN_GRACE_SECS",
                get("SHUTDOWN_GRACE_SECS", "10"),
                1..=300,
                "a whole number of seconds from 1 to 300",
            )?,
            tls: parse_tls(get("TLS_CERT_PATH", ""), get("TLS_KEY_PATH", ""))?,
            request_head_timeout: seconds(
                "REQUEST_HEAD_TIMEOUT_SECS",
                get("REQUEST_HEAD_TIMEOUT_SECS", "5"),
                1..=300,
                "a whole number of seconds from 1 to 300",
            )?,
            request_body_timeout: seconds(
                "REQUEST_BODY_TIMEOUT_SECS",
                get("REQUEST_BODY_TIMEOUT_SECS", "10"),
                1..=300,
                "a whole number of seconds from 1 to 300",
            )?,
            log_filter: parse_log_filter(get("RUST_LOG", "info"))?,
            log_format: parse("LOG_FORMAT", get("LOG_FORMAT", "text"), "`text` or `json`")?,
            jwt_secret: None,
            max_streams_per_subject: usize_in(
                "MAX_STREAMS_PER_SUBJECT",
                get("MAX_STREAMS_PER_SUBJECT", "32"),
                1..=1_000_000,
            )?,
            max_publish_per_minute: ranged(
                "MAX_PUBLISH_PER_MINUTE",
                get("MAX_PUBLISH_PER_MINUTE", "600"),
                1..=1_000_000,
                "a whole number of notifications from 1 to 1000000",
            )
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))?,
            max_streams: match get("MAX_STREAMS", "").as_str() {
                "" => None,
                raw => Some(usize_in("MAX_STREAMS", raw.to_owned(), 1..=10_000_000)?),
            },
        }
        .secured_by(lookup("JWT_SECRET").unwrap_or_default())
    }

    /// Adds the token secret, refusing a weak one, and refuses to run open
    /// anywhere but on loopback.
    fn secured_by(mut self, secret: String) -> Result<Self, ConfigError> {
        // The secret is never echoed back, not even when it is refused.
        if !secret.is_empty() && secret.trim().is_empty() {
            // Set, but to nothing usable: running open would be the opposite
            // of what whoever set it meant.
            return Err(ConfigError {
                variable: "JWT_SECRET",
                value: "<redacted>".to_owned(),
                expected: "a secret of at least 32 bytes, not only whitespace (leave it empty, \
                           or unset, to run open on loopback)",
            });
        }
        let secret = secret.trim();
        if !secret.is_empty() && secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError {
                variable: "JWT_SECRET",
                value: "<redacted>".to_owned(),
                expected: "a secret of at least 32 bytes (e.g. `openssl rand -base64 48`)",
            });
        }
        if secret.is_empty() && !self.bind_addr.ip().is_loopback() {
            return Err(ConfigError {
                variable: "BIND_ADDR",
                value: self.bind_addr.to_string(),
                expected: "a loopback address while JWT_SECRET is unset: without a secret anyone \
                           who can reach Herald may write, so set JWT_SECRET to listen beyond \
                           this machine",
            });
        }
        self.jwt_secret = (!secret.is_empty()).then(|| SecretString::from(secret.to_owned()));
        Ok(self)
    }
}

fn usize_in(
    variable: &'static str,
    value: String,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ConfigError> {
    match value.parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError {
            variable,
            value,
            expected: "a whole number within the documented range",
        }),
    }
}

fn parse_tls(cert: String, key: String) -> Result<Option<TlsFiles>, ConfigError> {
    match (cert.is_empty(), key.is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Ok(Some(TlsFiles {
            cert_path: cert.into(),
            key_path: key.into(),
        })),
        // Name the variable that is set: that is the one the operator typed.
        (false, true) => Err(ConfigError {
            variable: "TLS_CERT_PATH",
            value: cert,
            expected: "HTTPS needs TLS_KEY_PATH (a PEM private key) set too",
        }),
        (true, false) => Err(ConfigError {
            variable: "TLS_KEY_PATH",
            value: key,
            expected: "HTTPS needs TLS_CERT_PATH (a PEM certificate chain) set too",
        }),
    }
}

fn parse<T: FromStr>(
    variable: &'static str,
    value: String,
    expected: &'static str,
) -> Result<T, ConfigError> {
    value.parse().map_err(|_| ConfigError {
        variable,
        value,
        expected,
    })
}

fn ranged(
    variable: &'static str,
    value: String,
    range: std::ops::RangeInclusive<u64>,
    expected: &'static str,
) -> Result<u64, ConfigError> {
    match value.parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError {
            variable,
            value,
            expected,
        }),
    }
}

fn seconds(
    variable: &'static str,
    value: String,
    range: std::ops::RangeInclusive<u64>,
    expected: &'static str,
) -> Result<Duration, ConfigError> {
    ranged(variable, value, range, expected).map(Duration::from_secs)
}

fn millis(variable: &'static str, value: String) -> Result<Duration, ConfigError> {
    ranged(
        variable,
        value,
        0..=3_600_000,
        "a whole number of milliseconds up to 3600000",
    )
    .map(Duration::from_millis)
}

fn hours(variable: &'static str, value: String) -> Result<Duration, ConfigError> {
    ranged(
        variable,
        value,
        1..=87_600,
        "a whole number of hours from 1 to 87600",
    )
    .map(|h| Duration::from_secs(h * 3600))
}

fn parse_database_url(value: String) -> Result<DatabaseUrl, ConfigError> {
    if ["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|p| value.starts_with(p))
    {
        Ok(DatabaseUrl(value.into()))
    } else {
        Err(ConfigError {
            variable: "DATABASE_URL",
            value: redact_password(&value),
            expected: "a sqlite:// or postgres:// URL",
        })
    }
}

fn parse_log_filter(value: String) -> Result<String, ConfigError> {
    match tracing_subscriber::EnvFilter::try_new(&value) {
        Ok(_) => Ok(value),
        Err(_) => Err(ConfigError {
            variable: "RUST_LOG",
            value,
            expected: "a log filter such as `info` or `warn,herald=debug`",
        }),
    }
}

fn parse_cors(value: String) -> Result<CorsOrigins, ConfigError> {
    if value.is_empty() {
        return Ok(CorsOrigins::None);
    }
    if value == "*" {
        return Ok(CorsOrigins::Any);
    }
    match value.split(',').map(|o| parse_origin(o.trim())).collect() {
        Some(origins) => Ok(CorsOrigins::List(origins)),
        None => Err(ConfigError {
            variable: "CORS_ALLOWED_ORIGINS",
            value,
            expected: "`*` or comma-separated origins, each scheme://host[:port] with no path, such as https://app.example.com",
        }),
    }
}

/// An origin as a browser sends it in `Origin`: lower case, without the
/// scheme's default port. Anything else (a path, a space, user info) could
/// never match one, so it is refused rather than silently ignored.
fn parse_origin(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port: u16 = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    // A trailing slash is how origins are often pasted; any other path is not.
    let authority = rest.strip_suffix('/').unwrap_or(rest).to_ascii_lowercase();
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (ip, after) = bracketed.split_once(']')?;
            ip.parse::<std::net::Ipv6Addr>().ok()?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':')?),
            };
            (format!("[{ip}]"), port)
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority.as_str(), None),
            };
            let label_ok = |label: &str| {
                (1..=63).contains(&label.len())
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            };
            if !host.split('.').all(label_ok) {
                return None;
            }
            (host.to_owned(), port)
        }
    };
    let port = match port {
        None => default_port,
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().ok().filter(|&n| n > 0)?
        }
        Some(_) => return None,
    };
    Some(if port == default_port {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}:{port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_serve_the_embedded_database_on_loopback() -> Result<(), ConfigError> {
        let s = settings(&[])?;
        assert_eq!(s.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.sse_keep_alive, Duration::from_secs(15));
        assert_eq!(s.sse_retry, Duration::from_millis(3000));
        assert_eq!(s.event_retention, Duration::from_secs(168 * 3600));
        assert_eq!(s.cors_allowed_origins, CorsOrigins::None);
        assert_eq!(s.request_body_timeout, Duration::from_secs(10));
        assert_eq!(s.log_filter, "info");
        assert_eq!(s.log_format, LogFormat::Text);
        Ok(())
    }

    #[test]
    fn values_are_trimmed_alike() -> Result<(), ConfigError> {
        let s = settings(&[
            ("RUST_LOG", "  warn,herald=debug \n"),
            ("LOG_FORMAT", " json "),
            ("SSE_RETRY_MS", " 20 "),
        ])?;
        assert_eq!(s.log_filter, "warn,herald=debug");
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.sse_retry, Duration::from_millis(20));
        assert_eq!(settings(&[("RUST_LOG", "   ")])?.log_filter, "info");
        Ok(())
    }

    #[test]
    fn the_database_password_never_shows() -> Result<(), Box<dyn std::error::Error>> {
        let url =
            "postgres://admin:hunter2@db.example:5432/herald?sslmode=require&password=hunter3";
        let s = settings(&[("DATABASE_URL", url)])?;
        let redacted = "postgres://admin:***@db.example:5432/herald?sslmode=require&password=***";
        assert_eq!(s.database_url.to_string(), redacted);
        assert_eq!(s.database_url.expose(), url);
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter"), "{debug}");
        assert!(debug.contains(redacted), "{debug}");

        let Err(error) = settings(&[("DATABASE_URL", "mysql://root:p@ss:word@db.example/app")])
        else {
            return Err("a mysql URL was accepted".into());
        };
        let message = error.to_string();
        assert!(
            message.contains("mysql://root:***@db.example/app"),
            "{message}"
        );
        assert!(!message.contains("word"), "{message}");
        assert_eq!(
            redact_password("sqlite://herald.db?mode=rwc"),
            "sqlite://herald.db?mode=rwc"
        );
        assert_eq!(
            redact_password("postgres://admin@host/db"),
            "postgres://admin@host/db"
        );
        Ok(())
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (var, value) in [
            ("SSE_KEEP_ALIVE_SECS", "soon"),
            ("SSE_KEEP_ALIVE_SECS", "0"),
            ("SSE_RETRY_MS", "-1"),
            ("EVENT_RETENTION_HOURS", "1.5"),
            ("BIND_ADDR", "localhost"),
            ("DATABASE_URL", "mysql://x"),
            ("CORS_ALLOWED_ORIGINS", "example.com"),
            ("TLS_KEY_PATH", "key.pem"),
            ("JWT_SECRET", "too-short"),
            ("BIND_ADDR", "0.0.0.0:8080"),
            ("MAX_STREAMS_PER_SUBJECT", "0"),
            ("MAX_STREAMS", "many"),
            ("RUST_LOG", "herald=loud"),
            ("LOG_FORMAT", "xml"),
            ("SQLITE_BUSY_TIMEOUT_MS", "soon"),
            ("REQUEST_BODY_TIMEOUT_SECS", "0"),
            ("MAX_PUBLISH_PER_MINUTE", "0"),
            ("MIN_FREE_DISK_MB", "-1"),
        ] {
            let message = match settings(&[(var, value)]) {
                Ok(_) => panic!("{var}={value} was accepted"),
                Err(e) => e.to_string(),
            };
            assert!(message.starts_with(&format!("invalid {var}=")), "{message}");
        }
    }

    #[test]
    fn a_blank_secret_stops_start_up_rather_than_running_open() {
        for blank in ["   ", "\t", " \n "] {
            let message = settings(&[("JWT_SECRET", blank)])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                message.starts_with("invalid JWT_SECRET="),
                "{blank:?}: {message}"
            );
        }
        assert!(matches!(settings(&[("JWT_SECRET", "")]), Ok(s) if s.jwt_secret.is_none()));
    }

    #[test]
    fn a_secret_is_never_echoed_and_opens_other_addresses() -> Result<(), ConfigError> {
        let refused = settings(&[("JWT_SECRET", "short-but-secret")]).err();
        let message = refused.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("invalid JWT_SECRET="), "{message}");
        assert!(!message.contains("short-but-secret"), "{message}");
        let secret = "x".repeat(32);
        let s = settings(&[("JWT_SECRET", &secret), ("BIND_ADDR", "0.0.0.0:8080")])?;
        assert!(s.jwt_secret.is_some());
        assert!(!format!("{s:?}").contains(&secret));
        Ok(())
    }

    #[test]
    fn cors_takes_a_list_or_a_wildcard() -> Result<(), ConfigError> {
        let s = settings(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://a.example, http://localhost:3000/",
        )])?;
        assert_eq!(
            s.cors_allowed_origins,
            CorsOrigins::List(vec![
                "https://a.example".into(),
                "http://localhost:3000".into()
            ])
        );
        assert_eq!(
            settings(&[("CORS_ALLOWED_ORIGINS", "*")])?.cors_allowed_origins,
            CorsOrigins::Any
        );
        Ok(())
    }

    #[test]
    fn origins_are_normalised_as_browsers_send_them() -> Result<(), ConfigError> {
        let s = settings(&[(
            "CORS_ALLOWED_ORIGINS",
            "HTTPS://App.Example:443,http://[::1]:8080,http://127.0.0.1:80",
        )])?;
        assert_eq!(
            s.cors_allowed_origins,
            CorsOrigins::List(vec![
                "https://app.example".into(),
                "http://[::1]:8080".into(),
                "http://127.0.0.1".into(),
            ])
        );
        Ok(())
    }

    #[test]
    fn an_origin_that_could_never_match_is_refused() {
        for value in [
            "http://a b.com",
            "https://a.com/path",
            "https://a.com?x=1",
            "https://user@a.com",
            "ftp://a.com",
            "https://",
            "https://a.com:0",
            "https://a.com:65536",
            "https://a.com:+80",
            "https://a..com",
            "https://a.com,",
            "https://a.com,*",
            "http://[::1",
            "http://[nope]:80",
        ] {
            let result = settings(&[("CORS_ALLOWED_ORIGINS", value)]);
            assert!(
                matches!(&result, Err(e) if e.to_string().starts_with("invalid CORS_ALLOWED_ORIGINS=")),
                "{value:?} gave {result:?}"
            );
        }
    }
}
