//! The users table.

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};
use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Serialize)]
pub struct User {
    pub id: String,
    pub user_name: String,
    pub email: String,
    pub display_name: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false);
    let db = Database::connect(options).await?;
    db.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS users (
            id TEXT PRIMARY KEY,
            user_name TEXT NOT NULL UNIQUE,
            email TEXT NOT NULL UNIQUE,
            display_name TEXT,
            version INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )",
    )
    .await?;
    Ok(db)
}

pub async fn insert(db: &impl ConnectionTrait, user: &User) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "INSERT INTO users (id, user_name, email, display_name, version, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            user.id.clone().into(),
            user.user_name.clone().into(),
            user.email.clone().into(),
            user.display_name.clone().into(),
            user.version.into(),
            user.created_at.clone().into(),
            user.updated_at.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The first `limit` users in id (creation) order, as JSON objects.
pub async fn list(db: &DatabaseConnection, limit: u64) -> Result<Vec<Value>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT id, user_name, email, display_name, version, created_at, updated_at
             FROM users ORDER BY id LIMIT ?",
            [limit.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(serde_json::json!({
                "id": row.try_get::<String>("", "id")?,
                "user_name": row.try_get::<String>("", "user_name")?,
                "email": row.try_get::<String>("", "email")?,
                "display_name": row.try_get::<Option<String>>("", "display_name")?,
                "version": row.try_get::<i64>("", "version")?,
                "created_at": row.try_get::<String>("", "created_at")?,
                "updated_at": row.try_get::<String>("", "updated_at")?,
            }))
        })
        .collect()
}
