//! SQLite on a disk that fills up: nothing acknowledged is lost, nothing
//! lost is pretended, and writes come back by themselves once space does.
//!
//! The disk is a small tmpfs mounted for the test (root only; elsewhere
//! the tests skip, saying why, unless CI requires them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::sqlx::{Connection, Executor, SqliteConnection};
use serde_json::json;

use crate::helpers::{
    SseClient, TestApp, TestDatabase, TestResult, assert_error, eventually, json_body,
    skip_fault_test, start,
};

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("could not run mount: {e}"))?;
        if !mounted.status.success() {
            return Err(format!(
                "mounting a tmpfs was refused: {}",
                String::from_utf8_lossy(&mounted.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// 15 KB of notification, told apart by `n`.
fn notification(n: usize) -> serde_json::Value {
    json!({"topic": "fill", "data": {"n": n, "pad": "x".repeat(15_000)}})
}

/// What publishing until the disk refused came to.
struct Filled {
    /// `(event id, n)` of every notification answered `202`.
    acknowledged: Vec<(i64, usize)>,
}

/// Publishes 15 KB notifications until `refusals` of them were answered
/// `503 storage_full`; any other answer fails the test.
async fn fill(
    app: &TestApp,
    refusals: usize,
) -> Result<Filled, Box<dyn std::error::Error + Send + Sync>> {
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for n in 0..5_000 {
        let response = app.publish(None, &notification(n), None).await;
        match response.status().as_u16() {
            202 => {
                let id = json_body(response).await["id"].as_i64().ok_or("no id")?;
                acknowledged.push((id, n));
            }
            503 => {
                assert_eq!(
                    response.headers().get("retry-after").map(|v| v.as_bytes()),
                    Some(&b"5"[..])
                );
                assert_error(response, 503, "storage_full").await;
                refused += 1;
                if refused == refusals {
                    return Ok(Filled { acknowledged });
                }
            }
            other => {
                let body = response.text().await.unwrap_or_default();
                return Err(format!("publishing {n} answered {other}: {body}").into());
            }
        }
    }
    Err("the disk never filled".into())
}

/// The database holds exactly the acknowledged notifications, under their
/// ids, and the stream delivered exactly those, in order.
async fn assert_exactly_acknowledged(app: &TestApp, stream: &mut SseClient, filled: &Filled) {
    let logged: Vec<(i64, usize)> = app
        .logged_events()
        .await
        .into_iter()
        .map(|(id, payload)| {
            let envelope: serde_json::Value =
                serde_json::from_str(&payload).unwrap_or_else(|e| panic!("{e}"));
            let n = envelope["data"]["n"].as_u64().unwrap_or(u64::MAX);
            (id, usize::try_from(n).unwrap_or(usize::MAX))
        })
        .collect();
    assert_eq!(
        logged, filled.acknowledged,
        "the database holds what was acknowledged"
    );
    for (id, n) in &filled.acknowledged {
        let event = stream.expect_event().await;
        assert_eq!(event.id_number(), *id);
        assert_eq!(event.json()["data"]["n"], *n);
    }
    stream.expect_quiet().await;
}

/// Takes `bytes` of the disk in a file of its own, to give back later.
fn ballast(dir: &Path, bytes: usize) -> std::io::Result<PathBuf> {
    let path = dir.join("ballast");
    std::fs::write(&path, vec![0u8; bytes])?;
    Ok(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_loses_nothing_acknowledged_and_heals() -> TestResult {
    let tmpfs = match Tmpfs::mount("8m") {
        Ok(tmpfs) => tmpfs,
        Err(reason) => return skip_fault_test(&reason),
    };
    let ballast = ballast(tmpfs.path(), 2 * 1024 * 1024)?;
    let database = TestDatabase::sqlite_in(tmpfs.path());
    // No watermark: the database itself runs out of space.
    let app = start(database.clone(), &[("MIN_FREE_DISK_MB", "0")]).await;
    let mut stream = app.subscribe("", &[]).await;

    let filled = fill(&app, 5).await?;
    assert!(!filled.acknowledged.is_empty());
    let readyz = app.get("/readyz").await;
    assert_eq!(readyz.status(), 503);
    let reason = json_body(readyz).await["reason"].clone();
    assert!(
        reason.as_str().is_some_and(|r| r.contains("full")),
        "{reason}"
    );
    assert_exactly_acknowledged(&app, &mut stream, &filled).await;

    // The writer holds no transaction open: another process can write.
    let options =
        SqliteConnectOptions::from_str(&database.url)?.busy_timeout(Duration::from_secs(2));
    let mut other = SqliteConnection::connect_with(&options).await?;
    other.execute("BEGIN IMMEDIATE").await?;
    other.execute("ROLLBACK").await?;
    drop(other);

    // Space comes back: so do writes, with no restart and no write needed
    // for readiness to notice.
    std::fs::remove_file(&ballast)?;
    eventually("readiness once space is back", || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
    let next = filled.acknowledged.last().map_or(0, |(id, _)| *id) + 1;
    let response = app.publish(None, &notification(9_999), None).await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        json_body(response).await["id"],
        next,
        "no id was skipped or reused"
    );
    assert_eq!(stream.expect_event().await.id_number(), next);

    // After a restart the log is the same: no acknowledged id is reused.
    let app = app.restart_with(&[("MIN_FREE_DISK_MB", "0")]).await;
    let logged = app.logged_events().await;
    assert_eq!(logged.len(), filled.acknowledged.len() + 1);
    assert_eq!(logged.last().map(|(id, _)| *id), Some(next));
    let response = app.publish(None, &notification(10_000), None).await;
    assert_eq!(json_body(response).await["id"], next + 1);
    app.shut_down().await;
    drop(tmpfs);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_watermark_writes_are_refused_before_the_disk_fills() -> TestResult {
    let tmpfs = match Tmpfs::mount("12m") {
        Ok(tmpfs) => tmpfs,
        Err(reason) => return skip_fault_test(&reason),
    };
    // The write-ahead log's pages move into the database file at each
    // checkpoint, so the file keeps growing a little after writes stop:
    // the ballast is what brings the disk back above the watermark.
    let ballast = ballast(tmpfs.path(), 4 * 1024 * 1024)?;
    let database = TestDatabase::sqlite_in(tmpfs.path());
    let app = start(database.clone(), &[("MIN_FREE_DISK_MB", "2")]).await;
    let mut stream = app.subscribe("", &[]).await;

    let filled = fill(&app, 3).await?;
    let readyz = app.get("/readyz").await;
    assert_eq!(readyz.status(), 503);
    let reason = json_body(readyz).await["reason"].clone();
    assert!(
        reason
            .as_str()
            .is_some_and(|r| r.contains("MIN_FREE_DISK_MB")),
        "the watermark refused, not the database: {reason}"
    );
    assert_exactly_acknowledged(&app, &mut stream, &filled).await;
    // Reads and streams go on.
    assert_eq!(app.get("/api/v1/users").await.status(), 200);

    std::fs::remove_file(&ballast)?;
    eventually("readiness once space is back", || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
    assert_eq!(
        app.publish(None, &notification(9_999), None).await.status(),
        202
    );
    app.shut_down().await;
    drop(tmpfs);
    Ok(())
}
