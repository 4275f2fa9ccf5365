"""The global REST limit shared by two hosts through a real redis-server."""

from __future__ import annotations

import asyncio
import bisect
import time

import pytest

from ezlang.sharding.redis.rest_limit import RedisGlobalLimiter

pytestmark = pytest.mark.timeout(60)

RATE = 20


def busiest(stamps: list[float], span: float) -> int:
    stamps = sorted(stamps)
    return max(bisect.bisect_left(stamps, t + span) - i for i, t in enumerate(stamps))


async def test_two_hosts_share_one_window(redis_server) -> None:
    warnings: list[str] = []
    hosts = [
        RedisGlobalLimiter(redis_server.url, "the-token", RATE, warn=warnings.append)
        for _ in range(2)
    ]
    other_bot = RedisGlobalLimiter(redis_server.url, "another-token", RATE)
    stamps: list[float] = []
    try:

        async def ask(limiter: RedisGlobalLimiter) -> None:
            await limiter.acquire()
            stamps.append(time.monotonic())

        t0 = time.monotonic()
        await asyncio.gather(*(ask(h) for h in hosts for _ in range(30)))  # 60 requests
        elapsed = time.monotonic() - t0
        # Another token has a window of its own: granted at once despite the burst above.
        t1 = time.monotonic()
        await other_bot.acquire()
        assert time.monotonic() - t1 < 0.5
    finally:
        for limiter in (*hosts, other_bot):
            await limiter.close()
    assert len(stamps) == 60
    assert busiest(stamps, 1.0) <= RATE  # never more than the limit in any second
    assert 2.0 <= elapsed < 2.0 * 1.05 + 1.0  # 3 windows of 20: about 2.1 s, not 1 or 6
    assert not warnings


async def test_a_redis_outage_falls_back_to_this_host_and_says_so_once(redis_server) -> None:
    warnings: list[str] = []
    limiter = RedisGlobalLimiter(redis_server.url, "the-token", RATE, warn=warnings.append)
    try:
        await limiter.acquire()
        redis_server.stop()
        t0 = time.monotonic()
        for _ in range(5):
            await limiter.acquire()  # granted locally, not held until Redis is back
        assert time.monotonic() - t0 < 5.0
        assert len(warnings) == 1 and "grants its REST requests alone" in warnings[0]
        redis_server.start()
        deadline = time.monotonic() + 15
        while not any("share the global REST limit again" in w for w in warnings[1:]):
            assert time.monotonic() < deadline, warnings
            await limiter.acquire()
            await asyncio.sleep(0.1)
    finally:
        await limiter.close()
