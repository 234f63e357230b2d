//! Kinds of writes whose rows a batch inserts with one statement, after
//! every write of the batch has run: a round trip to the database costs
//! more than the triggers' work for a row, and the batch is serial. The
//! writer knows a kind only through [`Joined`]; each kind lives with its
//! table (the users a batch creates, say).

use std::any::{Any, TypeId};

use futures_util::future::BoxFuture;
use sea_orm::{DatabaseTransaction, DbErr};

use crate::db::Error;

/// What inserting joined rows answers for each row, in order: the topic of
/// the one event it made, or the error that refused it alone.
pub type RowOutcomes = Vec<Result<String, Error>>;

/// A kind of write whose rows go in together.
pub trait Joined: 'static {
    /// What one write inserts.
    type Row: Send + 'static;

    /// Inserts `rows` with one statement. A row refused for its own reason
    /// (a duplicate) is answered with its error without failing the
    /// statement, which on PostgreSQL would abort the batch's transaction.
    /// `Err` is the statement's failure: the batch then runs again
    /// inserting each row on its own, where its write stands, which tells
    /// whose row it was.
    fn insert(
        txn: &DatabaseTransaction,
        rows: Vec<Self::Row>,
    ) -> BoxFuture<'_, Result<RowOutcomes, DbErr>>;
}

type Insert = for<'t> fn(
    &'t DatabaseTransaction,
    Vec<Box<dyn Any + Send>>,
) -> BoxFuture<'t, Result<RowOutcomes, DbErr>>;

/// One write's row of some [`Joined`] kind.
pub struct JoinedRow {
    kind: TypeId,
    row: Box<dyn Any + Send>,
    insert: Insert,
}

impl JoinedRow {
    pub fn new<K: Joined>(row: K::Row) -> Self {
        Self {
            kind: TypeId::of::<K>(),
            row: Box::new(row),
            insert: insert_as::<K>,
        }
    }

    /// Inserts this row on its own.
    pub(super) async fn insert_alone(
        self,
        txn: &DatabaseTransaction,
    ) -> Result<Result<String, Error>, DbErr> {
        let mut outcomes = (self.insert)(txn, vec![self.row]).await?;
        Ok(outcomes.pop().unwrap_or_else(|| Err(answered(0, 1))))
    }
}

fn insert_as<K: Joined>(
    txn: &DatabaseTransaction,
    rows: Vec<Box<dyn Any + Send>>,
) -> BoxFuture<'_, Result<RowOutcomes, DbErr>> {
    // Rows are grouped by their kind's type, so each is a K::Row; one that
    // were not would go missing, and the count would tell.
    let rows = rows
        .into_iter()
        .filter_map(|row| row.downcast::<K::Row>().ok().map(|row| *row))
        .collect();
    K::insert(txn, rows)
}

fn answered(answers: usize, rows: usize) -> Error {
    Error::Internal(anyhow::anyhow!(
        "a joined insert answered {answers} rows of {rows}"
    ))
}

/// The joined rows of one attempt, grouped by kind in the order each kind
/// first came.
#[derive(Default)]
pub(super) struct JoinedRows {
    kinds: Vec<Kind>,
}

/// One kind's rows, each with the index of its write.
struct Kind {
    kind: TypeId,
    insert: Insert,
    indexes: Vec<usize>,
    rows: Vec<Box<dyn Any + Send>>,
}

impl JoinedRows {
    pub fn push(&mut self, index: usize, row: JoinedRow) {
        let at = match self.kinds.iter().position(|kind| kind.kind == row.kind) {
            Some(at) => at,
            None => {
                self.kinds.push(Kind {
                    kind: row.kind,
                    insert: row.insert,
                    indexes: Vec::new(),
                    rows: Vec::new(),
                });
                self.kinds.len() - 1
            }
        };
        let kind = &mut self.kinds[at];
        kind.indexes.push(index);
        kind.rows.push(row.row);
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Inserts each kind's rows with one statement; answers each write (by
    /// index) with its row's outcome.
    pub async fn insert(
        self,
        txn: &DatabaseTransaction,
    ) -> Result<Vec<(usize, Result<String, Error>)>, DbErr> {
        let mut answered_rows = Vec::new();
        for kind in self.kinds {
            let count = kind.rows.len();
            let outcomes = (kind.insert)(txn, kind.rows).await?;
            if outcomes.len() != count {
                return Err(DbErr::Custom(answered(outcomes.len(), count).to_string()));
            }
            answered_rows.extend(kind.indexes.into_iter().zip(outcomes));
        }
        Ok(answered_rows)
    }
}
