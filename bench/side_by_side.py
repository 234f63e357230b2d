#!/usr/bin/env python3
"""Medians of bench/side-by-side.sh's runs, as markdown tables.

Usage: python3 bench/side_by_side.py [RESULTS_DIR]   (default bench/results/side-by-side)

Runs are named <scenario>-<server>-<build>-<round>.json. Each cell is the
median over the rounds, with the range when there are several; ratio =
after / before. No third-party packages.
"""

import json
import statistics
import sys
from pathlib import Path

GIB_KIB = 1024 * 1024

# (scenario, figure, path into the result JSON, format)
FIGURES = [
    ("fanout", "deliveries/s", ("deliveries", "per_second"), "{:,.0f}"),
    ("fanout", "writes admitted/s", ("writes", "admitted_per_second"), "{:.1f}"),
    ("fanout", "commit → receipt p99 (ms)", ("commit_to_receipt", "p99_ms"), "{:.0f}"),
    ("fanout", "create p99 (ms)", ("writes", "latency", "p99_ms"), "{:.1f}"),
    ("fanout", "server CPU (s)", ("server_resources", "cpu_seconds"), "{:.1f}"),
    ("fanout", "server RSS at the end (MiB)", ("server_resources", "rss_kib_end"), "mib"),
    ("fanout", "lost", ("deliveries", "lost"), "{:.0f}"),
    ("sustained", "commit → receipt p50 (ms)", ("commit_to_receipt", "p50_ms"), "{:.1f}"),
    ("sustained", "commit → receipt p99 (ms)", ("commit_to_receipt", "p99_ms"), "{:.1f}"),
    ("sustained", "create p99 (ms)", ("writes", "latency", "p99_ms"), "{:.1f}"),
    ("sustained", "server CPU (s)", ("server_resources", "cpu_seconds"), "{:.1f}"),
    ("sustained", "lost", ("deliveries", "lost"), "{:.0f}"),
    ("burst", "deliveries/s", ("deliveries", "per_second"), "{:,.0f}"),
    ("burst", "server CPU (s)", ("server_resources", "cpu_seconds"), "{:.1f}"),
    ("burst", "server RSS at the end (MiB)", ("server_resources", "rss_kib_end"), "mib"),
    ("burst", "lost", ("deliveries", "lost"), "{:.0f}"),
    ("crud", "create p99, no subscribers (ms)", ("writes", "latency", "p99_ms"), "{:.1f}"),
    ("writes", "creates admitted/s, 32 writers", ("writes", "admitted_per_second"), "{:,.0f}"),
    ("writes", "lost", ("deliveries", "lost"), "{:.0f}"),
]


def get(run, path):
    for key in path:
        if run is None:
            return None
        run = run.get(key)
    return run


def fmt(value, style):
    if value is None:
        return "–"
    if style == "mib":
        return f"{value / 1024:.0f}"
    return style.format(value)


def cell(values, style):
    values = [v for v in values if v is not None]
    if not values:
        return "–", None
    median = statistics.median(values)
    text = fmt(median, style)
    if len(values) > 1 and min(values) != max(values):
        text += f" ({fmt(min(values), style)}–{fmt(max(values), style)})"
    return text, median


def main():
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/side-by-side")
    runs = {}
    for path in sorted(results.glob("*.json")):
        scenario, server, build, _round = path.stem.rsplit("-", 3)
        with path.open() as f:
            runs.setdefault((scenario, server, build), []).append(json.load(f))

    problems = [
        f"{run['label']}: {'; '.join(run['problems'])}"
        for group in runs.values()
        for run in group
        if run.get("problems")
    ]

    print("### Idle: KiB of server memory per stream (19,000 streams)\n")
    print("| server | build | runs | KiB per idle stream | streams per GiB | streams held, with a keep-alive in the hold |")
    print("| --- | --- | --- | --- | --- | --- |")
    for server, build in [
        ("herald", "before"), ("herald", "after"), ("herald", "rebased"),
        ("baseline", "before"), ("baseline", "after"),
        ("nchan", "peer"),
    ]:
        group = runs.get(("idle", server, build), [])
        if not group:
            continue
        text, median = cell([get(r, ("server_resources", "rss_kib_per_subscriber")) for r in group], "{:.2f}")
        per_gib = f"{GIB_KIB / median:,.0f}" if median else "–"
        held = min(get(r, ("subscribers", "connected")) for r in group)
        alive = min(get(r, ("keep_alives", "subscribers_with_one_in_hold")) for r in group)
        print(f"| {server} | {build} | {len(group)} | {text} | {per_gib} | {held:,}, {alive:,} |")

    print("\n### Other scenarios, Herald before and after\n")
    print("| scenario | figure | before | after | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for scenario, figure, path, style in FIGURES:
        before = runs.get((scenario, "herald", "before"), [])
        after = runs.get((scenario, "herald", "after"), [])
        if not before and not after:
            continue
        b_text, b = cell([get(r, path) for r in before], style)
        a_text, a = cell([get(r, path) for r in after], style)
        ratio = f"{a / b:.2f}" if a is not None and b else "–"
        print(f"| {scenario} | {figure} | {b_text} | {a_text} | {ratio} |")

    if problems:
        print("\nProblems the harness found:\n")
        for problem in problems:
            print(f"- {problem}")


if __name__ == "__main__":
    main()
