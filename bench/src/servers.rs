//! Herald, baseline or Nchan instances the harness starts itself: free
//! loopback ports, a fresh database, logs in a temporary directory, and a
//! clean stop.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database};

use crate::{http, procfs};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

/// Nchan's configuration, `bench/nchan/nginx.conf.tmpl` built into the
/// binary: `{PORT}` and `{PREFIX}` are filled in per run.
const NCHAN_CONFIG: &str = include_str!("../nchan/nginx.conf.tmpl");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Herald,
    Baseline,
    /// nginx with the Nchan module, the peer of BENCHMARKS.md: streams only
    /// (it has no users API and no event log), so idle runs only.
    Nchan,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Herald => "herald",
            Kind::Baseline => "baseline",
            Kind::Nchan => "nchan",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> anyhow::Result<Self> {
        match name {
            "herald" => Ok(Kind::Herald),
            "baseline" => Ok(Kind::Baseline),
            "nchan" => Ok(Kind::Nchan),
            _ => anyhow::bail!("--spawn takes herald, baseline or nchan, not {name}"),
        }
    }
}

pub struct SpawnPlan {
    pub kind: Kind,
    pub binary: PathBuf,
    pub instances: usize,
    /// A PostgreSQL admin URL: the instances share a fresh database made
    /// with it. Without one, a fresh SQLite file.
    pub admin_database_url: Option<String>,
    /// Set on every instance, after (so over) the harness's defaults.
    pub env: Vec<(String, String)>,
}

struct Server {
    kind: Kind,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

/// A database made for one run, dropped after it.
struct ScratchDatabase {
    admin_url: String,
    name: String,
}

pub struct Servers {
    dir: tempfile::TempDir,
    servers: Vec<Server>,
    database: Option<ScratchDatabase>,
}

impl Servers {
    pub async fn spawn(plan: &SpawnPlan) -> anyhow::Result<Self> {
        let mut servers = Self {
            dir: tempfile::Builder::new().prefix("herald-bench-").tempdir()?,
            servers: Vec::new(),
            database: None,
        };
        match servers.start(plan).await {
            Ok(()) => Ok(servers),
            Err(error) => {
                let logs = servers.dir.path().to_owned();
                servers.stop(true).await;
                Err(error.context(format!("server logs kept in {}", logs.display())))
            }
        }
    }

    async fn start(&mut self, plan: &SpawnPlan) -> anyhow::Result<()> {
        if plan.kind == Kind::Nchan {
            return self.start_nchan(plan).await;
        }
        let database_url = match &plan.admin_database_url {
            Some(admin_url) => {
                let name = format!("herald_bench_{}", uuid::Uuid::now_v7().simple());
                let admin = Database::connect(admin_url.as_str()).await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                let url = with_database(admin_url, &name)?;
                self.database = Some(ScratchDatabase {
                    admin_url: admin_url.clone(),
                    name,
                });
                url
            }
            None => format!(
                "sqlite://{}?mode=rwc",
                self.dir
                    .path()
                    .join(format!("{}.db", plan.kind.name()))
                    .display()
            ),
        };
        for instance in 0..plan.instances {
            let addr = free_port()?;
            let log = self
                .dir
                .path()
                .join(format!("{}-{instance}.log", plan.kind.name()));
            let mut command = Command::new(&plan.binary);
            command
                // Herald reads a `.env` in its working directory: not ours.
                .current_dir(self.dir.path())
                .env("DATABASE_URL", &database_url)
                .env("BIND_ADDR", addr.to_string())
                .env("SSE_KEEP_ALIVE_SECS", "5")
                .envs(plan.env.iter().map(|(k, v)| (k, v)));
            // One at a time: instances starting together on a fresh
            // PostgreSQL database race each other's migrations.
            self.launch(plan, command, addr, &log, &log).await?;
        }
        Ok(())
    }

    /// nginx in the foreground with the Nchan configuration, its files in
    /// the run's directory.
    async fn start_nchan(&mut self, plan: &SpawnPlan) -> anyhow::Result<()> {
        anyhow::ensure!(plan.instances == 1, "one Nchan instance only");
        let addr = free_port()?;
        let prefix = self.dir.path().join("nchan");
        std::fs::create_dir_all(&prefix)?;
        let prefix_str = prefix
            .to_str()
            .context("the temporary directory's path is not UTF-8")?;
        let config = NCHAN_CONFIG
            .replace("{PORT}", &addr.port().to_string())
            .replace("{PREFIX}", prefix_str);
        let config_path = prefix.join("nginx.conf");
        std::fs::write(&config_path, config)?;
        let output = self.dir.path().join("nchan-0.log");
        let mut command = Command::new(&plan.binary);
        command
            .arg("-c")
            .arg(&config_path)
            .arg("-p")
            .arg(&prefix)
            .args(["-g", "daemon off;"])
            .current_dir(&prefix);
        self.launch(plan, command, addr, &output, &prefix.join("error.log"))
            .await
    }

    /// Starts `command` (the plan's binary with its arguments and
    /// environment) with its output to `output`, as one of the run's servers
    /// on `addr`, and waits until it is ready; `log` is the file whose tail
    /// tells why it was not.
    async fn launch(
        &mut self,
        plan: &SpawnPlan,
        mut command: Command,
        addr: SocketAddr,
        output: &Path,
        log: &Path,
    ) -> anyhow::Result<()> {
        let output = File::create(output)?;
        command
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output);
        end_with_parent(&mut command);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", plan.binary.display()))?;
        self.servers.push(Server {
            kind: plan.kind,
            child,
            addr,
            log: log.to_path_buf(),
        });
        if let Some(server) = self.servers.last_mut() {
            wait_ready(server).await?;
        }
        Ok(())
    }

    pub fn targets(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|server| server.addr).collect()
    }

    /// The servers' processes; for nginx, its master and its workers.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for server in &self.servers {
            let pid = server.child.id();
            pids.push(pid);
            if server.kind == Kind::Nchan {
                pids.extend(procfs::children(pid));
            }
        }
        pids
    }

    /// SIGTERM, then SIGKILL for any that has not exited in time; drops the
    /// run's database. The logs are kept (and their folder printed) when
    /// `keep_logs`, otherwise removed with the folder.
    pub async fn stop(mut self, keep_logs: bool) {
        for server in &self.servers {
            // SAFETY: kill() with a pid this process started and has not reaped.
            unsafe {
                libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        for server in &mut self.servers {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(server.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                tokio::time::sleep(POLL).await;
            }
            if matches!(server.child.try_wait(), Ok(None)) {
                eprintln!(
                    "{} did not stop within {STOP_TIMEOUT:?}: killed",
                    server.addr
                );
                let _ = server.child.kill();
                let _ = server.child.wait();
            }
        }
        if let Some(database) = self.database.take()
            && let Err(error) = drop_database(&database).await
        {
            eprintln!("could not drop database {}: {error:#}", database.name);
        }
        if keep_logs {
            eprintln!("server logs: {}", self.dir.keep().display());
        }
    }
}

async fn wait_ready(server: &mut Server) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = server.child.try_wait()? {
            anyhow::bail!(
                "the server on {} exited ({status}) before it was ready:\n{}",
                server.addr,
                log_tail(&server.log)
            );
        }
        // nginx is ready once it answers at all (`GET /pub`: the channel's
        // state, 404 while it has none).
        let (path, ready) = match server.kind {
            Kind::Nchan => ("/pub", 100..600),
            Kind::Herald | Kind::Baseline => ("/readyz", 200..201),
        };
        if let Ok(response) = http::get(server.addr, path, Duration::from_secs(2)).await
            && ready.contains(&response.status)
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the server on {} was not ready within {READY_TIMEOUT:?}:\n{}",
            server.addr,
            log_tail(&server.log)
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Should the harness die without stopping its servers, the kernel sends
/// them SIGTERM. (Servers are started from the main thread, which lives as
/// long as the process.)
pub fn end_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The admin URL with its database name replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(base, query)| (base, Some(query)));
    let (server, _) = base
        .rsplit_once('/')
        .filter(|(server, _)| server.contains("://"))
        .with_context(|| format!("{admin_url}: expected postgres://user@host:port/database"))?;
    Ok(match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    })
}

async fn drop_database(database: &ScratchDatabase) -> anyhow::Result<()> {
    let admin = Database::connect(database.admin_url.as_str()).await?;
    admin
        .execute_unprepared(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            database.name
        ))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nchan_is_spawned_from_its_template() -> anyhow::Result<()> {
        assert_eq!("nchan".parse::<Kind>()?, Kind::Nchan);
        assert!("nginx".parse::<Kind>().is_err());
        // Everything the run fills in is a placeholder of the template.
        assert!(NCHAN_CONFIG.contains("listen 127.0.0.1:{PORT}"));
        assert!(NCHAN_CONFIG.contains("pid {PREFIX}/nginx.pid"));
        Ok(())
    }

    #[test]
    fn swaps_the_database_name() -> anyhow::Result<()> {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x")?,
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@localhost/test?sslmode=disable", "x")?,
            "postgres://u@localhost/x?sslmode=disable"
        );
        Ok(())
    }
}
