//! Test databases: a fresh SQLite file or PostgreSQL database per test,
//! the macro that runs a test on both, and SQL run as other processes and
//! operators would run it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use tempfile::TempDir;

/// Runs each named `async fn(Backend) -> TestResult` twice: on a SQLite
/// file, and on PostgreSQL when `TEST_DATABASE_URL` is set. Tests listed
/// after `current_thread:` run on a current-thread runtime, which polls
/// every task on the test's own thread (see `logs::capture_on_this_thread`).
macro_rules! on_both_databases {
    (current_thread: $($test:ident),+ $(,)?) => {
        on_both_databases!(@runtime (flavor = "current_thread") $($test),+);
    };
    (@runtime $runtime:tt $($test:ident),+) => {$(
        mod $test {
            #[tokio::test $runtime]
            async fn sqlite() -> crate::helpers::TestResult {
                super::$test(crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test $runtime]
            async fn postgres() -> crate::helpers::TestResult {
                match crate::helpers::postgres_or_skip() {
                    Some(backend) => super::$test(backend).await,
                    None => Ok(()),
                }
            }
        }
    )+};
    ($($test:ident),+ $(,)?) => {
        on_both_databases!(@runtime (flavor = "multi_thread", worker_threads = 2) $($test),+);
    };
}
pub(crate) use on_both_databases;

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// An admin URL: each test creates (and drops) a database of its own.
    Postgres(String),
}

impl Backend {
    pub fn postgres() -> Option<Self> {
        std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .map(Self::Postgres)
    }
}

/// A fresh database for one test, removed when the last app using it goes.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: &Backend) -> Arc<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("herald.db").display()
                );
                Arc::new(Self {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres(admin_url) => {
                let name = format!("herald_test_{}", uuid::Uuid::now_v7().simple());
                admin_statement(admin_url, &format!("CREATE DATABASE {name}")).await;
                Arc::new(Self {
                    url: with_database(admin_url, &name),
                    _dir: None,
                    postgres: Some((admin_url.clone(), name)),
                })
            }
        }
    }
}

impl TestDatabase {
    /// The SQLite file, or `None` on PostgreSQL.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let rest = self.url.strip_prefix("sqlite://")?;
        Some(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
    }

    /// A SQLite file in `dir`, which the caller keeps (and removes).
    pub fn sqlite_in(dir: &std::path::Path) -> Arc<Self> {
        Arc::new(Self {
            url: format!("sqlite://{}?mode=rwc", dir.join("herald.db").display()),
            _dir: None,
            postgres: None,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop cannot await: use a runtime of its own on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(admin_statement(
                    &admin_url,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ));
            }
        });
        let _ = dropped.join();
    }
}

async fn admin_statement(admin_url: &str, sql: &str) {
    let mut options = sea_orm::ConnectOptions::new(admin_url);
    options.sqlx_logging(false).max_connections(1);
    let admin = sea_orm::Database::connect(options)
        .await
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL: {e}"));
    sea_orm::ConnectionTrait::execute_unprepared(&admin, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = admin.close().await;
}

/// `admin_url` with its database name replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

impl TestDatabase {
    /// The PostgreSQL database's name, for fault injection.
    pub fn postgres_name(&self) -> Option<&str> {
        self.postgres.as_ref().map(|(_, name)| name.as_str())
    }

    /// Runs `sql` as the PostgreSQL admin, for fault injection.
    pub async fn as_admin(&self, sql: &str) {
        if let Some((admin_url, _)) = &self.postgres {
            admin_statement(admin_url, sql).await;
        }
    }
}

/// The PostgreSQL backend, or `None` after printing why the test is
/// skipped. Where PostgreSQL is required (CI sets
/// `HERALD_REQUIRE_POSTGRES`), a missing `TEST_DATABASE_URL` fails the test
/// instead of letting it pass without running.
pub fn postgres_or_skip() -> Option<Backend> {
    let backend = Backend::postgres();
    if backend.is_none() {
        assert!(
            std::env::var_os("HERALD_REQUIRE_POSTGRES").is_none(),
            "HERALD_REQUIRE_POSTGRES is set, but TEST_DATABASE_URL is not: the PostgreSQL variant cannot run"
        );
        eprintln!("skipped: TEST_DATABASE_URL is not set, so the PostgreSQL variant does not run");
    }
    backend
}

/// What running SQL in another process came to.
pub struct Ran {
    pub ok: bool,
    /// The process's standard error: the database's refusal, if any.
    pub error: String,
}

/// Runs `sql` (one or more statements) in the database's own shell, as an
/// operator would: `sqlite3` on the file, `psql` on the database.
pub fn shell(database: &TestDatabase, sql: &str) -> Ran {
    let output = match database.sqlite_file() {
        // Each shell waits for the write lock as long as a writer may.
        Some(file) => Command::new("sqlite3")
            .args(["-bail", "-cmd", ".timeout 20000"])
            .arg(file)
            .arg(sql)
            .output(),
        None => Command::new("psql")
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                &database.url,
                "-c",
                sql,
            ])
            .output(),
    }
    .unwrap_or_else(|e| panic!("could not run the database's shell: {e}"));
    Ran {
        ok: output.status.success(),
        error: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl TestDatabase {
    /// Runs `sql` on the log past the database's rules that keep it
    /// append-only, as a restore of an older backup (or an operator with
    /// superuser rights) can: on PostgreSQL with triggers off for the
    /// session, on SQLite with the log's triggers dropped and made again in
    /// the same transaction.
    pub async fn rewrite_log(&self, sql: &str) {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(self.url.as_str())
            .await
            .unwrap_or_else(|e| panic!("connecting: {e}"));
        let script = if self.sqlite_file().is_some() {
            let rules = db
                .query_all_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' \
                     AND tbl_name IN ('events', 'event_counter')",
                ))
                .await
                .unwrap_or_else(|e| panic!("reading the log's triggers: {e}"));
            let (mut drop, mut make) = (String::new(), String::new());
            for rule in rules {
                let name: String = rule.try_get("", "name").unwrap_or_default();
                let sql: String = rule.try_get("", "sql").unwrap_or_default();
                drop.push_str(&format!("DROP TRIGGER \"{name}\"; "));
                make.push_str(&format!("{sql}; "));
            }
            format!("BEGIN IMMEDIATE; {drop}{sql}; {make}COMMIT;")
        } else {
            format!(
                "SET session_replication_role = replica; {sql}; RESET session_replication_role;"
            )
        };
        db.execute_unprepared(&script)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = db.close().await;
    }
}
