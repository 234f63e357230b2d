#!/usr/bin/env bash
# Regenerates every figure in BENCHMARKS.md: builds the release binaries,
# runs each scenario of issue 7 against Herald and against the baseline in
# turn (same machine, same run), the sweeps behind the charts, then draws
# the charts (docs/bench/*.png) and prints the tables (bench/results/tables.md).
#
# By hand only, on an otherwise idle machine: it takes about half an hour and
# loads both cores. Never in CI (CI runs `herald-bench smoke` through
# `cargo test --workspace`).
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) for the
# PostgreSQL scenarios; set BENCH_DATABASE_URL to use another admin URL on
# this machine. Each run makes its own database and drops it. The charts need
# matplotlib for Python 3 (`apt-get install python3-matplotlib`, or
# `pip install matplotlib`).
#
# Usage: bench/run-all.sh [NAME_PATTERN]   (only the runs whose name matches,
#        e.g. 'fanout' — results of the others are left as they are)
set -euo pipefail
cd "$(dirname "$0")/.."

only="${1:-}"
pg_url="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
results=bench/results
mkdir -p "$results" docs/bench

cargo build --release --workspace
bench=target/release/herald-bench

{
  echo "cores: $(nproc)"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "kernel: $(uname -r)"
  echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty)')"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$results/machine.txt"
cat "$results/machine.txt"

failed=()
# run NAME ARGS…: one run; its JSON in bench/results/NAME.json, its table and
# phases in NAME.log. A run that errors is reported at the end; the rest go on.
run() {
  local name=$1
  shift
  if [[ -n "$only" && "$name" != *$only* ]]; then return; fi
  echo "=== $name: $*"
  if ! "$bench" --label "$name" --json "$results/$name.json" "$@" \
      2> >(tee "$results/$name.log" >&2); then
    failed+=("$name")
  fi
}

for server in herald baseline; do
  # Issue 7's scenarios.
  run "idle-19k-$server" --spawn "$server" --subscribers 19000 --writes 0 --hold 30
  run "sustained-10k-$server" --spawn "$server" --subscribers 10000 --rate 10 --duration 30
  run "fanout-5k-$server" --spawn "$server" --subscribers 5000 --writes 1000 --rate 200
  run "burst-10k-$server" --spawn "$server" --subscribers 10000 --writes 1000 --rate 0
  # CRUD under load: compared with sustained-10k's create latency.
  run "crud-none-$server" --spawn "$server" --subscribers 0 --rate 10 --duration 30
  # Write throughput; one subscriber checks that every write has its event.
  run "writes-sqlite-$server" --spawn "$server" --subscribers 1 --writes 20000 --rate 0 --writers 32

  # Sweeps for the charts.
  for n in 1000 2000 5000 10000 19000; do
    run "sweep-subscribers-$n-$server" --spawn "$server" --subscribers "$n" --rate 10 --duration 20
  done
  for rate in 50 100 200 400 800; do
    run "sweep-rate-$rate-$server" --spawn "$server" --subscribers 5000 --rate "$rate" --writes $((rate * 10))
  done
done

# The peer, Nchan (apt-get install nginx-light libnginx-mod-nchan): streams
# only, so the idle scenario only.
run "idle-19k-nchan" --spawn nchan --subscribers 19000 --writes 0 --hold 30

# Herald's Mercure hub under the fan-out's load (Herald only).
run "fanout-5k-mercure" --spawn herald --stream mercure --subscribers 5000 --writes 1000 --rate 200

# PostgreSQL: Herald only (the baseline is SQLite only).
run "writes-postgres-herald" --spawn herald --database-url "$pg_url" \
  --subscribers 1 --writes 20000 --rate 0 --writers 32
run "cluster-50k-herald" --spawn herald --instances 3 --database-url "$pg_url" \
  --subscribers 50000 --processes 3 --rate 10 --duration 30

# SQL written straight to the users table beside the API (Writing from SQL).
if [[ -z "$only" || sql-writes == *$only* ]]; then
  echo "=== sql-writes"
  python3 bench/sql_writes.py | tee "$results/sql-writes-sqlite.json" || failed+=(sql-writes-sqlite)
  python3 bench/sql_writes.py --database-url "$pg_url" | tee "$results/sql-writes-postgres.json" ||
    failed+=(sql-writes-postgres)
fi
# A live table (herald watch), the same table unwatched, and one statement of
# 20,000 rows into each.
if [[ -z "$only" || live-tables == *$only* ]]; then
  echo "=== live-tables"
  for table in orders unwatched; do
    for url in "" "$pg_url"; do
      name="live-tables-$table-$([[ -n "$url" ]] && echo postgres || echo sqlite)"
      python3 bench/sql_writes.py ${url:+--database-url "$url"} --table "$table" | tee "$results/$name.json" ||
        failed+=("$name")
      python3 bench/sql_writes.py ${url:+--database-url "$url"} --table "$table" --bulk 20000 |
        tee "$results/$name-bulk.json" || failed+=("$name-bulk")
    done
  done
fi

# Debian's python3-matplotlib lives beside /usr/bin/python3, which may not be
# the python3 first on the PATH.
python=python3
if ! python3 -c 'import matplotlib' 2>/dev/null && [[ -x /usr/bin/python3 ]]; then
  python=/usr/bin/python3
fi
"$python" bench/report.py "$results" docs/bench | tee "$results/tables.md"

if ((${#failed[@]})); then
  echo "runs that failed: ${failed[*]}" >&2
  exit 1
fi
