//! A server's JSON log lines, as they arrive.

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
