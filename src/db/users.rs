//! Queries on the users table. They take `&impl ConnectionTrait` so they run
//! on the pool or inside a write transaction alike.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbBackend, IsolationLevel, TransactionTrait,
    TryInsertResult,
};

use super::entities::user;
use super::event_log;
use crate::domain::{Email, User, UserId, UserName};

pub(super) async fn find(conn: &impl ConnectionTrait, id: UserId) -> Result<Option<User>, DbErr> {
    Ok(user::Entity::find_by_id(id.uuid())
        .one(conn)
        .await?
        .map(User::from))
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
    // SQLite reads one snapshot per transaction anyway; PostgreSQL's default
    // takes one per statement.
    let isolation = (db.get_database_backend() == DbBackend::Postgres)
        .then_some(IsolationLevel::RepeatableRead);
    let txn = db.begin_with_config(isolation, None).await?;
    let last_event_id = event_log::last_id(&txn).await?;
    let users = page(&txn, after, limit).await?;
    txn.commit().await?;
    Ok((users, last_event_id))
}

/// Inserts `user` unless its name or email is taken; returns the field
/// that is, without an error that would abort a PostgreSQL transaction
/// shared with other writes.
pub(super) async fn insert_unless_taken(
    conn: &impl ConnectionTrait,
    user: &User,
) -> Result<Option<&'static str>, DbErr> {
    let inserted = user::Entity::insert(row(user))
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .try_insert()
        .exec_without_returning(conn)
        .await?;
    match inserted {
        TryInsertResult::Inserted(n) if n > 0 => Ok(None),
        _ => Ok(Some(taken_field(conn, user).await?.unwrap_or("user_name"))),
    }
}

/// Which of `user`'s unique fields another user already has, if any.
pub(super) async fn taken_field(
    conn: &impl ConnectionTrait,
    user: &User,
) -> Result<Option<&'static str>, DbErr> {
    let name_key = UserName::key_of(&user.user_name);
    let other = user::Entity::find()
        .filter(
            Condition::any()
                .add(user::Column::UserNameKey.eq(name_key.clone()))
                .add(user::Column::EmailKey.eq(Email::key_of(&user.email))),
        )
        .filter(user::Column::Id.ne(user.id.uuid()))
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

pub(super) async fn update(conn: &impl ConnectionTrait, user: &User) -> Result<(), DbErr> {
    user::Entity::update(row(user)).exec(conn).await?;
    Ok(())
}

pub(super) async fn delete(conn: &impl ConnectionTrait, id: UserId) -> Result<(), DbErr> {
    user::Entity::delete_many()
        .filter(user::Column::Id.eq(id.uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

fn row(user: &User) -> user::ActiveModel {
    user::ActiveModel {
        id: Set(user.id.uuid()),
        user_name: Set(user.user_name.clone()),
        user_name_key: Set(UserName::key_of(&user.user_name)),
        email: Set(user.email.clone()),
        email_key: Set(Email::key_of(&user.email)),
        display_name: Set(user.display_name.clone()),
        version: Set(user.version),
        created_at: Set(user.created_at),
        updated_at: Set(user.updated_at),
    }
}
