"""Two hosts as separate processes, real discord.py shards on the sandbox, coordinated by Redis.

Each host is ``tests/redis/discord_host.py`` (real clients, Redis identify queue, directory and
bus); the test process runs the sandbox and acts as a third, shard-less member to look at the
whole bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ezlang.sandbox import Sandbox
from ezlang.sharding.redis.multihost import RedisMultiHost, unreachable_stats

pytestmark = pytest.mark.timeout(120)

HOST_SCRIPT = Path(__file__).with_name("discord_host.py")
WINDOW = 0.5
TTL = 2.0
GUILDS = 80


class HostProcess:
    """One simulated machine: a discord_host.py child process and the events it printed."""

    def __init__(self, name: str, shards: list[int]) -> None:
        self.name = name
        self.shards = shards
        self.events: list[dict[str, Any]] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, sb: Sandbox, redis_url: str, total: int = 8) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(HOST_SCRIPT),
            "--redis", redis_url, "--api", sb.api_url, "--gateway", sb.gateway_url,
            "--token", sb.token, "--app-id", "sandbox-app", "--host", self.name,
            "--shards", ",".join(map(str, self.shards)), "--total", str(total),
            "--window", str(WINDOW), "--ttl", str(TTL),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))

    def ready_shards(self) -> set[int]:
        return {e["shard"] for e in self.events if e["event"] == "ready"}

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.ready_shards() != set(self.shards):
            errors = [e for e in self.events if e["event"] == "error"]
            assert not errors, errors
            assert self.proc is not None and self.proc.returncode is None, f"{self.name} exited"
            assert time.monotonic() < deadline, f"{self.name}: ready {self.ready_shards()}"
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # unblocks the host's stdin reader thread
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(guilds=GUILDS, max_concurrency=1, identify_window=WINDOW) as sb:
        yield sb


@pytest.fixture
async def hosts(sandbox: Sandbox, redis_server) -> AsyncIterator[list[HostProcess]]:
    procs = [HostProcess("host-a", [0, 1, 2, 3]), HostProcess("host-b", [4, 5, 6, 7])]
    try:
        for p in procs:
            await p.start(sandbox, redis_server.url)
        yield procs
    finally:
        await asyncio.gather(*(p.stop() for p in procs))


async def observer(url: str) -> RedisMultiHost:
    """A shard-less member of the bot, to look at every shard like a host would."""

    async def no_shards(shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
        raise AssertionError("the observer has no shards")

    multi = RedisMultiHost(
        url, "sandbox-app", host="observer", ttl=TTL, secret="discord-host-test-token"
    )
    await multi.join(
        total_shards=8, explicit=False, max_concurrency=1, identify_window=WINDOW,
        shard_ids=[], serve=no_shards,
    )  # fmt: skip
    return multi


async def test_two_hosts_4_4_identify_in_turn_and_answer_for_all_8_shards(
    sandbox: Sandbox, redis_server, hosts: list[HostProcess]
) -> None:
    await asyncio.gather(*(h.wait_ready() for h in hosts))
    assert sandbox.identify_violations == 0
    accepted = [r for r in sandbox.limiter.records if r.accepted]
    assert sorted(r.shard[0] for r in accepted) == list(range(8))
    times = sorted(r.at for r in accepted)
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= WINDOW
    multi = await observer(redis_server.url)
    try:
        # A loaded machine may still be busy with the READY bursts: poll, bounded.
        deadline = time.monotonic() + 30
        while True:
            outs = await multi.gather("stats", None, 5.0)
            if all(o.ok and o.value["ready"] for o in outs):
                break
            assert time.monotonic() < deadline, [unreachable_stats(o) for o in outs]
            await asyncio.sleep(0.2)
        assert [o.shard_id for o in outs] == list(range(8))
        assert [o.value["host"] for o in outs] == ["host-a"] * 4 + ["host-b"] * 4
        guilds = await multi.gather("guilds", None, 5.0)
        assert sum(o.value for o in guilds) == GUILDS
    finally:
        await multi.leave()


async def test_a_killed_host_is_reported_unreachable_within_the_ttl(
    sandbox: Sandbox, redis_server, hosts: list[HostProcess]
) -> None:
    await asyncio.gather(*(h.wait_ready() for h in hosts))
    multi = await observer(redis_server.url)
    try:
        hosts[1].kill()
        t0 = time.monotonic()
        # Calls to the dead host fail fast once Redis has seen its connection drop (nobody
        # listens any more); no call ever waits longer than its timeout.
        while True:
            t_call = time.monotonic()
            outs = await multi.gather("stats", None, 1.0)
            assert time.monotonic() - t_call < 1.0 + 1.5
            stats = [o.value if o.ok else unreachable_stats(o) for o in outs]
            if all(s["status"] == "unreachable" for s in stats[4:]):
                break
            assert time.monotonic() - t0 < TTL + 3.0, stats
        assert [s["ready"] for s in stats] == [True] * 4 + [False] * 4
        assert all(s["host"] == "host-b" for s in stats[4:])
        # … and the directory marks its shards unreachable once its heartbeat expires.
        while True:
            entries = await multi.directory.entries()
            if all(entries[i]["status"] == "unreachable" for i in range(4, 8)):
                break
            assert time.monotonic() - t0 < TTL + 3.0, entries
            await asyncio.sleep(0.05)
        assert all(entries[i]["status"] == "ready" for i in range(4))
    finally:
        await multi.leave()


async def test_redis_restart_during_startup_recovers_without_identify_violation(
    sandbox: Sandbox, redis_server, hosts: list[HostProcess]
) -> None:
    # Let a few shards identify, then crash Redis (every key lost) while others wait for slots.
    deadline = time.monotonic() + 60
    while sum(1 for r in sandbox.limiter.records if r.accepted) < 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    redis_server.stop()
    await asyncio.sleep(0.3)  # Redis is down across at least one identify window slot
    redis_server.start()
    await asyncio.gather(*(h.wait_ready(timeout=90) for h in hosts))
    assert sandbox.identify_violations == 0
    multi = await observer(redis_server.url)
    try:
        deadline = time.monotonic() + 20
        while True:  # hosts republish their shards after the restart
            outs = await multi.gather("guilds", None, 5.0)
            if all(o.ok for o in outs) and len(outs) == 8:
                break
            assert time.monotonic() < deadline, [unreachable_stats(o) for o in outs if not o.ok]
            await asyncio.sleep(0.1)
        assert sum(o.value for o in outs) == GUILDS
    finally:
        await multi.leave()
