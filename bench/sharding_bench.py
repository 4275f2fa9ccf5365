"""Shard manager benchmarks against the sandbox (rerun: ``python bench/sharding_bench.py``).

* spawn: time from ``spawn()`` to all READY against the bound ``ceil(N / mc) × window``
  (N=8, max_concurrency=1 and N=16, max_concurrency=4, window 1 s);
* RSS of one shard process holding 1,000 guilds (discord.py bot and EasyLang bot);
* ``broadcast_eval`` round trip over 8 shards (mean and p99);
* ``get_shard_stats`` latency over 8 shards.

Writes the figures to ``bench/RESULTS-sharding.md`` between its GENERATED markers, keeping the
text around them (``--no-write`` to only print them).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import psutil
from results import write_generated

from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager
from ezlang.sharding.progress import Reporter

HERE = Path(__file__).parent
PYBOT = HERE / "sharding_bot.py"
EZBOT = HERE / "sharding_bot.ez"


def quiet() -> Reporter:
    reporter = Reporter(progress=False)
    reporter._emit = lambda text, out: None  # type: ignore[method-assign]
    return reporter


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


async def bench_spawn(n: int, mc: int, window: float, bot: Path) -> dict[str, float]:
    async with Sandbox(guilds=n * 20, max_concurrency=mc, identify_window=window) as sb:
        manager = ShardManager(
            bot,
            {"token": sb.token, "api": sb.api_url, "total_shards": n, "max_concurrency": mc},
            reporter=quiet(),
        )
        try:
            started = time.monotonic()
            await manager.spawn()
            elapsed = time.monotonic() - started
            violations = sb.state()["identify_violations"]
        finally:
            await manager.stop()
    bound = math.ceil(n / mc) * window
    return {"elapsed": elapsed, "bound": bound, "over": elapsed - bound, "violations": violations}


async def bench_rss(bot: Path) -> tuple[float, float]:
    async with Sandbox(guilds=1000, identify_window=0.1) as sb:
        manager = ShardManager(
            bot, {"token": sb.token, "api": sb.api_url, "total_shards": 1}, reporter=quiet()
        )
        try:
            await manager.spawn()
            await asyncio.sleep(1.0)  # let startup garbage settle
            stats = await manager.stats()
            assert stats[0]["guild_count"] == 1000, stats
            # USS: memory only this process holds (pages shared with the zygote excluded).
            uss = psutil.Process(stats[0]["pid"]).memory_full_info().uss / (1024 * 1024)
            return float(stats[0]["memory_mb"]), uss
        finally:
            await manager.stop()


async def bench_calls(n: int, rounds: int) -> dict[str, float]:
    async with Sandbox(guilds=n * 20, identify_window=0.1) as sb:
        manager = ShardManager(
            PYBOT, {"token": sb.token, "api": sb.api_url, "total_shards": n}, reporter=quiet()
        )
        try:
            await manager.spawn()
            code = "return client.guilds.cache.size"
            for _ in range(50):  # warm up: compile once per shard, JIT-free but cache-warm
                await manager.broadcast_eval(code)
            evals = []
            for _ in range(rounds):
                t = time.perf_counter()
                await manager.broadcast_eval(code)
                evals.append((time.perf_counter() - t) * 1000)
            stats = []
            for _ in range(max(50, rounds // 5)):
                t = time.perf_counter()
                await manager.stats()
                stats.append((time.perf_counter() - t) * 1000)
            single = []
            for _ in range(rounds):
                t = time.perf_counter()
                await manager.broadcast_eval(code, shard=0)
                single.append((time.perf_counter() - t) * 1000)
            fetch = []
            for _ in range(rounds):
                t = time.perf_counter()
                await manager.fetch_client_values("guilds.cache.size")
                fetch.append((time.perf_counter() - t) * 1000)
        finally:
            await manager.stop()
    return {
        "eval_mean": statistics.mean(evals),
        "eval_p99": p99(evals),
        "fetch_mean": statistics.mean(fetch),
        "fetch_p99": p99(fetch),
        "single_mean": statistics.mean(single),
        "single_p99": p99(single),
        "stats_mean": statistics.mean(stats),
        "stats_p99": p99(stats),
    }


async def main(write: bool) -> None:
    lines = [
        f"`python bench/sharding_bench.py` on {platform.machine()} with {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}. Everything runs "
        "against the local sandbox on loopback; shard processes are real. "
        f"Load average at the start: {os.getloadavg()[0]:.1f}.",
        "",
        "## Spawn time against the identify bound (window 1 s)",
        "",
        "| bot | shards | max_concurrency | bound | all READY after | over the bound | "
        "identify violations |",
        "|---|---|---|---|---|---|---|",
    ]
    cases = (
        (8, 1, PYBOT, True), (8, 1, PYBOT, False), (16, 4, PYBOT, True), (16, 4, PYBOT, False),
        (8, 1, EZBOT, True), (16, 4, EZBOT, True),
    )  # fmt: skip
    for n, mc, bot, zygote in cases:
        os.environ["EZLANG_SHARD_ZYGOTE"] = "1" if zygote else "0"
        r = await bench_spawn(n, mc, 1.0, bot)
        how = "zygote" if zygote else "fresh interpreters"
        lines.append(
            f"| {bot.suffix} ({how}) | {n} | {mc} | {r['bound']:.1f} s | {r['elapsed']:.2f} s | "
            f"{r['over']:+.2f} s | {r['violations']} |"
        )
        print(lines[-1], flush=True)
    os.environ["EZLANG_SHARD_ZYGOTE"] = "1"
    lines += ["", "## Memory of one shard process holding 1,000 guilds", ""]
    for bot in (PYBOT, EZBOT):
        rss, uss = await bench_rss(bot)
        lines.append(f"- {bot.suffix} bot: {rss:.1f} MB RSS ({uss:.1f} MB unshared, USS)")
        print(lines[-1], flush=True)
    r = await bench_calls(8, 1000)
    lines += [
        "",
        "## Cross-shard calls over 8 shards (1,000 rounds after warm-up)",
        "",
        "| call | mean | p99 |",
        "|---|---|---|",
        f'| `broadcast_eval("return client.guilds.cache.size")` | {r["eval_mean"]:.3f} ms | '
        f"{r['eval_p99']:.3f} ms |",
        f'| `fetch_client_values("guilds.cache.size")` | {r["fetch_mean"]:.3f} ms | '
        f"{r['fetch_p99']:.3f} ms |",
        f"| `get_shard_stats()` | {r['stats_mean']:.3f} ms | {r['stats_p99']:.3f} ms |",
        f"| `broadcast_eval(…, {{shard: 0}})` (one shard) | {r['single_mean']:.3f} ms | "
        f"{r['single_p99']:.3f} ms |",
        "",
        "Notes: the spawn rows with *fresh interpreters* (`EZLANG_SHARD_ZYGOTE=0`) show why shards "
        "are forked from a zygote: N processes importing discord.py at once on 2 cores delay "
        "the first IDENTIFY by seconds. The one-shard round trip is the cost of the IPC path "
        "itself. Over 8 shards the time is CPU: about 40 µs of Python per shard in the manager "
        "(write the request, read and decode the reply) and 70–100 µs per shard process "
        "(wake-up, read, eval, reply), on 2 cores; waking a shard can also preempt the manager. "
        "Whatever else runs on the machine shows directly in the p99.",
    ]
    print("\n".join(lines[-3:]), flush=True)
    load = os.getloadavg()
    lines += [
        "",
        f"Load average at the end of the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"on {os.cpu_count()} CPUs.",
    ]
    if write:
        write_generated(
            HERE / "RESULTS-sharding.md",
            "\n".join(lines),
            script="bench/sharding_bench.py",
            title="# Shard manager benchmarks",
        )


async def calls_only(rounds: int) -> None:
    """Only the cross-shard call latencies over 8 shards, with the load average around them
    (for comparing two trees: run it with ``PYTHONPATH=<other tree>/src`` too)."""
    before = os.getloadavg()
    r = await bench_calls(8, rounds)
    after = os.getloadavg()
    print(
        f"broadcast_eval mean {r['eval_mean']:.3f} ms p99 {r['eval_p99']:.3f} ms | "
        f"fetch mean {r['fetch_mean']:.3f} p99 {r['fetch_p99']:.3f} | "
        f"stats mean {r['stats_mean']:.3f} p99 {r['stats_p99']:.3f} | "
        f"one shard mean {r['single_mean']:.3f} p99 {r['single_p99']:.3f} | "
        f"load {before[0]:.2f} -> {after[0]:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="only print the figures")
    parser.add_argument(
        "--calls-only",
        action="store_true",
        help="only measure the cross-shard calls (printed, not written)",
    )
    parser.add_argument("--rounds", type=int, default=1000, help="rounds per call (default 1000)")
    args = parser.parse_args()
    if args.calls_only:
        sys.exit(asyncio.run(calls_only(args.rounds)))
    sys.exit(asyncio.run(main(not args.no_write)))
