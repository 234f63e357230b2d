//! A server's JSON log lines, as they arrive: from the real binary's stdout,
//! or captured from an in-process server's background tasks.

use std::io::Write;

use serde_json::Value;
use tokio::sync::watch;

use crate::helpers::PROMPTLY;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every log line so far, parsed; clones see the same lines.
#[derive(Clone)]
pub struct Logs(watch::Receiver<Vec<Value>>);

impl Logs {
    /// Logs fed by the sender.
    pub fn channel() -> (watch::Sender<Vec<Value>>, Self) {
        let (sender, lines) = watch::channel(Vec::new());
        (sender, Self(lines))
    }

    /// Waits for a line that satisfies `matches`, and returns it.
    pub async fn line(
        &self,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Value, BoxError> {
        let mut lines = self.0.clone();
        let found =
            tokio::time::timeout(PROMPTLY, lines.wait_for(|lines| lines.iter().any(&matches)))
                .await
                .map_err(|_| {
                    format!(
                        "no log line {what} within {PROMPTLY:?}: {:?}",
                        *self.0.borrow()
                    )
                })?
                .map_err(|_| format!("the server exited without logging {what}"))?
                .iter()
                .find(|l| matches(l))
                .cloned();
        found.ok_or_else(|| format!("no log line {what}").into())
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<Value> {
        self.0.borrow().clone()
    }
}

/// Captures, as JSON lines, what is logged on this thread until the guard
/// is dropped. In a current-thread runtime that is everything its tasks log,
/// an in-process server's background tasks included (not its HTTP workers,
/// which run on threads of their own).
pub fn capture_on_this_thread() -> (tracing::subscriber::DefaultGuard, Logs) {
    let (sender, logs) = Logs::channel();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter("info")
        .with_writer(move || LineWriter {
            lines: sender.clone(),
            buffer: Vec::new(),
        })
        .finish();
    (tracing::subscriber::set_default(subscriber), logs)
}

/// Collects one event's output and hands its lines over when dropped.
struct LineWriter {
    lines: watch::Sender<Vec<Value>>,
    buffer: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let parsed: Vec<Value> = self
            .buffer
            .split(|b| *b == b'\n')
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect();
        if !parsed.is_empty() {
            self.lines.send_modify(|lines| lines.extend(parsed));
        }
    }
}
