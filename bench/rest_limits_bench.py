"""Shared REST limits under pressure (rerun: ``python bench/rest_limits_bench.py``).

16 shards of one EasyLang bot each make ``--calls`` REST requests back to back, all at once,
against a sandbox that enforces Discord's global limit (50 requests per second per token) in
fixed one-second windows. The manager grants every request (``ezlang.sharding.rest_limits``).
Measured at the sandbox: global 429s, the most requests in any one second, and the sustained
rate: the time the limit itself forces (the first 50 at once, request n after ceil(n / 50) - 1
seconds) as a share of the time the burst really took (first to last request at the sandbox).

Writes the figures to ``bench/RESULTS-rest-limits.md`` between its GENERATED markers
(``--no-write`` to only print them).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from results import write_generated
from sharding_bench import quiet

from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager

HERE = Path(__file__).parent
BOT = HERE / "sharding_bot.ez"


def burst(channel: str, calls: int) -> str:
    return (
        f'let n = 0\nfor i in range({calls}) {{\n    get_channel("{channel}")\n    n += 1\n}}\n'
        "return n"
    )


async def run(shards: int, calls: int, rate: int) -> dict[str, Any]:
    async with Sandbox(guilds=shards * 4, identify_window=0.2, rest_global_limit=rate) as sb:
        allowed: list[float] = []
        check = sb.rest_limiter.check

        def recording(*args: Any) -> Any:
            decision = check(*args)
            if decision.allowed:
                allowed.append(time.monotonic())
            return decision

        sb.rest_limiter.check = recording  # type: ignore[method-assign]
        opts = {
            "token": sb.token,
            "api": sb.api_url,
            "total_shards": shards,
            "rest_global_rate": rate,
            "eval_timeout": 600,
            "spawn_timeout": 120,
        }
        manager = ShardManager(BOT, opts, reporter=quiet())
        try:
            await manager.spawn()
            codes = [
                burst(sb.guilds_for_shard(i, shards)[0]["text_channel_ids"][0], calls)
                for i in range(shards)
            ]
            await asyncio.sleep(1.5)  # let the startup requests leave the window
            allowed.clear()
            before = sb.state()["global_rate_limited"]
            t0 = time.monotonic()
            results = await asyncio.gather(
                *(manager.broadcast_eval(c, shard=i) for i, c in enumerate(codes))
            )
            elapsed = time.monotonic() - t0
            assert results == [calls] * shards, results
            stats = await manager.stats()
        finally:
            await manager.stop()
        global_429s = sb.state()["global_rate_limited"] - before
    allowed.sort()
    busiest = max(bisect.bisect_left(allowed, t + 1.0) - i for i, t in enumerate(allowed))
    # The fastest a limit of `rate` per second allows: the first `rate` at once, the last
    # ones ceil(n / rate) - 1 seconds later. Share = that time / the time it really took.
    span = allowed[-1] - allowed[0]
    best = math.ceil(len(allowed) / rate) - 1
    sustained = len(allowed) / (span + 1.0)
    return {
        "shards": shards,
        "requests": len(allowed),
        "elapsed": elapsed,
        "global_429s": global_429s,
        "busiest_second": busiest,
        "sustained": sustained,
        "share": best / span if span > 0 else 0.0,
        "shard_429s": sum(s.get("rest_429s", 0) for s in stats),
        "wait_s": sum(s.get("rest_wait_s", 0) for s in stats),
        "late": sum(s.get("rest_late_grants", 0) for s in stats),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--calls", type=int, default=40, help="REST requests per shard")
    ap.add_argument("--rate", type=int, default=50, help="the global limit (requests/s)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    r = asyncio.run(run(args.shards, args.calls, args.rate))
    load = os.getloadavg()
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; load average (1 min) after the run: {load[0]:.2f}",
        "",
        "| shards | requests | global limit | global 429s | most in one second | "
        "requests/s | share of the limit used | wall time | late grants |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {r['shards']} | {r['requests']} | {args.rate}/s | {r['global_429s']} | "
        f"{r['busiest_second']} | {r['sustained']:.1f}/s | {r['share']:.1%} | "
        f"{r['elapsed']:.1f} s | {r['late']} |",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_generated(
            HERE / "RESULTS-rest-limits.md",
            text,
            script="bench/rest_limits_bench.py",
            title="# REST limits shared by all shards",
        )
    return 0 if r["global_429s"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
