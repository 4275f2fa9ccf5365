"""Shard-to-shard messaging across two hosts: two manager processes, one real redis-server.

Shards 0-1 run under host-a, 2-3 under host-b; a message between them travels shard → its
manager → the signed Redis bus → the other manager → the other shard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ezlang.sandbox import Sandbox

from .test_two_managers import WINDOW, ManagerHost

pytestmark = pytest.mark.timeout(150)

BOT = Path(__file__).parent.parent / "sharding" / "bots" / "messaging.ez"
GUILDS = 20


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(guilds=GUILDS, max_concurrency=1, identify_window=WINDOW) as sb:
        yield sb


@pytest.fixture
async def hosts(sandbox: Sandbox, redis_server) -> AsyncIterator[list[ManagerHost]]:
    procs = [ManagerHost("host-a", [0, 1], BOT), ManagerHost("host-b", [2, 3], BOT)]
    try:
        for p in procs:
            await p.start(sandbox, redis_server.url, total=4)
        yield procs
    finally:
        await asyncio.gather(*(p.stop() for p in procs))


async def wait_line(host: ManagerHost, line: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while line not in host.output:
        assert time.monotonic() < deadline, f"{host.name} never printed {line!r}: {host.output}"
        await asyncio.sleep(0.05)


async def test_shards_on_two_hosts_message_each_other_over_redis(
    sandbox: Sandbox, hosts: list[ManagerHost]
) -> None:
    a, b = hosts
    await asyncio.gather(a.wait_spawned(), b.wait_spawned())
    channel = sandbox.guilds_for_shard(2, 4)[0]["text_channel_ids"][0]
    assert not any("got ping" in line for line in a.output)
    # Shard 2 (host-b) → shard 0 (host-a), whose handler answers shard 2 (back to host-b).
    await sandbox.inject_message(channel, "!ping")
    msgs = await sandbox.wait_for_bot_messages(channel, 1, timeout=15)
    assert msgs[0]["content"] == "sent"
    await wait_line(a, "[shard 0] shard 0 got ping #7 from 2")
    await wait_line(b, "[shard 2] shard 2 got pong #7 from 0")
    # To every shard of both hosts.
    await sandbox.inject_message(channel, "!all")
    msgs = await sandbox.wait_for_bot_messages(channel, 2, timeout=15)
    assert msgs[1]["content"] == "sent to 4"
    for host, ids in ((a, (0, 1)), (b, (2, 3))):
        for i in ids:
            await wait_line(host, f"[shard {i}] shard {i} got hello #[1, 2] from 2")
    # The manager script of host-a sends to host-b's shard 3; a bad target is a clear error.
    assert await a.ask("send", {"shard": 3, "data": {"text": "hi", "n": 1}}) is True
    await wait_line(b, "[shard 3] shard 3 got hi #1 from null")
    with pytest.raises(AssertionError, match="unknown shard 9"):
        await a.ask("send", {"shard": 9, "data": 1})
    a.assert_no_python_noise()
    b.assert_no_python_noise()
