"""RedisIdentifyQueue against a real redis-server: the global identify rate limit."""

from __future__ import annotations

import asyncio
import time

import pytest

from ezlang.lang.errors import EzError
from ezlang.sharding.interfaces import IdentifyQueue
from ezlang.sharding.redis.identify_queue import RedisIdentifyQueue

pytestmark = pytest.mark.timeout(60)

WINDOW = 0.3


def make_queue(url: str, host: str, concurrency: int = 1, **kw: object) -> RedisIdentifyQueue:
    return RedisIdentifyQueue(url, "123", concurrency, WINDOW, host=host, margin=0.02, **kw)  # type: ignore[arg-type]


async def warm_up(q: RedisIdentifyQueue) -> None:
    """A brand-new Redis refuses grants for one window (it cannot know what it forgot)."""
    await q.acquire(0)


async def test_satisfies_the_identify_queue_protocol(redis_server) -> None:
    q = make_queue(redis_server.url, "a")
    assert isinstance(q, IdentifyQueue)
    await q.close()


async def test_two_hosts_never_identify_in_one_bucket_within_the_window(redis_server) -> None:
    a, b = make_queue(redis_server.url, "a"), make_queue(redis_server.url, "b")
    await warm_up(a)
    t_warm = time.monotonic()
    grants: list[float] = []

    async def shard(q: RedisIdentifyQueue, shard_id: int) -> None:
        await q.acquire(shard_id)
        grants.append(time.monotonic())

    await asyncio.gather(*(shard(a if i % 2 else b, i) for i in range(6)))
    grants.sort()
    gaps = [y - x for x, y in zip([t_warm, *grants], grants, strict=False)]
    # Redis holds the bucket for window + margin; client-side timing jitter gets a little slack.
    assert min(gaps) >= WINDOW - 0.05, gaps
    assert grants[-1] - t_warm >= 6 * WINDOW - 0.05
    assert a.granted + b.granted == 7
    await a.close()
    await b.close()


async def test_buckets_are_independent_with_max_concurrency_two(redis_server) -> None:
    a, b = make_queue(redis_server.url, "a", 2), make_queue(redis_server.url, "b", 2)
    await warm_up(a)  # takes bucket 0
    t0 = time.monotonic()
    await b.acquire(1)  # bucket 1 is free right away
    assert time.monotonic() - t0 < WINDOW / 2
    await b.acquire(2)  # bucket 0 again: waits for a's grant to expire
    assert time.monotonic() - t0 >= WINDOW - 0.05
    await a.close()
    await b.close()


async def test_a_host_that_dies_holding_a_slot_frees_it_after_the_window(redis_server) -> None:
    a, b = make_queue(redis_server.url, "a"), make_queue(redis_server.url, "b")
    await warm_up(a)
    await a.acquire(0)
    t0 = time.monotonic()
    await a.close()  # "dies": nothing is released, the key just expires
    await asyncio.wait_for(b.acquire(0), timeout=5)
    assert WINDOW * 0.7 <= time.monotonic() - t0 < WINDOW * 4
    await b.close()


async def test_a_restarted_redis_grants_nothing_for_a_full_window(redis_server) -> None:
    warnings: list[str] = []
    a = make_queue(redis_server.url, "a", warn=warnings.append)
    await warm_up(a)
    await a.acquire(0)
    t_grant = time.monotonic()
    redis_server.stop()
    redis_server.start()  # every key, including the grant just made, is gone
    await asyncio.wait_for(a.acquire(0), timeout=10)
    assert time.monotonic() - t_grant >= WINDOW - 0.02
    await a.close()


async def test_redis_down_makes_acquire_wait_with_one_warning_then_recover(redis_server) -> None:
    warnings: list[str] = []
    a = make_queue(redis_server.url, "a", warn=warnings.append)
    await warm_up(a)
    redis_server.stop()
    task = asyncio.create_task(a.acquire(0))
    deadline = time.monotonic() + 10
    while not warnings and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert warnings and "unreachable" in warnings[0] and "IDENTIFY" in warnings[0]
    await asyncio.sleep(0.5)  # several retries fail meanwhile …
    assert not task.done()
    assert len(warnings) == 1  # … but the warning is rate limited
    redis_server.start()
    await asyncio.wait_for(task, timeout=10)
    assert "reachable again" in warnings[-1]
    await a.close()


async def test_close_cancels_pending_acquires(redis_server) -> None:
    a = make_queue(redis_server.url, "a")
    await warm_up(a)
    pending = asyncio.create_task(a.acquire(0))
    await asyncio.sleep(0.05)
    await a.close()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(pending, timeout=5)
    with pytest.raises(EzError):
        await a.acquire(0)


async def test_password_is_not_shown_in_warnings(redis_server) -> None:
    warnings: list[str] = []
    url = f"redis://:s3cret@127.0.0.1:{redis_server.port}/0"
    a = make_queue(url, "a", warn=warnings.append)
    redis_server.stop()
    task = asyncio.create_task(a.acquire(0))
    deadline = time.monotonic() + 10
    while not warnings and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert warnings and "s3cret" not in warnings[0] and "***" in warnings[0]
    await a.close()
    with pytest.raises(asyncio.CancelledError):
        await task
