//! Command-line options.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lexopt::prelude::*;

use crate::dialect::Dialect;
use crate::loopback;
use crate::replay_storm::ReplayStormOptions;
use crate::servers::Kind;

pub const USAGE: &str = "\
herald-bench: load generator for Herald and the plain-design baseline

USAGE:
  herald-bench [OPTIONS]     one run; JSON result on stdout (or --json), table on stderr
  herald-bench smoke [--herald-bin P] [--baseline-bin P] [--database-url URL]
                             a tiny run against a spawned Herald and a spawned
                             baseline (and Herald on PostgreSQL with a URL);
                             fails on any problem
  herald-bench replay-storm --herald-bin P [--herald-bin Q …] [--streams N]
                            [--events E] [--creates C] [--runs R]
                             create latency while N streams (1500) replay E
                             events (4000) from 0 on SQLite; each binary in
                             turn, R runs (3), medians and ratios

SERVERS (one of):
  --spawn herald|baseline|nchan
                             start the servers, each on a free loopback port;
                             nchan (nginx with the Nchan module, bench/nchan/)
                             holds streams only: --writes 0
    --instances K            how many (default 1; more than 1 needs PostgreSQL)
    --database-url URL       PostgreSQL admin URL: a fresh database per run, dropped
                             after (default: a fresh SQLite file)
    --server-env KEY=VALUE   set on every instance (repeatable); SSE_KEEP_ALIVE_SECS=5
                             unless set here
    --herald-bin PATH        default: `herald` beside this binary
    --baseline-bin PATH      default: `baseline` beside this binary
    --nginx-bin PATH         default: /usr/sbin/nginx
  --target URL[,URL…]        running servers (http://127.x.x.x:port only)
    --server-pid PID[,PID…]  their processes, for RSS and CPU figures

STREAM:
  --stream herald|mercure    which stream subscribers follow and writers feed:
                             herald = GET /api/sse/stream fed by user creates
                             (default); mercure = GET /.well-known/mercure?topic=*
                             fed by Mercure publishes (a spawned Herald gets the
                             bench's Mercure key and anonymous subscribers)

SUBSCRIBERS:
  --subscribers N            default 1000, spread over the servers round-robin
  --processes P              load-generator processes (default: as many as the
                             open-files limit needs)
  --source-ips M             source addresses 127.0.<p>.1…M per process (default 4)
  --connect-rate R           new subscribers per second (default 2000)
  --connect-concurrency C    connection attempts in flight (default 256)
  --hold SECS                after the ramp, wait this long before writing; every
                             subscriber must get a keep-alive meanwhile (default 0)

WRITES:
  --rate R                   creates per second offered, open loop (default 100;
                             0 = as fast as the writers go)
  --writes N                 how many (default 1000 unless --duration)
  --duration SECS            write for this long
  --writers W                keep-alive connections writing (default 32)
  --drain-timeout SECS       wait for the last event at most (default 30)

OUTPUT:
  --json FILE                write the result there instead of stdout
  --label NAME               name the run in the result
  --strict                   exit 1 if the run found any problem
";

pub enum Command {
    Run(RunOptions),
    Smoke(SmokeOptions),
    ReplayStorm(ReplayStormOptions),
    Worker,
    Help,
}

pub struct Spawn {
    pub kind: Kind,
    pub binary: PathBuf,
    pub instances: usize,
    pub database_url: Option<String>,
    pub env: Vec<(String, String)>,
}

pub enum Servers {
    Spawn(Spawn),
    Targets {
        targets: Vec<SocketAddr>,
        pids: Vec<u32>,
    },
}

pub struct RunOptions {
    pub servers: Servers,
    pub dialect: Dialect,
    pub subscribers: usize,
    pub processes: Option<usize>,
    pub source_ips: u8,
    pub connect_rate: f64,
    pub connect_concurrency: usize,
    pub hold: Duration,
    pub rate: f64,
    pub writes: Option<u64>,
    pub duration: Option<Duration>,
    pub writers: usize,
    pub drain_timeout: Duration,
    pub json: Option<PathBuf>,
    pub label: Option<String>,
    pub strict: bool,
}

pub struct SmokeOptions {
    pub herald_bin: PathBuf,
    pub baseline_bin: PathBuf,
    pub database_url: Option<String>,
}

pub fn parse() -> anyhow::Result<Command> {
    if std::env::args().nth(1).as_deref() == Some("replay-storm") {
        return parse_replay_storm().map(Command::ReplayStorm);
    }
    let mut parser = lexopt::Parser::from_env();
    let mut first = true;
    let mut spawn: Option<Kind> = None;
    let mut instances = 1;
    let mut database_url = None;
    let mut env = Vec::new();
    let mut herald_bin = None;
    let mut baseline_bin = None;
    let mut nginx_bin = None;
    let mut targets = Vec::new();
    let mut pids = Vec::new();
    let mut subcommand = None;
    let mut o = RunOptions {
        servers: Servers::Targets {
            targets: Vec::new(),
            pids: Vec::new(),
        },
        dialect: Dialect::Herald,
        subscribers: 1000,
        processes: None,
        source_ips: 4,
        connect_rate: 2000.0,
        connect_concurrency: 256,
        hold: Duration::ZERO,
        rate: 100.0,
        writes: None,
        duration: None,
        writers: 32,
        drain_timeout: Duration::from_secs(30),
        json: None,
        label: None,
        strict: false,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Value(word) if first && (word == "smoke" || word == "worker") => {
                subcommand = word.into_string().ok();
            }
            Long("help") | Short('h') => return Ok(Command::Help),
            Long("spawn") => spawn = Some(parser.value()?.string()?.parse()?),
            Long("instances") => instances = parser.value()?.parse()?,
            Long("database-url") => database_url = Some(parser.value()?.string()?),
            Long("server-env") => {
                let pair = parser.value()?.string()?;
                let (key, value) = pair
                    .split_once('=')
                    .with_context(|| format!("--server-env {pair}: expected KEY=VALUE"))?;
                env.push((key.to_owned(), value.to_owned()));
            }
            Long("herald-bin") => herald_bin = Some(parser.value()?.parse()?),
            Long("baseline-bin") => baseline_bin = Some(parser.value()?.parse()?),
            Long("nginx-bin") => nginx_bin = Some(parser.value()?.parse()?),
            Long("target") => {
                for url in parser.value()?.string()?.split(',') {
                    targets.push(loopback::target(url.trim())?);
                }
            }
            Long("server-pid") => {
                for pid in parser.value()?.string()?.split(',') {
                    pids.push(
                        pid.trim()
                            .parse()
                            .with_context(|| format!("--server-pid {pid}"))?,
                    );
                }
            }
            Long("stream") => o.dialect = parser.value()?.string()?.parse()?,
            Long("subscribers") => o.subscribers = parser.value()?.parse()?,
            Long("processes") => o.processes = Some(parser.value()?.parse()?),
            Long("source-ips") => o.source_ips = parser.value()?.parse()?,
            Long("connect-rate") => o.connect_rate = parser.value()?.parse()?,
            Long("connect-concurrency") => o.connect_concurrency = parser.value()?.parse()?,
            Long("hold") => o.hold = seconds(parser.value()?.parse()?)?,
            Long("rate") => o.rate = parser.value()?.parse()?,
            Long("writes") => o.writes = Some(parser.value()?.parse()?),
            Long("duration") => o.duration = Some(seconds(parser.value()?.parse()?)?),
            Long("writers") => o.writers = parser.value()?.parse()?,
            Long("drain-timeout") => o.drain_timeout = seconds(parser.value()?.parse()?)?,
            Long("json") => o.json = Some(parser.value()?.parse()?),
            Long("label") => o.label = Some(parser.value()?.string()?),
            Long("strict") => o.strict = true,
            _ => return Err(arg.unexpected().into()),
        }
        first = false;
    }
    if let Some(url) = &database_url {
        loopback::database_url(url)?;
    }
    let beside_me = |name: &str| -> anyhow::Result<PathBuf> {
        let exe = std::env::current_exe()?;
        Ok(exe.with_file_name(name))
    };
    match subcommand.as_deref() {
        Some("worker") => return Ok(Command::Worker),
        Some("smoke") => {
            return Ok(Command::Smoke(SmokeOptions {
                herald_bin: herald_bin.map_or_else(|| beside_me("herald"), Ok)?,
                baseline_bin: baseline_bin.map_or_else(|| beside_me("baseline"), Ok)?,
                database_url,
            }));
        }
        _ => {}
    }

    o.servers = match spawn {
        Some(kind) => {
            anyhow::ensure!(
                targets.is_empty(),
                "--spawn and --target exclude each other"
            );
            anyhow::ensure!(instances >= 1, "--instances must be at least 1");
            anyhow::ensure!(
                instances == 1 || database_url.is_some(),
                "several instances share one PostgreSQL database: give --database-url"
            );
            anyhow::ensure!(
                kind == Kind::Herald || database_url.is_none(),
                "only Herald runs on PostgreSQL"
            );
            anyhow::ensure!(
                kind != Kind::Nchan || o.writes == Some(0),
                "Nchan has no users API to write to: give --writes 0"
            );
            anyhow::ensure!(
                kind == Kind::Herald || o.dialect == Dialect::Herald,
                "only Herald has a Mercure hub"
            );
            if kind == Kind::Nchan {
                o.dialect = Dialect::Nchan;
            }
            let binary = match kind {
                Kind::Herald => herald_bin.map_or_else(|| beside_me("herald"), Ok)?,
                Kind::Baseline => baseline_bin.map_or_else(|| beside_me("baseline"), Ok)?,
                Kind::Nchan => nginx_bin.unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx")),
            };
            anyhow::ensure!(
                binary.is_file(),
                "{} not found: build it (cargo build --release --workspace), install it \
                 (nginx-light libnginx-mod-nchan) or give --{}-bin",
                binary.display(),
                match kind {
                    Kind::Nchan => "nginx",
                    Kind::Herald | Kind::Baseline => kind.name(),
                }
            );
            Servers::Spawn(Spawn {
                kind,
                binary,
                instances,
                database_url,
                env,
            })
        }
        None => {
            anyhow::ensure!(
                !targets.is_empty(),
                "give --spawn herald|baseline or --target URL"
            );
            anyhow::ensure!(
                env.is_empty() && database_url.is_none() && instances == 1,
                "--server-env, --database-url and --instances apply to --spawn only"
            );
            Servers::Targets { targets, pids }
        }
    };
    if o.writes.is_none() && o.duration.is_none() {
        o.writes = Some(1000);
    }
    anyhow::ensure!(o.rate >= 0.0, "--rate cannot be negative");
    anyhow::ensure!(o.connect_rate > 0.0, "--connect-rate must be positive");
    anyhow::ensure!(o.writers >= 1, "--writers must be at least 1");
    anyhow::ensure!((1..=254).contains(&o.source_ips), "--source-ips: 1 to 254");
    anyhow::ensure!(
        o.processes.is_none_or(|p| (1..=255).contains(&p)),
        "--processes: 1 to 255"
    );
    Ok(Command::Run(o))
}

fn seconds(value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).context("seconds must be a non-negative number")
}

fn parse_replay_storm() -> anyhow::Result<ReplayStormOptions> {
    let mut parser = lexopt::Parser::from_env();
    let mut options = ReplayStormOptions {
        binaries: Vec::new(),
        streams: 1500,
        events: 4000,
        creates: 5,
        runs: 3,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Value(word) if word == "replay-storm" => {}
            Long("herald-bin") => options.binaries.push(parser.value()?.parse()?),
            Long("streams") => options.streams = parser.value()?.parse()?,
            Long("events") => options.events = parser.value()?.parse()?,
            Long("creates") => options.creates = parser.value()?.parse()?,
            Long("runs") => options.runs = parser.value()?.parse()?,
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(options)
}
