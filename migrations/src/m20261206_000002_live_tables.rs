//! What `herald watch` needs to make any table live: the registry of
//! watched tables, and on PostgreSQL the topic-segment encoding and topics
//! of any length. The SQL is in `migrations/sql/`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE: &str = include_str!("../sql/m20261206_000002_live_tables.sqlite.sql");
const POSTGRES: &str = include_str!("../sql/m20261206_000002_live_tables.postgres.sql");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, SQLITE, POSTGRES).await
    }
}
