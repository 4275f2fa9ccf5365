"""Discord's global REST limit shared by two hosts: two manager processes, one real
redis-server, every shard of both bursting REST calls at once → no global 429."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ezlang.sandbox import Sandbox

from .test_two_managers import WINDOW, ManagerHost

pytestmark = pytest.mark.timeout(180)

BOT = Path(__file__).parent.parent / "sharding" / "bots" / "messaging.ez"
RATE = 20
CALLS = 15  # per shard; 4 shards: 60 requests, about 3 s at 20/s


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(
        guilds=8, max_concurrency=1, identify_window=WINDOW, rest_global_limit=RATE
    ) as sb:
        yield sb


@pytest.fixture
async def hosts(sandbox: Sandbox, redis_server) -> AsyncIterator[list[ManagerHost]]:
    procs = [ManagerHost("host-a", [0, 1], BOT), ManagerHost("host-b", [2, 3], BOT)]
    extra = ("--rest-rate", str(RATE), "--eval-timeout", "60")
    try:
        for p in procs:
            await p.start(sandbox, redis_server.url, total=4, extra=extra)
        yield procs
    finally:
        await asyncio.gather(*(p.stop() for p in procs))


async def test_shards_of_two_hosts_share_one_global_limit(
    sandbox: Sandbox, hosts: list[ManagerHost]
) -> None:
    a, b = hosts
    await asyncio.gather(a.wait_spawned(), b.wait_spawned())
    channel = sandbox.guilds_for_shard(0, 4)[0]["text_channel_ids"][0]
    code = (
        f'let n = 0\nfor i in range({CALLS}) {{\n get_channel("{channel}")\n n += 1\n}}\nreturn n'
    )
    before = sandbox.state()
    t0 = time.monotonic()
    # From host-a: its own 2 shards and host-b's 2 burst at the same time.
    results = await a.ask("eval", code, timeout=90)
    elapsed = time.monotonic() - t0
    assert results == [CALLS] * 4
    after = sandbox.state()
    assert after["rest_requests"] - before["rest_requests"] >= 4 * CALLS
    assert after["global_rate_limited"] == 0
    # Each host alone could send 20/s: together they were held to 20/s, so ~3 s, not ~1.5 s.
    assert elapsed >= (4 * CALLS - RATE) / RATE
    stats = await b.ask("stats")
    assert all(s["rest_global_429s"] == 0 for s in stats)
    assert sum(s["rest_requests"] for s in stats) >= 4 * CALLS
    a.assert_no_python_noise()
    b.assert_no_python_noise()
