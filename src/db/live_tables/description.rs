//! The one description of a live table that everything else is made
//! from: the SQL of its triggers on each database, its snapshots, its
//! topics. Built from the table's shape and the options `herald watch` was
//! given, refusing what it cannot stream safely.

use serde::{Deserialize, Serialize};

use super::identifier::Identifier;
use super::shape::{Column, Shape};

/// Herald's own tables, which `herald watch` leaves alone (besides every
/// name starting with `herald_`, `mercure_` or `sqlite_`). `users` streams already,
/// with its own envelope and rules.
pub const HERALD_TABLES: [&str; 7] = [
    "users",
    "events",
    "event_counter",
    "idempotency_keys",
    "seaql_migrations",
    "users_replace_check",
    "users_display_name_patterns",
];

/// Whether `table` is one of Herald's own.
pub fn is_herald_table(table: &str) -> bool {
    HERALD_TABLES.contains(&table)
        || ["herald_", "mercure_", "sqlite_"]
            .iter()
            .any(|prefix| table.starts_with(prefix))
}

/// The types of primary key a live table can have; its value becomes a
/// string (`key`) and a topic segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Integer,
    Text,
    Uuid,
}

impl KeyKind {
    /// The kind of a column of this SQL type, if it can be a key.
    fn of(postgres: bool, sql_type: &str) -> Option<Self> {
        let sql_type = sql_type.to_ascii_lowercase();
        if postgres {
            return match sql_type.split('(').next().unwrap_or_default().trim() {
                "smallint" | "integer" | "bigint" => Some(Self::Integer),
                "text" | "character varying" | "character" | "citext" => Some(Self::Text),
                "uuid" => Some(Self::Uuid),
                _ => None,
            };
        }
        // SQLite's type affinity rules, with UUID first: `uuid_text` is one.
        if sql_type.contains("uuid") {
            Some(Self::Uuid)
        } else if sql_type.contains("int") {
            Some(Self::Integer)
        } else if ["char", "clob", "text"]
            .iter()
            .any(|t| sql_type.contains(t))
        {
            Some(Self::Text)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Integer => "integer",
            Self::Text => "text",
            Self::Uuid => "uuid",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Integer, Self::Text, Self::Uuid]
            .into_iter()
            .find(|kind| kind.as_str() == raw)
    }
}

/// What `herald watch` was asked for, beyond the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The column whose value scopes each row's topic.
    pub scope: Option<String>,
    /// Columns that never leave the database.
    pub hide: Vec<String>,
}

/// Why a table cannot be watched (or unwatched) as asked: one line each.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("{0}")]
    Name(String),
    #[error("there is no table {0}")]
    NoSuchTable(String),
    #[error("{table} is {what}: only tables can be watched")]
    NotATable { table: String, what: String },
    #[error(
        "{0} is Herald's own table: users streams already, and Herald's other tables are not for watching"
    )]
    HeraldTable(String),
    #[error("{0} has no primary key: a watched table's rows are known by their key")]
    NoPrimaryKey(String),
    #[error(
        "{table} has a primary key of several columns ({columns}): only single-column keys are supported"
    )]
    CompositeKey { table: String, columns: String },
    #[error(
        "the primary key {table}.{column} is of type {sql_type}: integer, text and UUID keys are supported"
    )]
    KeyType {
        table: String,
        column: String,
        sql_type: String,
    },
    #[error("{table} has no column {column} to {role}")]
    NoSuchColumn {
        table: String,
        column: String,
        role: &'static str,
    },
    #[error("{column} cannot be hidden: it is the table's {role}, which every row's topic carries")]
    HiddenInTopic { column: String, role: &'static str },
    #[error("{0} is not watched")]
    NotWatched(String),
}

/// A live table: everything its SQL is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTable {
    pub table: Identifier,
    pub key: Identifier,
    pub key_kind: KeyKind,
    pub scope: Option<Identifier>,
    /// Every column, in the table's order, as the triggers know them.
    pub columns: Vec<Column>,
    pub hidden: Vec<Identifier>,
}

impl LiveTable {
    /// `table` as `shape` describes it, watched with `options`.
    pub fn describe(
        table: &Identifier,
        shape: Shape,
        options: &Options,
        postgres: bool,
    ) -> Result<Self, Refusal> {
        let name = table.to_string();
        if is_herald_table(table.as_str()) {
            return Err(Refusal::HeraldTable(name));
        }
        let (columns, primary_key) = match shape {
            Shape::Missing => return Err(Refusal::NoSuchTable(name)),
            Shape::NotATable(what) => return Err(Refusal::NotATable { table: name, what }),
            Shape::Table {
                columns,
                primary_key,
            } => (columns, primary_key),
        };
        let key = match primary_key.as_slice() {
            [] => return Err(Refusal::NoPrimaryKey(name)),
            [key] => key,
            several => {
                return Err(Refusal::CompositeKey {
                    table: name,
                    columns: several.join(", "),
                });
            }
        };
        for column in &columns {
            Identifier::parse(&column.name)
                .map_err(|problem| Refusal::Name(format!("{name}: column {problem}")))?;
        }
        let column = |wanted: &str, role: &'static str| {
            columns
                .iter()
                .find(|c| c.name == wanted)
                .ok_or_else(|| Refusal::NoSuchColumn {
                    table: name.clone(),
                    column: wanted.to_owned(),
                    role,
                })
        };
        let key_column = column(key, "be its key")?;
        let key_kind =
            KeyKind::of(postgres, &key_column.sql_type).ok_or_else(|| Refusal::KeyType {
                table: name.clone(),
                column: key.clone(),
                sql_type: key_column.sql_type.clone(),
            })?;
        let scope = options
            .scope
            .as_deref()
            .map(|scope| column(scope, "scope rows by"))
            .transpose()?;
        let mut hidden = Vec::new();
        for hide in &options.hide {
            let column = column(hide, "hide")?;
            if column.name == *key {
                return Err(Refusal::HiddenInTopic {
                    column: column.name.clone(),
                    role: "key",
                });
            }
            if scope.is_some_and(|scope| scope.name == column.name) {
                return Err(Refusal::HiddenInTopic {
                    column: column.name.clone(),
                    role: "scope",
                });
            }
            let hide = Identifier::parse(&column.name).map_err(Refusal::Name)?;
            if !hidden.contains(&hide) {
                hidden.push(hide);
            }
        }
        Ok(Self {
            table: table.clone(),
            key: Identifier::parse(key).map_err(Refusal::Name)?,
            key_kind,
            scope: scope
                .map(|scope| Identifier::parse(&scope.name))
                .transpose()
                .map_err(Refusal::Name)?,
            columns,
            hidden,
        })
    }

    /// The columns a row's JSON shows, in the table's order.
    pub fn visible(&self) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .filter(|c| !self.hidden.iter().any(|h| h.as_str() == c.name))
    }

    /// The columns as the triggers' guard compares them with the
    /// catalog's: `name type`, in order, the types as each database's
    /// catalog writes them.
    pub fn signature(&self) -> String {
        self.columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.sql_type))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// How the columns are today against how the triggers know them:
    /// whether `shape` still has exactly these columns.
    pub fn matches(&self, shape: &Shape) -> bool {
        matches!(shape, Shape::Table { columns, .. } if *columns == self.columns)
    }
}
