"""What monitoring costs (rerun: ``python bench/monitoring_bench.py``).

* ``broadcast_eval`` over 4 shards with the metrics endpoint off and on (ABAB blocks, so a
  change of machine load hits both sides);
* one ``/metrics`` scrape of 4 shards (it asks every shard for its stats first);
* gateway events: MESSAGE_CREATE streamed by the sandbox at a fixed rate, and whether
  ``ezlang_shard_events_received_total`` counted every one of them.

Writes the figures to ``bench/RESULTS-monitoring.md`` between its GENERATED markers
(``--no-write`` to only print them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from results import write_generated
from sharding_bench import p99, quiet

from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager

HERE = Path(__file__).parent
BOT = HERE / "monitoring_bot.py"
SHARDS = 4


async def with_manager(sb: Sandbox, metrics: bool, work: Any) -> Any:
    opts: dict[str, Any] = {"token": sb.token, "api": sb.api_url, "total_shards": SHARDS}
    if metrics:
        opts["metrics"] = 0
    manager = ShardManager(BOT, opts, reporter=quiet())
    try:
        await manager.spawn()
        return await work(manager)
    finally:
        await manager.stop()


async def eval_rounds(manager: ShardManager, rounds: int) -> list[float]:
    code = "return client.guilds.cache.size"
    for _ in range(50):
        await manager.broadcast_eval(code)
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        await manager.broadcast_eval(code)
        out.append((time.perf_counter() - t) * 1000)
    return out


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return await resp.text()


def events_total(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ezlang_shard_events_received_total":
                if sample.labels.get("type") == "MESSAGE_CREATE":
                    total += sample.value
    return total


async def main(write: bool, rounds: int, rate: float, seconds: float) -> None:
    load_before = os.getloadavg()[0]
    evals: dict[bool, list[float]] = {False: [], True: []}
    async with Sandbox(guilds=SHARDS * 20, identify_window=0.1) as sb:
        for metrics in (False, True, False, True):
            evals[metrics] += await with_manager(sb, metrics, lambda m: eval_rounds(m, rounds // 2))

        async def scrapes_and_events(manager: ShardManager) -> dict[str, float]:
            url = manager.monitor.metrics_url
            assert url is not None
            await scrape(url)
            times = []
            for _ in range(50):
                manager.monitor.refreshed_at = 0.0  # every scrape asks the shards again
                t = time.perf_counter()
                await scrape(url)
                times.append((time.perf_counter() - t) * 1000)
            before = events_total(await scrape(url))
            sent = await sb.load(rate, seconds)
            deadline = time.monotonic() + 30
            while True:
                manager.monitor.refreshed_at = 0.0
                counted = events_total(await scrape(url)) - before
                if counted >= sent or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            return {
                "scrape_mean": statistics.mean(times),
                "scrape_p99": p99(times),
                "sent": sent,
                "counted": counted,
            }

        r = await with_manager(sb, True, scrapes_and_events)
    load_after = os.getloadavg()[0]
    off, on = evals[False], evals[True]
    lines = [
        f"`python bench/monitoring_bench.py` on {platform.machine()} with {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}; {SHARDS} shards "
        f"(real processes, discord.py bot) against the local sandbox. Load average "
        f"{load_before:.2f} at the start, {load_after:.2f} at the end.",
        "",
        f"## broadcast_eval over {SHARDS} shards ({len(off)} calls per side, ABAB blocks)",
        "",
        "| metrics endpoint | mean | median | p99 |",
        "|---|---|---|---|",
        f"| off | {statistics.mean(off):.3f} ms | {statistics.median(off):.3f} ms "
        f"| {p99(off):.3f} ms |",
        f"| on | {statistics.mean(on):.3f} ms | {statistics.median(on):.3f} ms "
        f"| {p99(on):.3f} ms |",
        "",
        f"## One /metrics scrape of {SHARDS} shards (50 scrapes, each asking every shard)",
        "",
        f"mean {r['scrape_mean']:.2f} ms, p99 {r['scrape_p99']:.2f} ms",
        "",
        "## Gateway events counted",
        "",
        f"{int(r['sent'])} MESSAGE_CREATE streamed at {rate:g}/s for {seconds:g} s over the "
        f"shards; `ezlang_shard_events_received_total` counted {int(r['counted'])}.",
    ]
    text = "\n".join(lines)
    print(text)
    if write:
        write_generated(
            HERE / "RESULTS-monitoring.md",
            text,
            script="bench/monitoring_bench.py",
            title="# Monitoring benchmarks",
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="only print the figures")
    parser.add_argument("--rounds", type=int, default=2000, help="broadcast_evals per side")
    parser.add_argument("--rate", type=float, default=2000, help="messages per second")
    parser.add_argument("--seconds", type=float, default=5, help="seconds of messages")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(not args.no_write, args.rounds, args.rate, args.seconds)))
