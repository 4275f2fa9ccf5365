"""Messages per second through an EasyLang ``on_message`` handler (one bot process).

    python bench/discord_bench.py [--messages 30000] [--rounds 3] [--out bench/RESULTS-discord.md]

Setup: the sandbox runs in its own process (``ezlang sandbox``, one guild, so one shard) and
streams MESSAGE_CREATE with its load generator (``POST /_sandbox/load``) faster than any bot
can take them; the bot runs in this process on the real discord.py client through the
EasyLang bot runtime. The handler compares the content with three commands, as a beginner's
command bot does, and counts the message (the one Python builtin, ``bench_tick``, added for
the benchmark). Throughput = messages / (time from the load request until the handler has
seen the last one), so it includes gateway decompression, JSON, discord.py's parsing, our
conversion to an EasyLang object, one task per handler and the EasyLang code.

For the ratio, the same run repeats the measurement with a plain discord.py ``on_message``
coroutine doing the same comparisons (no EasyLang layer).

``--ready`` measures something else: how long a bot takes from connecting to ``on_ready``
while the sandbox streams its GUILD_CREATEs with a pause between them
(``--guild-create-delay``), under discord.py's own rule (``on_ready`` once no guild came for
``guild_ready_timeout``) and under the runtime's (once every guild READY listed arrived).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent

EASYLANG_HANDLER = """
on_message(func(message) {
    if message.content == "!ping" {
        reply(message, "Pong!")
    } else if message.content == "!hello" {
        reply(message, "Hello, " + message.author.username + "!")
    } else if message.content == "!help" {
        reply(message, "Commands: !ping, !hello, !help")
    }
    bench_tick()
})
bot_start()
"""


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.done = asyncio.Event()

    def tick(self) -> None:
        self.count += 1
        if self.count >= self.target:
            self.done.set()

    def arm(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.done = asyncio.Event()


def start_sandbox(*flags: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ezlang", "sandbox", "--guilds", "1", "--identify-window", "0.5"]
        + list(flags),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("SANDBOX_READY "):
        proc.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc, json.loads(line.split(" ", 1)[1])


async def load(http: aiohttp.ClientSession, control: str, n: int) -> int:
    # Ask for far more per second than a bot can take: the socket applies back-pressure and
    # the bot runs flat out.
    body = {"rate": 200_000, "seconds": n / 200_000, "content": "just chatting"}
    async with http.post(f"{control}/load", json=body) as resp:
        data = await resp.json(content_type=None)
    return int(data["sent"])


async def measure(http: aiohttp.ClientSession, control: str, counter: Counter, n: int) -> float:
    counter.arm(n)
    t0 = time.perf_counter()
    sent = await load(http, control, n)
    if sent != n:
        counter.arm(sent)
    await asyncio.wait_for(counter.done.wait(), timeout=120)
    return sent / (time.perf_counter() - t0)


async def bench_easylang(
    info: dict[str, Any], n: int, rounds: int, *, python_handler: bool = False
) -> list[float]:
    """The EasyLang program above; or (``python_handler``) the same handler as a Python function
    through the same bot runtime, which isolates the cost of the EasyLang code itself."""
    import ezlang.discord.builtins  # noqa: F401
    from ezlang.discord.runtime import runtime
    from ezlang.lang import context
    from ezlang.lang.asyncbridge import call_async
    from ezlang.lang.context import RunContext
    from ezlang.lang.registry import BUILTINS, register

    counter = Counter()
    register("bench_tick", lambda: counter.tick())
    ctx = RunContext(options={"api": info["api"], "token": info["token"]})
    context.set_current(ctx)
    if python_handler:
        reply, tick = BUILTINS["reply"], BUILTINS["bench_tick"]

        def handler(message: dict[str, Any]) -> None:
            content = message["content"]
            if content == "!ping":
                reply(message, "Pong!")
            elif content == "!hello":
                reply(message, "Hello, " + message["author"]["username"] + "!")
            elif content == "!help":
                reply(message, "Commands: !ping, !hello, !help")
            tick()

        await call_async(BUILTINS["on_message"], handler)
        await call_async(BUILTINS["bot_start"])
    else:
        from ezlang.lang import compile_source

        program = compile_source(EASYLANG_HANDLER, "bench.ez")
        await call_async(program.run)
    rt = runtime()
    while rt.client is None or not rt.client.is_ready():
        await asyncio.sleep(0.02)
    results = []
    async with aiohttp.ClientSession() as http:
        await measure(http, info["control"], counter, min(n, 5000))  # warm-up
        for _ in range(rounds):
            results.append(await measure(http, info["control"], counter, n))
    await rt.stop()
    return results


async def bench_discord_py(info: dict[str, Any], n: int, rounds: int) -> list[float]:
    import discord

    from ezlang.discord import connect

    connect.point_discord_py_at(info["api"], info["gateway"])
    counter = Counter()
    intents = discord.Intents.none()
    intents.guilds = intents.guild_messages = intents.message_content = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.1)

    @client.event
    async def on_message(message: discord.Message) -> None:
        content = message.content
        if content == "!ping":
            await message.reply("Pong!")
        elif content == "!hello":
            await message.reply(f"Hello, {message.author.name}!")
        elif content == "!help":
            await message.reply("Commands: !ping, !hello, !help")
        counter.tick()

    await client.login(info["token"])
    task = asyncio.create_task(client.connect())
    await client.wait_until_ready()
    results = []
    async with aiohttp.ClientSession() as http:
        await measure(http, info["control"], counter, min(n, 5000))
        for _ in range(rounds):
            results.append(await measure(http, info["control"], counter, n))
    await client.close()
    await task
    return results


# (guilds, milliseconds between GUILD_CREATEs): instant, a Discord-like stream, and a stream
# with pauses longer than a short timeout (large guilds on a busy Discord).
READY_CASES = ((100, 0.0), (100, 10.0), (10, 400.0))


async def time_to_ready(info: dict[str, Any], rule: str) -> tuple[float, int]:
    """Seconds from connect to on_ready, and the guilds still missing at on_ready."""
    import discord

    from ezlang.discord import connect
    from ezlang.discord.state import make_state

    class RuleClient(discord.Client):
        def _get_state(self, **options: Any) -> Any:
            return make_state(self, **options)

    connect.point_discord_py_at(info["api"], info["gateway"])
    intents = discord.Intents.none()
    intents.guilds = True
    if rule == "all guilds arrived":
        client: discord.Client = RuleClient(intents=intents)
    else:
        client = discord.Client(intents=intents, guild_ready_timeout=float(rule.split()[1]))
    seen: dict[str, Any] = {}

    @client.event
    async def on_ready() -> None:
        seen["at"] = time.perf_counter()
        seen["missing"] = sum(1 for g in client.guilds if g.unavailable)

    await client.login(info["token"])
    t0 = time.perf_counter()
    task = asyncio.create_task(client.connect())
    await asyncio.wait_for(client.wait_until_ready(), 60)
    await client.close()
    await task
    return seen["at"] - t0, seen["missing"]


def bench_ready(rounds: int) -> list[str]:
    rules = ("timeout 2.0", "timeout 0.25", "all guilds arrived")
    lines = [
        f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — time to on_ready — "
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        "",
        f"Sandbox in its own process (`ezlang sandbox --guilds N --guild-create-delay MS --identify-window 0`), a "
        f"discord.py client in this one; median of {rounds} connections (guilds intent only, no "
        "chunking). *missing* = guilds still unavailable at on_ready (worst round).",
        "",
        "| guilds | GUILD_CREATE pacing | on_ready rule | to on_ready (s) | missing |",
        "|---:|---:|---|---:|---:|",
    ]
    names = {
        "timeout 2.0": "discord.py: 2 s after the last guild (the runtime before, on Discord)",
        "timeout 0.25": "discord.py: 0.25 s after the last guild (the runtime before, on a sandbox)",
        "all guilds arrived": "every guild of READY arrived, 2 s fallback (the runtime now)",
    }
    for guilds, pacing in READY_CASES:
        # Flags parse last-wins, so these replace start_sandbox's; no identify window, as
        # each round IDENTIFYs again right after the last one (else op 9 and a 5 s retry).
        proc, info = start_sandbox(
            "--guilds", str(guilds), "--guild-create-delay", str(pacing), "--identify-window", "0"
        )
        try:
            for rule in rules:
                runs = [asyncio.run(time_to_ready(info, rule)) for _ in range(rounds)]
                median = statistics.median(t for t, _ in runs)
                missing = max(m for _, m in runs)
                lines.append(
                    f"| {guilds} | {pacing:g} ms | {names[rule]} | {median:.2f} | {missing} |"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="append a results section here")
    parser.add_argument(
        "--ready", action="store_true", help="measure the time to on_ready instead (see above)"
    )
    args = parser.parse_args()
    if args.ready:
        text = "\n".join(bench_ready(args.rounds))
        print(text)
        if args.out:
            with args.out.open("a") as f:
                f.write(text + "\n")
        return 0

    # Rounds are interleaved (EasyLang, Python handler, discord.py, EasyLang, …), each with a
    # fresh connection, so that load from other processes hits all three alike.
    ez: list[float] = []
    rt: list[float] = []
    py: list[float] = []
    proc, info = start_sandbox()
    try:
        for _ in range(args.rounds):
            try:
                ez += asyncio.run(bench_easylang(info, args.messages, 1))
            except ImportError as exc:  # the compiler is not available in this checkout
                print(f"EasyLang handler skipped: {exc}", file=sys.stderr)
            rt += asyncio.run(bench_easylang(info, args.messages, 1, python_handler=True))
            py += asyncio.run(bench_discord_py(info, args.messages, 1))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    py_best = max(py)
    ez_best = max(ez) if ez else 0.0
    lines = [
        f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs",
        "",
        f"{args.messages} MESSAGE_CREATE per round, {args.rounds} interleaved rounds, sandbox in "
        "its own process, bot in this one.",
        "",
        "| handler | best msg/s | median msg/s |",
        "|---|---:|---:|",
        f"| EasyLang `on_message` (3 command comparisons) | {ez_best:,.0f} | "
        f"{statistics.median(ez) if ez else 0:,.0f} |",
        f"| bot runtime, same handler as a Python function | {max(rt):,.0f} | "
        f"{statistics.median(rt):,.0f} |",
        f"| plain discord.py `on_message` (same comparisons) | {py_best:,.0f} | "
        f"{statistics.median(py):,.0f} |",
        "",
        f"EasyLang / discord.py: {ez_best / py_best:.2f} (target: at least 3,000 msg/s through "
        f"EasyLang: {'met' if ez_best >= 3000 else 'NOT met'})",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with args.out.open("a") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
