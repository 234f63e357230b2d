//! One run, as the coordinator sees it: servers up, subscribers ramped (here
//! and in worker processes), writes, drain, figures, servers down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{RunOptions, Servers as ServerChoice};
use crate::dialect::Dialect;
use crate::fleet::{Fleet, FleetPlan, ProcessReport};
use crate::histogram::Summary;
use crate::procfs;
use crate::progress::Progress;
use crate::report::{
    Deliveries, KeepAlives, Machine, Report, ServerResources, Settings, Subscribers, Writes,
};
use crate::servers::{Kind, Servers, SpawnPlan};
use crate::workers::Worker;
use crate::writers::{self, WriteCounts, WritePlan};

/// Open files a process keeps for itself besides its subscribers.
const SPARE_FILES: u64 = 100;
const STATUS_EVERY: Duration = Duration::from_millis(250);

pub async fn run(options: &RunOptions) -> anyhow::Result<Report> {
    let open_files = procfs::raise_open_files_limit()?;
    let mut report = match &options.servers {
        ServerChoice::Spawn(spawn) => {
            let servers = Servers::spawn(&SpawnPlan {
                kind: spawn.kind,
                binary: spawn.binary.clone(),
                instances: spawn.instances,
                admin_database_url: spawn.database_url.clone(),
                env: options
                    .dialect
                    .server_env()
                    .into_iter()
                    .chain(spawn.env.iter().cloned())
                    .collect(),
            })
            .await?;
            let result = until_interrupted(measure(
                options,
                &servers.targets(),
                &servers.pids(),
                open_files,
            ))
            .await;
            servers.stop(result.is_err()).await;
            let mut report = result?;
            report.server = spawn.kind.name().to_owned();
            report.database = match (spawn.kind, &spawn.database_url) {
                (Kind::Nchan, _) => "none",
                (_, Some(_)) => "postgres",
                (_, None) => "sqlite",
            }
            .to_owned();
            report.settings.server_env =
                spawn.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            report
        }
        ServerChoice::Targets { targets, pids } => {
            until_interrupted(measure(options, targets, pids, open_files)).await?
        }
    };
    report.problems = report.find_problems();
    Ok(report)
}

async fn until_interrupted<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = work => result,
        _ = interrupt.recv() => anyhow::bail!("interrupted"),
        _ = terminate.recv() => anyhow::bail!("terminated"),
    }
}

async fn measure(
    options: &RunOptions,
    targets: &[SocketAddr],
    pids: &[u32],
    open_files: u64,
) -> anyhow::Result<Report> {
    let plans = fleet_plans(options, targets, open_files)?;
    let progress = Progress::new();
    // None when a figure cannot be had: no --server-pid, or a process gone.
    let servers_rss = || -> Option<u64> {
        let rss = pids.iter().map(|&pid| procfs::rss_kib(pid).ok());
        rss.sum::<Option<u64>>().filter(|_| !pids.is_empty())
    };
    let servers_cpu = || -> Option<f64> {
        let cpu = pids.iter().map(|&pid| procfs::cpu_seconds(pid).ok());
        cpu.sum::<Option<f64>>().filter(|_| !pids.is_empty())
    };
    let (rss_before, cpu_before) = (servers_rss(), servers_cpu());

    progress.phase("ramp");
    let exe = std::env::current_exe()?;
    let mut workers = plans[1..]
        .iter()
        .map(|plan| Worker::spawn(&exe, plan.clone()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut fleet = Fleet::start(plans[0].clone())?;
    let write_counts = Arc::new(WriteCounts::default());
    let status = {
        let probe = fleet.probe();
        let write_counts = write_counts.clone();
        let worker_counts: Vec<_> = workers.iter().map(Worker::counts).collect();
        let progress = progress.clone();
        let total = options.subscribers;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(STATUS_EVERY);
            loop {
                tick.tick().await;
                let mut counts = probe.counts();
                for other in &worker_counts {
                    let other = other.get();
                    counts.connected += other.connected;
                    counts.failed += other.failed;
                    counts.received += other.received;
                }
                progress.status(format!(
                    "subscribers {}/{total} (failed {}) · writes {} sent, {} admitted · deliveries {}",
                    counts.connected,
                    counts.failed,
                    write_counts.sent.load(Ordering::Relaxed),
                    write_counts.admitted.load(Ordering::Relaxed),
                    counts.received,
                ));
            }
        })
    };
    let result = async {
        fleet.ramped().await;
        for worker in &mut workers {
            worker.ramped().await?;
        }
        let rss_after_ramp = servers_rss();

        let first_id = options.dialect.id_before_run(targets[0]).await?;
        fleet.begin(first_id);
        for worker in &mut workers {
            worker.begin(first_id)?;
        }
        for worker in &mut workers {
            worker.begun().await?;
        }
        if !options.hold.is_zero() {
            progress.phase("hold");
            tokio::time::sleep(options.hold).await;
        }
        fleet.writing();
        for worker in &mut workers {
            worker.writing()?;
        }

        let writes = if options.writes == Some(0) {
            None
        } else {
            progress.phase("writes");
            let plan = WritePlan {
                targets: targets.to_vec(),
                writers: options.writers,
                rate: options.rate,
                writes: options.writes,
                duration: options.duration,
                tag: run_tag(),
                dialect: options.dialect,
            };
            Some(writers::run(plan, write_counts.clone()).await?)
        };
        let sent = write_counts.sent.load(Ordering::Relaxed);
        let last_id = options.dialect.last_id(targets[0], sent).await?;

        progress.phase("drain");
        for worker in &mut workers {
            worker.drain(last_id, options.drain_timeout)?;
        }
        let mut drained = fleet.drain(last_id, options.drain_timeout).await;
        for worker in &mut workers {
            drained &= worker.drained().await?;
        }
        let rss_end = servers_rss();
        let cpu_end = servers_cpu();

        progress.phase("close");
        let mut own = fleet.finish(first_id, last_id).await?;
        own.drained = drained;
        own.cpu_seconds = procfs::cpu_seconds(std::process::id())?;
        let mut reports = vec![own];
        for worker in workers {
            reports.push(worker.finish().await?);
        }
        anyhow::Ok((
            reports,
            writes,
            first_id,
            last_id,
            rss_after_ramp,
            rss_end,
            cpu_end,
        ))
    }
    .await;
    status.abort();
    progress.finish();
    let (reports, writes, first_id, last_id, rss_after_ramp, rss_end, cpu_end) = result?;

    let mut all = ProcessReport {
        drained: true,
        ..ProcessReport::default()
    };
    for report in &reports {
        all.absorb(report);
    }
    let latency = all.latency_micros.histogram()?;
    let connect = all.connect_micros.histogram()?;

    let per_second = match (&writes, all.last_receipt_micros) {
        (Some(w), Some(last)) if last > w.started_micros => {
            all.received as f64 / ((last - w.started_micros) as f64 / 1e6)
        }
        _ => 0.0,
    };
    let writes = writes.map(|w| {
        let count = |status: u16| w.statuses.get(&status).copied().unwrap_or(0);
        let sent = w.statuses.values().sum::<u64>() + w.errors;
        Writes {
            sent,
            admitted: count(options.dialect.taken()),
            rejected: count(429) + count(503),
            statuses: w.statuses.clone(),
            errors: w.errors,
            error_samples: w.error_samples.clone(),
            seconds: w.seconds,
            admitted_per_second: count(options.dialect.taken()) as f64
                / w.seconds.max(f64::EPSILON),
            latency: Summary::of(&w.latency),
        }
    });
    let rss_per_subscriber = match (rss_before, rss_after_ramp) {
        (Some(before), Some(after)) if all.connected > 0 => {
            Some((after as f64 - before as f64) / all.connected as f64)
        }
        _ => None,
    };
    Ok(Report {
        label: options.label.clone(),
        server: "external".to_owned(),
        database: "unknown".to_owned(),
        instances: targets.len(),
        machine: machine()?,
        settings: Settings {
            subscribers: options.subscribers,
            processes: plans.len(),
            source_ips: options.source_ips,
            connect_rate: options.connect_rate,
            connect_concurrency: options.connect_concurrency,
            writers: options.writers,
            rate: options.rate,
            writes: options.writes,
            duration_secs: options.duration.map(|d| d.as_secs_f64()),
            hold_secs: options.hold.as_secs_f64(),
            drain_timeout_secs: options.drain_timeout.as_secs_f64(),
            stream: options.dialect,
            server_env: Vec::new(),
        },
        subscribers: Subscribers {
            requested: all.subscribers,
            connected: all.connected,
            failed: all.failed,
            ended_early: all.ended_early,
            failures: all.failures,
            ramp_seconds: all.ramp_seconds,
            connect: Summary::of(&connect),
        },
        writes,
        deliveries: Deliveries {
            first_id,
            last_id,
            events: last_id.saturating_sub(first_id),
            expected: all.expected,
            received: all.received,
            lost: all.lost,
            duplicated: all.duplicated,
            out_of_order: match options.dialect {
                Dialect::Herald => all.out_of_order,
                Dialect::Mercure | Dialect::Nchan => 0,
            },
            orders: all.orders.len(),
            beyond_last: all.beyond_last,
            resets: all.resets,
            unexpected: all.unexpected,
            malformed: all.malformed,
            per_second,
            drained: all.drained,
        },
        commit_to_receipt: Summary::of(&latency),
        keep_alives: KeepAlives {
            received: all.keep_alives,
            hold_secs: options.hold.as_secs_f64(),
            subscribers_with_one_in_hold: all.with_keep_alive_in_hold,
        },
        server_resources: ServerResources {
            pids: pids.to_vec(),
            rss_kib_before_ramp: rss_before,
            rss_kib_after_ramp: rss_after_ramp,
            rss_kib_end: rss_end,
            rss_kib_per_subscriber: rss_per_subscriber,
            cpu_seconds: cpu_before.zip(cpu_end).map(|(before, end)| end - before),
        },
        load_generator_cpu_seconds: all.cpu_seconds,
        problems: Vec::new(),
    })
}

/// Splits the subscribers over as many processes as the open-files limit
/// needs (or as asked), each with its own block of source addresses.
fn fleet_plans(
    options: &RunOptions,
    targets: &[SocketAddr],
    open_files: u64,
) -> anyhow::Result<Vec<FleetPlan>> {
    let per_process = open_files
        .saturating_sub(SPARE_FILES + options.writers as u64)
        .max(1) as usize;
    let processes = options
        .processes
        .unwrap_or_else(|| options.subscribers.div_ceil(per_process).max(1));
    let share = options.subscribers.div_ceil(processes);
    anyhow::ensure!(
        share <= per_process,
        "{share} subscribers per process, but a process may hold {per_process} \
         (open files {open_files}): use more --processes"
    );
    let mut first_index = 0;
    (0..processes)
        .map(|p| {
            let subscribers =
                options.subscribers / processes + usize::from(p < options.subscribers % processes);
            let plan = FleetPlan {
                targets: targets.to_vec(),
                subscribers,
                first_index,
                source_block: u8::try_from(p).context("at most 255 processes")?,
                source_ips: options.source_ips,
                connect_rate: options.connect_rate / processes as f64,
                connect_concurrency: options.connect_concurrency.div_ceil(processes),
                dialect: options.dialect,
            };
            first_index += subscribers;
            Ok(plan)
        })
        .collect()
}

/// Eight hex digits that make this run's user names unique.
fn run_tag() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    id[id.len() - 8..].to_owned()
}

fn machine() -> anyhow::Result<Machine> {
    let memory_kib = std::fs::read_to_string("/proc/meminfo")?
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Ok(Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_kib,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .context("kernel release")?
            .trim()
            .to_owned(),
    })
}
