"""discord.js's ShardingManager next to ezlang's shard manager on the same sandbox.

Rerun: ``python bench/discordjs_bench.py`` (``--config 4x1000`` for one configuration,
``--no-write`` to only print). Needs ``node`` and ``npm`` on PATH (skips with exit 0 without
them); installs the pinned discord.js of ``bench/discordjs/package.json`` into
``bench/discordjs/node_modules`` (not committed).

For each configuration (shards × guilds per shard, max_concurrency, identify window) every row
gets a fresh sandbox with the same world and limits and measures, in one run:

* time from the manager's spawn call to all shards READY, and the IDENTIFYs the sandbox refused
  for coming too early (``identify_violations``);
* memory per shard process: RSS and USS summed over the shard processes, divided by N (psutil);
* ``broadcastEval(c => c.guilds.cache.size)`` / ``broadcast_eval("return client.guilds.cache.size")``
  round trips over all shards after warm-up, p50 and p99 (computed by the same Python code).

Three managers per configuration: ezlang with its ``.ez`` bot, ezlang running the very same
discord.js ``bot.js`` as discord.js's manager (its ``.js`` shards: Node processes, the JavaScript
``broadcast_eval("c => c.guilds.cache.size")``), and discord.js's ShardingManager; the ratios
compare discord.js's manager with ezlang's on the same ``bot.js``.

discord.js shards are plain ``Client``s with the Guilds intent whose REST points at the sandbox
(``rest: {api}``); their gateway URL comes from the sandbox's ``GET /gateway/bot``. discord.js's
ShardingManager waits for each shard to be ready and then ``delay`` ms (5,500 by default) before
the next one; the rows with a tuned delay use ``window / max_concurrency``, the shortest that
keeps consecutive IDENTIFYs apart by the bucket rule.

Writes ``bench/RESULTS-discordjs.md`` between its GENERATED markers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from results import write_generated
from sharding_bench import EZBOT, p99, quiet

from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager

HERE = Path(__file__).parent
JSDIR = HERE / "discordjs"
DEFAULT_DELAY_MS = 5500  # ShardingManager.spawn's default delay in discord.js 14
DEFAULT_CONFIGS = ("4x1000", "8x20", "16x20/4")


@dataclass(frozen=True)
class Config:
    """Shard count, guilds each shard holds, and the sandbox's identify limits."""

    shards: int
    guilds_per_shard: int
    max_concurrency: int
    window: float

    @classmethod
    def parse(cls, text: str, window: float = 1.0) -> Config:
        """``NxG`` or ``NxG/MC`` (N shards, G guilds each, MC max_concurrency); also the
        argparse ``type`` of ``--config`` (the window is filled in afterwards)."""
        size, _, mc = text.partition("/")
        n, _, g = size.partition("x")
        try:
            config = cls(int(n), int(g), int(mc or 1), window)
        except ValueError:
            config = None
        if (
            config is None
            or min(config.shards, config.guilds_per_shard, config.max_concurrency) < 1
        ):
            raise argparse.ArgumentTypeError(f"expected NxG or NxG/MC, got {text!r}")
        return config

    def label(self) -> str:
        return (
            f"{self.shards} shards × {self.guilds_per_shard:,} guilds, max_concurrency "
            f"{self.max_concurrency}, window {self.window:g} s"
        )


@dataclass
class Row:
    """One manager's figures for one configuration."""

    manager: str
    delay: str
    ready_s: float
    violations: int
    rss_mb: float
    uss_mb: float
    eval_ms: list[float]


def missing_tools() -> list[str]:
    return [tool for tool in ("node", "npm") if shutil.which(tool) is None]


def npm_install() -> None:
    """Install the pinned discord.js (a no-op when node_modules is already up to date)."""
    print("npm install in bench/discordjs ...", file=sys.stderr, flush=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund"],
        cwd=JSDIR,
        check=True,
        stdout=sys.stderr,  # npm's progress is not the benchmark's output
    )


def memory_per_shard(shards: list[psutil.Process]) -> tuple[float, float]:
    """Mean RSS and USS in MB over the shard processes."""
    infos = [shard.memory_full_info() for shard in shards]
    mb = 1024 * 1024
    return (
        sum(i.rss for i in infos) / len(infos) / mb,
        sum(i.uss for i in infos) / len(infos) / mb,
    )


def new_sandbox(config: Config) -> Sandbox:
    return Sandbox(
        guilds=config.shards * config.guilds_per_shard,
        max_concurrency=config.max_concurrency,
        identify_window=config.window,
    )


#: The ezlang rows: the manager's label, the bot file, and the broadcast_eval code (EasyLang for
#: the .ez bot; for the discord.js bot the same JavaScript function the discord.js row uses).
EZ_ROW = ("ezlang (`.ez` bot)", EZBOT, "return client.guilds.cache.size")
JS_ROW = ("ezlang (same `bot.js`)", JSDIR / "bot.js", "c => c.guilds.cache.size")


async def run_ezlang(config: Config, rounds: int, row: tuple[str, Path, str] = EZ_ROW) -> Row:
    label, bot, code = row
    async with new_sandbox(config) as sb:
        manager = ShardManager(
            bot,
            {
                "token": sb.token,
                "api": sb.api_url,
                "total_shards": config.shards,
                "max_concurrency": config.max_concurrency,
            },
            reporter=quiet(),
        )
        try:
            started = time.monotonic()
            await manager.spawn()
            ready_s = time.monotonic() - started
            for _ in range(50):
                await manager.broadcast_eval(code)
            evals = []
            counts: list[object] = []
            for _ in range(rounds):
                t = time.perf_counter()
                counts = await manager.broadcast_eval(code)
                evals.append((time.perf_counter() - t) * 1000)
            check_guilds(label, counts, config)
            rss, uss = memory_per_shard([psutil.Process(s["pid"]) for s in await manager.stats()])
            violations = sb.state()["identify_violations"]
        finally:
            await manager.stop()
    return Row(label, "—", ready_s, violations, rss, uss, evals)


async def run_discordjs(config: Config, delay_ms: int, rounds: int) -> Row:
    async with new_sandbox(config) as sb:
        env = {
            **os.environ,
            "BENCH_API": sb.api_url.removesuffix("/v10"),  # discord.js appends /v10 itself
            "DISCORD_TOKEN": sb.token,
        }
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(JSDIR / "manager.js"),
            str(config.shards),
            str(delay_ms),
            str(rounds),
            cwd=JSDIR,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdin and proc.stdout
        shards: list[psutil.Process] = []
        try:
            # Bound: every shard's delay and READY, plus the rounds, with a generous margin.
            deadline = config.shards * (delay_ms / 1000 + 10) + rounds * 0.05 + 60
            line = await asyncio.wait_for(proc.stdout.readline(), deadline)
            if not line:
                code = await proc.wait()
                sys.exit(f"discord.js manager exited with {code} before reporting (see stderr)")
            data = json.loads(line)
            shards = [psutil.Process(pid) for pid in data["pids"]]
            check_guilds("discord.js", data["guilds"], config)
            rss, uss = memory_per_shard(shards)
            violations = sb.state()["identify_violations"]
            proc.stdin.write(b"done\n")
            await proc.stdin.drain()
            await asyncio.wait_for(proc.wait(), 30)
        finally:
            stop_leftovers(proc, shards)
    delay = f"{delay_ms / 1000:g} s" + (" (default)" if delay_ms == DEFAULT_DELAY_MS else "")
    return Row(
        "discord.js ShardingManager", delay, data["ready_s"], violations, rss, uss, data["eval_ms"]
    )


def stop_leftovers(proc: asyncio.subprocess.Process, shards: list[psutil.Process]) -> None:
    """Kill the node manager and its shard processes if any is still running."""
    if proc.returncode is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            shards = shards + psutil.Process(proc.pid).children(recursive=True)
        print("killing the discord.js manager", file=sys.stderr)
        proc.kill()
    for shard in shards:
        # is_running() compares the start time too, so a recycled pid is left alone.
        if shard.is_running():
            print(f"killing leftover discord.js shard {shard.pid}", file=sys.stderr)
            with contextlib.suppress(psutil.NoSuchProcess):  # it exited meanwhile
                shard.kill()


def check_guilds(who: str, counts: list[object], config: Config) -> None:
    """The figures only count if every shard holds its guilds."""
    if counts != [config.guilds_per_shard] * config.shards:
        sys.exit(f"{who}: shards report {counts} guilds, expected {config.guilds_per_shard} each")


def render(config: Config, rows: list[Row]) -> list[str]:
    lines = [
        f"### {config.label()}",
        "",
        "| manager | spawn delay | all READY after | identify violations | RSS per shard | "
        "USS per shard | broadcast eval p50 | p99 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.manager} | {r.delay} | {r.ready_s:.2f} s | {r.violations} | "
            f"{r.rss_mb:.1f} MB | {r.uss_mb:.1f} MB | {statistics.median(r.eval_ms):.3f} ms | "
            f"{p99(r.eval_ms):.3f} ms |"
        )
    # The fair comparison: the same bot.js under both managers.
    ez = next(r for r in rows if r.manager == JS_ROW[0])
    js = [r for r in rows if r.manager.startswith("discord.js")]
    lines += ["", "discord.js's manager / ezlang's, same `bot.js`, same run:", ""]
    for r in js:
        lines.append(
            f"- delay {r.delay}: all READY {r.ready_s / ez.ready_s:.2f}×, RSS "
            f"{r.rss_mb / ez.rss_mb:.2f}×, USS {r.uss_mb / ez.uss_mb:.2f}×, broadcast eval p50 "
            f"{statistics.median(r.eval_ms) / statistics.median(ez.eval_ms):.2f}×, p99 "
            f"{p99(r.eval_ms) / p99(ez.eval_ms):.2f}×"
        )
    return lines + [""]


def discordjs_version() -> str:
    package = json.loads((JSDIR / "node_modules" / "discord.js" / "package.json").read_text())
    return str(package["version"])


async def main(configs: list[Config], rounds: int, default_delay: bool, write: bool) -> int:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    lines = [
        f"`python bench/discordjs_bench.py` on {platform.machine()} with {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: CPython "
        f"{platform.python_version()}, node {node}, discord.js {discordjs_version()}. "
        f"{rounds:,} broadcast rounds per row after 50 warm-up rounds. Load average at the "
        f"start: {load[0]:.1f}.",
        "",
    ]
    for config in configs:
        print(f"== {config.label()}", file=sys.stderr, flush=True)
        rows = [await run_ezlang(config, rounds), await run_ezlang(config, rounds, JS_ROW)]
        tuned = round(config.window * 1000 / config.max_concurrency)
        rows.append(await run_discordjs(config, tuned, rounds))
        if default_delay and tuned != DEFAULT_DELAY_MS:
            rows.append(await run_discordjs(config, DEFAULT_DELAY_MS, rounds))
        part = render(config, rows)
        print("\n".join(part), flush=True)
        lines += part
    load = os.getloadavg()
    lines.append(
        f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"on {os.cpu_count()} CPUs."
    )
    if write:
        write_generated(
            HERE / "RESULTS-discordjs.md",
            "\n".join(lines),
            script="bench/discordjs_bench.py",
            title="# discord.js's ShardingManager next to ezlang's",
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        action="append",
        type=Config.parse,
        metavar="NxG[/MC]",
        help=f"shards x guilds per shard [/ max_concurrency]; repeatable (default: "
        f"{' '.join(DEFAULT_CONFIGS)})",
    )
    parser.add_argument("--window", type=float, default=1.0, help="identify window in seconds")
    parser.add_argument("--rounds", type=int, default=1000, help="broadcast rounds per row")
    parser.add_argument(
        "--no-default-delay",
        action="store_true",
        help="skip the discord.js rows with its default 5.5 s spawn delay",
    )
    parser.add_argument("--no-write", action="store_true", help="only print the figures")
    args = parser.parse_args()
    configs = [
        dataclasses.replace(c, window=args.window)
        for c in args.config or [Config.parse(c) for c in DEFAULT_CONFIGS]
    ]
    if missing := missing_tools():
        print(
            f"discordjs_bench skipped: {' and '.join(missing)} not on PATH (discord.js needs "
            "Node.js 18 or newer)",
            file=sys.stderr,
        )
        sys.exit(0)
    npm_install()
    sys.exit(asyncio.run(main(configs, args.rounds, not args.no_default_delay, not args.no_write)))
