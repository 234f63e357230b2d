//! Typed configuration, read from the environment (and `.env` when present).
//! Each variable's name, default and accepted values live in
//! [`settings_table`]; this module turns them into [`Settings`].

mod setting;
pub mod settings_table;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use self::setting::Lookup;
pub use self::setting::{Accepts, Setting};
use self::settings_table::*;
use crate::auth::MIN_SECRET_BYTES;
use crate::telemetry::LogFormat;

/// Everything Herald needs to start, parsed once: a bad value stops start-up
/// with a message naming the variable instead of surfacing later. Each field
/// names the variable it is read from, whose doc says what it means.
#[derive(Debug, Clone)]
pub struct Settings {
    /// From [`DATABASE_URL`].
    pub database_url: DatabaseUrl,
    /// From [`SQLITE_BUSY_TIMEOUT_MS`].
    pub sqlite_busy_timeout: Duration,
    /// From [`MIN_FREE_DISK_MB`].
    pub min_free_disk_mb: u64,
    /// From [`BIND_ADDR`].
    pub bind_addr: SocketAddr,
    /// From [`SSE_KEEP_ALIVE_SECS`].
    pub sse_keep_alive: Duration,
    /// From [`SSE_RETRY_MS`].
    pub sse_retry: Duration,
    /// From [`SSE_COALESCE_MS`].
    pub sse_coalesce: Duration,
    /// From [`EVENT_RETENTION_HOURS`].
    pub event_retention: Duration,
    /// From [`CORS_ALLOWED_ORIGINS`].
    pub cors_allowed_origins: CorsOrigins,
    /// From [`SHUTDOWN_GRACE_SECS`].
    pub shutdown_grace: Duration,
    /// From [`TLS_CERT_PATH`] and [`TLS_KEY_PATH`]; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// From [`JWT_SECRET`]; `None`: Herald runs open, on loopback only.
    pub jwt_secret: Option<SecretString>,
    /// From the `MERCURE_*` settings; `None` (no
    /// [`MERCURE_PUBLISHER_JWT_KEY`]): no Mercure hub.
    pub mercure: Option<MercureSettings>,
    /// From [`MAX_STREAMS_PER_SUBJECT`].
    pub max_streams_per_subject: usize,
    /// From [`MAX_STREAMS`]; `None`: derived from the open-file limit at
    /// start-up.
    pub max_streams: Option<usize>,
    /// From [`MAX_PUBLISH_PER_MINUTE`].
    pub max_publish_per_minute: u32,
    /// From [`REQUEST_HEAD_TIMEOUT_SECS`].
    pub request_head_timeout: Duration,
    /// From [`REQUEST_BODY_TIMEOUT_SECS`].
    pub request_body_timeout: Duration,
    /// From [`RUST_LOG`], checked to be a valid filter.
    pub log_filter: String,
    /// From [`LOG_FORMAT`].
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

/// The Mercure hub's settings.
#[derive(Debug, Clone)]
pub struct MercureSettings {
    /// From [`MERCURE_PUBLISHER_JWT_KEY`].
    pub publisher_key: SecretString,
    /// From [`MERCURE_SUBSCRIBER_JWT_KEY`]; `None`: the publisher key.
    pub subscriber_key: Option<SecretString>,
    /// From [`MERCURE_ANONYMOUS`].
    pub anonymous: bool,
    /// From [`MERCURE_SUBSCRIPTIONS`].
    pub subscriptions: bool,
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
    expected: String,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can configure a server
    /// without touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let lookup: Lookup = &lookup;
        Self {
            database_url: parse_database_url(DATABASE_URL.read(lookup))?,
            sqlite_busy_timeout: Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS.number(lookup)?),
            min_free_disk_mb: MIN_FREE_DISK_MB.number(lookup)?,
            bind_addr: BIND_ADDR.parsed(lookup)?,
            sse_keep_alive: Duration::from_secs(SSE_KEEP_ALIVE_SECS.number(lookup)?),
            sse_retry: Duration::from_millis(SSE_RETRY_MS.number(lookup)?),
            sse_coalesce: Duration::from_millis(SSE_COALESCE_MS.number(lookup)?),
            event_retention: Duration::from_hours(EVENT_RETENTION_HOURS.number(lookup)?),
            cors_allowed_origins: parse_cors(CORS_ALLOWED_ORIGINS.read(lookup))?,
            shutdown_grace: Duration::from_secs(SHUTDOWN_GRACE_SECS.number(lookup)?),
            tls: parse_tls(TLS_CERT_PATH.read(lookup), TLS_KEY_PATH.read(lookup))?,
            request_head_timeout: Duration::from_secs(REQUEST_HEAD_TIMEOUT_SECS.number(lookup)?),
            request_body_timeout: Duration::from_secs(REQUEST_BODY_TIMEOUT_SECS.number(lookup)?),
            log_filter: parse_log_filter(RUST_LOG.read(lookup))?,
            log_format: LOG_FORMAT.parsed(lookup)?,
            jwt_secret: None,
            mercure: parse_mercure(lookup)?,
            max_streams_per_subject: MAX_STREAMS_PER_SUBJECT.number(lookup)?,
            max_publish_per_minute: MAX_PUBLISH_PER_MINUTE.number(lookup)?,
            max_streams: MAX_STREAMS.optional_number(lookup)?,
        }
        // Untrimmed: a secret of only whitespace is refused, not taken as unset.
        .secured_by(lookup(JWT_SECRET.name).unwrap_or_default())
    }

    /// Adds the token secret, refusing a weak one, and refuses to run open
    /// anywhere but on loopback.
    fn secured_by(mut self, secret: String) -> Result<Self, ConfigError> {
        // The secret is never echoed back, not even when it is refused: the
        // table makes `JWT_SECRET` an `Accepts::Secret`, which `refuse` redacts.
        if !secret.is_empty() && secret.trim().is_empty() {
            // Set, but to nothing usable: running open would be the opposite
            // of what whoever set it meant.
            return Err(JWT_SECRET.refuse(
                secret,
                format!(
                    "a secret of at least {MIN_SECRET_BYTES} bytes, not only whitespace (leave \
                     it empty, or unset, to run open on loopback)"
                ),
            ));
        }
        let secret = secret.trim();
        if !secret.is_empty() && secret.len() < MIN_SECRET_BYTES {
            return Err(JWT_SECRET.invalid(secret.to_owned()));
        }
        if secret.is_empty() && !self.bind_addr.ip().is_loopback() {
            return Err(BIND_ADDR.refuse(
                self.bind_addr.to_string(),
                format!(
                    "a loopback address while {secret_name} is unset: without a secret anyone \
                     who can reach Herald may write, so set {secret_name} to listen beyond \
                     this machine",
                    secret_name = JWT_SECRET.name
                ),
            ));
        }
        self.jwt_secret = (!secret.is_empty()).then(|| SecretString::from(secret.to_owned()));
        Ok(self)
    }
}

/// A signing key: unset or blank is `None`; a key of only whitespace, or
/// shorter than [`MIN_SECRET_BYTES`], is refused (and never echoed back).
fn key(setting: &Setting, lookup: Lookup) -> Result<Option<SecretString>, ConfigError> {
    let raw = lookup(setting.name).unwrap_or_default();
    if !raw.is_empty() && raw.trim().is_empty() {
        return Err(setting.invalid(raw));
    }
    let key = raw.trim();
    if !key.is_empty() && key.len() < MIN_SECRET_BYTES {
        return Err(setting.invalid(key.to_owned()));
    }
    Ok((!key.is_empty()).then(|| SecretString::from(key.to_owned())))
}

/// The hub's settings, all read (and checked) whether or not it is on.
fn parse_mercure(lookup: Lookup) -> Result<Option<MercureSettings>, ConfigError> {
    let publisher_key = key(&MERCURE_PUBLISHER_JWT_KEY, lookup)?;
    let subscriber_key = key(&MERCURE_SUBSCRIBER_JWT_KEY, lookup)?;
    let anonymous = MERCURE_ANONYMOUS.number::<u64>(lookup)? == 1;
    let subscriptions = MERCURE_SUBSCRIPTIONS.number::<u64>(lookup)? == 1;
    Ok(publisher_key.map(|publisher_key| MercureSettings {
        publisher_key,
        subscriber_key,
        anonymous,
        subscriptions,
    }))
}

fn parse_tls(cert: String, key: String) -> Result<Option<TlsFiles>, ConfigError> {
    // Name the variable that is set: that is the one the operator typed.
    let needs_too = |set: &Setting, value: String, missing: &Setting| {
        let missing_file = missing.accepts.describe();
        set.refuse(
            value,
            format!("HTTPS needs {} ({missing_file}) set too", missing.name),
        )
    };
    match (cert.is_empty(), key.is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Ok(Some(TlsFiles {
            cert_path: cert.into(),
            key_path: key.into(),
        })),
        (false, true) => Err(needs_too(&TLS_CERT_PATH, cert, &TLS_KEY_PATH)),
        (true, false) => Err(needs_too(&TLS_KEY_PATH, key, &TLS_CERT_PATH)),
    }
}

fn parse_database_url(value: String) -> Result<DatabaseUrl, ConfigError> {
    if ["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|p| value.starts_with(p))
    {
        Ok(DatabaseUrl(value.into()))
    } else {
        Err(DATABASE_URL.invalid(redact_password(&value)))
    }
}

fn parse_log_filter(value: String) -> Result<String, ConfigError> {
    match tracing_subscriber::EnvFilter::try_new(&value) {
        Ok(_) => Ok(value),
        Err(_) => Err(RUST_LOG.invalid(value)),
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
        None => Err(CORS_ALLOWED_ORIGINS.invalid(value)),
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
        assert_eq!(s.database_url.expose(), DATABASE_URL.default);
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
