#!/usr/bin/env python3
"""SQL writes beside the API's: creates/s that 4 `sqlite3` / `psql` shells
commit straight to a table (users, a live table `orders` that `herald watch`
made live, or the same table not watched) while herald-bench offers the API
creates/s (200 by default; 0 for none), and how long their events take to
reach an open stream. With --bulk N, instead: the time one statement of N
rows takes, into the table watched and not.

Starts its own Herald (the release binary) on a fresh SQLite file, or on a
fresh PostgreSQL database made through --database-url (an admin URL) and
dropped after. Each shell reads INSERTs from a pipe, one autocommitted
statement each, as fast as it goes (or paced with --sql-rate); a stream
reads every event and times each SQL-made one from its `at` (the database's
clock when the trigger ran, before the commit) to its receipt. Prints a
line of figures, and checks that the stream saw ids 1..N, each once.

Usage:
  bench/sql_writes.py [--database-url URL] [--seconds 20] [--writers 4]
                      [--sql-rate 0] [--api-rate 200]
                      [--table users|orders|unwatched] [--bulk N]
                      [--herald-bin target/release/herald]
                      [--bench-bin target/release/herald-bench]
"""

import argparse
import datetime
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(base, path):
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return json.load(response)


def wait_ready(base, server, deadline=60):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if server.poll() is not None:
            sys.exit(f"herald exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("herald did not become ready")


def parse_at(at):
    return datetime.datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


class Stream(threading.Thread):
    """Reads every event from 0; keeps ids and SQL-made events' latencies."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.ids = []
        self.sql_latencies_ms = []
        self.lock = threading.Lock()

    def run(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port)
        connection.request("GET", "/api/sse/stream", headers={"Last-Event-ID": "0"})
        response = connection.getresponse()
        for raw in response:
            line = raw.decode()
            if not line.startswith("data:"):
                continue
            received = time.time()
            envelope = json.loads(line[5:])
            data = envelope.get("data") or {}
            user = data.get("user") or {}
            by_sql = str(user.get("user_name", "")).startswith("sql") or data.get("table") == "orders"
            with self.lock:
                self.ids.append(envelope["id"])
                if by_sql:
                    self.sql_latencies_ms.append((received - parse_at(envelope["at"])) * 1000)

    def seen(self):
        with self.lock:
            return list(self.ids), list(self.sql_latencies_ms)


def shell_command(database):
    if database["kind"] == "sqlite":
        return ["sqlite3", "-cmd", ".timeout 20000", database["file"]]
    return ["psql", "-X", "-q", database["url"]]


ORDERS = "CREATE TABLE orders (id {key} PRIMARY KEY, tenant text NOT NULL, customer text NOT NULL, total numeric, secret text)"


def insert(table, writer, i):
    """One INSERT of writer's i-th row."""
    if table == "users":
        return f"INSERT INTO users (user_name, email) VALUES ('sql{writer}x{i}', 'sql{writer}.{i}@example.com');\n"
    return f"INSERT INTO orders (tenant, customer, total, secret) VALUES ('t{writer}', 'c{i}', {i}.5, 's');\n"


def feed(process, writer, pace, stop, table):
    """INSERTs into one shell's stdin until stop; a full pipe holds it back."""
    i = 0
    next_at = time.monotonic()
    try:
        while not stop.is_set():
            process.stdin.write(insert(table, writer, i).encode())
            i += 1
            if pace:
                process.stdin.flush()
                next_at += pace
                time.sleep(max(0.0, next_at - time.monotonic()))
    except (BrokenPipeError, ValueError):
        pass


def run_sql(database, statement, fetch=False):
    """One statement in the database's shell; its output with fetch."""
    if database["kind"] == "sqlite":
        command = ["sqlite3", "-cmd", ".timeout 20000", database["file"], statement]
    else:
        command = ["psql", "-X", "-q", "-At", database["url"], "-c", statement]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip() if fetch \
        else subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def bulk(database, args):
    """One statement of args.bulk rows, timed from the shell's start to its exit (the commit included)."""
    if database["kind"] == "sqlite":
        rows = (f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {args.bulk}) "
                "INSERT INTO orders (tenant, customer, total, secret) SELECT 't' || (i % 10), 'c' || i, i * 1.5, 's' FROM n")
    else:
        rows = ("INSERT INTO orders (tenant, customer, total, secret) "
                f"SELECT 't' || (i % 10), 'c' || i, i * 1.5, 's' FROM generate_series(1, {args.bulk}) AS i")
    started = time.monotonic()
    run_sql(database, rows)
    seconds = time.monotonic() - started
    events = run_sql(database, "SELECT count(*) FROM events", fetch=True)
    print(json.dumps({"database": database["kind"], "table": args.table, "rows": args.bulk,
                      "seconds": round(seconds, 3), "events": int(events)}))
    return 0


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.path.join(here, "..", "target", "release")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--sql-rate", type=float, default=0, help="statements/s per shell; 0 = as fast as it goes")
    parser.add_argument("--api-rate", type=float, default=200, help="API creates/s offered meanwhile; 0 = none")
    parser.add_argument("--table", choices=["users", "orders", "unwatched"], default="users")
    parser.add_argument("--bulk", type=int, default=0, help="time one statement of this many rows instead")
    parser.add_argument("--herald-bin", default=os.path.join(target, "herald"))
    parser.add_argument("--bench-bin", default=os.path.join(target, "herald-bench"))
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="herald-sql-writes-")
    if args.database_url:
        name = f"herald_sql_writes_{os.getpid()}"
        admin = args.database_url
        subprocess.run(["psql", "-X", "-q", admin, "-c", f"CREATE DATABASE {name}"], check=True)
        url = admin.rsplit("/", 1)[0] + "/" + name
        database = {"kind": "postgres", "url": url}
    else:
        file = os.path.join(workdir, "herald.db")
        database = {"kind": "sqlite", "file": file}
        url = f"sqlite://{file}?mode=rwc"

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, DATABASE_URL=url, BIND_ADDR=f"127.0.0.1:{port}", RUST_LOG="warn")
    server = subprocess.Popen([args.herald_bin], env=env, stdout=subprocess.DEVNULL)
    shells = []
    try:
        wait_ready(base, server)
        if args.table != "users":
            key = "integer" if database["kind"] == "sqlite" else "bigserial"
            run_sql(database, ORDERS.format(key=key))
        if args.table == "orders":
            subprocess.run([args.herald_bin, "watch", "orders", "--scope", "tenant", "--hide", "secret"],
                           env=env, check=True, stdout=subprocess.DEVNULL)
        if args.bulk:
            return bulk(database, args)
        stream = Stream(port)
        stream.start()

        stop = threading.Event()
        pace = 1 / args.sql_rate if args.sql_rate else 0
        feeders = []
        for w in range(args.writers):
            process = subprocess.Popen(
                shell_command(database), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            shells.append(process)
            feeder = threading.Thread(target=feed, args=(process, w, pace, stop, args.table), daemon=True)
            feeders.append(feeder)
        api_json = os.path.join(workdir, "api.json")
        api = None
        if args.api_rate:
            api = subprocess.Popen(
                [args.bench_bin, "--target", base, "--server-pid", str(server.pid), "--subscribers", "1",
                 "--rate", str(args.api_rate), "--duration", str(args.seconds), "--json", api_json],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        started = time.monotonic()
        for feeder in feeders:
            feeder.start()
        time.sleep(args.seconds)
        stop.set()
        for process in shells:
            process.send_signal(signal.SIGKILL)
        sql_seconds = time.monotonic() - started
        errors = [process.stderr.read().decode().strip() for process in shells]
        if api:
            api.wait()
        if args.table == "unwatched":
            counted = run_sql(database, "SELECT count(*) FROM orders", fetch=True)
            print(json.dumps({"database": database["kind"], "table": "unwatched", "sql_writers": args.writers,
                              "sql_creates_per_second": round(int(counted) / sql_seconds, 1)}))
            return 0

        last = get_json(base, "/api/v1/users?limit=1")["last_event_id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(stream.seen()[0]) < last:
            time.sleep(0.05)
        ids, latencies = stream.seen()
        report = json.load(open(api_json)) if api else {"writes": {"admitted_per_second": 0, "latency": {"p99_ms": None}}}
        sql_rows = len(latencies)
        result = {
            "database": database["kind"],
            "table": args.table,
            "sql_writers": args.writers,
            "sql_creates_per_second": round(sql_rows / sql_seconds, 1),
            "api_offered_per_second": args.api_rate,
            "api_admitted_per_second": round(report["writes"]["admitted_per_second"], 1),
            "api_create_p99_ms": report["writes"]["latency"]["p99_ms"],
            "sql_event_latency_ms": {
                "count": sql_rows,
                "p50": round(statistics.median(latencies), 1) if latencies else None,
                "p99": round(percentile(latencies, 0.99), 1) if latencies else None,
                "max": round(max(latencies), 1) if latencies else None,
            },
            "events": len(ids),
            "ids_gapless": ids == list(range(1, last + 1)),
            "shell_errors": [e for e in errors if e][:3],
        }
        print(json.dumps(result))
        return 0 if result["ids_gapless"] else 1
    finally:
        for process in shells:
            if process.poll() is None:
                process.kill()
        server.send_signal(signal.SIGTERM)
        server.wait()
        if database["kind"] == "postgres":
            subprocess.run(["psql", "-X", "-q", args.database_url, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
