"""RedisShardDirectory against a real redis-server: shared decisions, claims, liveness."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time

import pytest

from ezlang.lang.errors import EzError
from ezlang.sharding.interfaces import ShardDirectory
from ezlang.sharding.redis.connection import connect
from ezlang.sharding.redis.directory import RedisShardDirectory
from ezlang.sharding.redis.keys import RedisKeys

pytestmark = pytest.mark.timeout(60)

TTL = 1.0


def make_dir(url: str, host: str, **kw: object) -> RedisShardDirectory:
    return RedisShardDirectory(url, "123", host=host, ttl=TTL, **kw)  # type: ignore[arg-type]


async def vanish(d: RedisShardDirectory) -> None:
    """Simulate a host dying: its heartbeat stops, nothing is cleaned up."""
    assert d._heartbeat_task is not None
    d._heartbeat_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await d._heartbeat_task
    d._heartbeat_task = None
    await d._redis.aclose()


async def wait_for(predicate, deadline: float):  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    while True:
        value = await predicate()
        if value or time.monotonic() > end:
            return value
        await asyncio.sleep(0.05)


async def test_satisfies_the_shard_directory_protocol(redis_server) -> None:
    d = make_dir(redis_server.url, "a")
    assert isinstance(d, ShardDirectory)
    await d.close()


async def test_first_manager_fixes_total_shards_and_later_ones_adopt_them(redis_server) -> None:
    a, b, c = (make_dir(redis_server.url, h) for h in "abc")
    first = await a.decide(total_shards=8, explicit=False, max_concurrency=1, identify_window=5)
    assert (first.total_shards, first.max_concurrency, first.first) == (8, 1, True)
    # "auto" on a later host resolved differently (Discord's recommendation moved): adopt 8.
    later = await b.decide(total_shards=12, explicit=False, max_concurrency=16, identify_window=5)
    assert (later.total_shards, later.max_concurrency, later.first) == (8, 1, False)
    assert later.decided_by == "a"
    same = await c.decide(total_shards=8, explicit=True, max_concurrency=1, identify_window=5)
    assert same.total_shards == 8
    with pytest.raises(EzError) as err:
        await c.decide(total_shards=16, explicit=True, max_concurrency=1, identify_window=5)
    assert err.value.kind == "ShardingError"
    msg = err.value.message
    assert "total_shards 16" in msg and "8" in msg and "'a'" in msg and "123" in msg
    for d in (a, b, c):
        await d.close()


async def test_claiming_a_shard_of_a_live_host_names_the_owner(redis_server) -> None:
    a, b = make_dir(redis_server.url, "host-a"), make_dir(redis_server.url, "host-b")
    await a.claim([0, 1, 2, 3])
    with pytest.raises(EzError) as err:
        await b.claim([3, 4])
    assert err.value.kind == "ShardingError"
    assert "shard 3" in err.value.message and "'host-a'" in err.value.message
    await b.claim([4, 5, 6, 7])  # disjoint shard_list is fine
    await a.close()
    await b.close()


async def test_entries_list_every_shard_of_every_host_with_status(redis_server) -> None:
    a, b = make_dir(redis_server.url, "host-a"), make_dir(redis_server.url, "host-b")
    await a.decide(total_shards=8, explicit=True, max_concurrency=1, identify_window=5)
    await a.claim([0, 1, 2, 3])
    await b.claim([4, 5, 6, 7])
    for i in range(8):
        owner = a if i < 4 else b
        await owner.update(i, {"status": "ready", "ready": True, "pid": 1000 + i})
    for d in (a, b):
        entries = await d.entries()
        assert list(entries) == list(range(8))
        assert [e["host"] for e in entries.values()] == ["host-a"] * 4 + ["host-b"] * 4
        assert all(e["status"] == "ready" and e["ready"] for e in entries.values())
        assert entries[5]["pid"] == 1005
    await a.close()
    await b.close()


async def test_a_vanished_host_shows_unreachable_within_the_ttl_then_is_claimable(
    redis_server,
) -> None:
    a, b = make_dir(redis_server.url, "host-a"), make_dir(redis_server.url, "host-b")
    await a.claim([0, 1])
    await b.claim([2, 3])
    for i in (2, 3):
        await b.update(i, {"status": "ready", "ready": True})
    t0 = time.monotonic()
    await vanish(b)

    async def unreachable() -> bool:
        e = await a.entries()
        return all(e[i]["status"] == "unreachable" for i in (2, 3))

    assert await wait_for(unreachable, deadline=TTL * 5)
    assert time.monotonic() - t0 <= TTL + 1.0
    e = await a.entries()
    assert e[2] == {
        "shard_id": 2,
        "ready": False,
        "status": "unreachable",
        "host": "host-b",
        "pid": None,
    }
    assert e[0]["status"] == "starting"
    c = make_dir(redis_server.url, "host-c")
    await c.claim([2, 3])  # a dead host's shards can be taken over
    assert (await c.entries())[2]["host"] == "host-c"
    await a.close()
    await c.close()


async def test_release_removes_the_entries_and_close_the_host(redis_server) -> None:
    a, b = make_dir(redis_server.url, "host-a"), make_dir(redis_server.url, "host-b")
    await a.claim([0, 1])
    await a.release([0, 1])
    await a.close()
    assert await b.entries() == {}
    assert "host-a" not in await b.hosts()  # its heartbeat key went with it
    await b.claim([0, 1])  # free at once, no TTL to wait for
    await b.close()


async def test_a_dead_manager_on_this_machine_is_taken_over_without_waiting(redis_server) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    dead_pid = int(proc.stdout)
    r = connect(redis_server.url)
    keys = RedisKeys("123")
    record = {"host": "old", "machine": socket.gethostname(), "pid": dead_pid, "shards": [0]}
    await r.set(keys.host("old"), json.dumps(record), px=60_000)
    await r.hset(keys.shards, "0", json.dumps({"host": "old", "status": "ready", "ready": True}))
    new = make_dir(redis_server.url, "new")
    await new.claim([0])
    assert (await new.entries())[0]["host"] == "new"
    await new.close()
    await r.aclose()


async def test_redis_down_keeps_local_entries_and_republishes_after_restart(redis_server) -> None:
    warnings: list[str] = []
    a = make_dir(redis_server.url, "host-a", warn=warnings.append)
    b = make_dir(redis_server.url, "host-b")
    await a.decide(total_shards=4, explicit=True, max_concurrency=1, identify_window=5)
    await a.claim([0, 1])
    await b.claim([2, 3])
    await a.entries()  # snapshot knows host-b's shards
    redis_server.stop()
    # No raise, and no hang (generous bound: this failed once at 5 s on a loaded 2-core machine).
    await asyncio.wait_for(a.update(0, {"status": "ready", "ready": True}), timeout=15)
    offline = await a.entries()
    assert offline[0]["status"] == "ready"
    assert offline[2]["status"] == "unreachable" and offline[2]["host"] == "host-b"
    assert "Redis unavailable" in offline[2]["error"]
    assert any("unreachable" in w for w in warnings)
    redis_server.start()  # empty: every key lost

    async def republished() -> bool:
        e = await b.entries()
        return e.get(0, {}).get("status") == "ready" and e.get(2, {}).get("host") == "host-b"

    assert await wait_for(republished, deadline=TTL * 15)
    settings = await b.decide(total_shards=4, explicit=False, max_concurrency=1, identify_window=5)
    assert settings.decided_by == "host-a"  # the decision was put back too
    await a.close()
    await b.close()


async def test_two_live_managers_cannot_share_one_host_name(redis_server) -> None:
    r = connect(redis_server.url)
    keys = RedisKeys("123")
    # A live manager named "dup" on another machine.
    record = {"host": "dup", "machine": "elsewhere", "pid": 1, "shards": [0]}
    await r.set(keys.host("dup"), json.dumps(record), px=60_000)
    d = make_dir(redis_server.url, "dup")
    with pytest.raises(EzError) as err:
        await d.claim([5])
    assert "host name 'dup'" in err.value.message and "EZLANG_HOST_NAME" in err.value.message
    await d.close()
    assert await r.get(keys.host("dup"))  # the other manager's heartbeat is left alone
    await r.aclose()


async def test_when_every_host_stopped_cleanly_the_decision_is_forgotten(redis_server) -> None:
    a, b = make_dir(redis_server.url, "host-a"), make_dir(redis_server.url, "host-b")
    await a.decide(total_shards=8, explicit=True, max_concurrency=1, identify_window=5)
    await a.claim([0, 1])
    await b.claim([2, 3])
    await a.release([0, 1])
    await a.close()
    c = make_dir(redis_server.url, "host-c")
    with pytest.raises(EzError):  # host-b still runs: the decision stands
        await c.decide(total_shards=4, explicit=True, max_concurrency=1, identify_window=5)
    await b.release([2, 3])
    await b.close()
    settings = await c.decide(total_shards=4, explicit=True, max_concurrency=1, identify_window=5)
    assert settings.total_shards == 4 and settings.first
    await c.close()
