//! What the Mercure hub keeps beside the event log: the ids of updates
//! (unique across instances, and where each stands in the log), and who is
//! subscribed to what. The SQL is in `migrations/sql/`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE: &str = include_str!("../sql/m20261206_000003_mercure.sqlite.sql");
const POSTGRES: &str = include_str!("../sql/m20261206_000003_mercure.postgres.sql");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, SQLITE, POSTGRES).await
    }
}
