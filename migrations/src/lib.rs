//! Schema of Herald's database, applied at start-up by `Migrator::up`.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_users;
mod m20261122_000002_create_event_log;
mod m20261201_000001_events_for_any_topic;
mod m20261201_100001_user_name_key;
mod m20261202_000001_users_write_their_events;
mod m20261202_000002_event_counter_per_statement;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_users::Migration),
            Box::new(m20261122_000002_create_event_log::Migration),
            Box::new(m20261201_000001_events_for_any_topic::Migration),
            Box::new(m20261201_100001_user_name_key::Migration),
            Box::new(m20261202_000001_users_write_their_events::Migration),
            Box::new(m20261202_000002_event_counter_per_statement::Migration),
        ]
    }
}
