//! On PostgreSQL, a statement's triggers take their events' ids from a
//! transaction-local setting and write the counter once per statement,
//! instead of once per changed row (which made a statement's time grow with
//! the square of its rows). The SQL that did it changed under the previous
//! migration before migrations were frozen, so this runs that migration's
//! (idempotent) SQL again, for databases that ran its earlier version.
//! SQLite's counter has no such cost.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::m20261202_000001_users_write_their_events::POSTGRES;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(POSTGRES)
                .await?;
        }
        Ok(())
    }
}
