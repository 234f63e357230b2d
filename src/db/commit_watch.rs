//! On SQLite, noticing commits that other processes make to the database
//! file (the `sqlite3` shell, a script, another service): nothing tells
//! Herald of them but `PRAGMA data_version`, whose value on one connection
//! changes whenever another connection has committed. Asking costs no disk
//! read, so it is asked often, on a connection of its own, and a change
//! wakes the relay, which reads the log. (On PostgreSQL the database tells
//! the listener instead: see `listener`.)

use std::time::Duration;

use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio_util::sync::CancellationToken;

/// How often the watch asks: a commit by another process reaches streams
/// this much later at most, plus the relay's read.
const ASK_EVERY: Duration = Duration::from_millis(50);

/// Calls `wake` after any commit another connection makes to `db`'s file,
/// until `stop`. Does nothing on PostgreSQL. Returns (to be restarted by
/// its supervisor) if its connection fails.
pub async fn watch_commits(db: DatabaseConnection, wake: impl Fn(), stop: CancellationToken) {
    if db.get_database_backend() != DbBackend::Sqlite {
        return stop.cancelled().await;
    }
    let options = db.get_sqlite_connection_pool().connect_options();
    let mut connection = match options.connect().await {
        Ok(connection) => connection,
        Err(error) => {
            tracing::warn!(%error, "could not open a connection to watch for other processes' commits");
            return;
        }
    };
    let mut seen: Option<i64> = None;
    let mut ask = tokio::time::interval(ASK_EVERY);
    ask.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ask.tick() => {}
        }
        match sqlx::query_scalar::<_, i64>("PRAGMA data_version")
            .fetch_one(&mut connection)
            .await
        {
            Ok(version) => {
                if seen.is_some_and(|seen| seen != version) {
                    wake();
                }
                seen = Some(version);
            }
            Err(error) => {
                tracing::warn!(%error, "could not ask SQLite for other processes' commits");
                return;
            }
        }
    }
    let _ = connection.close().await;
}
