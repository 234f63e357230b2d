//! `user_name` becomes unique ignoring case, as `email` is: a key column
//! holds the name folded to lower case, and the unique index moves to it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    UserName,
    UserNameKey,
}

/// The index names carry the column name: the API reads it back out of the
/// constraint violation to say which field is a duplicate.
const KEY_INDEX: &str = "users_user_name_key_unique";
const OLD_INDEX: &str = "users_user_name_unique";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        refuse_names_differing_only_in_case(manager).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Users::UserNameKey)
                            .string_len(32)
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        // Names have been ASCII-only since this migration, where SQL's
        // lower() and the application's folding agree.
        manager
            .exec_stmt(
                Query::update()
                    .table(Users::Table)
                    .value(Users::UserNameKey, Func::lower(Expr::col(Users::UserName)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(KEY_INDEX)
                    .table(Users::Table)
                    .col(Users::UserNameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(OLD_INDEX).table(Users::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(OLD_INDEX)
                    .table(Users::Table)
                    .col(Users::UserName)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(KEY_INDEX).table(Users::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::UserNameKey)
                    .to_owned(),
            )
            .await
    }
}

/// Which of two existing users named `Ada` and `ada` should keep the name is
/// not ours to decide: the operator renames one, then starts Herald again.
async fn refuse_names_differing_only_in_case(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let clashes = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT lower(user_name) AS name FROM users GROUP BY lower(user_name) HAVING count(*) > 1",
        ))
        .await?;
    if clashes.is_empty() {
        return Ok(());
    }
    let names = clashes
        .iter()
        .map(|row| row.try_get::<String>("", "name"))
        .collect::<Result<Vec<_>, _>>()?;
    Err(DbErr::Migration(format!(
        "user names must now be unique ignoring case, and these are taken more than once: {}; rename all but one user of each, then start again",
        names.join(", ")
    )))
}
