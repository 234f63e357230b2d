//! The process's open-file limit, which bounds how many streams it can hold.

/// Descriptors kept back from streams for requests, database connections,
/// the log and files: with this much room a server whose streams are full
/// still answers health checks and writes.
const RESERVED_FILES: u64 = 256;

/// Raises the soft limit on open files to the hard limit (services often
/// start with a soft limit of 1,024 and a much higher hard one) and returns
/// the limit in force.
pub fn raise_open_files_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "could not read or raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// How many streams fit under an open-file limit, with room to spare.
pub fn streams_within(open_files: u64) -> usize {
    usize::try_from(open_files.saturating_sub(RESERVED_FILES).max(16)).unwrap_or(usize::MAX)
}
