//! An instance's eye on its live tables: every few seconds it looks at how
//! each stands, says so in the log when that changes (a table dropped, its
//! columns changed, its triggers gone), and on SQLite confirms the columns
//! of the tables that still have theirs (see `sqlite`), so that their
//! triggers stop reading the catalog after a schema change elsewhere.

use std::collections::HashMap;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbBackend};
use tokio_util::sync::CancellationToken;

use super::{Health, confirm_columns, survey};
use crate::db::writer::{Change, Writer};

const LOOK_EVERY: Duration = Duration::from_secs(5);

/// Looks every few seconds until `stop`.
pub async fn keep(writer: Writer, db: DatabaseConnection, stop: CancellationToken) {
    let mut said: HashMap<String, Health> = HashMap::new();
    loop {
        match survey(&db).await {
            Ok(surveyed) => {
                for (table, health) in &surveyed {
                    let name = table.table.to_string();
                    if said.get(&name) != Some(health) {
                        match health.advice(&name) {
                            Some(advice) => tracing::error!(table = %name, "{advice}"),
                            None => tracing::info!(table = %name, "live table"),
                        }
                        said.insert(name, *health);
                    }
                }
                said.retain(|name, _| surveyed.iter().any(|(t, _)| t.table.as_str() == name));
                if db.get_database_backend() == DbBackend::Sqlite && !surveyed.is_empty() {
                    let confirmed = writer
                        .maintain(move |txn, _| {
                            let surveyed = surveyed.clone();
                            Box::pin(async move {
                                confirm_columns(txn, &surveyed).await?;
                                Ok(Change::Nothing(()))
                            })
                        })
                        .await;
                    if let Err(error) = confirmed {
                        tracing::warn!(%error, "could not confirm the live tables' columns");
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "could not look at the live tables"),
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(LOOK_EVERY) => {}
        }
    }
}
