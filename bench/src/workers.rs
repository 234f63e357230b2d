//! Subscriber-only copies of the harness: one process may hold only as many
//! connections as it may open files, so larger runs spread their
//! subscribers over several. The coordinator talks to each copy in JSON
//! lines: commands on its stdin, replies on its stdout.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::fleet::{Counts, Fleet, FleetPlan, ProcessReport};
use crate::procfs;

/// How often a copy reports its counts for the progress line.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WorkerCommand {
    Plan { plan: FleetPlan },
    Begin { first_id: u64 },
    Writing,
    Drain { last_id: u64, timeout_ms: u64 },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Reply {
    Progress { counts: Counts },
    Ramped,
    Begun,
    Drained { drained: bool },
    Report { report: Box<ProcessReport> },
}

pub struct LatestCounts(Arc<Mutex<Counts>>);

impl LatestCounts {
    pub fn get(&self) -> Counts {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The coordinator's handle on one copy.
pub struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: mpsc::UnboundedReceiver<Reply>,
    counts: Arc<Mutex<Counts>>,
}

impl Worker {
    /// Starts `exe worker` and hands it its share of the subscribers.
    pub fn spawn(exe: &Path, plan: FleetPlan) -> anyhow::Result<Self> {
        let mut command = Command::new(exe);
        command
            .arg("worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        crate::servers::end_with_parent(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let counts = Arc::new(Mutex::new(Counts::default()));
        let (sender, replies) = mpsc::unbounded_channel();
        let latest = counts.clone();
        // A thread, not a task: reading a pipe blocks.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str(&line) {
                    Ok(Reply::Progress { counts }) => {
                        *latest.lock().unwrap_or_else(PoisonError::into_inner) = counts;
                    }
                    Ok(reply) => {
                        if sender.send(reply).is_err() {
                            break;
                        }
                    }
                    Err(error) => eprintln!("worker said something unreadable ({error}): {line}"),
                }
            }
        });
        let mut worker = Self {
            stdin: child.stdin.take(),
            child,
            replies,
            counts,
        };
        worker.send(&WorkerCommand::Plan { plan })?;
        Ok(worker)
    }

    /// The copy's latest counts, readable while the coordinator waits on it.
    pub fn counts(&self) -> LatestCounts {
        LatestCounts(self.counts.clone())
    }

    pub async fn ramped(&mut self) -> anyhow::Result<()> {
        match self.reply().await? {
            Reply::Ramped => Ok(()),
            other => anyhow::bail!("worker: expected ramped, got {other:?}"),
        }
    }

    /// Tells the copy to count events after `first_id`; `begun` says when
    /// it does.
    pub fn begin(&mut self, first_id: u64) -> anyhow::Result<()> {
        self.send(&WorkerCommand::Begin { first_id })
    }

    pub async fn begun(&mut self) -> anyhow::Result<()> {
        match self.reply().await? {
            Reply::Begun => Ok(()),
            other => anyhow::bail!("worker: expected begun, got {other:?}"),
        }
    }

    pub fn writing(&mut self) -> anyhow::Result<()> {
        self.send(&WorkerCommand::Writing)
    }

    /// Asks the copy to wait for `last_id` on every subscriber; `drained`
    /// says whether they all got it.
    pub fn drain(&mut self, last_id: u64, timeout: Duration) -> anyhow::Result<()> {
        self.send(&WorkerCommand::Drain {
            last_id,
            timeout_ms: timeout.as_millis() as u64,
        })
    }

    pub async fn drained(&mut self) -> anyhow::Result<bool> {
        match self.reply().await? {
            Reply::Drained { drained } => Ok(drained),
            other => anyhow::bail!("worker: expected drained, got {other:?}"),
        }
    }

    /// Closes the copy's stdin: it closes its subscribers, reports and exits.
    pub async fn finish(mut self) -> anyhow::Result<ProcessReport> {
        self.stdin = None;
        let report = match self.reply().await? {
            Reply::Report { report } => *report,
            other => anyhow::bail!("worker: expected its report, got {other:?}"),
        };
        while self.child.try_wait()?.is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(report)
    }

    fn send(&mut self, command: &WorkerCommand) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("worker closed")?;
        writeln!(stdin, "{}", serde_json::to_string(command)?)?;
        Ok(stdin.flush()?)
    }

    async fn reply(&mut self) -> anyhow::Result<Reply> {
        self.replies
            .recv()
            .await
            .context("a worker process ended before it replied (see its errors above)")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Only reached with the copy still running when the run was aborted.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The copy's side: `herald-bench worker`.
pub async fn serve() -> anyhow::Result<()> {
    procfs::raise_open_files_limit()?;
    let (sender, mut commands) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let next = |line: Option<String>| -> anyhow::Result<Option<WorkerCommand>> {
        line.map(|line| serde_json::from_str(&line).context("an unreadable command"))
            .transpose()
    };
    let Some(WorkerCommand::Plan { plan }) = next(commands.recv().await)? else {
        anyhow::bail!("the first command must be the plan");
    };
    let mut fleet = Fleet::start(plan)?;
    let probe = fleet.probe();
    let progress = tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        loop {
            tick.tick().await;
            emit(&Reply::Progress {
                counts: probe.counts(),
            });
        }
    });

    let (mut first_id, mut last_id, mut drained) = (0, 0, false);
    let mut command = tokio::select! {
        () = fleet.ramped() => {
            emit(&Reply::Ramped);
            next(commands.recv().await)?
        }
        line = commands.recv() => next(line)?,
    };
    while let Some(current) = command {
        match current {
            WorkerCommand::Plan { .. } => anyhow::bail!("a second plan"),
            WorkerCommand::Begin { first_id: id } => {
                first_id = id;
                fleet.begin(id);
                emit(&Reply::Begun);
            }
            WorkerCommand::Writing => fleet.writing(),
            WorkerCommand::Drain {
                last_id: id,
                timeout_ms,
            } => {
                last_id = id;
                drained = fleet.drain(id, Duration::from_millis(timeout_ms)).await;
                emit(&Reply::Drained { drained });
            }
        }
        command = next(commands.recv().await)?;
    }
    progress.abort();
    let mut report = fleet.finish(first_id, last_id).await?;
    report.drained = drained;
    report.cpu_seconds = procfs::cpu_seconds(std::process::id())?;
    emit(&Reply::Report {
        report: Box::new(report),
    });
    Ok(())
}

fn emit(reply: &Reply) {
    if let Ok(line) = serde_json::to_string(reply) {
        // Stdout is line-buffered: each reply leaves whole.
        println!("{line}");
    }
}
