//! The write path on its own, without HTTP: batching, group commit, a
//! batch run again without the write whose statement failed, joined rows
//! run one by one after their statement failed, and failures that are the
//! batch's. Writes here are SQL the tests bring; the database's triggers on
//! `users` append their events, as they do for Herald's own writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::{BoxFuture, join_all};
use herald::db::event_log::LoggedEvent;
use herald::db::writer::joined::RowOutcomes;
use herald::db::writer::{Change, Joined, JoinedRow, Writer};
use herald::db::{self, Announce, DatabaseConfig, Error};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, TransactionTrait};
use tokio::sync::{Semaphore, watch};

use crate::helpers::{
    Backend, PROMPTLY, TestDatabase, TestResult, eventually, on_both_databases, postgres_or_skip,
};

on_both_databases!(
    writes_queued_while_a_batch_commits_commit_together,
    a_batch_takes_at_most_64_writes,
    a_write_whose_statement_fails_is_left_out_of_its_batch,
    joined_rows_whose_statement_fails_go_in_one_by_one,
    each_write_gets_its_own_event,
    a_failure_of_the_environment_fails_the_whole_batch_and_the_next_commits,
    a_write_that_panics_fails_its_batch_only,
);

/// The events announced, in the order they were.
struct Heard(watch::Sender<Vec<i64>>);

impl Default for Heard {
    fn default() -> Self {
        Self(watch::Sender::new(Vec::new()))
    }
}

impl Announce for Heard {
    fn announce(&self, event: &LoggedEvent) {
        self.0.send_modify(|ids| ids.push(event.id));
    }
}

impl Heard {
    /// The ids announced once there are `count` of them: a write's caller
    /// is answered before its event is announced.
    async fn ids(&self, count: usize) -> Vec<i64> {
        let mut heard = self.0.subscribe();
        let enough = heard.wait_for(|ids| ids.len() >= count);
        match tokio::time::timeout(PROMPTLY, enough).await {
            Ok(Ok(ids)) => ids.clone(),
            _ => panic!("{count} events were not announced: {:?}", self.0.borrow()),
        }
    }
}

struct Setup {
    writer: Writer,
    heard: Arc<Heard>,
    backend: DbBackend,
    database: Arc<TestDatabase>,
}

async fn set_up(backend: &Backend) -> Setup {
    let database = TestDatabase::create(backend).await;
    let config = DatabaseConfig::new(&database.url, Duration::from_secs(5));
    let pool = db::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("migrating: {e}"));
    let backend = pool.get_database_backend();
    let _ = pool.close().await;
    let (writer, _task) = Writer::spawn(config, None);
    Setup {
        writer,
        heard: Arc::default(),
        backend,
        database,
    }
}

/// `INSERT INTO users` for a user called `name`: the triggers append its
/// `user_created` event.
fn insert_user_sql(backend: DbBackend, id: uuid::Uuid, name: &str) -> String {
    let id = match backend {
        DbBackend::Postgres => format!("'{id}'"),
        _ => format!("x'{}'", id.simple()),
    };
    format!(
        "INSERT INTO users (id, user_name, email) VALUES ({id}, '{name}', '{name}@example.com')"
    )
}

/// A write that inserts the user `name` with its own statement and returns
/// the number of its batch.
fn user_write(
    backend: DbBackend,
    name: &str,
) -> impl for<'t> Fn(
    &'t DatabaseTransaction,
    herald::db::writer::Slot,
) -> BoxFuture<'t, Result<Change<u64>, Error>>
+ Send
+ 'static {
    let sql = insert_user_sql(backend, uuid::Uuid::now_v7(), name);
    move |txn, slot| {
        let sql = sql.clone();
        Box::pin(async move {
            txn.execute_unprepared(&sql).await?;
            Ok(Change::Made(slot.batch))
        })
    }
}

/// Holds the writer inside a batch until released: the writes queued
/// meanwhile wait for the next batch.
struct Gate {
    entered: Arc<Semaphore>,
    open: Arc<Semaphore>,
}

impl Gate {
    fn new() -> Self {
        Self {
            entered: Arc::new(Semaphore::new(0)),
            open: Arc::new(Semaphore::new(0)),
        }
    }

    /// A write that waits at the gate, then returns its batch's number.
    fn write(&self, setup: &Setup) -> tokio::task::JoinHandle<Result<u64, Error>> {
        let (entered, open) = (self.entered.clone(), self.open.clone());
        let (writer, heard) = (setup.writer.clone(), setup.heard.clone());
        tokio::spawn(async move {
            writer
                .write(heard, move |_, slot| {
                    let (entered, open) = (entered.clone(), open.clone());
                    Box::pin(async move {
                        entered.add_permits(1);
                        let _ = open.acquire().await.map(|permit| permit.forget());
                        Ok(Change::Nothing(slot.batch))
                    })
                })
                .await
        })
    }

    async fn wait_until_entered(&self) {
        let _ = self.entered.acquire().await.map(|permit| permit.forget());
    }

    fn open(&self) {
        self.open.add_permits(1);
    }
}

/// Queues `writes` behind a gated batch, waits until they are all queued,
/// then opens the gate and returns what each write answered.
async fn queued_behind_a_batch<T: Send + 'static>(
    setup: &Setup,
    writes: Vec<BoxFuture<'static, Result<T, Error>>>,
) -> Vec<Result<T, Error>> {
    let gate = Gate::new();
    let first = gate.write(setup);
    gate.wait_until_entered().await;
    let count = writes.len();
    let writes: Vec<_> = writes.into_iter().map(tokio::spawn).collect();
    let writer = setup.writer.clone();
    eventually("every write is queued", || {
        let writer = writer.clone();
        async move { writer.queued() == count }
    })
    .await;
    gate.open();
    let first = first.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        first.ok(),
        Some(1),
        "the gated write ran in the first batch"
    );
    join_all(writes)
        .await
        .into_iter()
        .map(|joined| joined.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn user_writes(setup: &Setup, names: &[String]) -> Vec<BoxFuture<'static, Result<u64, Error>>> {
    names
        .iter()
        .map(|name| {
            let (writer, heard) = (setup.writer.clone(), setup.heard.clone());
            let write = user_write(setup.backend, name);
            Box::pin(async move { writer.write(heard, write).await })
                as BoxFuture<'static, Result<u64, Error>>
        })
        .collect()
}

fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{prefix}{n:03}")).collect()
}

async fn writes_queued_while_a_batch_commits_commit_together(backend: Backend) -> TestResult {
    let setup = set_up(&backend).await;
    let answered = queued_behind_a_batch(&setup, user_writes(&setup, &names("user", 10))).await;
    let batches: Vec<u64> = answered.into_iter().collect::<Result<_, _>>()?;
    assert_eq!(batches, vec![2; 10], "one batch, one commit for all ten");
    assert_eq!(setup.heard.ids(10).await, (1..=10).collect::<Vec<i64>>());
    Ok(())
}

async fn a_batch_takes_at_most_64_writes(backend: Backend) -> TestResult {
    let setup = set_up(&backend).await;
    let answered = queued_behind_a_batch(&setup, user_writes(&setup, &names("user", 100))).await;
    let batches: Vec<u64> = answered.into_iter().collect::<Result<_, _>>()?;
    let in_batch = |n| batches.iter().filter(|b| **b == n).count();
    assert_eq!((in_batch(2), in_batch(3)), (64, 36));
    assert_eq!(setup.heard.ids(100).await, (1..=100).collect::<Vec<i64>>());
    Ok(())
}

/// A write whose statement the database refuses: the triggers refuse a
/// user_name that short.
fn failing_write(setup: &Setup) -> BoxFuture<'static, Result<u64, Error>> {
    user_writes(setup, &["x".to_owned()]).remove(0)
}

async fn a_write_whose_statement_fails_is_left_out_of_its_batch(backend: Backend) -> TestResult {
    let setup = set_up(&backend).await;
    // On PostgreSQL the failed statement aborts the transaction, so the
    // batch runs again without it; on SQLite only the statement is undone.
    let mut writes = user_writes(&setup, &names("before", 3));
    writes.push(failing_write(&setup));
    writes.extend(user_writes(&setup, &names("after", 3)));
    let answered = queued_behind_a_batch(&setup, writes).await;
    for (index, outcome) in answered.iter().enumerate() {
        match (index, outcome) {
            (3, Ok(_)) => panic!("the failing write was answered Ok"),
            (3, Err(_)) => {}
            (_, Ok(batch)) => assert_eq!(*batch, 2, "write {index} committed in its batch"),
            (_, Err(error)) => panic!("write {index} failed with its batch-mate: {error}"),
        }
    }
    assert_eq!(setup.heard.ids(6).await, (1..=6).collect::<Vec<i64>>());
    Ok(())
}

/// Test users inserted together: a row named `x` breaks the statement (the
/// triggers refuse a user_name that short).
struct TestUsers;

impl Joined for TestUsers {
    type Row = (DbBackend, uuid::Uuid, String);

    fn insert(
        txn: &DatabaseTransaction,
        rows: Vec<Self::Row>,
    ) -> BoxFuture<'_, Result<RowOutcomes, DbErr>> {
        Box::pin(async move {
            let values: Vec<String> = rows
                .iter()
                .map(|(backend, id, name)| {
                    let sql = insert_user_sql(*backend, *id, name);
                    sql.split_once("VALUES ")
                        .map(|(_, values)| values.to_owned())
                        .unwrap_or_default()
                })
                .collect();
            txn.execute_unprepared(&format!(
                "INSERT INTO users (id, user_name, email) VALUES {}",
                values.join(", ")
            ))
            .await?;
            Ok(rows
                .iter()
                .map(|(_, id, _)| Ok(format!("users/{id}")))
                .collect())
        })
    }
}

fn joined_write(setup: &Setup, name: &str) -> BoxFuture<'static, Result<Option<String>, Error>> {
    let (writer, heard, backend) = (setup.writer.clone(), setup.heard.clone(), setup.backend);
    let (id, name) = (uuid::Uuid::now_v7(), name.to_owned());
    Box::pin(async move {
        let (_, event) = writer
            .write_logged(heard, move |_, _| {
                let name = name.clone();
                Box::pin(async move {
                    Ok(Change::Joined(
                        JoinedRow::new::<TestUsers>((backend, id, name)),
                        (),
                    ))
                })
            })
            .await?;
        assert_eq!(
            event.as_ref().map(|event| event.topic.clone()),
            Some(format!("users/{id}")),
            "its own event"
        );
        Ok(event.map(|event| event.topic))
    })
}

async fn joined_rows_whose_statement_fails_go_in_one_by_one(backend: Backend) -> TestResult {
    let setup = set_up(&backend).await;
    let writes = vec![
        joined_write(&setup, "ada"),
        joined_write(&setup, "x"),
        joined_write(&setup, "bob"),
    ];
    let answered = queued_behind_a_batch(&setup, writes).await;
    assert!(answered[0].is_ok(), "{:?}", answered[0].as_ref().err());
    assert!(answered[1].is_err(), "the row the database refuses");
    assert!(answered[2].is_ok(), "{:?}", answered[2].as_ref().err());
    assert_eq!(setup.heard.ids(2).await, vec![1, 2]);
    Ok(())
}

async fn each_write_gets_its_own_event(backend: Backend) -> TestResult {
    let setup = set_up(&backend).await;
    // Made and joined writes, and one that changes nothing, in one batch:
    // the joined rows' events come after the others'.
    let logged = |write: BoxFuture<'static, Result<u64, Error>>| {
        Box::pin(async move { write.await.map(|_| None) })
            as BoxFuture<'static, Result<Option<String>, Error>>
    };
    let nothing = {
        let (writer, heard) = (setup.writer.clone(), setup.heard.clone());
        Box::pin(async move {
            let (_, event) = writer
                .write_logged(heard, |_, _| Box::pin(async { Ok(Change::Nothing(())) }))
                .await?;
            assert!(event.is_none(), "no change, no event");
            Ok(None)
        }) as BoxFuture<'static, Result<Option<String>, Error>>
    };
    let made = user_writes(&setup, &names("made", 2));
    let mut made = made.into_iter().map(logged);
    let writes = vec![
        joined_write(&setup, "joined0"),
        made.next().ok_or("a write")?,
        nothing,
        joined_write(&setup, "joined1"),
        made.next().ok_or("a write")?,
    ];
    let answered = queued_behind_a_batch(&setup, writes).await;
    for outcome in answered {
        outcome?;
    }
    assert_eq!(setup.heard.ids(4).await, vec![1, 2, 3, 4]);
    Ok(())
}

async fn a_failure_of_the_environment_fails_the_whole_batch_and_the_next_commits(
    backend: Backend,
) -> TestResult {
    let setup = set_up(&backend).await;
    let unavailable = {
        let (writer, heard) = (setup.writer.clone(), setup.heard.clone());
        Box::pin(async move {
            writer
                .write(heard, |_, _| {
                    Box::pin(async {
                        Err::<Change<u64>, _>(Error::Unavailable(DbErr::Custom(
                            "the disk went away".to_owned(),
                        )))
                    })
                })
                .await
        }) as BoxFuture<'static, Result<u64, Error>>
    };
    let mut writes = user_writes(&setup, &names("user", 2));
    writes.push(unavailable);
    let answered = queued_behind_a_batch(&setup, writes).await;
    for outcome in answered {
        assert!(
            matches!(outcome, Err(Error::Unavailable(_))),
            "every write of the batch fails with the environment: {outcome:?}"
        );
    }
    let next = user_writes(&setup, &names("next", 1));
    for write in next {
        write.await?;
    }
    // Only the next batch's one event: the failed batch announced nothing.
    assert_eq!(setup.heard.ids(1).await, vec![1], "the next batch commits");
    Ok(())
}

async fn a_write_that_panics_fails_its_batch_only(backend: Backend) -> TestResult {
    let setup = set_up(&backend).await;
    let panics = {
        let (writer, heard) = (setup.writer.clone(), setup.heard.clone());
        Box::pin(async move {
            writer
                .write(heard, |_, _| {
                    Box::pin(async { panic!("a bug in a write") as Result<Change<u64>, Error> })
                })
                .await
        }) as BoxFuture<'static, Result<u64, Error>>
    };
    let answered = queued_behind_a_batch(&setup, vec![panics]).await;
    assert!(matches!(answered[0], Err(Error::Internal(_))));
    for write in user_writes(&setup, &names("next", 1)) {
        write.await?;
    }
    assert_eq!(setup.heard.ids(1).await, vec![1], "the writer lives on");
    Ok(())
}

/// PostgreSQL breaks a deadlock by failing one of its transactions and says
/// to run it again (40P01): when the writer's batch is the one failed, in a
/// write's own statement, the batch runs again rather than answering `503`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_failed_to_break_a_deadlock_runs_again() -> TestResult {
    let Some(backend) = postgres_or_skip() else {
        return Ok(());
    };
    let setup = set_up(&backend).await;
    let other = sea_orm::Database::connect(setup.database.url.as_str()).await?;
    other
        .execute_unprepared(
            "CREATE TABLE deadlock_rows (id int PRIMARY KEY); INSERT INTO deadlock_rows VALUES (1), (2)",
        )
        .await?;
    let other = other.begin().await?;
    // The writer's session notices the deadlock first, and is the one failed.
    other
        .execute_unprepared("SET LOCAL deadlock_timeout = '30s'")
        .await?;
    other
        .execute_unprepared("SELECT id FROM deadlock_rows WHERE id = 2 FOR UPDATE")
        .await?;
    let runs = Arc::new(AtomicUsize::new(0));
    let write = {
        let (writer, heard, runs) = (setup.writer.clone(), setup.heard.clone(), runs.clone());
        tokio::spawn(async move {
            writer
                .write(heard, move |txn, _| {
                    let runs = runs.clone();
                    Box::pin(async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        txn.execute_unprepared(
                            "SELECT id FROM deadlock_rows WHERE id = 1 FOR UPDATE",
                        )
                        .await?;
                        txn.execute_unprepared(
                            "SELECT id FROM deadlock_rows WHERE id = 2 FOR UPDATE",
                        )
                        .await?;
                        Ok(Change::Nothing(()))
                    })
                })
                .await
        })
    };
    eventually(
        "the write waits for the row the other transaction holds",
        || {
            let other = &other;
            async move {
                let waiting = other
                    .query_one_raw(sea_orm::Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT count(*) AS waiting FROM pg_locks WHERE NOT granted",
                    ))
                    .await
                    .ok()
                    .flatten()
                    .and_then(|row| row.try_get::<i64>("", "waiting").ok());
                waiting == Some(1)
            }
        },
    )
    .await;
    other
        .execute_unprepared("SELECT id FROM deadlock_rows WHERE id = 1 FOR UPDATE")
        .await?;
    other.commit().await?;
    tokio::time::timeout(PROMPTLY, write)
        .await??
        .map_err(|e| format!("the write failed: {e}"))?;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the write ran again after the deadlock"
    );
    Ok(())
}
