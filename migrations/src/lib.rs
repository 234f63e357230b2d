//! Schema of Herald's database, applied at start-up by `Migrator::up`.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_users;
mod m20261122_000002_create_event_log;
mod m20261201_000001_events_for_any_topic;
mod m20261201_100001_user_name_key;
mod m20261202_000001_users_write_their_events;
mod m20261202_000002_event_counter_per_statement;
mod m20261206_000001_append_only_log;
mod m20261206_000002_live_tables;
mod m20261206_000003_mercure;

pub struct Migrator;

/// Runs a migration's SQL for the database it runs on: each file is one
/// script (SQLite's opens and commits its own transaction).
async fn run_sql(manager: &SchemaManager<'_>, sqlite: &str, postgres: &str) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
    let sql = match manager.get_database_backend() {
        DbBackend::Postgres => postgres,
        _ => sqlite,
    };
    manager.get_connection().execute_unprepared(sql).await?;
    Ok(())
}

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
            Box::new(m20261206_000001_append_only_log::Migration),
            Box::new(m20261206_000002_live_tables::Migration),
            Box::new(m20261206_000003_mercure::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// What each migration applied, by digest. A migration that has been
    /// released never changes, or databases that ran it and databases that
    /// run it now would differ: a change is a new migration, whose SQL goes
    /// here once it is released.
    const APPLIED: &[(&str, &str)] = &[
        (
            "m20261202_000001_users_write_their_events.postgres.sql",
            "43aede82ccac33c4bd8eba749a45c8d443f89ba2d5df20d3359b1dee1c525dce",
        ),
        (
            "m20261202_000001_users_write_their_events.sqlite.sql",
            "60ef936f271c15315dddc14f358237d86d0d5727f2b5ce8149b11a680c426fee",
        ),
        (
            "m20261206_000001_append_only_log.postgres.sql",
            "58f3428ca902c1da67d13fa8f03cbf8582d7426b46a468fb282f594648876490",
        ),
        (
            "m20261206_000001_append_only_log.sqlite.sql",
            "5adb5a06bf97573ca09529bb7b642433576c206dd12bc40f875f18a4b716911a",
        ),
        (
            "m20261206_000002_live_tables.postgres.sql",
            "da3ee24d8d7519f83ccab87b3d4f4dc8d7df19360e1ee83479b5133c97abb0c1",
        ),
        (
            "m20261206_000002_live_tables.sqlite.sql",
            "02b201e06a8d6b8cbfb7a83d5b660a240a5ab3b87e266aac769eb3deb3121867",
        ),
        (
            "m20261206_000003_mercure.postgres.sql",
            "f16cd6035ea8aa03b11443d5fdb1cd395d624cd6480b44e64dc406b91aca64ab",
        ),
        (
            "m20261206_000003_mercure.sqlite.sql",
            "2340436617b6b79b1e24d6222467875ad59ba0bcf8c82ab45d0d99b295f8f6a0",
        ),
    ];

    #[test]
    fn what_a_migration_applied_never_changes() {
        let sql = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let mut files: Vec<String> = std::fs::read_dir(&sql)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('m') && name.ends_with(".sql"))
            .collect();
        files.sort();
        let recorded: Vec<&str> = APPLIED.iter().map(|(name, _)| *name).collect();
        assert_eq!(files, recorded, "every migration's SQL has its digest here");
        for (name, digest) in APPLIED {
            let text = std::fs::read(sql.join(name)).unwrap_or_default();
            let actual: String = Sha256::digest(&text)
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            assert_eq!(
                actual, *digest,
                "migrations/sql/{name} changed after its migration was released: make a new migration instead"
            );
        }
    }
}
