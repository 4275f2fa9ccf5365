"""Interactions through one shard process (rerun: ``python bench/interactions_bench.py``).

* throughput: slash commands per second one shard process answers (type 4, "pong"), closed
  loop with a fixed number in flight;
* latency: injection → callback p50/p99 at 100, 500 and 1,000 interactions/s offered load,
  open loop (injected on a fixed schedule whether or not the bot keeps up).

Setup: the sandbox runs in this process and injects with its Python helper
(``sb.interactions.dispatch``, what ``POST {control}/interactions`` does without the HTTP
hop); the bot is a real shard process started by the real shard manager (total_shards 1),
answering on the real discord.py client. Latency is the sandbox's own figure: from the moment
it handed INTERACTION_CREATE to the shard's connection to the moment the bot's
``POST /interactions/{id}/{token}/callback`` arrived (``latency_ms`` of the control API).

Two bots, interleaved round by round so load from other processes hits both alike:
the EasyLang bot (``slash_command`` + ``interaction_reply``) and a plain discord.py bot
(``app_commands.CommandTree`` + ``interaction.response.send_message``).

Writes the figures to ``bench/RESULTS-interactions.md`` between its GENERATED markers
(``--no-write`` to only print them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from results import write_generated

from ezlang.sandbox import Sandbox
from ezlang.sandbox.interactions import Interaction
from ezlang.sharding.manager import ShardManager
from ezlang.sharding.progress import Reporter

HERE = Path(__file__).parent
RESULTS = HERE / "RESULTS-interactions.md"
RATES = (100, 500, 1000)

EZ_BOT = """\
slash_command("ping", "Replies pong", func(i) { interaction_reply(i, "pong") })
bot_start()
"""

PY_BOT = """\
import discord
from discord import app_commands

from ezlang.sharding.pybot import attach, shard_options


class Bot(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), **shard_options())
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        await self.tree.sync()


client = attach(Bot())


@client.tree.command(name="ping", description="Replies pong")
async def ping(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("pong")


client.run("token")  # inside a shard the manager's token is used
"""

BOTS = {
    "EasyLang `slash_command`": ("bot.ez", EZ_BOT),
    "plain discord.py `CommandTree`": ("bot.py", PY_BOT),
}


def quiet() -> Reporter:
    reporter = Reporter(progress=False)
    reporter._emit = lambda text, out: None  # type: ignore[method-assign]
    return reporter


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@contextlib.contextmanager
def no_gc_pauses() -> Iterator[None]:
    """Keep this process's cyclic GC out of a measured phase.

    This process is the sandbox and the injector, not the bot being measured. Its heap grows
    with every interaction the sandbox remembers, and a full collection of it took 65–150 ms
    here — long enough to show up as bot latency. So it collects between phases instead; the
    bot's process keeps its GC as it is.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Injector:
    """Dispatches ``/ping`` in the sandbox's one text channel and waits for the answers."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        channel = sb.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]
        self.body = {"channel_id": channel, "kind": "command", "name": "ping"}

    def one(self) -> Interaction:
        return self.sb.interactions.dispatch(dict(self.body))

    async def settle(self, inters: list[Interaction], timeout: float = 10.0) -> None:
        """Wait until every interaction was answered or failed (its 3 s window closed)."""
        deadline = time.monotonic() + timeout
        for inter in inters:
            while inter.state == "pending" and time.monotonic() < deadline:
                inter.changed.clear()
                try:
                    await asyncio.wait_for(inter.changed.wait(), deadline - time.monotonic())
                except TimeoutError:
                    break

    async def closed_loop(self, total: int, in_flight: int) -> tuple[float, int]:
        """Interactions answered per second with ``in_flight`` outstanding; and the failures."""
        left = total
        failed = 0

        async def worker() -> None:
            nonlocal left, failed
            while left > 0:
                left -= 1
                inter = self.one()
                await self.settle([inter])
                failed += inter.state != "responded"

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return total / (time.perf_counter() - started), failed

    async def open_loop(self, rate: float, seconds: float) -> dict[str, Any]:
        """Inject at ``rate``/s on a fixed schedule for ``seconds``; latency figures."""
        loop = asyncio.get_running_loop()
        total = int(rate * seconds)
        inters: list[Interaction] = []
        lag = 0.0  # how late the injector itself ran (a busy loop delays the schedule)
        start = loop.time()
        while len(inters) < total:
            now = loop.time()
            due = min(total, int((now - start) * rate) + 1)
            while len(inters) < due:
                lag = max(lag, now - (start + len(inters) / rate))
                inters.append(self.one())
            await asyncio.sleep(max(0.0, start + len(inters) / rate - loop.time()))
        sent_in = loop.time() - start
        await self.settle(inters)
        latencies = [
            (i.responded_at - i.dispatched_at) * 1000
            for i in inters
            if i.state == "responded" and i.responded_at is not None
        ]
        return {
            "offered": total / sent_in if sent_in > 0 else float(total),
            "answered": len(latencies),
            "failed": sum(1 for i in inters if i.state != "responded"),
            "p50": percentile(latencies, 0.50) if latencies else float("nan"),
            "p99": percentile(latencies, 0.99) if latencies else float("nan"),
            "max": max(latencies) if latencies else float("nan"),
            "lag_ms": lag * 1000,
        }


async def run_bot(
    sb: Sandbox, bot: Path, args: argparse.Namespace
) -> tuple[float, int, dict[int, dict[str, Any]]]:
    manager = ShardManager(
        bot,
        {"token": sb.token, "api": sb.api_url, "total_shards": 1},
        reporter=quiet(),
    )
    try:
        await manager.spawn()
        deadline = time.monotonic() + 20
        while sb.app_commands.lookup(None, "ping", 1) is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"{bot.name}: /ping was never registered")
            await asyncio.sleep(0.05)
        inj = Injector(sb)
        await inj.closed_loop(min(500, args.interactions), args.in_flight)  # warm-up
        with no_gc_pauses():
            rate, failed = await inj.closed_loop(args.interactions, args.in_flight)
        latency = {}
        for r in RATES:
            with no_gc_pauses():
                latency[r] = await inj.open_loop(r, args.seconds)
        return rate, failed, latency
    finally:
        await manager.stop()


async def bench(args: argparse.Namespace) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {name: [] for name in BOTS}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, (filename, source) in BOTS.items():
            files[name] = Path(tmp) / filename
            files[name].write_text(source)
        async with Sandbox(guilds=1, identify_window=0.1) as sb:
            for round_no in range(args.rounds):
                for name, path in files.items():
                    print(f"round {round_no + 1}: {name}", file=sys.stderr, flush=True)
                    out[name].append(await run_bot(sb, path, args))
    return out


def report(results: dict[str, list[Any]], args: argparse.Namespace, load: tuple[float, ...]) -> str:
    after = os.getloadavg()
    lines = [
        f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — "
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} at the start, {after[0]:.1f} at the end",
        "",
        f"Sandbox in this process, each bot one shard process under the shard manager; "
        f"{args.rounds} interleaved rounds per bot. Throughput: {args.interactions:,} `/ping` "
        f"with {args.in_flight} in flight (closed loop). Latency: {args.seconds:g} s at each "
        "offered rate (open loop); injection → callback as the sandbox records it.",
        "",
        "| bot | best /s | median /s | failed |",
        "|---|---:|---:|---:|",
    ]
    for name, rounds in results.items():
        rates = [r[0] for r in rounds]
        lines.append(
            f"| {name} | {max(rates):,.0f} | {statistics.median(rates):,.0f} | "
            f"{sum(r[1] for r in rounds)} |"
        )
    lines += [
        "",
        "| bot | offered /s (achieved) | p50 ms | p99 ms | max ms | failed | injector lag ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for rate in RATES:
        for name, rounds in results.items():
            for r in rounds:
                f = r[2][rate]
                lines.append(
                    f"| {name} | {rate:,} ({f['offered']:,.0f}) | {f['p50']:.2f} | "
                    f"{f['p99']:.2f} | {f['max']:.1f} | {f['failed']} | {f['lag_ms']:.1f} |"
                )
    ez, py = (results[name] for name in BOTS)
    ez_rates, py_rates = [r[0] for r in ez], [r[0] for r in py]
    ez_median = statistics.median(ez_rates)
    ez_p99 = max(r[2][500]["p99"] for r in ez)  # the worst round: the target is a ceiling
    lines += [
        "",
        f"EasyLang / discord.py throughput: {max(ez_rates) / max(py_rates):.2f} (best), "
        f"{ez_median / statistics.median(py_rates):.2f} (median). Targets: at least 1,000 "
        f"interactions/s per shard process — {'met' if ez_median >= 1000 else 'NOT met'} "
        f"(median {ez_median:,.0f}/s); p99 ≤ 50 ms at 500/s — "
        f"{'met' if ez_p99 <= 50 else 'NOT met'} (worst round {ez_p99:.1f} ms).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interactions", type=int, default=5000, help="per throughput round")
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="per offered rate")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    results = asyncio.run(bench(args))
    text = report(results, args, load)
    print(text)
    if not args.no_write:
        write_generated(
            RESULTS,
            text,
            script="bench/interactions_bench.py",
            title="# Interactions benchmark (`bench/interactions_bench.py`)",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
