//! The real `herald` binary, run the way operators do (in a fresh working
//! directory, configured by its environment), with its JSON log lines at
//! hand.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{PROMPTLY, eventually, herald_binary};
use crate::logs::Logs;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub struct Herald {
    child: Option<Child>,
    pub address: String,
    pub dir: tempfile::TempDir,
    logs: Logs,
}

impl Herald {
    /// With no configuration but a port (and JSON logs).
    pub async fn start() -> Result<Self, BoxError> {
        Self::start_with(&[]).await
    }

    /// Configured by `vars` on top of that; returns once it listens.
    pub async fn start_with(vars: &[(&str, &str)]) -> Result<Self, BoxError> {
        Self::spawn(Command::new(herald_binary()), vars).await
    }

    /// Like [`Herald::start_with`], with its soft and hard open-file limits
    /// set as a service manager would (`LimitNOFILE=soft:hard`).
    pub async fn start_with_open_files(
        soft: u64,
        hard: u64,
        vars: &[(&str, &str)],
    ) -> Result<Self, BoxError> {
        // prlimit sets its own limits and then executes the server in its
        // place, under the same process id.
        let mut command = Command::new("prlimit");
        command
            .arg(format!("--nofile={soft}:{hard}"))
            .arg("--")
            .arg(herald_binary());
        Self::spawn(command, vars).await
    }

    /// Like [`Herald::start_with`], with its wall clock shifted by `offset`
    /// (`faketime` syntax, such as `-2h`); its monotonic clock, which
    /// timers use, is left alone.
    pub async fn start_faked(vars: &[(&str, &str)], offset: &str) -> Result<Self, BoxError> {
        let mut command = Command::new("faketime");
        command
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .args(["-f", offset])
            .arg(herald_binary());
        Self::spawn(command, vars).await
    }

    async fn spawn(mut command: Command, vars: &[(&str, &str)]) -> Result<Self, BoxError> {
        let dir = tempfile::tempdir()?;
        command
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (sender, logs) = Logs::channel();
        let show = std::env::var_os("TEST_LOG").is_some();
        // Reading on to the end also keeps the server from blocking on a
        // full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if show {
                    println!("{line}");
                }
                if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                    sender.send_modify(|lines| lines.push(entry));
                }
            }
        });
        let mut herald = Self {
            child: Some(child),
            address: String::new(),
            dir,
            logs,
        };
        let listening = herald
            .log_line("saying where it listens", |l| l["address"].is_string())
            .await?;
        herald.address = listening["address"]
            .as_str()
            .ok_or("no address")?
            .to_owned();
        // Listening comes before ready: a test starts talking once the
        // server is ready, as a load balancer would.
        let readyz = format!("{}/readyz", herald.address);
        let client = reqwest::Client::new();
        eventually("the server answering /readyz with 200", || async {
            client
                .get(&readyz)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        Ok(herald)
    }

    /// Waits for a log line that satisfies `matches`, and returns it.
    pub async fn log_line(
        &self,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Value, BoxError> {
        self.logs.line(what, matches).await
    }

    /// Every log line so far.
    pub fn log_lines(&self) -> Vec<Value> {
        self.logs.lines()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    pub fn signal(&self, signal: &str) -> std::io::Result<()> {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()?;
        assert!(status.success());
        Ok(())
    }

    /// Waits for the process to exit: its status, and how long that took.
    pub async fn wait(mut self) -> Result<(ExitStatus, Duration), BoxError> {
        let started = Instant::now();
        let mut child = self.child.take().ok_or("already waited for")?;
        let status =
            tokio::time::timeout(PROMPTLY, tokio::task::spawn_blocking(move || child.wait()))
                .await???;
        Ok((status, started.elapsed()))
    }
}

impl Drop for Herald {
    /// A test that failed half-way leaves no server behind, nor one that a
    /// wrapper (`faketime`) started as its child.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("pkill")
                .args(["-KILL", "-P", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
