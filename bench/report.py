#!/usr/bin/env python3
"""Charts and tables for BENCHMARKS.md from the JSON results of bench/run-all.sh.

Usage: python3 bench/report.py [RESULTS_DIR] [CHARTS_DIR]
       (defaults: bench/results docs/bench)

Draws, Herald and the baseline on the same axes:
  latency_vs_subscribers.png   commit -> receipt p50/p99 against subscribers
  rss_vs_subscribers.png       server RSS per subscriber against subscribers
  deliveries_vs_rate.png       deliveries/s against offered creates/s
and prints the markdown tables (Herald | baseline | ratio | target).

Needs Python 3.11 and matplotlib: `apt-get install python3-matplotlib`
(Debian's python3) or `pip install matplotlib`.
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

# Plain numbers with thousands separators, also on log axes.
PLAIN = FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 1 else f"{value:g}")

SERVERS = ("herald", "baseline")
SUBSCRIBER_SWEEP = (1000, 2000, 5000, 10000, 19000)
RATE_SWEEP = (50, 100, 200, 400, 800)
RATE_SWEEP_SUBSCRIBERS = 5000


def load(results: Path) -> dict:
    runs = {}
    for path in sorted(results.glob("*.json")):
        with path.open() as f:
            runs[path.stem] = json.load(f)
    return runs


def get(run, *path):
    """A nested field of a result, or None when the run or field is absent."""
    for key in path:
        if run is None:
            return None
        run = run.get(key)
    return run


def create_p99_ratio(runs, server):
    loaded = get(runs.get(f"sustained-10k-{server}"), "writes", "latency", "p99_ms")
    idle = get(runs.get(f"crud-none-{server}"), "writes", "latency", "p99_ms")
    return loaded / idle if loaded is not None and idle else None


# (scenario, figure, how to read it from a run's JSON, target). A reader is a
# path into the result, or a function of (runs, server) for derived figures.
ROWS = [
    ("idle: 19,000 subscribers", "subscribers connected", ("subscribers", "connected"), "19,000 held"),
    ("idle: 19,000 subscribers", "had a keep-alive during the hold", ("keep_alives", "subscribers_with_one_in_hold"), "all"),
    ("idle: 19,000 subscribers", "server RSS per subscriber (KiB)", ("server_resources", "rss_kib_per_subscriber"), "≤ 10 KiB"),
    ("sustained: 10,000 subscribers, 10 creates/s, 30 s", "lost", ("deliveries", "lost"), "0"),
    ("sustained: 10,000 subscribers, 10 creates/s, 30 s", "commit → receipt p50 (ms)", ("commit_to_receipt", "p50_ms"), ""),
    ("sustained: 10,000 subscribers, 10 creates/s, 30 s", "commit → receipt p99 (ms)", ("commit_to_receipt", "p99_ms"), "< 50 ms"),
    ("sustained: 10,000 subscribers, 10 creates/s, 30 s", "create p99 (ms)", ("writes", "latency", "p99_ms"), "< 50 ms"),
    ("fan-out: 5,000 subscribers, 1,000 creates at 200/s", "lost", ("deliveries", "lost"), "0"),
    ("fan-out: 5,000 subscribers, 1,000 creates at 200/s", "deliveries/s", ("deliveries", "per_second"), "≥ 5× baseline"),
    ("fan-out: 5,000 subscribers, 1,000 creates at 200/s", "writes admitted/s", ("writes", "admitted_per_second"), "≥ 190/s"),
    ("fan-out: 5,000 subscribers, 1,000 creates at 200/s", "commit → receipt p99 (ms)", ("commit_to_receipt", "p99_ms"), "≤ 0.25× baseline"),
    ("burst: 10,000 subscribers, 1,000 creates as fast as they go", "lost", ("deliveries", "lost"), "0"),
    ("burst: 10,000 subscribers, 1,000 creates as fast as they go", "deliveries/s", ("deliveries", "per_second"), "≥ 500,000"),
    ("CRUD under load: 10 creates/s", "create p99, no subscribers (ms)", ("writes", "latency", "p99_ms"), ""),
    ("CRUD under load: 10 creates/s", "create p99, 10,000 subscribers (ms)", ("writes", "latency", "p99_ms"), ""),
    ("CRUD under load: 10 creates/s", "with 10,000 ÷ with none", create_p99_ratio, "≤ 1.5"),
    ("write throughput, SQLite, 32 writers", "creates admitted/s", ("writes", "admitted_per_second"), "≥ 2,000/s"),
    ("write throughput, SQLite, 32 writers", "lost", ("deliveries", "lost"), "0"),
    ("write throughput, PostgreSQL, 32 writers", "creates admitted/s", ("writes", "admitted_per_second"), "≥ 2,000/s"),
    ("write throughput, PostgreSQL, 32 writers", "lost", ("deliveries", "lost"), "0"),
    ("3 instances on one PostgreSQL, 10 creates/s", "subscribers connected", ("subscribers", "connected"), "≥ 50,000"),
    ("3 instances on one PostgreSQL, 10 creates/s", "lost", ("deliveries", "lost"), "0"),
    ("3 instances on one PostgreSQL, 10 creates/s", "commit → receipt p99 (ms)", ("commit_to_receipt", "p99_ms"), "< 100 ms"),
]

# Which run each scenario's figures come from ({server} is filled in).
RUN_OF = {
    "idle: 19,000 subscribers": "idle-19k-{server}",
    "sustained: 10,000 subscribers, 10 creates/s, 30 s": "sustained-10k-{server}",
    "fan-out: 5,000 subscribers, 1,000 creates at 200/s": "fanout-5k-{server}",
    "burst: 10,000 subscribers, 1,000 creates as fast as they go": "burst-10k-{server}",
    "write throughput, SQLite, 32 writers": "writes-sqlite-{server}",
    "write throughput, PostgreSQL, 32 writers": "writes-postgres-{server}",
    "3 instances on one PostgreSQL, 10 creates/s": "cluster-50k-{server}",
}
RUN_OF_FIGURE = {
    "create p99, no subscribers (ms)": "crud-none-{server}",
    "create p99, 10,000 subscribers (ms)": "sustained-10k-{server}",
}


def figure(runs, scenario, name, reader, server):
    if callable(reader):
        return reader(runs, server)
    run_name = RUN_OF_FIGURE.get(name) or RUN_OF[scenario]
    return get(runs.get(run_name.format(server=server)), *reader)


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return f"{value:,}"


def tables(runs) -> str:
    out = []
    machine = next((r["machine"] for r in runs.values() if "machine" in r), None)
    if machine:
        out.append(
            f"Machine: {machine['cores']} cores, {machine['memory_kib'] / 1048576:.1f} GiB, "
            f"Linux {machine['kernel']}; the load generator runs on the same machine.\n"
        )
    scenario = None
    for row_scenario, name, reader, target in ROWS:
        if row_scenario != scenario:
            scenario = row_scenario
            out.append(f"\n### {scenario}\n")
            out.append("| figure | Herald | baseline | ratio | target |")
            out.append("| --- | --- | --- | --- | --- |")
        herald = figure(runs, scenario, name, reader, "herald")
        baseline = figure(runs, scenario, name, reader, "baseline")
        ratio = f"{herald / baseline:.2f}×" if herald is not None and baseline else "–"
        out.append(f"| {name} | {fmt(herald)} | {fmt(baseline)} | {ratio} | {target} |")
    problems = [
        f"- `{name}`: " + "; ".join(run["problems"])
        for name, run in runs.items()
        if run.get("problems")
    ]
    if problems:
        out.append("\n### Problems the harness reported\n")
        out.extend(problems)
    return "\n".join(out) + "\n"


def series(runs, names, reader):
    """(x, y) pairs for the runs that exist."""
    points = [(x, get(runs.get(name), *reader)) for x, name in names]
    return [x for x, y in points if y is not None], [y for x, y in points if y is not None]


def chart(path: Path, title: str, xlabel: str, ylabel: str, draw) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    draw(ax)
    ax.yaxis.set_major_formatter(PLAIN)
    ax.yaxis.set_minor_formatter(PLAIN)
    ax.xaxis.set_major_formatter(PLAIN)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)


def charts(runs, out: Path) -> None:
    colour = {"herald": "tab:blue", "baseline": "tab:orange"}
    by_subscribers = {
        server: [(n, f"sweep-subscribers-{n}-{server}") for n in SUBSCRIBER_SWEEP] for server in SERVERS
    }
    by_rate = {server: [(r, f"sweep-rate-{r}-{server}") for r in RATE_SWEEP] for server in SERVERS}

    def latency(ax):
        for server in SERVERS:
            for quantile, style in (("p50", "-"), ("p99", "--")):
                xs, ys = series(runs, by_subscribers[server], ("commit_to_receipt", f"{quantile}_ms"))
                ax.plot(xs, ys, style, marker="o", color=colour[server], label=f"{server} {quantile}")
        ax.set_yscale("log")

    def memory(ax):
        for server in SERVERS:
            xs, ys = series(runs, by_subscribers[server], ("server_resources", "rss_kib_per_subscriber"))
            ax.plot(xs, ys, marker="o", color=colour[server], label=server)
        ax.set_ylim(bottom=0)

    def deliveries(ax):
        ax.plot(
            RATE_SWEEP,
            [r * RATE_SWEEP_SUBSCRIBERS for r in RATE_SWEEP],
            ":",
            color="grey",
            label="offered × subscribers",
        )
        for server in SERVERS:
            xs, ys = series(runs, by_rate[server], ("deliveries", "per_second"))
            ax.plot(xs, ys, marker="o", color=colour[server], label=server)
        ax.set_ylim(bottom=0)

    chart(
        out / "latency_vs_subscribers.png",
        "Commit → receipt latency, 10 creates/s",
        "subscribers",
        "ms (log scale)",
        latency,
    )
    chart(
        out / "rss_vs_subscribers.png",
        "Server memory per subscriber (RSS after the ramp − before)",
        "subscribers",
        "KiB per subscriber",
        memory,
    )
    chart(
        out / "deliveries_vs_rate.png",
        f"Deliveries per second, {RATE_SWEEP_SUBSCRIBERS:,} subscribers",
        "creates offered per second",
        "deliveries per second",
        deliveries,
    )


def main() -> None:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/bench")
    runs = load(results)
    if not runs:
        sys.exit(f"no results in {results}: run bench/run-all.sh first")
    out.mkdir(parents=True, exist_ok=True)
    charts(runs, out)
    print(tables(runs), end="")


if __name__ == "__main__":
    main()
