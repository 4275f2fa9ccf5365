"""Zero-downtime benchmarks against the sandbox (rerun: ``python bench/resume_bench.py``).

A numbered stream of user messages (``--rate``, 200/s by default) spread over every guild of
the bot goes into the sandbox while

* (a) one shard of 8 is killed with ``kill -9`` (its replacement RESUMEs),
* (b) all 8 shards are replaced by a rolling restart (``restart_shards``, batch 1),
* (c) the manager is stopped keeping its sessions (what SIGTERM does) and a new one started,

and the bot (``bench/resume_bot.ez``) prints one line per message it handled. For each
scenario: messages sent, handled once, lost, handled twice, IDENTIFYs during the scenario, and
the delivery delay (handled − sent) of the messages: its median, and its maximum during the
scenario — the gap the scenario caused. Then the total time of a rolling restart of 8 and of
32 shards, and the hand-over gap each shard reported (hand-over to ready).

Writes the figures to ``bench/RESULTS-resume.md`` between its GENERATED markers
(``--no-write`` to only print them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from results import write_generated

from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager
from ezlang.sharding.progress import Reporter

HERE = Path(__file__).parent
BOT = HERE / "resume_bot.ez"
LINE = re.compile(r"^\[shard (\d+)\] h m:(\d+)$")


class Recorder(Reporter):
    """Keeps when each message was handled (from the shards' output lines), prints nothing."""

    def __init__(self) -> None:
        super().__init__(progress=False)
        self.handled: list[tuple[float, int, int]] = []  # (time, shard, number)

    def _emit(self, text: str, out: Any) -> None:
        m = LINE.match(text)
        if m:
            self.handled.append((time.monotonic(), int(m.group(1)), int(m.group(2))))

    def problem(self, message: str, **_: Any) -> None:
        print(f"[manager] {message}", file=sys.stderr, flush=True)

    def notice(self, message: str, **_: Any) -> None:
        pass


class Stream:
    """Numbered messages at ``rate`` per second, round-robin over ``channels``."""

    def __init__(self, sb: Sandbox, channels: list[str], rate: float) -> None:
        self.sb, self.channels, self.rate = sb, channels, rate
        self.sent: list[float] = []  # send time by number
        self._stop = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self.rate) + 1
            while len(self.sent) < due:
                n = len(self.sent)
                self.sent.append(time.monotonic())
                await self.sb.inject_message(self.channels[n % len(self.channels)], f"m:{n}")
            await asyncio.sleep(0.002)

    async def stop(self) -> None:
        self._stop.set()
        await self.task


def manager_for(sb: Sandbox, shards: int, recorder: Recorder) -> ShardManager:
    options = {
        "token": sb.token,
        "api": sb.api_url,
        "total_shards": shards,
        "heartbeat_interval": 1,
        "heartbeat_timeout": 10,
    }
    return ShardManager(BOT, options, reporter=recorder)


def channels_of(sb: Sandbox, shards: int) -> list[str]:
    """One text channel of every guild, interleaved by shard: consecutive messages go to
    different shards, so each shard gets an even share of the stream."""
    per_shard = [
        [g["text_channel_ids"][0] for g in sb.guilds_for_shard(shard, shards)]
        for shard in range(shards)
    ]
    out = []
    for k in range(max(len(p) for p in per_shard)):
        out += [p[k] for p in per_shard if k < len(p)]
    return out


async def settle(stream: Stream, recorders: list[Recorder], timeout: float = 30.0) -> None:
    """Wait until every sent message was handled (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = {n for r in recorders for _, _, n in r.handled}
        if len(seen) >= len(stream.sent):
            return
        await asyncio.sleep(0.1)


def figures(
    stream: Stream, recorders: list[Recorder], window: tuple[float, float]
) -> dict[str, Any]:
    """Counts and delivery delays; ``window``: when the scenario ran (its max delay)."""
    counts = Counter(n for r in recorders for _, _, n in r.handled)
    first: dict[int, float] = {}
    for r in recorders:
        for t, _, n in r.handled:
            first[n] = min(first.get(n, t), t)
    delays = [(stream.sent[n], first[n] - stream.sent[n]) for n in first]
    during = [d for sent, d in delays if window[0] - 1.0 <= sent <= window[1]]
    return {
        "sent": len(stream.sent),
        "once": sum(1 for c in counts.values() if c == 1),
        "lost": len(stream.sent) - len(counts),
        "twice": sum(1 for c in counts.values() if c > 1),
        "median_ms": statistics.median(d for _, d in delays) * 1000,
        "max_ms": max(during or [0.0]) * 1000,
    }


async def scenario_kill(rate: float) -> dict[str, Any]:
    async with Sandbox(guilds=160, identify_window=0.5) as sb:
        rec = Recorder()
        manager = manager_for(sb, 8, rec)
        try:
            await manager.spawn()
            stream = Stream(sb, channels_of(sb, 8), rate)
            await asyncio.sleep(2.0)
            identifies = len(sb.state()["identifies"])
            victim = manager.shards[3]
            old = victim.pid
            killed = time.monotonic()
            os.kill(old, signal.SIGKILL)
            while not (victim.status == "ready" and victim.pid != old):
                await asyncio.sleep(0.01)
            ready = time.monotonic()
            await asyncio.sleep(2.0)
            await stream.stop()
            await settle(stream, [rec])
            after = [t for t, s, n in rec.handled if s == 3 and stream.sent[n] > killed]
            out = figures(stream, [rec], (killed, ready))
            out["identifies"] = len(sb.state()["identifies"]) - identifies
            out["kill_to_ready_s"] = ready - killed
            out["kill_to_handling_s"] = min(after) - killed if after else float("nan")
            return out
        finally:
            await manager.stop()


async def scenario_rolling(rate: float, shards: int, stream_on: bool) -> dict[str, Any]:
    async with Sandbox(guilds=20 * shards, identify_window=0.5) as sb:
        rec = Recorder()
        manager = manager_for(sb, shards, rec)
        try:
            await manager.spawn()
            stream = Stream(sb, channels_of(sb, shards), rate) if stream_on else None
            await asyncio.sleep(1.0)
            identifies = len(sb.state()["identifies"])
            started = time.monotonic()
            results = await manager.restart_shards({"batch": 1})
            ended = time.monotonic()
            await asyncio.sleep(1.0)
            out: dict[str, Any] = {}
            if stream is not None:
                await stream.stop()
                await settle(stream, [rec])
                out = figures(stream, [rec], (started, ended))
            out["identifies"] = len(sb.state()["identifies"]) - identifies
            out["total_s"] = ended - started
            gaps = [r["gap_ms"] for r in results if r.get("gap_ms") is not None]
            out["handover_ms_median"] = statistics.median(gaps)
            out["handover_ms_max"] = max(gaps)
            out["handed_over"] = sum(1 for r in results if r.get("handed_over"))
            return out
        finally:
            await manager.stop()


async def scenario_manager_restart(rate: float) -> dict[str, Any]:
    async with Sandbox(guilds=160, identify_window=0.5) as sb:
        first_rec, second_rec = Recorder(), Recorder()
        first = manager_for(sb, 8, first_rec)
        await first.spawn()
        stream = Stream(sb, channels_of(sb, 8), rate)
        await asyncio.sleep(2.0)
        identifies = len(sb.state()["identifies"])
        stopped = time.monotonic()
        await first.stop(keep_sessions=True)  # what SIGTERM does
        second = manager_for(sb, 8, second_rec)
        try:
            await second.spawn()
            ready = time.monotonic()
            await asyncio.sleep(2.0)
            await stream.stop()
            await settle(stream, [first_rec, second_rec])
            out = figures(stream, [first_rec, second_rec], (stopped, ready))
            out["identifies"] = len(sb.state()["identifies"]) - identifies
            out["stop_to_ready_s"] = ready - stopped
            return out
        finally:
            await second.stop()


def report(
    a: dict[str, Any],
    b: dict[str, Any],
    c: dict[str, Any],
    r32: dict[str, Any],
    rate: float,
    load: str,
) -> str:
    rows = [
        ("(a) `kill -9` of 1 of 8 shards", a),
        ("(b) rolling restart of 8 shards, batch 1", b),
        ("(c) manager stopped keeping sessions, new manager", c),
    ]
    lines = [
        f"{rate:g} messages/s spread over every guild; load average {load}.",
        "",
        "| scenario | sent | handled once | lost | twice | IDENTIFYs | delay median | delay max during |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in rows:
        lines.append(
            f"| {name} | {f['sent']} | {f['once']} | {f['lost']} | {f['twice']} | "
            f"{f['identifies']} | {f['median_ms']:.0f} ms | {f['max_ms']:.0f} ms |"
        )
    lines += [
        "",
        f"(a) kill → replacement ready {a['kill_to_ready_s']:.2f} s; kill → first message sent "
        f"after the kill handled {a['kill_to_handling_s']:.2f} s.",
        f"(c) stop → every shard of the new manager ready {c['stop_to_ready_s']:.2f} s.",
        "",
        "| rolling restart (batch 1) | total | hand-over → ready, median | max | IDENTIFYs |",
        "|---|---:|---:|---:|---:|",
        f"| 8 shards, with the stream | {b['total_s']:.2f} s | {b['handover_ms_median']:.0f} ms | "
        f"{b['handover_ms_max']:.0f} ms | {b['identifies']} |",
        f"| 32 shards | {r32['total_s']:.2f} s | {r32['handover_ms_median']:.0f} ms | "
        f"{r32['handover_ms_max']:.0f} ms | {r32['identifies']} |",
    ]
    return "\n".join(lines)


async def main(write: bool, rate: float) -> None:
    a = await scenario_kill(rate)
    b = await scenario_rolling(rate, 8, True)
    c = await scenario_manager_restart(rate)
    r32 = await scenario_rolling(rate, 32, False)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    text = report(a, b, c, r32, rate, load)
    print(text)
    if write:
        write_generated(
            HERE / "RESULTS-resume.md",
            text,
            script="bench/resume_bench.py",
            title="# Zero-downtime benchmarks",
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-write", action="store_true", help="only print the figures")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    asyncio.run(main(not args.no_write, args.rate))
