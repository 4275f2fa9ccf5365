"""RedisMultiHost: routing every shard operation to the right host, with fake shards."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from ezlang.lang.errors import EzError
from ezlang.sharding.redis.connection import connect
from ezlang.sharding.redis.keys import RedisKeys
from ezlang.sharding.redis.multihost import RedisMultiHost, RedisRemoteCaller, unreachable_stats

pytestmark = pytest.mark.timeout(60)

TTL = 1.0
#: Signs the bus messages (the bot token in real use).
SECRET = "test-bot-token"


class FakeHost:
    """A stand-in manager: shards answer with their id; 'respawn' is a manager operation."""

    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.multi = RedisMultiHost(url, "42", host=name, ttl=TTL, secret=SECRET)
        self.respawned: list[int] = []

    async def call_shard(self, shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
        if op == "guilds":
            return 10 + shard_id
        if op == "stats":
            return {"shard_id": shard_id, "ready": True, "status": "ready", "host": self.name}
        if op == "boom":
            raise EzError("Error", f"shard {shard_id}: boom")
        raise EzError("ValueError", f"unknown op {op}")

    async def serve(self, shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
        if op == "respawn":
            self.respawned.append(shard_id)
            return True
        return await self.call_shard(shard_id, op, payload, timeout)

    async def join(self, ids: list[int], total: int = 8) -> None:
        await self.multi.join(
            total_shards=total,
            explicit=True,
            max_concurrency=1,
            identify_window=0.2,
            shard_ids=ids,
            serve=self.serve,
        )
        for i in ids:
            await self.multi.update(i, {"status": "ready", "ready": True, "pid": 1})


async def test_gather_covers_every_shard_of_both_hosts_in_id_order(redis_server) -> None:
    a, b = FakeHost(redis_server.url, "a"), FakeHost(redis_server.url, "b")
    await a.join([0, 2, 4, 6])
    await b.join([1, 3, 5, 7])
    for h in (a, b):
        outs = await h.multi.gather("guilds", None, 5.0, h.call_shard)
        assert [o.shard_id for o in outs] == list(range(8))
        assert [o.value for o in outs] == [10 + i for i in range(8)]
        assert [o.host for o in outs] == ["a", "b"] * 4
    boom = await a.multi.gather("boom", None, 5.0, a.call_shard)
    assert all(o.error is not None and f"shard {o.shard_id}: boom" in o.error.message for o in boom)
    await a.multi.leave()
    await b.multi.leave()


async def test_respawn_routes_to_the_owning_host(redis_server) -> None:
    a, b = FakeHost(redis_server.url, "a"), FakeHost(redis_server.url, "b")
    await a.join([0, 1, 2, 3])
    await b.join([4, 5, 6, 7])
    assert await a.multi.call(6, "respawn", None, 5.0) is True
    assert b.respawned == [6] and a.respawned == []
    with pytest.raises(EzError) as err:
        await a.multi.call(9, "respawn", None, 5.0)
    assert "unknown shard 9" in err.value.message
    await a.multi.leave()
    await b.multi.leave()


async def test_a_killed_host_shows_unreachable_within_the_ttl_without_hanging(redis_server) -> None:
    a, b = FakeHost(redis_server.url, "a"), FakeHost(redis_server.url, "b")
    await a.join([0, 1, 2, 3])
    await b.join([4, 5, 6, 7])
    # b dies: no release, no goodbye — its bus stops listening and its heartbeat stops.
    b.multi.directory._heartbeat_task.cancel()  # type: ignore[union-attr]
    await b.multi.bus.close()
    t0 = time.monotonic()
    outs = await a.multi.gather("stats", None, 5.0, a.call_shard)
    assert time.monotonic() - t0 < 1.0  # nobody listens: known at once, no timeout to wait
    stats = [o.value if o.ok else unreachable_stats(o) for o in outs]
    assert [s["shard_id"] for s in stats] == list(range(8))
    assert all(s["ready"] for s in stats[:4])
    assert all(s["status"] == "unreachable" and s["host"] == "b" for s in stats[4:])
    assert all(not s["ready"] for s in stats[4:])

    async def directory_says_unreachable() -> bool:
        e = await a.multi.directory.entries()
        return all(e[i]["status"] == "unreachable" for i in range(4, 8))

    deadline = time.monotonic() + TTL * 5
    while not await directory_says_unreachable():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert time.monotonic() - t0 < TTL + 1.0
    await a.multi.leave()


async def test_local_shards_still_answer_while_redis_is_down(redis_server) -> None:
    a, b = FakeHost(redis_server.url, "a"), FakeHost(redis_server.url, "b")
    await a.join([0, 1, 2, 3])
    await b.join([4, 5, 6, 7])
    await a.multi.gather("guilds", None, 5.0, a.call_shard)
    redis_server.stop()
    t0 = time.monotonic()
    outs = await a.multi.gather("guilds", None, 0.5, a.call_shard)
    assert time.monotonic() - t0 < 5
    assert [o.value for o in outs[:4]] == [10, 11, 12, 13]
    assert all(o.unreachable and o.host == "b" for o in outs[4:])
    redis_server.start()
    deadline = time.monotonic() + 20
    while True:
        outs = await a.multi.gather("guilds", None, 1.0, a.call_shard)
        if all(o.ok for o in outs):
            break
        assert time.monotonic() < deadline, [unreachable_stats(o) for o in outs if not o.ok]
        await asyncio.sleep(0.1)
    assert [o.value for o in outs] == [10 + i for i in range(8)]
    await a.multi.leave()
    await b.multi.leave()


async def test_shard_list_outside_the_fixed_total_is_refused(redis_server) -> None:
    a, b = FakeHost(redis_server.url, "a"), FakeHost(redis_server.url, "b")
    await a.join([0, 1], total=4)
    with pytest.raises(EzError) as err:
        await b.multi.join(
            total_shards=2,
            explicit=False,
            max_concurrency=1,
            identify_window=0.2,
            shard_ids=[2, 5],
            serve=b.serve,
        )
    assert "5 outside [0, 4)" in err.value.message and "'a'" in err.value.message
    await a.multi.leave()
    await b.multi.leave()


async def remote_pair(url: str) -> tuple[FakeHost, FakeHost, RedisRemoteCaller]:
    """Hosts a (shards 0-3) and b (4-7); the remote caller is a's view of b's shards."""
    a, b = FakeHost(url, "a"), FakeHost(url, "b")
    await a.join([0, 1, 2, 3])
    await b.join([4, 5, 6, 7])
    remote_a, remote_b = RedisRemoteCaller(a.multi), RedisRemoteCaller(b.multi)
    await remote_a.start(a.serve)
    await remote_b.start(b.serve)
    return a, b, remote_a


async def test_remote_calls_made_together_share_one_request_and_keep_their_own_errors(
    redis_server,
) -> None:
    a, b, remote = await remote_pair(redis_server.url)
    served: list[dict[str, Any]] = []
    original = b.multi.bus._dispatch

    def spy(channel: str, data: str) -> None:
        served.append(json.loads(json.loads(data)["body"]))  # inside the signed envelope
        original(channel, data)

    b.multi.bus._dispatch = spy  # type: ignore[method-assign]
    results = await asyncio.gather(
        *(remote.call(i, "guilds", None, 5.0) for i in (4, 5, 6, 7)), return_exceptions=True
    )
    assert results == [14, 15, 16, 17]
    requests = [m for m in served if "op" in m]
    assert len(requests) == 1 and requests[0]["shard_ids"] == [4, 5, 6, 7]
    mixed = await asyncio.gather(
        remote.call(4, "stats", None, 5.0),
        remote.call(5, "boom", None, 5.0),
        return_exceptions=True,
    )
    assert mixed[0]["host"] == "b" and mixed[0]["shard_id"] == 4
    assert isinstance(mixed[1], EzError) and mixed[1].message == "shard 5: boom"
    assert mixed[1].host == "b"  # type: ignore[attr-defined]
    await remote.close()
    await b.multi.leave()


async def test_a_remote_call_for_a_local_shard_is_refused_instead_of_bouncing(
    redis_server,
) -> None:
    a, b, remote = await remote_pair(redis_server.url)
    with pytest.raises(EzError) as err:
        await remote.call(1, "guilds", None, 5.0)
    assert "not running under this manager" in err.value.message
    # b serves only its own shards, even when asked for another one.
    with pytest.raises(EzError) as err:
        await b.multi.bus.call("a", 6, "guilds", None, 5.0)
    assert "shard 6 is not run by host 'a'" in err.value.message
    await remote.close()
    await b.multi.leave()


async def test_a_redis_outage_gives_one_warning_for_the_whole_manager(redis_server) -> None:
    lines: list[str] = []
    host = FakeHost(redis_server.url, "a")
    host.multi = RedisMultiHost(
        redis_server.url, "42", host="a", ttl=TTL, warn=lines.append, secret=SECRET
    )
    other = FakeHost(redis_server.url, "b")
    await host.join([0, 1])
    await other.join([2, 3])
    redis_server.stop()
    identify = asyncio.create_task(host.multi.queue.acquire(0))
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2.0:  # heartbeats, bus, identify queue and calls all fail
        await host.multi.update(0, {"status": "ready"})
        await host.multi.gather("guilds", None, 0.2)
        await asyncio.sleep(0.1)
    down = [ln for ln in lines if "unreachable" in ln]
    assert len(down) == 1, lines
    assert "IDENTIFY" in down[0] and "local calls work" in down[0]
    redis_server.start()
    await asyncio.wait_for(identify, 15)
    assert any("reachable again" in ln for ln in lines)
    await host.multi.leave()
    await other.multi.leave()


async def test_shards_taken_over_while_this_host_was_cut_off_are_stopped_here(
    redis_server,
) -> None:
    stopped: list[int] = []

    class FakeProcess:
        def __init__(self, shard_id: int) -> None:
            self.shard_id = shard_id

        async def stop(self) -> None:
            stopped.append(self.shard_id)

    class FakeManager:
        def __init__(self) -> None:
            self.shards = {0: FakeProcess(0), 1: FakeProcess(1)}

        async def call_shard(self, shard_id: int, op: str, payload: Any, timeout: Any) -> Any:
            return shard_id

    lines: list[str] = []
    multi = RedisMultiHost(
        redis_server.url, "42", host="a", ttl=TTL, warn=lines.append, secret=SECRET
    )
    manager = FakeManager()
    await multi.join(
        total_shards=2, explicit=True, max_concurrency=1, identify_window=0.2,
        shard_ids=[0, 1], serve=manager.call_shard,
    )  # fmt: skip
    await RedisRemoteCaller(multi).start(manager.call_shard)
    # Meanwhile host b (alive) has claimed shard 1, as if "a" had been away for longer than the TTL.
    r = connect(redis_server.url)
    keys = RedisKeys("42")
    await r.set(keys.host("b"), json.dumps({"host": "b", "machine": "m", "pid": 1}), px=60_000)
    await r.hset(keys.shards, "1", json.dumps({"host": "b", "status": "ready", "ready": True}))
    deadline = time.monotonic() + TTL * 5
    while stopped != [1]:
        assert time.monotonic() < deadline, (stopped, lines)
        await asyncio.sleep(0.05)
    assert any("[1] are now run by another host" in ln for ln in lines)
    entries = await multi.directory.entries()
    assert entries[1]["host"] == "b" and entries[0]["host"] == "a"
    await multi.leave()
    await r.aclose()
