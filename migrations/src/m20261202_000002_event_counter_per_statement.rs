//! On PostgreSQL, a statement's triggers take their events' ids from a
//! transaction-local setting and write the counter once per statement,
//! instead of once per changed row (which made a statement's time grow with
//! the square of its rows). `migrations/sql/users_events.postgres.sql` is
//! idempotent and is the one definition: this runs it again, for databases
//! that ran its earlier version. SQLite's counter has no such cost.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES: &str = include_str!("../sql/users_events.postgres.sql");

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
