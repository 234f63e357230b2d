//! The command line: `herald` serves; `herald token …` prints a token
//! signed with the configured `JWT_SECRET`.

use std::time::Duration;

use secrecy::SecretString;

use crate::auth::{MIN_SECRET_BYTES, Scope, TokenKeys};
use crate::domain::TopicPattern;

pub const TOKEN_USAGE: &str = "usage: herald token --sub <subject> [--scope \"users:read users:write events:publish\"] [--topics \"users/* inbox/<subject> broadcast\"] [--ttl 1h]";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve,
    Token(TokenRequest),
}

#[derive(Debug, PartialEq, Eq)]
pub struct TokenRequest {
    pub subject: String,
    pub scope: String,
    pub topics: Vec<String>,
    pub ttl: Duration,
}

/// Reads the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    match args.split_first() {
        None => Ok(Command::Serve),
        Some((command, rest)) if command == "token" => parse_token(rest).map(Command::Token),
        Some((other, _)) => Err(format!(
            "unknown command {other:?}: run `herald` to serve, or `herald token --sub <subject> …`"
        )),
    }
}

fn parse_token(args: &[String]) -> Result<TokenRequest, String> {
    let mut request = TokenRequest {
        subject: String::new(),
        scope: String::new(),
        topics: Vec::new(),
        ttl: Duration::from_secs(3600),
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{TOKEN_USAGE}"))?;
        match flag.as_str() {
            "--sub" => request.subject = value.trim().to_owned(),
            "--scope" => {
                let scopes: Vec<&str> = value.split_whitespace().collect();
                if let Some(unknown) = scopes.iter().find(|name| Scope::named(name).is_none()) {
                    let known: Vec<&str> = Scope::ALL.iter().map(|s| s.name()).collect();
                    return Err(format!(
                        "invalid --scope: unknown scope {unknown:?} (known: {})",
                        known.join(" ")
                    ));
                }
                request.scope = scopes.join(" ");
            }
            "--topics" => {
                request.topics = value.split_whitespace().map(str::to_owned).collect();
                if let Some(problem) = request
                    .topics
                    .iter()
                    .find_map(|t| TopicPattern::parse(t).err())
                {
                    return Err(format!("invalid --topics: {problem}"));
                }
            }
            "--ttl" => request.ttl = parse_ttl(value)?,
            other => return Err(format!("unknown option {other}\n{TOKEN_USAGE}")),
        }
    }
    if request.subject.is_empty() {
        return Err(format!("--sub is required\n{TOKEN_USAGE}"));
    }
    Ok(request)
}

/// `90`, `90s`, `15m`, `1h` or `7d`.
fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let (number, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map_or((raw, ""), |at| raw.split_at(at));
    let seconds_per = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "invalid --ttl {raw:?}: use e.g. 90s, 15m, 1h or 7d"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(seconds_per))
        .map(Duration::from_secs)
        .ok_or_else(|| format!("invalid --ttl {raw:?}: use e.g. 90s, 15m, 1h or 7d"))
}

/// The token `request` asks for, signed with `secret` (`JWT_SECRET`).
pub fn issue_token(request: &TokenRequest, secret: Option<&str>) -> Result<String, String> {
    let secret = secret.map(str::trim).unwrap_or_default();
    if secret.len() < MIN_SECRET_BYTES {
        return Err(
            "JWT_SECRET must be set (at least 32 bytes) to sign tokens: the same secret the server uses"
                .to_owned(),
        );
    }
    TokenKeys::new(&SecretString::from(secret.to_owned()))
        .issue(
            &request.subject,
            &request.scope,
            &request.topics,
            request.ttl,
        )
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split('|').map(str::to_owned).collect()
    }

    #[test]
    fn the_token_command_reads_its_options() {
        assert_eq!(parse(&[]), Ok(Command::Serve));
        assert_eq!(
            parse(&args(
                "token|--sub|alice|--scope|users:read  users:write|--topics|users/* inbox/alice|--ttl|2h"
            )),
            Ok(Command::Token(TokenRequest {
                subject: "alice".into(),
                scope: "users:read users:write".into(),
                topics: vec!["users/*".into(), "inbox/alice".into()],
                ttl: Duration::from_secs(7200),
            }))
        );
        for bad in [
            "token",
            "token|--sub",
            "token|--sub|a|--ttl|1y",
            "token|--sub|a|--topics|bad topic!",
            "token|--sub|a|--scope|users:reed",
            "serve",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_need_a_strong_secret() {
        let request = TokenRequest {
            subject: "alice".into(),
            scope: String::new(),
            topics: vec![],
            ttl: Duration::from_secs(60),
        };
        assert!(issue_token(&request, None).is_err());
        assert!(issue_token(&request, Some("short")).is_err());
        assert!(issue_token(&request, Some(&"s".repeat(32))).is_ok());
    }
}
