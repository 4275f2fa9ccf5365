"""Benchmark: cross-host fan-out over Redis against the same fan-out on one host.

Starts its own ``redis-server`` on a free loopback port and a second "host" as a separate
process. Both hosts serve 4 shards each; host A then gathers one operation over all 8 shards
(4 local + 4 on host B through Redis) and, in the same run, over 8 shards all local. The shard
operation itself is a trivial coroutine, so the figures are the coordination overhead that the
Redis path adds on top of the manager's own IPC to its shard processes.

    python bench/redis_bench.py [--rounds 2000] [--write bench/RESULTS-redis.md]

With ``--manager`` (needs the shard manager and the sandbox) it also measures real
``broadcast_eval("return client.guilds.cache.size")`` from a manager whose 8 shards are split 4/4
over two manager processes, against one manager running all 8.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from results import write_generated

from ezlang.sharding.redis.multihost import RedisMultiHost

#: Signs the bus messages (the bot token in real use; both bench hosts share it).
SECRET = "bench-bot-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(8).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("redis-server did not start")


async def fake_shard(shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
    await asyncio.sleep(0)
    return 100 + shard_id


async def serve_host(url: str) -> None:
    """Host B: serve shards 4-7 until stdin closes."""
    multi = RedisMultiHost(url, "bench", host="host-b", ttl=5, secret=SECRET)
    await multi.join(
        total_shards=8,
        explicit=True,
        max_concurrency=1,
        identify_window=5,
        shard_ids=[4, 5, 6, 7],
        serve=fake_shard,
    )
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await multi.leave()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def measure(rounds: int, url: str) -> dict[str, list[float]]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", url], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, child.stdout.readline)
        assert line.strip() == b"ready", line
        multi = RedisMultiHost(url, "bench", host="host-a", ttl=5, secret=SECRET)
        await multi.join(
            total_shards=8,
            explicit=True,
            max_concurrency=1,
            identify_window=5,
            shard_ids=[0, 1, 2, 3],
            serve=fake_shard,
        )
        res: dict[str, list[float]] = {
            "one host, 8 local shards": [],
            "two hosts, 4 + 4 via Redis": [],
        }
        local8 = list(range(8))
        for _ in range(min(200, rounds)):  # warm up
            await multi.gather("eval", None, 5, fake_shard)
        for _ in range(rounds):
            t0 = time.perf_counter()
            await asyncio.gather(*(fake_shard(i, "eval", None, 5) for i in local8))
            res["one host, 8 local shards"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            outs = await multi.gather("eval", None, 5, fake_shard)
            res["two hosts, 4 + 4 via Redis"].append(time.perf_counter() - t0)
            assert sum(o.value for o in outs) == sum(100 + i for i in range(8))
        await multi.leave()
        return res
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=10)


async def measure_managers(rounds: int, url: str) -> dict[str, list[float]]:
    """Real managers: broadcast_eval over 8 shards on one host vs split 4/4 over two hosts."""
    import json

    from ezlang.sandbox import Sandbox
    from ezlang.sharding.manager import ShardManager
    from ezlang.sharding.progress import Reporter

    root = Path(__file__).resolve().parent.parent
    pybot = root / "tests" / "sharding" / "bots" / "pybot.py"
    host_script = root / "tests" / "redis" / "manager_host.py"
    code = "return client.guilds.cache.size"
    res: dict[str, list[float]] = {}
    async with Sandbox(guilds=80, max_concurrency=1, identify_window=0.2) as sb:
        base = {"token": sb.token, "api": sb.api_url, "heartbeat_interval": 1.0}

        async def run(label: str, m: ShardManager) -> None:
            for _ in range(min(200, rounds)):
                await m.broadcast_eval(code)
            xs = res.setdefault(label, [])
            for _ in range(rounds):
                t0 = time.perf_counter()
                out = await m.broadcast_eval(code)
                xs.append(time.perf_counter() - t0)
                assert sum(out) == 80 and len(out) == 8

        single = ShardManager(pybot, {**base, "total_shards": 8}, reporter=Reporter(False))
        await single.spawn()
        try:
            await run("broadcast_eval, one host, 8 shards", single)
        finally:
            await single.stop()
        env = {**os.environ, "EZLANG_HOST_NAME": "bench-b"}
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(host_script), "--redis", url, "--api", sb.api_url,
            "--token", sb.token, "--shards", "4,5,6,7", "--total", "8", "--heartbeat", "1",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            assert child.stdout is not None
            while True:
                line = await asyncio.wait_for(child.stdout.readline(), 120)
                assert line, "host B exited"
                with contextlib.suppress(ValueError):
                    msg = json.loads(line)
                    if isinstance(msg, dict) and msg.get("event") == "spawned":
                        break
            opts = {**base, "total_shards": 8, "shard_list": [0, 1, 2, 3], "redis": url}
            multi = ShardManager(pybot, opts, reporter=Reporter(False))
            await multi.spawn()
            try:
                await run("broadcast_eval, two hosts 4 + 4 via Redis", multi)
            finally:
                await multi.stop()
        finally:
            assert child.stdin is not None
            child.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.wait(), 20)
            if child.returncode is None:
                child.kill()
                await child.wait()
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--write", type=Path)
    ap.add_argument("--serve")
    ap.add_argument("--manager", action="store_true", help="also measure real managers")
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve_host(args.serve))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        redis, url = start_redis(tmp)
        try:
            res = asyncio.run(measure(args.rounds, url))
            if args.manager:
                res.update(asyncio.run(measure_managers(args.rounds, url)))
        finally:
            redis.kill()
            redis.wait()
    lines = [
        f"One operation over 8 shards, {args.rounds} rounds each, all in one run "
        f"({os.cpu_count()} cores, loopback Redis):",
        "",
        "| path | mean ms | p50 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    for name, xs in res.items():
        lines.append(
            f"| {name} | {statistics.mean(xs) * 1e3:.3f} | {pct(xs, 50) * 1e3:.3f} | "
            f"{pct(xs, 99) * 1e3:.3f} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_generated(args.write, text, script="bench/redis_bench.py", title="# Redis benchmarks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
