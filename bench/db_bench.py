"""Benchmark: the built-in database, operations per second from 1 and 16 processes.

Each row runs real ``ezlang run`` processes of one EasyLang program that does one operation
in a loop, on the SQLite backend (a fresh file in a temporary directory) and on the Redis
backend (its own ``redis-server`` on a free loopback port, no persistence). The processes
check in and wait for each other before timing, so the 16-process rows measure 16 writers at
once; ops/s is all operations over the time from the first start to the last finish.

Operations: ``db_set`` of a distinct key per operation, ``db_get`` of those keys, ``db_incr``
of one key shared by every process (integer, then ``0.5``: the Redis backend's Lua path and
its WATCH/MULTI path), the worst case for contention.

    python bench/db_bench.py [--ops 20000] [--write bench/RESULTS-db.md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import write_generated

PROGRAM = """\
const op = get_argument("OP")
const n = num(get_argument("N"))
const procs = num(get_argument("P"))
const me = get_argument("ME")
db_incr("ready:" + op)
while db_get("ready:" + op) < procs { wait(0.002) }
const t0 = time()
if op == "set" {
    for i in range(n) { db_set("k:" + me + ":" + i, i) }
} else if op == "get" {
    for i in range(n) { db_get("k:" + me + ":" + i) }
} else if op == "incr" {
    for i in range(n) { db_incr("counter") }
} else if op == "incr_float" {
    for i in range(n) { db_incr("halves", 0.5) }
}
print(t0, time())
"""

OPS = ("set", "get", "incr", "incr_float")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
         "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("redis-server did not start")


def run_row(prog: Path, env: dict[str, str], op: str, procs: int, per_proc: int) -> float:
    """Ops/s of ``procs`` processes doing ``per_proc`` operations ``op`` each."""
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ezlang",
                "run",
                str(prog),
                f"OP={op}",
                f"N={per_proc}",
                f"P={procs}",
                f"ME={i}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(procs)
    ]
    starts, ends = [], []
    for child in children:
        out, err = child.communicate(timeout=600)
        if child.returncode != 0:
            raise SystemExit(f"a benchmark process failed:\n{err}")
        t0, t1 = map(float, out.split())
        starts.append(t0)
        ends.append(t1)
    return procs * per_proc / (max(ends) - min(starts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20000, help="operations per row (all processes)")
    parser.add_argument("--write", metavar="PATH", help="write the table into this results file")
    args = parser.parse_args()

    import sqlite3

    work = tempfile.mkdtemp(prefix="ezlang-db-bench-")
    redis_proc, redis_url = start_redis(work)
    base_env = {k: v for k, v in os.environ.items() if k not in ("EZLANG_DB", "EZLANG_REDIS_URL")}
    prog = Path(work) / "bench.ez"
    prog.write_text(PROGRAM)
    rows: list[tuple[str, str, int, float]] = []
    try:
        for procs in (1, 16):
            for backend in ("sqlite", "redis"):
                if backend == "sqlite":
                    db_file = Path(work) / f"bench-{procs}.db"
                    env = dict(base_env, EZLANG_DB=str(db_file))
                else:
                    env = dict(base_env, EZLANG_REDIS_URL=redis_url)
                    subprocess.run(
                        ["redis-cli", "-u", redis_url, "FLUSHALL"], check=True, capture_output=True
                    )
                for op in OPS:
                    rate = run_row(prog, env, op, procs, args.ops // procs)
                    rows.append((backend, op, procs, rate))
                    print(
                        f"{backend:6} {op:10} {procs:2} processes: {rate:10,.0f} ops/s", flush=True
                    )
    finally:
        redis_proc.kill()
        redis_proc.wait()
        shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()
    lines = [
        f"`python bench/db_bench.py --ops {args.ops}`: {args.ops} operations per row, "
        f"split evenly over the processes. Machine: {os.cpu_count()} cores, load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end; SQLite "
        f"{sqlite3.sqlite_version}; CPython {sys.version.split()[0]}.",
        "",
        "| backend | operation | processes | ops/s |",
        "|---|---|---|---|",
    ]
    for backend, op, procs, rate in rows:
        label = {"incr": "db_incr (one shared key)", "incr_float": "db_incr 0.5 (one shared key)"}
        lines.append(f"| {backend} | {label.get(op, 'db_' + op)} | {procs} | {rate:,.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_generated(args.write, text, script="bench/db_bench.py", title="# Database benchmarks")


if __name__ == "__main__":
    main()
