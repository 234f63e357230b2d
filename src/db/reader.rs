//! Reads, for request handlers and streams: the pool, behind methods that
//! cannot write. Every change goes through the writer instead (see
//! `writer`), so no code outside the write path holds a connection that
//! could change data without its event.

use sea_orm::{DatabaseConnection, DbBackend};

use super::Error;
use super::event_log::{self, LoggedEvent};
use super::live_tables::snapshot::{self, Found, Page, PageRequest, Row};
use super::mercure_presence::{self, Listing, Subscription};
use super::{mercure, users};
use crate::domain::mercure::Update;
use crate::domain::{TopicFilter, User, UserId};

#[derive(Clone)]
pub struct Reader(DatabaseConnection);

/// Connections the pool holds open, and how many of them are lent out.
pub struct PoolUsage {
    pub open: u32,
    pub in_use: u32,
}

impl Reader {
    pub fn new(db: DatabaseConnection) -> Self {
        Self(db)
    }

    /// The id of the newest committed event, whether or not it is still
    /// retained. Reading it also proves the schema is there.
    pub async fn last_event_id(&self) -> Result<i64, Error> {
        Ok(event_log::last_id(&self.0).await?)
    }

    /// The retained events with ids in `(after, through]`, in id order.
    pub async fn events(&self, after: i64, through: i64) -> Result<Vec<LoggedEvent>, Error> {
        Ok(event_log::read_range(&self.0, after, through).await?)
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>, Error> {
        Ok(users::find(&self.0, id).await?)
    }

    /// Up to `limit` users after the user `after`, in id order, and the id
    /// of the newest event they reflect, read from one snapshot: a client
    /// that subscribes after that id misses nothing and sees nothing twice.
    pub async fn users(
        &self,
        after: Option<UserId>,
        limit: u64,
    ) -> Result<(Vec<User>, i64), Error> {
        Ok(users::page_as_of_event(&self.0, after, limit).await?)
    }

    /// A page of the live table `table`, the rows whose topics `filter`
    /// grants, in key order, and the newest event they reflect.
    pub async fn table_page(
        &self,
        table: &str,
        filter: &TopicFilter,
        request: &PageRequest,
    ) -> Result<Page, Error> {
        match snapshot::page(&self.0, table, filter, request).await? {
            Found::Found(page) => Ok(page),
            Found::BadCursor => Err(Error::InvalidCursor),
            Found::NotScoped => Err(Error::NotScoped(table.to_owned())),
            Found::NotWatched | Found::NoRow => Err(Error::TableNotWatched(table.to_owned())),
        }
    }

    /// The row of `table` with this key, if `filter` grants it, and the
    /// newest event it reflects.
    pub async fn table_row(
        &self,
        table: &str,
        key: &str,
        filter: &TopicFilter,
    ) -> Result<(Row, i64), Error> {
        match snapshot::row(&self.0, table, key, filter).await? {
            Found::Found(row) => Ok(row),
            Found::NotWatched => Err(Error::TableNotWatched(table.to_owned())),
            Found::NoRow | Found::BadCursor | Found::NotScoped => Err(Error::RowNotFound {
                table: table.to_owned(),
                key: key.to_owned(),
            }),
        }
    }

    /// Where the Mercure update `id` stands in the log, while it is
    /// retained.
    pub async fn mercure_position(&self, id: &str) -> Result<Option<i64>, Error> {
        mercure::position(&self.0, id).await
    }

    /// The newest retained Mercure updates, newest first, at most `limit`.
    pub async fn newest_mercure_updates(&self, limit: u64) -> Result<Vec<Update>, Error> {
        mercure::newest(&self.0, limit).await
    }

    /// The Mercure subscriptions `listing` names, and the newest Mercure
    /// update's id, read in one snapshot.
    pub async fn mercure_subscriptions(
        &self,
        listing: &Listing,
    ) -> Result<(Vec<Subscription>, String), Error> {
        mercure_presence::list(&self.0, listing).await
    }

    pub fn pool_usage(&self) -> PoolUsage {
        let db = &self.0;
        // Each backend has its own pool type; asking for the other one panics.
        let (open, idle) = match db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        };
        PoolUsage {
            open,
            in_use: open.saturating_sub(u32::try_from(idle).unwrap_or(open)),
        }
    }
}
