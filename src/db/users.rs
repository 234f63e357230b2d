//! Queries on the users table. They take `&impl ConnectionTrait` so they run
//! on the pool or inside a write transaction alike.

use std::collections::HashSet;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbBackend};

use futures_util::future::BoxFuture;
use sea_orm::DatabaseTransaction;

use super::Error;
use super::entities::user;
use super::event_log;
use super::statement::begin_snapshot;
use super::writer::{Joined, joined::RowOutcomes};
use crate::domain::{Email, NewUser, Topic, User, UserId, UserName};

pub(super) async fn find(conn: &impl ConnectionTrait, id: UserId) -> Result<Option<User>, DbErr> {
    Ok(user::Entity::find_by_id(id.uuid())
        .one(conn)
        .await?
        .map(User::from))
}

/// What taking a user's row for a write found.
pub(super) enum Taken {
    User(User),
    Missing,
    /// Another transaction holds the row (a `psql` session that changed it
    /// and has not committed, another instance's batch).
    Busy,
}

/// The user `id`, its row locked for the rest of the transaction. On
/// PostgreSQL a row another transaction holds is not waited for: the
/// writer's batches are serial, and waiting would hold every other write
/// behind it. (SQLite has one writer, which holds every row.)
pub(super) async fn take(conn: &impl ConnectionTrait, id: UserId) -> Result<Taken, DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(find(conn, id).await?.map_or(Taken::Missing, Taken::User));
    }
    let locked = user::Entity::find_by_id(id.uuid())
        .lock_with_behavior(LockType::NoKeyUpdate, LockBehavior::SkipLocked)
        .one(conn)
        .await?;
    Ok(match locked {
        Some(row) => Taken::User(User::from(row)),
        None if find(conn, id).await?.is_some() => Taken::Busy,
        None => Taken::Missing,
    })
}

/// Up to `limit` users in id order, after the user `after` when given: ids
/// never change, so following pages visits every user exactly once.
pub(super) async fn page(
    conn: &impl ConnectionTrait,
    after: Option<UserId>,
    limit: u64,
) -> Result<Vec<User>, DbErr> {
    let mut query = user::Entity::find()
        .order_by_asc(user::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(user::Column::Id.gt(after.uuid()));
    }
    Ok(query.all(conn).await?.into_iter().map(User::from).collect())
}

/// A page of users and the id of the newest event they reflect, read from
/// one snapshot: a client that subscribes after that id misses nothing and
/// sees nothing twice.
pub(super) async fn page_as_of_event(
    db: &DatabaseConnection,
    after: Option<UserId>,
    limit: u64,
) -> Result<(Vec<User>, i64), DbErr> {
    let txn = begin_snapshot(db).await?;
    let last_event_id = event_log::last_id(&txn).await?;
    let users = page(&txn, after, limit).await?;
    txn.commit().await?;
    Ok((users, last_event_id))
}

/// A user a create inserts: the fields it sets. The database fills in the
/// rest (version, times, derived keys) and appends its `user_created` event.
#[derive(Debug, Clone)]
pub struct NewUserRow {
    pub id: UserId,
    pub fields: NewUser,
}

/// The users a batch creates, inserted with one statement (see
/// [`Joined`]): each comes back with the topic of its `user_created`
/// event, or refused with the field another user already has.
pub struct NewUsers;

impl Joined for NewUsers {
    type Row = NewUserRow;

    fn insert(
        txn: &DatabaseTransaction,
        rows: Vec<NewUserRow>,
    ) -> BoxFuture<'_, Result<RowOutcomes, DbErr>> {
        Box::pin(async move {
            let inserted = insert_skipping_taken(txn, &rows).await?;
            let mut outcomes = Vec::with_capacity(rows.len());
            for row in &rows {
                outcomes.push(if inserted.contains(&row.id.uuid()) {
                    Ok(Topic::user(row.id).as_str().to_owned())
                } else {
                    Err(Error::Duplicate {
                        field: taken_by_another(txn, row).await?,
                    })
                });
            }
            Ok(outcomes)
        })
    }
}

/// Inserts `rows` with one statement, skipping each whose name or email is
/// taken (by a user already there, or by a row before it in `rows`)
/// without an error that would abort a PostgreSQL transaction shared with
/// other writes. Returns the ids of the rows inserted.
async fn insert_skipping_taken(
    conn: &impl ConnectionTrait,
    rows: &[NewUserRow],
) -> Result<HashSet<uuid::Uuid>, DbErr> {
    let models = rows.iter().map(|row| user::ActiveModel {
        id: Set(row.id.uuid()),
        user_name: Set(row.fields.user_name.as_str().to_owned()),
        email: Set(row.fields.email.as_str().to_owned()),
        display_name: Set(row
            .fields
            .display_name
            .as_ref()
            .map(|d| d.as_str().to_owned())),
        ..Default::default()
    });
    let inserted = user::Entity::insert_many(models)
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_with_returning_keys(conn)
        .await;
    match inserted {
        Ok(ids) => Ok(ids.into_iter().collect()),
        Err(DbErr::RecordNotInserted) => Ok(HashSet::new()),
        Err(error) => Err(error),
    }
}

/// Which of `row`'s unique fields another user has: why
/// [`insert_skipping_taken`] skipped it.
async fn taken_by_another(
    conn: &impl ConnectionTrait,
    row: &NewUserRow,
) -> Result<&'static str, DbErr> {
    let fields = &row.fields;
    let taken = taken_field(
        conn,
        row.id,
        fields.user_name.as_str(),
        fields.email.as_str(),
    )
    .await?;
    Ok(taken.unwrap_or("user_name"))
}

/// Which of these unique fields a user other than `id` already has, if any.
pub(super) async fn taken_field(
    conn: &impl ConnectionTrait,
    id: UserId,
    user_name: &str,
    email: &str,
) -> Result<Option<&'static str>, DbErr> {
    let name_key = UserName::key_of(user_name);
    let other = user::Entity::find()
        .filter(
            Condition::any()
                .add(user::Column::UserNameKey.eq(name_key.clone()))
                .add(user::Column::EmailKey.eq(Email::key_of(email))),
        )
        .filter(user::Column::Id.ne(id.uuid()))
        .one(conn)
        .await?;
    Ok(other.map(|other| {
        if other.user_name_key == name_key {
            "user_name"
        } else {
            "email"
        }
    }))
}

/// Writes the `changed` fields of `user` (their names, as `updated_fields`
/// has them); the database bumps the version, sets `updated_at` and appends
/// the `user_updated` event.
pub(super) async fn update(
    conn: &impl ConnectionTrait,
    user: &User,
    changed: impl Iterator<Item = &str>,
) -> Result<(), DbErr> {
    let mut update = user::Entity::update_many().filter(user::Column::Id.eq(user.id.uuid()));
    for field in changed {
        update = match field {
            "user_name" => {
                update.col_expr(user::Column::UserName, Expr::value(user.user_name.clone()))
            }
            "email" => update.col_expr(user::Column::Email, Expr::value(user.email.clone())),
            "display_name" => update.col_expr(
                user::Column::DisplayName,
                Expr::value(user.display_name.clone()),
            ),
            _ => update,
        };
    }
    update.exec(conn).await?;
    Ok(())
}

pub(super) async fn delete(conn: &impl ConnectionTrait, id: UserId) -> Result<(), DbErr> {
    user::Entity::delete_many()
        .filter(user::Column::Id.eq(id.uuid()))
        .exec(conn)
        .await?;
    Ok(())
}
