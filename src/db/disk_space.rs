//! The free-space watermark of an embedded database: below it, writes that
//! add data are refused before SQLite itself runs out of space, so that a
//! full disk is a clear `503` rather than a failure in the middle of a
//! commit, and pruning (which frees space) can still run.

use std::path::{Path, PathBuf};

use sea_orm::{DatabaseConnection, DbBackend};

/// The free space a database file's filesystem must keep.
#[derive(Debug, Clone)]
pub struct DiskSpace {
    /// The directory holding the database file (and its WAL).
    directory: PathBuf,
    min_free_bytes: u64,
}

/// The filesystem has less free space than the watermark.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the disk holding the database has {free_mib} MiB free, below the watermark of {min_free_mib} MiB (MIN_FREE_DISK_MB)"
)]
pub struct LowDiskSpace {
    pub free_mib: u64,
    pub min_free_mib: u64,
}

const MIB: u64 = 1024 * 1024;

impl DiskSpace {
    /// The watermark of `db`'s file, or `None` where Herald cannot see the
    /// disk: a PostgreSQL server's, or a database in memory.
    pub fn of(db: &DatabaseConnection, min_free_mib: u64) -> Option<Self> {
        if db.get_database_backend() != DbBackend::Sqlite {
            return None;
        }
        let options = db.get_sqlite_connection_pool().connect_options();
        let file = options.get_filename();
        if file.as_os_str().is_empty() || file == Path::new(":memory:") {
            return None;
        }
        let directory = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Some(Self {
            directory,
            min_free_bytes: min_free_mib.saturating_mul(MIB),
        })
    }

    /// `Err` while the free space is below the watermark. A filesystem that
    /// cannot be asked is not reported low: the database's own errors then
    /// still say when it is full.
    pub fn check(&self) -> Result<(), LowDiskSpace> {
        let Ok(stats) = rustix::fs::statvfs(&self.directory) else {
            return Ok(());
        };
        // What an unprivileged process may use, as SQLite will see it.
        let free = stats.f_bavail.saturating_mul(stats.f_frsize);
        if free < self.min_free_bytes {
            Err(LowDiskSpace {
                free_mib: free / MIB,
                min_free_mib: self.min_free_bytes / MIB,
            })
        } else {
            Ok(())
        }
    }
}
