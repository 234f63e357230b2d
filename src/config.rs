//! Typed configuration, read from the environment (and `.env` when present).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

use crate::auth::MIN_SECRET_BYTES;

/// Everything Herald needs to start, parsed once: a bad value stops start-up
/// with a message naming the variable instead of surfacing later.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
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
            jwt_secret: None,
            max_streams_per_subject: usize_in(
                "MAX_STREAMS_PER_SUBJECT",
                get("MAX_STREAMS_PER_SUBJECT", "32"),
                1..=1_000_000,
            )?,
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

fn parse_database_url(value: String) -> Result<String, ConfigError> {
    if ["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|p| value.starts_with(p))
    {
        Ok(value)
    } else {
        Err(ConfigError {
            variable: "DATABASE_URL",
            value,
            expected: "a sqlite:// or postgres:// URL",
        })
    }
}

fn parse_cors(value: String) -> Result<CorsOrigins, ConfigError> {
    if value.is_empty() {
        return Ok(CorsOrigins::None);
    }
    if value == "*" {
        return Ok(CorsOrigins::Any);
    }
    let origins: Vec<String> = value
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .collect();
    let valid = |o: &String| {
        (o.starts_with("http://") || o.starts_with("https://"))
            && !o[o.find("://").unwrap_or(0) + 3..].is_empty()
    };
    if origins.iter().all(valid) {
        Ok(CorsOrigins::List(origins))
    } else {
        Err(ConfigError {
            variable: "CORS_ALLOWED_ORIGINS",
            value,
            expected: "`*` or comma-separated origins such as https://app.example.com",
        })
    }
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
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.sse_keep_alive, Duration::from_secs(15));
        assert_eq!(s.sse_retry, Duration::from_millis(3000));
        assert_eq!(s.event_retention, Duration::from_secs(168 * 3600));
        assert_eq!(s.cors_allowed_origins, CorsOrigins::None);
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
        ] {
            let message = match settings(&[(var, value)]) {
                Ok(_) => panic!("{var}={value} was accepted"),
                Err(e) => e.to_string(),
            };
            assert!(message.starts_with(&format!("invalid {var}=")), "{message}");
        }
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
}
