//! The command line: `herald` (or `herald serve`) serves; `herald token`
//! prints a token signed with the configured `JWT_SECRET`; `herald watch`
//! makes a table live, `herald unwatch` stops it. Parsed by clap: `--help`
//! everywhere, `--version`, and exit code 2 for a command line it cannot
//! read.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::auth::{MIN_SECRET_BYTES, Scope, TokenKeys};
use crate::db::live_tables::{self, Change, LiveTable, Watch};
use crate::db::{self, DatabaseConfig};
use crate::domain::TopicPattern;

#[derive(Debug, Parser, PartialEq, Eq)]
#[command(
    name = "herald",
    version,
    about = "Realtime CRUD: every committed write to a live table streams over Server-Sent Events",
    long_about = "Realtime CRUD: every committed write to users, and to any table `herald watch` \
        makes live, becomes one event that browsers receive over Server-Sent Events, in order, \
        across reconnects and restarts.\n\nSettings come from the environment (and a .env file): \
        DATABASE_URL, BIND_ADDR, JWT_SECRET, …; see docs/configuration.md.",
    after_help = "Without a command, herald serves."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Serve the API and the event streams (the default)
    Serve,
    /// Print a token signed with JWT_SECRET
    Token(TokenRequest),
    /// Make a table live (every committed INSERT, UPDATE and DELETE becomes
    /// an event, from any writer), change how, or list the live tables
    Watch(WatchRequest),
    /// Stop a table being live; its events stay in the log
    Unwatch {
        /// The table
        table: String,
    },
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct TokenRequest {
    /// The token's subject (`sub`)
    #[arg(long = "sub", value_name = "SUBJECT", value_parser = parse_subject)]
    pub subject: String,
    /// Space-separated scopes: users:read users:write events:publish
    #[arg(long, default_value = "", value_parser = parse_scope)]
    pub scope: String,
    /// Space-separated topics the token may read: `users/*`, `inbox/alice`,
    /// `orders/acme/*`, `*`
    #[arg(long, default_value = "", value_parser = parse_topics)]
    pub topics: Topics,
    /// How long the token lives: 90, 90s, 15m, 1h or 7d
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
}

/// A token's topics, as `--topics` gives them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Topics(pub Vec<String>);

#[derive(Debug, Args, PartialEq, Eq)]
pub struct WatchRequest {
    /// The table to make live; without it, lists the live tables and how
    /// each stands
    pub table: Option<String>,
    /// The column whose value scopes each row's topic
    /// (`<table>/<scope>/<key>`): a token granted `orders/acme/*` reads
    /// tenant acme's rows
    #[arg(
        long,
        value_name = "COLUMN",
        requires = "table",
        conflicts_with = "no_scope"
    )]
    pub scope: Option<String>,
    /// Topics without a scope again (`<table>/<key>`)
    #[arg(long, requires = "table")]
    pub no_scope: bool,
    /// Columns that never leave the database (comma-separated); they
    /// replace those hidden before
    #[arg(
        long,
        value_name = "COLUMN[,COLUMN…]",
        value_delimiter = ',',
        requires = "table",
        conflicts_with = "no_hide"
    )]
    pub hide: Option<Vec<String>>,
    /// Hide no column again
    #[arg(long, requires = "table")]
    pub no_hide: bool,
}

fn parse_subject(raw: &str) -> Result<String, String> {
    let subject = raw.trim();
    if subject.is_empty() {
        return Err("the subject is empty".to_owned());
    }
    Ok(subject.to_owned())
}

fn parse_scope(raw: &str) -> Result<String, String> {
    let scopes: Vec<&str> = raw.split_whitespace().collect();
    if let Some(unknown) = scopes.iter().find(|name| Scope::named(name).is_none()) {
        let known: Vec<&str> = Scope::ALL.iter().map(|s| s.name()).collect();
        return Err(format!(
            "unknown scope {unknown:?} (known: {})",
            known.join(" ")
        ));
    }
    Ok(scopes.join(" "))
}

fn parse_topics(raw: &str) -> Result<Topics, String> {
    let topics: Vec<String> = raw.split_whitespace().map(str::to_owned).collect();
    if let Some(problem) = topics.iter().find_map(|t| TopicPattern::parse(t).err()) {
        return Err(problem);
    }
    Ok(Topics(topics))
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
        _ => return Err("use e.g. 90s, 15m, 1h or 7d".to_owned()),
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(seconds_per))
        .map(Duration::from_secs)
        .ok_or_else(|| "use e.g. 90s, 15m, 1h or 7d".to_owned())
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
            &request.topics.0,
            request.ttl,
        )
        .map_err(|e| e.to_string())
}

/// What a command that ran came to: the lines it prints, or why it failed
/// (one line, exit code 1).
pub type Outcome = Result<Vec<String>, String>;

/// `herald watch`: makes the table live as asked, or lists the live tables.
pub async fn watch(request: &WatchRequest, database: &DatabaseConfig) -> Outcome {
    let db = open(database).await?;
    let Some(table) = &request.table else {
        let surveyed = live_tables::survey(&db)
            .await
            .map_err(|e| format!("reading the live tables: {e}"))?;
        if surveyed.is_empty() {
            return Ok(vec!["no table is watched".to_owned()]);
        }
        return Ok(surveyed
            .iter()
            .map(|(table, health)| {
                let advice = health.advice(table.table.as_str());
                format!(
                    "{}{}",
                    describe(table),
                    advice.map(|a| format!(" — {a}")).unwrap_or_default()
                )
            })
            .collect());
    };
    let change = Watch {
        scope: Change::asked(request.scope.clone(), request.no_scope),
        hide: Change::asked(request.hide.clone(), request.no_hide),
    };
    let live = live_tables::watch(&db, table, &change)
        .await
        .map_err(|e| e.to_string())?;
    Ok(vec![format!("watching {}", describe(&live))])
}

/// `herald unwatch`: stops the table being live.
pub async fn unwatch(table: &str, database: &DatabaseConfig) -> Outcome {
    let db = open(database).await?;
    live_tables::unwatch(&db, table)
        .await
        .map_err(|e| e.to_string())?;
    Ok(vec![format!(
        "{table} is no longer watched; its events stay in the log"
    )])
}

/// Opens the database as the server does, creating Herald's own tables on
/// a database it has never started on.
async fn open(database: &DatabaseConfig) -> Result<sea_orm::DatabaseConnection, String> {
    db::connect(database)
        .await
        .map_err(|e| format!("could not open the database: {e}"))
}

/// `orders: key id (integer), scope tenant, hidden secret, notes`
fn describe(table: &LiveTable) -> String {
    let mut text = format!(
        "{}: key {} ({})",
        table.table,
        table.key,
        table.key_kind.as_str()
    );
    if let Some(scope) = &table.scope {
        text.push_str(&format!(", scope {scope}"));
    }
    if !table.hidden.is_empty() {
        let hidden: Vec<&str> = table.hidden.iter().map(|h| h.as_str()).collect();
        text.push_str(&format!(", hidden {}", hidden.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<Command>, clap::Error> {
        let args = std::iter::once("herald").chain(line.split('|').filter(|a| !a.is_empty()));
        Cli::try_parse_from(args).map(|cli| cli.command)
    }

    #[test]
    fn the_token_command_reads_its_options() {
        assert_eq!(parse("").ok(), Some(None), "no command: serve");
        assert_eq!(parse("serve").ok(), Some(Some(Command::Serve)));
        assert_eq!(
            parse(
                "token|--sub|alice|--scope|users:read  users:write|--topics|users/* inbox/alice|--ttl|2h"
            )
            .ok(),
            Some(Some(Command::Token(TokenRequest {
                subject: "alice".into(),
                scope: "users:read users:write".into(),
                topics: Topics(vec!["users/*".into(), "inbox/alice".into()]),
                ttl: Duration::from_secs(7200),
            })))
        );
        for bad in [
            "token",
            "token|--sub",
            "token|--sub|a|--ttl|1y",
            "token|--sub|a|--topics|bad topic!",
            "token|--sub|a|--scope|users:reed",
            "serves",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_watch_command_reads_its_options() {
        let watch = |line| match parse(line) {
            Ok(Some(Command::Watch(request))) => Some(request),
            _ => None,
        };
        assert_eq!(watch("watch").map(|w| w.table), Some(None), "lists");
        let request = watch("watch|orders|--scope|tenant|--hide|secret,notes");
        assert_eq!(
            request,
            Some(WatchRequest {
                table: Some("orders".into()),
                scope: Some("tenant".into()),
                no_scope: false,
                hide: Some(vec!["secret".into(), "notes".into()]),
                no_hide: false,
            })
        );
        for bad in [
            "watch|--scope|tenant",
            "watch|orders|--scope|a|--no-scope",
            "watch|orders|--hide|a|--no-hide",
            "unwatch",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_need_a_strong_secret() {
        let request = TokenRequest {
            subject: "alice".into(),
            scope: String::new(),
            topics: Topics::default(),
            ttl: Duration::from_secs(60),
        };
        assert!(issue_token(&request, None).is_err());
        assert!(issue_token(&request, Some("short")).is_err());
        assert!(issue_token(&request, Some(&"s".repeat(32))).is_ok());
    }
}
